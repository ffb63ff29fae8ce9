"""--nm N:M --nm-axis last against an independent numpy reference: in every group of M consecutive weights
along the last axis keep the N largest magnitudes, the lower index winning ties; the rest
become +0.0. --format dense and --format nm, float16/32/64, heavy ties, zeros and -0.0."""

import h5py
import numpy as np
import pytest

import datagen
import h5util
import test_sparse

SEED = 2424


def nm_reference(x, keep, m):
    """(pruned array, kept positions per group [G, N] ascending) by a stable sort per group."""
    flat = np.ascontiguousarray(x).reshape(-1, m)
    mag = np.abs(flat.astype(np.float64))  # exact for float16/32/64; -0.0 -> 0.0
    order = np.argsort(-mag, axis=1, kind="stable")  # larger first, equal: lower index first
    kept = np.sort(order[:, :keep], axis=1)
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, kept, True, axis=1)
    out = np.where(mask, flat, np.zeros((), dtype=flat.dtype))  # +0.0 where pruned
    return out.reshape(x.shape).astype(x.dtype), kept


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("nm")
    ties16 = datagen.make_values(SEED, "<f2", (6, 5, 16), "ties")
    ties16[0, 0, :4] = 0.0  # a group of zeros: N positions are still named
    ties16[0, 1, 4:8] = [-0.0, 0.0, -0.0, 0.3]
    data = {
        "/nm/f32/kernel:0": datagen.make_values(SEED + 1, "<f4", (32, 64), "ties"),
        "/nm/f16/kernel:0": ties16,
        "/nm/f64/kernel:0": datagen.make_values(SEED + 2, ">f8", (3, 3, 4, 8), "special"),
        "/nm/f32/bias:0": datagen.make_values(SEED + 3, "<f4", (64,), "normal"),
    }
    return datagen.write_h5(d / "model.h5", data)


@pytest.mark.parametrize("nm", ["2:4", "1:4", "4:8", "3:8", "1:2", "4:4"])
def test_nm_dense_matches_reference(tmp_path, model, nm):
    keep, m = (int(v) for v in nm.split(":"))
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", model, "-o", out, "--nm", nm, "--nm-axis", "last")
    assert js["rule"]["mode"] == "nm" and js["rule"]["nm"] == nm
    with h5py.File(model, "r") as fi, h5py.File(out, "r") as fo:
        for t in js["tensors"]:
            p = t["path"]
            ctx = "[--nm %s %s seed=%d]" % (nm, p, SEED)
            x = fi[p][()]
            want, _ = nm_reference(x, keep, m)
            h5util.assert_bits_equal(fo[p][()], want, ctx)
            assert t["pruned"] == x.size // m * (m - keep), ctx
            assert t["requested_sparsity"] == pytest.approx((m - keep) / m) and t["threshold"] is None, ctx
        h5util.assert_dataset_identical(fi["/nm/f32/bias:0"], fo["/nm/f32/bias:0"], "bias untouched")


