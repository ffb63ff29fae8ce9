"""The twelve real Keras/Caffe HDF5 files: stats, and prune with both scopes, against the reference."""

import os

import h5py
import numpy as np
import pytest

import checks
import h5util
import reference


def _float_datasets(path):
    with h5py.File(path, "r") as f:
        return {p: (d.size, d.dtype, d.ndim) for p, d in reference.walk_datasets(f).items()
                if reference.is_float_dtype(d.dtype)}


def test_fixture_count(fixtures_dir):
    present = [n for n in h5util.FIXTURE_NAMES if os.path.isfile(os.path.join(fixtures_dir, n))]
    assert len(present) == 12, "expected the twelve fixtures in %s, found %d" % (fixtures_dir, len(present))


def test_stats(fixture_file):
    name = os.path.basename(fixture_file)
    h5util.run_ok("stats", fixture_file)
    js = h5util.run_json("stats", fixture_file)
    floats = _float_datasets(fixture_file)
    got = {t["path"]: t for t in js["tensors"]}
    assert sorted(got) == sorted(floats), ("[stats %s] rows %s\n!= float datasets %s"
                                           % (name, sorted(got), sorted(floats)))
    with h5py.File(fixture_file, "r") as f:
        n_all = len(reference.walk_datasets(f))
        opt = reference.optimizer_root(f)
        biases = reference.bias_paths(f)
        for p, (n, dt, nd) in floats.items():
            t = got[p]
            assert t["n"] == n, "[stats %s] %s n=%r expected %d" % (name, p, t["n"], n)
            x = f[p][()]
            zeros = int(np.count_nonzero(x == 0))
            assert t["zeros"] == zeros, "[stats %s] %s zeros=%r expected %d" % (name, p, t["zeros"], zeros)
            assert t["nan"] == 0, "[stats %s] %s nan=%r" % (name, p, t["nan"])
            assert t["selected"] == reference.is_selected(p, dt, nd, optimizer=opt, biases=biases), (
                "[stats %s] %s selected=%r" % (name, p, t["selected"]))
            if n:
                mag = np.abs(np.asarray(x, dtype=np.float64))
                assert t["max_abs"] == pytest.approx(float(mag.max()), rel=1e-12), "[stats %s] %s max_abs" % (name, p)
                assert t["min_abs"] == pytest.approx(float(mag.min()), rel=1e-12, abs=1e-300), "[stats %s] %s min_abs" % (name, p)
    assert js["total"]["n"] == sum(v[0] for v in floats.values()), "[stats %s] total.n" % name
    assert js["other_datasets"] == n_all - len(floats), "[stats %s] other_datasets" % name


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_prune_fixture(tmp_path, fixture_file, scope):
    name = os.path.basename(fixture_file)
    ctx = "[fixture %s --sparsity 0.5 --scope %s]" % (name, scope)
    before = h5util.sha256(fixture_file)
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", fixture_file, "-o", out, "--sparsity", "0.5", "--scope", scope)
    assert h5util.sha256(fixture_file) == before, "%s: input modified" % ctx
    paths, res, tensors = reference.prune_file(fixture_file, sparsity="0.5", scope=scope)
    assert paths, "%s: reference selects nothing" % ctx
    tree = h5util.assert_same_structure(fixture_file, out)
    with h5py.File(fixture_file, "r") as fa, h5py.File(out, "r") as fb:
        for p, kind in tree.items():
            if kind != "dataset":
                continue
            if p in tensors:
                h5util.assert_dataset_props_equal(fa[p], fb[p], "%s selected %s" % (ctx, p))
            else:
                h5util.assert_dataset_identical(fa[p], fb[p], "%s unselected %s" % (ctx, p))
    checks.check_output_tensors(out, paths, res, ctx)
    checks.check_summary(js, paths, res, tensors, ctx, sparsity="0.5", scope=scope)
