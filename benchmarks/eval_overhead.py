#!/usr/bin/python3
"""The cost of the evaluation machinery (--eval) around a trivial command: `prune` of a small
model with and without `--eval "echo '{\\"m\\":1}'"`, each with a registry, and a 10-point
`sweep --materialize` with and without it. The difference per point is what h5prune adds:
spawning /bin/sh, reading its stdout, parsing the line, writing the record (and the echo itself).
usage: eval_overhead.py [--bin build/tools/h5prune] [--reps 15]"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TRIVIAL = "echo '{\"m\":1}'"


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def median_of(reps, make_cmd):
    return statistics.median(timed(make_cmd(i)) for i in range(reps))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(HERE), "build", "tools", "h5prune"))
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="h5prune-eval-bench.")
    try:
        model = os.path.join(d, "m.h5")
        with h5py.File(model, "w") as f:
            rng = np.random.default_rng(0)
            f["dense/kernel:0"] = rng.standard_normal((256, 256)).astype(np.float32)
            f["out/kernel:0"] = rng.standard_normal((256, 10)).astype(np.float32)
        # Every prune is a new version (a new sparsity per rep), so each rep prunes and records.
        def prune(i, ev):
            cmd = [a.bin, "prune", model, "--sparsity", "0.%03d" % (i + 1 + (500 if ev else 0)), "--registry",
                   os.path.join(d, "reg"), "--model", "m", "--quiet"]
            return cmd + (["--eval", TRIVIAL] if ev else [])
        timed(prune(999, False))  # warm-up
        plain = median_of(a.reps, lambda i: prune(i, False))
        evald = median_of(a.reps, lambda i: prune(i, True))
        points = ",".join("0.%02d" % p for p in range(50, 60))

        def sweep(i, ev):
            cmd = [a.bin, "sweep", model, "--sparsity", points, "--materialize", "--registry",
                   os.path.join(d, "sweep%d%s" % (i, "e" if ev else "")), "--model", "m"]
            return cmd + (["--eval", TRIVIAL] if ev else [])
        reps = max(3, a.reps // 3)
        s_plain = median_of(reps, lambda i: sweep(i, False))
        s_eval = median_of(reps, lambda i: sweep(i, True))
        # The trivial command alone, through /bin/sh as h5prune runs it.
        sh = median_of(a.reps, lambda i: ["/bin/sh", "-c", TRIVIAL])
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print("machine: %s, %d cores, %s; %s" % (cpu, os.cpu_count(), platform.platform(), subprocess.run(
            [a.bin, "--version"], capture_output=True, text=True).stdout.strip()))
        print("load average (1/5/15 min) at the end: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
        print()
        print("| what | median s | per point ms |")
        print("|---|---:|---:|")
        print("| prune --registry (66K weights) | %.4f | |" % plain)
        print("| prune --registry --eval TRIVIAL | %.4f | %.1f more |" % (evald, 1000 * (evald - plain)))
        print("| sweep --materialize, 10 points | %.4f | |" % s_plain)
        print("| sweep --materialize --eval TRIVIAL, 10 points | %.4f | %.1f more |" % (s_eval, 100 * (s_eval - s_plain)))
        print("| /bin/sh -c TRIVIAL alone (from Python) | %.4f | %.1f |" % (sh, 1000 * sh))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
