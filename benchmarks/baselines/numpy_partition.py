#!/usr/bin/python3
"""Global magnitude pruning with np.partition: the fastest plain-NumPy script.

Finds the magnitude t of rank k (0-based, k = round_half_even(S * n)) of all selected
tensors (float datasets, ndim >= 2) with an in-place np.partition (O(n), no sort) and zeroes
every weight with |w| < t.  Without ties this prunes exactly k weights; with ties at t it
prunes fewer (typical of such scripts; float16 models have many ties).  Output is a copy of
the input with the selected datasets overwritten.
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
        weights = {p: f[p][...] for p in paths}
    n = sum(w.size for w in weights.values())
    k = C.exact_k(args.sparsity, n)
    if k >= n:
        t = np.inf
    elif k == 0:
        t = -np.inf
    else:
        dt = np.result_type(*weights.values())
        mags = np.concatenate([np.abs(w).astype(dt, copy=False).ravel() for w in weights.values()])
        mags.partition(k)
        t = mags[k]
        del mags
    tmp = C.start_output(args.input, args.output)
    pruned = 0
    with h5py.File(tmp, "r+") as g:
        for p, w in weights.items():
            mask = np.abs(w) < t
            pruned += int(mask.sum())
            w[mask] = 0
            g[p][...] = w
    C.finish_output(tmp, args.output)
    C.log(args, f"numpy_partition: n={n} k={k} threshold={t} pruned={pruned}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
