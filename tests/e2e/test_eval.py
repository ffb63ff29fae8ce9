"""--eval on prune and sweep --materialize, `h5prune eval`, evaluation records in the registry
(log/show/diff), the baseline and drop, and every way an evaluation can fail (exit 8, version
kept, failure recorded and exported). Real evaluation commands: the digits example's h5py +
numpy forward pass, and small Python evaluators written here."""

import glob
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import h5util
import metrics_util

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")


def digits_accuracy(path):
    """The digits metrics computed here, straight from the file, without h5prune."""
    sys.path.insert(0, DIGITS)
    import evaluate  # the example's own forward pass; the data split is digits_data's
    import digits_data
    _, _, x, y = digits_data.split()
    p = evaluate.forward(evaluate.layers(path), x)
    return float((p.argmax(axis=1) == y).mean())


def l1_eval(tmp_path):
    """A real evaluator: the L1 norm and non-zero count of every float dataset of {output}."""
    script = tmp_path / "l1.py"
    script.write_text(
        "import sys, json, h5py, numpy as np\n"
        "tot = [0.0, 0]\n"
        "def visit(name, obj):\n"
        "    if isinstance(obj, h5py.Dataset) and obj.dtype.kind == 'f':\n"
        "        a = obj[()].astype(np.float64)\n"
        "        tot[0] += float(np.abs(a).sum()); tot[1] += int(np.count_nonzero(a))\n"
        "with h5py.File(sys.argv[1], 'r') as f:\n"
        "    f.visititems(visit)\n"
        "print('evaluated', sys.argv[1])\n"
        "print(json.dumps({'l1': tot[0], 'nonzero': tot[1]}))\n")
    return "/usr/bin/python3 %s {output}" % script


def file_metrics(path):
    tot, nz = 0.0, 0
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            nonlocal tot, nz
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f":
                a = obj[()].astype(np.float64)
                tot += float(np.abs(a).sum())
                nz += int(np.count_nonzero(a))
        f.visititems(visit)
    return tot, nz


