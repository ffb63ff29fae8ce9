"""Tests of the loopback Slurm test cluster (slurm_cluster.py) itself: daemons come up, batch
jobs and arrays run, signals reach batch scripts the way the generated sbatch scripts expect,
and stop() leaves nothing running. None of this needs the h5prune binary."""

import os
import time

import pytest

from slurm_cluster import SlurmCluster, missing_binaries

# slurm_cluster: the one session-wide loopback cluster, defined in conftest.py


@pytest.fixture(scope="session", autouse=True)
def h5prune_bin():
    """Overrides conftest's autouse check: these tests exercise Slurm only, not h5prune."""
    return None


def _wait_file(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError("%s not created within %ss" % (path, timeout))
        time.sleep(0.1)


def _alive(pid):
    """Running (a zombie waiting for init to reap it counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _read(path):
    with open(path) as f:
        return f.read()


def _write_script(path, body):
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def test_cluster_up(slurm_cluster):
    res = slurm_cluster.run(["sinfo", "-h", "-N", "-o", "%N %P %T %c"])
    assert res.stdout.split() == ["localhost", "debug*", "idle", str(slurm_cluster.cpus)], res.stdout
    assert "UP" in slurm_cluster.run(["scontrol", "ping"]).stdout
    env = slurm_cluster.env()
    assert env["SLURM_CONF"] == slurm_cluster.conf_path
    conf = _read(slurm_cluster.conf_path)
    assert "AuthInfo=socket=%s" % slurm_cluster.munge_socket in conf
    assert "SlurmctldHost=localhost(127.0.0.1)" in conf


def test_wrap_job_writes_file(slurm_cluster, tmp_path):
    out = tmp_path / "hello.txt"
    job = slurm_cluster.submit(None, "--wrap=echo hello from $SLURM_JOB_ID > %s" % out,
                               "-o", str(tmp_path / "%j.log"), cwd=str(tmp_path))
    assert slurm_cluster.wait_for(job, timeout=30) == {job: "COMPLETED"}, slurm_cluster.logs()
    assert _read(out) == "hello from %s\n" % job


def test_job_array_task_ids_and_log_names(slurm_cluster, tmp_path):
    script = _write_script(tmp_path / "array.sh",
                           'echo "task=$SLURM_ARRAY_TASK_ID array=$SLURM_ARRAY_JOB_ID"\n')
    job = slurm_cluster.submit(script, "--array=0-2", "-o", str(tmp_path / "%A_%a.out"),
                               cwd=str(tmp_path))
    states = slurm_cluster.wait_for(job, timeout=40)
    assert states == {"%s_%d" % (job, i): "COMPLETED" for i in range(3)}, states
    for i in range(3):
        log = tmp_path / ("%s_%d.out" % (job, i))
        assert _read(log) == "task=%d array=%s\n" % (i, job)


# The batch script traps TERM in the shell and in a background child (standing in for
# `h5prune ... &`), then blocks in `wait`, like the sbatch scripts the product generates.
SIGNAL_SCRIPT = r'''
m=$1
( trap 'echo TERM >> "$m/child"; exit 0' TERM; echo ready > "$m/child_ready"; sleep 300 & wait ) &
child=$!
trap 'echo TERM >> "$m/shell"; sleep 1
      if kill -0 $child 2>/dev/null; then echo alive; else echo gone; fi > "$m/child_after"
      exit 0' TERM
echo ready > "$m/started"
wait
echo "wait returned without the trap" > "$m/notrap"
'''


def test_scancel_signal_reaches_batch_shell(slurm_cluster, tmp_path):
    """Observed with Slurm 22.05 (proctrack/linuxproc), matching `man scancel`:

    - `scancel --signal=TERM JOB` (no flag) signals only job steps other than the batch step;
      a plain sbatch job has none, so nothing in the script sees the signal and the job keeps
      RUNNING (scancel still exits 0).
    - `scancel --signal=TERM --batch JOB` signals the batch shell only: its trap runs at once
      (bash's `wait` returns for a trapped signal), while background children such as
      `h5prune ... &` are NOT signalled; the script must forward the signal itself.
    - `scancel --signal=TERM --full JOB` signals the batch shell and all of its children: both
      the shell trap and the child's own handler run.
    The generated scripts should therefore trap TERM and forward it to the child
    (`kill -TERM $pid; wait $pid`), and operators cancel with `--batch` or `--full`.
    """
    script = _write_script(tmp_path / "trap.sh", SIGNAL_SCRIPT)
    jobs = {}
    for mode in ("batch", "full"):
        d = tmp_path / mode
        d.mkdir()
        jobs[mode] = slurm_cluster.submit(script, "-o", str(d / "job.out"),
                                          script_args=[str(d)], cwd=str(tmp_path))
    for mode, job in jobs.items():
        _wait_file(str(tmp_path / mode / "started"))
        _wait_file(str(tmp_path / mode / "child_ready"))

    # No flag: the batch step is not signalled.
    slurm_cluster.run(["scancel", "--signal=TERM", jobs["batch"]])
    time.sleep(2)
    assert sorted(os.listdir(tmp_path / "batch")) == ["child_ready", "job.out", "started"]
    assert slurm_cluster.states(jobs["batch"]) == {jobs["batch"]: "RUNNING"}

    slurm_cluster.run(["scancel", "--signal=TERM", "--batch", jobs["batch"]])
    slurm_cluster.run(["scancel", "--signal=TERM", "--full", jobs["full"]])
    for mode, job in jobs.items():
        assert slurm_cluster.wait_for(job, timeout=30) == {job: "COMPLETED"}, mode

    d = tmp_path / "batch"
    assert _read(d / "shell") == "TERM\n"
    assert _read(d / "child_after") == "alive\n"   # --batch: child not signalled
    assert not (d / "notrap").exists()
    d = tmp_path / "full"
    assert _read(d / "shell") == "TERM\n"
    assert _read(d / "child") == "TERM\n"          # --full: child signalled too
    assert _read(d / "child_after") == "gone\n"
    assert not (d / "notrap").exists()


def test_signal_option_accepted_and_delivered_to_batch_shell(slurm_cluster, tmp_path):
    """--signal=B:USR1@N (USR1 to the batch shell only, N s before the time limit) is accepted
    and reaches the shell's trap while it blocks in `wait`. slurmctld checks time limits only
    every 30 s (PERIODIC_TIMEOUT), so delivery comes up to ~30 s after it is due (here at ~5 s
    of a 1-minute limit): products must choose N with that slack."""
    script = _write_script(tmp_path / "usr1.sh", (
        "trap 'echo USR1 > usr1; exit 0' USR1\n"
        "echo running > running\n"
        "sleep 50 & wait\n"
        "echo no USR1 > no_usr1\n"))
    job = slurm_cluster.submit(script, "--signal=B:USR1@55", "--time=1", "-o",
                               str(tmp_path / "%j.out"), cwd=str(tmp_path))
    rec = slurm_cluster.jobs(job)[0]
    assert rec["TimeLimit"] == "00:01:00", rec
    assert slurm_cluster.wait_for(job, timeout=70) == {job: "COMPLETED"}
    assert _read(tmp_path / "running") == "running\n"
    assert _read(tmp_path / "usr1") == "USR1\n"
    assert not (tmp_path / "no_usr1").exists()


def test_stop_leaves_nothing_running(tmp_path):
    """A second, independent cluster (own ports, munged and conf) with a job still running:
    stop() must end the daemons, slurmstepd and the job's processes."""
    if missing_binaries():
        pytest.skip("Slurm/MUNGE not installed")
    cluster = SlurmCluster(str(tmp_path / "c2"))
    with cluster:
        job = cluster.submit(None, "--wrap=echo $$ > %s; exec sleep 300" % (tmp_path / "pid"),
                             "-o", str(tmp_path / "out"))
        _wait_file(str(tmp_path / "pid"))
        job_pid = int(_read(tmp_path / "pid"))
        daemon_pids = [p.pid for p in cluster._procs.values()]
        assert _alive(job_pid), cluster.states(job)
    assert len(daemon_pids) == 3
    assert all(p.poll() is not None for p in cluster._procs.values())
    for pid in daemon_pids:
        assert not _alive(pid), "daemon %d survived stop()" % pid
    deadline = time.monotonic() + 5
    while _alive(job_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(job_pid), "job process %d survived stop()" % job_pid
    assert cluster._stray_pids() == []
    assert os.path.exists(os.path.join(cluster.log_dir, "slurmctld.log"))  # nothing deleted
