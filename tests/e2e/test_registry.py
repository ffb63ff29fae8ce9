"""Registry round trips through the CLI: prune --registry, log, show, diff, get, alias,
verify, gc; idempotency, lineage, tampering, names. Checked with json/hashlib/h5py directly
against the documented layout (docs/REGISTRY.md), not through h5prune's own reading code."""

import hashlib
import json
import os
import subprocess
import time

import h5py
import pytest

import datagen
import h5util
import reference

SEED = 3131


# ------------------------------------------------------------------ independent registry reading

def blob_path(reg, sha):
    return os.path.join(str(reg), "objects", "sha256", sha[:2], sha[2:])


def manifests(reg, model):
    """{version: manifest dict} read straight from disk."""
    vdir = os.path.join(str(reg), "models", model, "versions")
    out = {}
    if not os.path.isdir(vdir):
        return out
    for name in os.listdir(vdir):
        assert name.isdigit(), "unexpected entry %r in %s (partial version?)" % (name, vdir)
        with open(os.path.join(vdir, name, "manifest.json")) as fh:
            out[int(name)] = json.load(fh)
    return out


def check_registry(reg, model, expect_versions=None):
    """Versions 1..N, each manifest whole and naming its place, each blob present with the
    recorded sha256 and size. Returns the manifests."""
    ms = manifests(reg, model)
    assert sorted(ms) == list(range(1, len(ms) + 1)), "version numbers not 1..N: %s" % sorted(ms)
    if expect_versions is not None:
        assert len(ms) == expect_versions, "expected %d versions, found %s" % (expect_versions, sorted(ms))
    for v, m in ms.items():
        assert m["schema"] == "h5prune.manifest/1"
        assert m["model"] == model and m["version"] == v, (model, v, m["model"], m["version"])
        b = blob_path(reg, m["output"]["sha256"])
        assert os.path.isfile(b), "blob of %s@%d missing: %s" % (model, v, b)
        assert h5util.sha256(b) == m["output"]["sha256"], "blob of %s@%d damaged" % (model, v)
        with open(os.path.join(str(reg), "models", model, "versions", str(v), "key")) as fh:
            assert fh.read() == m["key"] + "\n", "key file of %s@%d" % (model, v)
        assert os.path.getsize(b) == m["output"]["bytes"]
    return ms


def prune_reg(reg, model, inp, *rule, env=None, extra=()):
    return h5util.run("prune", inp, *rule, "--registry", reg, "--model", model, "--quiet", *extra, env=env)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("regmodel")
    data = {
        "/model_weights/dense/kernel:0": datagen.make_values(SEED, "<f4", (64, 48), "normal"),
        "/model_weights/dense/bias:0": datagen.make_values(SEED + 1, "<f4", (48,), "normal"),
        "/model_weights/conv/kernel:0": datagen.make_values(SEED + 2, "<f8", (3, 3, 8, 16), "ties"),
        "/model_weights/half/kernel:0": datagen.make_values(SEED + 3, "<f2", (32, 32), "special"),
    }
    return datagen.write_h5(d / "model.h5", data, attrs={"keras_version": "2.8.0"})


@pytest.fixture
def reg(tmp_path):
    return tmp_path / "registry"


# ------------------------------------------------------------------ tests

