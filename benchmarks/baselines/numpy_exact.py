#!/usr/bin/python3
"""Exact global magnitude pruning in NumPy: the reference answer.

Concatenates all selected tensors (float datasets with ndim >= 2, in byte order of their
HDF5 paths, each row-major), sorts the magnitudes with a *stable* argsort and zeroes the
first k = round_half_even(S * n) positions.  Equal magnitudes are therefore broken by
position (lower path, then lower flat index, pruned first), which is h5prune's contract, so
its output must be identical to h5prune --scope global.  Pruned weights become +0.0.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def main(argv=None):
    args = C.parse_args(__doc__, argv)
    with h5py.File(args.input, "r") as f:
        paths = C.require_selected(f, args)
        dtypes = {f[p].dtype for p in paths}
        # one dtype: compare in it; mixed: float64 holds float16/32 exactly
        work = dtypes.pop() if len(dtypes) == 1 else np.dtype("float64")
        sizes = [f[p].size for p in paths]
        n = int(sum(sizes))
        flat = np.empty(n, dtype=work)
        off = 0
        for p, sz in zip(paths, sizes):
            ds = f[p]
            if ds.dtype == work:
                ds.read_direct(flat[off:off + sz].reshape(ds.shape))
            else:
                flat[off:off + sz] = ds[...].astype(work).ravel()
            off += sz
    nan = np.isnan(flat)
    if nan.any():
        raise SystemExit(f"{args.input}: NaN in selected tensors ({int(nan.sum())})")
    del nan
    k = C.exact_k(args.sparsity, n)
    order = np.argsort(np.abs(flat), kind="stable")
    flat[order[:k]] = 0  # +0.0
    del order
    tmp = C.start_output(args.input, args.output)
    with h5py.File(tmp, "r+") as g:
        off = 0
        for p, sz in zip(paths, sizes):
            ds = g[p]
            ds[...] = flat[off:off + sz].reshape(ds.shape).astype(ds.dtype, copy=False)
            off += sz
    C.finish_output(tmp, args.output)
    C.log(args, f"numpy_exact: n={n} k={k} tensors={len(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
