"""--nm along the right axis: by default the layer's reduction (input) axis as its framework stores
it (Keras (..., in, out): ndim - 2; Caffe and other files (out, in, ...): 1), --nm-axis to choose,
--nm-skip-unfit to leave tensors whose axis is not a multiple of M unpruned (listed), all against
a numpy reference that moves the axis last and keeps the N largest of every M (lower index wins)."""

import os

import h5py
import numpy as np
import pytest

import datagen
import h5util
import reference

SEED = 4242
CAFFE = "scrambleegg7__caffe__prescript_quick_iter_4000.caffemodel.h5"


def nm_along(x, keep, m, axis):
    """x pruned N:M along `axis`: move it last, group M consecutive, stable sort per group."""
    moved = np.moveaxis(np.ascontiguousarray(x), axis, -1)
    flat = np.ascontiguousarray(moved).reshape(-1, m)
    mag = np.abs(flat.astype(np.float64))
    order = np.argsort(-mag, axis=1, kind="stable")
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :keep], True, axis=1)
    out = np.where(mask, flat, np.zeros((), dtype=flat.dtype)).reshape(moved.shape)
    return np.ascontiguousarray(np.moveaxis(out, -1, axis)).astype(x.dtype)


def framework_axis(h5path, ndim):
    """The documented default, decided here from the file's own markers."""
    with h5py.File(h5path, "r") as f:
        keras = ("keras_version" in f.attrs or "layer_names" in f.attrs or "model_weights" in f
                 or "layers" in f or "optimizer_weights" in f)
    return ndim - 2 if keras else 1


def check_file(src, out, js, keep, m, axis_for, ctx):
    skipped = {s["path"] for s in js["skipped"]}
    with h5py.File(src, "r") as fi, h5py.File(out, "r") as fo:
        for t in js["tensors"]:
            p = t["path"]
            x = fi[p][()]
            axis = axis_for(x.ndim)
            assert t["axis"] == axis, "%s %s: axis %r expected %r" % (ctx, p, t["axis"], axis)
            h5util.assert_bits_equal(fo[p][()], nm_along(x, keep, m, axis), "%s %s axis %d" % (ctx, p, axis))
            assert t["pruned"] == x.size // m * (m - keep), ctx
        for p in skipped:
            h5util.assert_dataset_identical(fi[p], fo[p], "%s skipped %s" % (ctx, p))
    return skipped


def test_keras_dense_keeps_two_of_every_four_along_the_input_axis(tmp_path):
    w = datagen.make_values(SEED, "<f4", (16, 12), "ties")        # Dense (in, out): groups along in
    conv = datagen.make_values(SEED + 1, "<f4", (3, 3, 8, 6), "normal")  # Conv2D (kh, kw, cin, cout)
    src = datagen.write_h5(tmp_path / "k.h5", {"/dense/dense/kernel:0": w, "/conv/conv/kernel:0": conv},
                           attrs={"keras_version": "2.4.0", "backend": "tensorflow"})
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--nm", "2:4")
    assert js["rule"]["axis"] == "auto", js["rule"]
    check_file(src, out, js, 2, 4, lambda nd: nd - 2, "[keras --nm 2:4 seed=%d]" % SEED)
    with h5py.File(out, "r") as f:
        y = f["/dense/dense/kernel:0"][()]
    # Groups are 4 consecutive input rows of one output column: at most 2 survive in each, and
    # exactly 2 where all 4 inputs were nonzero.
    groups_in = (w.reshape(4, 4, 12) != 0).sum(axis=1)
    groups_out = (y.reshape(4, 4, 12) != 0).sum(axis=1)
    assert (groups_out <= 2).all() and (groups_out[groups_in == 4] == 2).all(), groups_out
    assert (groups_in == 4).any()


@pytest.mark.parametrize("axis,resolved", [("last", -1), ("0", 0), ("-2", -2), ("1", 1), ("auto", None)])
def test_explicit_axes_on_a_generic_file(tmp_path, axis, resolved):
    data = {"/a/w": datagen.make_values(SEED + 2, "<f4", (8, 12, 16), "ties"),
            "/b/w": datagen.make_values(SEED + 3, "<f2", (4, 8), "special"),
            "/c/w": datagen.make_values(SEED + 4, ">f8", (12, 4, 4, 2), "normal")}
    src = datagen.write_h5(tmp_path / "g.h5", data)
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--nm", "2:4", "--nm-axis", axis, "--nm-skip-unfit")
    axis_for = (lambda nd: 1) if resolved is None else (lambda nd: resolved % nd)
    skipped = check_file(src, out, js, 2, 4, axis_for, "[generic --nm-axis %s seed=%d]" % (axis, SEED))
    for p, x in data.items():
        fits = x.shape[axis_for(x.ndim)] % 4 == 0
        assert (p in skipped) == (not fits), (axis, p, skipped)


