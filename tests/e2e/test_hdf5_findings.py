"""Damaged files that crash or hang libhdf5 1.10 itself (tests/fuzz/hdf5_findings, found by the
fuzzing run): the input's metadata is walked first in a separate check process with a time
bound, so every command ends with exit 3 (or 0 where libhdf5 reads the file without harm), one
line naming the file, no temporary left, within a bound; SIGTERM and SIGKILL leave no process."""

import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

import datagen
import h5util

FINDINGS = os.path.join(h5util.REPO, "tests", "fuzz", "hdf5_findings")
NAMES = sorted(os.listdir(FINDINGS))
# Inputs that crash or hang the uninstrumented library in at least one of the commands below
# (the others are heap overreads that AddressSanitizer sees and a plain build reads silently).
MUST_FAIL = {
    "bad_free_in_H5MM_xfree.h5",
    "unchecked_malloc_in_H5F_accum_read.h5",
    "slow_vlen_attribute_read_from_damaged_global_heap.h5",
    "endless_vlen_dataset_copy_from_damaged_global_heap.h5",
}
CHECK_SECONDS = 3
COMMANDS = {
    "prune": lambda src: ["prune", src, "-o", "out.h5", "--sparsity", "0.5"],
    "prune-csr": lambda src: ["prune", src, "-o", "out.h5", "--sparsity", "0.5", "--format", "csr"],
    "stats": lambda src: ["stats", src],
    "densify": lambda src: ["densify", src, "-o", "out.h5"],
    "sweep": lambda src: ["sweep", src, "--sparsity", "0.5,0.9"],
}


def check_env(seconds=CHECK_SECONDS):
    env = dict(os.environ)
    env["H5PRUNE_INPUT_CHECK_TIMEOUT"] = str(seconds)
    return env


def check_processes(path):
    """Check processes still alive for `path` (read from /proc; nothing is signalled)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"__check-input" in argv and os.fsencode(str(path)) in argv:
            found.append(int(pid))
    return found


def test_every_representative_is_kept():
    assert MUST_FAIL <= set(NAMES), NAMES
    assert len(NAMES) >= 7


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", NAMES)
def test_damaged_file_ends_cleanly(tmp_path, name, command):
    src = tmp_path / name
    src.write_bytes(open(os.path.join(FINDINGS, name), "rb").read())
    out = tmp_path / "out"
    out.mkdir()
    start = time.monotonic()
    res = h5util.run(*COMMANDS[command](str(src)), cwd=out, env=check_env(), timeout=60)
    elapsed = time.monotonic() - start
    ctx = h5util.describe(res)
    assert res.returncode in (0, 3), ctx  # never a crash by signal, never another code
    if name in MUST_FAIL:
        assert res.returncode == 3, ctx
    if res.returncode == 3:
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("h5prune: error:"), ctx
        assert str(src) in lines[0], "the line does not name the file\n" + ctx
        assert os.listdir(out) == [], "debris left\n" + ctx
    else:
        assert [n for n in os.listdir(out) if ".tmp." in n] == [], ctx
    assert sorted(os.listdir(tmp_path)) == sorted([name, "out"]), ctx
    assert elapsed < CHECK_SECONDS + 15, "took %.1f s\n%s" % (elapsed, ctx)
    assert check_processes(src) == [], "a check process outlived the run"


def test_crash_in_check_names_the_signal(tmp_path):
    src = tmp_path / "bad.h5"
    src.write_bytes(open(os.path.join(FINDINGS, "unchecked_malloc_in_H5F_accum_read.h5"), "rb").read())
    res = h5util.run("stats", str(src), env=check_env(), timeout=60)
    assert res.returncode == 3, h5util.describe(res)
    assert "crashed the HDF5 library (SIGSEGV in the check process)" in res.stderr, h5util.describe(res)


def test_hang_in_check_is_bounded(tmp_path):
    src = tmp_path / "slow.h5"
    src.write_bytes(open(os.path.join(FINDINGS, "slow_vlen_attribute_read_from_damaged_global_heap.h5"), "rb").read())
    start = time.monotonic()
    res = h5util.run("densify", str(src), "-o", str(tmp_path / "o.h5"), env=check_env(2), timeout=60)
    elapsed = time.monotonic() - start
    assert res.returncode == 3, h5util.describe(res)
    assert "did not finish reading its metadata within 2 s" in res.stderr, h5util.describe(res)
    assert 2 <= elapsed < 10, elapsed
    assert sorted(os.listdir(tmp_path)) == ["slow.h5"]


def start_on_hanging_file(tmp_path):
    src = tmp_path / "slow.h5"
    src.write_bytes(open(os.path.join(FINDINGS, "slow_vlen_attribute_read_from_damaged_global_heap.h5"), "rb").read())
    proc = subprocess.Popen([h5util.binary(), "prune", str(src), "-o", str(tmp_path / "o.h5"), "--sparsity", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=check_env(120))
    deadline = time.monotonic() + 20
    while not check_processes(src):  # the check has started (and hangs: 120 s allowed)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc, src


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_stop_signal_during_check(tmp_path, sig):
    proc, src = start_on_hanging_file(tmp_path)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3, "the run did not stop promptly"
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and "interrupted by signal %d" % sig in err, err
    assert sorted(os.listdir(tmp_path)) == ["slow.h5"]
    assert check_processes(src) == []


def test_killed_run_takes_its_check_along(tmp_path):
    proc, src = start_on_hanging_file(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while check_processes(src) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check_processes(src) == [], "the check process outlived a kill -9 of its run"


def test_bad_timeout_value_is_a_usage_error(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("/dense/kernel", data=datagen.make_values(1313, "<f4", (8, 8), "normal"))
    res = h5util.run("stats", str(tmp_path / "m.h5"), env=check_env("soon"))
    assert res.returncode == 2 and "H5PRUNE_INPUT_CHECK_TIMEOUT" in res.stderr, h5util.describe(res)


def test_check_off_leaves_the_crash_to_the_run(tmp_path):
    # With the check off (0), the same file crashes libhdf5 inside the run: the crash handler
    # still removes temporaries and prints one line, but the exit is by the signal.
    src = tmp_path / "bad.h5"
    src.write_bytes(open(os.path.join(FINDINGS, "unchecked_malloc_in_H5F_accum_read.h5"), "rb").read())
    res = h5util.run("prune", str(src), "-o", str(tmp_path / "o.h5"), "--sparsity", "0.5", env=check_env(0))
    assert res.returncode == -signal.SIGSEGV, h5util.describe(res)
    assert sorted(os.listdir(tmp_path)) == ["bad.h5"]


def test_checked_run_gives_the_same_output(tmp_path):
    # The check changes nothing in what a run writes (a file with vlen strings, references,
    # a large and a small dataset: both walk paths).
    src = tmp_path / "m.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/big/kernel", data=datagen.make_values(7, "<f4", (700, 500), "normal"), chunks=(100, 100))
        f.create_dataset("/small/kernel", data=datagen.make_values(8, "<f4", (16, 8), "normal"))
        f.create_dataset("/names", data=np.array([b"a", b"bc"], dtype=object), dtype=h5py.string_dtype())
        f["/small"].attrs["ref"] = f["/big/kernel"].ref
        f.attrs["note"] = "hello"
    a = h5util.run("prune", str(src), "-o", str(tmp_path / "a.h5"), "--sparsity", "0.5", env=check_env(0))
    b = h5util.run("prune", str(src), "-o", str(tmp_path / "b.h5"), "--sparsity", "0.5", env=check_env(60))
    assert a.returncode == 0 and b.returncode == 0, (h5util.describe(a), h5util.describe(b))
    assert h5util.sha256(tmp_path / "a.h5") == h5util.sha256(tmp_path / "b.h5")


def damaged_heap_file(path, flip):
    """A Keras-like file with a variable-length string dataset whose global heap collection is
    damaged at `flip` bytes past its signature (0: the signature itself, which libhdf5 1.10 does
    not check before it crashes while copying that dataset)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("/dense/kernel", data=datagen.make_values(1313, "<f4", (16, 8), "normal"))
        f.create_dataset("/names", data=np.array(["alpha", "beta", "gamma"], dtype=object), dtype=h5py.string_dtype())
    data = bytearray(path.read_bytes())
    at = data.find(b"GCOL")
    assert at > 0
    data[at + flip] ^= 0xFF
    path.write_bytes(bytes(data))


