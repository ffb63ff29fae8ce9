"""Mapped input (docs/CLI.md, Memory): a resident tensor whose bytes lie in the file as memory
holds them is used in place from the input's pages, not copied. What is checked:

- which tensors are mapped: `bytes_mapped` equals the selected bytes of the datasets that h5py
  says are contiguous, allocated, little-endian and aligned (offset from `get_offset()`), on
  the real fixtures and on generated files with a userblock, big-endian and chunked datasets;
- that mapping changes nothing: outputs byte-identical and JSON equal (timings aside) with
  H5PRUNE_MAP_INPUT=0, and the outputs equal the independent numpy reference;
- that a mapped input is never written (its bytes are unchanged after the run);
- sweep's CSV is the same mapped or not; a NaN in a mapped tensor is still exit 4 with no output.
"""

import json
import os
import subprocess

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

NO_MAP = dict(os.environ, H5PRUNE_MAP_INPUT="0")


def mappable_bytes(path, paths, row_limit=None):
    """Selected bytes the reader may map, decided here with h5py alone (tensors whose rows hold
    more than row_limit elements left out)."""
    total = 0
    with h5py.File(path, "r") as f:
        for p in paths:
            ds = f[p]
            offset = ds.id.get_offset()
            if ds.chunks is not None or ds.compression is not None or offset is None:
                continue
            if ds.dtype.byteorder == ">" or offset % ds.dtype.itemsize != 0 or ds.size == 0:
                continue
            if ds.id.get_storage_size() < ds.size * ds.dtype.itemsize:
                continue
            if row_limit is not None and ds.size // ds.shape[0] > row_limit:
                continue
            total += ds.size * ds.dtype.itemsize
    return total


def without_timings(js):
    js = dict(js)
    for key in ("seconds", "bytes_mapped", "selection_bytes", "output", "memory_limit"):
        js.pop(key, None)
    return js


def prune_both_ways(src, out_dir, rule):
    mapped = out_dir / "mapped.h5"
    copied = out_dir / "copied.h5"
    js = h5util.run_json("prune", src, "-o", mapped, *rule, "--backend", "cpu")
    js_copy = h5util.run_json("prune", src, "-o", copied, *rule, "--backend", "cpu", env=NO_MAP)
    return js, js_copy, mapped, copied


RULES = [["--sparsity", "0.7", "--scope", "global"], ["--sparsity", "0.5", "--scope", "tensor"]]


@pytest.mark.parametrize("rule", RULES, ids=["global", "tensor"])
def test_fixture_mapped_where_h5py_says_and_same_bytes(tmp_path, fixture_file, rule):
    before = h5util.sha256(fixture_file)
    js, js_copy, mapped, copied = prune_both_ways(fixture_file, tmp_path, rule)
    ctx = "[%s %s]" % (os.path.basename(fixture_file), " ".join(rule))
    paths = [t["path"] for t in js["tensors"]]
    assert js["bytes_mapped"] == mappable_bytes(fixture_file, paths), ctx
    assert js_copy["bytes_mapped"] == 0, ctx
    assert js["bytes_read"] == js_copy["bytes_read"], ctx
    assert h5util.sha256(mapped) == h5util.sha256(copied), "%s: mapped and copied outputs differ" % ctx
    assert without_timings(js) == without_timings(js_copy), ctx
    assert h5util.sha256(fixture_file) == before, "%s: the input changed" % ctx
    checks.check_against_reference(js, fixture_file, mapped, rule, ctx)


