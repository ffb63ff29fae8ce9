"""Synthetic weight generators (fixed seeds) and HDF5 writers for the e2e tests."""

import h5py
import numpy as np

KINDS = ("normal", "ties", "special")


def special_values(dtype):
    dt = np.dtype(dtype)
    fi = np.finfo(dt.newbyteorder("="))
    sub = fi.smallest_subnormal
    vals = [-0.0, 0.0, np.inf, -np.inf, sub, -sub, 2 * sub, -3 * sub,
            fi.tiny, -fi.tiny, fi.tiny / 2, fi.max, -fi.max, 1.0, -1.0]
    return np.array(vals, dtype=np.float64)


def make_values(seed, dtype, shape, kind):
    """Deterministic weights of the given dtype/shape.

    normal:  N(0, 0.1)
    ties:    np.round(U(-1, 1), 1): 21 distinct values, many ties, -0.0 included
    special: N(0, 0.1) with -0.0, +0.0, +/-Inf, subnormals, tiny and huge values spread in
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if len(shape) else 1
    if kind == "normal":
        x = rng.standard_normal(n) * 0.1
    elif kind == "ties":
        x = np.round(rng.uniform(-1.0, 1.0, n), 1)
    elif kind == "special":
        x = rng.standard_normal(n) * 0.1
        sp = special_values(dt)
        sp = np.roll(sp, seed % sp.size)
        m = min(n, sp.size)
        pos = rng.choice(n, size=m, replace=False)
        x[pos] = sp[:m]
    else:
        raise ValueError(kind)
    with np.errstate(over="ignore"):
        return x.astype(dt).reshape(shape)


def write_h5(path, datasets, attrs=None):
    """datasets: {path: ndarray}; intermediate groups are created."""
    with h5py.File(path, "w") as f:
        for p, arr in datasets.items():
            f.create_dataset(p, data=arr)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return path
