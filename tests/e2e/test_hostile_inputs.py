"""Hostile input files: data stored outside the file (external raw storage, virtual datasets,
an encoded creation property list naming an external file) is refused with exit 3 and one
line, and no file outside the output's temporary is ever written (the victim stays intact)."""

import ctypes
import os

import h5py
import numpy as np
import pytest

import datagen
import h5util

SEED = 1313


def victim_file(d):
    victim = d / "victim.txt"
    victim.write_bytes(b"precious user data\n" * 64)
    return victim


def expect_refused(args, cwd, watch, names):
    before = {str(p): h5util.sha256(p) for p in watch}
    listing = h5util.listdir_all(cwd)
    res = h5util.run(*args, cwd=cwd)
    ctx = h5util.describe(res)
    assert res.returncode == 3, ctx
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error:"), ctx
    for n in names:
        assert n in lines[0], "error line does not name %r\n%s" % (n, ctx)
    assert {str(p): h5util.sha256(p) for p in watch} == before, "a watched file changed\n" + ctx
    assert h5util.listdir_all(cwd) == listing, "files appeared or vanished\n" + ctx


def write_external(path, target, offset=0, dtype="f4", name="w"):
    with h5py.File(path, "w") as f:
        f.create_dataset("/dense/kernel", data=datagen.make_values(SEED, "<f4", (16, 8), "normal"))
        f.create_dataset(name, shape=(16, 16), dtype=dtype, external=[(str(target), offset, h5py.h5f.UNLIMITED)])


COMMANDS = [
    ("prune", ["prune", "evil.h5", "-o", "out.h5", "--sparsity", "0.5"]),
    ("prune-force", ["prune", "evil.h5", "-o", "out.h5", "--sparsity", "0.5", "--force"]),
    ("prune-csr", ["prune", "evil.h5", "-o", "out.h5", "--sparsity", "0.5", "--format", "csr"]),
    ("stats", ["stats", "evil.h5"]),
    ("sweep", ["sweep", "evil.h5", "--sparsity", "0.5,0.9"]),
    ("densify", ["densify", "evil.h5", "-o", "out.h5"]),
]