def test_record_matches_plain_prune_and_reference(tmp_path, model, reg):
    """The recorded blob is byte-identical to `prune -o` and its tensors equal the numpy reference."""
    plain = tmp_path / "plain.h5"
    h5util.run_ok("prune", model, "-o", plain, "--sparsity", "0.7", "--quiet")
    js = h5util.run_json("prune", model, "--sparsity", "0.7", "--registry", reg, "--model", "bert", "--quiet")
    assert js["registry"]["version"] == 1 and js["registry"]["already_recorded"] is False
    assert js["registry"]["model"] == "bert"
    ms = check_registry(reg, "bert", 1)
    m = ms[1]
    assert m["output"]["sha256"] == h5util.sha256(plain) == js["output"]["sha256"]
    assert m["parent"]["sha256"] == h5util.sha256(model)
    assert m["parent"]["model"] is None
    paths, res, _ = reference.prune_file(str(model), sparsity="0.7")
    blob = blob_path(reg, m["output"]["sha256"])
    with h5py.File(blob, "r") as f:
        for p in paths:
            h5util.assert_bits_equal(f[p][()], res.arrays[p], "registry blob %s" % p)
    # Per-tensor results in the manifest agree with the reference counts.
    by_path = {t["path"]: t for t in m["tensors"]}
    assert sorted(by_path) == sorted(paths)
    for p in paths:
        assert by_path[p]["pruned"] == res.k[p], p
        assert by_path[p]["n"] == res.arrays[p].size
    assert m["total"]["pruned"] == sum(res.k.values())
    # Blobs are read-only; no staging left behind.
    assert os.stat(blob).st_mode & 0o222 == 0
    assert os.listdir(os.path.join(str(reg), "staging")) == []


def test_manifest_records_provenance(model, reg):
    env = dict(os.environ, SLURM_JOB_ID="9001", SLURM_ARRAY_JOB_ID="9000", SLURM_ARRAY_TASK_ID="3")
    env.pop("H5PRUNE_REGISTRY", None)
    res = prune_reg(reg, "bert", model, "--sparsity", "0.35", "--scope", "global", "--exclude", "half", env=env)
    assert res.returncode == 0, h5util.describe(res)
    assert "recorded as bert@1" in res.stdout
    m = check_registry(reg, "bert", 1)[1]
    assert m["slurm"] == {"job_id": "9001", "array_job_id": "9000", "array_task_id": "3"}
    assert m["rule"]["mode"] == "sparsity" and m["rule"]["sparsity"] == "0.35"
    assert m["rule"]["scope"] == "global" and m["rule"]["exclude"] == "half"
    assert m["rule"]["rounding"] == "half_even" and m["rule"]["ties"] == "lower_position_first"
    assert m["command"][:3] == ["h5prune", "prune", str(model)]
    assert "--scope" in m["command"]
    assert m["tool"]["version"] and m["tool"]["git"]
    assert m["backend"] and m["device"] and m["host"] and m["user"]
    assert m["created"] <= m["finished"]
    assert len(m["key"]) == 64
    assert all("half" not in t["path"] for t in m["tensors"])


def test_idempotent_for_any_spelling_of_the_rule(tmp_path, model, reg):
    r1 = prune_reg(reg, "m", model, "--sparsity", "0.9")
    assert r1.returncode == 0 and "recorded as m@1" in r1.stdout, h5util.describe(r1)
    before = os.stat(blob_path(reg, manifests(reg, "m")[1]["output"]["sha256"])).st_ino
    for spelling in ("0.90", "9e-1", ".9"):
        r = prune_reg(reg, "m", model, "--sparsity", spelling, extra=("--threads", "1"))
        assert r.returncode == 0, h5util.describe(r)
        assert "already recorded as m@1" in r.stdout, h5util.describe(r)
    # With -o, the existing version's file is copied out; nothing new is recorded.
    out = tmp_path / "copy.h5"
    js = h5util.run_json("prune", model, "--sparsity", "0.900", "--registry", reg, "--model", "m", "-o", out, "--quiet")
    assert js["registry"]["already_recorded"] is True and js["registry"]["version"] == 1
    assert h5util.sha256(out) == manifests(reg, "m")[1]["output"]["sha256"]
    # A different rule, selection or scope is a new version.
    assert prune_reg(reg, "m", model, "--sparsity", "0.9", "--scope", "global").returncode == 0
    assert prune_reg(reg, "m", model, "--sparsity", "0.9", "--include", "dense").returncode == 0
    ms = check_registry(reg, "m", 3)
    assert os.stat(blob_path(reg, ms[1]["output"]["sha256"])).st_ino == before


