"""Registry lifecycle: `log` without a name, `rm NAME@N`, `gc --keep-last/--older-than`,
`log --sort/--rule`, alias history; rm and retention under concurrent writers and with kill -9
at their named steps (H5PRUNE_REGISTRY_CRASH_AT). The registry is also read straight from disk
(docs/REGISTRY.md): a retired version keeps its directory (its number is never reused) with a
`retired` file, and its blob goes once no live version refers to it."""

import json
import os
import random
import subprocess
import time

import pytest

import datagen
import h5util
from test_registry import blob_path

SEED = 1616


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("lifecycle")
    data = {"/w/a/kernel:0": datagen.make_values(SEED, "<f4", (96, 64), "normal"),
            "/w/b/kernel:0": datagen.make_values(SEED + 1, "<f4", (64, 32), "normal")}
    return datagen.write_h5(d / "model.h5", data)


def record(reg, model, sparsity, name="m", env=None):
    out = h5util.run_json("prune", model, "--sparsity", sparsity, "--registry", reg, "--model", name, env=env)
    return out["registry"]["version"], out["output"]["sha256"]


def live(reg, name="m"):
    return [v["version"] for v in h5util.run_json("log", name, "--registry", reg)["versions"]]


def on_disk(reg, name="m"):
    """{version: retired?} from the directory itself."""
    vdir = os.path.join(str(reg), "models", name, "versions")
    return {int(n): os.path.exists(os.path.join(vdir, n, "retired")) for n in os.listdir(vdir) if n.isdigit()}


def verify_ok(reg):
    res = h5util.run("verify", "--registry", reg, "--json")
    assert res.returncode == 0, h5util.describe(res)
    return json.loads(res.stdout)


def test_log_without_a_name_lists_models(tmp_path, model):
    reg = tmp_path / "reg"
    res = h5util.run("log", "--registry", reg)
    assert res.returncode == 6 and "does not exist" in res.stderr, h5util.describe(res)
    record(reg, model, "0.5", "alpha")
    _, sha = record(reg, model, "0.7", "alpha")
    record(reg, model, "0.7", "beta")  # same output as alpha@2: one blob
    h5util.run_ok("alias", "alpha@1", "prod", "--registry", reg)
    j = h5util.run_json("log", "--registry", reg)
    by = {m["model"]: m for m in j["models"]}
    assert sorted(by) == ["alpha", "beta"]
    assert (by["alpha"]["versions"], by["alpha"]["latest"], by["alpha"]["retired"]) == (2, 2, 0)
    assert by["alpha"]["aliases"] == {"prod": 1} and by["beta"]["aliases"] == {}
    size = os.path.getsize(blob_path(reg, sha))
    assert by["beta"]["bytes"] == size
    assert by["alpha"]["bytes"] == size + os.path.getsize(blob_path(reg, record(reg, model, "0.5", "alpha")[1]))
    text = h5util.run_ok("log", "--registry", reg).stdout
    assert "alpha" in text and "prod->1" in text and "beta" in text


def test_rm_retires_a_version_and_gc_frees_its_file(tmp_path, model):
    reg = tmp_path / "reg"
    shas = {}
    for s in ("0.3", "0.5", "0.7"):
        v, shas[s] = record(reg, model, s)
    h5util.run_ok("alias", "m@2", "prod", "--registry", reg)
    res = h5util.run("rm", "m@2", "--registry", reg)
    assert res.returncode == 6 and "prod" in res.stderr and res.stderr.count("\n") == 1, h5util.describe(res)
    assert live(reg) == [3, 2, 1]
    res = h5util.run("rm", "m", "--registry", reg)
    assert res.returncode == 2, "a bare model name never retires anything"
    out = h5util.run_json("rm", "m@prod", "--force", "--registry", reg)
    assert out == {"model": "m", "version": 2, "aliases_removed": ["prod"], "already_retired": False}
    assert live(reg) == [3, 1] and on_disk(reg) == {1: False, 2: True, 3: False}
    res = h5util.run("show", "m@2", "--registry", reg)
    assert res.returncode == 6 and "retired" in res.stderr, h5util.describe(res)
    res = h5util.run("alias", "m@2", "prod", "--registry", reg)
    assert res.returncode == 6, h5util.describe(res)
    # The number is never reused; the retired rule records anew.
    assert record(reg, model, "0.9")[0] == 4
    assert record(reg, model, "0.5") == (5, shas["0.5"])
    h5util.run_ok("rm", "m@3", "--registry", reg)
    verify_ok(reg)
    gc = h5util.run_json("gc", "--grace", "0", "--registry", reg)
    removed = {r["path"] for r in gc["removed"]}
    assert removed == {str(blob_path(reg, shas["0.7"]))}, gc
    assert not os.path.exists(blob_path(reg, shas["0.7"]))
    assert os.path.exists(blob_path(reg, shas["0.5"])), "v5 uses the same output as retired v2"
    assert verify_ok(reg)["versions"] == 3
    res = h5util.run("rm", "m@3", "--registry", reg)
    assert res.returncode == 6 and "retired" in res.stderr, h5util.describe(res)
    # Retiring the newest version does not free its number: the same rule records as 6.
    h5util.run_ok("rm", "m@5", "--registry", reg)
    assert record(reg, model, "0.5") == (6, shas["0.5"])
    assert live(reg) == [6, 4, 1] and on_disk(reg)[5]


