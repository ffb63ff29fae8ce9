"""Metrics from real Slurm jobs on the loopback test cluster (slurm_cluster.py): one file per
array task, and a job cancelled the way Slurm ends a job at its time limit (SIGTERM to every
process of the job, SIGKILL after KillWait) still leaves its failure file."""

import os
import shlex
import time

import numpy as np
import pytest

import datagen
import h5util
from metrics_util import expected_file_name, one, parse, promtool_check, read_text, small_model


# slurm_cluster: the one session-wide loopback cluster, defined in conftest.py


def test_array_tasks_write_one_file_each(slurm_cluster, tmp_path):
    small_model(tmp_path / "m.h5")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    cmd = "exec %s prune %s -o %s/o_${SLURM_ARRAY_TASK_ID}.h5 --sparsity 0.5 --metrics-dir %s --model arr --quiet" % (
        shlex.quote(h5util.binary()), shlex.quote(str(tmp_path / "m.h5")), shlex.quote(str(tmp_path)),
        shlex.quote(str(mdir)))
    job = slurm_cluster.submit(None, "--array=0-1", "--wrap=" + cmd, "-o", str(tmp_path / "%A_%a.out"))
    states = slurm_cluster.wait_for(job, timeout=120)
    assert set(states.values()) == {"COMPLETED"}, (states, os.listdir(tmp_path))
    assert sorted(os.listdir(mdir)) == ["h5prune_arr_0.prom", "h5prune_arr_1.prom"]
    job_ids = {r["ArrayTaskId"]: r["JobId"] for r in slurm_cluster.jobs(job)}
    for task in ("0", "1"):
        path = mdir / ("h5prune_arr_%s.prom" % task)
        promtool_check(path)
        p = parse(read_text(path))
        assert one(p, "h5prune_last_run_success", model="arr", array_task=task) == 1
        assert one(p, "h5prune_last_run_info", array_task=task, slurm_job_id=job_ids[task]) == 1


def test_cancelled_job_writes_failure(slurm_cluster, tmp_path):
    rng = np.random.default_rng(4)
    src = datagen.write_h5(tmp_path / "slow.h5",
                           {"/dense/kernel:0": rng.standard_normal((5000, 5000), dtype=np.float32)})
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    # Test hook: 100 ms per checkpoint (per slab), so the run is surely under way when it is cancelled
    # (without it, a streamed 100 MB tensor could finish before the job was seen RUNNING).
    cmd = ("exec env H5PRUNE_TEST_CHECKPOINT_DELAY_MS=100 %s prune %s -o %s --sparsity 0.5 --memory-limit 8M "
           "--metrics-dir %s --model %s --quiet") % (
        shlex.quote(h5util.binary()), shlex.quote(str(src)), shlex.quote(str(out / "o.h5")),
        shlex.quote(str(mdir)), shlex.quote("time limit"))
    job = slurm_cluster.submit(None, "--wrap=" + cmd, "-o", str(tmp_path / "job.out"))
    slurm_cluster.wait_for_state(job, "RUNNING", timeout=60)
    deadline = time.monotonic() + 30
    while not os.listdir(out):  # the temporary output: the prune is under way
        states = slurm_cluster.states(job)
        if set(states.values()) != {"RUNNING"} or time.monotonic() > deadline:
            pytest.fail("job %s did not start writing: %s, log %r" % (job, states, read_text(tmp_path / "job.out")))
        time.sleep(0.02)
    slurm_cluster.run(["scancel", job])
    states = slurm_cluster.wait_for(job, timeout=60)
    assert set(states.values()) == {"CANCELLED"}, states
    assert os.listdir(out) == [], "output or temporary left: %r" % os.listdir(out)
    fname = expected_file_name("time limit")
    assert sorted(os.listdir(mdir)) == [fname], read_text(tmp_path / "job.out")
    promtool_check(mdir / fname)
    p = parse(read_text(mdir / fname))
    assert one(p, "h5prune_last_run_success", model="time limit") == 0
    assert one(p, "h5prune_last_run_exit_code", model="time limit") == 143
    assert one(p, "h5prune_last_run_failure_info", model="time limit", reason="sigterm") == 1
    assert one(p, "h5prune_last_run_info", slurm_job_id=job) == 1
