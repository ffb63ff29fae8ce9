#!/usr/bin/python3
"""Compares `h5prune prune --structured l1|l2` with torch.nn.utils.prune.ln_structured on
tie-free data: for each norm (n = 1, 2), each axis (dim) and a few shapes, the same slices are
zeroed and every other weight is left bit for bit.

torch picks the slices with topk, whose order among equal norms is unspecified, and rounds
amount x slices in float64; the data here are normal draws (no two slices share a norm) and the
amounts are chosen away from .5 cases, so both must agree exactly. PyTorch is not part of the
test install: without it this script prints why and exits 0 (skipped).

usage: /usr/bin/python3 benchmarks/structured_vs_torch.py [--bin build/tools/h5prune] [--seed N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [((64, 32), "0.25"), ((16, 8, 3, 3), "0.5"), ((10, 20, 7), "0.3"), ((33, 5), "0.6")]


def torch_pruned(torch, prune, x, amount, n, dim):
    """x pruned by ln_structured on a module holding it as its `weight`."""
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(torch.from_numpy(x.copy()))
    prune.ln_structured(m, "weight", amount=amount, n=n, dim=dim)
    return m.weight.detach().numpy(), m.weight_mask.detach().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("H5PRUNE_BIN", os.path.join(HERE, "..", "build", "tools", "h5prune")))
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.utils.prune as prune
    except ImportError:
        print("skipped: PyTorch is not installed (it stays out of the test install); "
              "install it to compare with torch.nn.utils.prune.ln_structured")
        return 0
    rng = np.random.default_rng(a.seed)
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for shape, amount in CASES:
            x = rng.standard_normal(shape).astype(np.float32)
            src = os.path.join(tmp, "in.h5")
            with h5py.File(src, "w") as f:
                f["/w"] = x
            for n in (1, 2):
                for dim in range(len(shape)):
                    out = os.path.join(tmp, "out.h5")
                    res = subprocess.run([a.bin, "prune", src, "-o", out, "--force", "--json", "--quiet",
                                          "--sparsity", amount, "--structured", "l%d" % n,
                                          "--structured-axis", str(dim)], capture_output=True, text=True)
                    if res.returncode != 0:
                        print("FAIL h5prune exited %d: %s" % (res.returncode, res.stderr.strip()))
                        failures += 1
                        continue
                    removed = json.loads(res.stdout)["tensors"][0]["structured"]["removed"]
                    with h5py.File(out, "r") as f:
                        got = f["/w"][()]
                    want, mask = torch_pruned(torch, prune, x, float(amount), n, dim)
                    torch_removed = [i for i in range(shape[dim]) if not np.take(mask, i, axis=dim).any()]
                    # torch multiplies by the mask (-0.0 for a negative weight); h5prune writes +0.0.
                    same = np.array_equal(got.view(np.uint32), np.where(mask == 0, np.float32(0), x).view(np.uint32))
                    ok = same and removed == torch_removed and np.array_equal(got, want)
                    checked += 1
                    print("%s shape %s dim %d L%d amount %s: %d of %d slices removed%s" % (
                        "ok  " if ok else "FAIL", shape, dim, n, amount, len(removed), shape[dim],
                        "" if ok else " (h5prune %s, torch %s)" % (removed, torch_removed)))
                    failures += not ok
    print("%d of %d cases agree with torch %s" % (checked - failures, checked, torch.__version__))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
