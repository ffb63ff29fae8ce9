"""Structured magnitude pruning (--structured l1|l2 with --sparsity S, and the group SPEC
structured:l1|l2:S): whole slices along an axis with the smallest Lp norms are zeroed, exactly
k = round_half_even(S x slices), ties by lower slice index, shape kept, the removed slices
reported. Checked against a reference written here: each slice's norm summed exactly in Python
integers from the float64 value of every weight (as_integer_ratio), then a stable sort."""

import json
import os

import h5py
import numpy as np
import pytest

import datagen
import h5util
import reference

SEED = 7117
FIXTURES = ["Soorya-Kumar__RNN-CongestionControl__grumodel.weights.h5",
            "scrambleegg7__caffe__prescript_quick_iter_4000.caffemodel.h5",
            "Rohan581__Sentiment_Analysis__model.hdf5",
            "fastmachinelearning__example-models__KERAS_3layer_70pruned_retrained_weights.h5"]
SHIFT = 1100  # 2^SHIFT x |w| is an integer for every float64 (smallest subnormal 2^-1074)


def exact_key(x, p):
    """Exact sum over a slice of |w| (p=1) or w^2 (p=2), scaled to an integer."""
    total = 0
    for v in np.abs(np.asarray(x, dtype=np.float64)).ravel().tolist():
        if v == float("inf"):
            return float("inf")
        num, den = v.as_integer_ratio()
        scaled = num << (SHIFT - (den.bit_length() - 1))
        total += scaled if p == 1 else scaled * scaled
    return total


def removed_slices(x, axis, p, sparsity):
    slices = x.shape[axis]
    keys = [exact_key(np.take(x, i, axis=axis), p) for i in range(slices)]
    order = sorted(range(slices), key=lambda i: (keys[i], i))  # ties: lower index first
    return sorted(order[:reference.k_for(sparsity, slices)])


def expected(x, axis, removed):
    out = x.copy()
    index = [slice(None)] * x.ndim
    index[axis] = removed
    out[tuple(index)] = np.zeros((), dtype=x.dtype)  # +0.0
    return out


def default_axis(h5path, ndim):
    """The documented default, decided from the file's own markers: Keras -> last, else 0."""
    with h5py.File(h5path, "r") as f:
        keras = ("keras_version" in f.attrs or "layer_names" in f.attrs or "model_weights" in f
                 or "layers" in f or "optimizer_weights" in f)
    return ndim - 1 if keras else 0


def check(src, out, js, p, sparsity, axis_for, ctx):
    with h5py.File(src, "r") as fi, h5py.File(out, "r") as fo:
        for t in js["tensors"]:
            path = t["path"]
            x = fi[path][()]
            axis = axis_for(x.ndim)
            rem = removed_slices(x, axis, p, sparsity)
            c = "%s %s axis %d L%d" % (ctx, path, axis, p)
            assert t["axis"] == axis, c
            st = t["structured"]
            assert st == {"norm": "l%d" % p, "axis": axis, "slices": x.shape[axis], "removed": rem,
                          "kept": x.shape[axis] - len(rem)}, "%s: %r, expected removed %r" % (c, st, rem)
            exp = expected(x, axis, rem)
            h5util.assert_bits_equal(fo[path][()], exp, c)
            assert t["pruned"] == len(rem) * (x.size // max(x.shape[axis], 1)), c
            assert t["zeros_after"] == int(np.count_nonzero(exp == 0)), c
            assert t["zeros_before"] == int(np.count_nonzero(x == 0)), c
            assert t["newly_zeroed"] == t["zeros_after"] - t["zeros_before"], c


def tie_file(tmp_path):
    """Small-integer weights (many exact ties of L1 and L2 along every axis), a slice that is a
    permutation with sign flips of another, normal weights, float16/32/64."""
    rng = np.random.default_rng(SEED)
    ints = rng.integers(-2, 3, size=(6, 8)).astype(np.float32)
    ints[4] = -ints[1][::-1]  # the same norms as row 1, other positions
    conv = rng.integers(-1, 2, size=(3, 3, 4, 5)).astype(np.float16)
    f64 = datagen.make_values(SEED + 1, "<f8", (10, 7), "ties")
    normal = datagen.make_values(SEED + 2, "<f4", (9, 11), "normal")
    return datagen.write_h5(tmp_path / "ties.h5", {"/a/ints": ints, "/b/conv": conv, "/c/f64": f64,
                                                    "/d/normal": normal})


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("sparsity", ["0.5", "0.25", "0.3", "1", "0"])
def test_generated_ties_every_axis(tmp_path, p, sparsity):
    src = tie_file(tmp_path)
    for axis in range(4):
        out = tmp_path / ("o%d.h5" % axis)
        ctx = "[ties --structured l%d --sparsity %s --structured-axis %d]" % (p, sparsity, axis)
        # Tensors of rank <= axis cannot be cut there: select the ones that can.
        inc = "conv" if axis >= 2 else None
        js = h5util.run_json("prune", src, "-o", out, "--sparsity", sparsity, "--structured", "l%d" % p,
                             "--structured-axis", str(axis), *(["--include", inc] if inc else []))
        assert js["rule"]["mode"] == "structured" and js["rule"]["norm"] == "l%d" % p, js["rule"]
        check(src, out, js, p, sparsity, lambda nd: axis, ctx)


def test_ties_go_lower_index_first(tmp_path):
    x = np.array([[1, 2], [2, 1], [0, 3], [3, 0], [1, 1]], dtype=np.float32)  # L1 3,3,3,3,2
    src = datagen.write_h5(tmp_path / "t.h5", {"/w": x})
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.6", "--structured", "l1",
                         "--structured-axis", "0")
    assert js["tensors"][0]["structured"]["removed"] == [0, 1, 4], js["tensors"][0]
    # L2: 5, 5, 9, 9, 2 -> the two 5s go before the 9s.
    js = h5util.run_json("prune", src, "-o", tmp_path / "o2.h5", "--sparsity", "0.6", "--structured", "l2",
                         "--structured-axis", "0")
    assert js["tensors"][0]["structured"]["removed"] == [0, 1, 4], js["tensors"][0]


