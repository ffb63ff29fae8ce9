"""`h5prune stats` on a synthetic file with known statistics."""

import numpy as np
import pytest

import datagen
import h5util
import reference

SEED = 55


@pytest.fixture
def model(tmp_path):
    k = np.array([[0.0, -0.0, 3.0, -4.0], [0.5, -0.25, 0.0, 1.0]], dtype=np.float32)
    n = datagen.make_values(SEED, "<f8", (5, 5), "normal")
    n.ravel()[[1, 7, 8]] = np.nan
    data = {
        "/layer/kernel": k,
        "/layer/bias": np.array([1.0, -2.0], dtype=np.float16),
        "/layer/nan": n,
        "/lr": np.float32(0.001),
        "/iter": np.int64(3),
        "/q": np.ones((3, 3), np.int8),
    }
    return datagen.write_h5(tmp_path / "m.h5", data), data


def test_stats_json(model):
    src, data = model
    js = h5util.run_json("stats", src)
    rows = {t["path"]: t for t in js["tensors"]}
    assert sorted(rows) == ["/layer/bias", "/layer/kernel", "/layer/nan", "/lr"], sorted(rows)
    k = rows["/layer/kernel"]
    assert (k["n"], k["zeros"], k["nan"], k["dtype"], list(k["shape"])) == (8, 3, 0, "float32", [2, 4]), k
    assert k["sparsity"] == pytest.approx(3 / 8)
    assert k["min_abs"] == 0.0 and k["max_abs"] == 4.0, k
    assert k["mean_abs"] == pytest.approx(8.75 / 8, rel=1e-9), k
    assert k["l2"] == pytest.approx(np.sqrt(9 + 16 + 0.25 + 0.0625 + 1), rel=1e-9), k
    assert k["selected"] is True
    assert rows["/layer/nan"]["nan"] == 3 and rows["/layer/nan"]["n"] == 25, rows["/layer/nan"]
    assert rows["/layer/nan"]["selected"] is True
    assert rows["/layer/bias"]["selected"] is False and rows["/layer/bias"]["n"] == 2
    assert rows["/lr"]["selected"] is False and rows["/lr"]["n"] == 1
    assert js["total"]["n"] == 8 + 2 + 25 + 1, js["total"]
    assert js["total"]["zeros"] == 3, js["total"]
    assert js["other_datasets"] == 2, js


@pytest.mark.parametrize("opts", [["--include", "bias", "--min-ndim", "1"], ["--exclude", "nan"],
                                  ["--min-ndim", "0"]])
def test_stats_selected_flag_follows_options(model, opts):
    src, data = model
    js = h5util.run_json("stats", src, *opts)
    kw = {}
    for i in range(0, len(opts), 2):
        kw[{"--include": "include", "--exclude": "exclude", "--min-ndim": "min_ndim"}[opts[i]]] = (
            int(opts[i + 1]) if opts[i] == "--min-ndim" else opts[i + 1])
    want = set(reference.select(src, **kw))
    got = {t["path"] for t in js["tensors"] if t["selected"]}
    assert got == want, "[stats %s] selected %r expected %r" % (" ".join(opts), sorted(got), sorted(want))


def test_stats_human_output(model):
    src, _ = model
    res = h5util.run_ok("stats", src)
    for p in ("/layer/kernel", "/layer/nan", "/lr"):
        assert p in res.stdout, "stats table lacks %s:\n%s" % (p, res.stdout)