def test_log_show_alias_get_diff(tmp_path, model, reg):
    for s in ("0.5", "0.8", "0.95"):
        assert prune_reg(reg, "bert", model, "--sparsity", s).returncode == 0
    ms = check_registry(reg, "bert", 3)
    env = dict(os.environ, H5PRUNE_REGISTRY=str(reg))

    log = h5util.run_json("log", "bert", env=env)
    assert log["model"] == "bert"
    assert [v["version"] for v in log["versions"]] == [3, 2, 1]
    assert [v["rule"]["sparsity"] for v in log["versions"]] == ["0.95", "0.8", "0.5"]
    assert [v["sha256"] for v in log["versions"]] == [ms[v]["output"]["sha256"] for v in (3, 2, 1)]
    assert all(v["aliases"] == [] for v in log["versions"])
    text = h5util.run_ok("log", "bert", env=env).stdout
    assert text.index(ms[3]["output"]["sha256"][:12]) < text.index(ms[1]["output"]["sha256"][:12])

    res = h5util.run_ok("alias", "bert@2", "production", env=env)
    assert "production -> 2" in res.stdout
    assert open(os.path.join(str(reg), "models", "bert", "aliases", "production")).read().strip() == "2"
    log = h5util.run_json("log", "bert", env=env)
    assert log["versions"][1]["aliases"] == ["production"]

    for ref, want in (("bert@production", 2), ("bert@latest", 3), ("bert", 3), ("bert@1", 1),
                      ("bert@" + ms[1]["output"]["sha256"][:10], 1),
                      ("bert@sha256:" + ms[3]["output"]["sha256"][:6], 3)):
        js = h5util.run_json("show", ref, env=env)
        assert js["version"] == want, ref
        assert js == dict(ms[want], aliases=js["aliases"], evaluations=[], baseline=None), ref
    assert h5util.run_json("show", "bert@2", env=env)["aliases"] == ["production"]

    # Move the alias; get through it; the file equals the blob and the original hash.
    h5util.run_ok("alias", "bert@3", "production", env=env)
    out = tmp_path / "prod.h5"
    h5util.run_ok("get", "bert@production", "-o", out, env=env)
    assert h5util.sha256(out) == ms[3]["output"]["sha256"]
    res = h5util.run("get", "bert@1", "-o", out, env=env)
    assert res.returncode == 5, h5util.describe(res)  # exists, no --force
    h5util.run_ok("get", "bert@1", "-o", out, "--force", env=env)
    assert h5util.sha256(out) == ms[1]["output"]["sha256"]

    d = h5util.run_json("diff", "bert@1", "bert@production", env=env)
    assert d["a"] == "bert@1" and d["b"] == "bert@3"
    assert d["rule"]["sparsity"] == {"a": "0.5", "b": "0.95", "same": False}
    assert d["rule"]["scope"]["same"] is True
    assert d["output"]["same"] is False and d["parent"]["same"] is True
    for t in d["tensors"]:
        a = next(x for x in ms[1]["tensors"] if x["path"] == t["path"])
        b = next(x for x in ms[3]["tensors"] if x["path"] == t["path"])
        assert t["a"]["pruned"] == a["pruned"] and t["b"]["pruned"] == b["pruned"]
        if isinstance(t["a"]["retained_l2"], float) and isinstance(t["b"]["retained_l2"], float):
            assert t["a"]["retained_l2"] >= t["b"]["retained_l2"]  # NaN is "NaN" when a tensor holds Inf
    text = h5util.run_ok("diff", "bert@1", "bert@3", env=env).stdout
    assert "0.5" in text and "0.95" in text and "rule.sparsity" in text

    h5util.run_ok("alias", "bert", "production", "--delete", env=env)
    assert h5util.run("show", "bert@production", env=env).returncode == 6
    assert h5util.run("alias", "bert", "production", "--delete", env=env).returncode == 6


