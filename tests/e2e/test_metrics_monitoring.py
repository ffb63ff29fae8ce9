"""monitoring/: alert rules pass promtool check/test, the Grafana dashboard's queries parse, use
only families h5prune writes and return data from a real Prometheus that scraped a real
node_exporter, and docs/METRICS.md documents every family."""

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
    h5util.run_ok("prune", d / "m.h5", "-o", d / "p.h5", "--sparsity", "0.5", "--model", "p",
                  "--metrics-expect-every", "26h", *base)
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
    assert {"datasource", "model", "instance"} <= names
    # Each query, with the dashboard variables filled in, as a recording rule: promtool parses it.
    rules = {"groups": [{"name": "grafana", "rules": [
        {"record": "grafana:panel_%d" % i, "expr": fill_variables(e)}
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
    for needed in ("h5prune_last_run_sparsity_ratio", "h5prune_last_run_duration_seconds",
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


def fill_variables(expr):
    """A panel query as Grafana sends it with every variable at 'All' and a 1m interval."""
    for var, value in (("$model", ".*"), ("$instance", ".*"), ("$__rate_interval", "1m"), ("$__interval", "1m")):
        expr = expr.replace(var, value)
    return expr


def test_dashboard_queries_return_data_from_a_real_prometheus(tmp_path):
    """Every panel's query, run by a real Prometheus that scraped a real node_exporter serving
    real h5prune files (Grafana itself is in neither Debian nor PyPI): each returns series, the
    labels its legend names, and the numbers the files say; the failures panel counts failed runs."""
    import time
    from services import node_exporter, prometheus, prometheus_query
    small_model(tmp_path / "m.h5")
    small_model(tmp_path / "bad.h5", nan=True)
    mdir = tmp_path / "metrics"
    mdir.mkdir()

    # The good job is evaluated against a recorded baseline, so the evaluation panel has data.
    h5util.run_ok("eval", tmp_path / "m.h5", "--registry", tmp_path / "reg", "--model", "good",
                  "--eval", "echo '{\"accuracy\": 0.95}'")

    def runs():
        h5util.run_ok("prune", tmp_path / "m.h5", "--registry", tmp_path / "reg", "--sparsity", "0.5", "--model", "good",
                      "--metrics-dir", mdir, "--metrics-expect-every", "26h", "--quiet",
                      "--eval", "echo '{\"accuracy\": 0.9}'")
        assert h5util.run("prune", tmp_path / "bad.h5", "-o", tmp_path / "x.h5", "--sparsity", "0.5", "--model", "bad",
                          "--metrics-dir", mdir, "--quiet").returncode == 4

    runs()
    with node_exporter(mdir, tmp_path / "node_exporter.log") as url:
        with prometheus([url.split("/")[2]], str(tmp_path)) as base:
            deadline = time.monotonic() + 30
            while len(prometheus_query(base, "h5prune_last_run_success")["result"]) < 2:
                assert time.monotonic() < deadline, "Prometheus scraped no h5prune series"
                time.sleep(0.5)
            time.sleep(1.5)
            runs()  # new end timestamps while Prometheus watches: the failures panel counts them
            time.sleep(3)
            dash, _ = grafana_exprs()
            for panel in dash["panels"]:
                for t in panel["targets"]:
                    expr = fill_variables(t["expr"])
                    result = prometheus_query(base, expr)["result"]
                    assert result, "%s (%s): no data for %s" % (panel["title"], t["refId"], expr)
                    for label in re.findall(r"\{\{(\w+)\}\}", t.get("legendFormat", "")):
                        # (array_task "" outside arrays is no label at all in Prometheus: shown empty)
                        assert label == "array_task" or all(label in r["metric"] for r in result), (
                            panel["title"], label, result)
                    if t.get("format") == "table" and panel["title"] == "Last run":
                        # merge joins the targets on their labels: each must carry the identity
                        assert all({"instance", "model"} <= set(r["metric"]) for r in result), result
            by_title = {p["title"]: p for p in dash["panels"]}

            def values(title, ref="A"):
                t = next(x for x in by_title[title]["targets"] if x["refId"] == ref)
                res = prometheus_query(base, fill_variables(t["expr"]))["result"]
                return {r["metric"].get("model", ""): float(r["value"][1]) for r in res}

            assert values("Jobs whose last run failed") == {"": 1.0}
            failed = values("Failed runs over time")
            assert failed["bad"] >= 1 and failed["good"] == 0, failed
            assert values("Achieved and requested sparsity", "B") == {"good": 0.5, "bad": 0.5}  # also on failure
            assert set(values("Achieved and requested sparsity", "A")) == {"good"}
            evaluated = "Evaluated metric vs sparsity per model"
            assert values(evaluated, "A") == {"good": 0.9}
            assert values(evaluated, "B")["good"] == pytest.approx(0.5, abs=0.01)  # achieved, per-tensor rounding
            assert values(evaluated, "C") == {"good": 0.95}
            l2 = values("Retained L2")["good"]
            assert 0 < l2 < 1, l2
            assert values("Time since last success", "B") == {"good": 93600.0}
            names = {v["name"] for v in dash["templating"]["list"]}
            assert {"datasource", "model", "instance"} <= names
            series = prometheus_query(base, 'count by (model, instance) (h5prune_last_run_success)')["result"]
            assert {r["metric"]["model"] for r in series} == {"good", "bad"}


def test_dashboard_declares_no_unused_inputs():
    dash, exprs = grafana_exprs()
    text = json.dumps(dash)
    for inp in dash.get("__inputs", []):
        assert "${%s}" % inp["name"] in text, "input %s is declared but never used" % inp["name"]
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            assert t["datasource"]["uid"] == "${datasource}", panel["title"]
        if panel["type"] == "timeseries":
            assert all(t.get("legendFormat") for t in panel["targets"]), "%s: a series without a legend" % panel["title"]
        if panel["type"] == "table" and len(panel["targets"]) > 1:
            assert any(tr["id"] == "merge" for tr in panel.get("transformations", [])), panel["title"]
