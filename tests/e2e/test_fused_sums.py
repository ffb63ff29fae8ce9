"""A resident tensor is read, scanned, pruned and written in cache-sized pieces (host/pipeline,
kernels/backend.hpp "sum_from"); the sums it reports must still follow the one documented order
(kernels/lane_sum.hpp: blocks of 16384 elements from the tensor's start, 32 lanes folded in halves,
blocks added in order), bit for bit, as a single call over the whole tensor (and the GPU) gives.
The reference below computes that order in numpy; retained_l2 = sqrt(after / before) must match it
exactly, and the output must be the numpy pruning."""

import math

import h5py
import numpy as np
import pytest

import datagen
import h5util

BLOCK, LANES = 16384, 32


def lane_order_sum(values):
    """Sum of squares of |values| (NaN adds nothing) in the documented block/lane order."""
    sq = np.abs(values.astype(np.float64).ravel())
    sq = np.where(np.isnan(sq), 0.0, sq * sq)
    total = 0.0
    for b in range(0, sq.size, BLOCK):
        blk = sq[b:b + BLOCK]
        m = blk.size // LANES * LANES
        lanes = np.zeros(LANES)
        if m:
            lanes = np.add.accumulate(blk[:m].reshape(-1, LANES), axis=0)[-1].copy()  # in position order
        for j, v in enumerate(blk[m:]):
            lanes[j] += v
        half = LANES // 2
        while half:
            lanes[:half] += lanes[half:2 * half]
            half //= 2
        total += float(lanes[0])
    return total


def numpy_prune(values, sparsity):
    flat = values.ravel().copy()
    k = int(round(sparsity * flat.size))  # exact here: sizes are multiples of 4
    order = np.argsort(np.abs(flat), kind="stable")  # ties: lower position first
    flat[order[:k]] = 0
    return flat.reshape(values.shape)


@pytest.mark.parametrize("dtype,shape,kind", [
    ("<f4", (2048, 1024), "normal"),  # 8 MB: two 4 MB pieces of whole blocks
    ("<f8", (1024, 1536), "ties"),    # 12 MB: rows of 1536, pieces of lcm(1536, 16384) elements
    ("<f4", (1000, 1000), "normal"),  # rows that no block-aligned piece near 4 MB fits: taken whole
    ("<f2", (4096, 1024), "normal"),  # float16: 8 MB, one radix digit
])
def test_resident_sums_follow_lane_order(tmp_path, dtype, shape, kind):
    values = datagen.make_values(7, dtype, shape, kind)
    model = datagen.write_h5(tmp_path / "m.h5", {"/w/kernel": values})
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.5", "--threads", "2")
    assert js["streamed"] is False
    with h5py.File(out, "r") as f:
        got = f["/w/kernel"][...]
    h5util.assert_bits_equal(got.ravel(), numpy_prune(values, 0.5).ravel(), "/w/kernel")
    before, after = lane_order_sum(values), lane_order_sum(got)
    t = js["tensors"][0]
    assert t["retained_l2"] == math.sqrt(after / before), (t["retained_l2"], math.sqrt(after / before))


def test_global_scope_over_several_tensors(tmp_path):
    a = datagen.make_values(8, "<f4", (2048, 1024), "normal")
    b = datagen.make_values(9, "<f4", (512, 4096), "ties")
    model = datagen.write_h5(tmp_path / "m.h5", {"/a/kernel": a, "/b/kernel": b})
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.7", "--scope", "global")
    with h5py.File(out, "r") as f:
        got = {p: f[p][...] for p in ("/a/kernel", "/b/kernel")}
    for t in js["tensors"]:
        src = a if t["path"] == "/a/kernel" else b
        assert t["retained_l2"] == math.sqrt(lane_order_sum(got[t["path"]]) / lane_order_sum(src)), t["path"]
