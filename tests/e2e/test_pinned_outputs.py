"""Output bytes pinned: a generated model's outputs keep the SHA-256 they had before the
I/O work of issue 16, for every rule, on the resident and the streamed paths.

The pins hold for this project's Debian HDF5 and h5py (the input file's bytes and the HDF5
writer both take part). A change of either may move them; update a pin only with a reason
written in the commit, never to make a code change pass. Where a CUDA device is usable, the
CUDA backend must give the CPU's bytes, with every tensor sent through the device."""

import os

import h5py
import pytest

import datagen
import h5util

SEED = 1616


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Contiguous float16/32/64 tensors, a gzip-chunked float32 one with a fill value, a bias."""
    path = tmp_path_factory.mktemp("pinned") / "model.h5"
    with h5py.File(path, "w", track_order=False) as f:
        f.create_dataset("/w/dense/kernel:0", data=datagen.make_values(SEED, "<f4", (256, 384), "normal"),
                         track_times=False)
        f.create_dataset("/w/dense/bias:0", data=datagen.make_values(SEED + 1, "<f4", (384,), "normal"),
                         track_times=False)
        f.create_dataset("/w/half/kernel:0", data=datagen.make_values(SEED + 2, "<f2", (120, 200), "ties"),
                         track_times=False)
        f.create_dataset("/w/double/kernel:0", data=datagen.make_values(SEED + 3, "<f8", (64, 96), "special"),
                         track_times=False)
        f.create_dataset("/w/conv/kernel:0", data=datagen.make_values(SEED + 4, "<f4", (3, 3, 32, 64), "ties"),
                         chunks=(3, 3, 16, 16), compression="gzip", compression_opts=1, fillvalue=0.5,
                         track_times=False)
        f.attrs["keras_version"] = "2.8.0"
    return path


# The model's own bytes as this project's Debian h5py 3.7.0 / HDF5 1.10.8 write them: an output pin
# can be judged only on this input.
INPUT_SHA256 = "0f916b11dfd42ce73ddff25b56c18729dc402d4a6de3913dd711aa762e0cab02"

# rule -> output SHA-256 (recorded with main at 85fc543, before the issue-16 changes)
PINS = {
    "sparsity 0.9": (["--sparsity", "0.9"],
        "865bbee1685d1cb06b3c65d8472fa2ff0c9f340d3c185f64f7b7fb3bed6fe592"),
    "global 0.35": (["--sparsity", "0.35", "--scope", "global"],
        "dd6b53445039be3d4350e623dbdb0df348db1856e9523bbe46a3df0b62e04e70"),
    "threshold 0.01": (["--threshold", "0.01"],
        "96372057e4956c9933d0e584b4373d8aaacf6907c9770a2fefd4c1e4ee2bbf78"),
    "nm 2:4": (["--nm", "2:4", "--nm-axis", "last", "--exclude", "half|double"],  # the pin predates the input-axis default
        "3035b2053202399631dfa941e5acf680c83c77a156876379f5d9d3f9e9616ee2"),
    "csr global 0.6": (["--sparsity", "0.6", "--scope", "global", "--format", "csr"],
        "803252533eb85729246e623cb2c65edcf97e5d4d5b5f5b40d10a7dd8e9452c81"),
    "bitmask 0.7": (["--sparsity", "0.7", "--format", "bitmask", "--compress"],
        "6a14cc722b073ae24392f48342511c56a32487ce6c7306301b41338baa79bbc2"),
}

# resident (everything fits), streamed (slabs of a quarter of 64K), streamed with one thread
PATHS = {"resident": [], "streamed": ["--memory-limit", "64K"], "streamed_t1": ["--memory-limit", "100K", "--threads", "1"]}


@pytest.mark.parametrize("rule", list(PINS), ids=lambda r: r.replace(" ", "_"))
@pytest.mark.parametrize("path", list(PATHS))
def test_output_sha256_pinned(tmp_path, model, rule, path):
    args, want = PINS[rule]
    got_input = h5util.sha256(model)
    assert got_input == INPUT_SHA256, (
        "the generated model is not the pinned input (sha256 %s, pinned %s): h5py %s with HDF5 %s wrote other bytes "
        "than Debian's h5py 3.7.0 with HDF5 1.10.8, so the output pins cannot be judged here"
        % (got_input, INPUT_SHA256, h5py.version.version, h5py.version.hdf5_version))
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", model, "-o", out, *args, "--backend", "cpu", *PATHS[path])
    got = h5util.sha256(out)
    ctx = "[pinned %s, %s path, seed=%d]" % (rule, path, SEED)
    assert js["output"]["sha256"] == got, "%s --json output.sha256 %s != the file's %s" % (ctx, js["output"]["sha256"], got)
    if path != "resident":
        assert js["streamed"] is True, "%s: expected a streamed run: %r" % (ctx, js.get("streamed"))
    assert got == want, "%s: output sha256 %s, pinned %s" % (ctx, got, want)


@pytest.mark.parametrize("rule", list(PINS), ids=lambda r: r.replace(" ", "_"))
@pytest.mark.parametrize("path", list(PATHS))
def test_cuda_gives_the_cpu_bytes(tmp_path, model, rule, path):
    """The pins depend on the HDF5 and h5py that wrote the model (a GPU machine's may differ),
    so CUDA is held to the CPU's output on the same model; test_output_sha256_pinned holds the
    CPU to the pin. Every tensor goes through the device (its default keeps small ones on the host)."""
    if not h5util.cuda_usable():
        pytest.skip("no CUDA device")
    args, _ = PINS[rule]
    on_device = dict(os.environ, H5PRUNE_TEST_CUDA_HOST_BELOW="0")
    got = {}
    for backend in ("cpu", "cuda"):
        out = tmp_path / ("%s.h5" % backend)
        js = h5util.run_json("prune", model, "-o", out, *args, "--backend", backend, *PATHS[path], env=on_device)
        assert js["backend"] == backend, js["backend"]
        got[backend] = h5util.sha256(out)
    assert got["cuda"] == got["cpu"], "[%s, %s path, seed=%d] cuda %s, cpu %s" % (rule, path, SEED, got["cuda"], got["cpu"])
