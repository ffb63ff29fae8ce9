"""The twelve real fixtures: densify(prune --format X) == prune --format dense by sha256 for
X in csr, coo, bitmask, nm, and every layout read back with h5py/scipy equals the dense output."""

import os
import re

import h5py
import pytest

import h5util
import reference
import test_sparse


def nm_selection(path):
    """(N:M, include regex) for the selected tensors whose last axis N:M can group: 2:4 where
    some last axes are multiples of 4, else 1:2 on even ones, else 1:1 on all."""
    paths = reference.select(path)
    with h5py.File(path, "r") as f:
        last = {p: f[p].shape[-1] for p in paths}
    for nm, m in (("2:4", 4), ("1:2", 2), ("1:1", 1)):
        ok = [p for p in paths if last[p] % m == 0]
        if ok:
            return nm, "^(" + "|".join(re.escape(p) for p in ok) + ")$", ok
    raise AssertionError("no tensor selected in %s" % path)


@pytest.mark.parametrize("fmt", ["csr", "coo", "bitmask"])
def test_fixture_layouts_densify(tmp_path, fixture_file, fmt):
    name = os.path.basename(fixture_file)
    ctx = "[fixture %s --format %s --sparsity 0.5]" % (name, fmt)
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "sp.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", fixture_file, "-o", dense, "--sparsity", "0.5")
    js = h5util.run_json("prune", fixture_file, "-o", sp, "--sparsity", "0.5", "--format", fmt)
    tensors = [t["path"] for t in js["tensors"]]
    assert tensors == reference.select(fixture_file), ctx
    test_sparse.check_layout_matches_dense(sp, dense, tensors, ctx)
    h5util.run_ok("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "%s: densify != --format dense by sha256" % ctx


def test_fixture_nm_densify(tmp_path, fixture_file):
    name = os.path.basename(fixture_file)
    nm, include, tensors = nm_selection(fixture_file)
    ctx = "[fixture %s --nm %s on %d tensors]" % (name, nm, len(tensors))
    dense, sp, back = tmp_path / "dense.h5", tmp_path / "sp.h5", tmp_path / "back.h5"
    h5util.run_ok("prune", fixture_file, "-o", dense, "--nm", nm, "--nm-axis", "last", "--include", include)
    h5util.run_ok("prune", fixture_file, "-o", sp, "--nm", nm, "--nm-axis", "last", "--include", include, "--format", "nm")
    test_sparse.check_layout_matches_dense(sp, dense, tensors, ctx)
    h5util.run_ok("densify", sp, "-o", back)
    assert h5util.sha256(back) == h5util.sha256(dense), "%s: densify != --format dense by sha256" % ctx
