"""Independent reference pruner for h5prune's end-to-end tests.

Written from the contract in DESIGN.md ("Tensors", "Rules"), in plain numpy; it shares no
code or algorithm with the C++ implementation (no radix keys, no histograms):

- selection: IEEE float datasets of 2, 4 or 8 bytes (any byte order), not optimizer state
  (Keras 2: under a root group 'optimizer_weights'; Keras 3: under a root group 'optimizer'
  beside 'layers' or holding 'vars') unless include_optimizer, ndim >= min_ndim, not a bias
  (see bias_paths) unless include is given,
  re.search(include, path) and not re.search(exclude, path) on the full path ('/a/b');
- magnitude: np.abs(x) in float64 (exact for float16/32/64, so mixed dtypes compare by
  true value);
- --sparsity S: k = round_half_even(Fraction(S) * n), exact; prune the first k positions
  of a stable argsort by magnitude over the tensor (scope tensor) or over the concatenation
  of all selected tensors in path byte order (scope global);
- --threshold T: prune |w| < T, T a Python float (float64);
- a pruned weight becomes +0.0 (sign bit clear).
"""

import re
from fractions import Fraction

import h5py
import numpy as np


class ReferenceError_(Exception):
    pass


def is_float_dtype(dt):
    return dt.kind == "f" and dt.itemsize in (2, 4, 8)


def path_key(path):
    """Sort key: byte order of the UTF-8 encoded full path."""
    return path.encode("utf-8")


def walk_datasets(h5file):
    """All datasets reachable through hard links, as {full path: h5py.Dataset}.

    Soft and external links are not followed (they are copied as links, not tensors)."""
    out = {}

    def rec(group, prefix):
        for name in group:
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            path = prefix + "/" + name if prefix != "/" else "/" + name
            if isinstance(obj, h5py.Group):
                rec(obj, path)
            elif isinstance(obj, h5py.Dataset):
                out[path] = obj

    rec(h5file, "/")
    return out


def optimizer_root(h5file):
    """The root group name that holds optimizer state in this file, or None."""
    if "optimizer_weights" in h5file and isinstance(h5file["optimizer_weights"], h5py.Group):
        return "optimizer_weights"
    if "optimizer" in h5file and isinstance(h5file["optimizer"], h5py.Group):
        if "layers" in h5file or "vars" in h5file["optimizer"]:
            return "optimizer"
    return None


def bias_paths(h5file):
    """Datasets that are biases (DESIGN.md: not selected by default), as a set of paths:
    - named: the last path component is 'bias', 'bias:<digits>' (Keras) or ends in '.bias' (PyTorch);
    - Keras 3 (a root group 'layers'): a GRU cell with reset_after, '<...>/cell/vars' holding
      exactly 0 (in, 3u), 1 (u, 3u), 2 (2, 3u): vars/2 is the bias;
    - Caffe (every dataset '/data/<layer>/<digits>'): blob 1 holding as many values as blob 0's
      first axis when blob 0 has rank >= 2."""
    dsets = walk_datasets(h5file)
    out = set()
    for p in dsets:
        name = p.split("/")[-1]
        if name == "bias" or re.fullmatch(r"bias:[0-9]+", name) or name.endswith(".bias"):
            out.add(p)
    if "layers" in h5file:
        cells = {}
        for p, d in dsets.items():
            group, _, name = p.rpartition("/")
            if group.endswith("/cell/vars"):
                cells.setdefault(group, {})[name] = d.shape
        for group, v in cells.items():
            if sorted(v) != ["0", "1", "2"] or not all(len(v[n]) == 2 for n in v):
                continue
            (_, w), (u, w1), b = v["0"], v["1"], v["2"]
            if w1 == w and w == 3 * u and b == (2, w):
                out.add(group + "/2")
    if dsets and all(re.fullmatch(r"/data/[^/]+/[0-9]+", p) for p in dsets):
        for p, d in dsets.items():
            w = p[:-1] + "0"
            if p.endswith("/1") and w in dsets and dsets[w].ndim >= 2 and d.size == dsets[w].shape[0]:
                out.add(p)
    return out