def test_exact_where_float64_sums_are_not(tmp_path):
    """Row 0 sums to 2^53 + 2 exactly, row 1 to 2^53 + 2; a float64 running sum of row 0 gives
    2^53 (each +1 rounds away), so only an exact sum sees the tie and takes row 0 first."""
    x = np.array([[2.0 ** 53, 1.0, 1.0], [2.0 ** 53 + 2, 0.0, 0.0]], dtype=np.float64)
    src = datagen.write_h5(tmp_path / "e.h5", {"/w": x})
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--structured", "l1",
                         "--structured-axis", "0")
    assert js["tensors"][0]["structured"]["removed"] == [0], js["tensors"][0]
    x2 = x[::-1].copy()  # the exact tie again, now row 0 is the one a float sum gets right
    src2 = datagen.write_h5(tmp_path / "e2.h5", {"/w": x2})
    js = h5util.run_json("prune", src2, "-o", tmp_path / "o2.h5", "--sparsity", "0.5", "--structured", "l1",
                         "--structured-axis", "0")
    assert js["tensors"][0]["structured"]["removed"] == [0], js["tensors"][0]


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("p", [1, 2])
def test_fixtures_default_and_first_axis(tmp_path, fixtures_dir, name, p):
    src = os.path.join(fixtures_dir, name)
    if not os.path.isfile(src):
        pytest.skip("fixture missing: %s" % src)
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.5", "--structured", "l%d" % p)
    assert [t["path"] for t in js["tensors"]] == reference.select(src)
    check(src, out, js, p, "0.5", lambda nd: default_axis(src, nd), "[%s default axis]" % name)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o0.h5", "--sparsity", "0.3", "--structured", "l%d" % p,
                         "--structured-axis", "0")
    check(src, tmp_path / "o0.h5", js, p, "0.3", lambda nd: 0, "[%s axis 0]" % name)


def test_streamed_equals_resident_and_summary(tmp_path):
    big = datagen.make_values(SEED + 5, "<f4", (40, 300, 3), "ties")  # 144 KB: streamed under 64K
    src = datagen.write_h5(tmp_path / "b.h5", {"/w": big})
    a, b = tmp_path / "a.h5", tmp_path / "b_out.h5"
    for axis in ("0", "1", "2"):
        ja = h5util.run_json("prune", src, "-o", a, "--force", "--sparsity", "0.5", "--structured", "l2",
                             "--structured-axis", axis)
        jb = h5util.run_json("prune", src, "-o", b, "--force", "--sparsity", "0.5", "--structured", "l2",
                             "--structured-axis", axis, "--memory-limit", "64K")
        assert jb["streamed"] and not ja["streamed"]
        assert ja["output"]["sha256"] == jb["output"]["sha256"], axis
        check(src, b, jb, 2, "0.5", lambda nd: int(axis), "[streamed axis %s]" % axis)
    text = h5util.run_ok("prune", src, "-o", tmp_path / "t.h5", "--sparsity", "0.1", "--structured", "l1").stdout
    rem = removed_slices(big, 0, 1, "0.1")
    assert "/w: zeroed 4 of 40 slices along axis 0 (L1): [%s]" % ",".join(map(str, rem)) in text, text


