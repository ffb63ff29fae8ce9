#!/usr/bin/python3
"""A file larger than RAM: h5prune beside h5repack, with the page cache dropped before each run.

    larger_than_ram.py BIN WORKDIR [--params N] [--rounds R]

Generates a float32 model with make_model.py (default: 1.1x this machine's RAM in weights,
rounded), then per round drops the page cache (needs root; without it the runs are timed
anyway and the report says the cache was not dropped) and times, each as a fresh process:

    h5repack IN OUT
    h5prune prune IN -o OUT --sparsity 0.9 --scope global --force --quiet        (--memory-limit auto)
    h5prune ... --memory-limit 256M

It then checks the answer without h5prune's help: both h5prune outputs have the same SHA-256,
and, one tensor at a time with h5py/numpy, exactly round(0.9 n) selected weights are zero, every
kept weight is unchanged, unselected datasets are unchanged, and no pruned magnitude exceeds a
kept one. Needs about 2.1x the model's size on disk (one output at a time); all is deleted at the end.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "baselines"))
import _common as C  # noqa: E402

PY = "/usr/bin/python3"


def mem_total_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def drop_caches():
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def timed(cmd):
    """Wall seconds and peak RSS (KiB) of one run, via /usr/bin/time."""
    with tempfile.NamedTemporaryFile(mode="r") as t:
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        rss = t.read().strip().splitlines()
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return wall, int(rss[-1]) if rss else 0


def check(src, out, sparsity):
    """Problems found comparing a global magnitude prune with its input, tensor by tensor."""
    n = zeros = 0
    max_pruned, min_kept, problems = 0.0, np.inf, []
    with h5py.File(src, "r") as a, h5py.File(out, "r") as b:
        names = []
        a.visititems(lambda p, o: names.append(p) if isinstance(o, h5py.Dataset) else None)
        for p in names:
            x, y = a[p][()], b[p][()]
            if x.ndim < 2 or x.dtype.kind != "f":
                if not np.array_equal(x, y):
                    problems.append(f"{p}: unselected dataset changed")
                continue
            n += x.size
            z = y == 0
            zeros += int(np.count_nonzero(z))
            if np.any(y[~z] != x[~z]):
                problems.append(f"{p}: a kept weight changed")
            pruned = z & (x != 0)
            if pruned.any():
                max_pruned = max(max_pruned, float(np.abs(x[pruned]).max()))
            if (~z).any():
                min_kept = min(min_kept, float(np.abs(x[~z]).min()))
    k = int(np.floor(sparsity * n + 0.5))
    if zeros != k:
        problems.append(f"{zeros} zeros, expected round({sparsity} n) = {k}")
    if max_pruned > min_kept:
        problems.append(f"a pruned magnitude {max_pruned!r} exceeds a kept one {min_kept!r}")
    return n, zeros, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin")
    ap.add_argument("workdir")
    ap.add_argument("--params", type=float, default=0.0, help="weights (default: 1.1x RAM in float32)")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    params = a.params or round(1.1 * mem_total_bytes() / 4, -8)
    need = 2.1 * params * 4  # the model and one output at a time
    free = shutil.disk_usage(a.workdir).free
    if free < need:
        print(f"skipped: {free / 1e9:.1f} GB free in {a.workdir}, the case needs {need / 1e9:.1f} GB")
        return 0
    model = os.path.join(a.workdir, "larger_than_ram.h5")
    outs = {"h5repack": os.path.join(a.workdir, "ltr_repack.h5"),
            "h5prune default": os.path.join(a.workdir, "ltr_default.h5"),
            "h5prune --memory-limit 256M": os.path.join(a.workdir, "ltr_256m.h5")}
    base = [a.bin, "prune", model, "--sparsity", "0.9", "--scope", "global", "--force", "--quiet"]
    cmds = {"h5repack": ["h5repack", model, outs["h5repack"]],
            "h5prune default": base + ["-o", outs["h5prune default"]],
            "h5prune --memory-limit 256M": base + ["-o", outs["h5prune --memory-limit 256M"], "--memory-limit", "256M"]}
    try:
        start = time.perf_counter()
        subprocess.check_call([PY, os.path.join(HERE, "make_model.py"), model, "--params", str(params), "--seed", "0"])
        print(f"model: {os.path.getsize(model) / 1e9:.2f} GB, RAM {mem_total_bytes() / 2**30:.1f} GiB, "
              f"generated in {time.perf_counter() - start:.0f} s")
        times = {name: [] for name in cmds}
        rss = {name: 0 for name in cmds}
        digests = {name: set() for name in cmds}
        dropped, checked = True, None
        for r in range(a.rounds):
            for name, cmd in cmds.items():
                dropped &= drop_caches()
                wall, kib = timed(cmd)
                times[name].append(wall)
                rss[name] = max(rss[name], kib)
                print(f"round {r + 1}: {name:<30} {wall:7.1f} s  peak RSS {kib / 1024:7.0f} MiB", flush=True)
                if name != "h5repack":
                    digests[name].add(C.sha256_file(outs[name]))
                    if checked is None:  # the answer itself, once
                        checked = check(model, outs[name], 0.9)
                os.unlink(outs[name])  # one output on disk at a time
        floor = statistics.median(times["h5repack"])
        print(f"\npage cache dropped before each run: {'yes' if dropped else 'NO (not root)'}")
        print("| command | runs (s) | median s | / h5repack | peak RSS MiB |\n|---|---|---:|---:|---:|")
        for name in cmds:
            m = statistics.median(times[name])
            runs = ", ".join(f"{t:.1f}" for t in times[name])
            print(f"| {name} | {runs} | {m:.1f} | {m / floor:.2f}x | {rss[name] / 1024:.0f} |")
        shas = digests["h5prune default"] | digests["h5prune --memory-limit 256M"]
        print(f"\nSHA-256 of every h5prune output: {', '.join(x[:12] for x in sorted(shas))}"
              f" ({'the same' if len(shas) == 1 else 'DIFFERENT'})")
        n, zeros, problems = checked
        print(f"independent check: n = {n}, zeros = {zeros}: " + ("ok" if not problems else "; ".join(problems)))
        return 0 if len(shas) == 1 and not problems else 1
    finally:
        for p in [model] + list(outs.values()):
            if os.path.exists(p):
                os.unlink(p)


if __name__ == "__main__":
    sys.exit(main())