def test_unfit_axis_is_an_error_or_skipped_with_a_warning(tmp_path):
    src = datagen.write_h5(tmp_path / "u.h5", {"/ok/w": np.ones((8, 8), "<f4"), "/odd/w": np.ones((8, 6), "<f4")})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    res = h5util.run("prune", src, "-o", out_dir / "o.h5", "--nm", "2:4")
    assert res.returncode == 2 and "/odd/w" in res.stderr and "--nm-skip-unfit" in res.stderr, h5util.describe(res)
    assert res.stderr.count("\n") == 1 and h5util.listdir_all(out_dir) == [], h5util.describe(res)
    res = h5util.run("prune", src, "-o", out_dir / "o.h5", "--nm", "2:4", "--nm-axis", "5")
    assert res.returncode == 2 and "no axis 5" in res.stderr, h5util.describe(res)
    ok = h5util.run_ok("prune", src, "-o", out_dir / "o.h5", "--nm", "2:4", "--nm-skip-unfit")
    warn = [l for l in ok.stderr.splitlines() if l.startswith("h5prune: warning: --nm-skip-unfit")]
    assert len(warn) == 1 and "/odd/w" in warn[0] and "/ok/w" not in warn[0], ok.stderr
    for bad in (["--nm-axis", "x"], ["--nm-axis", "1.5"]):
        res = h5util.run("prune", src, "-o", out_dir / "b.h5", "--nm", "2:4", *bad)
        assert res.returncode == 2 and "--nm-axis" in res.stderr, h5util.describe(res)
    res = h5util.run("prune", src, "-o", out_dir / "b.h5", "--sparsity", "0.5", "--nm-axis", "0")
    assert res.returncode == 2 and "--nm" in res.stderr, h5util.describe(res)


def test_format_nm_needs_the_last_axis(tmp_path):
    src = datagen.write_h5(tmp_path / "k.h5", {"/d/kernel:0": datagen.make_values(SEED, "<f4", (8, 8), "normal")},
                           attrs={"keras_version": "2.4.0"})
    res = h5util.run("prune", src, "-o", tmp_path / "o.h5", "--nm", "2:4", "--format", "nm")
    assert res.returncode == 2 and "--nm-axis last" in res.stderr, h5util.describe(res)
    h5util.run_ok("prune", src, "-o", tmp_path / "o.h5", "--nm", "2:4", "--format", "nm", "--nm-axis", "last")


def test_streamed_strided_groups_match_in_memory(tmp_path):
    x = datagen.make_values(SEED + 5, "<f8", (64, 3, 200), "ties")  # axis 0 of a file read as generic: --nm-axis 0
    src = datagen.write_h5(tmp_path / "s.h5", {"/s/w": x})
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    jb = h5util.run_json("prune", src, "-o", b, "--nm", "3:8", "--nm-axis", "0", "--memory-limit", "64K")
    h5util.run_ok("prune", src, "-o", a, "--nm", "3:8", "--nm-axis", "0")
    assert jb["streamed"]
    with h5py.File(b, "r") as f:
        h5util.assert_bits_equal(f["/s/w"][()], nm_along(x, 3, 8, 0), "[--nm 3:8 axis 0 streamed seed=%d]" % SEED)
    assert h5util.sha256(a) == h5util.sha256(b)


def test_caffe_fixture_runs_with_skip_unfit(tmp_path, fixtures_dir):
    src = os.path.join(fixtures_dir, CAFFE)
    if not os.path.isfile(src):
        pytest.skip("fixture missing: %s" % src)
    res = h5util.run("prune", src, "-o", tmp_path / "x.h5", "--nm", "2:4")
    assert res.returncode == 2 and "/data/conv1/0" in res.stderr, h5util.describe(res)
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--nm", "2:4", "--nm-skip-unfit")
    skipped = check_file(src, out, js, 2, 4, lambda nd: 1, "[caffe --nm 2:4 --nm-skip-unfit]")
    assert skipped == {"/data/conv1/0"}, skipped  # (32, 3, 5, 5): 3 input channels
    assert len(js["warnings"]) == 1 and "/data/conv1/0" in js["warnings"][0], js["warnings"]


def test_every_fixture_along_its_default_axis(tmp_path, fixture_file):
    out = tmp_path / "o.h5"
    ctx = "[%s --nm 2:4 --nm-skip-unfit]" % os.path.basename(fixture_file)
    selected = reference.select(fixture_file)
    with h5py.File(fixture_file, "r") as f:
        fits = [p for p in selected if f[p].shape[framework_axis(fixture_file, f[p].ndim)] % 4 == 0]
    if not fits:  # nothing left to prune is an input error, as when nothing is selected
        res = h5util.run("prune", fixture_file, "-o", out, "--nm", "2:4", "--nm-skip-unfit")
        assert res.returncode == 3 and "can be pruned --nm 2:4" in res.stderr and not out.exists(), h5util.describe(res)
        return
    js = h5util.run_json("prune", fixture_file, "-o", out, "--nm", "2:4", "--nm-skip-unfit")
    skipped = check_file(fixture_file, out, js, 2, 4, lambda nd: framework_axis(fixture_file, nd), ctx)
    assert [t["path"] for t in js["tensors"]] == fits, ctx
    assert sorted(skipped) == sorted(set(selected) - set(fits)), ctx
