"""Helpers shared by the baseline pruning scripts and the benchmarks (selection, exact k, output
copy, file digests)."""
import argparse
import hashlib
import os
import shutil
import sys
from fractions import Fraction

import h5py
import numpy as np

FLOATS = (np.dtype("float16"), np.dtype("float32"), np.dtype("float64"))


def parse_args(description, argv=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("input")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--sparsity", default="0.9", help="global sparsity S as a decimal (default 0.9)")
    ap.add_argument("--min-ndim", type=int, default=2)
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def selected_paths(f, min_ndim=2):
    """Full paths of float datasets with ndim >= min_ndim, in byte order of their paths."""
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" \
                and obj.dtype.itemsize in (2, 4, 8) and obj.ndim >= min_ndim:
            out.append("/" + name)

    f.visititems(visit)
    out.sort(key=lambda p: p.encode("utf-8"))
    return out


def require_selected(f, args):
    """selected_paths for the script's --min-ndim; exits naming the input when there is none."""
    paths = selected_paths(f, args.min_ndim)
    if not paths:
        raise SystemExit(f"{args.input}: no tensor selected")
    return paths


def exact_k(sparsity, n):
    """k = round_half_even(S * n) with S the exact decimal written."""
    s = Fraction(sparsity)
    if not 0 <= s <= 1:
        raise SystemExit(f"sparsity {sparsity} outside [0, 1]")
    return round(s * n)  # Fraction.__round__ rounds half to even


def start_output(inp, out):
    """Copy the input byte for byte to a temporary next to OUT; return its name."""
    tmp = out + ".tmp"
    shutil.copyfile(inp, tmp)
    return tmp


def finish_output(tmp, out):
    os.replace(tmp, out)


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr)


def sha256_file(path):
    """The SHA-256 of a file, read in 16 MiB blocks (outputs of several GB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()
