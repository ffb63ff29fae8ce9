"""Every fenced shell and Python example in README.md and docs/*.md runs (docs_examples.py says
how blocks are found, marked and run), so the docs cannot drift from the tool; and the check
itself fails on a broken example."""

import glob
import os
import shutil

import numpy as np
import pytest

import datagen
import docs_examples
import h5util

DOCS = [os.path.join(h5util.REPO, "README.md")] + sorted(glob.glob(os.path.join(h5util.REPO, "docs", "*.md")))
ALL = docs_examples.examples(DOCS)
RUN = [e for e in ALL if e.lang]
TENSOR = "/model_weights/dense/dense/kernel:0"


@pytest.fixture(scope="module")
def workspace_template(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs-workspace")
    data = {TENSOR: datagen.make_values(31, "<f4", (64, 32), "normal"),
            "/model_weights/dense/dense/bias:0": datagen.make_values(32, "<f4", (32,), "normal"),
            "/model_weights/out/out/kernel:0": datagen.make_values(33, "<f4", (32, 8), "normal")}
    model = datagen.write_h5(d / "model.h5", data)
    h5util.run_ok("prune", model, "-o", d / "dense.h5", "--nm", "2:4", "--nm-axis", "last", "--quiet")
    for fmt in ("csr", "coo", "bitmask", "nm"):
        h5util.run_ok("prune", model, "-o", d / ("%s.h5" % fmt), "--nm", "2:4", "--nm-axis", "last", "--format", fmt,
                      "--quiet")
    (d / "textfile").mkdir()
    return d


@pytest.fixture
def workspace(workspace_template, tmp_path):
    w = tmp_path / "ws"
    shutil.copytree(workspace_template, w)
    return w


def test_the_docs_have_examples_to_run():
    assert len(RUN) >= 10, [e.name for e in RUN]
    langs = {e.lang for e in RUN}
    assert langs == {"sh", "python"}, langs
    for e in ALL:
        if e.skip is not None:
            assert e.skip, "%s: a skip mark needs its reason" % e.name


@pytest.mark.parametrize("example", RUN, ids=lambda e: e.name)
def test_example_runs(example, workspace):
    if example.skip:
        pytest.skip(example.skip)
    res = docs_examples.run(example, str(workspace), os.path.dirname(os.path.abspath(h5util.binary())))
    assert res.returncode == 0, "%s failed (exit %d):\n--- example ---\n%s--- output ---\n%s" % (
        example.name, res.returncode, example.body, res.stdout[-3000:])


def test_a_broken_example_fails(tmp_path, workspace):
    """The runner reports a broken example: a misspelt option, an undefined Python name."""
    doc = tmp_path / "broken.md"
    doc.write_text("# x\n\n```sh\nh5prune prune model.h5 -o out.h5 --sparsty 0.5\n```\n\n"
                   "```python\nimport numpy as np\nprint(undefined_name)\n```\n\n"
                   "<!-- docs-test: skip needs a GPU -->\n```sh\nfalse\n```\n\n```\nnot run\n```\n")
    found = docs_examples.examples([str(doc)])
    assert [(e.lang, e.skip) for e in found] == [("sh", None), ("python", None), ("sh", "needs a GPU"), (None, None)]
    bindir = os.path.dirname(os.path.abspath(h5util.binary()))
    for e in found[:2]:
        res = docs_examples.run(e, str(workspace), bindir)
        assert res.returncode != 0, (e.name, res.stdout)


def test_help_texts_name_every_command_and_exit_code():
    top = h5util.run_ok("--help").stdout
    for needed in ("--nm N:M", "7 CUDA device", "slurm status", "rm NAME@REF", "log [NAME]", "--keep-last"):
        assert needed in top, needed
    for cmd in ("prune", "sweep"):
        assert "7 CUDA device" in h5util.run_ok(cmd, "--help").stdout, cmd
    res = h5util.run("frobnicate")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, h5util.describe(res)
    for cmd in ("prune", "stats", "densify", "sweep", "slurm", "log", "rm", "gc"):
        assert cmd in res.stderr, (cmd, res.stderr)
