#!/usr/bin/python3
"""Benchmark h5prune against h5repack (I/O floor) and Python pruning scripts.

For each model dtype (float32, float16): generate the model with make_model.py (cached in the
work directory), then time, each as a fresh process under /usr/bin/time (peak RSS = %M):

    h5repack IN OUT                                        I/O floor
    h5repack IN OUT && sync OUT                            I/O floor with h5prune's durability
    h5prune prune IN -o OUT --sparsity S --scope global --force --quiet
    h5prune ... --scope global --memory-limit 128M
    h5prune ... --scope tensor
    h5prune ... --scope global --registry DIR --model bench   (a fresh registry each run)
    h5prune sweep IN --sparsity 0.01:1:0.01 --scope global --csv F   (100 points, one analysis)
    baselines/numpy_partition.py   (global, np.partition)
    baselines/numpy_exact.py       (global, stable argsort: the exact reference)
    baselines/torch_prune.py       (global, torch.nn.utils.prune.global_unstructured)

Each command runs once as a warm-up (not timed; its output is used for the correctness
checks), then --reps timed repetitions; the table shows the median wall time and the largest
peak RSS.  The page cache is not dropped (that needs root): every number is warm-cache.

--large adds a 1B-weight float32 model (4 GB; --large-params), generated on the fly and deleted
afterwards, timed against h5repack with default settings and with --memory-limit 256M (no Python
baselines: np.partition would need 3x the file in memory). It is skipped, with a message, when the
work directory's disk has less than 3.5x the file's size free (the model, one copy at a time, h5prune's two outputs).

Every command's previous output is removed, untimed, before each run. The header says whether
the machine is a VM that hands freed memory back to its host (virtio-balloon free page
reporting): there, how fast the kernel copies a write into the page cache depends on the size
of the write (large writes get large folios, from memory the host had taken back: 4 GB took 10 s
in 4 MiB writes and 1.2 s in 128 KiB writes on the VM of RESULTS.md), so h5repack and h5prune
are compared with each writing as it does.

Correctness (once per model, from the warm-up outputs): h5prune --scope global must equal
numpy_exact bit for bit on every selected dataset (or, with --skip-exact, prune exactly
k = round_half_even(S*n) weights); the --memory-limit 128M output must have the same SHA-256
as the default one; --scope tensor must prune round_half_even(S*n_t) weights per tensor;
everything that is not a selected dataset must be unchanged.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import shlex
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
TIME = "/usr/bin/time"


# --------------------------------------------------------------------------- running

class Result:
    def __init__(self, name, cmd):
        self.name, self.cmd = name, cmd
        self.times, self.rss_kb = [], []
        self.error = None

    @property
    def median(self):
        return statistics.median(self.times) if self.times else None

    @property
    def rss_mb(self):
        return max(self.rss_kb) / 1024 if self.rss_kb else None


def run_once(cmd, logdir, tag):
    """Run cmd under /usr/bin/time; return (wall seconds, peak RSS KB, rc, stderr tail)."""
    fd, tfile = tempfile.mkstemp(prefix="time.", dir=logdir)
    os.close(fd)
    full = [TIME, "-o", tfile, "-f", "%e %M"] + cmd
    with open(os.path.join(logdir, tag + ".stdout"), "wb") as out, \
            open(os.path.join(logdir, tag + ".stderr"), "wb") as err:
        t0 = time.perf_counter()
        rc = subprocess.call(full, stdout=out, stderr=err)
        wall = time.perf_counter() - t0
    with open(tfile) as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    os.unlink(tfile)
    rss = None
    if lines:
        try:
            rss = int(lines[-1].split()[1])
        except (IndexError, ValueError):
            pass
    with open(os.path.join(logdir, tag + ".stderr"), "rb") as fh:
        tail = fh.read().decode(errors="replace").strip().splitlines()
    tail = [ln for ln in tail if not ln.startswith("Command exited with non-zero status")]
    return wall, rss, rc, (tail[-1] if tail else "")


def bench(res, out_path, reps, warmup, logdir, log, clean_dir=None):
    """clean_dir: a directory the command writes (a registry), removed before each run, untimed,
    as out_path is: no command pays for deleting what the one before it wrote."""
    for i in range(warmup + reps):
        if os.path.exists(out_path):
            os.unlink(out_path)
        if clean_dir:
            shutil.rmtree(clean_dir, ignore_errors=True)
        tag = f"{res.name.replace(' ', '_').replace('/', '_')}.{i}"
        wall, rss, rc, tail = run_once(res.cmd, logdir, tag)
        kind = "warm-up" if i < warmup else f"rep {i - warmup + 1}"
        if rc != 0:
            res.error = f"exit {rc}: {tail}"
            log(f"  {res.name:<34} {kind:<8} FAILED ({res.error})")
            return
        log(f"  {res.name:<34} {kind:<8} {wall:8.2f} s {((rss or 0) / 1024):8.0f} MB")
        if i >= warmup:
            res.times.append(wall)
            if rss is not None:
                res.rss_kb.append(rss)


# --------------------------------------------------------------------------- checks

def bits(a):
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def all_datasets(f):
    out = []
    f.visititems(lambda n, o: out.append("/" + n) if isinstance(o, h5py.Dataset) else None)
    return sorted(out)


def compare_unselected(inp, out, selected):
    """Same datasets (dtype, shape, attributes, chunking, filters), unselected data and root
    attributes identical. Returns a list of problems."""
    probs = []
    with h5py.File(inp, "r") as f, h5py.File(out, "r") as g:
        if sorted(all_datasets(f)) != sorted(all_datasets(g)):
            probs.append("dataset list differs")
            return probs
        for p in all_datasets(f):
            if f[p].dtype != g[p].dtype or f[p].shape != g[p].shape:
                probs.append(f"{p}: dtype/shape differs")
            elif p not in selected and not np.array_equal(bits(f[p][()]), bits(g[p][()])):
                probs.append(f"{p}: unselected dataset changed")
            if {k: str(v) for k, v in f[p].attrs.items()} != {k: str(v) for k, v in g[p].attrs.items()}:
                probs.append(f"{p}: attributes differ")
            if f[p].chunks != g[p].chunks or f[p].compression != g[p].compression:
                probs.append(f"{p}: layout/filters differ")
        fa = {k: f.attrs[k] for k in f.attrs}
        ga = {k: g.attrs[k] for k in g.attrs}
        if fa.keys() != ga.keys() or any(str(fa[k]) != str(ga[k]) for k in fa):
            probs.append("root attributes differ")
    return probs


def count_pruned(inp, out, paths):
    """Per tensor: number of weights that were non-zero and are now zero, zeros after,
    negative zeros after, and whether every weight is either unchanged or +-0."""
    rows = {}
    with h5py.File(inp, "r") as f, h5py.File(out, "r") as g:
        for p in paths:
            a, b = f[p][()], g[p][()]
            z = b == 0
            changed = bits(a) != bits(b)
            rows[p] = dict(n=a.size, zeros=int(z.sum()), negzero=int(np.signbit(b[z]).sum()),
                           only_zeroed=bool(np.all(z[changed])))
    return rows


def check_model(model, outs, sparsity, skip_exact, log, skip_h5prune=False):
    """Return list of (check, ok, detail)."""
    checks = []
    with h5py.File(model, "r") as f:
        paths = C.selected_paths(f)
        sizes = {p: f[p].size for p in paths}
        zeros_before = {p: int((f[p][()] == 0).sum()) for p in paths}
    n = sum(sizes.values())
    k = C.exact_k(sparsity, n)

    g = outs.get("h5prune global")
    if skip_h5prune:
        pass
    elif g is None or not os.path.exists(g):
        checks.append(("h5prune global output exists", False, "no output (run failed)"))
    else:
        probs = compare_unselected(model, g, set(paths))
        checks.append(("h5prune global: everything not selected unchanged", not probs,
                       "; ".join(probs[:3]) or "ok"))
        rows = count_pruned(model, g, paths)
        z = sum(r["zeros"] for r in rows.values())
        checks.append((f"h5prune global: zeros == k = {k}", z == k, f"zeros = {z}"))
        neg = sum(r["negzero"] for r in rows.values())
        checks.append(("h5prune global: pruned weights are +0.0", neg == 0, f"-0.0 count = {neg}"))
        onlyz = all(r["only_zeroed"] for r in rows.values())
        checks.append(("h5prune global: kept weights unchanged", onlyz, "ok" if onlyz else "changed values"))
        ex = outs.get("numpy_exact")
        if not skip_exact and ex and os.path.exists(ex):
            bad = []
            with h5py.File(g, "r") as a, h5py.File(ex, "r") as b:
                for p in paths:
                    if not np.array_equal(bits(a[p][()]), bits(b[p][()])):
                        bad.append(p)
            checks.append(("h5prune global == numpy_exact (bitwise, every selected tensor)",
                           not bad, f"{len(bad)} tensors differ: {bad[:3]}" if bad else
                           f"{len(paths)} tensors identical"))
        m = outs.get("h5prune global --memory-limit 128M")
        if m and os.path.exists(m):
            sg, sm = C.sha256_file(g), C.sha256_file(m)
            checks.append(("h5prune --memory-limit 128M output == default (SHA-256)", sg == sm,
                           f"{sg[:12]} vs {sm[:12]}"))
    t = outs.get("h5prune tensor")
    if t and os.path.exists(t):
        rows = count_pruned(model, t, paths)
        bad = [p for p in paths
               if rows[p]["zeros"] != max(C.exact_k(sparsity, sizes[p]), zeros_before[p])]
        checks.append(("h5prune tensor: zeros == round_half_even(S*n_t) per tensor", not bad,
                       f"{len(bad)} tensors off: {bad[:3]}" if bad else f"{len(paths)} tensors ok"))
    for name in ("numpy_partition", "torch_prune"):
        o = outs.get(name)
        if o and os.path.exists(o):
            rows = count_pruned(model, o, paths)
            z = sum(r["zeros"] for r in rows.values())
            checks.append((f"{name}: zeros vs k = {k} (information)", True, f"zeros = {z} ({z - k:+d})"))
    for c, ok, d in checks:
        log(f"  [{'ok' if ok else 'FAIL'}] {c}: {d}")
    return checks, n, k


# --------------------------------------------------------------------------- report

def fmt(x, spec):
    return "-" if x is None else format(x, spec)


# h5repack leaves its output in the page cache, still to be written to disk; h5prune's output is
# on disk when it exits (fsync before the rename: a node crash leaves the old file or the whole
# new one). The second floor pays the same.
DURABLE = "h5repack + sync"
REGISTRY = "h5prune global --registry"  # its registry is removed before each run, untimed


def free_page_reporting():
    """A description when this machine is a VM that hands freed memory back to its host
    (virtio-balloon free page reporting), else None: there, first touching memory the host took
    back costs a fault in the host, which is much of a large case's time (see the docstring)."""
    for dev in glob.glob("/sys/bus/virtio/drivers/virtio_balloon/virtio*"):
        try:
            features = open(os.path.join(dev, "features")).read().strip()
        except OSError:
            continue
        if len(features) > 5 and features[5] == "1":  # VIRTIO_BALLOON_F_REPORTING
            order = ""
            try:
                order = open("/sys/module/page_reporting/parameters/page_reporting_order").read().strip()
            except OSError:
                pass
            return "virtio-balloon free page reporting on" + (f" (order {order})" if order else "")
    return None


