"""Framework-aware selection: Keras optimizer state is left out by default (and taken back with
--include-optimizer), stats says why each dataset is or is not selected, and a global scope that
mixes magnitude scales warns. Checked on the real fixtures and on generated files."""

import os

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

SENTIMENT = "Rohan581__Sentiment_Analysis__model.hdf5"
KERAS3 = "Kumaryasarla__Emoji-prediction__model.weights.h5"
SEED = 1212


def fixture(fixtures_dir, name):
    path = os.path.join(fixtures_dir, name)
    if not os.path.isfile(path):
        pytest.skip("fixture missing: %s" % path)
    return path


def test_sentiment_global_prunes_the_model_not_adam(tmp_path, fixtures_dir):
    src = fixture(fixtures_dir, SENTIMENT)
    out = tmp_path / "out.h5"
    ctx = "[%s --sparsity 0.5 --scope global]" % SENTIMENT
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.5", "--scope", "global")
    got = [t["path"] for t in js["tensors"]]
    assert got and not any(p.startswith("/optimizer_weights/") for p in got), "%s selected %s" % (ctx, got)
    # The model's own weights: every float dataset of rank >= 2 outside /optimizer_weights.
    with h5py.File(src, "r") as f:
        own = sorted((p for p, d in reference.walk_datasets(f).items()
                      if d.dtype.kind == "f" and d.ndim >= 2 and not p.startswith("/optimizer_weights/")),
                     key=reference.path_key)
        n = sum(f[p].size for p in own)
    assert got == own, ctx
    assert js["total"]["n"] == n and js["total"]["pruned"] == round(n / 2), ctx
    assert js["warnings"] == [], "%s: ordinary model warned: %s" % (ctx, js["warnings"])
    paths, res, tensors = reference.prune_file(src, sparsity="0.5", scope="global", exclude="^/optimizer_weights/")
    checks.check_summary(js, paths, res, tensors, ctx, sparsity="0.5", scope="global")
    checks.check_output_tensors(out, paths, res, ctx)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for p in reference.walk_datasets(fa):
            if p.startswith("/optimizer_weights/"):
                h5util.assert_dataset_identical(fa[p], fb[p], "%s optimizer state %s" % (ctx, p))
        # Each layer is really pruned (the bug: Adam's v took the whole budget).
        for p in own:
            x = fb[p][()]
            assert np.count_nonzero(x == 0) > 0, "%s: nothing pruned in %s" % (ctx, p)


def test_include_optimizer_takes_it_back_and_warns(tmp_path, fixtures_dir):
    src = fixture(fixtures_dir, SENTIMENT)
    out = tmp_path / "out.h5"
    ctx = "[%s --include-optimizer --scope global]" % SENTIMENT
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.5", "--scope", "global", "--include-optimizer")
    assert js["rule"]["include_optimizer"] is True, ctx
    paths, res, tensors = reference.prune_file(src, sparsity="0.5", scope="global", include_optimizer=True)
    assert any(p.startswith("/optimizer_weights/") for p in paths), ctx
    checks.check_summary(js, paths, res, tensors, ctx, sparsity="0.5", scope="global")
    checks.check_output_tensors(out, paths, res, ctx)
    assert len(js["warnings"]) == 1, "%s: warnings %s" % (ctx, js["warnings"])
    w = js["warnings"][0]
    assert "global scope mixes magnitude scales" in w and "/optimizer_weights/" in w and "/model_weights/" in w, w
    res_txt = h5util.run_ok("prune", src, "-o", tmp_path / "o2.h5", "--sparsity", "0.5", "--scope", "global",
                            "--include-optimizer")
    lines = [l for l in res_txt.stderr.splitlines() if l.startswith("h5prune: warning: global scope")]
    assert len(lines) == 1, "%s: stderr %r" % (ctx, res_txt.stderr)


def test_include_regex_does_not_reach_optimizer_state(tmp_path, fixtures_dir):
    src = fixture(fixtures_dir, SENTIMENT)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--include", "kernel")
    got = sorted(t["path"] for t in js["tensors"])
    assert got == ["/model_weights/conv1d/conv1d/kernel:0", "/model_weights/conv1d_1/conv1d_1/kernel:0",
                   "/model_weights/dense/dense/kernel:0"], got


