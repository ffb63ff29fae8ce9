"""Outputs are byte-identical across runs, thread counts and memory limits."""

import os
import time

import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

SEED = 4242


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A file with a ~4 MB float32 tensor (1M weights), a float16 and a float64 tensor,
    a bias and an int64 scalar."""
    d = tmp_path_factory.mktemp("repro")
    data = {
        "/model_weights/big/kernel:0": datagen.make_values(SEED, "<f4", (1024, 1024), "normal"),
        "/model_weights/big/bias:0": datagen.make_values(SEED + 1, "<f4", (1024,), "normal"),
        "/model_weights/h/kernel:0": datagen.make_values(SEED + 2, "<f2", (200, 300), "ties"),
        "/model_weights/d/kernel:0": datagen.make_values(SEED + 3, "<f8", (128, 64), "special"),
        "/optimizer_weights/iter": np.int64(5),
    }
    return datagen.write_h5(d / "model.h5", data, attrs={"keras_version": "2.8.0"})


RULES = [["--sparsity", "0.9"], ["--sparsity", "0.35", "--scope", "global"], ["--threshold", "0.01"]]


def _ids(r):
    return "_".join(a.strip("-") for a in r)


@pytest.mark.parametrize("rule", RULES, ids=_ids)
def test_two_runs_same_sha(tmp_path, model, rule):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    o1, o2 = tmp_path / "a" / "one.h5", tmp_path / "b" / "two.h5"
    h5util.run_ok("prune", model, "-o", o1, *rule)
    time.sleep(1.1)  # HDF5 object timestamps have one-second resolution
    h5util.run_ok("prune", model, "-o", o2, *rule)
    s1, s2 = h5util.sha256(o1), h5util.sha256(o2)
    assert s1 == s2, "[repro %s seed=%d] two runs differ: %s vs %s" % (" ".join(rule), SEED, s1, s2)


@pytest.mark.parametrize("rule", RULES, ids=_ids)
def test_threads_and_memory_limit_same_sha(tmp_path, model, rule):
    ctx = "[repro %s seed=%d]" % (" ".join(rule), SEED)
    variants = {
        "default": [],
        "threads1": ["--threads", "1"],
        "threads2": ["--threads", "2"],
        "mem1M": ["--memory-limit", "1M"],
        "mem1M_threads2": ["--memory-limit", "1M", "--threads", "2"],
        "mem300K_threads1": ["--memory-limit", "300K", "--threads", "1"],
        "backend_cpu": ["--backend", "cpu", "--threads", "2"],
    }
    shas = {}
    for name, extra in variants.items():
        out = tmp_path / ("%s.h5" % name)
        js = h5util.run_json("prune", model, "-o", out, *rule, *extra)
        shas[name] = h5util.sha256(out)
        assert js["output"]["sha256"] == shas[name], (
            "%s %s: --json output.sha256 %s != sha256 of the file %s"
            % (ctx, name, js["output"]["sha256"], shas[name]))
        assert js["output"]["bytes"] == os.path.getsize(out), "%s %s: output.bytes" % (ctx, name)
        if "--threads" in extra:
            want = int(extra[extra.index("--threads") + 1])
            assert js["threads"] == want, "%s %s: summary threads %r" % (ctx, name, js["threads"])
        if "--backend" in extra:
            assert js["backend"] == "cpu", "%s %s: summary backend %r" % (ctx, name, js["backend"])
    assert len(set(shas.values())) == 1, "%s: outputs differ: %r" % (ctx, shas)
    # and the common answer is the right one
    if rule[0] == "--sparsity":
        scope = rule[3] if len(rule) > 2 else "tensor"
        paths, res, _ = reference.prune_file(model, sparsity=rule[1], scope=scope)
    else:
        paths, res, _ = reference.prune_file(model, threshold=float(rule[1]))
    checks.check_output_tensors(tmp_path / "mem1M.h5", paths, res, ctx + " --memory-limit 1M")


def test_threads_follow_the_affinity_mask(tmp_path, model):
    """Without --threads, the thread count is the CPUs the job may use (Slurm's binding, taskset),
    not the machine's; the summary says the count the kernels ran with."""
    cpus = sorted(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    for allowed in ([cpus[0]], cpus[:2]):
        out = tmp_path / ("out_%d.h5" % len(allowed))
        js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.5", "--backend", "cpu", env=env,
                             preexec_fn=lambda: os.sched_setaffinity(0, allowed))
        n = len(allowed)
        assert js["threads"] == n, "affinity %r: summary threads %r" % (allowed, js["threads"])
        assert js["device"].startswith("cpu (%d thread%s" % (n, "" if n == 1 else "s")), js["device"]
    res = h5util.run("prune", model, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--threads", "9",
                     preexec_fn=lambda: os.sched_setaffinity(0, [cpus[0]]))
    assert res.returncode == 0 and "--threads 9 is more than 4 per core; using 4" in res.stderr, h5util.describe(res)


@pytest.mark.parametrize("case", ["v2_fraction", "v2_nested", "v1_one_cpu", "v2_no_quota", "omp_wins"])
def test_threads_follow_the_cgroup_cpu_quota(tmp_path, model, case):
    """A container's --cpus or a Kubernetes CPU limit is a cgroup CPU quota, which OpenMP does not
    read: without --threads, the thread count is the quota in whole CPUs (rounded up), the
    smallest of the levels above the process, and never more than the affinity mask allows."""
    cpus = len(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if case == "v2_fraction":  # 1.5 CPUs: two threads
        root = h5util.fake_sysroot(tmp_path, "0::/kubepods/pod1", {"sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000"})
        want = min(2, cpus)
    elif case == "v2_nested":  # the job allows 3 CPUs, a level above it 1: the smaller
        root = h5util.fake_sysroot(tmp_path, "0::/a/job", {"sys/fs/cgroup/a/cpu.max": "100000 100000",
                                                  "sys/fs/cgroup/a/job/cpu.max": "300000 100000"})
        want = 1
    elif case == "v1_one_cpu":
        root = h5util.fake_sysroot(tmp_path, "4:memory:/docker/c1\n3:cpu,cpuacct:/docker/c1", {
            "sys/fs/cgroup/cpu,cpuacct/docker/c1/cpu.cfs_quota_us": "100000",
            "sys/fs/cgroup/cpu,cpuacct/docker/c1/cpu.cfs_period_us": "100000",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1"})
        want = 1
    elif case == "v2_no_quota":
        root, want = h5util.fake_sysroot(tmp_path, "0::/box", {"sys/fs/cgroup/box/cpu.max": "max 100000"}), cpus
    else:  # OMP_NUM_THREADS, when set, is taken as it is
        root, want = h5util.fake_sysroot(tmp_path, "0::/box", {"sys/fs/cgroup/box/cpu.max": "100000 100000"}), 3
        env["OMP_NUM_THREADS"] = "3"
    env["H5PRUNE_TEST_SYSROOT"] = root
    js = h5util.run_json("prune", model, "-o", tmp_path / "out.h5", "--sparsity", "0.5", "--backend", "cpu",
                         "--memory-limit", "64M", env=env)
    assert js["threads"] == want, "[%s] summary threads %r, want %d" % (case, js["threads"], want)
    assert js["device"].startswith("cpu (%d thread%s" % (want, "" if want == 1 else "s")), js["device"]


def test_omp_num_threads_is_the_default_and_threads_wins(tmp_path, model):
    """OMP_NUM_THREADS (as Slurm scripts set it from SLURM_CPUS_PER_TASK) sizes a run without
    --threads; --threads, when given, wins over it."""
    env = dict(os.environ, OMP_NUM_THREADS="3")
    js = h5util.run_json("prune", model, "-o", tmp_path / "a.h5", "--sparsity", "0.5", "--backend", "cpu", env=env)
    assert js["threads"] == 3 and js["device"].startswith("cpu (3 threads"), (js["threads"], js["device"])
    js = h5util.run_json("prune", model, "-o", tmp_path / "b.h5", "--sparsity", "0.5", "--backend", "cpu",
                         "--threads", "1", env=env)
    assert js["threads"] == 1 and js["device"].startswith("cpu (1 thread,"), (js["threads"], js["device"])
    assert h5util.sha256(tmp_path / "a.h5") == h5util.sha256(tmp_path / "b.h5")


def test_json_hashes(tmp_path, model):
    out = tmp_path / "out.h5"
    js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.5")
    assert js["input"]["sha256"] == h5util.sha256(model), "input.sha256"
    assert js["input"]["bytes"] == os.path.getsize(model), "input.bytes"
    assert js["output"]["sha256"] == h5util.sha256(out), "output.sha256"
    assert js["output"]["bytes"] == os.path.getsize(out), "output.bytes"
    assert js["dry_run"] is False
    assert js["rule"]["rounding"] == "half_even" and js["rule"]["ties"] == "lower_position_first"


def test_version_and_help():
    v = h5util.run_ok("--version")
    h = h5util.run_ok("--help")
    assert "prune" in h.stdout and "stats" in h.stdout, h.stdout
    js = h5util.run_json("stats", os.path.join(h5util.REPO, "examples", "keras2c_model.h5"))
    assert js["tensors"], js
    # the version the JSON summary reports is the one --version prints
    src = os.path.join(h5util.REPO, "examples", "keras2c_model.h5")
    pj = h5util.run_json("prune", src, "--dry-run", "--sparsity", "0.5")
    assert pj["tool"]["version"] in v.stdout, "tool.version %r not in --version %r" % (pj["tool"]["version"], v.stdout)


def test_version_names_the_checked_out_revision():
    """--version and --json name the revision the binary was built from: the checkout's HEAD (the
    header is rewritten at every build, not only at configure time, when an incremental build
    kept naming an older commit). "-dirty" marks a build from uncommitted changes; the tree may
    have changed since the build, so only a clean build of a clean tree is held to no suffix."""
    import re
    import subprocess
    head = subprocess.run(["git", "-C", h5util.REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout: the binary reports 'unknown'")
    status = subprocess.run(["git", "-C", h5util.REPO, "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, check=True)
    want = head.stdout.strip()
    v = h5util.run_ok("--version").stdout
    m = re.search(r"\(git ([0-9a-f]{12})(-dirty)?,", v)
    assert m, v
    assert m.group(1) == want, "--version says git %s, the checkout is at %s (rebuild?)" % (m.group(1), want)
    if not status.stdout.strip():
        assert m.group(2) is None, "a clean checkout, but the binary says -dirty (rebuild): %s" % v
    src = os.path.join(h5util.REPO, "examples", "keras2c_model.h5")
    pj = h5util.run_json("prune", src, "--dry-run", "--sparsity", "0.5")
    assert pj["tool"]["git"] == m.group(1) + (m.group(2) or ""), pj["tool"]


@pytest.fixture(scope="module")
def chunked_model(tmp_path_factory):
    """Chunked and compressed tensors whose chunks do not divide the shape."""
    import h5py
    d = tmp_path_factory.mktemp("chunked")
    path = d / "chunked.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("enc/kernel", data=datagen.make_values(SEED + 10, "<f4", (600, 500), "normal"),
                         chunks=(97, 61), compression="gzip", compression_opts=1, shuffle=True)
        f.create_dataset("enc/half", data=datagen.make_values(SEED + 11, "<f2", (300, 301), "ties"),
                         chunks=(64, 64), compression="gzip")
        f.create_dataset("dec/conv", data=datagen.make_values(SEED + 12, ">f8", (5, 5, 33, 40), "special"),
                         chunks=(5, 5, 8, 7), fletcher32=True)
        f.create_dataset("dec/plain", data=datagen.make_values(SEED + 13, "<f4", (513, 257), "normal"))
    return path


@pytest.mark.parametrize("rule", RULES, ids=_ids)
def test_streaming_chunked(tmp_path, chunked_model, rule):
    ctx = "[streaming chunked %s seed=%d]" % (" ".join(rule), SEED)
    shas = {}
    for name, extra in {"default": [], "mem64K": ["--memory-limit", "64K"],
                        "mem1M_t1": ["--memory-limit", "1M", "--threads", "1"]}.items():
        out = tmp_path / ("%s.h5" % name)
        h5util.run_ok("prune", chunked_model, "-o", out, *rule, *extra)
        shas[name] = h5util.sha256(out)
    assert len(set(shas.values())) == 1, "%s: outputs differ: %r" % (ctx, shas)
    if rule[0] == "--sparsity":
        scope = rule[3] if len(rule) > 2 else "tensor"
        paths, res, _ = reference.prune_file(chunked_model, sparsity=rule[1], scope=scope)
    else:
        paths, res, _ = reference.prune_file(chunked_model, threshold=float(rule[1]))
    checks.check_output_tensors(tmp_path / "mem64K.h5", paths, res, ctx + " --memory-limit 64K")
    import h5py
    with h5py.File(chunked_model, "r") as fa, h5py.File(tmp_path / "mem64K.h5", "r") as fb:
        for p in paths:
            h5util.assert_dataset_props_equal(fa[p], fb[p], "%s %s" % (ctx, p))


def test_plain_run_hashes_nothing(tmp_path, model):
    """SHA-256 is computed only for --json and --registry (docs/CLI.md "Hashes"): the plain
    summary names the output and its size, no hash; --json on the same rule gives the file's."""
    out = tmp_path / "plain.h5"
    res = h5util.run_ok("prune", model, "-o", out, "--sparsity", "0.5")
    wrote = [ln for ln in res.stdout.splitlines() if ln.startswith("wrote ")]
    assert len(wrote) == 1, "one 'wrote' line expected\n" + h5util.describe(res)
    assert "sha256" not in wrote[0], "a plain run printed a hash: %r" % wrote[0]
    assert str(out) in wrote[0], wrote[0]
    out_json = tmp_path / "json.h5"
    js = h5util.run_json("prune", model, "-o", out_json, "--sparsity", "0.5")
    assert js["output"]["sha256"] == h5util.sha256(out_json) == h5util.sha256(out), "same bytes, hash in --json"
    assert js["input"]["sha256"] == h5util.sha256(model), "input.sha256"
