"""--backend: cpu, cuda and auto. Without a device (CI), cuda is a clear usage error and auto
falls back to the CPU and says so. With one, every output equals the CPU's byte for byte
(sha256) on generated files and on the twelve real fixtures, also in small device chunks."""

import os

import pytest

import datagen
import h5util

SEED = 6060
EXAMPLE = h5util.EXAMPLE


CUDA = h5util.cuda_usable()
# A build without the CUDA toolkit (-DH5PRUNE_ENABLE_CUDA=OFF) says so instead of naming a device.
CUDA_BUILT = "CUDA yes" in h5util.run_ok("--version").stdout
needs_device = pytest.mark.skipif(not CUDA, reason="no CUDA device")
needs_no_device = pytest.mark.skipif(CUDA, reason="a CUDA device is present")


def _listing(d):
    return sorted(os.listdir(d))


@needs_no_device
def test_cuda_without_device_is_a_usage_error(tmp_path):
    out = tmp_path / "out.h5"
    res = h5util.run("prune", EXAMPLE, "-o", out, "--sparsity", "0.5", "--backend", "cuda")
    assert res.returncode == 2, h5util.describe(res)
    lines = res.stderr.strip().splitlines()
    why = "no usable CUDA device (" if CUDA_BUILT else "this build of h5prune has no CUDA backend ("
    assert len(lines) == 1 and lines[0].startswith("h5prune: error: --backend cuda: " + why), res.stderr
    assert _listing(tmp_path) == [], "left behind: %r" % _listing(tmp_path)


@pytest.fixture(scope="module")
def one_large_tensor(tmp_path_factory):
    """A tensor of 65792 weights, over the 65536 under which the CUDA backend works on the host."""
    path = tmp_path_factory.mktemp("large") / "large.h5"
    return datagen.write_h5(path, {"/w/big/kernel:0": datagen.make_values(SEED, "<f4", (256, 257), "normal"),
                                   "/w/small/kernel:0": datagen.make_values(SEED + 1, "<f4", (16, 16), "normal")})


@needs_no_device
def test_auto_falls_back_to_cpu_and_says_so(tmp_path, one_large_tensor):
    js = h5util.run_json("prune", one_large_tensor, "-o", tmp_path / "a.h5", "--sparsity", "0.5")
    assert js["backend"] == "cpu" and js["device"].startswith("cpu"), js["backend"]
    assert js["backend_note"].startswith("no usable CUDA device ("), js["backend_note"]
    res = h5util.run_ok("prune", one_large_tensor, "-o", tmp_path / "b.h5", "--sparsity", "0.5", "--quiet")
    assert "backend: no usable CUDA device (" in res.stdout and "used the CPU" in res.stdout, res.stdout
    assert h5util.sha256(tmp_path / "a.h5") == h5util.sha256(tmp_path / "b.h5")


def test_auto_keeps_a_model_of_small_tensors_on_the_cpu(tmp_path):
    """Every tensor under the CUDA backend's host cut-over: auto does not start the device (it
    would run them on the host anyway), with or without one, and says so."""
    js = h5util.run_json("prune", EXAMPLE, "-o", tmp_path / "a.h5", "--sparsity", "0.5")
    assert js["backend"] == "cpu", js
    if CUDA_BUILT:
        want = "every selected tensor has fewer than 65536 weights, which the CUDA backend runs on the CPU too; used the CPU"
    else:
        want = "no usable CUDA device (built without CUDA); used the CPU"
    assert js["backend_note"] == want, js["backend_note"]
    # the test hook that sends every tensor to the device lifts it
    js = h5util.run_json("prune", EXAMPLE, "-o", tmp_path / "b.h5", "--sparsity", "0.5",
                         env=dict(os.environ, H5PRUNE_TEST_CUDA_HOST_BELOW="0"))
    if CUDA:
        assert js["backend"] == "cuda" and js["backend_note"] is None, js
    else:
        assert js["backend_note"].startswith("no usable CUDA device ("), js["backend_note"]


def test_explicit_cpu_has_no_note(tmp_path):
    js = h5util.run_json("prune", EXAMPLE, "-o", tmp_path / "a.h5", "--sparsity", "0.5", "--backend", "cpu")
    assert js["backend"] == "cpu" and js["backend_note"] is None, js