def test_keras3_optimizer_vars_left_out(tmp_path, fixtures_dir):
    src = fixture(fixtures_dir, KERAS3)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5")
    got = [t["path"] for t in js["tensors"]]
    assert got and all(p.startswith("/layers/") for p in got), got
    assert got == reference.select(src), got
    js2 = h5util.run_json("prune", src, "-o", tmp_path / "o2.h5", "--sparsity", "0.5", "--include-optimizer")
    assert any(t["path"].startswith("/optimizer/vars/") for t in js2["tensors"])


def test_stats_reasons(fixtures_dir):
    src = fixture(fixtures_dir, SENTIMENT)
    js = h5util.run_json("stats", src)
    assert js["framework"] == "keras2" and js["optimizer_prefix"] == "/optimizer_weights/", js["framework"]
    rows = {t["path"]: t for t in js["tensors"]}
    with h5py.File(src, "r") as f:
        for p, d in reference.walk_datasets(f).items():
            if d.dtype.kind != "f":
                continue
            want = ("optimizer" if p.startswith("/optimizer_weights/") else "rank" if d.ndim < 2 else "selected")
            assert rows[p]["reason"] == want, "[stats %s] %s reason %r, expected %r" % (SENTIMENT, p, rows[p]["reason"], want)
            assert rows[p]["selected"] == (want == "selected"), p
    others = {o["path"]: o for o in js["others"]}
    assert others["/optimizer_weights/Adam/iter:0"]["reason"] == "dtype", others
    assert others["/optimizer_weights/Adam/iter:0"]["type"] == "int64", others
    inc = {t["path"]: t["reason"] for t in h5util.run_json("stats", src, "--include", "conv1d/")["tensors"]}
    assert inc["/model_weights/dense/dense/kernel:0"] == "include", inc
    exc = {t["path"]: t["reason"] for t in h5util.run_json("stats", src, "--exclude", "embedding")["tensors"]}
    assert exc["/model_weights/embedding/embedding/embeddings:0"] == "exclude", exc
    io = {t["path"]: t["reason"] for t in h5util.run_json("stats", src, "--include-optimizer")["tensors"]}
    assert io["/optimizer_weights/Adam/conv1d/kernel/m:0"] == "selected", io
    assert io["/optimizer_weights/Adam/conv1d/bias/m:0"] == "rank", io
    text = h5util.run_ok("stats", src).stdout
    assert "no: optimizer state" in text and "no: rank 1 < --min-ndim 2" in text, text[-2000:]


