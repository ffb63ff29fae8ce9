"""Every fenced shell and Python example in README.md, docs/*.md and examples/digits/README.md runs (docs_examples.py says
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

DOCS = ([os.path.join(h5util.REPO, "README.md")] + sorted(glob.glob(os.path.join(h5util.REPO, "docs", "*.md"))) +
        [os.path.join(h5util.REPO, "examples", "digits", "README.md")])
ALL = docs_examples.examples(DOCS)
RUN = [e for e in ALL if e.lang]
TENSOR = "/model_weights/dense/dense/kernel:0"
EVAL_PY = """import json, sys, h5py, numpy as np
def net(path):
    with h5py.File(path, "r") as f:
        w = f["model_weights"]
        k1, b1, k2 = (w[p][()].astype("f8") for p in ("dense/dense/kernel:0", "dense/dense/bias:0", "out/out/kernel:0"))
    return lambda x: np.maximum(x @ k1 + b1, 0) @ k2
x = np.random.default_rng(7).standard_normal((500, 64))
ref, out = net("model.h5")(x), net(sys.argv[1])(x)
print(json.dumps({"accuracy": float(np.mean(ref.argmax(1) == out.argmax(1))), "loss": float(np.mean((ref - out) ** 2))}))
"""


@pytest.fixture(scope="module")
def shims(tmp_path_factory):
    """A directory put first on PATH: `python3` in the examples is Debian's, which has h5py and
    numpy (the first python3 on PATH here may not)."""
    d = tmp_path_factory.mktemp("docs-shims")
    os.symlink("/usr/bin/python3", d / "python3")
    return str(d)


@pytest.fixture(scope="module")
def workspace_template(tmp_path_factory, shims):
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
    # The stand-in evaluation the docs call `python3 eval.py {output}`: agreement of the pruned
    # network's predictions with model.h5's on fixed inputs, and the mean squared difference.
    (d / "eval.py").write_text(EVAL_PY)
    shutil.copytree(os.path.join(h5util.REPO, "examples", "digits"), d / "examples" / "digits")
    shutil.copytree(os.path.join(h5util.REPO, "monitoring"), d / "monitoring")   # docs/METRICS.md's promtool
    # docs/RULES.md's PyTorch export (its recipe writes the same file; later recipes reuse it).
    rng = np.random.default_rng(0)
    datagen.write_h5(d / "torch_export.h5", {"fc1.weight": rng.standard_normal((64, 32)).astype("f4"),
                                             "fc1.bias": rng.standard_normal(64).astype("f4"),
                                             "conv1.weight": rng.standard_normal((16, 8, 3, 3)).astype("f4")})
    # The real fixtures the recipes name, linked where they are present.
    for name in h5util.FIXTURE_NAMES:
        if os.path.exists(os.path.join(h5util.FIXTURES, name)):
            os.symlink(os.path.join(h5util.FIXTURES, name), d / name)
    # A registry `reg` where model bert has an evaluated baseline and versions 1-3 (docs/EVAL.md).
    env = dict(os.environ, PATH=shims + os.pathsep + os.environ.get("PATH", ""))
    ev = "python3 eval.py {output}"
    h5util.run_ok("eval", model, "--registry", d / "reg", "--model", "bert", "--eval", ev, cwd=d, env=env)
    for s in ("0.5", "0.8", "0.9"):
        h5util.run_ok("prune", model, "--sparsity", s, "--registry", d / "reg", "--model", "bert", "--eval", ev,
                      "--quiet", cwd=d, env=env)
    return d


@pytest.fixture
def workspace(workspace_template, tmp_path):
    w = tmp_path / "ws"
    shutil.copytree(workspace_template, w, symlinks=True)
    return w


def test_the_docs_have_examples_to_run():
    assert len(RUN) >= 10, [e.name for e in RUN]
    langs = {e.lang for e in RUN}
    assert langs == {"sh", "python"}, langs
    for e in ALL:
        if e.skip is not None:
            assert e.skip, "%s: a skip mark needs its reason" % e.name


def test_every_block_is_tagged():
    """A bare ``` fence would hide an example from this test: every block says what it is."""
    bad = docs_examples.untagged(ALL)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("example", RUN, ids=lambda e: e.name)
def test_example_runs(example, workspace, shims):
    if example.skip:
        pytest.skip(example.skip)
    missing = [n for n in h5util.FIXTURE_NAMES if n in example.body and not (workspace / n).exists()]
    if missing:
        pytest.skip("needs the fixture %s (%s)" % (missing[0], h5util.FIXTURES))
    res = docs_examples.run(example, str(workspace), os.path.dirname(os.path.abspath(h5util.binary())), shims)
    assert res.returncode == 0, "%s failed (exit %d):\n--- example ---\n%s--- output ---\n%s" % (
        example.name, res.returncode, example.body, res.stdout[-3000:])


def test_a_broken_example_fails(tmp_path, workspace):
    """The runner reports a broken example: a misspelt option, an undefined Python name."""
    doc = tmp_path / "broken.md"
    doc.write_text("# x\n\n```sh\nh5prune prune model.h5 -o out.h5 --sparsty 0.5\n```\n\n"
                   "```python\nimport numpy as np\nprint(undefined_name)\n```\n\n"
                   "<!-- docs-test: skip needs a GPU -->\n```sh\nfalse\n```\n\n```text\nnot run\n```\n\n"
                   "```\nbare\n```\n\n```console\n$ x\n```\n")
    found = docs_examples.examples([str(doc)])
    assert [(e.lang, e.skip) for e in found] == [("sh", None), ("python", None), ("sh", "needs a GPU"), (None, None),
                                                 (None, None), (None, None)]
    bad = docs_examples.untagged(found)
    assert len(bad) == 2 and bad[0].startswith("%s:21: a bare" % doc) and "'console'" in bad[1], bad
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
