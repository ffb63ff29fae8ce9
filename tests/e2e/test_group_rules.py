"""Per-group rules (--rule REGEX=SPEC, --rules FILE): each selected tensor takes the first rule whose
regex matches its path, the command line's rule takes the rest, global scope works within a group,
`skip` leaves a group dense; the rule list is recorded and keys the registry version; sweep keeps
the groups fixed while it sweeps the rest. All against a numpy reference written here."""

import json
import os
import re

import h5py
import numpy as np
import pytest

import datagen
import h5util
import reference
import test_registry
from test_nm_axis import nm_along

SEED = 5151
SENTIMENT = "Rohan581__Sentiment_Analysis__model.hdf5"


def parse_spec(spec):
    """SPEC -> dict, from the grammar in docs/RULES.md."""
    parts = spec.split(",")
    head, opts = parts[0], parts[1:]
    if head == "skip":
        return {"mode": "skip"}
    kind, _, value = head.partition(":") if ":" in head else ("sparsity", "", head)
    r = {"mode": kind, "value": value, "scope": "tensor", "axis": None}
    for o in opts:
        if o in ("global", "tensor"):
            r["scope"] = o
        elif o.startswith("axis="):
            r["axis"] = o[5:]
    return r


def reference_rules(src, rules, base=None, include_optimizer=False):
    """{path: expected array} for the selected tensors, and the skipped paths."""
    paths = reference.select(src, include_optimizer=include_optimizer)
    tensors = reference.read_tensors(src, paths)
    groups, skipped = {}, []
    for p in paths:
        idx = next((i for i, (rx, _) in enumerate(rules) if re.search(rx, p)), None)
        spec = parse_spec(rules[idx][1]) if idx is not None else base
        if spec is None or spec["mode"] == "skip":
            skipped.append(p)
            continue
        groups.setdefault(idx if idx is not None else "base", (spec, []))[1].append(p)
    want = {}
    for spec, members in groups.values():
        sub = {p: tensors[p] for p in members}
        if spec["mode"] == "sparsity":
            res = reference.prune_sparsity(sub, spec["value"], spec["scope"])
            want.update(res.arrays)
        elif spec["mode"] == "threshold":
            want.update(reference.prune_threshold(sub, float(spec["value"])).arrays)
        else:
            keep, m = (int(v) for v in spec["value"].split(":"))
            for p, x in sub.items():
                axis = int(spec["axis"]) % x.ndim if spec["axis"] not in (None, "auto") else 1
                want[p] = nm_along(x, keep, m, axis)
    return want, skipped, tensors


def check(src, out, js, want, skipped, ctx):
    assert sorted(t["path"] for t in js["tensors"]) == sorted(want), ctx
    assert sorted(s["path"] for s in js["skipped"]) == sorted(skipped), ctx
    with h5py.File(src, "r") as fi, h5py.File(out, "r") as fo:
        for p, w in want.items():
            h5util.assert_bits_equal(fo[p][()], w, "%s %s" % (ctx, p))
        for p in skipped:
            h5util.assert_dataset_identical(fi[p], fo[p], "%s skipped %s" % (ctx, p))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("groups")
    data = {
        "/embedding/embeddings": datagen.make_values(SEED, "<f4", (50, 16), "normal"),
        "/dense/kernel": datagen.make_values(SEED + 1, "<f4", (16, 32), "ties"),
        "/dense_1/kernel": (datagen.make_values(SEED + 2, "<f4", (32, 32), "normal") * 0.01).astype("<f4"),
        "/dense_1/bias": datagen.make_values(SEED + 3, "<f4", (32,), "normal"),
        "/output/kernel": datagen.make_values(SEED + 4, "<f2", (32, 8), "special"),
    }
    return datagen.write_h5(d / "m.h5", data)


