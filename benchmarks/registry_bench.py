#!/usr/bin/env python3
"""Registry timings: wall time of `prune --registry` against plain `prune -o` (empty registry and
one with 1,000 versions), and of log / log --json / show / verify with 1,000 versions.
usage: benchmarks/registry_bench.py H5PRUNE_BIN WORKDIR [--versions N]"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np


def run(*args):
    t = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def median_time(n, *args):
    return statistics.median(run(*args) for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("work")
    ap.add_argument("--versions", type=int, default=1000)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(1)
    small = os.path.join(a.work, "small.h5")
    with h5py.File(small, "w") as f:  # 20k weights, ~90 KB
        f["/d/kernel"] = rng.standard_normal((128, 128)).astype("f4")
        f["/e/kernel"] = rng.standard_normal((64, 64)).astype("f4")
    mid = os.path.join(a.work, "mid.h5")
    with h5py.File(mid, "w") as f:  # 4M weights, 16 MB
        f["/d/kernel"] = rng.standard_normal((2048, 2048)).astype("f4")
    reg = os.path.join(a.work, "reg")
    out = os.path.join(a.work, "out.h5")
    B = a.bin
    rows = []

    def publish_row(label, model_file, name, reps=5):
        plain = median_time(reps, B, "prune", model_file, "--sparsity", "0.5", "-o", out, "--force", "--quiet")
        # each registry run uses a new rule so that it really publishes a version
        times = []
        for i in range(reps):
            times.append(run(B, "prune", model_file, "--sparsity", "0.5%03d" % (i + 1),
                             "--registry", reg, "--model", name, "--quiet"))
        again = median_time(reps, B, "prune", model_file, "--sparsity", "0.5001", "--registry", reg,
                            "--model", name, "--quiet")
        rows.append((label, plain, statistics.median(times), again))

    os.makedirs(reg, exist_ok=True)
    publish_row("small, empty model", small, "fresh_small")
    publish_row("16 MB, empty model", mid, "fresh_mid")
    t0 = time.perf_counter()
    for i in range(a.versions):
        subprocess.run([B, "prune", small, "--sparsity", "0.%05d" % (i + 1), "--registry", reg, "--model", "big",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
    fill = time.perf_counter() - t0
    publish_row("small, model with %d versions" % a.versions, small, "big")
    print("filled %d versions in %.1f s (%.1f ms per publish, sequential)" % (a.versions, fill, 1e3 * fill / a.versions))
    print("%-34s %12s %16s %18s" % ("publish", "prune -o", "prune --registry", "already recorded"))
    for label, p, r, again in rows:
        print("%-34s %9.1f ms %13.1f ms %15.1f ms" % (label, 1e3 * p, 1e3 * r, 1e3 * again))
    n = a.versions + 5
    for label, args in (("log (human)", ["log", "big"]), ("log --json", ["log", "big", "--json"]),
                        ("show big@latest", ["show", "big@latest"]), ("show by sha prefix", None),
                        ("verify big", ["verify", "big"])):
        if args is None:
            # (outputs of the 1,000 small versions repeat: k = round(S*n) takes few values)
            log = json.loads(subprocess.run([B, "log", "fresh_mid", "--json", "--limit", "1", "--registry", reg],
                                            check=True, stdout=subprocess.PIPE, text=True).stdout)
            sha = log["versions"][0]["sha256"][:12]
            args = ["show", "fresh_mid@" + sha]
        print("%-20s with %d versions: %7.1f ms" % (label, n, 1e3 * median_time(5, B, *args, "--registry", reg)))


if __name__ == "__main__":
    sys.exit(main())
