"""A shared registry written by someone hostile: links planted under objects/, staging/ and a
model's aliases/ are never followed (their targets survive gc and alias commands), a
directory that merely looks like a registry is not adopted, and a rerun whose version lost
or damaged its blob repairs it instead of answering "already recorded"."""

import json
import os

import pytest

import datagen
import h5util

SEED = 1331


@pytest.fixture
def setup(tmp_path):
    model = datagen.write_h5(tmp_path / "model.h5", {
        "/dense/kernel": datagen.make_values(SEED, "<f4", (32, 16), "normal"),
    })
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("precious\n")
    (victim / ("c" * 62)).write_text("looks like a blob\n")
    reg = tmp_path / "reg"
    res = h5util.run("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet", "--json")
    assert res.returncode == 0, h5util.describe(res)
    return model, victim, reg, json.loads(res.stdout)


def victim_state(victim):
    return {n: (victim / n).read_bytes() for n in sorted(os.listdir(victim))}


def gc(reg):
    res = h5util.run("gc", "--registry", reg, "--grace", "0", "--json")
    assert res.returncode == 0, h5util.describe(res)
    return json.loads(res.stdout)


@pytest.mark.parametrize("where", ["two-digit directory", "blob", "staging", "objects/sha256 itself"])
def test_planted_link_survives_gc_with_its_target(setup, where):
    _, victim, reg, _ = setup
    before = victim_state(victim)
    sha_dir = reg / "objects" / "sha256"
    if where == "two-digit directory":
        link = sha_dir / "ab"
        os.symlink(victim, link)
    elif where == "blob":
        (sha_dir / "cc").mkdir(exist_ok=True)
        link = sha_dir / "cc" / ("c" * 62)
        os.symlink(victim / ("c" * 62), link)
    elif where == "staging":
        link = reg / "staging" / "old-writer"
        os.symlink(victim, link)
    else:
        real = reg / "objects" / "sha256.real"
        os.rename(sha_dir, real)
        os.symlink(victim, sha_dir)
        link = sha_dir
    os.utime(link, (1, 1), follow_symlinks=False)  # old enough for any grace period
    res = h5util.run("gc", "--registry", reg, "--grace", "0")
    assert victim_state(victim) == before, "gc changed the link's target\n" + h5util.describe(res)
    assert os.path.islink(link), "gc removed the planted link\n" + h5util.describe(res)
    if where == "objects/sha256 itself":
        # The registry's own structure replaced by a link is damage: refused, exit 6.
        assert res.returncode == 6 and "sha256" in res.stderr, h5util.describe(res)
    else:
        assert res.returncode == 0, h5util.describe(res)
        assert str(link) in res.stdout, "gc does not say it kept the link\n" + h5util.describe(res)
        ver = h5util.run("verify", "--registry", reg)
        assert ver.returncode == 6 and "symbolic link" in ver.stdout, h5util.describe(ver)


def test_alias_commands_refuse_a_linked_aliases_directory(setup):
    _, victim, reg, _ = setup
    aliases = reg / "models" / "m" / "aliases"
    os.rmdir(aliases)
    os.symlink(victim, aliases)
    before = victim_state(victim)
    for args in (["alias", "m@1", "notes.txt"], ["alias", "m", "notes.txt", "--delete"], ["alias", "m@1", "prod"]):
        res = h5util.run(*args, "--registry", reg)
        assert res.returncode == 6, h5util.describe(res)
        assert len(res.stderr.splitlines()) == 1 and "aliases" in res.stderr, h5util.describe(res)
        assert victim_state(victim) == before, h5util.describe(res)


def test_a_directory_that_only_looks_like_a_registry_is_not_adopted(tmp_path):
    model = datagen.write_h5(tmp_path / "model.h5", {"/k": datagen.make_values(SEED, "<f4", (8, 8), "normal")})
    home = tmp_path / "home"
    (home / "staging").mkdir(parents=True)
    (home / "staging" / "notes.txt").write_text("mine\n")
    (home / "models").mkdir()
    res = h5util.run("prune", model, "--sparsity", "0.5", "--registry", home, "--model", "m")
    assert res.returncode == 6 and "not an h5prune registry" in res.stderr, h5util.describe(res)
    assert sorted(os.listdir(home)) == ["models", "staging"], "it wrote into the directory"
    for cmd in (["gc", "--grace", "0"], ["verify"], ["log", "m"]):
        res = h5util.run(*cmd, "--registry", home)
        assert res.returncode == 6 and "not an h5prune registry" in res.stderr, h5util.describe(res)
    assert (home / "staging" / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize("damage", ["missing", "damaged", "link"])
def test_rerun_repairs_a_missing_or_damaged_blob(setup, tmp_path, damage):
    model, victim, reg, first = setup
    blob = first["registry"]["blob"]
    sha = first["output"]["sha256"]
    os.chmod(blob, 0o644)
    if damage == "missing":
        os.unlink(blob)
    elif damage == "damaged":
        with open(blob, "r+b") as fh:
            fh.seek(100)
            fh.write(b"\xff\xfe")
    else:
        os.unlink(blob)
        os.symlink(victim / "notes.txt", blob)
    res = h5util.run("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet", "--json")
    assert res.returncode == 0, h5util.describe(res)
    js = json.loads(res.stdout)
    assert js["registry"]["version"] == 1 and js["registry"]["repaired_blob"], js["registry"]
    assert "restored" in res.stderr, h5util.describe(res)
    assert os.path.isfile(blob) and not os.path.islink(blob)
    assert h5util.sha256(blob) == sha
    assert (victim / "notes.txt").read_text() == "precious\n"
    ver = h5util.run("verify", "--registry", reg)
    assert ver.returncode == 0, h5util.describe(ver)
    # And the next rerun is "already recorded" again, with nothing to repair.
    again = h5util.run_json("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    assert again["registry"]["already_recorded"] is True and again["registry"]["repaired_blob"] is None


def test_a_link_planted_among_a_killed_gcs_set_aside_blobs_is_never_put_back(setup):
    # gc puts back the regular files a killed gc set aside in staging/gc-*/; a link planted
    # there under the name of a version's missing blob must not become that blob.
    _, victim, reg, first = setup
    blob = first["registry"]["blob"]
    sha = first["output"]["sha256"]
    os.chmod(blob, 0o644)
    os.unlink(blob)
    aside = reg / "staging" / "gc-somebody.1.feed"
    aside.mkdir()
    os.symlink(victim / ("c" * 62), aside / sha)
    os.utime(aside / sha, (1, 1), follow_symlinks=False)
    os.utime(aside, (1, 1))
    before = victim_state(victim)
    res = h5util.run("gc", "--registry", reg, "--grace", "0")
    assert res.returncode == 0, h5util.describe(res)
    assert not os.path.lexists(blob), "gc put a planted link in the store\n" + h5util.describe(res)
    assert victim_state(victim) == before, h5util.describe(res)
