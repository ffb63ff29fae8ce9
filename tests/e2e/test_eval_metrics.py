"""Metrics files of `eval` and `search` (--metrics-dir): promtool-clean, the evaluation families
with the values a numpy evaluation gives, failures exported (exit 8, reason evaluation) so that
H5pruneRunFailed sees them, search's probes and answer, and all of it served by a real
node_exporter."""

import os
import sys

import numpy as np
import pytest

import h5util
import metrics_util
import reference
import services
from test_search import one_tensor, step_eval

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")


def accuracy_by_numpy(sparsity=None):
    """The MLP's held-out accuracy, unpruned or pruned by the numpy reference."""
    sys.path.insert(0, DIGITS)
    import digits_data
    import evaluate
    _, _, x, y = digits_data.split()
    layers = evaluate.layers(MLP)
    if sparsity is not None:
        _, res, _ = reference.prune_file(MLP, sparsity=sparsity)
        kernels = [res.arrays[p] for p in sorted(res.arrays, key=reference.path_key)]
        layers = [(k.astype(np.float64), b) for k, (_, b) in zip(kernels, layers)]
    return float((evaluate.forward(layers, x).argmax(axis=1) == y).mean())


def metrics_of(met, model):
    path = os.path.join(met, metrics_util.expected_file_name(model))
    metrics_util.promtool_check(path)
    return metrics_util.parse(metrics_util.read_text(path))


def test_eval_writes_metrics_on_success_and_failure(tmp_path):
    reg, met = tmp_path / "reg", tmp_path / "met"
    met.mkdir()
    # The baseline: its value is its own baseline.
    h5util.run_ok("eval", MLP, "--registry", reg, "--model", "digits", "--eval", EVAL, "--metrics-dir", met)
    p = metrics_of(met, "digits")
    base = accuracy_by_numpy()
    assert metrics_util.one(p, "h5prune_last_run_success", model="digits") == 1
    assert metrics_util.one(p, "h5prune_eval_success", model="digits") == 1
    assert metrics_util.one(p, "h5prune_eval_value", model="digits", version="", metric="accuracy") == pytest.approx(base, abs=1e-12)
    assert metrics_util.one(p, "h5prune_eval_baseline_value", model="digits", metric="accuracy") == pytest.approx(base, abs=1e-12)
    for family in ("h5prune_last_run_output_file_bytes", "h5prune_last_run_sparsity_ratio", "h5prune_last_run_parameters"):
        assert not p.get(family, {"samples": []})["samples"], "eval writes no output: %s" % family
    # A version: its value against the baseline (what H5pruneEvalBelowBaseline compares).
    h5util.run_ok("prune", MLP, "--sparsity", "0.8", "--registry", reg, "--model", "digits")
    h5util.run_ok("eval", "digits@1", "--registry", reg, "--eval", EVAL, "--metrics-dir", met)
    p = metrics_of(met, "digits")
    assert metrics_util.one(p, "h5prune_eval_value", model="digits", version="1", metric="accuracy") == \
        pytest.approx(accuracy_by_numpy("0.8"), abs=1e-12)
    assert metrics_util.one(p, "h5prune_eval_baseline_value", model="digits", metric="accuracy") == pytest.approx(base, abs=1e-12)
    # A failed evaluation: exit 8, a failed run with reason evaluation (H5pruneRunFailed fires).
    res = h5util.run("eval", "digits@1", "--registry", reg, "--eval", "exit 3", "--metrics-dir", met)
    assert res.returncode == 8, h5util.describe(res)
    p = metrics_of(met, "digits")
    assert metrics_util.one(p, "h5prune_last_run_success", model="digits") == 0
    assert metrics_util.one(p, "h5prune_last_run_exit_code", model="digits") == 8
    assert metrics_util.one(p, "h5prune_last_run_failure_info", model="digits", reason="evaluation") == 1
    assert metrics_util.one(p, "h5prune_eval_success", model="digits") == 0
    assert metrics_util.one(p, "h5prune_last_success_timestamp_seconds", model="digits") > 0, "kept from the last success"
    # A version that does not exist: exit 6, exported under the model it names.
    res = h5util.run("eval", "digits@9", "--registry", reg, "--eval", EVAL, "--metrics-dir", met)
    assert res.returncode == 6, h5util.describe(res)
    assert metrics_util.one(metrics_of(met, "digits"), "h5prune_last_run_failure_info", model="digits", reason="registry") == 1


