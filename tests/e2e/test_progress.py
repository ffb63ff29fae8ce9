"""Progress on long runs (docs/CLI.md "Progress"): periodic lines in a batch log when stderr is
not a terminal, a redrawn bar on a terminal, for prune and sweep, streamed or not.

The runs stream a 4 MB tensor in 16K slabs (--memory-limit 64K), so every pass goes through
the reader slab by slab; H5PRUNE_PROGRESS_SECONDS shortens the batch interval from 10 s. Steps
that are not passes over the weights are named too ("copy" for unselected datasets, "hash" and
"flush" when the output is finished), and a batch log repeats the last line while a step gives
no news."""

import os
import pty
import re
import select
import subprocess
import time

import numpy as np

import datagen
import h5util

LINE = re.compile(r"^h5prune: (\d+)% \(([\d.]+) of ([\d.]+) MB over all passes\) after \d+ s: (.+?) (/\S+)$")
MB = 1024 * 1024 * 4 / 1e6  # the tensor's bytes, in the MB the lines print


def _model(tmp_path):
    values = datagen.make_values(11, "<f4", (1024, 1024), "normal")
    return datagen.write_h5(tmp_path / "m.h5", {"/w/kernel": values, "/w/bias": values[0]}), values


def _batch_lines(tmp_path, *args, seconds="0.001"):
    """Runs h5prune with stderr in a file (a batch log); returns the progress lines parsed."""
    log = tmp_path / "stderr.log"
    env = dict(os.environ, H5PRUNE_PROGRESS_SECONDS=seconds)
    with open(log, "w") as err:
        res = subprocess.run([h5util.binary()] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=err,
                             stdin=subprocess.DEVNULL, env=env, timeout=300)
    text = log.read_text()
    assert res.returncode == 0, "h5prune failed: %s\n%s" % (" ".join(map(str, args)), text[-2000:])
    lines = [l for l in text.splitlines() if l.startswith("h5prune: ") and "%" in l]
    parsed = []
    for l in lines:
        m = LINE.match(l)
        assert m, "progress line not in the documented form: %r" % l
        parsed.append((int(m.group(1)), float(m.group(2)), float(m.group(3)), m.group(4), m.group(5)))
    return parsed, text


def _check_monotone(parsed, total_mb, final_mb=None):
    """total_mb: the tensor bytes times the planned passes; final_mb: the total once a selection
    that ended on the scan's gathered keys took its further digits out (None: never)."""
    assert len(parsed) >= 3, "too few progress lines on a streamed run: %r" % parsed
    done = [p[1] for p in parsed]
    assert done == sorted(done), "done bytes went back: %r" % done
    pcts = [p[0] for p in parsed]
    assert pcts == sorted(pcts), "the percentage went back: %r" % pcts
    allowed = {round(total_mb, 1)} | ({round(final_mb, 1)} if final_mb is not None else set())
    for pct, d, total, _, _ in parsed:
        assert min(abs(total - t) for t in allowed) < 0.05, \
            "total %.1f MB, expected one of %r (tensor bytes times planned passes)" % (total, sorted(allowed))
        assert 0 <= pct <= 100 and d <= total + 1e-9
        assert abs(pct - 100 * d / total) <= 1.5  # d and total are printed rounded to 0.1 MB
    totals = [p[2] for p in parsed]
    assert totals == sorted(totals, reverse=True), "the total grew: %r" % totals
    assert abs(totals[0] - total_mb) < 0.05, "the first total is not the plan: %r" % totals
    if final_mb is not None:
        assert abs(totals[-1] - final_mb) < 0.05, "the further digits were not taken out: %r" % totals


STEPS = re.compile(r"^(copy|flush|hash [\d.]+ of [\d.]+ MB)$")  # not passes over the weights


def _passes_in_order(parsed):
    """The passes over the weights, in the order they ran (the other steps left out)."""
    order = []
    for p in parsed:
        if STEPS.match(p[3]):
            continue
        if not order or order[-1] != p[3]:
            order.append(p[3])
    return order


