"""A sweep run as a real Slurm job array on the loopback cluster (conftest.py): the script
`h5prune slurm sweep` prints, submitted as is; one registry version and one metrics file per
task; a task cancelled with SIGTERM leaves nothing partial and its rerun completes."""

import json
import os
import subprocess
import time

import h5py
import numpy as np
import pytest

import h5util

SEED = 777


def small_model(path):
    rng = np.random.default_rng(SEED)
    with h5py.File(path, "w") as f:
        f["dense/kernel"] = rng.standard_normal((64, 32)).astype(np.float32)
        f["dense/bias"] = rng.standard_normal(32).astype(np.float32)
        f["out/kernel"] = rng.standard_normal((32, 8)).astype(np.float32)
    return path


def sbatch_script(tmp_path, model, spec, *extra):
    res = h5util.run("slurm", "sweep", model, "--sparsity", spec, "--registry", tmp_path / "registry", "--model", "m",
                     "--metrics-dir", tmp_path / "metrics", "--log-dir", tmp_path / "logs", "--cpus-per-task", "1",
                     "--time", "00:05:00", *extra)
    assert res.returncode == 0, h5util.describe(res)
    script = tmp_path / "sweep.sbatch"
    script.write_text(res.stdout)
    return script


def registry_versions(tmp_path):
    res = h5util.run("log", "m", "--registry", tmp_path / "registry", "--json")
    if res.returncode != 0:
        return []
    return json.loads(res.stdout)["versions"]


