"""Names that are not valid UTF-8, or that hold terminal escapes: --json, manifests and the
registry carry them losslessly (KEY_hex beside the printable KEY, docs/CLI.md "Names"), and
messages and tables print them as \\xHH."""

import json
import os

import h5py
import numpy as np

import datagen
import h5util

SEED = 1717
BAD = b"/nonutf8\xff\xfe"
ESC = b"/esc\x1b[31mred"


def write_model(path):
    with h5py.File(path, "w") as f:
        f.create_dataset(BAD, data=datagen.make_values(SEED, "<f4", (16, 8), "normal"))
        f.create_dataset(ESC, data=datagen.make_values(SEED + 1, "<f4", (8, 8), "normal"))
        f.create_dataset("/plain/kernel", data=datagen.make_values(SEED + 2, "<f4", (8, 8), "normal"))
    return path


def raw(entry, key="path"):
    """The name's bytes as the documented escape gives them back."""
    if key + "_hex" in entry:
        return bytes.fromhex(entry[key + "_hex"])
    return entry[key].encode()


def test_json_round_trip_of_every_command(tmp_path):
    src = write_model(tmp_path / "m.h5")
    names = {BAD, ESC, b"/plain/kernel"}
    prune = h5util.run_json("prune", src, "-o", tmp_path / "p.h5", "--sparsity", "0.5", "--format", "csr")
    assert {raw(t) for t in prune["tensors"]} == names
    bad = [t for t in prune["tensors"] if raw(t) == BAD][0]
    assert bad["path"] == "/nonutf8\\xff\\xfe" and bad["path_hex"] == BAD.hex()
    assert "path_hex" not in [t for t in prune["tensors"] if raw(t) == b"/plain/kernel"][0]
    stats = h5util.run_json("stats", tmp_path / "p.h5")
    assert {raw(t) for t in stats["tensors"]} == names
    dens = h5util.run_json("densify", tmp_path / "p.h5", "-o", tmp_path / "d.h5")
    assert {raw(t) for t in dens["tensors"]} == names
    h5util.run_ok("prune", src, "-o", tmp_path / "dense.h5", "--sparsity", "0.5")
    assert h5util.sha256(tmp_path / "d.h5") == h5util.sha256(tmp_path / "dense.h5")
    sweep = h5util.run_json("sweep", src, "--sparsity", "0.5,0.9")
    assert {raw(t) for t in sweep["points"][0]["tensors"]} == names


def test_registry_records_and_shows_such_names(tmp_path):
    src = write_model(tmp_path / "m.h5")
    reg = tmp_path / "reg"
    rec = h5util.run_json("prune", src, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    assert rec["registry"]["version"] == 1
    with open(reg / "models" / "m" / "versions" / "1" / "manifest.json", "rb") as fh:
        manifest = json.loads(fh.read().decode("utf-8"))  # the file itself is valid UTF-8
    assert {raw(t) for t in manifest["tensors"]} == {BAD, ESC, b"/plain/kernel"}
    shown = h5util.run_json("show", "m@1", "--registry", reg)
    assert {raw(t) for t in shown["tensors"]} == {BAD, ESC, b"/plain/kernel"}
    ver = h5util.run("verify", "--registry", reg)
    assert ver.returncode == 0, h5util.describe(ver)
    again = h5util.run_json("prune", src, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    assert again["registry"]["already_recorded"] is True
    assert os.listdir(reg / "staging") == []


def test_messages_and_tables_never_carry_raw_escapes(tmp_path):
    src = write_model(tmp_path / "m.h5")
    res = h5util.run("stats", src)
    assert res.returncode == 0 and "\x1b" not in res.stdout and "\\x1b[31mred" in res.stdout, h5util.describe(res)
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        f.create_dataset(ESC, data=np.full((4, 4), np.nan, "f4"))
    res = h5util.run("prune", tmp_path / "nan.h5", "-o", tmp_path / "o.h5", "--sparsity", "0.5")
    assert res.returncode == 4 and "\x1b" not in res.stderr and "\\x1b[31mred" in res.stderr, h5util.describe(res)
