"""Sparse layouts (--format csr|coo|bitmask|nm, --compress) and `h5prune densify`.

Every layout group is read back here with h5py + numpy + scipy only, following docs/FORMATS.md,
and compared bit for bit with the --format dense output of the same rule; densify must give
that dense file again, byte for byte (sha256).
"""

import json
import os
import resource

import h5py
import numpy as np
import pytest
import scipy.sparse

import datagen
import h5util
import reference

SEED = 5151
FORMATS = ["csr", "coo", "bitmask"]


# ---------------------------------------------------------------- independent layout readers

def layout_to_dense(g):
    """The dense array a layout group stands for, rebuilt per docs/FORMATS.md."""
    fmt = g.attrs["h5prune_format"].decode() if isinstance(g.attrs["h5prune_format"], bytes) else g.attrs["h5prune_format"]
    dense_shape = tuple(int(d) for d in g.attrs["h5prune_dense_shape"])
    dtype = np.dtype(g.attrs["h5prune_dtype"].decode())
    n = int(np.prod(dense_shape)) if dense_shape else 1
    data = g["data"][()]
    assert data.dtype == dtype, "%s: data dtype %s != recorded %s" % (g.name, data.dtype, dtype)
    assert int(g.attrs["h5prune_nnz"][0]) == data.size, "%s: h5prune_nnz" % g.name
    flat = np.zeros(n, dtype=dtype)
    if fmt == "csr":
        rows, cols = (int(x) for x in g.attrs["shape"])
        assert rows == dense_shape[0] and rows * cols == n, "%s: csr shape %r vs %r" % (g.name, (rows, cols), dense_shape)
        # scipy reads the values' bit patterns: recent versions refuse float16 and big-endian
        # data, and its sums into zeros would read -0.0 as +0.0. The values go back by position.
        m = scipy.sparse.csr_matrix((h5util.uint_view(data), g["indices"][()], g["indptr"][()]), shape=(rows, cols))
        coo = m.tocoo()
        bits = np.zeros(n, dtype=h5util.uint_view(data).dtype)
        bits[coo.row.astype(np.int64) * cols + coo.col] = coo.data
        flat = bits.view(dtype)
    elif fmt == "coo":
        flat[g["indices"][()].astype(np.int64)] = data
    elif fmt == "bitmask":
        assert g.attrs["h5prune_bit_order"] in (b"little", "little")
        bits = np.unpackbits(g["mask"][()], count=n, bitorder="little").astype(bool)
        flat[bits] = data
    elif fmt == "nm":
        keep, m = (int(x) for x in g.attrs["h5prune_nm"])
        pos = g["positions"][()].astype(np.int64).reshape(-1, keep)
        idx = pos + (np.arange(pos.shape[0]) * m)[:, None]
        flat[idx.ravel()] = data
    else:
        raise AssertionError("unknown format %r" % fmt)
    return flat.reshape(dense_shape), fmt


