"""`h5prune search`: the right answer on a synthetic evaluation with a known boundary and on the
digits example (checked independently with the example's forward pass), resumption after SIGTERM
and kill -9 without evaluating recorded probes again, and a metric that is not monotone."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import h5util

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")


def one_tensor(path, n=10000, seed=5):
    """One 100 x 100 float32 tensor of distinct magnitudes: achieved sparsity == requested."""
    w = np.random.default_rng(seed).permutation(np.arange(1, n + 1, dtype=np.float32)) / n
    with h5py.File(path, "w") as f:
        f["w"] = w.reshape(100, -1)


def step_eval(tmp_path, feasible, sleep=0.0):
    """A real evaluator: reads the file's zero fraction s (its achieved sparsity) and prints
    {"m": 1} when feasible(s) else {"m": 0}; appends "s" to a log, so tests count the runs."""
    log = tmp_path / "evals.log"
    script = tmp_path / "step.py"
    script.write_text(
        "import sys, json, time, h5py, numpy as np\n"
        "w = h5py.File(sys.argv[1], 'r')['w'][()]\n"
        "s = round(float((w == 0).mean()), 6)\n"
        "time.sleep(%r)\n"
        "ok = %s\n"
        "open(%r, 'a').write('%%r\\n' %% s)\n"
        "print(json.dumps({'m': 1.0 if ok else 0.0}))\n" % (sleep, feasible, str(log)))
    return "/usr/bin/python3 %s {output}" % script, log


def logged(log):
    return [float(l) for l in log.read_text().split()] if log.exists() else []


def test_known_boundary(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    cmd, log = step_eval(tmp_path, "s <= 0.37")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5")
    assert out["answer"]["sparsity"] == "0.37", out["answer"]
    assert out["answer"]["achieved_sparsity"] == pytest.approx(0.37)
    # Bisection: top, bottom, then about log2(100) probes; each sparsity evaluated once.
    probes = [p["sparsity"] for p in out["probes"]]
    assert probes[:2] == ["1", "0"] and len(probes) <= 2 + 8 and len(set(probes)) == len(probes), probes
    assert sorted(logged(log)) == sorted([0.0] + [float(p) for p in probes])  # baseline + probes
    # The next grid point above the answer was probed and is infeasible.
    assert {p["sparsity"]: p["feasible"] for p in out["probes"]}["0.38"] is False
    text = h5util.run_ok("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5").stdout
    assert "answer: sparsity 0.37" in text, text


def test_range_and_resolution_and_no_answer(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    cmd, _ = step_eval(tmp_path, "s <= 0.615")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5",
                          "--sparsity-range", "0.5:0.7", "--resolution", "0.005")
    assert out["answer"]["sparsity"] == "0.615", out["answer"]
    cmd, _ = step_eval(tmp_path, "s <= 0.1")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5",
                          "--sparsity-range", "0.5:0.9")
    assert out["answer"] is None and [p["sparsity"] for p in out["probes"]] == ["0.9", "0.5"]
    cmd, _ = step_eval(tmp_path, "True")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0")
    assert out["answer"]["sparsity"] == "1" and len(out["probes"]) == 1


def test_not_monotone_gives_a_feasible_local_boundary(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    cmd, _ = step_eval(tmp_path, "s <= 0.3 or 0.6 <= s <= 0.8")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5", "--resolution", "0.1")
    by = {p["sparsity"]: p["feasible"] for p in out["probes"]}
    ans = out["answer"]["sparsity"]
    assert by[ans] is True
    # The answer is the highest feasible probe made, and the grid point above it is infeasible.
    assert max(float(s) for s, f in by.items() if f) == float(ans)
    above = "%g" % (float(ans) + 0.1)
    assert by.get(above) is False, (ans, by)
    assert ans == "0.3", "bisection from 0 and 1 stops at the first boundary it brackets"


def test_digits_example(tmp_path):
    reg = tmp_path / "reg"
    out = h5util.run_json("search", MLP, "--eval", EVAL, "--metric", "accuracy", "--max-drop", "0.01",
                          "--sparsity-range", "0:0.9", "--resolution", "0.05", "--registry", reg, "--model", "digits",
                          "--alias", "best")
    ans = out["answer"]
    assert ans is not None and ans["feasible"]
    sys.path.insert(0, DIGITS)
    import digits_data
    import evaluate
    _, _, x, y = digits_data.split()

    def acc(path):
        return float((evaluate.forward(evaluate.layers(str(path)), x).argmax(axis=1) == y).mean())

    base = acc(MLP)
    assert out["baseline"]["value"] == pytest.approx(base, abs=1e-12)
    got = tmp_path / "best.h5"
    h5util.run_ok("get", "digits@best", "-o", got, "--registry", reg)
    assert h5util.sha256(str(got)) == h5util.run_json("show", "digits@%d" % ans["version"], "--registry", reg)["output"]["sha256"]
    assert base - acc(got) <= 0.01 and ans["value"] == pytest.approx(acc(got), abs=1e-12)
    # One grid step higher is beyond the drop, checked here with prune + the example's forward pass.
    higher = "%.2f" % (float(ans["sparsity"]) + 0.05)
    h5util.run_ok("prune", MLP, "-o", tmp_path / "higher.h5", "--sparsity", higher)
    assert base - acc(tmp_path / "higher.h5") > 0.01, higher
    # Rerun: every probe and the baseline come from the registry, nothing is evaluated.
    again = h5util.run_json("search", MLP, "--eval", EVAL, "--metric", "accuracy", "--max-drop", "0.01",
                            "--sparsity-range", "0:0.9", "--resolution", "0.05", "--registry", reg, "--model", "digits")
    assert again["baseline"]["reused"] and all(p["reused"] for p in again["probes"])
    assert again["answer"]["version"] == ans["version"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_resume_does_not_evaluate_recorded_probes_again(tmp_path, sig):
    src = tmp_path / "w.h5"
    one_tensor(src)
    reg = tmp_path / "reg"
    cmd, log = step_eval(tmp_path, "s <= 0.37", sleep=0.4)
    args = [h5util.binary(), "search", str(src), "--eval", cmd, "--metric", "m", "--max-drop", "0.5",
            "--registry", str(reg), "--model", "w", "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(logged(log)) < 4 and time.time() < deadline:  # baseline + three probes done
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9), proc.returncode
    time.sleep(1.0)  # a kill -9 leaves the running evaluation behind; let it end
    # What the registry holds: versions with a successful evaluation.
    recorded = set()
    for v in h5util.run_json("log", "w", "--registry", reg)["versions"]:
        if v["evaluation"] and v["evaluation"]["ok"]:
            recorded.add(float(v["rule"]["sparsity"]))
    assert len(recorded) >= 2, recorded  # the top and bottom probes at least
    before = logged(log)
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5",
                          "--registry", reg, "--model", "w")
    assert out["answer"]["sparsity"] == "0.37" and out["baseline"]["reused"]
    for p in out["probes"]:
        assert p["reused"] == (float(p["sparsity"]) in recorded), p
    new = logged(log)[len(before):]
    assert not set(new) & recorded, "recorded probes evaluated again: %s" % sorted(set(new) & recorded)
    assert 0.0 not in new or 0.0 not in recorded
    h5util.run_ok("verify", "w", "--registry", reg)


def test_search_usage_errors(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    base = ["search", src, "--eval", "echo '{\"m\": 1}'", "--metric", "m", "--max-drop", "0.1"]
    for extra in (["--sparsity-range", "0.9:0.1"], ["--sparsity-range", "0:2"], ["--resolution", "0"],
                  ["--maximize", "--minimize"], ["--alias", "x"]):
        res = h5util.run(*(base + extra))
        assert res.returncode == 2, h5util.describe(res)
    res = h5util.run("search", src, "--eval", "echo '{\"m\": 1}'", "--metric", "other", "--max-drop", "0.1")
    assert res.returncode == 8 and "no metric 'other'" in res.stderr, h5util.describe(res)
    res = h5util.run("search", src, "--eval", "exit 1", "--metric", "m", "--max-drop", "0.1")
    assert res.returncode == 8 and "baseline" in res.stderr, h5util.describe(res)