def test_prune_streamed_batch_log(tmp_path):
    model, values = _model(tmp_path)
    out = tmp_path / "out.h5"
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", out, "--sparsity", "0.9", "--memory-limit", "64K",
                             "--threads", "1")
    # float32 sparsity: the scan (first digit), the second digit, the write: 3 passes planned.
    # The sample's bounds held (the scan gathered the threshold): the second digit's pass left out.
    _check_monotone(parsed, 3 * MB, 2 * MB)
    assert _passes_in_order(parsed) == ["scan", "write"], _passes_in_order(parsed)
    assert {p[4] for p in parsed if not STEPS.match(p[3])} == {"/w/kernel"}
    # the progress changes nothing: the output is what numpy computes
    import h5py
    with h5py.File(out, "r") as f:
        got = f["/w/kernel"][...]
    k = int(0.9 * values.size)
    order = np.argsort(np.abs(values).ravel(), kind="stable")
    exp = values.ravel().copy()
    exp[order[:k]] = 0
    h5util.assert_bits_equal(got.ravel(), exp, "/w/kernel")


def test_prune_global_passes_named(tmp_path):
    model, _ = _model(tmp_path)
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "out.h5", "--sparsity", "0.9",
                             "--scope", "global", "--memory-limit", "64K", "--threads", "1")
    _check_monotone(parsed, 3 * MB, 2 * MB)
    assert _passes_in_order(parsed)[0] == "scan" and _passes_in_order(parsed)[-1] == "write"


def test_prune_radix_passes_named(tmp_path):
    """Without a sample (the test hook), the second digit is a pass of its own, planned and named;
    with a bound that missed, the first digit's pass comes on top, named and not counted."""
    model, _ = _model(tmp_path)
    for hook, passes in (("radix", ["scan", "select 2/2", "write"]), ("miss", ["scan", "select 1/2", "select 2/2", "write"])):
        os.environ["H5PRUNE_TEST_SELECTION"] = hook
        try:
            parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "out.h5", "--sparsity", "0.9",
                                     "--memory-limit", "64K", "--threads", "1", "--force")
        finally:
            del os.environ["H5PRUNE_TEST_SELECTION"]
        _check_monotone(parsed, 3 * MB)
        assert _passes_in_order(parsed) == passes, (hook, _passes_in_order(parsed))


def test_sweep_streamed_batch_log(tmp_path):
    model, _ = _model(tmp_path)
    parsed, _ = _batch_lines(tmp_path, "sweep", model, "--sparsity", "0.5,0.9", "--memory-limit", "64K",
                             "--threads", "1")
    _check_monotone(parsed, 3 * MB)
    assert _passes_in_order(parsed) == ["scan", "select 2/2", "tally"], _passes_in_order(parsed)


def test_quiet_and_default_interval_print_nothing(tmp_path):
    model, _ = _model(tmp_path)
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "a.h5", "--sparsity", "0.5",
                             "--memory-limit", "64K", "--quiet")
    assert parsed == []
    # the default batch interval is 10 s: a short run writes no progress line
    parsed, text = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "b.h5", "--sparsity", "0.5", seconds="")
    assert parsed == [], text


def test_terminal_bar(tmp_path):
    """On a terminal (a pty here): a bar redrawn in place, cleared before the summary."""
    model, _ = _model(tmp_path)
    master, slave = pty.openpty()
    p = subprocess.Popen([h5util.binary(), "prune", str(model), "-o", str(tmp_path / "out.h5"), "--sparsity", "0.9",
                          "--memory-limit", "64K", "--threads", "1"],
                         stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                         env=dict(os.environ, H5PRUNE_PROGRESS_SECONDS="0.001"))
    os.close(slave)
    seen = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], 60)
            if not r:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the pty
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, seen[-2000:]
    bars = re.findall(rb"\r\x1b\[K\[([# ]{30})\] +(\d+)% (\S+(?: \S+)?) +(/\S+)", seen)
    assert bars, "no progress bar drawn on a terminal: %r" % seen[-500:]
    pcts = [int(b[1]) for b in bars]
    assert pcts == sorted(pcts), pcts
    for fill, pct, _, _ in bars:
        assert fill.count(b"#") == int(int(pct) / 100 * 30) or abs(fill.count(b"#") - int(pct) * 30 / 100) <= 1
    assert seen.endswith(b"\r\x1b[K"), "the bar was not cleared at the end: %r" % seen[-100:]
    assert out.strip(), "no summary on stdout"


