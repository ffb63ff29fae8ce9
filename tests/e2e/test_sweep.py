"""`h5prune sweep`: every point equals `prune` at that point and the independent numpy
reference; ranges, CSV, JSON, report structure, array-task mapping, signals."""

import csv
import json
import os
import re
import signal
import subprocess
import time
from fractions import Fraction

import h5py
import numpy as np
import pytest

import browser
import datagen
import h5util
import reference

SEED = 4242


def model(path, dtype, kind="normal", seed=SEED):
    tensors = {
        "/a/kernel": datagen.make_values(seed, dtype, (64, 33), kind),
        "/b/kernel": datagen.make_values(seed + 1, dtype, (3, 3, 8, 7), kind),
        "/b/bias": datagen.make_values(seed + 2, dtype, (7,), kind),
        "/c/w": datagen.make_values(seed + 3, dtype, (257, 1), kind),
    }
    return datagen.write_h5(path, tensors)


def sweep_json(src, *args):
    return h5util.run_json("sweep", src, *args)


@pytest.mark.parametrize("dtype", ["<f2", "<f4"])
@pytest.mark.parametrize("scope", ["tensor", "global"])
@pytest.mark.parametrize("kind", ["normal", "ties"])
def test_sweep_equals_prune_and_reference(tmp_path, dtype, scope, kind):
    src = model(tmp_path / "m.h5", dtype, kind)
    values = ["0", "0.35", "0.5", "0.9", "1"]
    js = sweep_json(src, "--sparsity", ",".join(values), "--scope", scope)
    assert js["scope"] == scope and js["mode"] == "sparsity"
    assert [p["value"] for p in js["points"]] == values
    for point in js["points"]:
        s = point["value"]
        ctx = "[dtype=%s scope=%s kind=%s S=%s seed=%d]" % (dtype, scope, kind, s, SEED)
        out = tmp_path / ("p_%s.h5" % s)
        pj = h5util.run_json("prune", src, "-o", out, "--sparsity", s, "--scope", scope)
        got = {t["path"]: t for t in point["tensors"]}
        for t in pj["tensors"]:
            g = got[t["path"]]
            for key in ("n", "pruned", "threshold", "ties", "ties_pruned"):
                assert g[key] == t[key], "%s %s: sweep %s=%r, prune %r" % (ctx, t["path"], key, g[key], t[key])
            assert g["retained_l2"] == pytest.approx(t["retained_l2"], rel=1e-9), ctx
        # Independent reference: stable argsort by magnitude in path order.
        paths, res, _ = reference.prune_file(src, sparsity=s, scope=scope)
        assert sorted(got) == sorted(paths), ctx
        for p in paths:
            assert got[p]["pruned"] == res.k[p], "%s %s: pruned %d, reference %d" % (ctx, p, got[p]["pruned"], res.k[p])
        assert point["total"]["pruned"] == res.total(), ctx
        n = sum(t["n"] for t in point["tensors"])
        assert point["total"]["sparsity"] == pytest.approx(res.total() / n), ctx


def test_threshold_sweep_equals_reference(tmp_path):
    src = model(tmp_path / "m.h5", "<f4", "special")
    values = ["0", "0.001", "0.05", "0.1", "1e30"]
    js = sweep_json(src, "--threshold", ",".join(values))
    assert js["mode"] == "threshold" and js["scope"] is None
    for point in js["points"]:
        t = point["value"]
        paths, res, _ = reference.prune_file(src, threshold=float(t))
        got = {x["path"]: x for x in point["tensors"]}
        for p in paths:
            assert got[p]["pruned"] == res.k[p], "[T=%s] %s" % (t, p)
            assert got[p]["threshold"] == float(t)
            assert got[p]["ties_pruned"] == 0