def test_gc_retention_policy(tmp_path, model):
    reg = tmp_path / "reg"
    for s in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        record(reg, model, s)
    h5util.run_ok("alias", "m@1", "baseline", "--registry", reg)
    dry = h5util.run_json("gc", "--keep-last", "2", "--grace", "0", "--dry-run", "--registry", reg)
    assert [r["path"] for r in dry["retired"]] == ["m@2", "m@3"] and dry["removed"], dry
    assert live(reg) == [5, 4, 3, 2, 1], "a dry run changes nothing"
    assert h5util.run_json("gc", "--older-than", "1h", "--grace", "0", "--registry", reg)["retired"] == []
    gc = h5util.run_json("gc", "--keep-last", "2", "--grace", "0", "--registry", reg)
    assert [r["path"] for r in gc["retired"]] == ["m@2", "m@3"]
    assert len(gc["removed"]) == 2, gc
    assert live(reg) == [5, 4, 1], "the newest two and the aliased one stay"
    gc = h5util.run_json("gc", "--keep-last", "1", "--older-than", "0", "--grace", "0", "--registry", reg)
    assert [r["path"] for r in gc["retired"]] == ["m@4"]
    assert live(reg) == [5, 1]
    verify_ok(reg)
    res = h5util.run("gc", "--keep-last", "0", "--registry", reg)
    assert res.returncode == 2, h5util.describe(res)


def test_log_sort_and_rule_filter(tmp_path, model):
    reg = tmp_path / "reg"
    for s in ("0.7", "0.30", "0.5"):
        record(reg, model, s)
    h5util.run_ok("prune", model, "--threshold", "0.5", "--registry", reg, "--model", "m")
    def order(*args):
        return [v["version"] for v in h5util.run_json("log", "m", "--registry", reg, *args)["versions"]]
    assert order() == [4, 3, 2, 1]
    sp = h5util.run_json("log", "m", "--sort", "sparsity", "--rule", "mode=sparsity", "--registry", reg)["versions"]
    assert [v["version"] for v in sp] == [2, 3, 1]
    assert [v["sparsity"] for v in sp] == sorted(v["sparsity"] for v in sp)
    assert order("--sort", "sparsity", "--reverse", "--rule", "mode=sparsity") == [1, 3, 2]
    assert order("--sort", "time") == [4, 3, 2, 1]
    assert order("--rule", "sparsity=0.3") == [2], "0.30 and 0.3 are the same decimal"
    assert order("--rule", "threshold=0.5") == [4]
    assert order("--rule", "scope=global") == []
    assert order("--rule", "mode=sparsity", "--limit", "1") == [3]
    res = h5util.run("log", "m", "--rule", "colour=blue", "--registry", reg)
    assert res.returncode == 2 and "colour" in res.stderr, h5util.describe(res)
    res = h5util.run("log", "m", "--sort", "size", "--registry", reg)
    assert res.returncode == 2, h5util.describe(res)
    text = h5util.run_ok("log", "m", "--rule", "sparsity=0.9", "--registry", reg).stdout
    assert "no version" in text