def test_finishing_the_output_is_reported(tmp_path):
    """After the last pass the output is flushed to disk and, with --json (or --registry), input
    and output are hashed: on a file of tens of GB that takes as long as a pass, so it is
    reported too, the hashed bytes counted against both files' sizes."""
    model, _ = _model(tmp_path)
    out = tmp_path / "out.h5"
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", out, "--sparsity", "0.9", "--memory-limit", "64K",
                             "--json", seconds="0.000001")
    hashing = [p for p in parsed if p[3].startswith("hash ")]
    assert hashing and all(p[4] == str(out) for p in hashing), parsed[-5:]
    assert parsed[-1][3].startswith("hash "), "the hashes are the last step: %r" % parsed[-3:]
    total_mb = (os.path.getsize(model) + os.path.getsize(out)) / 1e6
    done = []
    for p in hashing:
        m = re.match(r"hash ([\d.]+) of ([\d.]+) MB$", p[3])
        assert abs(float(m.group(2)) - total_mb) < 0.05, (p, total_mb)
        done.append(float(m.group(1)))
    assert done == sorted(done) and done[-1] <= total_mb + 0.05, done
    # without the hashes: the flush alone
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "plain.h5", "--sparsity", "0.9",
                             "--memory-limit", "64K", seconds="0.000001")
    assert parsed[-1][3] == "flush" and parsed[-1][4] == str(tmp_path / "plain.h5"), parsed[-3:]
    assert not any(p[3].startswith("hash ") for p in parsed), "hashed without --json or --registry"


def test_a_step_without_news_repeats_the_last_line(tmp_path):
    """A batch log gets a line every interval even while a step reports nothing: here a run taken
    for a rerun of a recorded version hashes its input (one "hash" line), finds no version (the
    file holds other weights with the recorded size and time), and a test hook then holds the
    pruning back for 1.5 s: the line is repeated, with the time rising."""
    reg = tmp_path / "reg"
    path = datagen.write_h5(tmp_path / "m.h5", {"/d/kernel": datagen.make_values(3, "<f4", (16, 8), "normal")})
    first = subprocess.run([h5util.binary(), "prune", str(path), "--sparsity", "0.5", "--registry", str(reg),
                            "--model", "m", "--quiet"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    recorded = os.stat(path).st_mtime_ns
    datagen.write_h5(path, {"/d/kernel": datagen.make_values(4, "<f4", (16, 8), "normal")})
    os.utime(path, ns=(recorded, recorded))
    log = tmp_path / "err.log"
    env = dict(os.environ, H5PRUNE_PROGRESS_SECONDS="0.2", H5PRUNE_REGISTRY_PAUSE_BEFORE_PRUNE_MS="1500")
    started = time.monotonic()
    with open(log, "w") as err:
        r = subprocess.run([h5util.binary(), "prune", str(path), "--sparsity", "0.5", "--registry", str(reg),
                            "--model", "m"], stdout=subprocess.PIPE, stderr=err, text=True, env=env, timeout=120)
    assert r.returncode == 0, log.read_text()
    assert time.monotonic() - started >= 1.5, "the test hook did not hold the run back (not a test build?)"
    repeats = [l for l in log.read_text().splitlines() if l.startswith("h5prune: ") and l.endswith(": hash " + str(path))]
    assert len(repeats) >= 4, "no line repeated while the step gave no news:\n" + log.read_text()
    after = [int(re.search(r"after (\d+) s", l).group(1)) for l in repeats]
    assert after == sorted(after) and after[-1] >= 1, after


def test_a_large_unselected_dataset_is_named_while_it_is_copied(tmp_path):
    """Datasets the rule does not select are copied as they are: one of 16 MiB or more is named
    ("copy PATH") while it is copied; the small ones (here a bias) are not, or they would be
    what most lines of the write show."""
    values = datagen.make_values(12, "<f4", (256, 256), "normal")
    state = datagen.make_values(13, "<f4", (4 << 20,), "normal")  # 16 MiB, 1-D: not selected
    model = datagen.write_h5(tmp_path / "m.h5", {"/w/kernel": values, "/w/bias": values[0], "/opt/state": state})
    parsed, _ = _batch_lines(tmp_path, "prune", model, "-o", tmp_path / "out.h5", "--sparsity", "0.5",
                             seconds="0.000001")
    copies = {p[4] for p in parsed if p[3] == "copy"}
    assert copies == {"/opt/state"}, copies
