#!/usr/bin/python3
"""Global magnitude pruning the way PyTorch users do it.

Wraps every selected tensor (float datasets, ndim >= 2) as the `weight` nn.Parameter of a
small nn.Module and calls torch.nn.utils.prune.global_unstructured(...,
pruning_method=prune.L1Unstructured, amount=k) with k = round_half_even(S * n) (an int
amount is an exact count), makes the pruning permanent with prune.remove and writes the
weights back into a copy of the input with h5py.

PyTorch 1.13's CPU topk has no float16 kernel, so float16 tensors are pruned as float32
parameters (exact: float16 -> float32 is lossless) and written back as float16.  Ties at the
k-th magnitude are broken however torch.topk breaks them (not by position).
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


class Holder(nn.Module):
    def __init__(self, array):
        super().__init__()
        t = torch.from_numpy(array)
        if t.dtype == torch.float16:
            t = t.float()
        self.weight = nn.Parameter(t, requires_grad=False)


def main(argv=None):
    args = C.parse_args(__doc__, argv)
    with h5py.File(args.input, "r") as f:
        paths = C.require_selected(f, args)
        dtypes = {p: f[p].dtype for p in paths}
        modules = {p: Holder(f[p][...]) for p in paths}
    n = sum(m.weight.numel() for m in modules.values())
    k = C.exact_k(args.sparsity, n)
    with torch.no_grad():
        prune.global_unstructured([(m, "weight") for m in modules.values()],
                                  pruning_method=prune.L1Unstructured, amount=k)
        for m in modules.values():
            prune.remove(m, "weight")
    tmp = C.start_output(args.input, args.output)
    with h5py.File(tmp, "r+") as g:
        for p, m in modules.items():
            w = m.weight.detach().numpy()
            w[w == 0] = 0  # masked weights are w * 0 = -0.0 for negative w: store +0.0
            g[p][...] = w.astype(dtypes[p], copy=False)
    C.finish_output(tmp, args.output)
    C.log(args, f"torch_prune: n={n} k={k} tensors={len(paths)} threads={torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