def scipy_matrix(g):
    """csr/coo as a float64 scipy matrix (rows = first axis, cols = the rest flattened). The
    values are widened, which is exact: recent scipy refuses float16 and big-endian data."""
    fmt = g.attrs["h5prune_format"].decode()
    dense_shape = tuple(int(d) for d in g.attrs["h5prune_dense_shape"])
    rows = dense_shape[0]
    cols = int(np.prod(dense_shape[1:])) if len(dense_shape) > 1 else 1
    values = g["data"][()].astype(np.float64)
    if fmt == "csr":
        return scipy.sparse.csr_matrix((values, g["indices"][()], g["indptr"][()]), shape=tuple(g.attrs["shape"]))
    idx = g["indices"][()].astype(np.int64)
    return scipy.sparse.coo_matrix((values, (idx // cols, idx % cols)), shape=(rows, cols))


def check_layout_matches_dense(sparse_path, dense_path, tensors, ctx):
    """Every selected tensor is a layout group whose content equals the dense output exactly."""
    with h5py.File(sparse_path, "r") as fs, h5py.File(dense_path, "r") as fd:
        for p in tensors:
            assert isinstance(fs[p], h5py.Group), "%s: %s is not a group in the sparse output" % (ctx, p)
            g = fs[p]
            want = fd[p][()]
            got, fmt = layout_to_dense(g)
            h5util.assert_bits_equal(got, want, "%s %s (%s)" % (ctx, p, fmt))
            # survivors: exactly the elements whose bits are not +0.0, stored in position order
            surv = np.flatnonzero(h5util.uint_view(want).ravel() != 0)
            if fmt != "nm":
                assert g["data"].size == surv.size, "%s %s: %d stored, %d survivors" % (ctx, p, g["data"].size, surv.size)
                h5util.assert_bits_equal(g["data"][()], want.ravel()[surv], "%s %s data" % (ctx, p))
            # the original dataset's attributes are on the group, beside the layout's own
            own = {k for k in g.attrs if k == "shape" or k.startswith("h5prune_")}
            assert sorted(set(g.attrs) - own) == sorted(fd[p].attrs), "%s %s: attributes" % (ctx, p)
            for k in fd[p].attrs:
                assert h5util._norm_value(g.attrs[k]) == h5util._norm_value(fd[p].attrs[k]), "%s %s attr %s" % (ctx, p, k)
            if fmt in ("csr", "coo"):
                m = scipy_matrix(g)
                assert np.array_equal(m.toarray(), want.reshape(m.shape).astype(m.dtype)), (
                    "%s %s: scipy toarray differs" % (ctx, p))


# ---------------------------------------------------------------- data

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("sparse")
    path = d / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.8.0"
        f.create_dataset("/w/dense/kernel:0", data=datagen.make_values(SEED, "<f4", (64, 48), "normal"))
        f.create_dataset("/w/dense/bias:0", data=datagen.make_values(SEED + 1, "<f4", (48,), "normal"))
        k3 = f.create_dataset("/w/lstm/kernel:0", data=datagen.make_values(SEED + 2, "<f2", (5, 7, 12), "ties"))
        k3.attrs["units"] = np.int64(12)
        k3.attrs["note"] = "three axes"
        f.create_dataset("/w/conv/kernel:0", data=datagen.make_values(SEED + 3, ">f8", (3, 3, 8, 16), "special"),
                         chunks=(1, 3, 8, 16), compression="gzip", shuffle=True)
        f.create_dataset("/w/row/kernel:0", data=datagen.make_values(SEED + 4, "<f4", (1, 40), "normal"))
        f.create_dataset("/w/zero/kernel:0", data=np.zeros((4, 4), dtype="<f4"))
        f.create_dataset("/w/neg0/kernel:0", data=np.full((3, 8), -0.0, dtype="<f4"))
        f.create_dataset("/optimizer/iter", data=np.int64(7))
        f["/w/alias"] = h5py.SoftLink("/w/dense/kernel:0")
    return path


def selected(path):
    return reference.select(str(path))


def prune(src, out, fmt, *rule, extra=()):
    return h5util.run_json("prune", src, "-o", out, *rule, "--format", fmt, *extra)


RULES = [["--sparsity", "0.7"], ["--sparsity", "0"], ["--sparsity", "1"], ["--threshold", "0.05"],
         ["--sparsity", "0.9", "--scope", "global"]]


def _ids(r):
    return "_".join(a.strip("-") for a in r)


@pytest.mark.parametrize("rule", RULES, ids=_ids)
@pytest.mark.parametrize("fmt", FORMATS)
def test_layout_roundtrip_and_densify(tmp_path, model, fmt, rule):
    ctx = "[%s %s seed=%d]" % (fmt, " ".join(rule), SEED)
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "sparse.h5", tmp_path / "back.h5"
    jd = prune(model, dense, "dense", *rule)
    js = prune(model, sp, fmt, *rule)
    tensors = selected(model)
    assert [t["path"] for t in js["tensors"]] == tensors, ctx
    for td, ts in zip(jd["tensors"], js["tensors"]):
        assert ts["pruned"] == td["pruned"], "%s %s: pruned differs from dense" % (ctx, ts["path"])
    check_layout_matches_dense(sp, dense, tensors, ctx)
    # everything that is not a selected tensor is as in the dense output
    with h5py.File(sp, "r") as fs, h5py.File(dense, "r") as fd:
        assert fs["/w/alias"].name and fs.get("/w/alias", getlink=True).path == "/w/dense/kernel:0", ctx
        h5util.assert_dataset_identical(fd["/w/dense/bias:0"], fs["/w/dense/bias:0"], ctx + " bias")
        h5util.assert_attrs_equal(fd["/"], fs["/"], ctx + " root attrs")
        # the original dataset's attributes are carried on the group
        g = fs["/w/lstm/kernel:0"]
        assert g.attrs["note"] == "three axes" and g.attrs["units"] == 12, ctx
    res = h5util.run_json("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "%s: densify(%s) != --format dense by sha256" % (ctx, fmt)
    assert res["output"]["sha256"] == h5util.sha256(back), ctx
    assert sorted(t["path"] for t in res["tensors"]) == sorted(tensors), ctx


@pytest.mark.parametrize("fmt", FORMATS)
def test_compress_reproducible_and_densify(tmp_path, model, fmt):
    ctx = "[%s --compress seed=%d]" % (fmt, SEED)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dense = tmp_path / "dense.h5"
    prune(model, dense, "dense", "--sparsity", "0.8")
    one, two = tmp_path / "a" / "s.h5", tmp_path / "b" / "s.h5"
    prune(model, one, fmt, "--sparsity", "0.8", extra=["--compress", "--threads", "1"])
    prune(model, two, fmt, "--sparsity", "0.8", extra=["--compress", "--threads", "2", "--memory-limit", "64K"])
    assert h5util.sha256(one) == h5util.sha256(two), "%s: not reproducible across threads/memory limits" % ctx
    with h5py.File(one, "r") as f:
        for p in selected(model):
            for name, ds in f[p].items():
                assert ds.chunks is not None and ds.compression == "gzip" and ds.shuffle, (
                    "%s %s/%s: expected chunked shuffle+deflate, got chunks=%r compression=%r shuffle=%r"
                    % (ctx, p, name, ds.chunks, ds.compression, ds.shuffle))
    check_layout_matches_dense(one, dense, selected(model), ctx)
    back = tmp_path / "back.h5"
    h5util.run_ok("densify", one, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), ctx


@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_slabs_same_bytes(tmp_path, fmt):
    """A tensor larger than --memory-limit is counted and compacted slab by slab (re-read and
    re-pruned, ties included): the layout is byte-identical to the in-memory one."""
    src = tmp_path / "big.h5"
    x = datagen.make_values(SEED + 9, "<f4", (300, 257), "ties")  # 308 KB, odd row length
    with h5py.File(src, "w") as f:
        f.create_dataset("/m/kernel:0", data=x)
        f.create_dataset("/m/chunky:0", data=datagen.make_values(SEED + 10, "<f2", (130, 70), "ties"),
                         chunks=(7, 9), compression="gzip")  # non-contiguous, odd chunks
    ctx = "[%s streamed seed=%d]" % (fmt, SEED + 9)
    a, b = tmp_path / "mem.h5", tmp_path / "stream.h5"
    ja = prune(src, a, fmt, "--sparsity", "0.6")
    jb = prune(src, b, fmt, "--sparsity", "0.6", extra=["--memory-limit", "64K"])
    assert not ja["streamed"] and jb["streamed"], ctx
    assert h5util.sha256(a) == h5util.sha256(b), "%s: streamed layout differs from in-memory" % ctx
    dense = tmp_path / "dense.h5"
    prune(src, dense, "dense", "--sparsity", "0.6", extra=["--memory-limit", "64K"])
    check_layout_matches_dense(b, dense, ["/m/chunky:0", "/m/kernel:0"], ctx)
    back = tmp_path / "back.h5"
    h5util.run_ok("densify", b, "-o", back, "--memory-limit", "64K")
    assert h5util.sha256(back) == h5util.sha256(dense), ctx + " densify --memory-limit 64K"


def test_index_dtypes_and_simulated_32bit_overflow(tmp_path):
    src = tmp_path / "wide.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/a/kernel:0", data=datagen.make_values(SEED + 11, "<f4", (4, 20000), "normal"))  # n=80000
        f.create_dataset("/b/kernel:0", data=datagen.make_values(SEED + 12, "<f4", (300, 200), "normal"))
        f.create_dataset("/c/kernel:0", data=datagen.make_values(SEED + 13, "<f4", (10, 20), "normal"))
    dense = tmp_path / "dense.h5"
    prune(src, dense, "dense", "--sparsity", "0.5")
    expect = {  # (csr indices, csr indptr, coo indices) without and with a 32-bit limit of 1000
        None: {"/a/kernel:0": ("u2", "i4", "u4"), "/b/kernel:0": ("u1", "i4", "u2"), "/c/kernel:0": ("u1", "i4", "u1")},
        1000: {"/a/kernel:0": ("u2", "i8", "u8"), "/b/kernel:0": ("u1", "i8", "u2"), "/c/kernel:0": ("u1", "i4", "u1")},
    }
    for limit, table in expect.items():
        extra = [] if limit is None else ["--debug-index-limit32", str(limit)]
        for fmt, col in (("csr", 0), ("coo", 2)):
            out = tmp_path / ("%s_%s.h5" % (fmt, limit))
            prune(src, out, fmt, "--sparsity", "0.5", extra=extra)
            with h5py.File(out, "r") as f:
                for p, want in table.items():
                    got = f[p]["indices"].dtype.str[1:]
                    assert got == want[col], "%s limit=%s %s: indices %s, expected %s" % (fmt, limit, p, got, want[col])
                    if fmt == "csr":
                        got = f[p]["indptr"].dtype.str[1:]
                        assert got == want[1], "csr limit=%s %s: indptr %s, expected %s" % (limit, p, got, want[1])
            check_layout_matches_dense(out, dense, list(table), "[%s limit=%s]" % (fmt, limit))
            back = tmp_path / ("back_%s_%s.h5" % (fmt, limit))
            h5util.run_ok("densify", out, "-o", back)
            assert h5util.sha256(back) == h5util.sha256(dense), "[%s limit=%s] densify" % (fmt, limit)


def test_bytes_report_and_break_even_warning(tmp_path, model):
    out = tmp_path / "csr0.h5"
    res = h5util.run("prune", model, "-o", out, "--sparsity", "0", "--format", "csr", "--json")
    assert res.returncode == 0, h5util.describe(res)
    js = json.loads(res.stdout)
    with h5py.File(model, "r") as fi, h5py.File(out, "r") as fo:
        tb = ta = 0
        for t in js["tensors"]:
            before = fi[t["path"]].id.get_storage_size()
            after = sum(ds.id.get_storage_size() for ds in fo[t["path"]].values())
            assert t["bytes_before"] == before, "%s bytes_before %d != %d" % (t["path"], t["bytes_before"], before)
            assert t["bytes_after"] == after, "%s bytes_after %d != %d" % (t["path"], t["bytes_after"], after)
            assert t["larger_than_dense"] == (after > before), t["path"]
            tb += before
            ta += after
        assert js["total"]["bytes_before"] == tb and js["total"]["bytes_after"] == ta
    # nothing pruned: csr of a dense float32 matrix is larger than dense, and says so
    k = next(t for t in js["tensors"] if t["path"] == "/w/dense/kernel:0")
    assert k["larger_than_dense"] and k["stored"] == 64 * 48
    # break-even for float32 with uint8 column indices and int32 row pointers
    n, rows = 64 * 48, 64
    assert k["break_even_density"] == pytest.approx((n * 4 - (rows + 1) * 4) / (n * 5)), k
    assert any("/w/dense/kernel:0" in w for w in js["warnings"]), js["warnings"]
    assert "warning" in res.stderr and "/w/dense/kernel:0" in res.stderr and "break-even" in res.stderr, res.stderr
    # at 95% sparsity the same tensor is smaller than dense: no warning for it
    js = prune(model, tmp_path / "csr95.h5", "csr", "--sparsity", "0.95")
    k = next(t for t in js["tensors"] if t["path"] == "/w/dense/kernel:0")
    assert not k["larger_than_dense"] and k["bytes_after"] < k["bytes_before"], k
    assert not any("/w/dense/kernel:0" in w for w in js["warnings"]), js["warnings"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_stats_understands_layouts(tmp_path, model, fmt):
    dense, sp = tmp_path / "dense.h5", tmp_path / "sparse.h5"
    prune(model, dense, "dense", "--sparsity", "0.7")
    prune(model, sp, fmt, "--sparsity", "0.7")
    sd = h5util.run_json("stats", dense)
    ss = h5util.run_json("stats", sp)
    assert [t["path"] for t in ss["tensors"]] == [t["path"] for t in sd["tensors"]], fmt
    for a, b in zip(sd["tensors"], ss["tensors"]):
        fmt_b = b.pop("format")
        assert a.pop("format") == "dense"
        stored = b.pop("stored", None)
        if a["path"] in selected(model):
            assert fmt_b == fmt and stored is not None and stored == a["n"] - _plus_zero_count(dense, a["path"]), (fmt, a)
        assert a == b, "stats of %s layout differ from the dense file:\n%r\n%r" % (fmt, a, b)
    assert ss["total"] == sd["total"] and ss["other_datasets"] == sd["other_datasets"]


def _plus_zero_count(path, p):
    with h5py.File(path, "r") as f:
        return int(np.count_nonzero(h5util.uint_view(f[p][()]).ravel() == 0))


@pytest.mark.parametrize("fmt", FORMATS + ["nm"])
def test_empty_tensors(tmp_path, fmt):
    """Zero-size tensors (one with unlimited max dims) round-trip; no warning for them."""
    src = tmp_path / "empty.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/e/kernel:0", data=np.zeros((5, 0), "<f4"))
        f.create_dataset("/e/grow:0", data=np.zeros((0, 4), "<f8"), chunks=(1, 4), maxshape=(None, 4))
        f.create_dataset("/x/kernel:0", data=datagen.make_values(SEED + 20, "<f4", (3, 8), "normal"))
    rule = ["--nm", "2:4"] if fmt == "nm" else ["--sparsity", "0.5"]
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "sp.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", src, "-o", dense, *rule)
    res = h5util.run("prune", src, "-o", sp, *rule, "--format", fmt)
    assert res.returncode == 0 and "warning" not in res.stderr, h5util.describe(res)
    with h5py.File(sp, "r") as f:
        assert f["/e/kernel:0/data"].size == 0 and f["/e/grow:0/data"].size == 0
    check_layout_matches_dense(sp, dense, ["/e/grow:0", "/e/kernel:0", "/x/kernel:0"], "[empty %s]" % fmt)
    h5util.run_ok("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "[empty %s] densify" % fmt


@pytest.mark.parametrize("fmt", FORMATS + ["nm"])
def test_small_tensors_take_what_they_need_under_a_large_memory_limit(tmp_path, model, fmt):
    """The compaction buffers are bounded by the tensor, not only by --memory-limit: under a
    3 GB address-space limit, --memory-limit 64G compacts this kilobyte model. (On a GPU the
    buffers are page-locked, which commits them: a quarter of `auto` on a large node, per
    tensor, was the first device run's out-of-memory kill.)"""
    rule = ["--nm", "2:4", "--nm-axis", "last", "--include", "dense|lstm"] if fmt == "nm" else ["--sparsity", "0.7"]
    few, many = tmp_path / "few.h5", tmp_path / "many.h5"
    h5util.run_ok("prune", model, "-o", few, *rule, "--format", fmt, "--memory-limit", "1M")

    def address_space_3g():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    res = h5util.run("prune", model, "-o", many, *rule, "--format", fmt, "--memory-limit", "64G",
                     preexec_fn=address_space_3g)
    assert res.returncode == 0, h5util.describe(res)
    assert h5util.sha256(many) == h5util.sha256(few), "[%s] --memory-limit 64G and 1M differ" % fmt


def test_usage_errors(tmp_path, model):
    cases = [
        (["--sparsity", "0.5", "--format", "nm"], "--format nm needs --nm"),
        (["--sparsity", "0.5", "--compress"], "--compress"),
        (["--sparsity", "0.5", "--format", "ell"], "--format"),
    ]
    for args, needle in cases:
        out = tmp_path / "o.h5"
        res = h5util.run("prune", model, "-o", out, *args)
        assert res.returncode == 2, "%s\n%s" % (args, h5util.describe(res))
        assert needle in res.stderr and res.stderr.count("\n") == 1, h5util.describe(res)
        assert not out.exists() and os.listdir(tmp_path) == [], args
    res = h5util.run("densify", model)
    assert res.returncode == 2 and "--output" in res.stderr, h5util.describe(res)


def test_densify_errors_leave_nothing(tmp_path, model):
    # a damaged layout: indptr no longer a row pointer array
    sp = tmp_path / "in" / "s.h5"
    sp.parent.mkdir()
    prune(model, sp, "csr", "--sparsity", "0.5")
    with h5py.File(sp, "r+") as f:
        ip = f["/w/dense/kernel:0/indptr"]
        ip[-1] = ip[-1] + 5
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    res = h5util.run("densify", sp, "-o", out_dir / "d.h5")
    assert res.returncode == 3, h5util.describe(res)
    assert "/w/dense/kernel:0" in res.stderr and "s.h5" in res.stderr, res.stderr
    assert os.listdir(out_dir) == [], "partial output left behind"
    # an existing output is not replaced without --force
    good = tmp_path / "in" / "g.h5"
    prune(model, good, "coo", "--sparsity", "0.5")
    (out_dir / "exists.h5").write_bytes(b"x")
    res = h5util.run("densify", good, "-o", out_dir / "exists.h5")
    assert res.returncode == 5 and (out_dir / "exists.h5").read_bytes() == b"x", h5util.describe(res)
