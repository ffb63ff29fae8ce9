"""Pruning rules through the CLI, compared bit for bit with the numpy reference."""

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

SEED = 1234  # base seed; every case derives its own and prints it in its messages

DTYPES = ["<f2", "<f4", "<f8", ">f4"]
SPARSITIES = ["0", "0.35", "0.5", "0.9", "1"]
SHAPES = {  # 1, 255, 256 and 257 elements, plus a 3-D kernel
    "/dense_1/dense_1/kernel:0": (1, 1),
    "/dense_2/dense_2/kernel:0": (15, 17),
    "/dense_3/dense_3/kernel:0": (16, 16),
    "/dense_4/dense_4/kernel:0": (257, 1),
    "/conv/conv/kernel:0": (3, 3, 2, 5),
}
BIAS = "/dense_2/dense_2/bias:0"


def _seed(*parts):
    return SEED + sum((i + 1) * sum(map(ord, str(p))) for i, p in enumerate(parts))


def _prune(src, out, *rule):
    return h5util.run_json("prune", src, "-o", out, *rule)


def _check_unselected(src, out, paths, ctx):
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for p, ds in reference.walk_datasets(fa).items():
            if p not in paths:
                h5util.assert_dataset_identical(ds, fb[p], "%s unselected %s" % (ctx, p))