def test_mixed_dtypes_global(tmp_path):
    src = tmp_path / "mixed.h5"
    datagen.write_h5(src, {
        "/h": datagen.make_values(SEED, "<f2", (40, 40), "ties"),
        "/s": datagen.make_values(SEED + 1, "<f4", (50, 20), "ties"),
        "/d": datagen.make_values(SEED + 2, "<f8", (30, 30), "ties"),
    })
    js = sweep_json(src, "--sparsity", "0.1:0.9:0.2", "--scope", "global")
    assert [p["value"] for p in js["points"]] == ["0.1", "0.3", "0.5", "0.7", "0.9"]
    for point in js["points"]:
        paths, res, _ = reference.prune_file(src, sparsity=point["value"], scope="global")
        got = {x["path"]: x["pruned"] for x in point["tensors"]}
        assert got == {p: res.k[p] for p in paths}, "[mixed S=%s]" % point["value"]


def test_range_includes_stop_on_grid(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    js = sweep_json(src, "--sparsity", "0.4:0.9:0.1")
    assert [p["value"] for p in js["points"]] == ["0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    js = sweep_json(src, "--sparsity", "0.5:0.99:0.01")
    assert len(js["points"]) == 50 and js["points"][-1]["value"] == "0.99"
    js = sweep_json(src, "--sparsity", "0.5:0.98:0.05")  # 0.98 is off the grid
    assert [p["value"] for p in js["points"]][-1] == "0.95"


@pytest.mark.parametrize("bad", ["0.5:0.4:0.1", "0.1:0.9:0", "0.1:0.9", "0.5,1.5", "a,b", "0.1:2:0.5"])
def test_bad_lists_are_usage_errors(tmp_path, bad):
    src = model(tmp_path / "m.h5", "<f4")
    res = h5util.run("sweep", src, "--sparsity", bad)
    assert res.returncode == 2, h5util.describe(res)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error:"), h5util.describe(res)


def test_csv_one_row_per_point_and_tensor(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    out = tmp_path / "s.csv"
    js = sweep_json(src, "--sparsity", "0.5,0.9", "--csv", out)
    rows = list(csv.DictReader(open(out)))
    ntensors = len(js["points"][0]["tensors"])
    assert len(rows) == 2 * ntensors
    for point in js["points"]:
        for t in point["tensors"]:
            row = [r for r in rows if r["requested_sparsity"] == point["value"] and r["tensor"] == t["path"]]
            assert len(row) == 1
            assert int(row[0]["pruned"]) == t["pruned"] and int(row[0]["n"]) == t["n"]
            assert float(row[0]["boundary"]) == t["threshold"]


def test_report_html_structure(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    report = tmp_path / "sweep.html"
    js = sweep_json(src, "--sparsity", "0.1:0.9:0.1", "--report", report, "--top", "2")
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 3, "overall, per-tensor L2 and per-tensor sparsity charts"
    overall = svgs[0]
    assert re.findall(r'<path class="series" data-name="([^"]+)"', overall) == ["achieved sparsity", "retained L2"]
    assert 'class="x-label"' in overall and "requested sparsity" in overall and 'class="y-label"' in overall
    # per-tensor chart: the 2 largest of the 3 selected tensors, plus the third folded
    names = re.findall(r'<path class="series" data-name="([^"]+)"', svgs[1])
    assert names == ["/a/kernel", "/b/kernel", "other (1 tensor)"], names
    # each curve has one vertex per point
    d = re.search(r'data-name="achieved sparsity" d="([^"]+)"', overall).group(1)
    assert d.count("L") + 1 == len(js["points"])
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td>", html)
    assert [(v, int(p)) for v, p in rows] == [(p["value"], p["total"]["pruned"]) for p in js["points"]]


def test_report_svg_alone(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    svg = tmp_path / "sweep.svg"
    h5util.run_ok("sweep", src, "--sparsity", "0.5,0.9", "--report", svg)
    text = svg.read_text()
    assert text.startswith("<svg xmlns=") and text.count('<path class="series"') == 2


def test_report_renders_in_chromium(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    report = tmp_path / "sweep.html"
    h5util.run_ok("sweep", src, "--sparsity", "0.05:0.95:0.05", "--report", report)
    img = browser.screenshot(report, tmp_path / "shot.png")
    # the first two series colours of the palette are drawn (curves and legend swatches)
    assert len(browser.pixels_of(img, "#1f77b4", tol=0)[0]) > 50, "blue series not drawn"
    assert len(browser.pixels_of(img, "#d62728", tol=0)[0]) > 50, "red series not drawn"


def test_array_task_is_the_point(tmp_path):
    """Task i runs point i (DESIGN.md), whatever SLURM_ARRAY_TASK_MIN and _STEP say."""
    src = model(tmp_path / "m.h5", "<f4")
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="5", SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_STEP="2")
    res = h5util.run("sweep", src, "--sparsity", "0.1:0.9:0.1", "--array-task", "auto", "--json", env=env)
    assert res.returncode == 0, h5util.describe(res)
    js = json.loads(res.stdout)
    assert [p["value"] for p in js["points"]] == ["0.6"], "task 5 runs point 5"
    env["SLURM_ARRAY_TASK_ID"] = "9"  # beyond the 9 points 0..8
    res = h5util.run("sweep", src, "--sparsity", "0.1:0.9:0.1", "--array-task", "auto", env=env)
    assert res.returncode == 2 and "beyond" in res.stderr, h5util.describe(res)
    env.pop("SLURM_ARRAY_TASK_ID")
    res = h5util.run("sweep", src, "--sparsity", "0.5", "--array-task", "auto", env=env)
    assert res.returncode == 2 and "SLURM_ARRAY_TASK_ID" in res.stderr, h5util.describe(res)


def test_slurm_script(tmp_path):
    src = model(tmp_path / "m.h5", "<f4")
    (tmp_path / "metrics").mkdir()
    res = h5util.run("slurm", "sweep", src, "--sparsity", "0.5:0.99:0.05", "--partition", "gpu", "--gpus", "1",
                     "--time", "00:20:00", "--registry", tmp_path / "reg", "--model", "m", "--metrics-dir",
                     tmp_path / "metrics", "--log-dir", tmp_path / "logs" / "deeper", cwd=str(tmp_path))
    assert res.returncode == 0, h5util.describe(res)
    script = res.stdout
    assert (tmp_path / "logs" / "deeper").is_dir(), "the log directory is created at generation"
    assert "#SBATCH --chdir=%s" % tmp_path in script.splitlines()
    assert "'%s' sweep '%s'" % (os.path.realpath(h5util.binary()), src) in script
    for line in ("#SBATCH --array=0-9", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@120",
                 "#SBATCH --requeue", "#SBATCH --partition=gpu", "#SBATCH --gpus=1", "#SBATCH --time=00:20:00"):
        assert line in script.splitlines(), line
    assert re.search(r"^#SBATCH --output=.*h5prune-sweep_%A_%a\.log$", script, re.M)
    assert "--array-task auto" in script and "--materialize" in script and " &\npid=$!" in script
    assert "trap " in script and 'wait "$pid"' in script
    assert not re.search(r"\b(scontrol|sacct|squeue)\b", script.split("pid=$!")[1]), "workers must not poll Slurm"
    path = tmp_path / "s.sbatch"
    path.write_text(script)
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_sigterm_stops_sweep_cleanly(tmp_path):
    src = tmp_path / "big.h5"
    with h5py.File(src, "w") as f:
        rng = np.random.default_rng(SEED)
        for i in range(4):
            f.create_dataset("l%d/kernel" % i, data=rng.standard_normal((1024, 1024), dtype=np.float32))
    out = tmp_path / "out"
    out.mkdir()
    # Test hook: 50 ms at every slab checkpoint, so the run is surely in progress at the signal.
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="50")
    proc = subprocess.Popen([h5util.binary(), "sweep", str(src), "--sparsity", "0.01:0.99:0.01",
                             "--memory-limit", "1M", "--csv", str(out / "s.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.0)
    assert proc.poll() is None, "sweep finished before the signal; make the file larger"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert os.listdir(out) == [], "no CSV and no temporary left"
    assert len(err.strip().splitlines()) == 1 and "signal 15" in err
