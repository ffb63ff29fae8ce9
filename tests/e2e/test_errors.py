"""Errors: documented exit code, one 'h5prune: error:' line naming the file/object, nothing
left behind in the output (or input) directory, the input never modified."""

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import time

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

SEED = 99


class Scene:
    def __init__(self, tmp_path):
        self.root = tmp_path
        self.d_in = tmp_path / "in"
        self.d_out = tmp_path / "out"
        self.d_in.mkdir()
        self.d_out.mkdir()
        self.src = self.d_in / "model.h5"
        datagen.write_h5(self.src, {
            "/dense/kernel:0": datagen.make_values(SEED, "<f4", (16, 8), "normal"),
            "/dense/bias:0": datagen.make_values(SEED + 1, "<f4", (8,), "normal"),
        })
        self.out = self.d_out / "pruned.h5"

    def snapshot(self, *files):
        snap = {"in": h5util.listdir_all(self.d_in), "out": h5util.listdir_all(self.d_out),
                "cwd": h5util.listdir_all(self.root)}
        for f in files:
            snap[str(f)] = h5util.sha256(f) if os.path.isfile(f) else None
        return snap

    def expect(self, args, code, names=(), watch=(), ctx="", **run_kw):
        """Run; check exit code, the single stderr line and the names in it, and that
        nothing changed on disk (directories listed, watched files hashed)."""
        watch = [self.src] + list(watch)
        before = self.snapshot(*watch)
        res = h5util.run(*args, cwd=self.root, **run_kw)
        ctx = "[%s]\n%s" % (ctx or " ".join(str(a) for a in args), h5util.describe(res))
        assert res.returncode == code, "expected exit %d, got %d %s" % (code, res.returncode, ctx)
        lines = [ln for ln in res.stderr.splitlines()]
        assert len(lines) == 1, "expected exactly one stderr line, got %d %s" % (len(lines), ctx)
        line = lines[0]
        assert line.startswith("h5prune: error:"), "stderr line does not start with 'h5prune: error:' %s" % ctx
        for alternatives in names:
            if isinstance(alternatives, str):
                alternatives = (alternatives,)
            assert any(a in line for a in alternatives), (
                "error line does not name any of %r %s" % (alternatives, ctx))
        after = self.snapshot(*watch)
        assert after == before, "files changed on disk:\n before %r\n after  %r %s" % (before, after, ctx)
        return line


@pytest.fixture
def scene(tmp_path):
    return Scene(tmp_path)


# ------------------------------------------------------------------------------ exit 2

USAGE = [
    ("unknown option", ["--sparsity", "0.5", "--bogus-option"], [("bogus-option",)]),
    ("sparsity 1.5", ["--sparsity", "1.5"], [("1.5",)]),
    ("sparsity -0.1", ["--sparsity", "-0.1"], [("-0.1",)]),
    ("sparsity abc", ["--sparsity", "abc"], [("abc",)]),
    ("sparsity 1.0000000000000000001", ["--sparsity", "1.0000000000000000001"], [("1.0000000000000000001",)]),
    ("threshold -1", ["--threshold", "-1"], [("-1",)]),
    ("threshold nan", ["--threshold", "nan"], [("nan", "NaN")]),
    ("both rules", ["--sparsity", "0.5", "--threshold", "0.1"], [("sparsity",), ("threshold",)]),
    ("neither rule", [], [("sparsity", "threshold")]),
    ("bad memory limit", ["--sparsity", "0.5", "--memory-limit", "12Q"], [("12Q",)]),
    ("bad scope", ["--sparsity", "0.5", "--scope", "bogus"], [("bogus",)]),
]


@pytest.mark.parametrize("what,opts,names", USAGE, ids=[u[0] for u in USAGE])
def test_usage_errors_exit_2(scene, what, opts, names):
    scene.expect(["prune", scene.src, "-o", scene.out] + opts, 2, names, ctx=what)


def test_missing_output_option_exit_2(scene):
    scene.expect(["prune", scene.src, "--sparsity", "0.5"], 2, [("-o", "output")])