def test_a_rerun_finds_its_version_before_pruning(tmp_path, model, reg):
    """A rerun (the same input path, size, modification time and rule as a recorded version: a
    Slurm requeue) hashes its input first and stops there. A kill at the step after the pruning
    shows whether it pruned; a new rule under the same hook prunes and is killed there."""
    assert prune_reg(reg, "m", model, "--sparsity", "0.9").returncode == 0
    hook = dict(os.environ, H5PRUNE_REGISTRY_CRASH_AT="pruned")
    r = prune_reg(reg, "m", model, "--sparsity", "0.9", env=hook)
    assert r.returncode == 0 and "already recorded as m@1" in r.stdout, h5util.describe(r)
    assert os.listdir(os.path.join(str(reg), "staging")) == [], "the rerun left a staging directory"
    check_registry(reg, "m", 1)
    r = prune_reg(reg, "m", model, "--sparsity", "0.5", env=hook)
    assert r.returncode == -9, h5util.describe(r)


def small_model(path, seed):
    return datagen.write_h5(path, {"/d/kernel": datagen.make_values(seed, "<f4", (16, 8), "normal")})


def test_an_input_replaced_between_its_hash_and_its_pruning_is_refused(tmp_path, reg):
    """A rerun hashes its input before pruning, and that hash is the key; the pipeline's own hash
    of what it pruned must equal it. Here the path holds other weights of the same size with the
    recorded modification time (so the run is taken for a rerun, hashes, and finds nothing), and
    is replaced after that hash, before the pruning opens it (a test hook holds the pruning
    back): exit 3, nothing recorded."""
    path = small_model(tmp_path / "model.h5", SEED + 6)
    assert prune_reg(reg, "m", path, "--sparsity", "0.5").returncode == 0
    recorded_mtime = os.stat(path).st_mtime_ns
    small_model(tmp_path / "model.h5", SEED + 7)
    os.utime(path, ns=(recorded_mtime, recorded_mtime))
    other = small_model(tmp_path / "other.h5", SEED + 8)
    assert os.path.getsize(other) == os.path.getsize(path)
    env = dict(os.environ, H5PRUNE_REGISTRY_PAUSE_BEFORE_PRUNE_MS="1500")
    cmd = [h5util.binary(), "prune", str(path), "--sparsity", "0.5", "--registry", str(reg), "--model", "m", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.6)
    assert p.poll() is None, "the run ended before its input could be replaced"
    os.replace(other, path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 3, (p.returncode, out, err)
    assert "changed while it was being pruned; nothing recorded" in err and err.count("\n") == 1, err
    assert sorted(manifests(reg, "m")) == [1], "a version was recorded over the wrong parent hash"


def test_the_same_file_under_another_path_is_already_recorded(tmp_path, model, reg):
    """Only a run with the origin of a recorded version (path, size, modification time, rule)
    looks for it before pruning; any other finds it after (here the same bytes under another
    name): no second version, and the next rerun from the new path finds it first."""
    assert prune_reg(reg, "m", model, "--sparsity", "0.7").returncode == 0
    copy = tmp_path / "copy-of-model.h5"
    copy.write_bytes(model.read_bytes())
    js = h5util.run_json("prune", copy, "--sparsity", "0.7", "--registry", reg, "--model", "m", "--quiet")
    assert js["registry"]["already_recorded"] is True and js["registry"]["version"] == 1, js["registry"]
    check_registry(reg, "m", 1)
    assert os.listdir(os.path.join(str(reg), "staging")) == []
    r = prune_reg(reg, "m", copy, "--sparsity", "0.7", env=dict(os.environ, H5PRUNE_REGISTRY_CRASH_AT="pruned"))
    assert r.returncode == 0 and "already recorded as m@1" in r.stdout and "nothing pruned" in r.stdout, h5util.describe(r)
    # The summary says what the first run from the new path did: it pruned, then found m@1.
    other = tmp_path / "other-copy.h5"
    other.write_bytes(model.read_bytes())
    r = prune_reg(reg, "m", other, "--sparsity", "0.7")
    assert r.returncode == 0 and "already recorded as m@1" in r.stdout, h5util.describe(r)
    assert "pruned again, nothing new recorded" in r.stdout and "nothing pruned" not in r.stdout, r.stdout


def test_lineage_when_a_registry_output_is_pruned_again(tmp_path, model, reg):
    assert prune_reg(reg, "base", model, "--sparsity", "0.5").returncode == 0
    first = tmp_path / "first.h5"
    h5util.run_ok("get", "base@1", "-o", first, "--registry", reg)
    res = prune_reg(reg, "small", first, "--sparsity", "0.8")
    assert res.returncode == 0, h5util.describe(res)
    m = check_registry(reg, "small", 1)[1]
    base = check_registry(reg, "base", 1)[1]
    assert m["parent"]["sha256"] == base["output"]["sha256"]
    assert (m["parent"]["model"], m["parent"]["version"]) == ("base", 1)
    assert "base@1" in h5util.run_ok("log", "small", "--registry", reg).stdout
    # An input that is not a registry blob has no parent version.
    assert check_registry(reg, "base", 1)[1]["parent"]["model"] is None


def test_tampered_blob_is_reported_with_exit_6(tmp_path, model, reg):
    assert prune_reg(reg, "bert", model, "--sparsity", "0.6").returncode == 0
    m = check_registry(reg, "bert", 1)[1]
    assert h5util.run("verify", "--registry", reg).returncode == 0
    b = blob_path(reg, m["output"]["sha256"])
    os.chmod(b, 0o644)
    with open(b, "r+b") as fh:
        fh.seek(os.path.getsize(b) // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0x01]))
    for args in (("verify",), ("verify", "bert")):
        res = h5util.run(*args, "--registry", reg)
        assert res.returncode == 6, h5util.describe(res)
        assert "DAMAGED" in res.stdout and m["output"]["sha256"][2:] in res.stdout
        assert res.stderr.startswith("h5prune: error: ") and res.stderr.count("\n") == 1
    js = json.loads(h5util.run("verify", "--json", "--registry", reg).stdout)
    assert js["ok"] is False and len(js["damage"]) == 1
    out = tmp_path / "out.h5"
    res = h5util.run("get", "bert@1", "-o", out, "--registry", reg)
    assert res.returncode == 6, h5util.describe(res)
    assert "damaged blob" in res.stderr
    assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".out.h5")] == [], "temporary left behind"
    # Rerunning the same prune repairs the store (the same input and rule give the same bytes)
    # instead of answering "already recorded" over a damaged blob, and says so.
    res = prune_reg(reg, "bert", model, "--sparsity", "0.6", extra=("-o", out))
    assert res.returncode == 0 and "restored" in res.stderr, h5util.describe(res)
    assert h5util.sha256(out) == m["output"]["sha256"] == h5util.sha256(b)
    assert h5util.run("verify", "--registry", reg).returncode == 0


