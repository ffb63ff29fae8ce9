"""Helpers shared by the e2e tests: running the CLI, hashing, walking and comparing HDF5 files."""

import hashlib
import json
import os
import subprocess

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# The bundled example model (Keras 2, all tensors small).
EXAMPLE = os.path.join(REPO, "examples", "keras2c_model.h5")
# H5PRUNE_FIXTURES names another folder (the GPU check carries them in its bundle).
FIXTURES = os.environ.get("H5PRUNE_FIXTURES") or os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures", "keras"))
# The twelve real Keras/Caffe files (SOURCES.md there); the `fixture_file` fixture gives each.
FIXTURE_NAMES = [
    "fastmachinelearning__example-models__KERAS_3layer_70pruned_retrained_weights.h5",
    "fastmachinelearning__example-models__keras_bnn_weights.h5",
    "fastmachinelearning__example-models__hgq_jet_classifier.h5",
    "fastmachinelearning__example-models__jetTagger_Conv2D_Small_weights.h5",
    "PlasmaControl__keras2c__model.h5",
    "Kumaryasarla__Emoji-prediction__model.weights.h5",
    "Soorya-Kumar__RNN-CongestionControl__grumodel.weights.h5",
    "Juan-Olarte__lstm-renewable-olarte__modeloLSTM.h5",
    "Rohan581__Sentiment_Analysis__model.hdf5",
    "Im-Saad__Sentiment-Analysis__weights.h5",
    "Labonneguigue__CarND-Behavioral-Cloning-P3__weights.h5",
    "scrambleegg7__caffe__prescript_quick_iter_4000.caffemodel.h5",
]


def binary():
    return os.path.abspath(os.environ.get("H5PRUNE_BIN", os.path.join(REPO, "build", "tools", "h5prune")))


def run(*args, timeout=300, **popen_kw):
    """Run h5prune with the given arguments; returns CompletedProcess (text mode).
    popen_kw: env, cwd, preexec_fn, ... passed to subprocess.run."""
    cmd = [binary()] + [str(a) for a in args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          text=True, errors="replace", timeout=timeout, **popen_kw)


def describe(res):
    return ("command: %s\nexit: %s\nstdout: %r\nstderr: %r"
            % (" ".join(res.args), res.returncode, res.stdout[-2000:], res.stderr[-2000:]))


def run_ok(*args, **kw):
    res = run(*args, **kw)
    assert res.returncode == 0, "h5prune failed\n" + describe(res)
    return res


def run_json(*args, **kw):
    res = run_ok(*args, "--json", **kw)
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError("--json stdout is not one JSON object (%s)\n%s" % (e, describe(res)))


_cuda_usable = None


def cuda_usable():
    """Whether `--backend cuda` runs here (a CUDA build and a usable device); asked once."""
    global _cuda_usable
    if _cuda_usable is None:
        res = run("prune", EXAMPLE, "--dry-run", "--sparsity", "0.5", "--backend", "cuda")
        _cuda_usable = res.returncode == 0
    return _cuda_usable


def fake_sysroot(tmp_path, cgroup_lines, files, available_kib=16 * 1024 * 1024):
    """A folder of fake /proc and /sys/fs/cgroup files for the H5PRUNE_TEST_SYSROOT hook:
    /proc/self/cgroup, /proc/meminfo, and `files` ({path under the root: text})."""
    root = tmp_path / "sysroot"
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(
        "MemTotal: 25165824 kB\nMemFree: 1000 kB\nMemAvailable: %d kB\n" % available_kib)
    (root / "proc" / "self" / "cgroup").write_text(cgroup_lines + "\n")
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text + "\n")
    return str(root)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def listdir_all(path):
    return sorted(os.listdir(path))


# ---------------------------------------------------------------- bit-exact comparison

def uint_view(a):
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def assert_bits_equal(got, exp, ctx):
    """Same dtype (incl. byte order), same shape, same bytes. ctx goes into the message."""
    got = np.asarray(got)
    exp = np.asarray(exp)
    assert got.dtype == exp.dtype, "%s: dtype %s != expected %s" % (ctx, got.dtype, exp.dtype)
    assert got.shape == exp.shape, "%s: shape %s != expected %s" % (ctx, got.shape, exp.shape)
    if got.tobytes() == exp.tobytes():
        return
    if got.dtype.kind in "fiub" and got.dtype.itemsize in (1, 2, 4, 8):
        g = uint_view(got).ravel()
        e = uint_view(exp).ravel()
        bad = np.flatnonzero(g != e)
        shown = []
        for i in bad[:8]:
            shown.append("[%d] got %r (0x%x) expected %r (0x%x)"
                         % (i, got.ravel()[i], g[i], exp.ravel()[i], e[i]))
        raise AssertionError("%s: %d of %d values differ bitwise; first: %s"
                             % (ctx, bad.size, g.size, "; ".join(shown)))
    raise AssertionError("%s: bytes differ" % ctx)


def assert_pruned_positive_zero(arr, mask, ctx):
    flat = np.asarray(arr).reshape(-1)
    sel = flat[mask]
    assert np.all(sel == 0), "%s: pruned positions hold non-zero values" % ctx
    neg = int(np.count_nonzero(np.signbit(sel)))
    assert neg == 0, "%s: %d pruned positions are -0.0, expected +0.0" % (ctx, neg)


# ---------------------------------------------------------------- structure walk