def test_alias_history(tmp_path, model):
    reg = tmp_path / "reg"
    for s in ("0.3", "0.5"):
        record(reg, model, s)
    h5util.run_ok("alias", "m@1", "prod", "--registry", reg)
    h5util.run_ok("alias", "m@1", "prod", "--registry", reg)  # no move: not an event
    h5util.run_ok("alias", "m@2", "prod", "--registry", reg)
    h5util.run_ok("alias", "m@2", "staging", "--registry", reg)
    h5util.run_ok("alias", "m", "prod", "--delete", "--registry", reg)
    ev = h5util.run_json("alias", "--history", "m@prod", "--registry", reg)["events"]
    assert [(e["action"], e["from"], e["to"]) for e in ev] == [("set", None, 1), ("set", 1, 2), ("delete", 2, None)]
    assert all(e["time"].endswith("Z") and e["user"] for e in ev)
    every = h5util.run_json("alias", "--history", "m", "--registry", reg)["events"]
    assert [e["alias"] for e in every] == ["prod", "prod", "staging", "prod"]
    text = h5util.run_ok("alias", "--history", "m@prod", "--registry", reg).stdout
    assert text.count("\n") == 4 and "delete" in text


@pytest.mark.parametrize("step", ["retire-aliases-removed", "retire-marked"])
def test_rm_killed_at_each_step(tmp_path, model, step):
    reg = tmp_path / "reg"
    for s in ("0.3", "0.5"):
        record(reg, model, s)
    h5util.run_ok("alias", "m@1", "prod", "--registry", reg)
    env = dict(os.environ, H5PRUNE_REGISTRY_CRASH_AT=step)
    res = h5util.run("rm", "m@1", "--force", "--registry", reg, env=env)
    assert res.returncode == -9, h5util.describe(res)
    verify_ok(reg)
    # Before the marker the version is whole and live; after it, retired. Never in between.
    expect = [2, 1] if step == "retire-aliases-removed" else [2]
    assert live(reg) == expect
    assert h5util.run_json("log", "--registry", reg)["models"][0]["aliases"] == {}
    if step == "retire-aliases-removed":
        h5util.run_ok("rm", "m@1", "--force", "--registry", reg)  # the rerun finishes the job
    else:
        res = h5util.run("rm", "m@1", "--force", "--registry", reg)
        assert res.returncode == 6 and "retired" in res.stderr, h5util.describe(res)
    assert live(reg) == [2] and on_disk(reg) == {1: True, 2: False}
    verify_ok(reg)


@pytest.mark.parametrize("step", ["gc-retired", "gc-blob-set-aside"])
def test_gc_killed_at_each_step(tmp_path, model, step):
    reg = tmp_path / "reg"
    shas = [record(reg, model, s)[1] for s in ("0.2", "0.4", "0.6", "0.8")]
    env = dict(os.environ, H5PRUNE_REGISTRY_CRASH_AT=step)
    res = h5util.run("gc", "--keep-last", "2", "--grace", "0", "--registry", reg, env=env)
    assert res.returncode == -9, h5util.describe(res)
    assert live(reg) == [4, 3]
    for sha in shas[2:]:
        assert os.path.exists(blob_path(reg, sha)), "a live version lost its blob"
    verify_ok(reg)
    gc = h5util.run_json("gc", "--keep-last", "2", "--grace", "0", "--registry", reg)
    for sha in shas[:2]:
        assert not os.path.exists(blob_path(reg, sha))
    assert os.listdir(reg / "staging") == [], gc
    report = verify_ok(reg)
    assert report["leftovers"] == [] and report["versions"] == 2


