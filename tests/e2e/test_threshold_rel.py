"""--threshold-rel R: prune |w| < R x max|w| of each tensor (hls4ml's rule), compared exactly: a
numpy/Fraction reference on generated files (float16/32/64, ties, zeros, subnormals, Inf), a value
exactly at R x max that float arithmetic would misjudge, the twelve fixtures, and a group rule."""

import os
from fractions import Fraction

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

SEED = 6161


def rel_mask(x, r):
    """Flat mask of |x| < R x max|x| in exact rationals (the unique magnitudes compared once)."""
    mag = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if mag.size == 0:
        return np.zeros(0, bool)
    top = mag.max()
    R = Fraction(r)
    if np.isinf(top):
        return np.isfinite(mag) if R > 0 else np.zeros(mag.size, bool)
    bound = R * Fraction(float(top))
    below = {u for u in np.unique(mag) if Fraction(float(u)) < bound}
    return np.isin(mag, list(below))


def reference_rel(src, r, paths=None):
    paths = paths if paths is not None else reference.select(src)
    tensors = reference.read_tensors(src, paths)
    res = reference.Result()
    for p in paths:
        mask = rel_mask(tensors[p], r)
        res.arrays[p] = reference._apply(tensors[p], mask)
        res.masks[p] = mask
        res.k[p] = int(mask.sum())
    return paths, res, tensors


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel")
    data = {}
    for i, dt in enumerate(("<f2", "<f4", ">f8")):
        for kind in ("normal", "ties", "special"):
            data["/%s/%s" % (dt[1:], kind)] = datagen.make_values(SEED + i * 7 + len(kind), dt, (24, 40), kind)
    return datagen.write_h5(d / "m.h5", data)


@pytest.mark.parametrize("r", ["0.1", "0.5", "0", "1", "0.3333333333333333333333"])
def test_matches_exact_reference(tmp_path, model, r):
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", model, "-o", out, "--threshold-rel", r)
    assert js["rule"]["mode"] == "threshold_rel" and js["rule"]["threshold_rel"] == r, js["rule"]
    paths, res, tensors = reference_rel(model, r)
    ctx = "[--threshold-rel %s seed=%d]" % (r, SEED)
    checks.check_output_tensors(out, paths, res, ctx)
    got = {t["path"]: t for t in js["tensors"]}
    for p in paths:
        assert got[p]["pruned"] == res.k[p], "%s %s" % (ctx, p)
        assert got[p]["requested_sparsity"] is None
        assert got[p]["newly_zeroed"] == int(np.count_nonzero((tensors[p] != 0) & (res.arrays[p] == 0))), ctx


def test_the_boundary_is_exact_not_a_float_product(tmp_path):
    # R x max = 0.1 x 0.7 = 0.07 exactly; the float64 product 0.1 * 0.7 is 0.06999999999999999,
    # the double just below 0.07, so a float comparison would keep that weight: exactly, it is
    # below 0.07 and pruned. 0.07 as a double (just above 0.07) is kept, and so is a weight equal
    # to R x max: here max 10 and R 0.5 give the tie 5.0 in a second tensor.
    below = 0.06999999999999999
    assert below < 0.07 and 0.1 * 0.7 == below and Fraction(below) < Fraction("0.07")
    x = np.array([[0.7, below, 0.07, -below], [0.0, 0.5, -0.7, 0.06]], dtype="<f8")
    y = np.array([[10.0, 5.0, -5.0, 4.999999999999999]], dtype="<f8")
    src = datagen.write_h5(tmp_path / "x.h5", {"/a": x, "/b": y})
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", src, "-o", out, "--threshold-rel", "0.1", "--include", "^/a$")
    with h5py.File(out, "r") as f:
        got = f["/a"][()]
    assert got[0, 1] == 0.0 and got[0, 3] == 0.0 and got[0, 2] == 0.07 and got[1, 3] == 0.0, got
    assert js["tensors"][0]["pruned"] == 4, js["tensors"][0]  # below, -below, 0.0, 0.06
    jb = h5util.run_json("prune", src, "-o", tmp_path / "b.h5", "--threshold-rel", "0.5", "--include", "^/b$")
    with h5py.File(tmp_path / "b.h5", "r") as f:
        got = f["/b"][()]
    assert list(got[0]) == [10.0, 5.0, -5.0, 0.0], got
    assert jb["tensors"][0]["ties"] == 2 and jb["tensors"][0]["pruned"] == 1, jb["tensors"][0]


def test_fixtures(tmp_path, fixture_file):
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", fixture_file, "-o", out, "--threshold-rel", "0.1")
    paths, res, _ = reference_rel(fixture_file, "0.1")
    checks.check_output_tensors(out, paths, res, "[%s --threshold-rel 0.1]" % os.path.basename(fixture_file))
    assert sum(t["pruned"] for t in js["tensors"]) == res.total()


def test_group_rule_and_errors(tmp_path, model):
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.5", "--rule", "f4/=threshold-rel:0.2")
    rel_paths = [p for p in reference.select(model) if p.startswith("/f4/")]
    paths, res, _ = reference_rel(model, "0.2", rel_paths)
    checks.check_output_tensors(out, paths, res, "[group threshold-rel:0.2]")
    assert js["rule"]["rules"][0]["mode"] == "threshold_rel"
    for bad in (["--threshold-rel", "1.5"], ["--threshold-rel", "-0.1"], ["--threshold-rel", "x"],
                ["--threshold-rel", "0.1", "--threshold", "0.1"], ["--threshold-rel", "0.1", "--scope", "global"]):
        res = h5util.run("prune", model, "-o", tmp_path / "b.h5", *bad)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, h5util.describe(res)
