"""Helpers for the metrics tests: the documented file-name rule, parsing textfiles with the
independent prometheus_client parser, promtool checks, and a small model to prune."""

import hashlib
import os
import re
import subprocess

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

import datagen

PROMTOOL = os.environ.get("H5PRUNE_PROMTOOL", "/usr/bin/promtool")

# Names that exercise the exposition format's escaping and the file-name rule.
ODD_NAMES = [
    'q"uote',
    "back\\slash",
    "caf\u00e9 \u6a21\u578b",
    "two\nlines",
    'all "of\\ them" \u00fc/\u00e9',
    "m_3",
]


def expected_file_name(model, task=""):
    """docs/METRICS.md: runs of bytes outside [A-Za-z0-9._-] -> '_', at most 120 bytes; when that
    changed the name, or there is no task and it ends in _<digits>, append '-' + sha256[:8]."""
    raw = model.encode("utf-8")
    name = re.sub(rb"[^A-Za-z0-9._-]+", b"_", raw)[:120]
    if name != raw or (not task and re.search(rb"_[0-9]+$", name)):
        name += b"-" + hashlib.sha256(raw).hexdigest()[:8].encode()
    out = b"h5prune_" + name
    if task:
        out += b"_" + re.sub(rb"[^A-Za-z0-9._-]+", b"_", task.encode())[:120]
    return (out + b".prom").decode("ascii")


def read_text(path):
    with open(path, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8")  # raises on invalid UTF-8


def parse(text):
    """{family: {"help", "type", "samples": [(labels dict, value)]}} by prometheus_client."""
    out = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = {"help": fam.documentation, "type": fam.type,
                         "samples": [(dict(s.labels), s.value) for s in fam.samples]}
        for s in fam.samples:
            assert s.timestamp is None, "sample of %s carries a timestamp" % fam.name
    return out


def help_type_lines(text):
    """{family: (HELP text as written, TYPE)} from the raw lines."""
    helps, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, rest = line[7:].partition(" ")
            helps[name] = rest
        elif line.startswith("# TYPE "):
            name, _, rest = line[7:].partition(" ")
            types[name] = rest
    assert set(helps) == set(types), "HELP without TYPE or TYPE without HELP: %r %r" % (helps, types)
    return {n: (helps[n], types[n]) for n in helps}


def one(parsed, family, **labels):
    """The value of the single sample of `family` (whose labels include `labels`)."""
    assert family in parsed, "family %s missing; have %s" % (family, sorted(parsed))
    got = [(l, v) for l, v in parsed[family]["samples"] if all(l.get(k) == v for k, v in labels.items())]
    assert len(got) == 1, "%s%r: expected one sample, got %r" % (family, labels, parsed[family]["samples"])
    return got[0][1]


def promtool_check(path):
    with open(path, "rb") as fh:
        res = subprocess.run([PROMTOOL, "check", "metrics"], stdin=fh, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=60)
    assert res.returncode == 0 and not res.stdout.strip(), (
        "promtool check metrics rejects %s (exit %d): %s\n--- file ---\n%s"
        % (path, res.returncode, res.stdout.decode(errors="replace"), read_text(path)))


def small_model(path, seed=11, nan=False):
    """Two selected tensors (float32 24x40, float64 7x9) and an unselected bias."""
    rng = np.random.default_rng(seed)
    a = datagen.make_values(seed, "float32", (24, 40), "normal")
    b = datagen.make_values(seed + 1, "float64", (7, 9), "ties")
    if nan:
        a = a.copy()
        a[3, 5] = np.nan
    datagen.write_h5(path, {"/dense/kernel:0": a, "/dense_1/kernel:0": b,
                            "/dense/bias:0": rng.standard_normal(40).astype(np.float32)})
    return {"/dense/kernel:0": a, "/dense_1/kernel:0": b}