@pytest.mark.parametrize("nm", ["2:4", "1:4", "4:8"])
def test_nm_format_positions_and_densify(tmp_path, model, nm):
    keep, m = (int(v) for v in nm.split(":"))
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "nm.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", model, "-o", dense, "--nm", nm, "--nm-axis", "last")
    js = h5util.run_json("prune", model, "-o", sp, "--nm", nm, "--nm-axis", "last", "--format", "nm")
    with h5py.File(model, "r") as fi, h5py.File(sp, "r") as fs:
        for t in js["tensors"]:
            p = t["path"]
            ctx = "[--nm %s --format nm %s seed=%d]" % (nm, p, SEED)
            x = fi[p][()]
            _, kept = nm_reference(x, keep, m)
            g = fs[p]
            assert tuple(int(v) for v in g.attrs["h5prune_nm"]) == (keep, m), ctx
            assert int(g.attrs["h5prune_nm_axis"][0]) == x.ndim - 1, ctx
            pos = g["positions"][()]
            assert pos.dtype == np.uint8 and pos.size == x.size // m * keep, ctx
            # every group names exactly N positions, even where kept weights are zero
            assert np.array_equal(pos.reshape(-1, keep), kept), ctx
            vals = np.take_along_axis(x.reshape(-1, m), kept, axis=1).ravel()
            h5util.assert_bits_equal(g["data"][()], vals, ctx + " data")
    test_sparse.check_layout_matches_dense(sp, dense, [t["path"] for t in js["tensors"]], "[nm %s]" % nm)
    h5util.run_ok("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "[nm %s] densify != --format dense" % nm


@pytest.mark.parametrize("fmt", ["csr", "coo", "bitmask"])
def test_nm_with_other_layouts_densify(tmp_path, model, fmt):
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "sp.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", model, "-o", dense, "--nm", "2:4", "--nm-axis", "last")
    h5util.run_ok("prune", model, "-o", sp, "--nm", "2:4", "--nm-axis", "last", "--format", fmt, "--compress")
    h5util.run_ok("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "[--nm 2:4 --format %s] densify" % fmt


def test_nm_streamed_groups_never_straddle_slabs(tmp_path):
    """A row longer than the slab budget: slabs are cut at multiples of M."""
    src = tmp_path / "long.h5"
    x = datagen.make_values(SEED + 7, "<f8", (2, 30000), "ties")  # 240 KB per row, slab budget 32 KB
    datagen.write_h5(src, {"/l/kernel:0": x})
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    jb = h5util.run_json("prune", src, "-o", b, "--nm", "3:8", "--memory-limit", "64K")
    h5util.run_ok("prune", src, "-o", a, "--nm", "3:8")
    assert jb["streamed"]
    want, _ = nm_reference(x, 3, 8)
    with h5py.File(b, "r") as f:
        h5util.assert_bits_equal(f["/l/kernel:0"][()], want, "[--nm 3:8 streamed]")
    assert h5util.sha256(a) == h5util.sha256(b)
    sp, back = tmp_path / "sp.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", src, "-o", sp, "--nm", "3:8", "--format", "nm", "--memory-limit", "64K")
    h5util.run_ok("densify", sp, "-o", back, "--memory-limit", "64K")
    assert h5util.sha256(back) == h5util.sha256(b)


def test_nm_errors(tmp_path, model):
    bad = tmp_path / "in" / "bad.h5"
    bad.parent.mkdir()
    datagen.write_h5(bad, {"/ok/kernel:0": np.ones((4, 8), "<f4"), "/odd/kernel:0": np.ones((4, 10), "<f4")})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cases = [
        ([bad, "--nm", "2:4"], "/odd/kernel:0"),   # last axis 10 is not a multiple of 4
        ([model, "--nm", "2:4", "--sparsity", "0.5"], "exactly one rule"),
        ([model, "--nm", "2:4", "--threshold", "0.1"], "exactly one rule"),
        ([model, "--nm", "2:4", "--scope", "global"], "--scope"),
        ([model, "--nm", "5:4"], "--nm"),
        ([model, "--nm", "0:4"], "--nm"),
        ([model, "--nm", "2:300"], "--nm"),
        ([model, "--nm", "2-4"], "--nm"),
    ]
    for args, needle in cases:
        res = h5util.run("prune", args[0], "-o", out_dir / "o.h5", *args[1:])
        assert res.returncode == 2, "%s\n%s" % (args, h5util.describe(res))
        assert needle in res.stderr and res.stderr.startswith("h5prune: error: "), h5util.describe(res)
        assert res.stderr.count("\n") == 1, h5util.describe(res)
        assert h5util.listdir_all(out_dir) == [], "output left behind for %s" % (args,)
    # the tensor that fits is fine on its own
    h5util.run_ok("prune", bad, "-o", out_dir / "ok.h5", "--nm", "2:4", "--include", "^/ok/")