@pytest.mark.parametrize("kind", datagen.KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_scope(tmp_path, dtype, kind):
    seed = _seed("tensor", dtype, kind)
    data = {p: datagen.make_values(seed + i, dtype, s, kind) for i, (p, s) in enumerate(SHAPES.items())}
    data[BIAS] = datagen.make_values(seed + 99, dtype, (17,), kind)
    src = datagen.write_h5(tmp_path / "in.h5", data)
    for s in SPARSITIES:
        out = tmp_path / ("out_%s.h5" % s)
        ctx = "[tensor scope dtype=%s kind=%s S=%s seed=%d]" % (dtype, kind, s, seed)
        js = _prune(src, out, "--sparsity", s, "--scope", "tensor")
        paths, res, tensors = reference.prune_file(src, sparsity=s, scope="tensor")
        assert paths == sorted(SHAPES, key=reference.path_key), ctx
        checks.check_output_tensors(out, paths, res, ctx)
        checks.check_summary(js, paths, res, tensors, ctx, sparsity=s, scope="tensor")
        _check_unselected(src, out, paths, ctx)


def _mixed(seed, kind):
    return {
        "/g/a16": datagen.make_values(seed + 1, "<f2", (15, 17), kind),
        "/g/b32": datagen.make_values(seed + 2, "<f4", (16, 16), kind),
        "/g/c64": datagen.make_values(seed + 3, "<f8", (257, 1), kind),
        "/g/d32be": datagen.make_values(seed + 4, ">f4", (1, 1), kind),
        "/g/e64be": datagen.make_values(seed + 5, ">f8", (3, 5), kind),
        "/h/f16": datagen.make_values(seed + 6, "<f2", (4, 4, 4), kind),
    }


@pytest.mark.parametrize("kind", datagen.KINDS)
def test_global_scope_mixed_dtypes(tmp_path, kind):
    seed = _seed("global", kind)
    data = _mixed(seed, kind)
    src = datagen.write_h5(tmp_path / "in.h5", data)
    for s in SPARSITIES:
        out = tmp_path / ("out_%s.h5" % s)
        ctx = "[global scope mixed f16/f32/f64 kind=%s S=%s seed=%d]" % (kind, s, seed)
        js = _prune(src, out, "--sparsity", s, "--scope", "global")
        paths, res, tensors = reference.prune_file(src, sparsity=s, scope="global")
        assert len(paths) == len(data), ctx
        n = sum(x.size for x in tensors.values())
        assert res.total() == reference.k_for(s, n), ctx
        checks.check_output_tensors(out, paths, res, ctx)
        checks.check_summary(js, paths, res, tensors, ctx, sparsity=s, scope="global")


THRESHOLDS = ["0", "5e-324", "0.1", "0.3", "1e10"]


@pytest.mark.parametrize("kind", datagen.KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold(tmp_path, dtype, kind):
    seed = _seed("threshold", dtype, kind)
    data = {p: datagen.make_values(seed + i, dtype, s, kind) for i, (p, s) in enumerate(SHAPES.items())}
    src = datagen.write_h5(tmp_path / "in.h5", data)
    for t in THRESHOLDS:
        out = tmp_path / ("out_%s.h5" % t)
        ctx = "[threshold dtype=%s kind=%s T=%s seed=%d]" % (dtype, kind, t, seed)
        js = _prune(src, out, "--threshold", t)
        paths, res, tensors = reference.prune_file(src, threshold=float(t))
        checks.check_output_tensors(out, paths, res, ctx)
        checks.check_summary(js, paths, res, tensors, ctx, threshold=t)


def test_threshold_mixed_dtypes_global_file(tmp_path):
    """--threshold over a file with f16/f32/f64 tensors: T compared with each true value."""
    seed = _seed("threshold-mixed")
    src = datagen.write_h5(tmp_path / "in.h5", _mixed(seed, "ties"))
    for t in ["0.1", "0.2", "0.5"]:
        out = tmp_path / ("out_%s.h5" % t)
        ctx = "[threshold mixed dtypes T=%s seed=%d]" % (t, seed)
        js = _prune(src, out, "--threshold", t)
        paths, res, tensors = reference.prune_file(src, threshold=float(t))
        checks.check_output_tensors(out, paths, res, ctx)
        checks.check_summary(js, paths, res, tensors, ctx, threshold=t)


def test_threshold_not_rounded_to_dtype(tmp_path):
    """T is compared as float64: 0.09998 lies above float16(0.1) = 0.0999755859375 but rounds
    to it in float16; 0.1000000015 lies above float32(0.1) but rounds to it in float32."""
    h = np.array([[0.1, 0.2]], dtype=np.float16)      # 0.0999755859375
    s = np.array([[0.1, 0.2]], dtype=np.float32)      # 0.100000001490116...
    src = datagen.write_h5(tmp_path / "in.h5", {"/h": h, "/s": s})
    cases = [
        # T, expected pruned mask for /h, for /s
        ("0.09998", [True, False], [False, False]),
        ("0.0999755859375", [False, False], [False, False]),   # equal to the f16 weight: kept
        ("0.1000000015", [True, False], [True, False]),
        ("0.100000001490116119384765625", [True, False], [False, False]),  # == f32(0.1): kept
        ("0.1", [True, False], [False, False]),
    ]
    for t, mh, ms in cases:
        out = tmp_path / ("out_%s.h5" % t)
        ctx = "[threshold exact T=%s]" % t
        h5util.run_ok("prune", src, "-o", out, "--threshold", t)
        with h5py.File(out, "r") as f:
            got_h = (f["/h"][()] == 0).ravel().tolist()
            got_s = (f["/s"][()] == 0).ravel().tolist()
        assert got_h == mh, "%s float16 pruned mask %s expected %s" % (ctx, got_h, mh)
        assert got_s == ms, "%s float32 pruned mask %s expected %s" % (ctx, got_s, ms)
        paths, res, _ = reference.prune_file(src, threshold=float(t))
        checks.check_output_tensors(out, paths, res, ctx)


def test_large_tensor(tmp_path):
    """~1.1e6 weights: a 1000x1000 float32 plus float16 and float64 companions."""
    seed = _seed("large")
    data = {
        "/big/kernel": datagen.make_values(seed, "<f4", (1000, 1000), "normal"),
        "/mid/kernel": datagen.make_values(seed + 1, "<f2", (300, 200), "ties"),
        "/small/kernel": datagen.make_values(seed + 2, "<f8", (100, 100), "special"),
    }
    src = datagen.write_h5(tmp_path / "in.h5", data)
    for rule in (["--sparsity", "0.9", "--scope", "tensor"],
                 ["--sparsity", "0.35", "--scope", "global"],
                 ["--threshold", "0.05"]):
        out = tmp_path / "out.h5"
        if out.exists():
            out.unlink()
        ctx = "[large %s seed=%d]" % (" ".join(rule), seed)
        js = _prune(src, out, *rule)
        checks.check_against_reference(js, src, out, rule, ctx)


# k = round_half_even(S * n) in exact decimal arithmetic, n = 10 distinct magnitudes.
ROUNDING = [
    ("0", 0), ("0.05", 0), ("0.15", 2), ("0.25", 2), ("0.35", 4), ("0.45", 4),
    ("0.5", 5), ("0.85", 8), ("0.95", 10), ("9e-1", 9), ("1", 10), ("1.0", 10),
    ("0.25000000000000000001", 3),   # 2.5000000000000000001 -> 3 (float64 would give 2.5 -> 2)
    ("0.34999999999999999999", 3),   # 3.4999999999999999999 -> 3 (float64 would give 3.5 -> 4)
    ("0.65000000000000000001", 7),   # 6.5000000000000000001 -> 7 (float64 6.5 -> 6)
]


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_rounding_half_even_exact_decimal(tmp_path, scope):
    seed = _seed("rounding", scope)
    rng = np.random.default_rng(seed)
    vals = (rng.permutation(10) + 1) * np.where(rng.random(10) < 0.5, -1.0, 1.0) * 0.01
    if scope == "tensor":
        data = {"/w": vals.astype(np.float32).reshape(2, 5)}
    else:
        data = {"/a/w": vals[:5].astype(np.float32).reshape(1, 5),
                "/b/w": vals[5:].astype(np.float64).reshape(5, 1)}
    src = datagen.write_h5(tmp_path / "in.h5", data)
    for s, k in ROUNDING:
        assert reference.k_for(s, 10) == k, "reference rounding broken for S=%s" % s
        out = tmp_path / ("out_%d.h5" % ROUNDING.index((s, k)))
        ctx = "[rounding scope=%s S=%s n=10 expected k=%d seed=%d]" % (scope, s, k, seed)
        js = _prune(src, out, "--sparsity", s, "--scope", scope)
        assert js["total"]["pruned"] == k, "%s: summary pruned %r" % (ctx, js["total"]["pruned"])
        assert js["rule"]["sparsity"] == s, "%s: rule.sparsity %r" % (ctx, js["rule"]["sparsity"])
        with h5py.File(out, "r") as f:
            zeros = sum(int(np.count_nonzero(f[p][()] == 0)) for p in data)
        assert zeros == k, "%s: %d weights zeroed" % (ctx, zeros)
        paths, res, tensors = reference.prune_file(src, sparsity=s, scope=scope)
        checks.check_output_tensors(out, paths, res, ctx)


def test_ties_broken_by_path_byte_order(tmp_path):
    """Byte order of full paths: '/a-1' (0x2d) < '/a/w' (0x2f) < '/a0' (0x30), unlike the
    per-group name order of an HDF5 traversal (a, a-1, a0). Equal magnitudes, mixed signs."""
    one = np.array([[1, -1], [-1, 1]], dtype=np.float32)
    data = {"/a/w": one.copy(), "/a-1": -one, "/a0": one.copy()}
    src = datagen.write_h5(tmp_path / "in.h5", data)
    expected = {
        "0.5": {"/a-1": [0, 0, 0, 0], "/a/w": [0, 0, -1, 1], "/a0": [1, -1, -1, 1]},
        "0.25": {"/a-1": [0, 0, 0, -1], "/a/w": [1, -1, -1, 1], "/a0": [1, -1, -1, 1]},
        "0.75": {"/a-1": [0, 0, 0, 0], "/a/w": [0, 0, 0, 0], "/a0": [0, -1, -1, 1]},
    }
    for s, exp in expected.items():
        out = tmp_path / ("out_%s.h5" % s)
        ctx = "[ties by path order, global S=%s]" % s
        h5util.run_ok("prune", src, "-o", out, "--sparsity", s, "--scope", "global")
        with h5py.File(out, "r") as f:
            got = {p: f[p][()].ravel().tolist() for p in data}
        assert got == {p: [float(v) for v in e] for p, e in exp.items()}, "%s: got %r" % (ctx, got)
        paths, res, _ = reference.prune_file(src, sparsity=s, scope="global")
        checks.check_output_tensors(out, paths, res, ctx)


def test_ties_broken_by_flat_index_within_tensor(tmp_path):
    x = np.array([[2, -2, 2], [-2, 2, -2], [1, 3, -1]], dtype=np.float64)
    src = datagen.write_h5(tmp_path / "in.h5", {"/k": x})
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")  # k = round(4.5) = 4
    with h5py.File(out, "r") as f:
        got = f["/k"][()].ravel().tolist()
    assert got == [0, 0, 2, -2, 2, -2, 0, 3, 0], "[flat-index ties S=0.5 n=9 k=4] got %r" % got


def test_mixed_dtypes_compare_by_true_value(tmp_path):
    """0.1 is 0.0999755859375 in float16, 0.1000000000000000055 in float64 and
    0.100000001490116 in float32; 0.5 is exact in all three (a true tie, broken by path).
    Subnormals: float64 1e-300 < float32 2^-149 < float16 2^-24."""
    data = {
        "/d": np.array([[0.5, 0.1, 1e-300]], dtype=np.float64),
        "/h": np.array([[0.5, 0.1, 2.0 ** -24]], dtype=np.float16),
        "/s": np.array([[0.5, 0.1, 2.0 ** -149]], dtype=np.float32),
    }
    assert data["/s"][0, 2] != 0 and data["/h"][0, 2] != 0
    src = datagen.write_h5(tmp_path / "in.h5", data)
    # order by true value: d 1e-300, s 2^-149, h 2^-24, h 0.1, d 0.1, s 0.1, d 0.5, h 0.5, s 0.5
    order = [("/d", 2), ("/s", 2), ("/h", 2), ("/h", 1), ("/d", 1), ("/s", 1),
             ("/d", 0), ("/h", 0), ("/s", 0)]
    for k in range(0, 10):
        s = "%d/9" % k
        dec = {0: "0", 9: "1"}.get(k, "%.6f" % (k / 9))
        assert reference.k_for(dec, 9) == k
        out = tmp_path / ("out_%d.h5" % k)
        ctx = "[mixed dtypes true value, global S=%s (k=%d of 9)]" % (dec, k)
        h5util.run_ok("prune", src, "-o", out, "--sparsity", dec, "--scope", "global")
        with h5py.File(out, "r") as f:
            pruned = sorted((p, i) for p in data for i in range(3) if f[p][0, i] == 0)
        assert pruned == sorted(order[:k]), "%s: pruned %r expected %r (%s)" % (ctx, pruned, sorted(order[:k]), s)
        paths, res, _ = reference.prune_file(src, sparsity=dec, scope="global")
        checks.check_output_tensors(out, paths, res, ctx)


def test_zeros_count_as_smallest_and_become_positive_zero(tmp_path):
    x = np.array([[-0.0, 3.0, -0.0, 0.0], [-5.0, -0.0, 1e-45, -2.0]], dtype=np.float32)
    src = datagen.write_h5(tmp_path / "in.h5", {"/k": x})
    for s, exp in [("0", x), ("0.25", None), ("0.5", None), ("0.625", None)]:
        out = tmp_path / ("out_%s.h5" % s)
        ctx = "[zeros S=%s]" % s
        h5util.run_ok("prune", src, "-o", out, "--sparsity", s)
        paths, res, _ = reference.prune_file(src, sparsity=s)
        checks.check_output_tensors(out, paths, res, ctx)
        with h5py.File(out, "r") as f:
            got = f["/k"][()]
        if s == "0":
            h5util.assert_bits_equal(got, x, ctx + " (nothing pruned: -0.0 must stay -0.0)")
        else:
            # the four zeros (three of them -0.0) are pruned first, in flat order
            k = reference.k_for(s, 8)
            zero_pos = [0, 2, 3, 5, 6][:k]
            flat = got.ravel()
            for i in zero_pos:
                assert flat[i] == 0 and not np.signbit(flat[i]), "%s: position %d is %r" % (ctx, i, flat[i])


@pytest.mark.parametrize("opts,expect", [
    ([], ["/conv/kernel:0", "/dense/kernel:0", "/opt/m"]),
    (["--include", "kernel"], ["/conv/kernel:0", "/dense/kernel:0"]),
    (["--exclude", "^/opt"], ["/conv/kernel:0", "/dense/kernel:0"]),
    (["--min-ndim", "1"], ["/conv/kernel:0", "/dense/kernel:0", "/opt/m", "/opt/v"]),
    (["--include", "bias", "--min-ndim", "1"], ["/dense/bias:0"]),
    (["--min-ndim", "3"], ["/conv/kernel:0"]),
    (["--include", "dense", "--exclude", "bias", "--min-ndim", "1"], ["/dense/kernel:0"]),
    (["--include", "^/opt/m$"], ["/opt/m"]),
    (["--min-ndim", "0", "--threshold", "0.01"], ["/conv/kernel:0", "/dense/kernel:0",
                                                  "/opt/lr", "/opt/m", "/opt/v"]),
])
def test_selection(tmp_path, opts, expect):
    seed = _seed("selection")
    data = {
        "/dense/kernel:0": datagen.make_values(seed, "<f4", (8, 4), "normal"),
        "/dense/bias:0": datagen.make_values(seed + 1, "<f4", (4,), "normal"),
        "/conv/kernel:0": datagen.make_values(seed + 2, "<f2", (3, 3, 2, 2), "normal"),
        "/opt/m": datagen.make_values(seed + 3, "<f8", (8, 4), "normal"),
        "/opt/v": datagen.make_values(seed + 4, "<f8", (4,), "normal"),
        "/opt/iter": np.int64(7),
        "/opt/lr": np.float32(0.001),
        "/q/int": np.arange(12, dtype=np.int8).reshape(3, 4),
    }
    src = datagen.write_h5(tmp_path / "in.h5", data)
    out = tmp_path / "out.h5"
    ctx = "[selection %s seed=%d]" % (" ".join(opts), seed)
    rule = {"sparsity": "0.5"}
    kw = {}
    for i in range(0, len(opts), 2):
        if opts[i] == "--threshold":
            rule = {"threshold": float(opts[i + 1])}
            continue
        kw[{"--include": "include", "--exclude": "exclude", "--min-ndim": "min_ndim"}[opts[i]]] = (
            int(opts[i + 1]) if opts[i] == "--min-ndim" else opts[i + 1])
    js = _prune(src, out, *([] if "threshold" in rule else ["--sparsity", "0.5"]), *opts)
    paths, res, tensors = reference.prune_file(src, **rule, **kw)
    assert paths == sorted(expect, key=reference.path_key), "%s: reference selection %r" % (ctx, paths)
    assert sorted(t["path"] for t in js["tensors"]) == sorted(expect), "%s: summary %r" % (ctx, js["tensors"])
    checks.check_output_tensors(out, paths, res, ctx)
    if "threshold" in rule:
        assert res.k["/opt/lr"] == 1, ctx  # the scalar 0.001 < 0.01 is pruned
        checks.check_summary(js, paths, res, tensors, ctx, threshold=opts[-1])
    else:
        checks.check_summary(js, paths, res, tensors, ctx, sparsity="0.5")
    _check_unselected(src, out, paths, ctx)


def test_float64_precision_not_lost(tmp_path):
    """float64 magnitudes that collapse to one float32 value must still order exactly:
    1 + i*2^-40 are 64 distinct float64 values, all equal to 1.0f in float32. In global
    scope, /a holds float32(0.1) and /b float64 values just below and above it."""
    rng = np.random.default_rng(_seed("f64"))
    perm = rng.permutation(64)
    x = (1.0 + perm * 2.0 ** -40) * np.where(perm % 2 == 0, 1.0, -1.0)
    f32 = float(np.float32(0.1))
    data = {"/t/k": x.reshape(8, 8),
            "/a": np.array([[0.1, 0.1]], dtype=np.float32),
            "/b": np.array([[f32 - 2.0 ** -50, f32 + 2.0 ** -50]], dtype=np.float64)}
    src = datagen.write_h5(tmp_path / "in.h5", data)
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.25", "--include", "^/t/")
    with h5py.File(out, "r") as f:
        got = np.flatnonzero(f["/t/k"][()].ravel() == 0)
    exp = np.sort(np.flatnonzero(perm < 16))
    assert got.tolist() == exp.tolist(), "[f64 precision tensor S=0.25] pruned %r expected %r" % (got, exp)
    out2 = tmp_path / "out2.h5"
    # global over /a and /b: 4 weights, order /b[0] < /a[0] == /a[1] < /b[1]; k = 2
    h5util.run_ok("prune", src, "-o", out2, "--sparsity", "0.5", "--scope", "global", "--exclude", "^/t/")
    with h5py.File(out2, "r") as f:
        a, b = f["/a"][()].ravel().tolist(), f["/b"][()].ravel().tolist()
    assert (a, b) == ([0.0, f32], [0.0, f32 + 2.0 ** -50]), "[f64 precision global S=0.5] /a=%r /b=%r" % (a, b)
    paths, res, _ = reference.prune_file(src, sparsity="0.5", scope="global", exclude="^/t/")
    checks.check_output_tensors(out2, paths, res, "[f64 precision global]")