def test_damaged_manifest_and_alias_are_reported(model, reg):
    assert prune_reg(reg, "bert", model, "--sparsity", "0.6").returncode == 0
    h5util.run_ok("alias", "bert@1", "prod", "--registry", reg)
    alias = os.path.join(str(reg), "models", "bert", "aliases", "prod")
    with open(alias, "w") as fh:
        fh.write("7\n")
    res = h5util.run("verify", "--registry", reg)
    assert res.returncode == 6 and "missing version 7" in res.stdout, h5util.describe(res)
    os.unlink(alias)
    mpath = os.path.join(str(reg), "models", "bert", "versions", "1", "manifest.json")
    os.chmod(mpath, 0o644)
    with open(mpath, "w") as fh:
        fh.write('{"schema": "h5prune.manifest/1"')
    res = h5util.run("verify", "bert", "--registry", reg)
    assert res.returncode == 6 and "manifest" in res.stdout, h5util.describe(res)
    assert h5util.run("show", "bert@1", "--registry", reg).returncode == 6


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "x..y", "", "a b"])
def test_bad_model_names_exit_6_and_write_nothing(tmp_path, model, reg, name):
    res = prune_reg(reg, name, model, "--sparsity", "0.5")
    assert res.returncode == 6, h5util.describe(res)
    assert "invalid model name" in res.stderr
    written = [os.path.join(dp, f) for dp, _, fs in os.walk(str(tmp_path)) for f in fs]
    assert written == [], written
    assert not os.path.exists(tmp_path / "evil")


