"""Sparse layout groups whose descriptive attributes contradict what they store (a bogus
h5prune_dtype such as '<f3', float index arrays, h5prune_nm_axis 99, a 'shape' that differs,
a bit order other than 'little') are refused by stats and densify: exit 3, one line naming the
file and the tensor, nothing written. Files written by prune, then damaged with h5py."""

import os

import h5py
import numpy as np
import pytest

import datagen
import h5util

TENSOR = "/dense/kernel"


def sparse_file(tmp_path, fmt):
    src = tmp_path / "m.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset(TENSOR, data=datagen.make_values(1313, "<f4", (16, 8), "normal"))
    out = tmp_path / ("s_%s.h5" % fmt)
    extra = ["--nm", "2:4", "--nm-axis", "last"] if fmt == "nm" else ["--sparsity", "0.5"]
    h5util.run_ok("prune", src, "-o", out, "--format", fmt, *extra)
    return out


def set_attr(g, name, value):
    del g.attrs[name]
    g.attrs[name] = value


def float_dataset(g, name):
    values = g[name][...].astype("<f8")
    del g[name]
    g.create_dataset(name, data=values)


DAMAGE = {
    "dtype_f3": ("csr", lambda g: set_attr(g, "h5prune_dtype", np.bytes_("<f3")), "h5prune_dtype '<f3'"),
    "dtype_order": ("coo", lambda g: set_attr(g, "h5prune_dtype", np.bytes_(">f4")), "h5prune_dtype '>f4'"),
    "csr_float_indices": ("csr", lambda g: float_dataset(g, "indices"), "'indices' is not an integer dataset"),
    "csr_float_indptr": ("csr", lambda g: float_dataset(g, "indptr"), "'indptr' is not an integer dataset"),
    "coo_float_indices": ("coo", lambda g: float_dataset(g, "indices"), "'indices' is not an integer dataset"),
    "nm_float_positions": ("nm", lambda g: float_dataset(g, "positions"), "'positions' is not an integer dataset"),
    "nm_axis_99": ("nm", lambda g: set_attr(g, "h5prune_nm_axis", np.array([99], dtype="<u8")), "h5prune_nm_axis"),
    "shape": ("coo", lambda g: set_attr(g, "shape", np.array([8, 16], dtype="<u8")), "attribute 'shape'"),
    "bit_order": ("bitmask", lambda g: set_attr(g, "h5prune_bit_order", np.bytes_("big")), "h5prune_bit_order"),
}


@pytest.mark.parametrize("command", ["stats", "densify"])
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_inconsistent_layout_attributes_are_refused(tmp_path, case, command):
    fmt, damage, words = DAMAGE[case]
    path = sparse_file(tmp_path, fmt)
    h5util.run_ok(command, path, *(["-o", tmp_path / "ok.h5"] if command == "densify" else []))  # sound before
    with h5py.File(path, "r+") as f:
        damage(f[TENSOR])
    out = tmp_path / "out"
    out.mkdir()
    args = [command, path] + (["-o", out / "dense.h5"] if command == "densify" else [])
    res = h5util.run(*args)
    ctx = h5util.describe(res)
    assert res.returncode == 3, ctx
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error: sparse tensor " + TENSOR), ctx
    assert str(path) in lines[0] and words in lines[0], ctx
    assert os.listdir(out) == [], ctx