def test_some_fixtures_are_mapped(fixtures_dir):
    """Guards the test above against a reader that never maps (every fixture then compares 0 == 0)."""
    mapped = 0
    for name in h5util.FIXTURE_NAMES:
        path = os.path.join(fixtures_dir, name)
        if os.path.isfile(path):
            mapped += mappable_bytes(path, reference.select(path)) > 0
    assert mapped >= 10, "only %d of the 12 fixtures have a mappable tensor (all 12 had one)" % mapped


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory):
    """A 512-byte userblock (raw data addresses shift by it), contiguous little-endian float16/32/64
    tensors, a big-endian one, a chunked one, one never written, and one whose rows of 257
    elements cannot be cut into cache-sized pieces of whole rows that are also whole sum blocks
    (prune reads it into memory as before; sweep maps it)."""
    path = tmp_path_factory.mktemp("mapped") / "mixed.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("/a/le32", data=datagen.make_values(31, "<f4", (300, 256), "normal"))
        f.create_dataset("/a/oddrow", data=datagen.make_values(37, "<f4", (40, 257), "normal"))
        f.create_dataset("/a/le16", data=datagen.make_values(32, "<f2", (64, 96), "ties"))
        f.create_dataset("/a/le64", data=datagen.make_values(33, "<f8", (40, 50), "special"))
        f.create_dataset("/b/be32", data=datagen.make_values(34, ">f4", (128, 64), "normal"))
        f.create_dataset("/b/chunked", data=datagen.make_values(35, "<f4", (96, 80), "normal"), chunks=(32, 16))
        f.create_dataset("/b/unwritten", shape=(16, 16), dtype="<f4")
    with open(path, "r+b") as fh:
        fh.write(b"USERBLOCK-TEXT")  # the userblock's bytes are kept by the copy too
    return path


@pytest.mark.parametrize("rule", RULES + [["--threshold", "0.05"]], ids=["global", "tensor", "threshold"])
def test_userblock_byte_orders_and_layouts(tmp_path, mixed_model, rule):
    js, js_copy, mapped, copied = prune_both_ways(mixed_model, tmp_path, rule)
    ctx = "[mixed model, %s]" % " ".join(rule)
    paths = [t["path"] for t in js["tensors"]]
    want = mappable_bytes(mixed_model, paths, row_limit=256)
    # le32, le16 and le64 only: the big-endian, chunked, unwritten and odd-row ones are read as before
    assert want == (300 * 256 * 4 + 64 * 96 * 2 + 40 * 50 * 8), ctx
    assert js["bytes_mapped"] == want, ctx
    assert h5util.sha256(mapped) == h5util.sha256(copied), "%s: mapped and copied outputs differ" % ctx
    assert without_timings(js) == without_timings(js_copy), ctx
    with open(mapped, "rb") as fh:
        assert fh.read(14) == b"USERBLOCK-TEXT", ctx
    checks.check_against_reference(js, mixed_model, mapped, rule, ctx)


def test_other_rules_are_not_mapped_when_resident(tmp_path, mixed_model):
    js = h5util.run_json("prune", mixed_model, "-o", tmp_path / "nm.h5", "--nm", "2:4", "--nm-axis", "last", "--nm-skip-unfit")
    assert js["bytes_mapped"] == 0, "N:M prunes the whole tensor in place: it needs a copy"
    js = h5util.run_json("prune", mixed_model, "-o", tmp_path / "csr.h5", "--sparsity", "0.5", "--format", "csr")
    assert js["bytes_mapped"] == 0, "sparse layouts revisit pruned values in memory: they need a copy"


STREAMED_RULES = {
    "tensor": ["--sparsity", "0.5"],
    "global": ["--sparsity", "0.35", "--scope", "global"],
    "threshold": ["--threshold", "0.05"],
    "nm": ["--nm", "2:4", "--nm-axis", "last", "--nm-skip-unfit"],
    "structured": ["--structured", "l2", "--sparsity", "0.25", "--include", "le32"],
    "csr": ["--sparsity", "0.6", "--format", "csr"],
}


@pytest.mark.parametrize("rule", list(STREAMED_RULES))
def test_streamed_read_only_passes_mapped(tmp_path, mixed_model, rule):
    """Under a small limit le32 (300 KiB) is streamed: its read-only passes (scan, digits, ties,
    slice norms) map each slab; so does the pruning pass of sparsity and threshold rules with a
    dense output (below), while N:M, structured and CSR read a copy. Either way some bytes are
    read as copies here (the big-endian and chunked tensors), and the outputs are the same."""
    args = STREAMED_RULES[rule] + ["--memory-limit", "64K"]
    js, js_copy, mapped, copied = prune_both_ways(mixed_model, tmp_path, args)
    ctx = "[streamed %s]" % rule
    assert js["streamed"] is True, ctx
    le32 = 300 * 256 * 4
    assert js["bytes_mapped"] >= le32, "%s: the scan of le32 was not mapped: %d" % (ctx, js["bytes_mapped"])
    assert js["bytes_mapped"] < js["bytes_read"], "%s: the unmappable tensors must be read as copies" % ctx
    assert js_copy["bytes_mapped"] == 0, ctx
    assert h5util.sha256(mapped) == h5util.sha256(copied), "%s: mapped and copied outputs differ" % ctx
    assert without_timings(js) == without_timings(js_copy), ctx


