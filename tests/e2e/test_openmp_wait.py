"""h5prune runs with OMP_WAIT_POLICY=PASSIVE unless the user set a policy (common/openmp_wait):
it re-executes itself once with the variable set, which /proc/PID/environ shows.

The input is a FIFO with no writer, so h5prune blocks in its first open() and can be looked at."""

import os
import signal
import subprocess
import time

import h5util


def _environ_while_blocked(tmp_path, env):
    fifo = tmp_path / "input.h5"
    os.mkfifo(fifo)
    p = subprocess.Popen([h5util.binary(), "prune", str(fifo), "-o", str(tmp_path / "out.h5"), "--sparsity", "0.5"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            with open("/proc/%d/environ" % p.pid, "rb") as f:
                seen = f.read()
            with open("/proc/%d/wchan" % p.pid) as f:
                blocked = f.read().strip() not in ("", "0")
            # blocked in open() of the FIFO after the exec (if any) has happened
            if blocked and os.readlink("/proc/%d/exe" % p.pid) == os.path.realpath(h5util.binary()):
                if b"H5PRUNE_OPENMP_REEXEC=1" in seen or env.get("OMP_WAIT_POLICY"):
                    break
            time.sleep(0.05)
        return dict(v.split(b"=", 1) for v in seen.split(b"\0") if b"=" in v)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


def test_passive_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "H5PRUNE_OPENMP_REEXEC")}
    got = _environ_while_blocked(tmp_path, env)
    assert got.get(b"OMP_WAIT_POLICY") == b"PASSIVE", "h5prune did not re-execute with a passive policy: %r" % {
        k: v for k, v in got.items() if k.startswith((b"OMP", b"H5PRUNE"))}


def test_user_policy_stands(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="active")
    env.pop("H5PRUNE_OPENMP_REEXEC", None)
    got = _environ_while_blocked(tmp_path, env)
    assert got.get(b"OMP_WAIT_POLICY") == b"active", "the user's OMP_WAIT_POLICY was replaced: %r" % got.get(b"OMP_WAIT_POLICY")
    assert b"H5PRUNE_OPENMP_REEXEC" not in got, "re-executed although the user chose a policy"
