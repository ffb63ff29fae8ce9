"""`h5prune slurm sweep|status` against the real loopback cluster (conftest.py): the script's
values are quoted or refused for their context (an injected newline never runs; a log directory
with a space works), GPU/partition/set-up options are accepted by sbatch and run, and
`slurm status` names what is missing after tasks are cancelled; its rerun line completes them."""

import json
import os
import re
import shlex
import subprocess

import h5py
import numpy as np
import pytest

import h5util

SEED = 1515


def small_model(path):
    rng = np.random.default_rng(SEED)
    with h5py.File(path, "w") as f:
        f["dense/kernel"] = rng.standard_normal((48, 16)).astype(np.float32)
        f["out/kernel"] = rng.standard_normal((16, 4)).astype(np.float32)
    return path


def generate(tmp_path, *extra, spec="0.2,0.4,0.6", check=True):
    if "--time" not in extra:
        extra += ("--time", "00:05:00")
    res = h5util.run("slurm", "sweep", tmp_path / "model.h5", "--sparsity", spec, "--registry", tmp_path / "registry",
                     "--model", "m", "--cpus-per-task", "1", *extra, cwd=str(tmp_path))
    if check:
        assert res.returncode == 0, h5util.describe(res)
    return res


def versions(tmp_path):
    res = h5util.run("log", "m", "--registry", tmp_path / "registry", "--json")
    return json.loads(res.stdout)["versions"] if res.returncode == 0 else []


def logs_text(d):
    return "".join(p.read_text(errors="replace") for p in sorted(d.rglob("*.log")))


EVIL = ("--job-name", "--partition", "--account", "--qos", "--constraint", "--time", "--mem", "--gres", "--gpus",
        "--gpus-per-task", "--log-dir", "--chdir", "--setup", "--sbatch-option", "--include", "--exclude")


@pytest.mark.parametrize("option", EVIL)
def test_a_newline_in_any_value_is_refused(tmp_path, option):
    small_model(tmp_path / "model.h5")
    marker = tmp_path / "INJECTED"
    value = "x\ntouch %s" % marker
    if option in ("--log-dir", "--chdir"):
        value = str(tmp_path / value)
    if option == "--sbatch-option":
        value = "--comment=" + value
    res = generate(tmp_path, option, value, check=False)
    assert res.returncode == 2, h5util.describe(res)
    assert res.stdout == "", "no script printed"
    assert len(res.stderr.strip().splitlines()) == 1 and ("newline" in res.stderr or "invalid" in res.stderr), res.stderr
    assert not marker.exists()


def test_quoted_values_reach_slurm_unchanged_and_nothing_runs(slurm_cluster, tmp_path):
    """Odd but valid values (quotes, #, $(...), spaces) land in Slurm as written; no shell ever
    evaluates them. `--log-dir "/x/my logs"` works."""
    small_model(tmp_path / "model.h5")
    marker = tmp_path / "PWNED"
    name = 'odd "name" #not-a-comment $(touch %s)' % marker
    log_dir = tmp_path / "my logs"
    script = tmp_path / "s.sbatch"
    script.write_text(generate(tmp_path, "--job-name", name, "--log-dir", log_dir,
                               "--sbatch-option", "--comment=$(touch %s) `id`" % marker, spec="0.5").stdout)
    job = slurm_cluster.submit(script, "--hold", cwd=str(tmp_path))
    rec = slurm_cluster.jobs(job)[0]
    out = slurm_cluster.run(["squeue", "-h", "-j", job, "-o", "%j|%k"]).stdout.strip()
    assert out == name + "|" + "$(touch %s) `id`" % marker, (out, rec)
    slurm_cluster.run(["scontrol", "release", job])
    states = slurm_cluster.wait_for(job, timeout=180)
    assert set(states.values()) == {"COMPLETED"}, (states, slurm_cluster.logs())
    logs = list(log_dir.glob("h5prune-sweep_*_0.log"))
    assert len(logs) == 1, os.listdir(log_dir)
    assert "exited with 0" in logs[0].read_text()
    assert not marker.exists()
    assert [v["rule"]["sparsity"] for v in versions(tmp_path)] == ["0.5"]


