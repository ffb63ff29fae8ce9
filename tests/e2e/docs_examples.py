"""The fenced examples of README.md and docs/*.md: found, prepared and run (test_docs_examples.py).

A block whose info string is `sh`, `bash` or `python` is an example and must run; blocks without
one (synopses, output, file layouts) are not run. A line `<!-- docs-test: skip REASON -->` just
before a block marks one that cannot run here, with the reason. Examples run in a workspace
holding what they name: `model.h5`, `dense.h5`, `csr.h5`, `coo.h5`, `bitmask.h5`, `nm.h5`
(written by h5prune, with the tensor /model_weights/dense/dense/kernel:0), `textfile/`, and
`h5prune` first on PATH. The site paths the docs use stand for directories of the workspace
(SITE_PATHS)."""

import os
import re
import subprocess

BLOCK = re.compile(r"(?:^<!-- docs-test: (?P<mark>[^\n]*?) -->\n)?^```(?P<lang>[A-Za-z]*)[^\n]*\n(?P<body>.*?)^```",
                   re.S | re.M)
RUNNABLE = {"sh": "sh", "bash": "sh", "python": "python"}
SITE_PATHS = {
    "/shared/registry": "registry",
    "/shared/logs": "logs",
    "/var/lib/node_exporter/textfile": "textfile",
}


class Example:
    def __init__(self, path, line, lang, body, skip):
        self.path, self.line, self.lang, self.body, self.skip = path, line, lang, body, skip

    @property
    def name(self):
        return "%s:%d" % (os.path.basename(self.path), self.line)


def examples(paths):
    """Every fenced block of the files, in order; lang is "sh", "python" or None (not run)."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start("lang")) + 1
            mark = m.group("mark")
            skip = mark[len("skip"):].strip() if mark and mark.startswith("skip") else None
            if mark and skip is None:
                raise ValueError("%s:%d: unknown docs-test mark %r" % (path, line, mark))
            out.append(Example(path, line, RUNNABLE.get(m.group("lang")), m.group("body"), skip))
    return out


def run(example, workspace, h5prune_dir, python="/usr/bin/python3", timeout=300):
    """Runs one example in `workspace`; returns the CompletedProcess."""
    body = example.body
    for site, local in SITE_PATHS.items():
        body = body.replace(site, os.path.join(workspace, local))
    env = dict(os.environ, PATH=h5prune_dir + os.pathsep + os.environ.get("PATH", ""))
    if example.lang == "sh":
        argv = ["bash", "-e", "-o", "pipefail", "-c", body]
    else:
        argv = [python, "-c", body]
    return subprocess.run(argv, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, timeout=timeout)
