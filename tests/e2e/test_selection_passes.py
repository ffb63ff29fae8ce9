"""How many passes the threshold's selection takes, and that every way of taking them gives the
same answer. When every tensor of a scope lies in the input as memory holds it (contiguous,
uncompressed), a 1/256 sample read where it lies bounds the k-th key before the scan, the scan
gathers the keys between the bounds, and the selection ends on them (`selection_bytes` 0). A bound
that missed, a scope with no sample (a chunked tensor), and the radix passes digit by digit take
more passes: the test hook H5PRUNE_TEST_SELECTION
(miss, bin, radix) forces each, and each output is checked against the numpy reference and must
be the same bytes as the others."""

import os

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util

SEED = 4242
MODES = ("", "miss", "bin", "radix")


def _mixed(path):
    """float16/32/64 (a global scope keys them in float64), ties, specials, odd sizes, and tensors
    longer than one sample stride (65536 elements)."""
    return datagen.write_h5(path, {
        "/a/kernel": datagen.make_values(SEED, "<f4", (600, 700), "normal"),
        "/b/kernel": datagen.make_values(SEED + 1, "<f4", (257, 513), "ties"),
        "/c/kernel": datagen.make_values(SEED + 2, "<f8", (300, 301), "special"),
        "/d/kernel": datagen.make_values(SEED + 3, "<f2", (129, 1000), "normal"),
        "/e/kernel": datagen.make_values(SEED + 4, "<f4", (3, 5), "normal"),
        "/e/bias": datagen.make_values(SEED + 5, "<f4", (5,), "normal"),
    })


def _plain(path):
    """Three float32 layers of 300K weights each, at three scales."""
    rng = np.random.default_rng(SEED)
    return datagen.write_h5(path, {"/l%d/kernel" % i: (rng.standard_normal((600, 500)) * 0.02 * (i + 1)).astype("<f4")
                                   for i in range(3)})


def _prune(src, out, sparsity, scope, mode, *extra, env_extra=None):
    env = dict(os.environ, H5PRUNE_TEST_SELECTION=mode, **(env_extra or {}))
    return h5util.run_json("prune", src, "-o", out, "--sparsity", sparsity, "--scope", scope, "--force", *extra, env=env)


@pytest.mark.parametrize("scope", ["global", "tensor"])
@pytest.mark.parametrize("sparsity", ["0", "0.00001", "0.5", "0.9", "1"])
def test_every_path_gives_the_reference(tmp_path, scope, sparsity):
    src = _mixed(tmp_path / "m.h5")
    shas = {}
    for mode in MODES:
        out = tmp_path / ("out_%s.h5" % (mode or "sample"))
        ctx = "[mixed --sparsity %s --scope %s, H5PRUNE_TEST_SELECTION=%r]" % (sparsity, scope, mode)
        js = _prune(src, out, sparsity, scope, mode)
        checks.check_against_reference(js, src, out, ["--sparsity", sparsity, "--scope", scope], ctx)
        shas[mode] = h5util.sha256(out)
    assert len(set(shas.values())) == 1, "the paths wrote different bytes: %r" % shas


def test_one_pass_when_the_sample_holds(tmp_path):
    src = _plain(tmp_path / "p.h5")
    weight_bytes = 3 * 600 * 500 * 4
    got = {}
    for mode in MODES:
        out = tmp_path / ("out_%s.h5" % (mode or "sample"))
        js = _prune(src, out, "0.9", "global", mode)
        checks.check_against_reference(js, src, out, ["--sparsity", "0.9", "--scope", "global"], "[plain %r]" % mode)
        got[mode] = js["selection_bytes"]
        assert js["bytes_mapped"] == weight_bytes, (mode, js["bytes_mapped"])
    assert got[""] == 0, "the sample's bounds should have held the threshold: %r" % got
    assert got["bin"] == weight_bytes, "no sample: one pass gathers the threshold's bin: %r" % got
    assert got["miss"] == 2 * weight_bytes, "a missed bound: the first digit, then the bin: %r" % got
    assert got["radix"] >= weight_bytes, "radix: the second digit's pass at least: %r" % got
    # Tensor scope: the same, tensor by tensor.
    js = _prune(src, tmp_path / "t.h5", "0.9", "tensor", "")
    assert js["selection_bytes"] == 0, js["selection_bytes"]


