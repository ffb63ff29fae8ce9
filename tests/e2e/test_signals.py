"""SIGTERM / SIGINT during a long prune: exit 128+signal, no output, no temporary left."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest

import datagen
import h5util

SEED = 7
N_ROWS, N_COLS = 10000, 5000  # 50M float32 weights, 200 MB


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((N_ROWS, N_COLS), dtype=np.float32)
    path = datagen.write_h5(d / "big.h5", {"/dense/kernel:0": w,
                                           "/dense/bias:0": np.zeros(N_COLS, np.float32)})
    del w
    return path, h5util.sha256(path)


@pytest.mark.parametrize("sig,rule", [
    (signal.SIGTERM, ["--sparsity", "0.5"]),
    (signal.SIGINT, ["--sparsity", "0.5", "--scope", "global"]),
], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(tmp_path, big_model, sig, rule):
    src, src_sha = big_model
    d_out = tmp_path / "out"
    d_out.mkdir()
    out = d_out / "pruned.h5"
    # --json asks for the output's SHA-256, so the run has a publish stage to be caught in too
    # (a plain run hashes nothing and can finish within a fraction of a second of writing).
    cmd = [h5util.binary(), "prune", str(src), "-o", str(out), "--memory-limit", "16M", "--json"] + rule
    ctx = "[%s during: %s]" % (sig.name, " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    t0 = time.monotonic()
    seen = []
    try:
        # signal once the temporary output appears (or after 2 s of reading, if it has not)
        while time.monotonic() - t0 < 2.0 and proc.poll() is None:
            seen = os.listdir(d_out)
            if seen:
                time.sleep(0.05)
                break
            time.sleep(0.02)
        if proc.poll() is not None:
            out_s, err_s = proc.communicate()
            pytest.fail("%s finished (exit %d) after %.2fs, before the signal could be sent; the test "
                        "file is too small for this machine. stderr: %r"
                        % (ctx, proc.returncode, time.monotonic() - t0, err_s[-500:]))
        t_sig = time.monotonic() - t0
        proc.send_signal(sig)
        out_s, err_s = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ctx += " signalled at %.2fs, output dir then held %r" % (t_sig, seen)
    assert proc.returncode == 128 + sig, (
        "%s: exit %r, expected %d (a negative value means the process was killed by the signal "
        "instead of handling it). stderr: %r" % (ctx, proc.returncode, 128 + sig, err_s[-1000:]))
    left = os.listdir(d_out)
    assert left == [], "%s: files left in the output directory: %r" % (ctx, left)
    assert h5util.sha256(src) == src_sha, "%s: input modified" % ctx
    assert os.listdir(os.path.dirname(src)) == ["big.h5"], "%s: files left next to the input" % ctx


# ------------------------------------------------------------------ every stop signal, crashes, hangs

def slow_run(tmp_path, extra_env=None, rule=("--sparsity", "0.5")):
    """A small prune slowed down at every checkpoint (test hook), started and left running
    until its temporary output exists. Returns (proc, output dir, input, input sha256)."""
    d_in, d_out = tmp_path / "in", tmp_path / "out"
    d_in.mkdir()
    d_out.mkdir()
    src = datagen.write_h5(d_in / "m.h5", {"/dense/kernel": datagen.make_values(SEED, "<f4", (512, 256), "normal")})
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="300")
    env.update(extra_env or {})
    cmd = [h5util.binary(), "prune", str(src), "-o", str(d_out / "p.h5"), "--memory-limit", "64K"] + list(rule)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    t0 = time.monotonic()
    while not os.listdir(d_out):
        if proc.poll() is not None or time.monotonic() - t0 > 30:
            proc.kill()
            pytest.fail("no temporary output appeared: %r" % (proc.communicate(),))
        time.sleep(0.02)
    return proc, d_out, src, h5util.sha256(src)


def finish(proc, timeout=30):
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE, signal.SIGALRM, signal.SIGUSR1,
                                 signal.SIGTERM], ids=lambda s: s.name)
def test_every_stop_signal_exits_128_plus_n_without_debris(tmp_path, sig):
    proc, d_out, src, sha = slow_run(tmp_path)
    proc.send_signal(sig)
    _, err = finish(proc)
    assert proc.returncode == 128 + sig, "exit %r for %s; stderr %r" % (proc.returncode, sig.name, err)
    assert os.listdir(d_out) == [], "temporary left after %s" % sig.name
    assert h5util.sha256(src) == sha
    assert len(err.splitlines()) == 1 and "interrupted by signal %d" % sig in err, err


def test_second_signal_stops_at_once(tmp_path):
    # A checkpoint that sleeps 60 s stands for a library call that does not return.
    proc, d_out, _, _ = slow_run(tmp_path, {"H5PRUNE_TEST_CHECKPOINT_DELAY_MS": "60000"})
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None, "the stand-in for a stuck call did not hold the run"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc, timeout=5)
    assert time.monotonic() - t0 < 2, "the second signal did not stop the run at once"
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err)
    assert "twice" in err and len(err.splitlines()) == 1, err
    assert os.listdir(d_out) == [], "temporary left after the second signal"


def test_a_stuck_run_ends_after_the_grace_period(tmp_path):
    proc, d_out, _, _ = slow_run(tmp_path, {"H5PRUNE_TEST_CHECKPOINT_DELAY_MS": "60000"})
    time.sleep(0.2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = finish(proc, timeout=30)
    waited = time.monotonic() - t0
    assert proc.returncode == 143 and 9 < waited < 20, (proc.returncode, waited, err)
    assert "grace period" in err, err
    assert os.listdir(d_out) == []


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT], ids=lambda s: s.name)
def test_a_crash_removes_the_temporary(tmp_path, sig):
    proc, d_out, src, sha = slow_run(tmp_path)
    proc.send_signal(sig)
    _, err = finish(proc)
    assert proc.returncode == -sig, "expected death by %s, got %r; %r" % (sig.name, proc.returncode, err)
    assert os.listdir(d_out) == [], "temporary left after %s" % sig.name
    assert len(err.splitlines()) == 1 and "crashed with signal %d" % sig in err, err
    assert h5util.sha256(src) == sha


def test_a_crash_in_a_registry_run_removes_the_staged_output(tmp_path):
    reg = tmp_path / "reg"
    d_in = tmp_path / "in"
    d_in.mkdir()
    src = datagen.write_h5(d_in / "m.h5", {"/dense/kernel": datagen.make_values(SEED, "<f4", (512, 256), "normal")})
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="300")
    proc = subprocess.Popen([h5util.binary(), "prune", str(src), "--sparsity", "0.5", "--registry", str(reg),
                             "--memory-limit", "64K"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    t0 = time.monotonic()
    while not any(os.listdir(os.path.join(reg, "staging", s)) for s in
                  (os.listdir(reg / "staging") if (reg / "staging").is_dir() else [])):
        assert proc.poll() is None and time.monotonic() - t0 < 30, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGSEGV)
    finish(proc)
    assert proc.returncode == -signal.SIGSEGV
    assert os.listdir(reg / "staging") == [], "staging left: %r" % os.listdir(reg / "staging")


def test_fifo_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "in.h5"
    os.mkfifo(fifo)
    for args in (["prune", fifo, "-o", tmp_path / "o.h5", "--sparsity", "0.5"], ["stats", fifo],
                 ["prune", fifo, "--sparsity", "0.5", "--registry", tmp_path / "reg"]):
        res = h5util.run(*args, timeout=20)
        assert res.returncode == 3 and "not a regular file" in res.stderr, h5util.describe(res)


@pytest.mark.parametrize("kind", ["fifo", "dangling link", "link to a file", "/dev/null"])
def test_force_never_replaces_a_special_output(tmp_path, kind):
    src = datagen.write_h5(tmp_path / "m.h5", {"/k": datagen.make_values(SEED, "<f4", (16, 16), "normal")})
    out = tmp_path / "out.h5"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "dangling link":
        os.symlink(tmp_path / "nowhere.h5", out)
    elif kind == "link to a file":
        (tmp_path / "target.h5").write_bytes(b"keep")
        os.symlink(tmp_path / "target.h5", out)
    else:
        out = "/dev/null"
    before = os.lstat(out)
    res = h5util.run("prune", src, "-o", out, "--sparsity", "0.5", "--force")
    assert res.returncode == 5 and "replaces only regular files" in res.stderr, h5util.describe(res)
    after = os.lstat(out)
    assert (before.st_mode, before.st_ino, before.st_rdev) == (after.st_mode, after.st_ino, after.st_rdev)
    assert sorted(os.listdir(tmp_path)) == sorted(n for n in os.listdir(tmp_path) if not n.startswith("."))


def test_force_keeps_the_replaced_files_permissions(tmp_path):
    src = datagen.write_h5(tmp_path / "m.h5", {"/k": datagen.make_values(SEED, "<f4", (16, 16), "normal")})
    out = tmp_path / "out.h5"
    out.write_bytes(b"old")
    os.chmod(out, 0o600)
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5", "--force")
    assert os.stat(out).st_mode & 0o7777 == 0o600