def test_rm_and_retention_beside_concurrent_writers(tmp_path, model):
    """8 writers record 6 rules over and over (the same outputs come back after their versions
    are retired) while gc --keep-last 2 and rm run in a loop. Before each gc every blob is aged
    by two hours, so that gc (grace 1h, which keeps the writers' staging) chooses the blobs of
    retired versions and those that in-flight writers have just stored or deduplicated: the
    set-aside / put-back and the writers' link-back are what keep them. At the end verify
    passes, every live version has its blob, numbers are unique and never reused, and every
    version a writer reported is either live or retired, never missing."""
    reg = tmp_path / "reg"
    record(reg, model, "0.05")
    rules = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"]
    rng = random.Random(SEED)
    deadline = time.monotonic() + 20
    writers = []
    reported = []
    gcs = blobs_removed = put_back = retired = 0
    while time.monotonic() < deadline or writers:
        for w in [w for w in writers if w.poll() is not None]:
            reported.append((w.returncode,) + w.communicate())
            writers.remove(w)
        while time.monotonic() < deadline and len(writers) < 8:
            writers.append(subprocess.Popen(
                [h5util.binary(), "prune", str(model), "--sparsity", rng.choice(rules), "--registry", str(reg),
                 "--model", "m", "--json", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        if time.monotonic() < deadline:
            aged = time.time() - 7200
            for d, _, files in os.walk(reg / "objects" / "sha256"):
                for f in files:
                    try:
                        os.utime(os.path.join(d, f), (aged, aged))
                    except OSError:
                        pass  # removed meanwhile
            gc = h5util.run("gc", "--keep-last", "2", "--grace", "1h", "--registry", reg, "--json")
            assert gc.returncode == 0, h5util.describe(gc)
            gcs += 1
            report = json.loads(gc.stdout)
            blobs_removed += sum(r["reason"] == "unreferenced blob" for r in report["removed"])
            put_back += sum("started to use it" in k["reason"] for k in report["kept"])
            retired += len(report["retired"])
            versions = live(reg)
            if len(versions) > 2:
                rm = h5util.run("rm", "m@%d" % versions[-1], "--registry", reg)
                assert rm.returncode in (0, 6), h5util.describe(rm)  # 6: gc retired it first
        time.sleep(0.05)
    print("gc runs %d, versions retired %d, blobs removed %d, put back %d, writers %d"
          % (gcs, retired, blobs_removed, put_back, len(reported)))
    assert gcs >= 5 and len(reported) >= 16 and retired and blobs_removed, (gcs, len(reported), retired, blobs_removed)
    seen = {}
    for rc, out, err in reported:
        assert rc == 0, (rc, err)
        j = json.loads(out)
        assert not err.strip() or "warning" in err, err
        v, sha = j["registry"]["version"], j["output"]["sha256"]
        assert seen.setdefault(v, sha) == sha, "version %d reported with two outputs" % v
    state = on_disk(reg)
    for v in seen:
        assert v in state, "reported version %d has no directory" % v
    report = verify_ok(reg)
    assert report["damage"] == []
    for v in live(reg):
        m = h5util.run_json("show", "m@%d" % v, "--registry", reg)
        assert os.path.exists(blob_path(reg, m["output"]["sha256"])), v
    # A last gc leaves only what live versions use.
    h5util.run_json("gc", "--grace", "0", "--registry", reg)
    report = verify_ok(reg)
    assert report["leftovers"] == [], report["leftovers"]


def test_evaluation_records_survive_rm_and_are_verified(tmp_path, model):
    """Evaluation records stay with a retired version (they are its history, like its manifest);
    verify reads every record and reports a damaged or misplaced one (exit 6, naming the file);
    a killed record writer's temporary is a leftover that gc removes."""
    reg = tmp_path / "reg"
    h5util.run_ok("eval", model, "--registry", reg, "--model", "m", "--eval", "echo '{\"acc\": 0.9}'")
    out = h5util.run_json("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m",
                          "--eval", "echo '{\"acc\": 0.8}'")
    v = out["registry"]["version"]
    h5util.run_ok("prune", model, "--sparsity", "0.6", "--registry", reg, "--model", "m")
    h5util.run_ok("rm", "m@%d" % v, "--registry", reg)
    report = h5util.run_json("verify", "--registry", reg)
    assert report["ok"] and report["evaluations"] == 2, report  # the baseline and the retired version's record
    records = os.path.join(str(reg), "models", "m", "evaluations", str(v))
    assert len([f for f in os.listdir(records) if f.endswith(".json")]) == 1

    # A killed writer's temporary: a leftover, removed by gc once older than the grace period.
    temp = os.path.join(records, ".20261129T000000.000Z-host.1.abc.json.tmp.def")
    with open(temp, "w") as f:
        f.write("{")
    os.utime(temp, (time.time() - 60, time.time() - 60))
    report = h5util.run_json("verify", "--registry", reg)
    assert report["ok"] and temp in [x["path"] for x in report["leftovers"]], report
    gc = h5util.run_json("gc", "--grace", "30s", "--registry", reg)
    assert temp in [x["path"] for x in gc["removed"]] and not os.path.exists(temp), gc

    # A damaged record, and records of a version that was never recorded: damage, exit 6.
    bad = os.path.join(records, "20261129T000000.000Z-host.1.abc.json")
    with open(bad, "w") as f:
        f.write("{\"schema\": ")
    stray = os.path.join(str(reg), "models", "m", "evaluations", "99")
    os.makedirs(stray)
    r = h5util.run("verify", "--json", "--registry", reg)
    assert r.returncode == 6, r.stderr
    damage = {x["path"]: x["problem"] for x in json.loads(r.stdout)["damage"]}
    assert bad in damage and "not valid JSON" in damage[bad], damage
    assert stray in damage and "never recorded" in damage[stray], damage
    assert len(r.stderr.strip().splitlines()) == 1 and "damaged" in r.stderr, r.stderr