@pytest.mark.parametrize("label,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_external_raw_storage_never_written(tmp_path, label, args):
    victim = victim_file(tmp_path)
    write_external(tmp_path / "evil.h5", victim)
    expect_refused(args, tmp_path, [victim, tmp_path / "evil.h5"], ["/w", "external raw storage", "victim.txt"])


def test_external_storage_of_an_unselected_dataset(tmp_path):
    # An int dataset is not a tensor, but copying it (H5Ocopy) would keep the link to the victim.
    victim = victim_file(tmp_path)
    write_external(tmp_path / "evil.h5", victim, dtype="i4", name="/meta/ids")
    expect_refused(COMMANDS[0][1], tmp_path, [victim, tmp_path / "evil.h5"], ["/meta/ids", "external"])


def test_external_storage_inside_the_input_itself(tmp_path):
    # The external "file" is the input: writing the output's data there would modify the input.
    evil = tmp_path / "evil.h5"
    write_external(evil, evil, offset=0)
    with h5py.File(evil, "r") as f:
        assert f["w"].external, "h5py did not write external storage"
    expect_refused(COMMANDS[0][1], tmp_path, [evil], ["/w", "external"])


def test_virtual_dataset_refused(tmp_path):
    src = tmp_path / "source.h5"
    with h5py.File(src, "w") as f:
        f["data"] = datagen.make_values(SEED, "<f4", (8, 8), "normal")
    with h5py.File(tmp_path / "evil.h5", "w") as f:
        layout = h5py.VirtualLayout(shape=(8, 8), dtype="f4")
        layout[:] = h5py.VirtualSource(str(src), "data", shape=(8, 8))
        f.create_virtual_dataset("/dense/kernel", layout)
    expect_refused(COMMANDS[0][1], tmp_path, [src, tmp_path / "evil.h5"], ["/dense/kernel", "virtual dataset"])


def libhdf5():
    """The libhdf5 that h5py itself loaded (to call H5Pencode, which h5py does not expose)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libhdf5" in os.path.basename(path) and "_hl" not in path and "cpp" not in path:
                return ctypes.CDLL(path)
    pytest.skip("libhdf5 not found in this process's maps")


def encoded_external_dcpl(target):
    """H5Pencode of a dataset creation property list with external storage in `target`."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_external(str(target).encode(), 0, h5py.h5f.UNLIMITED)
    lib = libhdf5()
    lib.H5Pencode.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    size = ctypes.c_size_t(0)
    assert lib.H5Pencode(dcpl.id, None, ctypes.byref(size)) >= 0
    buf = ctypes.create_string_buffer(size.value)
    assert lib.H5Pencode(dcpl.id, buf, ctypes.byref(size)) >= 0
    return buf.raw[: size.value]


def test_densify_refuses_an_encoded_external_dcpl(tmp_path):
    # A sparse layout group carries its dataset's creation properties (h5prune_h5dcpl); a crafted
    # one naming an external file would make densify write the weights into that file.
    victim = victim_file(tmp_path)
    datagen.write_h5(tmp_path / "model.h5", {"/dense/kernel": datagen.make_values(SEED, "<f4", (16, 8), "normal")})
    h5util.run_ok("prune", "model.h5", "-o", "evil.h5", "--sparsity", "0.5", "--format", "csr", cwd=tmp_path)
    blob = encoded_external_dcpl(victim)
    with h5py.File(tmp_path / "evil.h5", "r+") as f:
        group = f["/dense/kernel"]
        assert "h5prune_h5dcpl" in group.attrs
        del group.attrs["h5prune_h5dcpl"]
        group.attrs.create("h5prune_h5dcpl", np.frombuffer(blob, dtype=np.uint8))
    expect_refused(["densify", "evil.h5", "-o", "dense.h5"], tmp_path, [victim, tmp_path / "evil.h5"],
                   ["/dense/kernel", "external"])


def test_long_name_regex_does_not_crash(tmp_path):
    # std::regex recursed once per character: a 60,000-character name with --include '.*'
    # overflowed the stack (SIGSEGV, temporary left). RE2 runs in linear time without recursion.
    name = "/" + "w" * 60000
    with h5py.File(tmp_path / "long.h5", "w") as f:
        f.create_dataset(name, data=datagen.make_values(SEED, "<f4", (8, 8), "normal"))
        f.create_dataset("/short/kernel", data=datagen.make_values(SEED + 1, "<f4", (8, 8), "normal"))
    res = h5util.run("prune", "long.h5", "-o", "out.h5", "--sparsity", "0.5", "--include", "(.*)*w$",
                     "--json", cwd=tmp_path, timeout=60)
    assert res.returncode == 0, h5util.describe(res)
    import json
    js = json.loads(res.stdout)
    assert [t["path"] for t in js["tensors"]] == [name], [t["path"][:20] for t in js["tensors"]]
    assert sorted(os.listdir(tmp_path)) == ["long.h5", "out.h5"]
    # Features RE2 does not have are a usage error naming the option, not a crash.
    res = h5util.run("stats", "long.h5", "--include", "(a)\\1", cwd=tmp_path)
    assert res.returncode == 2 and "--include" in res.stderr, h5util.describe(res)


@pytest.mark.parametrize("args", [
    ["prune", "m.h5", "-o", "out.h5", "--sparsity", "0.5", "--memory-limit", "1" * 60000 + "G"],
    ["prune", "m.h5", "-o", "out.h5", "--nm", "2:" + "4" * 60000],
    ["prune", "m.h5", "-o", "out.h5", "--sparsity", "0." + "5" * 60000],
    ["prune", "m.h5", "-o", "out.h5", "--rule", "dense=nm:2:4,axis=" + "1" * 60000],
    ["slurm", "sweep", "m.h5", "--sparsity", "0.5", "--registry", "reg", "--model", "m", "--time", "1" * 60000],
    ["slurm", "sweep", "m.h5", "--sparsity", "0.5", "--registry", "reg", "--model", "m",
     "--partition", "p" * 60000 + "$"],
    ["gc", "--registry", "reg", "--grace", "1" * 60000 + "s"],
], ids=["memory-limit", "nm", "sparsity", "rule-axis", "time", "partition", "grace"])
def test_sixty_thousand_character_option_values(tmp_path, args):
    # The fixed patterns that check option values ran through std::regex, which recursed once per
    # character; now RE2: a usage error (exit 2), one line, no crash, nothing written.
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.create_dataset("/dense/kernel", data=datagen.make_values(SEED, "<f4", (8, 8), "normal"))
    listing = h5util.listdir_all(tmp_path)
    res = h5util.run(*args, cwd=tmp_path, timeout=60)
    ctx = h5util.describe(res)[:2000]
    assert res.returncode == 2, ctx
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error:"), ctx
    assert h5util.listdir_all(tmp_path) == listing, ctx


def limited_memory(limit=2 << 30):
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


@pytest.mark.parametrize("cmd", ["prune", "stats", "sweep"])
def test_huge_declared_shape_is_refused_quickly(tmp_path, cmd):
    # A 1.4 KB file declaring (2^55, 64) float32 in unallocated chunks: planning its slabs used to
    # grow without bound. Now exit 3 before anything is planned, under a 2 GB address-space limit.
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        f.create_dataset("w", shape=(2 ** 55, 64), dtype="f4", chunks=(1, 64))
    assert os.path.getsize(tmp_path / "huge.h5") < 4096
    args = {"prune": ["prune", "huge.h5", "-o", "out.h5", "--sparsity", "0.5"], "stats": ["stats", "huge.h5"],
            "sweep": ["sweep", "huge.h5", "--sparsity", "0.5"]}[cmd]
    import time
    t0 = time.monotonic()
    res = h5util.run(*args, cwd=tmp_path, preexec_fn=limited_memory(), timeout=60)
    assert res.returncode == 3 and "/w" in res.stderr and "declares shape" in res.stderr, h5util.describe(res)
    assert time.monotonic() - t0 < 10
    assert sorted(os.listdir(tmp_path)) == ["huge.h5"]


@pytest.mark.parametrize("fmt,attr,value,expect", [
    ("coo", "h5prune_dense_shape", [2 ** 40, 2 ** 20], "h5prune_dense_shape declares"),
    ("csr", "h5prune_dense_shape", [2 ** 40, 2 ** 20], "h5prune_dense_shape declares"),
    ("coo", "h5prune_dense_shape", [8, 32], "differs from the recorded dataspace"),
])
def test_hostile_sparse_layout_is_refused(tmp_path, fmt, attr, value, expect):
    datagen.write_h5(tmp_path / "m.h5", {"/dense/kernel": datagen.make_values(SEED, "<f4", (16, 16), "normal")})
    h5util.run_ok("prune", "m.h5", "-o", "s.h5", "--sparsity", "0.5", "--format", fmt, cwd=tmp_path)
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f["/dense/kernel"].attrs[attr] = np.array(value, dtype=np.uint64)
    for args in (["stats", "s.h5"], ["densify", "s.h5", "-o", "d.h5"]):
        res = h5util.run(*args, cwd=tmp_path, preexec_fn=limited_memory(), timeout=60)
        assert res.returncode == 3 and "/dense/kernel" in res.stderr and expect in res.stderr, h5util.describe(res)
    assert sorted(os.listdir(tmp_path)) == ["m.h5", "s.h5"]


def test_threads_are_capped_with_a_warning(tmp_path):
    datagen.write_h5(tmp_path / "m.h5", {"/k": datagen.make_values(SEED, "<f4", (64, 64), "normal")})
    res = h5util.run("prune", "m.h5", "-o", "o.h5", "--sparsity", "0.5", "--threads", "10000", "--json",
                     cwd=tmp_path, preexec_fn=limited_memory())
    assert res.returncode == 0 and "--threads 10000" in res.stderr, h5util.describe(res)
    import json
    assert json.loads(res.stdout)["threads"] <= 4 * os.cpu_count()


def test_memory_limit_too_large_is_a_usage_error(tmp_path):
    res = h5util.run("prune", "m.h5", "-o", "o.h5", "--sparsity", "0.5", "--memory-limit", "99999999999999999999",
                     cwd=tmp_path)
    assert res.returncode == 2 and "--memory-limit" in res.stderr and "internal" not in res.stderr, h5util.describe(res)


def test_metrics_file_is_world_readable_under_umask_077(tmp_path):
    datagen.write_h5(tmp_path / "m.h5", {"/k": datagen.make_values(SEED, "<f4", (16, 16), "normal")})
    (tmp_path / "metrics").mkdir()
    for rule in (["--sparsity", "0.5"], ["--sparsity", "0.6"]):  # the second run replaces the file
        res = h5util.run("prune", "m.h5", "-o", "o.h5", "--force", "--metrics-dir", "metrics", *rule, cwd=tmp_path,
                         preexec_fn=lambda: os.umask(0o077))
        assert res.returncode == 0, h5util.describe(res)
        (prom,) = os.listdir(tmp_path / "metrics")
        assert os.stat(tmp_path / "metrics" / prom).st_mode & 0o777 == 0o644


def test_densify_keeps_the_user_block(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w", userblock_size=512) as f:
        f["/dense/kernel"] = datagen.make_values(SEED, "<f4", (16, 16), "normal")
    with open(tmp_path / "m.h5", "r+b") as fh:
        fh.write(b"#!user block text that must survive\n")
    h5util.run_ok("prune", "m.h5", "-o", "dense.h5", "--sparsity", "0.5", cwd=tmp_path)
    h5util.run_ok("prune", "m.h5", "-o", "csr.h5", "--sparsity", "0.5", "--format", "csr", cwd=tmp_path)
    h5util.run_ok("densify", "csr.h5", "-o", "back.h5", cwd=tmp_path)
    assert open(tmp_path / "back.h5", "rb").read(36) == b"#!user block text that must survive\n"
    assert h5util.sha256(tmp_path / "back.h5") == h5util.sha256(tmp_path / "dense.h5")