@pytest.mark.parametrize("how", ["streamed", "mapping off", "chunked"])
def test_sample_read_where_the_bytes_lie(tmp_path, how):
    """A streamed scope, or one read into memory (mapping off), is sampled straight from the file
    (one pass); a chunked tensor cannot be (its sample would cost a read): one more pass gathers
    the chosen bin. The answer is the reference's, and the radix path's bytes."""
    src = _plain(tmp_path / "p.h5")
    extra, env_extra = [], None
    if how == "streamed":
        extra = ["--memory-limit", "1M"]
    elif how == "chunked":
        with h5py.File(src, "a") as f:
            data = f["/l1/kernel"][()]
            del f["/l1/kernel"]
            f.create_dataset("/l1/kernel", data=data, chunks=(100, 100))
    else:
        env_extra = {"H5PRUNE_MAP_INPUT": "0"}
    out = tmp_path / "o.h5"
    js = _prune(src, out, "0.9", "global", "", *extra, env_extra=env_extra)
    checks.check_against_reference(js, src, out, ["--sparsity", "0.9", "--scope", "global"], "[%s]" % how)
    if how == "chunked":
        assert js["selection_bytes"] == 3 * 600 * 500 * 4, (how, js["selection_bytes"])
    else:
        assert js["selection_bytes"] == 0, (how, js["selection_bytes"])
    if how == "streamed":
        assert js["streamed"] and js["bytes_read"] == 2 * 3 * 600 * 500 * 4, js["bytes_read"]  # scan and write
    ref = tmp_path / "ref.h5"
    _prune(src, ref, "0.9", "global", "radix", *extra, env_extra=env_extra)
    with h5py.File(out, "r") as a, h5py.File(ref, "r") as b:
        for p in ("/l0/kernel", "/l1/kernel", "/l2/kernel"):
            h5util.assert_bits_equal(a[p][()], b[p][()], "%s %s" % (how, p))


def test_no_sample_from_a_cold_file(tmp_path):
    """The sample reads only what the page cache holds (a cold file's runs would be random reads
    from the disk): with the input's pages dropped, the scan takes the first digit and one more
    pass gathers the bin, and the answer is the reference's."""
    src = _plain(tmp_path / "p.h5")
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages of this file leave the cache
    finally:
        os.close(fd)
    out = tmp_path / "o.h5"
    js = _prune(src, out, "0.9", "global", "")
    assert js["selection_bytes"] == 3 * 600 * 500 * 4, "a cold input was sampled: %r" % js["selection_bytes"]
    checks.check_against_reference(js, src, out, ["--sparsity", "0.9", "--scope", "global"], "[cold]")
    # Warm now (the run read it): the sample is taken.
    js = _prune(src, tmp_path / "o2.h5", "0.9", "global", "")
    assert js["selection_bytes"] == 0, js["selection_bytes"]


def test_sample_from_a_file_the_cache_holds_in_part(tmp_path):
    """Up to 1/64 of the sample's runs may come from the disk: a file whose last two 256 KiB
    periods are not cached is still sampled (128 runs: 2 allowed); one missing five is not."""
    rng = np.random.default_rng(SEED)
    src = datagen.write_h5(tmp_path / "big.h5", {"/w/kernel": (rng.standard_normal((4096, 2048)) * 0.05).astype("<f4")})
    with h5py.File(src, "r") as f:
        data_end = f["/w/kernel"].id.get_offset() + 4096 * 2048 * 4
    period = 256 * 256 * 4  # bytes between the sample's runs (one run of 256 float32 in each)

    def cache_all_but_last_periods(count):
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # all out
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)    # no read-ahead past what is read
            end = data_end - count * period
            pos = 0
            while pos < end:
                pos += len(os.pread(fd, min(1 << 20, end - pos), pos))
        finally:
            os.close(fd)

    cache_all_but_last_periods(2)
    js = _prune(src, tmp_path / "o1.h5", "0.9", "global", "")
    assert js["selection_bytes"] == 0, "two uncached runs of 128 should be read: %r" % js["selection_bytes"]
    cache_all_but_last_periods(5)
    out = tmp_path / "o2.h5"
    js = _prune(src, out, "0.9", "global", "")
    assert js["selection_bytes"] == 4096 * 2048 * 4, "five uncached runs: no sample: %r" % js["selection_bytes"]
    checks.check_against_reference(js, src, out, ["--sparsity", "0.9", "--scope", "global"], "[part cached]")