def durable_copy(model, out):
    return ["/bin/sh", "-c", 'h5repack "$1" "$2" && sync "$2"', "sh", model, out]


def table(results):
    floor = next((r.median for r in results if r.name == "h5repack" and r.times), None)
    durable = next((r.median for r in results if r.name == DURABLE and r.times), None)
    part = next((r.median for r in results if r.name == "numpy_partition" and r.times), None)
    lines = ["| command | median s | min s | max s | peak RSS MB | time / h5repack | time / h5repack + sync "
             "| np.partition / time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.error:
            lines.append(f"| {r.name} | FAILED: {r.error.replace('|', '/')} | | | | | | |")
            continue
        m = r.median
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r.name, fmt(m, ".2f"), fmt(min(r.times), ".2f"), fmt(max(r.times), ".2f"),
            fmt(r.rss_mb, ".0f"),
            fmt(m / floor if floor else None, ".1f") + ("x" if floor else ""),
            fmt(m / durable if durable else None, ".1f") + ("x" if durable else ""),
            fmt(part / m if part else None, ".2f") + ("x" if part else "")))
    return "\n".join(lines)


def targets(results, selected_mb, large=False):
    """Issue 16's targets: (description, value text, met) rows from medians of this run."""
    by = {r.name: r for r in results}
    floor, part = by.get("h5repack"), by.get("numpy_partition")
    rows = ["| target | measured | met |", "|---|---:|:---:|"]

    def row(desc, val, ok):
        rows.append(f"| {desc} | {val} | {'-' if ok is None else ('yes' if ok else 'NO')} |")

    ok = lambda r: r is not None and not r.error and r.times  # noqa: E731

    def ratio(name, limit, desc):
        r = by.get(name)
        if ok(r) and ok(floor):
            x = r.median / floor.median
            row(desc, f"{x:.2f}x", x <= limit)
        else:
            row(desc, "n/a", None)

    def rss(name, limit_mb, desc):
        r = by.get(name)
        if ok(r) and r.rss_mb:
            row(desc, f"{r.rss_mb:.0f} MB", r.rss_mb <= limit_mb)
        else:
            row(desc, "n/a", None)

    if large:
        ratio("h5prune global", 1.5, "global 0.9, default settings: <= 1.5x h5repack")
        ratio("h5prune global --memory-limit 256M", 3.0, "global 0.9, --memory-limit 256M: <= 3x h5repack")
        rss("h5prune global --memory-limit 256M", 400, "peak RSS < 400 MB at --memory-limit 256M")
        return "\n".join(rows)
    ratio("h5prune global", 2.5, "global 0.9, dense, no registry: <= 2.5x h5repack")
    g = by.get("h5prune global")
    if ok(g) and ok(part):
        x = part.median / g.median
        row("global 0.9 >= 5x faster than np.partition", f"{x:.2f}x", x >= 5)
    else:
        row("global 0.9 >= 5x faster than np.partition", "n/a", None)
    rss("h5prune global", 1.1 * selected_mb,
        f"peak RSS <= 1.1x selected bytes ({1.1 * selected_mb:.0f} MB), resident")
    rss("h5prune global --memory-limit 128M", 300, "peak RSS <= 300 MB at --memory-limit 128M")
    ratio(REGISTRY, 4.0, "global 0.9 with --registry: <= 4x h5repack")
    return "\n".join(rows)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemTotal:"):
                    return int(ln.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def revision():
    try:
        r = subprocess.run(["git", "-C", os.path.dirname(HERE), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True)
        d = subprocess.run(["git", "-C", os.path.dirname(HERE), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True)
        return r.stdout.strip() + ("+dirty" if d.stdout.strip() else "")
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------- 1B weights

def large_case(a, logdir, log):
    """The --large case: generated, timed, checked (both h5prune outputs the same bytes), deleted."""
    need = 3.5 * a.large_params * 4
    free = shutil.disk_usage(a.workdir).free
    title = f"### float32 model, {a.large_params:.0e} weights (--large), sparsity {a.sparsity}\n"
    if free < need:
        msg = (f"skipped: {free / 1e9:.1f} GB free in {a.workdir}, the case needs {need / 1e9:.1f} GB "
               "(model, h5repack's copy and h5prune's output)")
        log(f"large case {msg}")
        return [title, msg, ""], True
    model = os.path.join(a.workdir, f"model_large_{a.large_params:.0e}.h5".replace("+", ""))
    outs = {n: os.path.join(a.workdir, f"out_large_{i}.h5") for i, n in enumerate(
        ("h5repack", DURABLE, "h5prune global", "h5prune global --memory-limit 256M"))}
    try:
        log(f"generating {model}")
        subprocess.check_call([PY, os.path.join(HERE, "make_model.py"), model, "--params", str(a.large_params),
                               "--dtype", "float32", "--seed", str(a.seed)])
        with h5py.File(model, "r") as f:
            sel = C.selected_paths(f)
            nsel = sum(f[p].size for p in sel)
        base = [a.bin, "prune", model, "--sparsity", a.sparsity, "--scope", "global", "--force", "--quiet"]
        cmds = [("h5repack", ["h5repack", model, outs["h5repack"]]),
                (DURABLE, durable_copy(model, outs[DURABLE])),
                ("h5prune global", base[:3] + ["-o", outs["h5prune global"]] + base[3:]),
                ("h5prune global --memory-limit 256M", base[:3] + ["-o", outs["h5prune global --memory-limit 256M"]]
                 + base[3:] + ["--memory-limit", "256M"])]
        results = []
        for name, cmd in cmds:
            r = Result(name, cmd)
            log(f"large: {shlex.join(cmd)}")
            bench(r, outs[name], a.large_reps, 1, logdir, log)
            results.append(r)
            if name in ("h5repack", DURABLE) and os.path.exists(outs[name]):
                os.unlink(outs[name])  # 4 GB less in the page cache for the runs after it
        sa, sb = (C.sha256_file(outs[n]) if os.path.exists(outs[n]) else "missing"
                  for n in ("h5prune global", "h5prune global --memory-limit 256M"))
        same = sa == sb != "missing"
        text = [f"### float32 model: {nsel / 1e6:.0f}M selected weights ({len(sel)} tensors), "
                f"file {os.path.getsize(model) / 1e9:.2f} GB, sparsity {a.sparsity} (--large; generated and deleted)\n",
                table(results) + "\n", targets(results, 0, large=True) + "\n",
                f"- [{'ok' if same else 'FAIL'}] default and --memory-limit 256M outputs: same SHA-256: "
                f"{sa[:12]} vs {sb[:12]}", ""]
        return text, same and not any(r.error for r in results)
    finally:
        for p in [model] + list(outs.values()):
            if os.path.exists(p):
                os.unlink(p)


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=float, default=100e6, help="model size (default 100e6)")
    ap.add_argument("--dtypes", default="float32,float16", help="comma list (default float32,float16)")
    ap.add_argument("--sparsity", default="0.9")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-exact", action="store_true")
    ap.add_argument("--skip-h5prune", action="store_true", help="baselines only")
    ap.add_argument("--workdir", default=os.path.join(HERE, "data"))
    ap.add_argument("--bin", default=os.environ.get("H5PRUNE_BIN", "/work/main/build/tools/h5prune"),
                    help="h5prune binary (default $H5PRUNE_BIN or /work/main/build/tools/h5prune)")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("--keep-outputs", action="store_true", help="keep the pruned files")
    ap.add_argument("--large", action="store_true", help="add the 1B-weight float32 case (4 GB, deleted after)")
    ap.add_argument("--large-params", type=float, default=1e9)
    ap.add_argument("--large-reps", type=int, default=2)
    a = ap.parse_args(argv)
    if a.warmup < 1:
        ap.error("--warmup must be >= 1 (the warm-up outputs are checked)")

    os.makedirs(a.workdir, exist_ok=True)
    logdir = os.path.join(a.workdir, "logs")
    os.makedirs(logdir, exist_ok=True)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if not a.skip_h5prune and not os.access(a.bin, os.X_OK):
        ap.error(f"h5prune binary not found: {a.bin} (set H5PRUNE_BIN, --bin, or --skip-h5prune)")
    version = "n/a"
    if not a.skip_h5prune:
        v = subprocess.run([a.bin, "--version"], capture_output=True, text=True)
        version = (v.stdout.strip() or v.stderr.strip()).splitlines()[0] if (v.stdout or v.stderr) else "?"

    started = datetime.datetime.now().astimezone()
    load_before = loadavg()
    rev = revision()
    report = []
    all_ok = True
    for dtype in [d.strip() for d in a.dtypes.split(",") if d.strip()]:
        tag = f"{dtype}_{a.params:.0e}_s{a.seed}".replace("+", "")
        model = os.path.join(a.workdir, f"model_{tag}.h5")
        if not os.path.exists(model):
            log(f"generating {model}")
            t0 = time.perf_counter()
            subprocess.check_call([PY, os.path.join(HERE, "make_model.py"), model,
                                   "--params", str(a.params), "--dtype", dtype, "--seed", str(a.seed)])
            log(f"  {time.perf_counter() - t0:.1f} s")
        size_mb = os.path.getsize(model) / 1e6
        with h5py.File(model, "r") as f:
            sel = C.selected_paths(f)
            nsel = sum(f[p].size for p in sel)
            sel_bytes = sum(f[p].size * f[p].dtype.itemsize for p in sel)
        log(f"model {model}: {size_mb:.0f} MB, {len(sel)} selected tensors, {nsel} weights")

        def outp(name):
            return os.path.join(a.workdir, f"out_{tag}_{name.replace(' ', '_').replace('/', '_')}.h5")

        S = a.sparsity
        cmds = [("h5repack", ["h5repack", model, outp("h5repack")]),
                (DURABLE, durable_copy(model, outp(DURABLE)))]
        if not a.skip_h5prune:
            base = [a.bin, "prune", model, "--sparsity", S, "--force", "--quiet"]
            reg = os.path.join(a.workdir, f"registry_{tag}")
            cmds += [
                ("h5prune global", base[:3] + ["-o", outp("h5prune global")] + base[3:] + ["--scope", "global"]),
                (REGISTRY,
                 base[:3] + base[3:] + ["--scope", "global", "--registry", reg, "--model", "bench"]),
                ("h5prune global --memory-limit 128M",
                 base[:3] + ["-o", outp("h5prune global --memory-limit 128M")] + base[3:]
                 + ["--scope", "global", "--memory-limit", "128M"]),
                ("h5prune tensor", base[:3] + ["-o", outp("h5prune tensor")] + base[3:] + ["--scope", "tensor"]),
                ("h5prune sweep 100 points global",
                 [a.bin, "sweep", model, "--sparsity", "0.01:1:0.01", "--scope", "global",
                  "--csv", outp("h5prune sweep 100 points global")]),
            ]
        cmds.append(("numpy_partition", [PY, os.path.join(HERE, "baselines", "numpy_partition.py"),
                                         model, "-o", outp("numpy_partition"), "--sparsity", S, "--quiet"]))
        if not a.skip_exact:
            cmds.append(("numpy_exact", [PY, os.path.join(HERE, "baselines", "numpy_exact.py"),
                                         model, "-o", outp("numpy_exact"), "--sparsity", S, "--quiet"]))
        if not a.skip_torch:
            cmds.append(("torch_prune", [PY, os.path.join(HERE, "baselines", "torch_prune.py"),
                                         model, "-o", outp("torch_prune"), "--sparsity", S, "--quiet"]))

        results, outs = [], {}
        for name, cmd in cmds:
            r = Result(name, cmd)
            log(f"{dtype}: {shlex.join(cmd)}")
            bench(r, outp(name), a.reps, a.warmup, logdir, log,
                  clean_dir=reg if name == REGISTRY else None)
            results.append(r)
            outs[name] = outp(name)
        phases = []
        if not a.skip_h5prune:
            for name, cmd in cmds:
                if (not name.startswith("h5prune") or "sweep" in name
                        or next(r for r in results if r.name == name).error):
                    continue
                if name == REGISTRY:
                    shutil.rmtree(reg, ignore_errors=True)  # a new version, not "already recorded"
                j = subprocess.run([c if c != "--quiet" else "--json" for c in cmd],
                                   capture_output=True, text=True)
                try:
                    sec = json.loads(j.stdout)["seconds"]
                    phases.append(f"| {name} | " + " | ".join(
                        fmt(sec.get(x), ".2f") for x in ("read", "compute", "write", "total")) + " |")
                except (ValueError, KeyError, TypeError):
                    phases.append(f"| {name} | (no --json summary: exit {j.returncode}) | | | |")
        log(f"{dtype}: correctness checks")
        checks, n, k = check_model(model, outs, S, a.skip_exact, log, a.skip_h5prune)
        all_ok &= all(ok for _, ok, _ in checks) and not any(r.error for r in results)
        if not a.keep_outputs:
            for o in outs.values():
                if os.path.exists(o):
                    os.unlink(o)
            if not a.skip_h5prune:
                shutil.rmtree(reg, ignore_errors=True)

        report.append(f"### {dtype} model: {nsel / 1e6:.1f}M selected weights "
                      f"({len(sel)} tensors), file {size_mb:.0f} MB, sparsity {S}, k = {k}\n")
        report.append(table(results) + "\n")
        if not a.skip_h5prune:
            report.append(targets(results, sel_bytes / 2**20) + "\n")
            report.append("h5prune's own phase times (one extra run with --json, seconds):\n")
            report.append("| command | read | compute | write | total |\n|---|---:|---:|---:|---:|")
            report += phases
            report.append("")
        report.append("Correctness (warm-up outputs):\n")
        report += [f"- [{'ok' if ok else 'FAIL'}] {c}: {d}" for c, ok, d in checks]
        report.append("")
    if a.large and not a.skip_h5prune:
        part, ok_large = large_case(a, logdir, log)
        report += part
        all_ok &= ok_large
    load_after = loadavg()

    mem = mem_total_gib()
    header = [
        f"## h5prune benchmark, {started.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"{mem:.1f} GiB RAM" if mem else f"- machine: {cpu_model()}, {os.cpu_count()} cores",
        f"- revision at start: {rev}; h5prune --version: {version} ({a.bin})",
        f"- params target {a.params:.0e}, seed {a.seed}, {a.reps} timed reps after {a.warmup} warm-up; "
        f"median wall time, max peak RSS (/usr/bin/time %M); warm page cache",
        f"- load average (1/5/15 min) before: {load_before}; after: {load_after}",
        f"- free memory: {free_page_reporting() or 'no free page reporting found'}",
        "",
    ]
    text = "\n".join(header + report)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