def test_search_writes_probes_and_answer(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    met = tmp_path / "met"
    met.mkdir()
    cmd, _ = step_eval(tmp_path, "s <= 0.37")
    out = h5util.run_json("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5", "--registry",
                          tmp_path / "reg", "--model", "w", "--metrics-dir", met)
    p = metrics_of(met, "w")
    assert metrics_util.one(p, "h5prune_last_run_success", model="w") == 1
    assert metrics_util.one(p, "h5prune_search_probes", model="w") == len(out["probes"])
    assert metrics_util.one(p, "h5prune_search_failed_probes", model="w") == 0
    assert metrics_util.one(p, "h5prune_search_answer_sparsity_ratio", model="w") == 0.37
    assert metrics_util.one(p, "h5prune_eval_success", model="w") == 1
    version = str(out["answer"]["version"])
    assert metrics_util.one(p, "h5prune_eval_value", model="w", version=version, metric="m") == 1
    assert metrics_util.one(p, "h5prune_eval_baseline_value", model="w", metric="m") == 1

    # A probe whose evaluation fails is beyond the drop, not a failed run; the metrics count it.
    failing = 'test "$H5PRUNE_SPARSITY" != 0.5 && %s' % cmd
    out = h5util.run_json("search", src, "--eval", failing, "--metric", "m", "--max-drop", "0.5", "--metrics-dir", met,
                          "--model", "w")
    failed = [q for q in out["probes"] if not q["evaluation"]["ok"]]
    assert [q["sparsity"] for q in failed] == ["0.5"], out["probes"]
    p = metrics_of(met, "w")
    assert metrics_util.one(p, "h5prune_last_run_success", model="w") == 1
    assert metrics_util.one(p, "h5prune_search_failed_probes", model="w") == 1
    assert metrics_util.one(p, "h5prune_eval_success", model="w") == 0
    assert metrics_util.one(p, "h5prune_search_answer_sparsity_ratio", model="w") == float(out["answer"]["sparsity"])

    # No answer: the family is absent. A failed baseline: exit 8, a failed run.
    cmd_none, _ = step_eval(tmp_path, "s <= 0.1")
    out = h5util.run_json("search", src, "--eval", cmd_none, "--metric", "m", "--max-drop", "0.5",
                          "--sparsity-range", "0.2:0.4", "--metrics-dir", met, "--model", "w")
    assert out["answer"] is None
    p = metrics_of(met, "w")
    assert not p.get("h5prune_search_answer_sparsity_ratio", {"samples": []})["samples"]
    res = h5util.run("search", src, "--eval", "exit 5", "--metric", "m", "--max-drop", "0.5", "--metrics-dir", met,
                     "--model", "w")
    assert res.returncode == 8, h5util.describe(res)
    p = metrics_of(met, "w")
    assert metrics_util.one(p, "h5prune_last_run_failure_info", model="w", reason="evaluation") == 1
    assert metrics_util.one(p, "h5prune_last_run_exit_code", model="w") == 8


def test_node_exporter_serves_eval_and_search_files(tmp_path):
    src = tmp_path / "w.h5"
    one_tensor(src)
    met = tmp_path / "met"
    met.mkdir()
    cmd, _ = step_eval(tmp_path, "s <= 0.37")
    h5util.run_ok("search", src, "--eval", cmd, "--metric", "m", "--max-drop", "0.5", "--model", "searched",
                  "--metrics-dir", met)
    res = h5util.run("eval", src, "--eval", "exit 2", "--model", "evaluated", "--metrics-dir", met)
    assert res.returncode == 8, h5util.describe(res)
    with services.node_exporter(met, tmp_path / "node_exporter.log") as url:
        served = metrics_util.parse(services.scrape(url))
        assert metrics_util.one(served, "node_textfile_scrape_error") == 0
        assert metrics_util.one(served, "h5prune_search_answer_sparsity_ratio", model="searched") == 0.37
        assert metrics_util.one(served, "h5prune_last_run_failure_info", model="evaluated", reason="evaluation") == 1
        assert metrics_util.one(served, "h5prune_eval_success", model="evaluated") == 0
