"""The fenced examples of README.md, docs/*.md and examples/digits/README.md: found, prepared and run (test_docs_examples.py).

A block whose info string is `sh`, `bash` or `python` is an example and must run; synopses,
output samples, file layouts and grammars are tagged `text` (or `json`, `yaml`) and not run. A
bare fence (no info string) is an error (bare_fences), so that no example escapes untagged. A line `<!-- docs-test: skip REASON -->` just
before a block marks one that cannot run here, with the reason. Examples run in a workspace
holding what they name (test_docs_examples.py builds it): `model.h5`, `dense.h5`, `csr.h5`,
`coo.h5`, `bitmask.h5`, `nm.h5` (written by h5prune, with the tensor
/model_weights/dense/dense/kernel:0), `eval.py` (a stand-in evaluation), a registry `reg` whose
model `bert` has an evaluated baseline and versions 1-3, `examples/digits/`, `monitoring/`,
`torch_export.h5`, links to the real fixtures, `textfile/`; `h5prune` and Debian's `python3`
come first on PATH. The site paths the docs use stand for directories of the workspace
(SITE_PATHS)."""

import os
import re
import subprocess

BLOCK = re.compile(r"(?:^<!-- docs-test: (?P<mark>[^\n]*?) -->\n)?^```(?P<info>(?P<lang>[A-Za-z]*)[^\n]*)\n"
                   r"(?P<body>.*?)^```", re.S | re.M)
RUNNABLE = {"sh": "sh", "bash": "sh", "python": "python"}
NOT_RUN = {"text", "json", "yaml"}
SITE_PATHS = {
    "/shared/registry": "registry",
    "/shared/logs": "logs",
    "/var/lib/node_exporter/textfile": "textfile",
}


class Example:
    def __init__(self, path, line, lang, body, skip, info=""):
        self.path, self.line, self.lang, self.body, self.skip, self.info = path, line, lang, body, skip, info

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
            out.append(Example(path, line, RUNNABLE.get(m.group("lang")), m.group("body"), skip,
                               m.group("info").strip()))
    return out


def untagged(found):
    """'FILE:LINE: why' for each block whose info string is neither runnable nor a known kind of
    text: a bare ``` fence, or a language nobody reads."""
    bad = []
    for e in found:
        if not e.info:
            bad.append("%s:%d: a bare ``` fence: tag it sh or python (an example, run by the test) or text "
                       "(a synopsis, output, layout or grammar)" % (e.path, e.line))
        elif e.info.split()[0] not in set(RUNNABLE) | NOT_RUN:
            bad.append("%s:%d: unknown fence language %r (known: %s)"
                       % (e.path, e.line, e.info, ", ".join(sorted(set(RUNNABLE) | NOT_RUN))))
    return bad


def run(example, workspace, h5prune_dir, shims=None, python="/usr/bin/python3", timeout=300):
    """Runs one example in `workspace` with h5prune_dir, then `shims` first on PATH; returns the
    CompletedProcess."""
    body = example.body
    for site, local in SITE_PATHS.items():
        body = body.replace(site, os.path.join(workspace, local))
    path = [h5prune_dir] + ([shims] if shims else []) + [os.environ.get("PATH", "")]
    env = dict(os.environ, PATH=os.pathsep.join(path))
    if example.lang == "sh":
        argv = ["bash", "-e", "-o", "pipefail", "-c", body]
    else:
        argv = [python, "-c", body]
    return subprocess.run(argv, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, timeout=timeout)