@pytest.mark.parametrize("rule", [["--sparsity", "0.5", "--scope", "tensor"], ["--sparsity", "0.35", "--scope", "global"],
                                  ["--threshold", "0.05"]], ids=["tensor", "global", "threshold"])
def test_streamed_pruning_pass_is_mapped_too(tmp_path, rule):
    """Sparsity and threshold rules with a dense output prune each streamed slab out of place, from
    its mapping into a buffer that is then written: every pass over contiguous tensors is mapped,
    none reads a copy. Tied magnitudes make the tie quota run on across slabs and tensors. The
    output is the copied run's and the numpy reference's."""
    src = tmp_path / "two.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/l0/kernel", data=datagen.make_values(70, "<f4", (300, 256), "ties"))
        f.create_dataset("/l1/kernel", data=datagen.make_values(71, "<f4", (200, 256), "ties"))
    (tmp_path / "runs").mkdir()
    js, js_copy, mapped, copied = prune_both_ways(src, tmp_path / "runs", rule + ["--memory-limit", "64K"])
    ctx = "[streamed, %s]" % " ".join(rule)
    assert js["streamed"] is True, ctx
    assert js["bytes_mapped"] == js["bytes_read"] >= 2 * 500 * 256 * 4, (ctx, js["bytes_mapped"], js["bytes_read"])
    assert js_copy["bytes_mapped"] == 0, ctx
    assert h5util.sha256(mapped) == h5util.sha256(copied), "%s: mapped and copied outputs differ" % ctx
    assert without_timings(js) == without_timings(js_copy), ctx
    checks.check_against_reference(js, src, mapped, rule, ctx)


@pytest.mark.parametrize("limit", [[], ["--memory-limit", "64K"]], ids=["resident", "streamed"])
def test_sweep_same_mapped_or_copied(tmp_path, mixed_model, limit):
    for scope in ("global", "tensor"):
        csv = {}
        for name, env in (("mapped", None), ("copied", NO_MAP)):
            csv[name] = tmp_path / ("%s_%s.csv" % (scope, name))
            res = h5util.run("sweep", mixed_model, "--sparsity", "0.1:0.9:0.2", "--scope", scope, "--csv", csv[name],
                             "--quiet", *limit, env=env)
            assert res.returncode == 0, h5util.describe(res)
        assert csv["mapped"].read_bytes() == csv["copied"].read_bytes(), scope


def test_nan_in_a_mapped_tensor(tmp_path):
    src = tmp_path / "nan.h5"
    values = datagen.make_values(36, "<f4", (64, 64), "normal")
    values[17, 5] = np.nan
    with h5py.File(src, "w") as f:
        f.create_dataset("/w", data=values)
    assert mappable_bytes(src, ["/w"]) == values.nbytes
    out = tmp_path / "out.h5"
    res = h5util.run("prune", src, "-o", out, "--sparsity", "0.5")
    assert res.returncode == 4, h5util.describe(res)
    assert "NaN" in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert h5util.listdir_all(tmp_path) == ["nan.h5"], "no partial output"


def test_read_only_input_file(tmp_path, mixed_model):
    """The mapping is read-only: a file the user cannot write is mapped and pruned the same."""
    src = tmp_path / "ro.h5"
    src.write_bytes(mixed_model.read_bytes())
    os.chmod(src, 0o444)
    js = h5util.run_json("prune", src, "-o", tmp_path / "o.h5", "--sparsity", "0.6")
    assert js["bytes_mapped"] > 0
    subprocess.run(["chmod", "644", str(src)], check=True)


