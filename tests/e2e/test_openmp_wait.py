"""h5prune runs with OMP_WAIT_POLICY=PASSIVE unless the user set a policy (common/openmp_wait):
it re-executes itself once with the variable set, which /proc/PID/environ shows.

The run streams a 4 MB tensor in 16K slabs (a second or more), long enough to be looked at."""

import os
import signal
import subprocess
import time

import datagen
import h5util


def _environ_while_running(tmp_path, env):
    model = datagen.write_h5(tmp_path / "m.h5", {"/w/kernel": datagen.make_values(5, "<f4", (1024, 1024), "normal")})
    p = subprocess.Popen([h5util.binary(), "prune", str(model), "-o", str(tmp_path / "out.h5"), "--sparsity", "0.5",
                          "--memory-limit", "64K", "--threads", "1"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Without a user policy: until the re-executed image shows up. With one: for half a second,
    # keeping any environment that shows a re-execution (which must not happen).
    user_policy = "OMP_WAIT_POLICY" in env
    seen = b""
    deadline = time.time() + (0.5 if user_policy else 30)
    try:
        while p.poll() is None and time.time() < deadline:
            try:
                with open("/proc/%d/environ" % p.pid, "rb") as f:
                    now = f.read()
            except OSError:
                break
            if not seen or b"H5PRUNE_OPENMP_REEXEC=1" in now:
                seen = now
            if b"H5PRUNE_OPENMP_REEXEC=1" in seen:
                break
            time.sleep(0.002)
        return dict(v.split(b"=", 1) for v in seen.split(b"\0") if b"=" in v)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()


def test_passive_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "H5PRUNE_OPENMP_REEXEC")}
    got = _environ_while_running(tmp_path, env)
    assert got.get(b"OMP_WAIT_POLICY") == b"PASSIVE", "h5prune did not re-execute with a passive policy: %r" % {
        k: v for k, v in got.items() if k.startswith((b"OMP", b"H5PRUNE"))}


def test_user_policy_stands(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="active")
    env.pop("H5PRUNE_OPENMP_REEXEC", None)
    got = _environ_while_running(tmp_path, env)
    assert got.get(b"OMP_WAIT_POLICY") == b"active", "the user's OMP_WAIT_POLICY was replaced: %r" % got.get(b"OMP_WAIT_POLICY")
    assert b"H5PRUNE_OPENMP_REEXEC" not in got, "re-executed although the user chose a policy"


def _interpreter(path):
    """The ELF program interpreter (PT_INTERP) of a 64-bit little-endian executable."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return None


def test_started_through_the_loader(tmp_path):
    """`ld.so h5prune ...`: /proc/self/exe is the loader, so h5prune must not re-execute it
    (the loader would take the first argument for the program). --version: nothing after the
    start-up runs; then a prune, whose input check (host/input_check) starts a process of its own."""
    loader = _interpreter(h5util.binary())
    assert loader and os.path.exists(loader), loader
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "H5PRUNE_OPENMP_REEXEC")}
    res = subprocess.run([loader, h5util.binary(), "--version"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("h5prune "), (res.returncode, res.stdout, res.stderr)
    # A prune: its input check runs in a process of its own, started through the loader too.
    out = tmp_path / "out.h5"
    res = subprocess.run([loader, h5util.binary(), "prune", os.path.join(h5util.REPO, "examples", "keras2c_model.h5"),
                          "-o", str(out), "--sparsity", "0.5", "--quiet"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 0 and out.exists(), (res.returncode, res.stdout, res.stderr)
    direct = tmp_path / "direct.h5"
    h5util.run_ok("prune", os.path.join(h5util.REPO, "examples", "keras2c_model.h5"), "-o", direct, "--sparsity", "0.5",
                  "--quiet")
    assert out.read_bytes() == direct.read_bytes()
