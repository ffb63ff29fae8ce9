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
    never a tensor), a compound dataset, a zero-size float matrix, attributes on a tensor."""
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
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    tree = h5util.assert_same_structure(src, out)
    with h5py.File(src, "r") as fa, h5py.File(out, "r") as fb:
        for p in ("/ld", "/comp"):
            h5util.assert_dataset_identical(fa[p], fb[p], "[odd objects] %s" % p)
        for p in ("/empty2d", "/k"):
            h5util.assert_dataset_props_equal(fa[p], fb[p], "[odd objects] %s" % p)
    assert tree["/ld"] == "dataset"
    paths, res, _ = reference.prune_file(src, sparsity="0.5")
    assert paths == ["/empty2d", "/k"]
    checks.check_output_tensors(out, paths, res, "[odd objects]")
