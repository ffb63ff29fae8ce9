#!/usr/bin/env python3
"""Cost of a sweep against one prune: h5prune sweep with 1, 10 and 100 points, and prune at one
point, on the same model (warm cache, medians). Reports; never passes or fails on a time.

    /usr/bin/python3 benchmarks/sweep_bench.py [--model benchmarks/data/model_float32_1e08_s0.h5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, reps):
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(HERE, "data", "model_float32_1e08_s0.h5"))
    ap.add_argument("--bin", default=os.environ.get("H5PRUNE_BIN", os.path.join(HERE, "..", "build", "tools", "h5prune")))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scope", default="global")
    args = ap.parse_args()
    if not os.path.exists(args.model):
        sys.exit("model %s not found: run benchmarks/make_model.py (or prune_bench.py) first" % args.model)
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.h5")
        prune = timed([args.bin, "prune", args.model, "-o", out, "--force", "--quiet", "--sparsity", "0.9",
                       "--scope", args.scope], args.reps)
        js = json.loads(subprocess.run([args.bin, "prune", args.model, "-o", out, "--force", "--quiet", "--json",
                                        "--sparsity", "0.9", "--scope", args.scope],
                                       check=True, capture_output=True, text=True).stdout)
        analysis = js["seconds"]["read"] + js["seconds"]["compute"]
        rows.append(("prune 0.9 (whole run)", prune))
        for label, spec in (("sweep 1 point", "0.9"), ("sweep 10 points", "0.09:0.9:0.09"),
                            ("sweep 100 points", "0.01:1:0.01")):
            rows.append((label, timed([args.bin, "sweep", args.model, "--sparsity", spec, "--scope", args.scope],
                                      args.reps)))
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[0]
    print("model: %s, scope %s, %d reps (median, warm cache), load %s -> %s" % (
        os.path.basename(args.model), args.scope, args.reps, load_before, load_after))
    print("prune 0.9 analysis (read + compute from --json): %.2f s\n" % analysis)
    print("| command | median s | vs 1-point sweep |\n|---|---:|---:|")
    one = rows[1][1]
    for label, t in rows:
        print("| %s | %.2f | %.2fx |" % (label, t, t / one))
    print("\n100-point sweep / prune analysis: %.2fx (target < 2x)" % (rows[3][1] / analysis))


if __name__ == "__main__":
    main()
