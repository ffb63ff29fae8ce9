"""The --json objects carry every key docs/CLI.md lists (extra keys are allowed)."""

import numpy as np

import datagen
import h5util

PRUNE_TOP = {"command", "tool", "input", "output", "rule", "backend", "device", "backend_note", "threads",
             "streamed", "memory_limit", "bytes_read", "bytes_written", "selection_bytes",
             "dry_run", "tensors", "total", "seconds"}
PRUNE_TOOL = {"version", "git", "cuda"}
PRUNE_FILE = {"path", "sha256", "bytes"}
PRUNE_RULE = {"mode", "sparsity", "scope", "include", "exclude", "min_ndim", "rounding", "ties"}
PRUNE_TENSOR = {"path", "dtype", "shape", "n", "zeros_before", "pruned", "requested_sparsity",
                "sparsity", "threshold", "ties", "ties_pruned", "retained_l2"}
PRUNE_TOTAL = {"n", "pruned", "sparsity", "retained_l2"}
SECONDS = {"read", "compute", "write", "total"}
STATS_TOP = {"path", "tensors", "total", "other_datasets"}
STATS_TENSOR = {"path", "dtype", "shape", "n", "zeros", "sparsity", "nan", "min_abs", "max_abs",
                "mean_abs", "l2", "selected"}
STATS_TOTAL = {"n", "zeros", "sparsity"}


def _missing(want, obj):
    return sorted(want - set(obj))


def _model(tmp_path):
    return datagen.write_h5(tmp_path / "m.h5", {
        "/d/kernel": datagen.make_values(3, "<f4", (6, 5), "normal"),
        "/d/bias": datagen.make_values(4, "<f4", (5,), "normal"),
        "/i": np.arange(4, dtype=np.int64),
    })


def test_prune_json_keys(tmp_path):
    src = _model(tmp_path)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5",
                         "--include", "kernel", "--threads", "1")
    assert not _missing(PRUNE_TOP, js), _missing(PRUNE_TOP, js)
    assert not _missing(PRUNE_TOOL, js["tool"]), js["tool"]
    assert not _missing(PRUNE_FILE, js["input"]) and not _missing(PRUNE_FILE, js["output"])
    assert not _missing(PRUNE_RULE, js["rule"]), js["rule"]
    assert not _missing(PRUNE_TOTAL, js["total"]), js["total"]
    assert not _missing(SECONDS, js["seconds"]), js["seconds"]
    for t in js["tensors"]:
        assert not _missing(PRUNE_TENSOR, t), (t.get("path"), _missing(PRUNE_TENSOR, t))
    assert js["rule"]["include"] == "kernel" and js["rule"]["exclude"] is None
    assert js["rule"]["min_ndim"] == 2
    assert js["threads"] == 1
    assert js["input"]["path"].endswith("m.h5") and js["output"]["path"].endswith("o.h5")


def test_threshold_json_rule(tmp_path):
    src = _model(tmp_path)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--threshold", "0.05")
    assert js["rule"]["mode"] == "threshold"
    for t in js["tensors"]:
        assert t["requested_sparsity"] is None and t["threshold"] == 0.05, t


def test_stats_json_keys(tmp_path):
    src = _model(tmp_path)
    js = h5util.run_json("stats", src)
    assert not _missing(STATS_TOP, js), _missing(STATS_TOP, js)
    assert not _missing(STATS_TOTAL, js["total"]), js["total"]
    for t in js["tensors"]:
        assert not _missing(STATS_TENSOR, t), (t.get("path"), _missing(STATS_TENSOR, t))
    assert js["other_datasets"] == 1