def test_gpu_partition_and_setup_options_are_accepted_and_run(slurm_cluster, tmp_path):
    small_model(tmp_path / "model.h5")
    (tmp_path / "logs").mkdir()
    res = generate(tmp_path, "--gpus-per-task", "1", "--partition", "debug", "--setup", "export X=1",
                   "--setup", 'echo "setup saw X=$X on GPU ${CUDA_VISIBLE_DEVICES:-none}"', "--log-dir", "logs",
                   "--sbatch-option", "--comment=h5prune test", spec="0.3,0.7")
    script = tmp_path / "gpu.sbatch"
    script.write_text(res.stdout)
    lines = res.stdout.splitlines()
    for line in ("#SBATCH --gpus-per-task=1", "#SBATCH --partition=debug", "export X=1",
                 "#SBATCH --output=%s/logs/h5prune-sweep_%%A_%%a.log" % tmp_path):
        assert line in lines, (line, res.stdout)
    # submitted from another directory: --chdir and absolute paths make that work
    job = slurm_cluster.submit(script, cwd=slurm_cluster.root)
    states = slurm_cluster.wait_for(job, timeout=180)
    logs = logs_text(tmp_path / "logs")
    assert len(states) == 2 and set(states.values()) == {"COMPLETED"}, (states, logs)
    assert len(re.findall(r"^setup saw X=1 on GPU [01]$", logs, re.M)) == 2, logs
    assert sorted(v["rule"]["sparsity"] for v in versions(tmp_path)) == ["0.3", "0.7"]


def status(tmp_path, script):
    res = h5util.run("slurm", "status", script, "--json")
    assert res.returncode in (0, 1), h5util.describe(res)
    return res.returncode, json.loads(res.stdout)


def test_status_names_missing_points_and_its_rerun_line_completes_them(slurm_cluster, tmp_path):
    small_model(tmp_path / "model.h5")
    (tmp_path / "metrics").mkdir()
    script = tmp_path / "sweep.sbatch"
    script.write_text(generate(tmp_path, "--log-dir", "logs", "--metrics-dir", "metrics", spec="0.1:0.5:0.1").stdout)
    rc, st = status(tmp_path, script)
    assert rc == 1 and [p["state"] for p in st["points"]] == ["missing"] * 5, st
    assert st["rerun"] == "sbatch --array=0-4 %s" % script
    # Hold the array, cancel tasks 1 and 3 before they start, let the others run.
    job = slurm_cluster.submit(script, "--hold", cwd=str(tmp_path))
    slurm_cluster.run(["scancel", "%s_1" % job, "%s_3" % job])
    slurm_cluster.run(["scontrol", "release", job])
    states = slurm_cluster.wait_for(job, timeout=180)
    # (tasks cancelled while pending may no longer be listed by scontrol)
    ran = {k.split("_")[1]: v for k, v in states.items() if v != "CANCELLED"}
    assert ran == {"0": "COMPLETED", "2": "COMPLETED", "4": "COMPLETED"}, states
    rc, st = status(tmp_path, script)
    assert rc == 1, st
    assert [(p["index"], p["state"]) for p in st["points"]] == [
        (0, "recorded"), (1, "missing"), (2, "recorded"), (3, "missing"), (4, "recorded")], st
    assert (st["recorded"], st["failed"], st["missing"]) == (3, 0, 2)
    assert st["rerun"] == "sbatch --array=1,3 %s" % script, st
    text = h5util.run("slurm", "status", script)
    assert text.returncode == 1 and "sbatch --array=1,3 " in text.stdout and "3 of 5 points recorded" in text.stdout
    # The printed line, run as printed, completes the sweep and runs exactly points 1 and 3.
    argv = shlex.split(st["rerun"])
    job2 = slurm_cluster.submit(argv[-1], *argv[1:-1], cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job2, timeout=180)
    assert sorted(k.split("_")[1] for k in states) == ["1", "3"] and set(states.values()) == {"COMPLETED"}, states
    rc, st = status(tmp_path, script)
    assert rc == 0 and st["rerun"] is None and [p["state"] for p in st["points"]] == ["recorded"] * 5, st
    recorded = {p["value"]: p["version"] for p in st["points"]}
    by_rule = {v["rule"]["sparsity"]: v["version"] for v in versions(tmp_path)}
    assert recorded == by_rule, (recorded, by_rule)
    # collect: the results, and the one-off tasks' metrics files retired from monitoring.
    assert sorted(os.listdir(tmp_path / "metrics")) == ["h5prune_m_%d.prom" % i for i in range(5)]
    res = h5util.run("slurm", "collect", script, "--json")
    assert res.returncode == 0, h5util.describe(res)
    col = json.loads(res.stdout)
    assert os.listdir(tmp_path / "metrics") == [] and len(col["metrics_removed"]) == 5, col
    for p, v in zip(col["points"], sorted(versions(tmp_path), key=lambda v: float(v["rule"]["sparsity"]))):
        assert (p["version"], p["sha256"], p["sparsity"]) == (v["version"], v["sha256"], v["sparsity"]), (p, v)