def is_selected(path, dtype, ndim, include=None, exclude=None, min_ndim=2, optimizer=None, biases=frozenset()):
    if not is_float_dtype(dtype):
        return False
    if optimizer is not None and path.startswith("/" + optimizer + "/"):
        return False
    if ndim < min_ndim:
        return False
    if include is None and path in biases:
        return False
    if include is not None and re.search(include, path) is None:
        return False
    if exclude is not None and re.search(exclude, path) is not None:
        return False
    return True


def select(h5path, include=None, exclude=None, min_ndim=2, include_optimizer=False):
    """Selected tensors of a file: list of paths in byte order."""
    with h5py.File(h5path, "r") as f:
        dsets = walk_datasets(f)
        opt = None if include_optimizer else optimizer_root(f)
        biases = bias_paths(f)
        paths = [p for p, d in dsets.items()
                 if is_selected(p, d.dtype, d.ndim, include, exclude, min_ndim, opt, biases)]
    return sorted(paths, key=path_key)


def read_tensors(h5path, paths):
    with h5py.File(h5path, "r") as f:
        return {p: f[p][()] for p in paths}


def k_for(sparsity_str, n):
    """k = round_half_even(S * n) in exact rational arithmetic."""
    s = Fraction(sparsity_str)
    if s < 0 or s > 1:
        raise ValueError("sparsity outside [0, 1]: %r" % sparsity_str)
    return round(s * n)  # Fraction.__round__ rounds half to even


def magnitude(x):
    m = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if np.isnan(m).any():
        raise ReferenceError_("NaN in tensor")
    return m


def _apply(x, prune_flat_mask):
    out = np.array(x, copy=True)
    flat = out.reshape(-1)
    flat[prune_flat_mask] = 0  # assigning integer 0 gives +0.0 in any float dtype
    return out


class Result:
    """Pruned arrays and masks per tensor path."""

    def __init__(self):
        self.arrays = {}   # path -> pruned ndarray (same dtype/shape as input)
        self.masks = {}    # path -> flat bool mask of pruned positions
        self.k = {}        # path -> number pruned

    def total(self):
        return sum(self.k.values())


def prune_sparsity(tensors, sparsity_str, scope="tensor"):
    """tensors: {path: ndarray}. Returns Result."""
    res = Result()
    paths = sorted(tensors, key=path_key)
    if scope == "tensor":
        for p in paths:
            x = tensors[p]
            mag = magnitude(x)
            k = k_for(sparsity_str, mag.size)
            order = np.argsort(mag, kind="stable")
            mask = np.zeros(mag.size, dtype=bool)
            mask[order[:k]] = True
            res.arrays[p] = _apply(x, mask)
            res.masks[p] = mask
            res.k[p] = int(mask.sum())
    elif scope == "global":
        mags = [magnitude(tensors[p]) for p in paths]
        sizes = [m.size for m in mags]
        allmag = np.concatenate(mags) if mags else np.zeros(0)
        k = k_for(sparsity_str, allmag.size)
        order = np.argsort(allmag, kind="stable")
        gmask = np.zeros(allmag.size, dtype=bool)
        gmask[order[:k]] = True
        off = 0
        for p, sz in zip(paths, sizes):
            mask = gmask[off:off + sz].copy()
            off += sz
            res.arrays[p] = _apply(tensors[p], mask)
            res.masks[p] = mask
            res.k[p] = int(mask.sum())
    else:
        raise ValueError(scope)
    return res


def prune_threshold(tensors, threshold):
    res = Result()
    t = float(threshold)
    for p in sorted(tensors, key=path_key):
        mag = magnitude(tensors[p])
        mask = mag < t
        res.arrays[p] = _apply(tensors[p], mask)
        res.masks[p] = mask
        res.k[p] = int(mask.sum())
    return res


def prune_file(h5path, sparsity=None, threshold=None, scope="tensor",
               include=None, exclude=None, min_ndim=2, include_optimizer=False):
    """Reference result for a whole file: (selected paths, Result, original tensors)."""
    paths = select(h5path, include, exclude, min_ndim, include_optimizer)
    tensors = read_tensors(h5path, paths)
    if sparsity is not None:
        res = prune_sparsity(tensors, sparsity, scope)
    else:
        res = prune_threshold(tensors, threshold)
    return paths, res, tensors