def test_no_scale_warning_on_the_fixtures(tmp_path, fixture_file):
    js = h5util.run_json("prune", fixture_file, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--scope", "global")
    assert js["warnings"] == [], "[%s] %s" % (os.path.basename(fixture_file), js["warnings"])


@pytest.mark.parametrize("small,warns", [(1e-4, True), (0.02, False), (0.0, False)])
def test_scale_warning_on_generated_files(tmp_path, small, warns):
    big = datagen.make_values(SEED, "<f4", (64, 32), "normal")
    tiny = (datagen.make_values(SEED + 1, "<f4", (32, 16), "normal") * small).astype("<f4")
    src = datagen.write_h5(tmp_path / "m.h5", {"/a/kernel": big, "/b/kernel": tiny})
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.3", "--scope", "global")
    ctx = "[scale %g seed=%d]" % (small, SEED)
    assert (len(js["warnings"]) == 1) == warns, "%s: %s" % (ctx, js["warnings"])
    if warns:
        assert "/b/kernel" in js["warnings"][0] and "/a/kernel" in js["warnings"][0], ctx
    # Tensor scope never warns: each tensor is its own scope.
    jt = h5util.run_json("prune", src, "-o", tmp_path / "t.h5", "--sparsity", "0.3")
    assert jt["warnings"] == [], ctx


GRU = "Soorya-Kumar__RNN-CongestionControl__grumodel.weights.h5"
CAFFE = "scrambleegg7__caffe__prescript_quick_iter_4000.caffemodel.h5"


def test_keras3_gru_biases_left_out(tmp_path, fixtures_dir):
    """reset_after GRU cells store a 2-D bias (2, 3u) as vars/2; it is a bias, not a matrix."""
    src = fixture(fixtures_dir, GRU)
    biases = ["/layers/gru%s/cell/vars/2" % s for s in ("", "_1", "_2", "_3", "_4")]
    with h5py.File(src, "r") as f:
        # Independently of reference.bias_paths: the rule's premise on this file.
        for b in biases:
            cell = b[:-2]
            w = f[cell + "/0"].shape[1]
            assert f[b].shape == (2, w) and f[cell + "/1"].shape == (w // 3, w), b
        assert reference.bias_paths(f) >= set(biases)
    rows = {t["path"]: t for t in h5util.run_json("stats", src)["tensors"]}
    for b in biases:
        assert rows[b]["reason"] == "bias" and not rows[b]["selected"], rows[b]
        assert rows[b[:-1] + "0"]["selected"] and rows[b[:-1] + "1"]["selected"], b
    text = h5util.run_ok("stats", src).stdout
    assert "no: bias (keras3 GRU cell, reset_after: vars/2 (2, 210)" in text, text[-3000:]
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.5")
    got = [t["path"] for t in js["tensors"]]
    assert not set(got) & set(biases), got
    paths, res, tensors = reference.prune_file(src, sparsity="0.5")
    assert got == paths, (got, paths)
    checks.check_summary(js, paths, res, tensors, "[%s]" % GRU, sparsity="0.5")
    checks.check_output_tensors(out, paths, res, "[%s]" % GRU)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for b in biases:
            h5util.assert_dataset_identical(fa[b], fb[b], "[%s] bias %s" % (GRU, b))
    # --include names a bias explicitly: it is taken back.
    js2 = h5util.run_json("prune", src, "-o", tmp_path / "o2.h5", "--sparsity", "0.5", "--include", "^/layers/gru/")
    assert [t["path"] for t in js2["tensors"]] == ["/layers/gru/cell/vars/0", "/layers/gru/cell/vars/1",
                                                   "/layers/gru/cell/vars/2"], js2["tensors"]


def test_caffe_blob1_is_bias(fixtures_dir):
    src = fixture(fixtures_dir, CAFFE)
    js = h5util.run_json("stats", src, "--min-ndim", "1")
    rows = {t["path"]: t["reason"] for t in js["tensors"]}
    with h5py.File(src, "r") as f:
        for p in reference.walk_datasets(f):
            assert rows[p] == ("bias" if p.endswith("/1") else "selected"), (p, rows[p])
            assert (p in reference.bias_paths(f)) == p.endswith("/1"), p
    assert rows["/data/conv1/1"] == "bias"


@pytest.mark.parametrize("layout", ["keras2", "keras3", "keras3_not_gru", "caffe_old", "torch"])
def test_generated_biases(tmp_path, layout):
    """2-D and 4-D biases the fixtures do not have: a Keras 2 GRU `bias:0` (2, 3u), a Keras 3 cell
    whose vars do not have the GRU shapes (kept selected: the rule is conservative), an old Caffe
    snapshot's (1, 1, 1, out) bias, a PyTorch-style `fc.bias`."""
    g = lambda i, shape: datagen.make_values(SEED + i, "<f4", shape, "normal")
    files = {
        "keras2": ({"/model_weights/gru/gru/kernel:0": g(0, (4, 12)), "/model_weights/gru/gru/recurrent_kernel:0": g(1, (4, 12)),
                    "/model_weights/gru/gru/bias:0": g(2, (2, 12))}, {"/model_weights/gru/gru/bias:0"}),
        "keras3": ({"/layers/gru/cell/vars/0": g(0, (5, 12)), "/layers/gru/cell/vars/1": g(1, (4, 12)),
                    "/layers/gru/cell/vars/2": g(2, (2, 12))}, {"/layers/gru/cell/vars/2"}),
        "keras3_not_gru": ({"/layers/x/cell/vars/0": g(0, (5, 12)), "/layers/x/cell/vars/1": g(1, (6, 12)),
                            "/layers/x/cell/vars/2": g(2, (2, 12))}, set()),
        "caffe_old": ({"/data/ip/0": g(0, (6, 9)), "/data/ip/1": g(1, (1, 1, 1, 6)), "/data/c/0": g(2, (3, 2, 2, 2)),
                       "/data/c/1": g(3, (3, 1))}, {"/data/ip/1", "/data/c/1"}),
        "torch": ({"/fc.weight": g(0, (6, 9)), "/fc.bias": g(1, (1, 6)), "/biasnet.weight": g(2, (3, 3))}, {"/fc.bias"}),
    }
    data, want = files[layout]
    src = datagen.write_h5(tmp_path / "in.h5", data)
    with h5py.File(src, "r") as f:
        assert reference.bias_paths(f) == want, layout
    rows = {t["path"]: t["reason"] for t in h5util.run_json("stats", src)["tensors"]}
    assert {p for p, r in rows.items() if r == "bias"} == want, (layout, rows)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5")
    assert [t["path"] for t in js["tensors"]] == reference.select(src), (layout, js["tensors"])
    assert {t["path"] for t in js["tensors"]} == set(data) - want, layout