def test_array_sweep_records_one_version_per_task(slurm_cluster, tmp_path):
    for d in ("metrics", "logs"):
        (tmp_path / d).mkdir()
    model = small_model(tmp_path / "model.h5")
    script = sbatch_script(tmp_path, model, "0.4:0.9:0.1")
    job = slurm_cluster.submit(script, cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=180)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert len(states) == 6 and set(states.values()) == {"COMPLETED"}, (states, logs)
    versions = registry_versions(tmp_path)
    assert sorted(v["version"] for v in versions) == [1, 2, 3, 4, 5, 6], logs
    assert sorted(v["rule"]["sparsity"] for v in versions) == ["0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    files = sorted(os.listdir(tmp_path / "metrics"))
    assert files == ["h5prune_m_%d.prom" % i for i in range(6)], files
    for f in files:
        check = subprocess.run(["promtool", "check", "metrics"], stdin=open(tmp_path / "metrics" / f),
                               capture_output=True, text=True)
        assert check.returncode == 0, (f, check.stdout, check.stderr)
        text = (tmp_path / "metrics" / f).read_text()
        assert 'h5prune_last_run_success{' in text and "} 1" in text.split("h5prune_last_run_success{")[1].split("\n")[0]
    verify = h5util.run("verify", "m", "--registry", tmp_path / "registry")
    assert verify.returncode == 0, h5util.describe(verify)
    # Resubmitting the whole array records nothing new: every task finds its point.
    job = slurm_cluster.submit(script, cwd=str(tmp_path))
    assert set(slurm_cluster.wait_for(job, timeout=180).values()) == {"COMPLETED"}
    assert len(registry_versions(tmp_path)) == 6


def test_cancelled_task_leaves_nothing_and_rerun_completes(slurm_cluster, tmp_path):
    for d in ("metrics", "logs"):
        (tmp_path / d).mkdir()
    model = tmp_path / "big.h5"
    rng = np.random.default_rng(SEED)
    with h5py.File(model, "w") as f:
        for i in range(4):
            f.create_dataset("l%02d/kernel" % i, data=rng.standard_normal((2048, 2048), dtype=np.float32))
    script = sbatch_script(tmp_path, model, "0.5", "--memory-limit", "16M")
    # Test hook: 100 ms per slab, so the task is surely mid-run when the signal comes.
    job = slurm_cluster.submit(script, "--export=ALL,H5PRUNE_TEST_CHECKPOINT_DELAY_MS=100", cwd=str(tmp_path))
    slurm_cluster.wait_for_state(job, "RUNNING", timeout=60)
    task = slurm_cluster.jobs(job)[0]["JobId"]  # the array task's own job id
    time.sleep(1.5)
    assert slurm_cluster.states(job) and set(slurm_cluster.states(job).values()) == {"RUNNING"}, \
        "the task finished before it could be cancelled; make the model larger"
    # What a time limit or `scancel --signal=TERM --batch` does: TERM to the batch shell, whose
    # trap forwards it to h5prune.
    slurm_cluster.run(["scancel", "--signal=TERM", "--batch", task])
    slurm_cluster.wait_for(job, timeout=120)
    log = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert "exited with 143" in log, log
    assert registry_versions(tmp_path) == [], "no version from the cancelled task"
    staging = tmp_path / "registry" / "staging"
    assert not staging.exists() or os.listdir(staging) == [], os.listdir(staging)
    prom = (tmp_path / "metrics" / "h5prune_m_0.prom").read_text()
    assert 'reason="sigterm"' in prom and "h5prune_last_run_success{" in prom, prom
    # The rerun of the same index completes and records the point.
    job = slurm_cluster.submit(script, "--array=0", cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=300)
    assert set(states.values()) == {"COMPLETED"}, "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    versions = registry_versions(tmp_path)
    assert [v["version"] for v in versions] == [1]
    verify = h5util.run("verify", "m", "--registry", tmp_path / "registry")
    assert verify.returncode == 0, h5util.describe(verify)


def test_resubmitted_subset_runs_the_named_points(slurm_cluster, tmp_path):
    """DESIGN.md: array task i runs point i. Resubmitting one task (--array=7) or a subset
    (--array=3,12) must run exactly those points; the old (ID - MIN) / STEP mapping ran
    points 0 (and 0, 9) and reported them as task 7's (and 3's, 12's) results."""
    for d in ("metrics", "logs"):
        (tmp_path / d).mkdir()
    model = small_model(tmp_path / "model.h5")
    values = ["%.2f" % (0.05 * i) for i in range(13)]  # 0.00 .. 0.60: point i is 0.05 * i
    script = sbatch_script(tmp_path, model, ",".join(values))
    assert "#SBATCH --array=0-12" in script.read_text()

    def recorded():
        return {v["rule"]["sparsity"]: v for v in registry_versions(tmp_path)}

    job = slurm_cluster.submit(script, "--array=7", cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=180)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert set(states.values()) == {"COMPLETED"}, (states, logs)
    assert sorted(recorded()) == ["0.35"], logs
    assert recorded()["0.35"]["version"] == 1
    prom = h5util_metrics(tmp_path, 7)
    assert _value(prom, "h5prune_last_run_requested_sparsity_ratio") == 0.35, prom
    assert sorted(os.listdir(tmp_path / "metrics")) == ["h5prune_m_7.prom"]

    job = slurm_cluster.submit(script, "--array=3,12", cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=180)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert len(states) == 2 and set(states.values()) == {"COMPLETED"}, (states, logs)
    assert sorted(recorded()) == ["0.15", "0.35", "0.60"], logs
    for task, value in ((3, "0.15"), (12, "0.60")):
        v = recorded()[value]
        show = json.loads(h5util.run("show", "m@%d" % v["version"], "--registry", tmp_path / "registry", "--json").stdout)
        assert show["slurm"]["array_task_id"] == str(task), show["slurm"]
        assert _value(h5util_metrics(tmp_path, task), "h5prune_last_run_requested_sparsity_ratio") == float(value)


def h5util_metrics(tmp_path, task):
    return (tmp_path / "metrics" / ("h5prune_m_%d.prom" % task)).read_text()


def _value(text, family):
    return float(next(l for l in text.splitlines() if l.startswith(family + "{")).rsplit(" ", 1)[1])


def test_empty_array_task_id_is_an_error(tmp_path):
    """An empty SLURM_ARRAY_TASK_ID is an error (exit 2, one line), not 'every point'."""
    model = small_model(tmp_path / "model.h5")
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="")
    res = h5util.run("sweep", model, "--sparsity", "0.1,0.2,0.3", "--array-task", "auto", "--json", env=env)
    assert res.returncode == 2, h5util.describe(res)
    assert res.stdout == "" and res.stderr.count("\n") == 1 and "SLURM_ARRAY_TASK_ID" in res.stderr, h5util.describe(res)
    env["SLURM_ARRAY_TASK_ID"] = "2"
    env["SLURM_ARRAY_TASK_MIN"] = "2"
    out = h5util.run_json("sweep", model, "--sparsity", "0.1,0.2,0.3", "--array-task", "auto", env=env)
    assert [p["value"] for p in out["points"]] == ["0.3"]