def test_errors_and_exit_codes(tmp_path, model, reg):
    res = h5util.run("log", "bert", "--registry", reg)
    assert res.returncode == 6 and "does not exist" in res.stderr, h5util.describe(res)
    assert prune_reg(reg, "bert", model, "--sparsity", "0.5").returncode == 0
    for args in (("show", "bert@9"), ("show", "nobody@1"), ("get", "bert@9", "-o", tmp_path / "x.h5"),
                 ("alias", "bert@9", "prod"), ("alias", "bert@1", "123"), ("verify", "nobody"),
                 ("show", "bert@ffffffff")):
        res = h5util.run(*args, "--registry", reg)
        assert res.returncode == 6, h5util.describe(res)
        assert res.stderr.startswith("h5prune: error: ")
    env = dict(os.environ)
    env.pop("H5PRUNE_REGISTRY", None)
    res = h5util.run("log", "bert", env=env)
    assert res.returncode == 2 and "--registry" in res.stderr
    # Without -o and without a registry, prune still needs an output.
    res = h5util.run("prune", model, "--sparsity", "0.5", env=env)
    assert res.returncode == 2
    # A missing input is an input error, and nothing is recorded.
    res = prune_reg(reg, "bert", tmp_path / "missing.h5", "--sparsity", "0.5")
    assert res.returncode == 3, h5util.describe(res)
    check_registry(reg, "bert", 1)
    assert os.listdir(os.path.join(str(reg), "staging")) == []


def test_gc_removes_only_unreferenced_and_old(tmp_path, model, reg):
    assert prune_reg(reg, "bert", model, "--sparsity", "0.5").returncode == 0
    ms = check_registry(reg, "bert", 1)
    # Plant garbage: an unreferenced blob and an abandoned staging directory.
    junk = b"not referenced"
    sha = hashlib.sha256(junk).hexdigest()
    os.makedirs(os.path.dirname(blob_path(reg, sha)), exist_ok=True)
    with open(blob_path(reg, sha), "wb") as fh:
        fh.write(junk)
    stage = os.path.join(str(reg), "staging", "node1.123.abc")
    os.makedirs(stage)
    with open(os.path.join(stage, "output.h5"), "wb") as fh:
        fh.write(b"x" * 100)
    js = h5util.run_json("gc", "--registry", reg)  # default grace: all of it is young
    assert js["removed"] == [] and len(js["kept"]) == 2
    js = h5util.run_json("gc", "--dry-run", "--grace", "0", "--registry", reg)
    assert sorted(r["path"] for r in js["removed"]) == sorted([blob_path(reg, sha), stage])
    assert os.path.exists(blob_path(reg, sha)) and os.path.exists(stage)
    js = h5util.run_json("gc", "--grace", "0", "--registry", reg)
    assert len(js["removed"]) == 2
    assert not os.path.exists(blob_path(reg, sha)) and not os.path.exists(stage)
    check_registry(reg, "bert", 1)
    assert os.path.exists(blob_path(reg, ms[1]["output"]["sha256"]))
    assert h5util.run("gc", "--grace", "1w", "--registry", reg).returncode == 2


def test_metrics_carry_the_registry_version(tmp_path, model, reg):
    """With --metrics-dir, the textfile names the version recorded (and the existing one on a rerun)."""
    mdir = tmp_path / "metrics"
    mdir.mkdir()

    def version_in_metrics():
        text = open(mdir / "h5prune_bert.prom").read()
        lines = [l for l in text.splitlines() if l.startswith("h5prune_last_run_registry_version")]
        assert len(lines) == 1, text
        return float(lines[0].split()[-1])

    for rule, want in ((("--sparsity", "0.4"), 1), (("--sparsity", "0.6"), 2), (("--sparsity", "0.40"), 1)):
        res = prune_reg(reg, "bert", model, *rule, extra=("--metrics-dir", mdir))
        assert res.returncode == 0, h5util.describe(res)
        assert version_in_metrics() == want, rule
