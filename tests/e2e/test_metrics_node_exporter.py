"""A real node_exporter (Debian's prometheus-node-exporter), started here on a free loopback
port with the textfile collector, serves h5prune's files: two models side by side, one of them
failed, names with quotes, backslashes and non-ASCII characters, and no scrape error."""

import os

import pytest

import h5util
import services
from metrics_util import expected_file_name, help_type_lines, one, parse, read_text, small_model

MODELS = ['bert "base" \\ v2 \u00e9t\u00e9', "resnet50"]


def test_node_exporter_serves_two_models(tmp_path):
    small_model(tmp_path / "good.h5")
    small_model(tmp_path / "bad.h5", nan=True)
    mdir = tmp_path / "textfile"
    mdir.mkdir()
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="7")
    h5util.run_ok("prune", tmp_path / "good.h5", "-o", tmp_path / "a.h5", "--sparsity", "0.75",
                  "--metrics-dir", mdir, "--model", MODELS[0], "--metrics-per-tensor", "--quiet", env=env)
    res = h5util.run("prune", tmp_path / "bad.h5", "-o", tmp_path / "b.h5", "--sparsity", "0.5",
                     "--metrics-dir", mdir, "--model", MODELS[1], "--quiet")
    assert res.returncode == 4, h5util.describe(res)
    files = sorted(os.listdir(mdir))
    assert files == sorted([expected_file_name(MODELS[0], "7"), expected_file_name(MODELS[1])])
    written = {}
    for f in files:
        written.update(help_type_lines(read_text(mdir / f)))

    with services.node_exporter(mdir, tmp_path / "node_exporter.log") as url:
        text = services.scrape(url)
        served = parse(text)
        assert one(served, "node_textfile_scrape_error") == 0, text[-3000:]
        mtimes = {l["file"] for l, _ in served["node_textfile_mtime_seconds"]["samples"]}
        assert {os.path.basename(f) for f in mtimes} == set(files), mtimes

        # Every h5prune family of the files is served, with the same HELP and TYPE.
        for fam, (help_text, typ) in written.items():
            assert fam in served, "%s not served by node_exporter" % fam
            assert served[fam]["type"] == typ
            assert services_help(text, fam) == help_text, fam

        assert one(served, "h5prune_last_run_success", model=MODELS[0], array_task="7") == 1
        assert one(served, "h5prune_last_run_success", model=MODELS[1], array_task="") == 0
        assert one(served, "h5prune_last_run_failure_info", model=MODELS[1], reason="data") == 1
        assert one(served, "h5prune_last_run_requested_sparsity_ratio", model=MODELS[0]) == 0.75
        assert one(served, "h5prune_last_run_sparsity_ratio", model=MODELS[0]) == pytest.approx(0.75, abs=0.01)
        tensors = {l["tensor"] for l, _ in served["h5prune_last_run_tensor_sparsity_ratio"]["samples"]}
        assert tensors == {"/dense/kernel:0", "/dense_1/kernel:0"}

        # Negative control: a malformed file makes the same exporter report a scrape error,
        # so the check above can fail; removing it clears the error.
        (mdir / "broken.prom").write_text('h5prune_broken{model="unterminated} 1\n')
        assert one(parse(services.scrape(url)), "node_textfile_scrape_error") == 1
        os.unlink(mdir / "broken.prom")
        assert one(parse(services.scrape(url)), "node_textfile_scrape_error") == 0

        # A rerun of the same identity replaces its file; the series follow it.
        h5util.run_ok("prune", tmp_path / "good.h5", "-o", tmp_path / "c.h5", "--sparsity", "0.5",
                      "--metrics-dir", mdir, "--model", MODELS[1], "--quiet")
        again = parse(services.scrape(url))
        assert one(again, "h5prune_last_run_success", model=MODELS[1]) == 1
        assert not [l for l, _ in again.get("h5prune_last_run_failure_info", {"samples": []})["samples"]
                    if l["model"] == MODELS[1]], "stale failure series after a successful rerun"
        assert one(again, "node_textfile_scrape_error") == 0
        assert sorted(os.listdir(mdir)) == files


def services_help(text, family):
    """The HELP line of `family` as node_exporter serves it (escaped form)."""
    for line in text.splitlines():
        if line.startswith("# HELP %s " % family):
            return line[len("# HELP %s " % family):]
    raise AssertionError("no HELP line for %s" % family)