def walk(h5path):
    """{path: kind} for every link in the file. kind: 'group', 'dataset', 'datatype',
    ('soft', target) or ('external', file, path). Hard links are followed once."""
    out = {"/": "group"}
    with h5py.File(h5path, "r") as f:
        def rec(group, prefix):
            for name in group:
                path = (prefix.rstrip("/") + "/" + name)
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink):
                    out[path] = ("soft", link.path)
                    continue
                if isinstance(link, h5py.ExternalLink):
                    out[path] = ("external", link.filename, link.path)
                    continue
                obj = group[name]
                if isinstance(obj, h5py.Group):
                    out[path] = "group"
                    rec(obj, path)
                elif isinstance(obj, h5py.Dataset):
                    out[path] = "dataset"
                else:
                    out[path] = "datatype"
        rec(f, "/")
    return out


def _type_desc(tid):
    d = {"class": tid.get_class(), "size": tid.get_size()}
    if tid.get_class() == h5py.h5t.STRING:
        d["variable"] = tid.is_variable_str()
        d["cset"] = tid.get_cset()
        d["strpad"] = tid.get_strpad()
    if tid.get_class() in (h5py.h5t.FLOAT, h5py.h5t.INTEGER):
        d["order"] = tid.get_order()
    return d


def _norm_value(v):
    if isinstance(v, h5py.Empty):
        return ("Empty", str(v.dtype))
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "O":
            return ("objarray", v.shape, [_norm_value(x) for x in v.ravel().tolist()])
        if v.dtype.fields is not None or v.dtype.subdtype is not None:
            return ("array", str(v.dtype), v.shape, v.tobytes())
        return ("array", str(v.dtype), v.shape, v.tobytes())
    if isinstance(v, np.generic):
        return ("scalar", str(v.dtype), v.tobytes())
    if isinstance(v, bytes):
        return ("bytes", v)
    return ("py", type(v).__name__, v)


def attrs_snapshot(obj):
    """{name: (type description, dataspace class, shape, normalised value)}."""
    snap = {}
    for name in obj.attrs:
        aid = h5py.h5a.open(obj.id, name.encode("utf-8"))
        space = aid.get_space()
        snap[name] = (_type_desc(aid.get_type()), space.get_simple_extent_type(),
                      aid.shape, _norm_value(obj.attrs[name]))
    return snap


def assert_attrs_equal(a_obj, b_obj, ctx):
    sa, sb = attrs_snapshot(a_obj), attrs_snapshot(b_obj)
    assert sorted(sa) == sorted(sb), "%s: attribute names %s != %s" % (ctx, sorted(sb), sorted(sa))
    for name in sa:
        assert sb[name] == sa[name], ("%s: attribute %r differs:\n input:  %r\n output: %r"
                                      % (ctx, name, sa[name][:3], sb[name][:3]))
        ta = h5py.h5a.open(a_obj.id, name.encode()).get_type()
        tb = h5py.h5a.open(b_obj.id, name.encode()).get_type()
        assert ta.equal(tb), "%s: attribute %r HDF5 type differs (H5Tequal)" % (ctx, name)


def dataset_props(ds):
    dcpl = ds.id.get_create_plist()
    filters = [dcpl.get_filter(i)[:3] for i in range(dcpl.get_nfilters())]
    # h5py 3.7 crashes reading the fill value of a variable-length dataset: skip it there
    fv = ds.fillvalue if ds.dtype.kind != "O" and h5py.check_vlen_dtype(ds.dtype) is None else None
    return {
        "dtype": ds.dtype.str if ds.dtype.kind != "V" else str(ds.dtype),
        "shape": ds.shape,
        "maxshape": ds.maxshape,
        "chunks": ds.chunks,
        "layout": dcpl.get_layout(),
        "compression": ds.compression,
        "compression_opts": ds.compression_opts,
        "shuffle": ds.shuffle,
        "fletcher32": ds.fletcher32,
        "scaleoffset": ds.scaleoffset,
        "filters": filters,
        "fill_defined": dcpl.fill_value_defined(),
        "fillvalue": np.asarray(fv).tobytes() if fv is not None else None,
    }


def assert_dataset_props_equal(a, b, ctx):
    pa, pb = dataset_props(a), dataset_props(b)
    diffs = {k: (pa[k], pb[k]) for k in pa if pa[k] != pb[k]}
    assert not diffs, "%s: dataset properties differ (input, output): %r" % (ctx, diffs)
    assert a.id.get_type().equal(b.id.get_type()), "%s: HDF5 datatype differs (H5Tequal)" % ctx


def assert_dataset_identical(a, b, ctx):
    assert_dataset_props_equal(a, b, ctx)
    va, vb = a[()], b[()]
    if isinstance(va, np.ndarray) and va.dtype.kind != "O":
        assert_bits_equal(vb, va, ctx)
    else:
        assert _norm_value(va) == _norm_value(vb), "%s: values differ" % ctx


def assert_same_structure(in_path, out_path):
    """Same links/kinds, same attributes everywhere; returns the walk."""
    wa, wb = walk(in_path), walk(out_path)
    missing = sorted(set(wa) - set(wb))
    extra = sorted(set(wb) - set(wa))
    assert not missing and not extra, ("structure differs: missing in output %s, extra in output %s"
                                       % (missing[:20], extra[:20]))
    kinds = {p: (wa[p], wb[p]) for p in wa if wa[p] != wb[p]}
    assert not kinds, "object kinds differ (input, output): %r" % kinds
    with h5py.File(in_path, "r") as fa, h5py.File(out_path, "r") as fb:
        for p, kind in wa.items():
            if kind in ("group", "dataset", "datatype"):
                assert_attrs_equal(fa[p], fb[p], "object %s" % p)
    return wa