def test_crafted_damaged_global_heap(tmp_path):
    src = tmp_path / "heap.h5"
    damaged_heap_file(src, 0)
    words = "crashed the HDF5 library"
    out = tmp_path / "out"
    out.mkdir()
    res = h5util.run("prune", src, "-o", out / "p.h5", "--sparsity", "0.5", env=check_env(), timeout=60)
    ctx = h5util.describe(res)
    assert res.returncode == 3 and len(res.stderr.splitlines()) == 1, ctx
    assert str(src) in res.stderr and words in res.stderr, ctx
    assert os.listdir(out) == [], ctx


@pytest.mark.skipif(os.geteuid() != 0, reason="hiding /proc takes a mount namespace (root)")
def test_check_runs_without_proc(tmp_path):
    """A chroot or container without /proc (the package test's fresh chroot): the check process
    is started through the path the program was executed by, and still contains the crash."""
    bad = os.path.join(FINDINGS, "unchecked_malloc_in_H5F_accum_read.h5")
    good = os.path.join(h5util.REPO, "examples", "keras2c_model.h5")
    script = ('mount -t tmpfs none /proc && "$0" stats "$1"; echo "rc=$?"; '
              '"$0" prune "$2" -o "$3" --sparsity 0.5 --quiet > /dev/null; echo "rc=$?"')
    res = subprocess.run(["unshare", "--mount", "sh", "-c", script, h5util.binary(), bad, good, str(tmp_path / "o.h5")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, env=check_env())
    codes = [line for line in res.stdout.splitlines() if line.startswith("rc=")]
    assert codes == ["rc=3", "rc=0"], (codes, res.stderr)
    assert "crashed the HDF5 library" in res.stderr and "cannot start the check process" not in res.stderr, res.stderr
    assert (tmp_path / "o.h5").exists()