def _written_during_the_run(tmp_path, args):
    """Runs h5prune ARGS on a fresh model, slowed at each checkpoint, and writes 4 bytes into the
    last tensor's data while it runs (HDF5's metadata untouched, so the run itself goes on)."""
    src = tmp_path / "model.h5"
    with h5py.File(src, "w") as f:
        for i in range(8):
            f.create_dataset("/l%d/kernel" % i, data=datagen.make_values(40 + i, "<f4", (256, 256), "normal"))
        offset = f["/l7/kernel"].id.get_offset()
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="150")
    cmd = [h5util.binary()] + [str(a) for a in args(src)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    import time
    time.sleep(0.6)
    assert p.poll() is None, "the run ended before the input could be written to"
    with open(src, "r+b") as fh:
        fh.seek(offset + 4096)
        fh.write(np.float32(7.5).tobytes())
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_input_written_during_prune_is_refused(tmp_path):
    out = tmp_path / "out.h5"
    rc, _, err = _written_during_the_run(tmp_path, lambda src: ["prune", src, "-o", out, "--sparsity", "0.5"])
    assert rc == 3, err
    assert "changed while it was being pruned" in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["model.h5"], "no output, no temporary"


def test_input_written_during_sweep_is_refused(tmp_path):
    rc, out, err = _written_during_the_run(
        tmp_path, lambda src: ["sweep", src, "--sparsity", "0.2:0.8:0.2", "--quiet"])
    assert rc == 3, err
    assert "changed while it was being swept" in err and out == "", (out, err)


def test_unchanged_input_slowed_the_same_way_prunes(tmp_path):
    """The control for the two above: the same slowed run, nobody writing, succeeds."""
    src = tmp_path / "model.h5"
    with h5py.File(src, "w") as f:
        for i in range(8):
            f.create_dataset("/l%d/kernel" % i, data=datagen.make_values(40 + i, "<f4", (256, 256), "normal"))
    res = h5util.run("prune", src, "-o", tmp_path / "out.h5", "--sparsity", "0.5",
                     env=dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="150"))
    assert res.returncode == 0, h5util.describe(res)


@pytest.mark.parametrize("registry", [False, True], ids=["json", "registry"])
def test_input_replaced_during_the_run_is_hashed_as_read(tmp_path, registry):
    """A job that replaces the input by rename while h5prune runs (a checkpoint written to a
    temporary and moved into place) leaves the file h5prune opened intact: the run succeeds,
    and the input hash it reports (and records as lineage) is that file's, the one the weights
    came from, not the new file's at the path (the hashes are taken at the end of the run)."""
    src = tmp_path / "model.h5"
    with h5py.File(src, "w") as f:
        for i in range(8):
            f.create_dataset("/l%d/kernel" % i, data=datagen.make_values(60 + i, "<f4", (256, 256), "normal"))
    read_sha = h5util.sha256(src)
    control = tmp_path / "control.h5"
    h5util.run_ok("prune", src, "-o", control, "--sparsity", "0.5")
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.create_dataset("/l0/kernel", data=datagen.make_values(99, "<f4", (256, 256), "normal"))
    out = tmp_path / "out.h5"
    args = ["prune", src, "--sparsity", "0.5", "--json"]
    args += ["-o", out] + (["--registry", tmp_path / "reg", "--model", "m"] if registry else [])
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="150")
    p = subprocess.Popen([h5util.binary()] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    import time
    time.sleep(0.6)
    assert p.poll() is None, "the run ended before the input could be replaced"
    os.replace(newer, src)
    stdout, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    js = json.loads(stdout)
    assert js["input"]["sha256"] == read_sha != h5util.sha256(src)
    assert h5util.sha256(out) == h5util.sha256(control) == js["output"]["sha256"]


def test_a_tensor_over_64_mib_is_scanned_in_pieces_with_the_same_sums(tmp_path):
    """A mapped tensor's first pass goes in 64 MiB pieces (checkpoints between them), the sum of
    squares carried from piece to piece: the report must be the bits one call gives."""
    src = tmp_path / "big.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("/big/kernel", data=datagen.make_values(50, "<f4", (4500, 4096), "normal"))  # 73.7 MB
    for i, rule in enumerate((["--sparsity", "0.7"], ["--sparsity", "0.7", "--scope", "global"])):
        (tmp_path / str(i)).mkdir()
        js, js_copy, mapped, copied = prune_both_ways(src, tmp_path / str(i), rule)
        assert js["bytes_mapped"] == 4500 * 4096 * 4, js["bytes_mapped"]
        assert without_timings(js) == without_timings(js_copy), rule
        assert h5util.sha256(mapped) == h5util.sha256(copied), rule