CASES = {
    "skip_and_embedding": (["embedding=0.3", "output=skip"], ["--sparsity", "0.8", "--scope", "global"]),
    "first_match_wins": (["dense=0.5", "dense_1=0.9"], ["--sparsity", "0.2"]),
    "global_within_group": (["dense=0.6,global", "embedding=threshold:0.05"], ["--sparsity", "0.4", "--scope", "global"]),
    "nm_group": (["kernel$=nm:2:4,axis=0"], ["--sparsity", "0.5"]),
    "rules_only": (["embedding=sparsity:0.25", "dense_1=0.75,global"], []),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rules_match_reference(tmp_path, model, case):
    rules, base = CASES[case]
    args = []
    for r in rules:
        args += ["--rule", r]
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", model, "-o", out, *base, *args)
    base_spec = None
    if base:
        base_spec = {"mode": "sparsity", "value": base[1], "scope": base[3] if len(base) > 2 else "tensor"}
    want, skipped, _ = reference_rules(model, [tuple(r.split("=", 1)) for r in rules], base_spec)
    ctx = "[%s seed=%d]" % (case, SEED)
    check(model, out, js, want, skipped, ctx)
    assert [g["match"] for g in js["rule"]["rules"]] == [r.split("=", 1)[0] for r in rules], js["rule"]
    if not base:
        assert js["rule"]["mode"] == "rules", js["rule"]


def test_global_within_group_differs_from_global_over_all(tmp_path, model):
    """The small-scale dense_1 is its own group: 60% of it is pruned, not all of it."""
    out = tmp_path / "o.h5"
    js = h5util.run_json("prune", model, "-o", out, "--sparsity", "0.6", "--scope", "global", "--rule", "dense_1=0.6,global")
    t = {x["path"]: x for x in js["tensors"]}
    assert t["/dense_1/kernel"]["pruned"] == round(0.6 * 1024), t["/dense_1/kernel"]
    alone = h5util.run_json("prune", model, "-o", tmp_path / "a.h5", "--sparsity", "0.6", "--scope", "global")
    assert {x["path"]: x for x in alone["tensors"]}["/dense_1/kernel"]["pruned"] == 1024  # the bug a group avoids
    assert len(alone["warnings"]) == 1


def test_rules_file_equals_rule_options_and_keys_the_registry(tmp_path, model):
    rules = [{"match": "embedding", "rule": "0.3"}, {"match": "output", "rule": "skip"}]
    f = tmp_path / "rules.json"
    f.write_text(json.dumps({"rules": rules}, indent=2))
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    ja = h5util.run_json("prune", model, "-o", a, "--sparsity", "0.7", "--rules", f)
    jb = h5util.run_json("prune", model, "-o", b, "--sparsity", "0.7", "--rule", "embedding=0.3", "--rule", "output=skip")
    assert h5util.sha256(a) == h5util.sha256(b) and ja["rule"] == jb["rule"]
    reg = tmp_path / "reg"
    r1 = h5util.run_json("prune", model, "--sparsity", "0.7", "--rules", f, "--registry", reg, "--model", "g")
    r2 = h5util.run_json("prune", model, "--sparsity", "0.70", "--rule", "embedding=.3", "--rule", "output=skip",
                         "--registry", reg, "--model", "g")
    assert r2["registry"]["already_recorded"] and r2["registry"]["version"] == r1["registry"]["version"]
    r3 = h5util.run_json("prune", model, "--sparsity", "0.7", "--rule", "embedding=0.4", "--rule", "output=skip",
                         "--registry", reg, "--model", "g")
    assert not r3["registry"]["already_recorded"] and r3["registry"]["version"] == 2
    m = test_registry.manifests(str(reg), "g")[1]
    assert [g["match"] for g in m["rule"]["rules"]] == ["embedding", "output"], m["rule"]
    assert m["rule"]["rules"][1]["mode"] == "skip"


def test_sentiment_recipe(tmp_path, fixtures_dir):
    src = os.path.join(fixtures_dir, SENTIMENT)
    if not os.path.isfile(src):
        pytest.skip("fixture missing")
    out = tmp_path / "o.h5"
    rules = ["embedding=0.3", "dense/=skip"]
    js = h5util.run_json("prune", src, "-o", out, "--sparsity", "0.7", "--scope", "global",
                         "--rule", rules[0], "--rule", rules[1])
    want, skipped, _ = reference_rules(src, [tuple(r.split("=", 1)) for r in rules],
                                       {"mode": "sparsity", "value": "0.7", "scope": "global"})
    check(src, out, js, want, skipped, "[%s %s]" % (SENTIMENT, rules))
    assert skipped == ["/model_weights/dense/dense/kernel:0"]


@pytest.mark.parametrize("bad,needle", [("embedding=0.3x", "--rule"), ("=0.3", "--rule"), ("x", "--rule"),
                                        ("emb(=0.3", "regular expression"), ("e=1.5", "between 0 and 1"),
                                        ("e=threshold:0.1,global", "scope"), ("e=nm:5:4", "--nm")])
def test_bad_rules_are_usage_errors(tmp_path, model, bad, needle):
    res = h5util.run("prune", model, "-o", tmp_path / "o.h5", "--sparsity", "0.5", "--rule", bad)
    assert res.returncode == 2 and needle in res.stderr and res.stderr.count("\n") == 1, h5util.describe(res)
    assert not (tmp_path / "o.h5").exists()


def test_bad_rules_file(tmp_path, model):
    for text in ["{", '{"rules": [{"match": "a"}]}', '{"rulez": []}', '[{"match": "a", "rule": "0.5", "x": 1}]']:
        f = tmp_path / "r.json"
        f.write_text(text)
        res = h5util.run("prune", model, "-o", tmp_path / "o.h5", "--rules", f)
        assert res.returncode == 2 and "--rules file" in res.stderr, h5util.describe(res)


def test_sweep_keeps_groups_fixed(tmp_path, model):
    rules = ["--rule", "embedding=0.3", "--rule", "output=skip"]
    js = h5util.run_json("sweep", model, "--sparsity", "0.5,0.8", "--scope", "global", *rules)
    assert sorted(f["path"] for f in js["fixed"]) == ["/embedding/embeddings", "/output/kernel"], js["fixed"]
    swept = [t["path"] for t in js["points"][0]["tensors"]]
    assert swept == ["/dense/kernel", "/dense_1/kernel"], swept
    for point in js["points"]:
        pr = h5util.run_json("prune", model, "-o", tmp_path / ("p%s.h5" % point["value"]), "--sparsity", point["value"],
                             "--scope", "global", *rules)
        by = {t["path"]: t for t in pr["tensors"]}
        for t in point["tensors"]:
            assert t["pruned"] == by[t["path"]]["pruned"], (point["value"], t["path"])
        assert by["/embedding/embeddings"]["pruned"] == round(0.3 * 800)
    reg = tmp_path / "reg"
    h5util.run_ok("sweep", model, "--sparsity", "0.5,0.8", "--scope", "global", *rules, "--materialize",
                  "--registry", reg, "--model", "s")
    ms = test_registry.manifests(str(reg), "s")
    assert sorted(ms) == [1, 2] and all(m["rule"]["rules"][0]["match"] == "embedding" for m in ms.values())


def test_a_rule_that_takes_no_tensor_is_named(tmp_path, model):
    """A misspelt regex, or one whose every match an earlier rule takes, changes nothing: the run
    still succeeds (one rules file may serve many models) but says so, on stderr and in --json,
    for prune and sweep alike; a rule that takes a tensor is not named."""
    rules = ["--rule", "embeding=0.3", "--rule", "dense=0.5", "--rule", "dense_1=0.9", "--rule", "output=skip"]
    want = ["rule 'embeding=0.3' takes no tensor: its regex matches none of the 4 selected tensors",
            "rule 'dense_1=0.9' takes no tensor: every selected tensor it matches takes an earlier rule"]
    res = h5util.run("prune", model, "-o", tmp_path / "o.h5", "--sparsity", "0.2", "--quiet", *rules)
    assert res.returncode == 0, h5util.describe(res)
    assert [ln for ln in res.stderr.splitlines() if "takes no tensor" in ln] == ["h5prune: warning: " + w for w in want]
    js = h5util.run_json("prune", model, "-o", tmp_path / "j.h5", "--sparsity", "0.2", *rules)
    assert [w for w in js["warnings"] if "takes no tensor" in w] == want, js["warnings"]
    with h5py.File(model, "r") as f, h5py.File(tmp_path / "j.h5", "r") as g:  # dense_1 took dense=0.5, not 0.9
        x = f["/dense_1/kernel"][()]
        assert int(np.count_nonzero(g["/dense_1/kernel"][()] == 0)) == reference.k_for("0.5", x.size)
    res = h5util.run("sweep", model, "--sparsity", "0.4,0.6", "--json", *rules)
    assert res.returncode == 0, h5util.describe(res)
    assert json.loads(res.stdout)["warnings"] == want
    assert [ln for ln in res.stderr.splitlines() if "takes no tensor" in ln] == ["h5prune: warning: " + w for w in want]
    js = h5util.run_json("prune", model, "-o", tmp_path / "k.h5", "--sparsity", "0.2", "--rule", "dense=0.5")
    assert not [w for w in js["warnings"] if "takes no tensor" in w], js["warnings"]
