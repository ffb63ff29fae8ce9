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