def test_group_rule_spec(tmp_path):
    w1 = datagen.make_values(SEED + 6, "<f4", (8, 6), "ties")
    w2 = datagen.make_values(SEED + 7, "<f4", (5, 4), "normal")
    src = datagen.write_h5(tmp_path / "g.h5", {"/dense/kernel": w1, "/out/kernel": w2})
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.5",
                         "--rule", "dense=structured:l2:0.5,axis=1")
    rules = js["rule"]["rules"]
    assert rules == [{"match": "dense", "mode": "structured", "norm": "l2", "sparsity": "0.5", "axis": 1}], rules
    t = {x["path"]: x for x in js["tensors"]}
    rem = removed_slices(w1, 1, 2, "0.5")
    assert t["/dense/kernel"]["structured"]["removed"] == rem
    assert "structured" not in t["/out/kernel"]
    paths, res, tensors = reference.prune_file(src, sparsity="0.5", include="^/out/")
    with h5py.File(out, "r") as f:
        h5util.assert_bits_equal(f["/dense/kernel"][()], expected(w1, 1, rem), "group structured")
        h5util.assert_bits_equal(f["/out/kernel"][()], res.arrays["/out/kernel"], "group sparsity")


@pytest.mark.parametrize("args,needle", [
    (["--structured", "l1"], "need --sparsity"),
    (["--sparsity", "0.5", "--structured", "l3"], "expected l1 or l2"),
    (["--sparsity", "0.5", "--structured-axis", "0"], "applies to --structured"),
    (["--sparsity", "0.5", "--structured", "l1", "--structured-axis", "2"], "/w in"),
    (["--sparsity", "0.5", "--structured", "l1", "--scope", "global"], "--scope"),
    (["--rule", "w=structured:l1:0.5,global"], "invalid rule"),
])
def test_usage_errors(tmp_path, args, needle):
    src = datagen.write_h5(tmp_path / "u.h5", {"/w": np.ones((3, 4), np.float32)})
    out = tmp_path / "o.h5"
    res = h5util.run("prune", src, "-o", out, *args)
    assert res.returncode == 2 and needle in res.stderr, h5util.describe(res)
    assert not out.exists()


def test_removed_slices_shrink_the_layer(tmp_path, fixtures_dir):
    """The recorded slices are enough to build the smaller model: on the hls4ml Dense fixture, fc1's
    units chosen by the reference are the ones the JSON, the manifest on disk and `registry show`
    name; dropping them (kernel columns, bias entries, fc2's input rows) from the pruned file gives
    a network whose output equals the pruned full-size one once those units' biases are zero."""
    src = os.path.join(fixtures_dir, FIXTURES[3])
    if not os.path.isfile(src):
        pytest.skip("fixture missing: %s" % src)
    k1, b1, k2 = ("/fc1_relu/fc1_relu/kernel:0", "/fc1_relu/fc1_relu/bias:0", "/fc2_relu/fc2_relu/kernel:0")
    reg = tmp_path / "reg"
    js = h5util.run_json("prune", src, "--registry", reg, "--model", "jet", "--rule", "^/fc1_relu/=structured:l2:0.25",
                         "--rule", ".=skip")
    with h5py.File(src, "r") as f:
        x1, bias1, x2 = f[k1][()], f[b1][()], f[k2][()]
    rem = removed_slices(x1, 1, 2, "0.25")
    assert len(rem) == 16, rem  # round_half_even(0.25 x 64)
    st = {"norm": "l2", "axis": 1, "slices": 64, "removed": rem, "kept": 48}
    assert {t["path"]: t.get("structured") for t in js["tensors"]}[k1] == st, js["tensors"]
    vdir = reg / "models" / "jet" / "versions" / "1"
    with open(vdir / "manifest.json") as fh:
        man = json.load(fh)
    assert {t["path"]: t.get("structured") for t in man["tensors"]}[k1] == st, man["tensors"]
    shown = json.loads(h5util.run_ok("show", "jet@1", "--registry", reg, "--json").stdout)
    assert {t["path"]: t.get("structured") for t in shown["tensors"]}[k1] == st
    text = h5util.run_ok("show", "jet@1", "--registry", reg).stdout
    assert "%s: zeroed 16 of 64 slices along axis 1 (L2): [%s]" % (k1, ",".join(map(str, rem))) in text, text

    out = tmp_path / "pruned.h5"
    h5util.run_ok("get", "jet@1", "-o", out, "--registry", reg)
    with h5py.File(out, "r") as f:
        p1, p2 = f[k1][()], f[k2][()]
    assert not np.any(p1[:, rem]) and np.array_equal(np.delete(p1, rem, axis=1), np.delete(x1, rem, axis=1))
    assert np.array_equal(p2, x2)  # skipped
    small1, smallb, small2 = np.delete(p1, rem, axis=1), np.delete(bias1, rem), np.delete(p2, rem, axis=0)
    zb = bias1.copy()
    zb[rem] = 0
    rng = np.random.default_rng(SEED)
    inp = rng.standard_normal((50, 16))
    full = np.maximum(inp @ p1.astype(np.float64) + zb, 0) @ p2.astype(np.float64)
    small = np.maximum(inp @ small1.astype(np.float64) + smallb, 0) @ small2.astype(np.float64)
    assert small.shape == full.shape and np.allclose(small, full, rtol=1e-12, atol=1e-12), np.abs(small - full).max()
