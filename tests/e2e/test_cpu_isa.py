"""The CPU backend is built twice (kernels/cpu/cpu_backend.cpp): baseline x86-64 and AVX2, the
latter chosen when the processor has it. Both must give the same bytes and the same numbers:
every rule, dtype and path here runs under both (H5PRUNE_CPU_ISA=baseline forces the plain
build) and the outputs and JSON summaries are compared exactly (timings aside)."""

import json
import os

import pytest

import datagen
import h5util

pytestmark = pytest.mark.skipif("avx2" not in open("/proc/cpuinfo").read(), reason="the processor has no AVX2")

RUNS = [
    ["prune", "--sparsity", "0.7"],
    ["prune", "--sparsity", "0.9", "--scope", "global"],
    ["prune", "--sparsity", "0.5", "--memory-limit", "256K"],
    ["prune", "--threshold", "0.05"],
    ["prune", "--nm", "2:4"],
    ["prune", "--sparsity", "0.5", "--structured", "l2"],
    ["prune", "--sparsity", "0.6", "--format", "csr"],
    ["sweep", "--sparsity", "0.1,0.5,0.9", "--scope", "global"],
    ["stats"],
]


def _model(tmp_path):
    data = {"/a/kernel": datagen.make_values(21, "<f4", (512, 768), "special"),
            "/b/kernel": datagen.make_values(22, "<f8", (256, 512), "ties"),
            "/c/kernel": datagen.make_values(23, "<f2", (1024, 256), "normal"),
            "/d/kernel": datagen.make_values(24, "<f4", (300, 1000), "ties")}
    for k, v in data.items():  # NaN stops a prune; the special values keep Inf, -0.0, subnormals
        v[v != v] = 0.5
    return datagen.write_h5(tmp_path / "m.h5", data)


def _run(tmp_path, model, args, isa):
    env = dict(os.environ)
    env.pop("H5PRUNE_CPU_ISA", None)
    if isa:
        env["H5PRUNE_CPU_ISA"] = isa
    out = tmp_path / ("out_%s.h5" % (isa or "auto"))
    cmd = [args[0], model] + (["-o", out] if args[0] == "prune" else []) + args[1:]
    js = h5util.run_json(*cmd, env=env)
    for drop in ("seconds", "output", "memory_limit"):
        js.pop(drop, None)
    return js, (h5util.sha256(out) if args[0] == "prune" else None)


@pytest.mark.parametrize("args", RUNS, ids=lambda a: " ".join(a))
def test_avx2_and_baseline_agree(tmp_path, args):
    model = _model(tmp_path)
    auto, auto_file = _run(tmp_path, model, args, None)
    base, base_file = _run(tmp_path, model, args, "baseline")
    if "device" in auto:  # the device names the build that ran
        assert "AVX2" in auto["device"] and "AVX2" not in base["device"], (auto["device"], base["device"])
        auto.pop("device"), base.pop("device")
    assert auto_file == base_file
    assert json.dumps(auto, sort_keys=True) == json.dumps(base, sort_keys=True)