def test_unknown_command_exit_2(scene):
    scene.expect(["frobnicate", scene.src], 2, [("frobnicate",)])


# ------------------------------------------------------------------------------ exit 3

def test_missing_input_exit_3(scene):
    src = scene.d_in / "nope.h5"
    scene.expect(["prune", src, "-o", scene.out, "--sparsity", "0.5"], 3, [("nope.h5",)])


def test_missing_input_stats_exit_3(scene):
    src = scene.d_in / "nope.h5"
    scene.expect(["stats", src], 3, [("nope.h5",)])


def test_text_file_exit_3(scene):
    src = scene.d_in / "notes.h5"
    src.write_text("this is not an HDF5 file\n" * 10)
    scene.expect(["prune", src, "-o", scene.out, "--sparsity", "0.5"], 3, [("notes.h5",)], watch=[src])


def test_truncated_file_exit_3(scene):
    real = os.path.join(h5util.FIXTURES, "Rohan581__Sentiment_Analysis__model.hdf5")
    src = scene.d_in / "trunc.h5"
    if os.path.isfile(real):
        data = open(real, "rb").read()
    else:  # fixtures missing: truncate a generated file instead
        big = scene.d_in / "big.h5"
        datagen.write_h5(big, {"/w": datagen.make_values(SEED, "<f4", (512, 512), "normal")})
        data = big.read_bytes()
        big.unlink()
    src.write_bytes(data[: len(data) // 2])
    scene.expect(["prune", src, "-o", scene.out, "--sparsity", "0.5"], 3, [("trunc.h5",)], watch=[src])


def test_no_tensor_selected_exit_3(scene):
    scene.expect(["prune", scene.src, "-o", scene.out, "--sparsity", "0.5", "--include", "nomatch"],
                 3, [("model.h5",)])


def test_no_tensor_in_file_exit_3(scene):
    src = scene.d_in / "biases.h5"
    datagen.write_h5(src, {"/b": np.ones(4, np.float32), "/i": np.ones((4, 4), np.int32)})
    scene.expect(["prune", src, "-o", scene.out, "--threshold", "0.5"], 3, [("biases.h5",)], watch=[src])


def test_lzf_selected_dataset_exit_3(scene):
    """lzf is h5py's own filter; the HDF5 C library cannot decode it."""
    src = scene.d_in / "lzf.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("lzf/kernel", data=datagen.make_values(SEED, "<f4", (64, 64), "normal"),
                         compression="lzf", chunks=(16, 16))
        f.create_dataset("plain/kernel", data=datagen.make_values(SEED + 1, "<f4", (8, 8), "normal"))
    scene.expect(["prune", src, "-o", scene.out, "--sparsity", "0.5"], 3,
                 [("lzf.h5",), ("lzf/kernel",)], watch=[src])


# ------------------------------------------------------------------------------ exit 4

@pytest.mark.parametrize("rule", [["--sparsity", "0.5"], ["--sparsity", "0.5", "--scope", "global"],
                                  ["--threshold", "0.1"]], ids=["tensor", "global", "threshold"])
def test_nan_exit_4(scene, rule):
    src = scene.d_in / "nan.h5"
    k = datagen.make_values(SEED, "<f4", (16, 8), "normal")
    k.ravel()[[3, 10, 11, 50, 77, 100, 127]] = np.nan  # 7 NaNs
    datagen.write_h5(src, {"/dense/kernel:0": k,
                           "/aaa/kernel:0": datagen.make_values(SEED + 1, "<f4", (4, 4), "normal")})
    line = scene.expect(["prune", src, "-o", scene.out] + rule, 4,
                        [("nan.h5",), ("dense/kernel:0",)], watch=[src])
    words = re.sub(r"\S*/\S*", " ", line)  # drop file and tensor paths (they may hold digits)
    assert re.search(r"(?<![\d.])7(?![\d.])", words), "NaN count 7 not in error line: %r" % line


def test_nan_in_unselected_dataset_is_copied(tmp_path):
    src = tmp_path / "in.h5"
    b = np.array([1.0, np.nan, -2.0], dtype=np.float32)
    b.view(np.uint32)[1] = 0x7FC01234  # a NaN payload that must survive bit for bit
    k = datagen.make_values(SEED, "<f4", (8, 8), "normal")
    datagen.write_h5(src, {"/d/bias": b, "/d/kernel": k})
    out = tmp_path / "out.h5"
    h5util.run_ok("prune", src, "-o", out, "--sparsity", "0.5")
    with h5py.File(out, "r") as f:
        h5util.assert_bits_equal(f["/d/bias"][()], b, "[NaN in unselected bias]")
    paths, res, _ = reference.prune_file(src, sparsity="0.5")
    checks.check_output_tensors(out, paths, res, "[NaN in unselected bias]")


# ------------------------------------------------------------------------------ exit 5

def test_existing_output_needs_force(scene):
    scene.out.write_bytes(b"previous content")
    scene.expect(["prune", scene.src, "-o", scene.out, "--sparsity", "0.5"], 5,
                 [("pruned.h5",)], watch=[scene.out])
    res = h5util.run("prune", scene.src, "-o", scene.out, "--sparsity", "0.5", "--force")
    assert res.returncode == 0, "--force should replace the output\n" + h5util.describe(res)
    assert h5util.listdir_all(scene.d_out) == ["pruned.h5"], "leftovers: %r" % h5util.listdir_all(scene.d_out)
    paths, r, _ = reference.prune_file(scene.src, sparsity="0.5")
    checks.check_output_tensors(scene.out, paths, r, "[--force]")


def test_output_directory_missing(scene):
    out = scene.d_out / "missing_dir" / "pruned.h5"
    scene.expect(["prune", scene.src, "-o", out, "--sparsity", "0.5"], 5, [("missing_dir",)])


@contextlib.contextmanager
def _unwritable_dir(base):
    """A directory that this process cannot create files in, even as root:
    mode 0555 for a normal user; for root, the immutable attribute (chattr +i)."""
    d = base / "ro"
    d.mkdir()
    (d / "keep.txt").write_text("x")
    if os.geteuid() != 0:
        os.chmod(d, 0o555)
        try:
            yield d
        finally:
            os.chmod(d, 0o755)
        return
    chattr = shutil.which("chattr")
    ok = chattr and subprocess.run([chattr, "+i", str(d)], stderr=subprocess.DEVNULL).returncode == 0
    if not ok:
        pytest.skip("running as root and cannot make a directory immutable (chattr +i)")
    try:
        try:
            open(d / "probe", "w").close()
            os.unlink(d / "probe")
            pytest.skip("immutable directory is still writable here")
        except OSError:
            pass
        yield d
    finally:
        subprocess.run([chattr, "-i", str(d)])


def test_output_directory_not_writable(scene):
    with _unwritable_dir(scene.d_out) as d:
        before = h5util.listdir_all(d)
        out = d / "pruned.h5"
        scene.expect(["prune", scene.src, "-o", out, "--sparsity", "0.5"], 5, [("pruned.h5", str(d))])
        assert h5util.listdir_all(d) == before, "files left in the unwritable directory"


def test_output_not_writable_sysfs(scene):
    """Root-proof variant: a path under /sys, where even root cannot create files."""
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("/sys not mounted")
    out = "/sys/kernel/h5prune_e2e_out.h5"
    try:
        open(out, "w").close()
        os.unlink(out)
        pytest.skip("%s is writable here" % out)
    except OSError:
        pass
    scene.expect(["prune", scene.src, "-o", out, "--sparsity", "0.5"], 5, [("h5prune_e2e_out.h5", "/sys/kernel")])
    assert not os.path.exists(out)


@pytest.mark.parametrize("spelling", ["same", "dot", "dotdot"])
@pytest.mark.parametrize("force", [False, True], ids=["noforce", "force"])
def test_output_is_input(scene, spelling, force):
    (scene.d_in / "sub").mkdir()
    out = {"same": str(scene.src),
           "dot": "%s/./%s" % (scene.d_in, scene.src.name),
           "dotdot": "%s/sub/../%s" % (scene.d_in, scene.src.name)}[spelling]
    args = ["prune", scene.src, "-o", out, "--sparsity", "0.5"] + (["--force"] if force else [])
    scene.expect(args, 5, [("model.h5",)])


def _file_size_limit(nbytes):
    """preexec_fn: writes beyond nbytes fail with EFBIG (SIGXFSZ ignored), like a full disk."""
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


@pytest.mark.parametrize("limit", [4096, 300_000, 1_200_000])
def test_write_failure_exit_5(scene, limit):
    """A write failure (disk full, simulated with RLIMIT_FSIZE) is exit 5, one error line
    naming the output, and no temporary left behind."""
    src = scene.d_in / "big.h5"
    datagen.write_h5(src, {"/a/kernel": datagen.make_values(SEED, "<f4", (512, 512), "normal"),
                           "/b/table": np.arange(100_000, dtype=np.int32).reshape(1000, 100),
                           "/c/kernel": datagen.make_values(SEED + 1, "<f8", (256, 256), "normal")})
    assert os.path.getsize(src) > limit
    scene.expect(["prune", src, "-o", scene.out, "--sparsity", "0.5"], 5, [("pruned.h5",)],
                 watch=[src], ctx="write failure at %d bytes" % limit, preexec_fn=_file_size_limit(limit))


# ------------------------------------------------------------------------------ dry run

def test_dry_run_writes_nothing(scene):
    before = scene.snapshot(scene.src)
    res = h5util.run("prune", scene.src, "--dry-run", "--sparsity", "0.5", cwd=scene.root)
    assert res.returncode == 0, h5util.describe(res)
    res = h5util.run("prune", scene.src, "-o", scene.out, "--dry-run", "--sparsity", "0.5", "--json",
                     cwd=scene.root)
    assert res.returncode == 0, h5util.describe(res)
    assert scene.snapshot(scene.src) == before, "--dry-run wrote something"
    assert not scene.out.exists()
    js = json.loads(res.stdout)
    assert js["dry_run"] is True and js["output"] is None, "dry-run summary: %r" % {k: js.get(k) for k in ("dry_run", "output")}
    assert [(t["path"], t["n"]) for t in js["tensors"]] == [("/dense/kernel:0", 128)], js["tensors"]


def test_success_leaves_only_output(scene):
    """A successful run leaves exactly the output in the output directory (no temporaries)."""
    h5util.run_ok("prune", scene.src, "-o", scene.out, "--sparsity", "0.5")
    assert h5util.listdir_all(scene.d_out) == ["pruned.h5"], h5util.listdir_all(scene.d_out)
    assert h5util.listdir_all(scene.d_in) == ["model.h5"], h5util.listdir_all(scene.d_in)


def _run_watched(cmd, rss_limit_kb=1_000_000, timeout=30.0):
    """Run cmd, killing it if its resident memory passes rss_limit_kb or it outlives timeout.
    Returns (returncode or None if killed, stderr, peak RSS in KB, why killed)."""
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    t0 = time.monotonic()
    peak = 0
    why = None
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as fh:
                for ln in fh:
                    if ln.startswith("VmRSS:"):
                        peak = max(peak, int(ln.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        if peak > rss_limit_kb:
            why = "resident memory above %d KB" % rss_limit_kb
        elif time.monotonic() - t0 > timeout:
            why = "still running after %.0f s" % timeout
        if why:
            p.kill()
            p.wait()
            return None, p.stderr.read().decode("utf-8", "replace"), peak, why
        time.sleep(0.05)
    return p.returncode, p.stderr.read().decode("utf-8", "replace"), peak, None


def test_dataset_larger_than_its_storage_exit_3(scene):
    """A corrupt file whose dataspace claims 2^50 x 3 float32 over 148 KB of contiguous storage
    (a flipped bit in the dims, as seen when fuzzing a real fixture) is a bad input (exit 3):
    no unbounded allocation beyond --memory-limit, no hang, nothing left behind."""
    good = scene.d_in / "good.h5"
    with h5py.File(good, "w") as f:
        f.create_dataset("k", data=np.ones((12345, 3), np.float32))
        f.create_dataset("b", data=np.ones(3, np.float32))
    data = bytearray(good.read_bytes())
    pat = struct.pack("<Q", 12345)
    hits = [i for i in range(len(data) - 7) if data[i:i + 8] == pat]
    assert hits, "dims not found in the test file"
    for i in hits:  # dims and max dims
        data[i:i + 8] = struct.pack("<Q", 1 << 50)
    src = scene.d_in / "corrupt.h5"
    src.write_bytes(data)
    with h5py.File(src, "r") as f:
        assert f["k"].shape == (1 << 50, 3)
    before = scene.snapshot(src)
    rc, err, peak, why = _run_watched([h5util.binary(), "prune", src, "-o", scene.out, "--sparsity", "0.5",
                                       "--memory-limit", "64M"])
    assert why is None, "killed: %s (peak RSS %d KB); stderr %r" % (why, peak, err[-500:])
    assert rc == 3, "exit %r, expected 3; stderr %r" % (rc, err[-500:])
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error:") and "corrupt.h5" in lines[0], lines
    assert scene.snapshot(src) == before, "files changed on disk"


def test_inconsistent_maxshape_is_an_input_problem(scene):
    """A corrupt contiguous dataset whose max dims exceed its dims (the library never writes
    that): either copied as it is (exit 0) or reported as bad input (exit 3), never blamed
    on the output (exit 5)."""
    good = scene.d_in / "good.h5"
    with h5py.File(good, "w") as f:
        f.create_dataset("k", data=np.ones((12345, 3), np.float32))
    data = bytearray(good.read_bytes())
    pat = struct.pack("<Q", 12345)
    hits = [i for i in range(len(data) - 7) if data[i:i + 8] == pat]
    assert len(hits) == 2, "expected dims and max dims in the dataspace message: %r" % hits
    data[hits[1]:hits[1] + 8] = struct.pack("<Q", 99999)
    src = scene.d_in / "maxdims.h5"
    src.write_bytes(data)
    with h5py.File(src, "r") as f:
        assert f["k"].maxshape == (99999, 3) and f["k"].chunks is None
    res = h5util.run("prune", src, "-o", scene.out, "--sparsity", "0.5")
    assert res.returncode in (0, 3), "exit %d (expected 0 or 3)\n%s" % (res.returncode, h5util.describe(res))
    if res.returncode == 3:
        assert "maxdims.h5" in res.stderr and len(res.stderr.splitlines()) == 1, h5util.describe(res)
        assert h5util.listdir_all(scene.d_out) == []


@pytest.mark.parametrize("rule", [["--sparsity", "0.5"], ["--sparsity", "0.5", "--scope", "global"]],
                         ids=["tensor", "global"])
def test_damaged_chunk_in_a_streamed_tensor_exit_3(scene, rule):
    """A deflate chunk in the middle of a tensor streamed in slabs is garbage: the read fails on
    the read-ahead thread, and the run still ends with one line, exit 3 and nothing written
    (no HDF5 error stack from that thread either)."""
    src = scene.d_in / "damaged.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("enc/kernel:0", data=datagen.make_values(SEED + 7, "<f4", (512, 256), "normal"),
                         chunks=(32, 256), compression="gzip")
    with h5py.File(src, "r") as f:
        info = f["enc/kernel:0"].id.get_chunk_info(11)  # rows 352-383: a later slab at 64K
    with open(src, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(bytes(range(256)) * (info.size // 256 + 1))
    scene.expect(["prune", src, "-o", scene.out, *rule, "--memory-limit", "64K"], 3,
                 [("damaged.h5",), ("/enc/kernel:0",)], watch=[src])
