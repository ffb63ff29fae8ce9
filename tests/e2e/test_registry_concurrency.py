"""Many writers, one registry, no lock: 16 processes with 16 rules get versions 1..16, each
whole; 8 processes with the same input and rule get exactly one version. Repeated."""

import json
import os
import subprocess

import pytest

import datagen
import h5util
from test_registry import check_registry

SEED = 5150
ROUNDS = 3


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("concmodel")
    data = {
        "/w/dense/kernel:0": datagen.make_values(SEED, "<f4", (256, 256), "normal"),
        "/w/out/kernel:0": datagen.make_values(SEED + 1, "<f4", (256, 64), "ties"),
    }
    return datagen.write_h5(d / "model.h5", data)


def start_all(argvs):
    """Starts every process before waiting for any; returns (returncode, stdout, stderr) each."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([h5util.binary()] + [str(a) for a in argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
             for argv in argvs]
    out = []
    for p in procs:
        so, se = p.communicate(timeout=300)
        out.append((p.returncode, so, se))
    return out


def all_blobs(reg):
    root = os.path.join(str(reg), "objects", "sha256")
    return sorted(d + f for d in os.listdir(root) for f in os.listdir(os.path.join(root, d)))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sixteen_rules_sixteen_versions(tmp_path, model, round_):
    reg = tmp_path / "reg"
    rules = ["0.%02d" % (10 + 5 * i) for i in range(16)]  # 0.10 .. 0.85
    results = start_all([["prune", model, "--sparsity", s, "--registry", reg, "--model", "m", "--quiet"]
                         for s in rules])
    claimed = []
    for (rc, so, se), s in zip(results, rules):
        assert rc == 0, "sparsity %s: exit %d\n%s%s" % (s, rc, so, se)
        line = [x for x in so.splitlines() if x.startswith("recorded as m@")]
        assert len(line) == 1, "sparsity %s: %r" % (s, so)
        claimed.append(int(line[0].split("@")[1].split()[0]))
    assert sorted(claimed) == list(range(1, 17)), claimed
    ms = check_registry(reg, "m", 16)
    # Nothing lost: every rule is recorded once, under the number its writer reported.
    for v, s in zip(claimed, rules):
        assert ms[v]["rule"]["sparsity"] == s, (v, s)
    assert len({m["output"]["sha256"] for m in ms.values()}) == 16
    assert os.listdir(os.path.join(str(reg), "staging")) == []
    assert all_blobs(reg) == sorted(m["output"]["sha256"] for m in ms.values())
    res = h5util.run("verify", "--registry", reg)
    assert res.returncode == 0, h5util.describe(res)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_same_input_and_rule_gives_one_version(tmp_path, model, round_):
    reg = tmp_path / "reg"
    results = start_all([["prune", model, "--sparsity", "0.75", "--registry", reg, "--model", "m", "--quiet"]
                         for _ in range(8)])
    fresh = 0
    for rc, so, se in results:
        assert rc == 0, "exit %d\n%s%s" % (rc, so, se)
        assert "recorded as m@1" in so, so
        fresh += "already recorded" not in so
    assert fresh == 1, "exactly one writer publishes; the others find its version"
    ms = check_registry(reg, "m", 1)
    assert all_blobs(reg) == [ms[1]["output"]["sha256"]]
    assert os.listdir(os.path.join(str(reg), "staging")) == []
    assert h5util.run("verify", "--registry", reg).returncode == 0


def test_readers_and_gc_beside_writers(tmp_path, model):
    """log, verify and gc (default grace) running while 8 writers publish: every reader sees
    only whole versions, verify finds no damage, gc removes nothing a writer needs."""
    reg = tmp_path / "reg"
    h5util.run_ok("prune", model, "--sparsity", "0.5", "--registry", reg, "--model", "m", "--quiet")
    writers = [["prune", model, "--sparsity", "0.6%d" % i, "--registry", reg, "--model", "m", "--quiet"]
               for i in range(8)]
    readers = []
    for _ in range(4):
        readers += [["log", "m", "--json", "--registry", reg], ["verify", "--registry", reg],
                    ["gc", "--json", "--registry", reg]]
    results = start_all(writers + readers)
    for argv, (rc, so, se) in zip(writers + readers, results):
        assert rc == 0, "%s: exit %d\n%s%s" % (" ".join(map(str, argv)), rc, so, se)
        if argv[0] == "log":
            versions = [v["version"] for v in json.loads(so)["versions"]]
            assert versions == list(range(len(versions), 0, -1)), versions
        if argv[0] == "gc":
            assert json.loads(so)["removed"] == []
    check_registry(reg, "m", 9)
    assert os.listdir(os.path.join(str(reg), "staging")) == []
