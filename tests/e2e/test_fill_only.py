"""Datasets that hold only their fill value (never written, no storage allocated): the pruned
copy of a tensor of zeros is left unwritten (zeros stay +0.0 under every rule), so a declared
64 MiB tensor of zeros gives a small output (a (2^16, 2^16) one once gave 17 GB), with honest
counts; a nonzero fill value, which pruning changes, is written; values checked against numpy."""

import h5py
import numpy as np
import pytest

import h5util


def make(path, layout, fill=None, written=None):
    with h5py.File(path, "w") as f:
        kw = {"chunks": (256, 256)} if layout == "chunked" else {}
        if fill is not None:
            kw["fillvalue"] = fill
        d = f.create_dataset("/dense/kernel", shape=(4096, 4096), dtype="<f4", **kw)
        if written is not None:
            d[:256, :256] = written
        f.create_dataset("/dense/bias", data=np.arange(8, dtype="<f4"))


def storage(path, name="/dense/kernel"):
    with h5py.File(path, "r") as f:
        return f[name].id.get_storage_size()


@pytest.mark.parametrize("layout", ["contiguous", "chunked"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_zero_fill_only_tensor_stays_unwritten(tmp_path, layout, fmt):
    src = tmp_path / "m.h5"
    make(src, layout)
    assert storage(src) == 0
    js = h5util.run_json("prune", src, "-o", tmp_path / "out.h5", "--sparsity", "0.5", "--format", fmt)
    n = 4096 * 4096
    t = [t for t in js["tensors"] if t["path"] == "/dense/kernel"][0]
    assert t["zeros_before"] == n and t["zeros_after"] == n, t
    assert (tmp_path / "out.h5").stat().st_size < (1 << 20), "the fill-only tensor was written out"
    if fmt == "dense":
        assert storage(tmp_path / "out.h5") == 0
        with h5py.File(tmp_path / "out.h5", "r") as f:
            got = f["/dense/kernel"][...]
        assert got.shape == (4096, 4096) and not np.signbit(got).any() and not got.any()
    res = h5util.run("densify", tmp_path / "out.h5", "-o", tmp_path / "back.h5") if fmt == "csr" else None
    if res is not None:
        assert res.returncode == 0, h5util.describe(res)
        with h5py.File(tmp_path / "back.h5", "r") as f:
            assert not f["/dense/kernel"][...].any()


@pytest.mark.parametrize("fill", [0.5, -0.0])
@pytest.mark.parametrize("layout", ["contiguous", "chunked"])
def test_nonzero_fill_is_pruned_and_written(tmp_path, layout, fill):
    # A fill value of 0.5 (or -0.0, whose bytes are not zero) pruned at 0.25: the first quarter of
    # the positions (ties by position) become +0.0, the rest keep the fill. Those values are written.
    src = tmp_path / "m.h5"
    make(src, layout, fill=fill)
    res = h5util.run_ok("prune", src, "-o", tmp_path / "out.h5", "--sparsity", "0.25")
    n = 4096 * 4096
    expect = np.full(n, fill, dtype="<f4")
    expect[: n // 4] = 0.0
    with h5py.File(tmp_path / "out.h5", "r") as f:
        got = f["/dense/kernel"][...].reshape(-1)
    h5util.assert_bits_equal(got, expect, res.stdout)
