"""monitoring/: alert rules pass promtool check/test, the Grafana dashboard's queries parse and
use only families h5prune writes, and docs/METRICS.md documents every family."""

import json
import os
import re
import subprocess

import pytest

import h5util
from metrics_util import PROMTOOL, help_type_lines, read_text, small_model

MON = os.path.join(h5util.REPO, "monitoring")
DOC = os.path.join(h5util.REPO, "docs", "METRICS.md")
FAMILY = re.compile(r"\bh5prune_[a-z0-9_]+\b")


def promtool(*args):
    res = subprocess.run([PROMTOOL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120, cwd=h5util.REPO)
    return res.returncode, res.stdout


@pytest.fixture(scope="module")
def written_families(tmp_path_factory):
    """{family: (HELP, TYPE)} over every kind of file h5prune writes."""
    d = tmp_path_factory.mktemp("families")
    small_model(d / "m.h5")
    small_model(d / "bad.h5", nan=True)
    mdir = d / "metrics"
    mdir.mkdir()
    base = ["--metrics-dir", mdir, "--quiet", "--metrics-per-tensor"]
    h5util.run_ok("prune", d / "m.h5", "-o", d / "a.h5", "--sparsity", "0.5", "--model", "a", *base)
    h5util.run_ok("prune", d / "m.h5", "-o", d / "b.h5", "--threshold", "0.1", "--model", "b", *base)
    h5util.run_ok("prune", d / "m.h5", "--registry", d / "registry", "--sparsity", "0.5", "--model", "r", *base)
    assert h5util.run("prune", d / "bad.h5", "-o", d / "c.h5", "--sparsity", "0.5", "--model", "c",
                      *base).returncode == 4
    # Evaluated (docs/EVAL.md): with a recorded baseline, so that every h5prune_eval_* family appears.
    h5util.run_ok("eval", d / "m.h5", "--registry", d / "registry", "--model", "e", "--eval", "echo '{\"m\": 2}'")
    h5util.run_ok("prune", d / "m.h5", "--registry", d / "registry", "--sparsity", "0.5", "--model", "e",
                  "--eval", "echo '{\"m\": 1}'", *base)
    # A search (its h5prune_search_* families).
    h5util.run_ok("search", d / "m.h5", "--eval", "echo '{\"m\": 1}'", "--metric", "m", "--max-drop", "0.5",
                  "--model", "s", "--metrics-dir", mdir)
    fams = {}
    for name in os.listdir(mdir):
        fams.update(help_type_lines(read_text(mdir / name)))
    return fams


def test_promtool_check_rules():
    code, out = promtool("check", "rules", os.path.join(MON, "alerts.yml"))
    assert code == 0, out
    assert "SUCCESS: 6 rules found" in out, out


def test_promtool_test_rules():
    code, out = promtool("test", "rules", os.path.join(MON, "tests", "alerts_test.yml"))
    assert code == 0 and "SUCCESS" in out, out


def test_alert_rules_cover_the_issue_and_use_written_families(written_families):
    text = read_text(os.path.join(MON, "alerts.yml"))
    alerts = set(re.findall(r"^\s*- alert: (\S+)", text, re.M))
    assert alerts == {"H5pruneRunFailed", "H5pruneNoRecentSuccess", "H5pruneSparsityBelowRequested",
                      "H5pruneEvalBelowBaseline"}
    used = set(FAMILY.findall(text))
    assert used and used <= set(written_families), "alerts use unknown families: %s" % (used - set(written_families))


def grafana_exprs():
    with open(os.path.join(MON, "grafana", "h5prune.json"), encoding="utf-8") as fh:
        dash = json.load(fh)
    exprs = []
    for panel in dash["panels"]:
        assert panel.get("title") and panel.get("gridPos"), panel
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
    return dash, exprs


def test_grafana_dashboard_queries_parse(tmp_path, written_families):
    dash, exprs = grafana_exprs()
    assert dash["uid"] and dash["title"]
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "model"} <= names
    # Each query, with the dashboard variables filled in, as a recording rule: promtool parses it.
    rules = {"groups": [{"name": "grafana", "rules": [
        {"record": "grafana:panel_%d" % i, "expr": e.replace("$model", ".*")}
        for i, (_, e) in enumerate(exprs)]}]}
    path = tmp_path / "grafana_rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    code, out = promtool("check", "rules", str(path))
    assert code == 0, out
    for title, e in exprs:
        used = set(FAMILY.findall(e))
        assert used, "%s: %s uses no h5prune family" % (title, e)
        assert used <= set(written_families), "%s: unknown families %s" % (title, used - set(written_families))
    all_used = set().union(*(FAMILY.findall(e) for _, e in exprs))
    for needed in ("h5prune_last_run_sparsity", "h5prune_last_run_duration_seconds",
                   "h5prune_last_run_failure_info", "h5prune_eval_value", "h5prune_eval_baseline_value"):
        assert needed in all_used, "the dashboard has no panel over %s" % needed


def test_metrics_doc_lists_every_family(written_families):
    doc = read_text(DOC)
    documented = set(FAMILY.findall(doc))
    missing = set(written_families) - documented
    assert not missing, "families written but not documented in docs/METRICS.md: %s" % sorted(missing)
    # Every family named in a table row of the doc is one that h5prune writes.
    rows = set(re.findall(r"^\| `(h5prune_[a-z0-9_]+)`", doc, re.M))
    assert rows == set(written_families), "table rows %s vs written %s" % (
        sorted(rows - set(written_families)), sorted(set(written_families) - rows))
