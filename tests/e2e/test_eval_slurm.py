"""A sweep with --eval as a real Slurm job array on the loopback cluster: the script from
`h5prune slurm sweep --eval` records one evaluated version per task, with the task's Slurm ids
in the evaluation record and the metric in the task's metrics file."""

import json
import os

import h5util
import metrics_util

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")


def test_array_sweep_with_eval_records_one_evaluated_version_per_task(slurm_cluster, tmp_path):
    for d in ("metrics", "logs"):
        (tmp_path / d).mkdir()
    reg = tmp_path / "registry"
    res = h5util.run("slurm", "sweep", MLP, "--sparsity", "0.3,0.6,0.9", "--registry", reg, "--model", "digits",
                     "--metrics-dir", tmp_path / "metrics", "--log-dir", tmp_path / "logs", "--cpus-per-task", "1",
                     "--time", "00:05:00", "--eval", EVAL, "--eval-timeout", "2m")
    assert res.returncode == 0, h5util.describe(res)
    assert "--eval " in res.stdout and "--eval-timeout " in res.stdout
    script = tmp_path / "sweep.sbatch"
    script.write_text(res.stdout)
    job = slurm_cluster.submit(script, cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=240)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
    assert len(states) == 3 and set(states.values()) == {"COMPLETED"}, (states, logs)
    log = h5util.run_json("log", "digits", "--registry", reg)
    assert sorted(v["version"] for v in log["versions"]) == [1, 2, 3], logs
    for v in log["versions"]:
        assert v["evaluations"] == 1 and v["evaluation"]["ok"], v
        show = h5util.run_json("show", "digits@%d" % v["version"], "--registry", reg)
        rec = show["evaluations"][0]
        assert rec["slurm"]["array_job_id"] == str(job) and rec["slurm"]["array_task_id"] is not None, rec
        assert rec["slurm"]["array_task_id"] == show["slurm"]["array_task_id"]
        task = rec["slurm"]["array_task_id"]
        path = os.path.join(tmp_path / "metrics", "h5prune_digits_%s.prom" % task)
        metrics_util.promtool_check(path)
        p = metrics_util.parse(metrics_util.read_text(path))
        assert metrics_util.one(p, "h5prune_eval_value", model="digits", array_task=task, version=str(v["version"]),
                                metric="accuracy") == v["evaluation"]["metrics"]["accuracy"]