def test_status_reports_a_failed_point(tmp_path):
    """A task that failed (its metrics file says so) is 'failed' with the reason, and rerun."""
    small_model(tmp_path / "model.h5")
    (tmp_path / "metrics").mkdir()
    script = tmp_path / "sweep.sbatch"
    script.write_text(generate(tmp_path, "--log-dir", "logs", "--metrics-dir", "metrics", spec="0.1,0.2").stdout)
    # Tasks 0 and 1 run by hand as Slurm would; task 1 fails (a selection that matches nothing).
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="0")
    h5util.run_ok("sweep", tmp_path / "model.h5", "--sparsity", "0.1,0.2", "--array-task", "auto", "--materialize",
                  "--registry", tmp_path / "registry", "--model", "m", "--metrics-dir", tmp_path / "metrics",
                  "--threads", "1", env=env)
    env["SLURM_ARRAY_TASK_ID"] = "1"
    bad = h5util.run("sweep", tmp_path / "model.h5", "--sparsity", "0.1,0.2", "--array-task", "auto", "--materialize",
                     "--registry", tmp_path / "registry", "--model", "m", "--metrics-dir", tmp_path / "metrics",
                     "--include", "no-such-tensor", env=env)
    assert bad.returncode == 3, h5util.describe(bad)
    rc, st = status(tmp_path, script)
    assert rc == 1 and [p["state"] for p in st["points"]] == ["recorded", "failed"], st
    assert "exit 3 (input)" in st["points"][1]["detail"], st
    assert st["rerun"] == "sbatch --array=1 %s" % script
    # collect retires the recorded task's metrics file, never a failed one's.
    res = h5util.run("slurm", "collect", script)
    assert res.returncode == 1 and "sbatch --array=1 " in res.stdout, h5util.describe(res)
    assert os.listdir(tmp_path / "metrics") == ["h5prune_m_1.prom"]


def test_generation_checks_directories_and_refuses_to_record_nothing(tmp_path):
    small_model(tmp_path / "model.h5")
    res = h5util.run("slurm", "sweep", tmp_path / "model.h5", "--sparsity", "0.5")
    assert res.returncode == 2 and "record nothing" in res.stderr and res.stdout == "", h5util.describe(res)
    res = h5util.run("slurm", "sweep", tmp_path / "model.h5", "--sparsity", "0.5", "--no-record", "--log-dir", tmp_path)
    assert res.returncode == 0 and "warning" in res.stderr and "--materialize" not in res.stdout, h5util.describe(res)
    res = generate(tmp_path, "--metrics-dir", tmp_path / "no-such-dir", check=False)
    assert res.returncode == 5 and "no-such-dir" in res.stderr and res.stdout == "", h5util.describe(res)
    (tmp_path / "notreg").mkdir()
    (tmp_path / "notreg" / "notes.txt").write_text("mine")
    res = h5util.run("slurm", "sweep", tmp_path / "model.h5", "--sparsity", "0.5", "--registry", tmp_path / "notreg",
                     "--model", "m")
    assert res.returncode == 6 and res.stdout == "", h5util.describe(res)
    res = generate(tmp_path, "--time", "00:01:00", check=False)
    assert res.returncode == 2 and "signal lead" in res.stderr, h5util.describe(res)
    res = h5util.run("slurm", "sweep", tmp_path / "model.h5", "--sparsity", "0.5", "--registry", tmp_path / "registry",
                     "--model", "bad/name")
    assert res.returncode == 6 and res.stdout == "", h5util.describe(res)
    res = h5util.run("slurm", "sweep", tmp_path / "missing.h5", "--sparsity", "0.5", "--registry", tmp_path / "r2",
                     "--model", "m")
    assert res.returncode == 3 and not (tmp_path / "r2").exists(), h5util.describe(res)


@pytest.mark.parametrize("extra,needle", [
    (["--per-tensor", "--eval", "true", "--rule", "out=0.5"], "takes no group rules"),
    (["--rule", "out=0.5,bogus"], "invalid rule"),
    (["--rules", "rules.json"], "does not read back"),
])
def test_group_rules_that_cannot_reach_the_tasks_are_refused(tmp_path, extra, needle):
    """A rule is written into the script only as it will be read there: a --rules entry whose regex
    holds '=' before SPEC-like text would be split elsewhere by --rule, so it is refused; so is a
    bad SPEC, and rules with --per-tensor (which prunes each tensor alone); nothing is created."""
    small_model(tmp_path / "model.h5")
    (tmp_path / "rules.json").write_text(json.dumps({"rules": [{"match": "a=0.5", "rule": "0.25"}]}))
    res = generate(tmp_path, *extra, check=False)
    assert res.returncode == 2 and needle in res.stderr and res.stdout == "", h5util.describe(res)
    assert not (tmp_path / "registry").exists()
    if "--per-tensor" in extra:  # and so does a local sweep
        res = h5util.run("sweep", tmp_path / "model.h5", "--sparsity", "0.5", *extra, cwd=str(tmp_path))
        assert res.returncode == 2 and needle in res.stderr, h5util.describe(res)
