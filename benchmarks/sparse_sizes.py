#!/usr/bin/python3
"""Bytes on disk per output format (dense, csr, coo, bitmask, each also with --compress) at
several sparsities, against `gzip -6` of the dense pruned file. Reports; asserts nothing
except that densify of every sparse output gives the dense file again (sha256).

    benchmarks/sparse_sizes.py MODEL.h5 [--bin build/tools/h5prune] [--work DIR]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "baselines"))
import _common as C  # noqa: E402


def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "tools", "h5prune"))
    ap.add_argument("--work", default="/tmp/h5prune-sparse-sizes")
    ap.add_argument("--sparsities", default="0.5,0.8,0.9,0.95,0.99")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print("machine: %s, %d cores; model %s (%d bytes)" % (platform.node(), os.cpu_count(), a.model,
                                                          os.path.getsize(a.model)))
    print("| sparsity | dense | gzip -6 of dense | csr | csr+compress | coo | coo+compress | bitmask | bitmask+compress |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in a.sparsities.split(","):
        dense = os.path.join(a.work, "dense.h5")
        run([a.bin, "prune", a.model, "-o", dense, "--sparsity", s, "--force", "--quiet"])
        gz = subprocess.run("gzip -6 -c '%s' | wc -c" % dense, shell=True, check=True, stdout=subprocess.PIPE,
                            text=True).stdout.strip()
        want = C.sha256_file(dense)
        row = [s, str(os.path.getsize(dense)), gz]
        for fmt in ("csr", "coo", "bitmask"):
            for extra in ([], ["--compress"]):
                out = os.path.join(a.work, "sparse.h5")
                js, secs = run([a.bin, "prune", a.model, "-o", out, "--sparsity", s, "--format", fmt, "--force",
                                "--json", "--quiet", *extra])
                size = os.path.getsize(out)
                back = os.path.join(a.work, "back.h5")
                run([a.bin, "densify", out, "-o", back, "--force"])
                if C.sha256_file(back) != want:
                    sys.exit("densify(%s %s) differs from the dense output at sparsity %s" % (fmt, extra, s))
                row.append("%d (%.1f s)" % (size, secs))
                os.remove(out)
                os.remove(back)
        os.remove(dense)
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
