"""A Slurm job array recording into one registry on the loopback test cluster (slurm_cluster.py):
one version per task with the task's Slurm ids in its manifest, and a rerun of the whole
array (what a requeue does) records nothing new."""

import os
import shlex

import datagen
import h5util

from test_registry import check_registry

# slurm_cluster: the one session-wide loopback cluster, defined in conftest.py
TASKS = 6


def test_array_records_one_version_per_task_and_rerun_is_free(slurm_cluster, tmp_path):
    model = datagen.write_h5(tmp_path / "m.h5", {"/d/kernel:0": datagen.make_values(77, "<f4", (96, 64), "normal")})
    reg = tmp_path / "reg"
    cmd = "exec %s prune %s --sparsity 0.${SLURM_ARRAY_TASK_ID}5 --registry %s --model arr --quiet" % (
        shlex.quote(h5util.binary()), shlex.quote(str(model)), shlex.quote(str(reg)))
    logs = tmp_path / "logs"
    logs.mkdir()

    def run_array():
        job = slurm_cluster.submit(None, "--array=0-%d" % (TASKS - 1), "--wrap=" + cmd, "-o", str(logs / "%A_%a.out"))
        states = slurm_cluster.wait_for(job, timeout=180)
        assert set(states.values()) == {"COMPLETED"}, (states, os.listdir(logs))
        out = {}
        for task in range(TASKS):
            with open(logs / ("%s_%d.out" % (job, task))) as fh:
                out[task] = fh.read()
        return job, out

    job, out = run_array()
    ms = check_registry(reg, "arr", TASKS)
    by_task = {m["slurm"]["array_task_id"]: m for m in ms.values()}
    assert sorted(by_task) == [str(t) for t in range(TASKS)]
    for task, m in by_task.items():
        assert m["slurm"]["array_job_id"] == job
        assert m["slurm"]["job_id"]
        assert m["rule"]["sparsity"] == "0.%s5" % task
        assert "recorded as arr@%d" % m["version"] in out[int(task)], out[int(task)]

    job2, out2 = run_array()
    assert job2 != job
    check_registry(reg, "arr", TASKS)
    for task in range(TASKS):
        assert "already recorded as arr@%d" % by_task[str(task)]["version"] in out2[task], out2[task]
    assert h5util.run("verify", "--registry", reg).returncode == 0
