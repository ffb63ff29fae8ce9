"""Sensitivity analysis, `sweep --per-tensor --eval`: for each tensor and point, the metric of a
file identical (sha256) to `prune --include '^<that tensor>$'` at that point; CSV, JSON, the
heatmap report, and a Slurm array with one (tensor, point) pair per task."""

import csv
import os
import re
import sys

import pytest

import browser
import h5util

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")
KERNELS = ["/model_weights/dense_%d/dense_%d/kernel:0" % (i, i) for i in (1, 2, 3)]


def accuracy(path):
    sys.path.insert(0, DIGITS)
    import digits_data
    import evaluate
    _, _, x, y = digits_data.split()
    return float((evaluate.forward(evaluate.layers(str(path)), x).argmax(axis=1) == y).mean())


def test_per_tensor_cells_equal_prune_include(tmp_path):
    points = ["0.5", "0.9"]
    out = h5util.run_json("sweep", MLP, "--sparsity", ",".join(points), "--per-tensor", "--eval", EVAL,
                          "--csv", tmp_path / "s.csv", "--report", tmp_path / "s.html")
    assert out["tensors"] == KERNELS and out["values"] == points
    assert [(c["tensor"], c["value"]) for c in out["cells"]] == [(t, p) for t in KERNELS for p in points]
    for c in out["cells"]:
        f = tmp_path / "ref.h5"
        h5util.run_ok("prune", MLP, "-o", f, "--sparsity", c["value"], "--include", "^%s$" % re.escape(c["tensor"]),
                      "--force")
        assert c["sha256"] == h5util.sha256(str(f)), c
        assert c["evaluation"]["metrics"]["accuracy"] == pytest.approx(accuracy(f), abs=1e-12), c
    # Pruning the small output layer to 0.9 hurts more than pruning the first hidden layer.
    acc = {(c["tensor"], c["value"]): c["evaluation"]["metrics"]["accuracy"] for c in out["cells"]}
    assert acc[(KERNELS[2], "0.9")] < acc[(KERNELS[0], "0.9")]
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(rows) == 6 and float(rows[0]["accuracy"]) == out["cells"][0]["evaluation"]["metrics"]["accuracy"]
    html = (tmp_path / "s.html").read_text()
    assert html.count('class="cell"') == 6 and "mlp: accuracy" in html


def test_per_tensor_with_registry_resumes_and_array_task_picks_a_pair(tmp_path):
    reg = tmp_path / "reg"
    args = ["sweep", MLP, "--sparsity", "0.3,0.8", "--per-tensor", "--eval", EVAL, "--registry", reg, "--model", "d"]
    one = h5util.run_json(*args, "--array-task", "3")  # pair 3 = tensor 1, point 1
    assert [(c["tensor"], c["value"]) for c in one["cells"]] == [(KERNELS[1], "0.8")]
    full = h5util.run_json(*args)
    assert [c["reused"] for c in full["cells"]] == [False, False, False, True, False, False]
    assert h5util.run(*args, "--array-task", "6").returncode == 2


def test_slurm_per_tensor_maps_pairs_to_tasks(slurm_cluster, tmp_path):
    for d in ("logs",):
        (tmp_path / d).mkdir()
    reg = tmp_path / "registry"
    res = h5util.run("slurm", "sweep", MLP, "--sparsity", "0.5,0.9", "--per-tensor", "--eval", EVAL, "--registry", reg,
                     "--model", "d", "--log-dir", tmp_path / "logs", "--cpus-per-task", "1", "--time", "00:05:00")
    assert res.returncode == 0, h5util.describe(res)
    assert "#SBATCH --array=0-5" in res.stdout and " --per-tensor" in res.stdout
    script = tmp_path / "s.sbatch"
    script.write_text(res.stdout)
    job = slurm_cluster.submit(script, cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=300)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert len(states) == 6 and set(states.values()) == {"COMPLETED"}, (states, logs)
    seen = set()
    for v in h5util.run_json("log", "d", "--registry", reg)["versions"]:
        assert v["evaluation"]["ok"]
        show = h5util.run_json("show", "d@%d" % v["version"], "--registry", reg)
        task = int(show["slurm"]["array_task_id"])
        tensor = KERNELS[task // 2]
        assert re.search(v["rule"]["include"], tensor) and not any(
            re.search(v["rule"]["include"], k) for k in KERNELS if k != tensor), (task, v["rule"])
        assert v["rule"]["sparsity"] == ["0.5", "0.9"][task % 2]
        seen.add(task)
    assert seen == set(range(6))


def test_heatmap_renders_in_chromium(tmp_path):
    """The sensitivity heatmap drawn by a real browser: the best cell green, the worst red."""
    import colorsys
    report = tmp_path / "s.html"
    h5util.run_ok("sweep", MLP, "--sparsity", "0.5,0.95", "--per-tensor", "--eval", EVAL, "--report", report)
    img = browser.screenshot(report, tmp_path / "shot.png", 1000, 900)
    counts = {c: n for n, c in img.getcolors(maxcolors=1 << 20)}

    def near(hue):
        r, g, b = (round(255 * v) for v in colorsys.hls_to_rgb(hue / 360.0, 0.62, 0.70))
        return sum(n for (cr, cg, cb), n in counts.items() if abs(cr - r) <= 2 and abs(cg - g) <= 2 and abs(cb - b) <= 2)

    assert near(120) > 300, "the best cell (green) is not drawn"
    assert near(0) > 300, "the worst cell (red) is not drawn"