@pytest.mark.parametrize("args,message", [
    (["--backend", "gpu"], "invalid value 'gpu' for --backend: expected auto, cpu or cuda"),
    (["--backend", "cuda", "--device-memory-limit", "100K"], "--device-memory-limit must be at least 1M"),
    (["--device-memory-limit", "lots"], "--device-memory-limit"),
], ids=["unknown", "limit_too_small", "limit_malformed"])
def test_bad_backend_options(tmp_path, args, message):
    res = h5util.run("prune", EXAMPLE, "-o", tmp_path / "o.h5", "--sparsity", "0.5", *args)
    assert res.returncode == 2, h5util.describe(res)
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert _listing(tmp_path) == []


@needs_device
def test_auto_picks_cuda(tmp_path, one_large_tensor):
    js = h5util.run_json("prune", one_large_tensor, "-o", tmp_path / "a.h5", "--sparsity", "0.5")
    assert js["backend"] == "cuda" and js["backend_note"] is None, js


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Odd sizes (0, 1, 255, 256, 257 and large), every float dtype, heavy ties and specials."""
    d = tmp_path_factory.mktemp("backends")
    data = {}
    shapes = [(0, 8), (1, 1), (15, 17), (16, 16), (257, 1), (1000, 1003)]
    for i, shape in enumerate(shapes):
        for dt in ("<f2", "<f4", "<f8"):
            for kind in datagen.KINDS:
                data["/w/%s/%s/s%d" % (dt[1:], kind, i)] = datagen.make_values(SEED + i, dt, shape, kind)
    return datagen.write_h5(d / "gen.h5", data)


RULES = {
    "tensor": ["--sparsity", "0.9"],
    "global_mixed": ["--sparsity", "0.35", "--scope", "global"],
    "threshold": ["--threshold", "0.05"],
    "nm": ["--nm", "2:4", "--nm-axis", "last", "--include", "/s[03]$"],  # last axes 8 and 16
    "csr": ["--sparsity", "0.8", "--format", "csr", "--compress"],
    "bitmask": ["--sparsity", "0.8", "--format", "bitmask"],
    "coo_streamed": ["--sparsity", "0.7", "--format", "coo", "--memory-limit", "256K"],
}


@needs_device
@pytest.mark.parametrize("rule", list(RULES), ids=list(RULES))
def test_cuda_equals_cpu_on_generated(tmp_path, generated, rule):
    outs = {}
    all_on_device = dict(os.environ, H5PRUNE_TEST_CUDA_HOST_BELOW="0")  # sizes 0..257 through the kernels too
    for name, extra, env in [("cpu", ["--backend", "cpu"], None), ("cuda", ["--backend", "cuda"], None),
                             ("cuda_all", ["--backend", "cuda"], all_on_device),
                             ("cuda_1M", ["--backend", "cuda", "--device-memory-limit", "1M"], all_on_device)]:
        out = tmp_path / ("%s.h5" % name)
        js = h5util.run_json("prune", generated, "-o", out, *RULES[rule], *extra, env=env)
        outs[name] = (h5util.sha256(out), [(t["path"], t["pruned"], t["ties"], t["retained_l2"]) for t in js["tensors"]])
    assert outs["cuda"] == outs["cpu"], "[%s seed=%d] cuda differs from cpu" % (rule, SEED)
    assert outs["cuda_all"] == outs["cpu"], "[%s seed=%d] cuda with every tensor on the device differs" % (rule, SEED)
    assert outs["cuda_1M"] == outs["cpu"], "[%s seed=%d] cuda in 1M chunks differs from cpu" % (rule, SEED)


@needs_device
def test_cuda_equals_cpu_on_fixtures(tmp_path, fixture_file):
    path, name = fixture_file, os.path.basename(fixture_file)
    for rule in (["--sparsity", "0.5"], ["--sparsity", "0.9", "--scope", "global"]):
        shas = {}
        # The fixtures' tensors are mostly small: send them all through the device.
        env = dict(os.environ, H5PRUNE_TEST_CUDA_HOST_BELOW="0")
        for backend in ("cpu", "cuda"):
            out = tmp_path / ("%s_%s.h5" % (backend, rule[-1]))
            h5util.run_ok("prune", path, "-o", out, *rule, "--backend", backend, env=env)
            shas[backend] = h5util.sha256(out)
        assert shas["cuda"] == shas["cpu"], "[%s %s] %r" % (name, " ".join(rule), shas)
