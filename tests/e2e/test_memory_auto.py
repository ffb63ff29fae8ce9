"""--memory-limit auto (the default): half of what the cgroup (v2/v1) or MemAvailable leaves,
read from fake /proc and /sys/fs/cgroup files through the H5PRUNE_TEST_SYSROOT hook; a file that
fits is read once, one that does not is streamed, with the same output bytes."""

import os
import re

import pytest

import datagen
import h5util

SEED = 1717
GiB = 1 << 30


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("memauto")
    data = {
        "/w/a/kernel": datagen.make_values(SEED, "<f4", (300, 400), "normal"),
        "/w/b/kernel": datagen.make_values(SEED + 1, "<f2", (128, 96), "ties"),
        "/w/c/kernel": datagen.make_values(SEED + 2, "<f8", (64, 50), "special"),
        "/w/a/bias": datagen.make_values(SEED + 3, "<f4", (400,), "normal"),
    }
    return datagen.write_h5(d / "model.h5", data), 300 * 400 * 4 + 128 * 96 * 2 + 64 * 50 * 8


@pytest.mark.parametrize("rule", [["--sparsity", "0.9", "--scope", "global"], ["--sparsity", "0.6"]],
                         ids=["global", "tensor"])
def test_auto_from_cgroup_v2_reads_once(tmp_path, model, rule):
    path, selected = model
    root = h5util.fake_sysroot(tmp_path, "0::/slurm/job_5/step_0", {
        "sys/fs/cgroup/slurm/job_5/memory.max": str(GiB),
        "sys/fs/cgroup/slurm/job_5/memory.current": str(GiB // 4),
        "sys/fs/cgroup/slurm/job_5/step_0/memory.max": "max",
    })
    env = dict(os.environ, H5PRUNE_TEST_SYSROOT=root)
    out = tmp_path / "auto.h5"
    js = h5util.run_json("prune", path, "-o", out, *rule, env=env)
    ctx = "[memory auto %s seed=%d]" % (" ".join(rule), SEED)
    assert js["memory_limit"]["bytes"] == (GiB - GiB // 4) // 2, "%s %r" % (ctx, js["memory_limit"])
    assert "cgroup v2 /slurm/job_5/step_0" in js["memory_limit"]["auto"], "%s %r" % (ctx, js["memory_limit"])
    assert js["streamed"] is False and js["bytes_read"] == selected, (
        "%s a file that fits is read once: bytes_read %d, selected %d" % (ctx, js["bytes_read"], selected))
    small = tmp_path / "small.h5"
    js2 = h5util.run_json("prune", path, "-o", small, *rule, "--memory-limit", "64K")
    assert js2["memory_limit"] == {"bytes": 64 << 10, "auto": None}, "%s explicit size: %r" % (ctx, js2["memory_limit"])
    assert js2["streamed"] is True and js2["bytes_read"] > selected, "%s 64K streams and re-reads" % ctx
    assert h5util.sha256(out) == h5util.sha256(small), "%s auto and 64K outputs differ" % ctx


def test_auto_from_cgroup_v1_and_meminfo(tmp_path, model):
    path, _ = model
    root = h5util.fake_sysroot(tmp_path, "9:memory:/slurm/uid_0/job_3\n3:cpu,cpuacct:/slurm", {
        "sys/fs/cgroup/memory/slurm/uid_0/job_3/memory.limit_in_bytes": str(512 << 20),
        "sys/fs/cgroup/memory/slurm/uid_0/job_3/memory.usage_in_bytes": str(0),
    })
    js = h5util.run_json("prune", path, "-o", tmp_path / "v1.h5", "--sparsity", "0.5",
                         env=dict(os.environ, H5PRUNE_TEST_SYSROOT=root))
    assert js["memory_limit"]["bytes"] == 256 << 20 and "cgroup v1" in js["memory_limit"]["auto"], js["memory_limit"]
    root2 = h5util.fake_sysroot(tmp_path / "m", "0::/", {"sys/fs/cgroup/memory.max": "max"}, available_kib=6 * 1024 * 1024)
    js = h5util.run_json("prune", path, "-o", tmp_path / "mi.h5", "--sparsity", "0.5",
                         env=dict(os.environ, H5PRUNE_TEST_SYSROOT=root2))
    assert js["memory_limit"]["bytes"] == 3 * GiB and "MemAvailable" in js["memory_limit"]["auto"], js["memory_limit"]


def test_auto_spelled_out_and_bad_value(tmp_path, model):
    path, _ = model
    js = h5util.run_json("prune", path, "-o", tmp_path / "a.h5", "--sparsity", "0.5", "--memory-limit", "auto")
    assert js["memory_limit"]["auto"] and js["memory_limit"]["bytes"] >= 64 << 20, js["memory_limit"]
    res = h5util.run("prune", path, "-o", tmp_path / "b.h5", "--sparsity", "0.5", "--memory-limit", "automatic")
    assert res.returncode == 2 and "--memory-limit" in res.stderr, h5util.describe(res)


@pytest.mark.parametrize("command", ["prune", "densify", "stats", "sweep", "search"])
def test_auto_is_the_default_of_every_command_that_reads_weights(command):
    """docs/CLI.md Memory: one default everywhere (sweep, stats and search kept 512M before)."""
    text = h5util.run_ok(command, "--help").stdout
    assert re.search(r"--memory-limit arg \(=auto\)", text), text
