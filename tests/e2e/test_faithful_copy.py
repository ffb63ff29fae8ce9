"""Everything that is not a selected tensor is copied unchanged; selected tensors keep their layout."""

import shutil
import subprocess

import h5py
import numpy as np
import pytest

import checks
import h5util
import reference

SEED = 77

SELECTED = ["/model_weights/dense/dense/kernel:0", "/model_weights/conv/kernel:0",
            "/model_weights/half/kernel", "/with_attrs"]
UNSELECTED = ["/model_weights/dense/dense/bias:0", "/opt/iterations", "/quant/bits:0",
              "/quant/big", "/scalar_f32", "/strings"]


def build_rich_file(path):
    rng = np.random.default_rng(SEED)
    with h5py.File(path, "w") as f:
        # root attributes: vlen str, fixed-length |S strings, empty float64 array, numerics
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        f.attrs.create("layer_names", np.array([b"dense", b"conv", b"half"], dtype="|S5"))
        f.attrs.create("weight_names", np.zeros((0,), dtype=np.float64))
        f.attrs["ints"] = np.arange(6, dtype=np.int32).reshape(2, 3)
        f.attrs["pi"] = np.float64(np.pi)
        f.attrs["flags"] = np.array([1, 0, 1], dtype=np.uint8)
        f.attrs.create("vlen_list", ["kernel:0", "bias:0"], dtype=h5py.string_dtype())
        f.attrs.create("fixed_str", np.bytes_("abc"), dtype=h5py.string_dtype("ascii", 8))

        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"conv"], dtype="|S5")
        dg = mw.create_group("dense")
        dg.attrs.create("weight_names", ["dense/kernel:0", "dense/bias:0"], dtype=h5py.string_dtype())
        sub = dg.create_group("dense")
        sub.attrs["note"] = "nested"
        # chunked + gzip + shuffle float32 2-D with a fill value
        sub.create_dataset("kernel:0", data=rng.standard_normal((64, 48)).astype(np.float32),
                           chunks=(16, 16), compression="gzip", compression_opts=6, shuffle=True,
                           fillvalue=np.float32(-1.5))
        sub.create_dataset("bias:0", data=rng.standard_normal(48).astype(np.float32))
        mw.create_group("conv").create_dataset(
            "kernel:0", data=rng.standard_normal((3, 3, 4, 8)).astype(np.float64),
            chunks=(3, 3, 4, 2), fletcher32=True, maxshape=(3, 3, 4, None))
        mw.create_group("half").create_dataset(
            "kernel", data=(rng.standard_normal((20, 30)) * 0.1).astype(np.float16))
        mw.create_group("empty")
        opt = f.create_group("opt")
        opt.create_dataset("iterations", data=np.int64(1234))
        q = f.create_group("quant")
        q.create_dataset("bits:0", data=rng.integers(-128, 127, (6, 7), dtype=np.int8))
        q.create_dataset("big", data=rng.integers(-2 ** 62, 2 ** 62, (5, 4), dtype=np.int64),
                         chunks=(5, 2), compression="gzip")
        f.create_dataset("scalar_f32", data=np.float32(0.001))
        f.create_dataset("strings", data=np.array([b"x", b"yz"], dtype="|S3"))
        d = f.create_dataset("with_attrs", data=rng.standard_normal((10, 10)).astype(np.float32))
        d.attrs["units"] = "none"
        d.attrs["scale"] = np.array([1.0, 2.0], dtype=np.float32)
        f["link_to_kernel"] = h5py.SoftLink("/model_weights/dense/dense/kernel:0")
        f["dangling"] = h5py.SoftLink("/does/not/exist")
    return path


@pytest.fixture
def rich(tmp_path):
    return build_rich_file(tmp_path / "rich.h5")


@pytest.mark.parametrize("rule", [["--sparsity", "0.5"], ["--sparsity", "0.8", "--scope", "global"],
                                  ["--threshold", "0.5"]])