def test_array_tasks_keep_the_group_rules_of_a_local_sweep(slurm_cluster, tmp_path):
    """--rule, --rules and --min-ndim reach every array task: each task records the same output
    (sha256) and the same recorded rule as a local `sweep --materialize` with the same rules, and
    `slurm status` finds every point. The --rules file is read at generation: editing it
    afterwards changes nothing the tasks do."""
    for d in ("metrics", "logs"):
        (tmp_path / d).mkdir()
    model = small_model(tmp_path / "model.h5")
    with h5py.File(model, "a") as f:
        f["emb/embeddings"] = np.random.default_rng(SEED + 1).standard_normal((50, 16)).astype(np.float32)
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"rules": [{"match": "^/dense/", "rule": "structured:l2:0.25"}]}))
    rules = ["--rule", "out/=nm:2:4,axis=0", "--rules", rules_file, "--min-ndim", "2"]
    script = sbatch_script(tmp_path, model, "0.3,0.6", "--scope", "global", *rules)
    text = script.read_text()
    assert " --min-ndim 2 --rule 'out/=nm:2:4,axis=0' --rule '^/dense/=structured:l2:0.25' " in text, text
    plan = json.loads(next(l for l in text.splitlines() if l.startswith("# h5prune-plan: "))[len("# h5prune-plan: "):])
    assert plan["rules"] == ["out/=nm:2:4,axis=0", "^/dense/=structured:l2:0.25"] and plan["min_ndim"] == 2, plan
    rules_file.write_text(json.dumps({"rules": [{"match": "^/dense/", "rule": "skip"}]}))  # too late to matter

    job = slurm_cluster.submit(script, cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=180)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert len(states) == 2 and set(states.values()) == {"COMPLETED"}, (states, logs)
    status = h5util.run("slurm", "status", script, "--json")
    assert status.returncode == 0 and [p["state"] for p in json.loads(status.stdout)["points"]] == ["recorded"] * 2, \
        h5util.describe(status)

    local = tmp_path / "local.json"
    local.write_text(json.dumps({"rules": [{"match": "^/dense/", "rule": "structured:l2:0.25"}]}))
    h5util.run_ok("sweep", model, "--sparsity", "0.3,0.6", "--scope", "global", "--rule", "out/=nm:2:4,axis=0",
                  "--rules", local, "--min-ndim", "2", "--materialize", "--registry", tmp_path / "local-reg",
                  "--model", "m")

    def by_point(reg):
        out = {}
        for v in json.loads(h5util.run_ok("log", "m", "--registry", reg, "--json").stdout)["versions"]:
            m = json.loads(h5util.run_ok("show", "m@%d" % v["version"], "--registry", reg, "--json").stdout)
            out[m["rule"]["sparsity"]] = (m["output"]["sha256"], m["rule"], {t["path"]: t.get("structured")
                                                                            for t in m["tensors"]})
        return out

    arrayed, swept = by_point(tmp_path / "registry"), by_point(tmp_path / "local-reg")
    assert sorted(arrayed) == ["0.3", "0.6"] and arrayed == swept, (arrayed, swept)
    st = arrayed["0.3"][2]["/dense/kernel"]
    assert st["norm"] == "l2" and st["axis"] == 0 and len(st["removed"]) == 16, st  # the rule as generated, not the edit
