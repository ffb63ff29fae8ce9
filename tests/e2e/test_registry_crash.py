"""kill -9 at every step of a publish (H5PRUNE_REGISTRY_CRASH_AT, a test hook) and at random
instants: the registry holds either no new version or a whole one, verify passes, a rerun
records it once, and gc removes what the killed writer left."""

import os
import random
import signal
import subprocess
import time

import pytest

import datagen
import h5util
from test_registry import check_registry, manifests

SEED = 6060
# Publish steps in order (host/registry: record.cpp, blob_store.cpp, versions.cpp).
BEFORE_RENAME = ["pruned", "blob-before-link", "blob-linked", "manifest-partial", "manifest-written"]
AFTER_RENAME = ["renamed", "published"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("crashmodel")
    data = {"/w/a/kernel:0": datagen.make_values(SEED, "<f4", (128, 96), "normal"),
            "/w/b/kernel:0": datagen.make_values(SEED + 1, "<f8", (64, 32), "ties")}
    return datagen.write_h5(d / "model.h5", data)


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("crashbig")
    data = {"/w/a/kernel:0": datagen.make_values(SEED + 2, "<f4", (2048, 1024), "normal"),
            "/w/b/kernel:0": datagen.make_values(SEED + 3, "<f4", (1024, 512), "normal")}
    return datagen.write_h5(d / "big.h5", data)


def referenced(reg):
    refs = set()
    models = os.path.join(str(reg), "models")
    for m in os.listdir(models):
        refs |= {x["output"]["sha256"] for x in manifests(reg, m).values()}
    return refs


def blobs(reg):
    root = os.path.join(str(reg), "objects", "sha256")
    return {d + f for d in os.listdir(root) for f in os.listdir(os.path.join(root, d))}


def assert_consistent(reg, versions):
    ms = check_registry(reg, "m", versions)
    res = h5util.run("verify", "--registry", reg)
    assert res.returncode == 0, h5util.describe(res)
    log = h5util.run_json("log", "m", "--registry", reg)
    assert [v["version"] for v in log["versions"]] == list(range(versions, 0, -1))
    return ms


def collect_and_check(reg):
    js = h5util.run_json("gc", "--grace", "0", "--registry", reg)
    assert js["blobs_skipped"] is False
    assert os.listdir(os.path.join(str(reg), "staging")) == []
    assert blobs(reg) == referenced(reg), "gc left an unreferenced blob or removed a referenced one"
    again = h5util.run_json("gc", "--grace", "0", "--registry", reg)
    assert again["removed"] == []
    return js


@pytest.mark.parametrize("step", BEFORE_RENAME + AFTER_RENAME)
def test_kill_at_each_publish_step(tmp_path, model, step):
    reg = tmp_path / "reg"
    h5util.run_ok("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    env = dict(os.environ, H5PRUNE_REGISTRY_CRASH_AT=step)
    res = h5util.run("prune", model, "--sparsity", "0.8", "--registry", reg, "--model", "m", "--quiet", env=env)
    assert res.returncode == -signal.SIGKILL, "hook %s did not fire\n%s" % (step, h5util.describe(res))
    published = step in AFTER_RENAME
    ms = assert_consistent(reg, 2 if published else 1)
    if published:
        assert ms[2]["rule"]["sparsity"] == "0.8"
    # The killed writer's staging is still there (or, after the rename, its output copy).
    assert os.listdir(os.path.join(str(reg), "staging")) != []
    # A rerun (a Slurm requeue) records it exactly once.
    res = h5util.run("prune", model, "--sparsity", "0.8", "--registry", reg, "--model", "m", "--quiet")
    assert res.returncode == 0, h5util.describe(res)
    assert ("already recorded as m@2" if published else "recorded as m@2") in res.stdout, res.stdout
    assert_consistent(reg, 2)
    js = collect_and_check(reg)
    assert any("staging" in r["reason"] for r in js["removed"])
    assert_consistent(reg, 2)


def test_kill_at_random_instants(tmp_path, big_model):
    """SIGKILL after random delays across a whole run (read, prune, write, hash, publish)."""
    reg = tmp_path / "reg"
    rng = random.Random(SEED)
    t0 = time.monotonic()
    h5util.run_ok("prune", big_model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    full = time.monotonic() - t0
    print("one publish of the big model: %.3f s (seed %d)" % (full, SEED))
    versions = 1
    sparsities = iter("0.%03d" % (100 + i) for i in range(100))
    for attempt in range(12):
        s = next(sparsities)
        delay = rng.uniform(0.0, full * 1.1)
        p = subprocess.Popen([h5util.binary(), "prune", str(big_model), "--sparsity", s, "--registry", str(reg),
                              "--model", "m", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=120)
        ms = manifests(reg, "m")
        assert len(ms) in (versions, versions + 1), "attempt %d (delay %.3f): %s" % (attempt, delay, sorted(ms))
        if len(ms) == versions + 1:
            versions += 1
            assert ms[versions]["rule"]["sparsity"] == s
        assert_consistent(reg, versions)
    collect_and_check(reg)
    assert_consistent(reg, versions)


def test_sigterm_removes_staging_and_records_nothing(tmp_path, big_model):
    """Slurm's time limit (SIGTERM) mid-prune: exit 143, no version, no staging, no blob."""
    reg = tmp_path / "reg"
    for attempt in range(5):
        # Test hook: 20 ms per slab checkpoint, so the prune is still running at the signal.
        env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="20")
        p = subprocess.Popen([h5util.binary(), "prune", str(big_model), "--sparsity", "0.6", "--registry", str(reg),
                              "--model", "m", "--quiet", "--memory-limit", "64K"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             env=env)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        so, se = p.communicate(timeout=120)
        if p.returncode == 0:  # finished before the signal: try again in a fresh registry
            reg = tmp_path / ("reg%d" % attempt)
            continue
        assert p.returncode == 128 + signal.SIGTERM, (p.returncode, se)
        assert manifests(reg, "m") == {}
        assert os.listdir(os.path.join(str(reg), "staging")) == []
        assert blobs(reg) == set()
        return
    pytest.skip("the prune finished before SIGTERM five times")