def test_faithful_copy(tmp_path, rich, rule):
    out = tmp_path / "out.h5"
    ctx = "[faithful copy %s seed=%d]" % (" ".join(rule), SEED)
    h5util.run_ok("prune", rich, "-o", out, *rule)
    paths = reference.select(rich)
    assert sorted(paths) == sorted(SELECTED), "%s: reference selection %r" % (ctx, paths)
    tree = h5util.assert_same_structure(rich, out)
    assert tree["/link_to_kernel"] == ("soft", "/model_weights/dense/dense/kernel:0"), tree["/link_to_kernel"]
    assert tree["/dangling"] == ("soft", "/does/not/exist")
    with h5py.File(rich, "r") as fa, h5py.File(out, "r") as fb:
        for p, kind in tree.items():
            if kind != "dataset":
                continue
            if p in paths:
                h5util.assert_dataset_props_equal(fa[p], fb[p], "%s selected %s" % (ctx, p))
            else:
                h5util.assert_dataset_identical(fa[p], fb[p], "%s unselected %s" % (ctx, p))
        # the soft link resolves to the pruned kernel in the output
        assert np.array_equal(fb["/link_to_kernel"][()], fb["/model_weights/dense/dense/kernel:0"][()])
    if rule[0] == "--sparsity":
        scope = rule[3] if len(rule) > 2 else "tensor"
        paths, res, _ = reference.prune_file(rich, sparsity=rule[1], scope=scope)
    else:
        paths, res, _ = reference.prune_file(rich, threshold=float(rule[1]))
    assert res.total() > 0
    checks.check_output_tensors(out, paths, res, ctx)