def test_prune_eval_digits_recorded_with_baseline(tmp_path):
    reg = tmp_path / "reg"
    base = h5util.run_json("eval", MLP, "--registry", reg, "--model", "digits", "--eval", EVAL)
    assert base["baseline_of_model"] and base["evaluation"]["ok"], base
    assert base["sha256"] == h5util.sha256(MLP)
    assert base["evaluation"]["metrics"]["accuracy"] == pytest.approx(digits_accuracy(MLP), abs=1e-12)

    out = h5util.run_json("prune", MLP, "--sparsity", "0.6", "--registry", reg, "--model", "digits", "--eval", EVAL)
    ev = out["evaluation"]
    assert ev["ok"] and out["registry"]["version"] == 1
    got = tmp_path / "v1.h5"
    h5util.run_ok("get", "digits@1", "-o", got, "--registry", reg)
    acc = digits_accuracy(str(got))
    assert ev["metrics"]["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert ev["baseline"]["accuracy"] == base["evaluation"]["metrics"]["accuracy"]
    assert ev["drop"]["accuracy"] == pytest.approx(ev["baseline"]["accuracy"] - acc, abs=1e-12)

    log = h5util.run_json("log", "digits", "--registry", reg)
    v = log["versions"][0]
    assert v["evaluations"] == 1 and v["evaluation"]["metrics"] == ev["metrics"], v
    text = h5util.run_ok("log", "digits", "--registry", reg).stdout
    header = text.splitlines()[0].split()
    assert "accuracy" in header and "loss" in header, text
    assert ("%.4g" % acc) in text, text

    show = h5util.run_json("show", "digits@1", "--registry", reg)
    assert len(show["evaluations"]) == 1 and show["evaluations"][0]["metrics"] == ev["metrics"]
    assert show["evaluations"][0]["command"] == EVAL and show["evaluations"][0]["exit_status"] == 0
    assert show["baseline"]["metrics"] == base["evaluation"]["metrics"]
    assert "evaluations (1" in h5util.run_ok("show", "digits@1", "--registry", reg).stdout

    # The record is a whole file beside the version, named by time, read straight from disk.
    files = glob.glob(str(reg / "models" / "digits" / "evaluations" / "1" / "*.json"))
    assert len(files) == 1
    with open(files[0]) as fh:
        rec = json.load(fh)
    assert rec["schema"] == "h5prune.evaluation/1" and rec["version"] == 1 and rec["ok"] is True
    assert rec["sha256"] == h5util.sha256(str(got))
    assert os.path.basename(files[0]) == rec["id"] + ".json"
    assert not [n for n in os.listdir(os.path.dirname(files[0])) if n.startswith(".")]

    # A re-evaluation is a second record; a rerun of the same prune reuses the first.
    h5util.run_ok("eval", "digits@1", "--registry", reg, "--eval", EVAL)
    assert h5util.run_json("log", "digits", "--registry", reg)["versions"][0]["evaluations"] == 2
    again = h5util.run_json("prune", MLP, "--sparsity", "0.6", "--registry", reg, "--model", "digits", "--eval", EVAL)
    assert again["registry"]["already_recorded"] and again["evaluation"]["ok"]
    assert h5util.run_json("log", "digits", "--registry", reg)["versions"][0]["evaluations"] == 2


def test_diff_marks_metric_differences(tmp_path):
    reg = tmp_path / "reg"
    for s in ("0.3", "0.8"):
        h5util.run_ok("prune", MLP, "--sparsity", s, "--registry", reg, "--model", "digits", "--eval", EVAL)
    d = h5util.run_json("diff", "digits@1", "digits@2", "--registry", reg)
    acc = d["metrics"]["accuracy"]
    assert acc["same"] is False and acc["a"] > acc["b"], d["metrics"]
    text = h5util.run_ok("diff", "digits@1", "digits@2", "--registry", reg).stdout
    line = [l for l in text.splitlines() if l.startswith("metric.accuracy")]
    assert line and line[0].rstrip().endswith("*"), text


def test_output_quoting_and_environment(tmp_path):
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    odd = tmp_path / "dir with space" / "it's \"q\" $x `y`.h5"
    odd.parent.mkdir()
    cmd = l1_eval(tmp_path) + ' && test "$H5PRUNE_SPARSITY" = 0.5 && test "$H5PRUNE_OUTPUT" = {output}'
    cmd += ' && test "$H5PRUNE_INPUT" = %s && test "$H5PRUNE_MODEL" = in' % str(src)
    out = h5util.run_json("prune", src, "-o", odd, "--sparsity", "0.5", "--eval", cmd)
    assert out["evaluation"]["ok"], out["evaluation"]
    l1, nz = file_metrics(str(odd))
    assert out["evaluation"]["metrics"] == {"l1": pytest.approx(l1, rel=1e-12), "nonzero": nz}
    res = h5util.run_ok("prune", src, "-o", tmp_path / "o2.h5", "--sparsity", "0.5", "--eval", l1_eval(tmp_path))
    assert "evaluated " in res.stderr, "the command's other lines pass through to stderr\n" + h5util.describe(res)


def test_sparse_format_is_evaluated_dense(tmp_path):
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    dense = tmp_path / "d.h5"
    h5util.run_ok("prune", src, "-o", dense, "--sparsity", "0.7")
    out = h5util.run_json("prune", src, "-o", tmp_path / "s.h5", "--sparsity", "0.7", "--format", "csr",
                          "--eval", l1_eval(tmp_path))
    l1, nz = file_metrics(str(dense))
    assert out["evaluation"]["metrics"] == {"l1": pytest.approx(l1, rel=1e-12), "nonzero": nz}


@pytest.mark.parametrize("case,command,why", [
    ("exit", "echo '{\"m\": 1}'; exit 3", "exited with status 3"),
    ("bad_json", "echo 'accuracy: 0.9'", "not a JSON object"),
    ("nan", "echo '{\"m\": NaN}'", "not a JSON object"),
    ("infinite", "echo '{\"m\": 1e999}'", "not a JSON object"),
    ("string", "echo '{\"m\": \"0.9\"}'", "not a number"),
    ("nothing", "true", "printed nothing"),
    ("timeout", "sleep 30; echo '{\"m\": 1}'", "timed out"),
])
def test_evaluation_failure_exit_8_version_kept_and_exported(tmp_path, case, command, why):
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    reg, met = tmp_path / "reg", tmp_path / "met"
    met.mkdir()
    res = h5util.run("prune", src, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--metrics-dir", met,
                     "--eval", command, "--eval-timeout", "1s")
    assert res.returncode == 8, h5util.describe(res)
    errors = [l for l in res.stderr.splitlines() if l.startswith("h5prune: error:")]
    assert len(errors) == 1 and why in errors[0] and "m@1" in errors[0], res.stderr
    # The version stays and verifies; the failure is recorded against it.
    h5util.run_ok("verify", "m", "--registry", reg)
    show = h5util.run_json("show", "m@1", "--registry", reg)
    rec = show["evaluations"][0]
    assert rec["ok"] is False and why in rec["failure"] and rec["metrics"] == {}
    assert rec["timed_out"] is (case == "timeout")
    if case == "exit":
        assert rec["exit_status"] == 3
    assert h5util.run_json("log", "m", "--registry", reg)["versions"][0]["evaluation"]["ok"] is False
    # ... and exported: a failed run (reason evaluation, exit 8) whose output families remain.
    path = os.path.join(met, metrics_util.expected_file_name("m"))
    metrics_util.promtool_check(path)
    p = metrics_util.parse(metrics_util.read_text(path))
    assert metrics_util.one(p, "h5prune_last_run_success", model="m") == 0
    assert metrics_util.one(p, "h5prune_last_run_exit_code", model="m") == 8
    assert metrics_util.one(p, "h5prune_last_run_failure_info", model="m", reason="evaluation") == 1
    assert metrics_util.one(p, "h5prune_eval_success", model="m") == 0
    assert metrics_util.one(p, "h5prune_last_run_sparsity_ratio", model="m") == pytest.approx(0.5, abs=0.01)


def test_timeout_ends_the_whole_process_group(tmp_path):
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    marker = tmp_path / "child-alive"
    # A grandchild that would write the marker after the timeout: it must be gone with its shell.
    res = h5util.run("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--eval-timeout", "0.5s",
                     "--eval", "(sleep 2; touch %s) & sleep 30" % marker)
    assert res.returncode == 8 and "timed out" in res.stderr, h5util.describe(res)
    subprocess.run(["sleep", "2.5"])
    assert not marker.exists()
    assert os.path.isfile(tmp_path / "o.h5"), "the output stays"


def test_sweep_materialize_eval_every_point(tmp_path):
    reg, met = tmp_path / "reg", tmp_path / "met"
    met.mkdir()
    h5util.run_ok("eval", MLP, "--registry", reg, "--model", "digits", "--eval", EVAL)
    out = h5util.run_json("sweep", MLP, "--sparsity", "0.2,0.9", "--materialize", "--registry", reg, "--model",
                          "digits", "--eval", EVAL, "--metrics-dir", met)
    pts = out["materialized"]
    assert [p["evaluation"]["ok"] for p in pts] == [True, True]
    assert pts[0]["evaluation"]["metrics"]["accuracy"] > pts[1]["evaluation"]["metrics"]["accuracy"]
    path = os.path.join(met, metrics_util.expected_file_name("digits"))
    metrics_util.promtool_check(path)
    p = metrics_util.parse(metrics_util.read_text(path))
    assert metrics_util.one(p, "h5prune_eval_value", model="digits", version="2", metric="accuracy") == \
        pts[1]["evaluation"]["metrics"]["accuracy"]
    assert metrics_util.one(p, "h5prune_eval_baseline_value", model="digits", metric="accuracy") == \
        pts[1]["evaluation"]["baseline"]["accuracy"]
    # A rerun (a Slurm requeue) evaluates nothing again.
    again = h5util.run_json("sweep", MLP, "--sparsity", "0.2,0.9", "--materialize", "--registry", reg, "--model",
                            "digits", "--eval", EVAL)
    assert [p["evaluation"]["id"] for p in again["materialized"]] == [p["evaluation"]["id"] for p in pts]
    assert h5util.run_json("log", "digits", "--registry", reg)["versions"][0]["evaluations"] == 1


def test_sweep_eval_failure_evaluates_the_rest(tmp_path):
    reg = tmp_path / "reg"
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    res = h5util.run("sweep", src, "--sparsity", "0.2,0.5,0.8", "--materialize", "--registry", reg, "--model", "m",
                     "--eval", 'test "$H5PRUNE_SPARSITY" != 0.5 && echo \'{"m": 1}\'')
    assert res.returncode == 8 and "1 of 3 evaluations failed" in res.stderr, h5util.describe(res)
    log = h5util.run_json("log", "m", "--registry", reg)
    assert {v["version"]: v["evaluation"]["ok"] for v in log["versions"]} == {1: True, 2: False, 3: True}


def test_eval_usage_errors(tmp_path):
    src = tmp_path / "in.h5"
    metrics_util.small_model(str(src))
    for args in (["prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--eval", ""],
                 ["prune", src, "--dry-run", "--sparsity", "0.5", "--eval", "true"],
                 ["prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--eval-timeout", "1s"],
                 ["sweep", src, "--sparsity", "0.5", "--eval", "true"],
                 ["eval", src],
                 ["eval", "m@1", "--eval", "true"]):
        res = h5util.run(*args)
        assert res.returncode == 2, h5util.describe(res)
        assert len([l for l in res.stderr.splitlines() if l.startswith("h5prune: error:")]) == 1
    assert not os.path.exists(tmp_path / "o.h5")


def test_node_exporter_serves_the_evaluation(tmp_path):
    import services
    reg, mdir = tmp_path / "reg", tmp_path / "textfile"
    mdir.mkdir()
    h5util.run_ok("eval", MLP, "--registry", reg, "--model", "digits", "--eval", EVAL)
    out = h5util.run_json("prune", MLP, "--sparsity", "0.7", "--registry", reg, "--model", "digits", "--eval", EVAL,
                          "--metrics-dir", mdir)
    path = os.path.join(mdir, metrics_util.expected_file_name("digits"))
    metrics_util.promtool_check(path)
    with services.node_exporter(mdir, tmp_path / "node_exporter.log") as url:
        served = metrics_util.parse(services.scrape(url))
        assert metrics_util.one(served, "node_textfile_scrape_error") == 0
        for metric in ("accuracy", "loss"):
            assert metrics_util.one(served, "h5prune_eval_value", model="digits", version="1", metric=metric) == \
                out["evaluation"]["metrics"][metric]
            assert metrics_util.one(served, "h5prune_eval_baseline_value", model="digits", metric=metric) == \
                out["evaluation"]["baseline"][metric]
        assert metrics_util.one(served, "h5prune_eval_success", model="digits") == 1
        assert metrics_util.one(served, "h5prune_eval_duration_seconds", model="digits") == \
            pytest.approx(out["evaluation"]["seconds"], rel=1e-6)


def test_log_where_sort_answers_the_highest_sparsity_question(tmp_path):
    """'Which recorded version has the highest sparsity with accuracy >= X?' in one command."""
    reg = tmp_path / "reg"
    h5util.run_ok("sweep", MLP, "--sparsity", "0.3,0.5,0.6,0.8", "--materialize", "--registry", reg, "--model", "digits",
                  "--eval", EVAL)
    log = h5util.run_json("log", "digits", "--registry", reg)["versions"]
    acc = {v["version"]: (v["sparsity"], v["evaluation"]["metrics"]["accuracy"]) for v in log}
    threshold = 0.95
    want = sorted((s, ver) for ver, (s, a) in acc.items() if a >= threshold)
    got = h5util.run_json("log", "digits", "--registry", reg, "--where", "accuracy>=%g" % threshold, "--sort", "sparsity")
    assert [v["version"] for v in got["versions"]] == [ver for _, ver in want], (acc, got)
    text = h5util.run_ok("log", "digits", "--registry", reg, "--where", "accuracy>=%g" % threshold, "--sort",
                         "sparsity").stdout.strip().splitlines()
    assert text[-1].split()[0] == str(want[-1][1]), text  # the last row is the answer
    # Conditions combine; a version without an evaluation never matches; bad conditions are usage errors.
    h5util.run_ok("prune", MLP, "--sparsity", "0.1", "--registry", reg, "--model", "digits")
    both = h5util.run_json("log", "digits", "--registry", reg, "--where", "accuracy>=0.5", "--where", "loss<0.2")
    assert all(v["evaluation"]["metrics"]["loss"] < 0.2 for v in both["versions"]) and both["versions"]
    none = h5util.run_ok("log", "digits", "--registry", reg, "--where", "accuracy>2")
    assert "no version of 'digits' matches" in none.stdout
    for bad in ("accuracy=>0.9", "accuracy>=x", ">=0.9", "accuracy>=nan"):
        res = h5util.run("log", "digits", "--registry", reg, "--where", bad)
        assert res.returncode == 2 and "--where" in res.stderr, h5util.describe(res)
