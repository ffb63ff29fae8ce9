"""Honest counts: zeros before, newly zeroed and zeros after, per tensor and in total, in the
summary headline, --json, stats of the output, the registry manifest and the metrics, checked
against numpy counts of the input and output. The already-sparse hls4ml fixture (70% pruned)
pruned to 50% changes nothing, and every report says so."""

import json
import os

import h5py
import numpy as np
import pytest

import datagen
import h5util
import test_registry
from metrics_util import one, parse, read_text, expected_file_name

HLS4ML = "fastmachinelearning__example-models__KERAS_3layer_70pruned_retrained_weights.h5"
SEED = 3131


def numpy_counts(src, out, paths):
    """{path: (zeros before, newly zeroed, zeros after)} from the files themselves."""
    got = {}
    with h5py.File(src, "r") as fi, h5py.File(out, "r") as fo:
        for p in paths:
            x, y = fi[p][()], fo[p][()]
            got[p] = (int(np.count_nonzero(x == 0)), int(np.count_nonzero((x != 0) & (y == 0))),
                      int(np.count_nonzero(y == 0)))
    return got


def check_counts(js, src, out, ctx):
    paths = [t["path"] for t in js["tensors"]]
    want = numpy_counts(src, out, paths)
    for t in js["tensors"]:
        got = (t["zeros_before"], t["newly_zeroed"], t["zeros_after"])
        assert got == want[t["path"]], "%s %s: (before, newly, after) %r expected %r" % (ctx, t["path"], got, want[t["path"]])
    tot = tuple(sum(v[i] for v in want.values()) for i in range(3))
    got = (js["total"]["zeros_before"], js["total"]["newly_zeroed"], js["total"]["zeros_after"])
    assert got == tot, "%s total: %r expected %r" % (ctx, got, tot)
    return tot


@pytest.fixture
def hls4ml(fixtures_dir):
    path = os.path.join(fixtures_dir, HLS4ML)
    if not os.path.isfile(path):
        pytest.skip("fixture missing: %s" % path)
    return path


def test_already_sparse_input_newly_zeroed_zero_everywhere(tmp_path, hls4ml):
    out = tmp_path / "out.h5"
    reg = tmp_path / "reg"
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    ctx = "[%s --sparsity 0.5]" % HLS4ML
    js = h5util.run_json("prune", hls4ml, "-o", out, "--sparsity", "0.5", "--registry", reg, "--model", "hls",
                         "--metrics-dir", mdir, "--metrics-per-tensor")
    before, newly, after = check_counts(js, hls4ml, out, ctx)
    assert newly == 0 and after == before and before > 0, ctx
    assert js["total"]["pruned"] > 0, "%s: the rule still names positions (all already zero)" % ctx
    # The registry manifest records the same counts.
    m = test_registry.manifests(str(reg), "hls")[1]
    assert m["total"]["newly_zeroed"] == 0 and m["total"]["zeros_after"] == after, (ctx, m["total"])
    for t in m["tensors"]:
        assert t["newly_zeroed"] == 0 and t["zeros_after"] == t["zeros_before"], (ctx, t)
    # Metrics: run-level and per-tensor.
    p = parse(read_text(mdir / expected_file_name("hls")))
    assert one(p, "h5prune_last_run_newly_zeroed_parameters", model="hls") == 0, ctx
    assert one(p, "h5prune_last_run_zeros_after_parameters", model="hls") == after, ctx
    assert one(p, "h5prune_last_run_zeros_before_parameters", model="hls") == before, ctx
    for t in js["tensors"]:
        assert one(p, "h5prune_last_run_tensor_newly_zeroed_parameters", model="hls", tensor=t["path"]) == 0, ctx
    # stats of the output: zeros == zeros_after per tensor.
    st = {t["path"]: t for t in h5util.run_json("stats", out)["tensors"]}
    for t in js["tensors"]:
        assert st[t["path"]]["zeros"] == t["zeros_after"], ctx
    # The human headline says how many weights this run zeroed.
    text = h5util.run_ok("prune", hls4ml, "-o", tmp_path / "t.h5", "--sparsity", "0.5").stdout
    assert "zeroed 0 weights this run: %d of %d were zero before, %d after" % (before, js["total"]["n"], after) in text, text
    # Recording the same input and rule again reports the same counts from the manifest.
    again = h5util.run_json("prune", hls4ml, "--sparsity", "0.5", "--registry", reg, "--model", "hls")
    assert again["registry"]["already_recorded"] is True
    assert (again["total"]["newly_zeroed"], again["total"]["zeros_after"]) == (0, after), again["total"]


@pytest.mark.parametrize("rule", [["--sparsity", "0.9"], ["--sparsity", "0.95", "--scope", "global"],
                                  ["--threshold", "0.05"], ["--threshold", "0"], ["--nm", "1:4", "--exclude", "output"]])
def test_counts_on_the_sparse_fixture(tmp_path, hls4ml, rule):
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", hls4ml, "-o", out, *rule)
    before, newly, after = check_counts(js, hls4ml, out, "[%s %s]" % (HLS4ML, " ".join(rule)))
    if rule == ["--threshold", "0"]:
        assert newly == 0 and after == before


@pytest.mark.parametrize("rule", [["--sparsity", "0.5"], ["--sparsity", "0.3", "--scope", "global"],
                                  ["--threshold", "0.2"], ["--nm", "2:4"]])
def test_counts_on_generated_zeros_and_negative_zeros(tmp_path, rule):
    x = datagen.make_values(SEED, "<f4", (16, 32), "ties")  # many ties, -0.0 and +0.0 among them
    y = datagen.make_values(SEED + 1, "<f2", (8, 8), "special")
    src = datagen.write_h5(tmp_path / "m.h5", {"/a/kernel": x, "/b/kernel": y})
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", src, "-o", out, *rule)
    check_counts(js, src, out, "[generated %s seed=%d]" % (" ".join(rule), SEED))