def _h5diff(a, b, obj):
    exe = shutil.which("h5diff")
    if exe is None:
        pytest.skip("h5diff (hdf5-tools) not installed")
    return subprocess.run([exe, str(a), str(b), obj, obj], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


@pytest.mark.parametrize("obj", UNSELECTED + ["/quant", "/opt"])
def test_h5diff_unselected(tmp_path, rich, obj):
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", rich, "-o", out, "--sparsity", "0.9")
    r = _h5diff(rich, out, obj)
    assert r.returncode == 0, "h5diff %s reports differences (exit %d):\n%s" % (obj, r.returncode, r.stdout[-3000:])


def test_h5diff_sees_pruning(tmp_path, rich):
    """Guard for the h5diff test above: h5diff must report the pruned kernel as different."""
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", rich, "-o", out, "--sparsity", "0.9")
    r = _h5diff(rich, out, "/with_attrs")
    assert r.returncode == 1, "h5diff should find differences in a pruned tensor:\n%s" % r.stdout[-2000:]


def test_sparsity_zero_is_identity(tmp_path, rich):
    """--sparsity 0 prunes nothing: the whole output is h5diff-equal to the input and every
    dataset is bit-identical."""
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", rich, "-o", out, "--sparsity", "0")
    exe = shutil.which("h5diff")
    if exe:
        r = subprocess.run([exe, str(rich), str(out)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        assert r.returncode == 0, "h5diff whole file (exit %d):\n%s" % (r.returncode, r.stdout[-3000:])
    tree = h5util.assert_same_structure(rich, out)
    with h5py.File(rich, "r") as fa, h5py.File(out, "r") as fb:
        for p, kind in tree.items():
            if kind == "dataset":
                h5util.assert_dataset_identical(fa[p], fb[p], "[S=0] %s" % p)


def test_unusual_objects_copied(tmp_path):
    """Null-dataspace attribute, a 16-byte long-double matrix (a float, but not 2/4/8 bytes:
    never a tensor), compound, vlen, enum, bool, complex, array-type, opaque and vlen-string
    datasets, a float16 scalar, a zero-size float matrix, attributes on a tensor."""
    src = tmp_path / "odd.h5"
    rng = np.random.default_rng(SEED + 1)
    with h5py.File(src, "w") as f:
        f.attrs["null"] = h5py.Empty("f8")
        f.create_dataset("ld", data=rng.standard_normal((4, 4)).astype(np.longdouble))
        comp = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])
        comp["a"] = [1, 2, 3]
        comp["b"] = [0.5, -0.25, 8.0]
        f.create_dataset("comp", data=comp)
        f.create_dataset("empty2d", shape=(0, 8), dtype=np.float32)
        k = f.create_dataset("k", data=rng.standard_normal((8, 8)).astype(np.float32))
        k.attrs["null"] = h5py.Empty("i4")
        k.attrs["s"] = "kernel"
        v = f.create_dataset("vlen", (3,), dtype=h5py.vlen_dtype(np.float32))
        v[0], v[1], v[2] = [1, 2], [], [3, 4, 5]
        f.create_dataset("enum", data=np.array([0, 1, 1], dtype="i1"),
                         dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"))
        f.create_dataset("bool", data=np.array([[True, False]]))
        f.create_dataset("cplx", data=(rng.standard_normal((3, 3)) + 1j).astype("c8"))
        arr = f.create_dataset("arr", shape=(2, 2), dtype=np.dtype(("<f4", (3,))))
        arr[...] = np.arange(12, dtype="<f4").reshape(2, 2, 3)
        f.create_dataset("opaque", data=np.void(b"\x01\x02\x03"))
        f.create_dataset("vstr", data=np.array(["a", "bcd"], dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("f2scalar", data=np.float16(3))
        f.attrs["cplx"] = np.complex64(1 + 2j)
        f.attrs["enum"] = np.array([1], dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"))
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    tree = h5util.assert_same_structure(src, out)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for p in ("/ld", "/comp", "/vlen", "/enum", "/bool", "/cplx", "/arr", "/opaque", "/vstr", "/f2scalar"):
            h5util.assert_dataset_identical(fa[p], fb[p], "[odd objects] %s" % p)
        for p in ("/empty2d", "/k"):
            h5util.assert_dataset_props_equal(fa[p], fb[p], "[odd objects] %s" % p)
    assert tree["/ld"] == "dataset"
    paths, res, _ = reference.prune_file(src, sparsity="0.5")
    assert paths == ["/empty2d", "/k"]
    checks.check_output_tensors(out, paths, res, "[odd objects]")


def _crt_order_flags(obj):
    pl = obj.id.get_create_plist()
    flags = {"attr": pl.get_attr_creation_order()}
    if isinstance(obj, h5py.Group):
        flags["link"] = pl.get_link_creation_order()
    return flags


def _links_by_creation(group):
    names = []
    group.id.links.iterate(names.append, idx_type=h5py.h5.INDEX_CRT_ORDER)
    return names


def test_creation_order_tracking_kept(tmp_path):
    """h5py's track_order=True (root and a subgroup): link and attribute creation order is
    tracked and indexed; the copy must keep the tracking and the order, at the root too."""
    src = tmp_path / "ordered.h5"
    rng = np.random.default_rng(SEED + 2)
    with h5py.File(src, "w", track_order=True) as f:
        for name in ["zeta", "alpha", "mid"]:
            f.create_dataset(name + "/kernel", data=rng.standard_normal((4, 4)).astype(np.float32))
        for name in ["zz", "aa", "mm"]:
            f.attrs[name] = name
        g = f.create_group("sub", track_order=True)
        for name in ["y", "b"]:
            g.create_dataset(name, data=np.arange(3, dtype=np.int16))
            g.attrs[name] = 1
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    h5util.assert_same_structure(src, out)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for p in ("/", "/sub"):
            assert _crt_order_flags(fb[p]) == _crt_order_flags(fa[p]), (
                "group %s creation-order flags: input %r output %r"
                % (p, _crt_order_flags(fa[p]), _crt_order_flags(fb[p])))
            assert list(fb[p].attrs) == list(fa[p].attrs), (
                "group %s attribute order: input %r output %r" % (p, list(fa[p].attrs), list(fb[p].attrs)))
            assert _links_by_creation(fb[p]) == _links_by_creation(fa[p]), "group %s link creation order" % p


def test_committed_datatype_kept(tmp_path):
    """A dataset whose type is a committed (named) datatype keeps referring to it."""
    src = tmp_path / "named.h5"
    with h5py.File(src, "w") as f:
        f["types/f32"] = np.dtype("<f4")
        f["types/i16"] = np.dtype("<i2")
        f.create_dataset("w", data=np.linspace(-1, 1, 64).reshape(8, 8), dtype=f["types/f32"])
        f.create_dataset("q", data=np.arange(10).reshape(2, 5), dtype=f["types/i16"])
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    h5util.assert_same_structure(src, out)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        lost = [p for p in ("/w", "/q") if fa[p].id.get_type().committed()
                and not fb[p].id.get_type().committed()]
        assert not lost, "datasets no longer using their committed datatype: %r" % lost
        h5util.assert_dataset_identical(fa["/q"], fb["/q"], "[committed type] /q")
    paths, res, _ = reference.prune_file(src, sparsity="0.5")
    checks.check_output_tensors(out, paths, res, "[committed type]")


def test_userblock_kept(tmp_path):
    """A file with a user block (e.g. a MATLAB v7.3 .mat header) keeps its size and bytes."""
    src = tmp_path / "ub.h5"
    with h5py.File(src, "w", userblock_size=512) as f:
        f.create_dataset("w", data=np.random.default_rng(SEED).standard_normal((16, 16)).astype(np.float32))
    header = b"MATLAB 7.3 MAT-file, h5prune e2e user block".ljust(128, b" ")
    with open(src, "r+b") as fh:
        fh.write(header)
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    with h5py.File(out, "r") as f:
        assert f.userblock_size == 512, "userblock_size %d" % f.userblock_size
    with open(src, "rb") as a, open(out, "rb") as b:
        ua, ub = a.read(512), b.read(512)
    assert ub == ua, "user block bytes differ: output starts %r" % ub[:48]


def test_object_references_kept(tmp_path):
    """Object references (an attribute, a reference dataset, dimension scales, as netCDF-4
    and MATLAB v7.3 files use them) still resolve to the same paths in the output."""
    src = tmp_path / "refs.h5"
    rng = np.random.default_rng(SEED + 3)
    with h5py.File(src, "w") as f:
        k = f.create_dataset("layer/kernel", data=rng.standard_normal((6, 4)).astype(np.float32))
        x = f.create_dataset("x", data=np.arange(6.0))
        y = f.create_dataset("y", data=np.arange(4.0))
        x.make_scale("x")
        y.make_scale("y")
        k.dims[0].attach_scale(x)
        k.dims[1].attach_scale(y)
        f.attrs["ref"] = f["layer"].ref
        r = f.create_dataset("refs", (2,), dtype=h5py.ref_dtype)
        r[0] = f["x"].ref
        r[1] = k.ref
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    problems = []
    with h5py.File(out, "r") as g:
        try:
            name = g[g.attrs["ref"]].name
            if name != "/layer":
                problems.append("root attribute 'ref' -> %r, expected '/layer'" % name)
        except Exception as e:  # noqa: BLE001
            problems.append("root attribute 'ref' does not resolve: %s" % e)
        try:
            names = [g[r].name if r else None for r in g["refs"][()]]
            if names != ["/x", "/layer/kernel"]:
                problems.append("dataset /refs -> %r, expected ['/x', '/layer/kernel']" % names)
        except Exception as e:  # noqa: BLE001
            problems.append("dataset /refs does not resolve: %s" % e)
        try:
            dims = [[s.name for s in d.values()] for d in g["layer/kernel"].dims]
            if dims != [["/x"], ["/y"]]:
                problems.append("dimension scales of /layer/kernel: %r" % dims)
        except Exception as e:  # noqa: BLE001
            problems.append("dimension scales of /layer/kernel unreadable: %s" % e)
    assert not problems, "object references broken in the output:\n  " + "\n  ".join(problems)


def test_large_attributes_libver_latest(tmp_path):
    """A file written with libver='latest' may hold attributes over 64 KiB (dense attribute
    storage), e.g. a big model_config; they must be copied like any other attribute."""
    src = tmp_path / "latest.h5"
    with h5py.File(src, "w", libver="latest") as f:
        f.attrs["big_f64"] = np.arange(30000, dtype=np.float64)            # 240 KB
        f.attrs["model_config"] = np.bytes_(b"{" + b"x" * 100000 + b"}")   # fixed-length |S100002
        g = f.create_group("g")
        for i in range(30):
            g.attrs["a%02d" % i] = i
        f.create_dataset("g/kernel", data=np.random.default_rng(SEED).standard_normal((8, 8)).astype(np.float32))
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    h5util.assert_same_structure(src, out)
    paths, res, _ = reference.prune_file(src, sparsity="0.5")
    checks.check_output_tensors(out, paths, res, "[libver latest, large attributes]")
