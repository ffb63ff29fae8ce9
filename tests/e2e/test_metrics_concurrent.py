"""A reader of the metrics file never sees a partial file while 200 runs (four at a time)
rewrite it: every read is a whole, valid exposition of one run."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import h5util
from metrics_util import one, parse, promtool_check, small_model

RUNS = 200
PARALLEL = 4


def test_reader_never_sees_a_partial_file(tmp_path):
    small_model(tmp_path / "m.h5")
    small_model(tmp_path / "bad.h5", nan=True)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    path = mdir / "h5prune_race.prom"
    stop = threading.Event()
    reads = [0]
    distinct = set()  # hashes of the different contents seen
    problems = []

    def reader():
        while not stop.is_set():
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                continue  # before the first run has written it
            reads[0] += 1
            distinct.add(hash(data))
            if len(problems) < 5:
                try:
                    text = data.decode("utf-8")
                    assert text.endswith("\n"), "does not end with a newline"
                    p = parse(text)
                    ok = one(p, "h5prune_last_run_success", model="race")
                    wanted = {"h5prune_last_run_exit_code", "h5prune_last_run_end_timestamp_seconds",
                              "h5prune_last_run_duration_seconds"}
                    wanted.add("h5prune_last_run_sparsity_ratio" if ok == 1 else "h5prune_last_run_failure_info")
                    missing = wanted - set(p)
                    assert not missing, "families missing: %s" % sorted(missing)
                except Exception as e:  # noqa: BLE001 - every problem is reported below
                    problems.append("%s: %r" % (e, data[-300:]))

    def run(i):
        # Every fourth run fails (NaN), so both kinds of file replace each other.
        src = tmp_path / ("bad.h5" if i % 4 == 3 else "m.h5")
        return h5util.run("prune", src, "-o", tmp_path / ("o%d.h5" % i), "--sparsity", "0.5",
                          "--metrics-dir", mdir, "--model", "race", "--quiet")

    t = threading.Thread(target=reader)
    t.start()
    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(run, range(RUNS)))
    finally:
        time.sleep(0.05)
        stop.set()
        t.join()
    codes = [r.returncode for r in results]
    assert codes == [4 if i % 4 == 3 else 0 for i in range(RUNS)], codes
    assert not problems, "partial or invalid files seen (%d reads): %s" % (reads[0], problems)
    assert reads[0] >= RUNS, "only %d reads during %d runs: the test did not race" % (reads[0], RUNS)
    assert len(distinct) >= 10, "the reader saw only %d distinct files in %d reads" % (len(distinct), reads[0])
    assert sorted(os.listdir(mdir)) == ["h5prune_race.prom"], "temporaries left: %r" % os.listdir(mdir)
    promtool_check(path)
