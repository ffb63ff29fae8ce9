"""Seeded random files (dtypes incl. big-endian, ranks 2-3, ties, specials, all-zero tensors,
path names around '/' in byte order) and random rules, each compared with the reference."""

import h5py
import numpy as np
import pytest

import checks
import datagen
import h5util
import reference

CASES = range(40)
NAMES = ["a", "b", "a-b", "a/b", "ab", "a.b", "A", "z/y", "a0", "a b"]


def _case(seed):
    rng = np.random.default_rng(10_000 + seed)
    data = {}
    for i in range(int(rng.integers(1, 5))):
        dt = str(rng.choice(["<f2", "<f4", "<f8", ">f2", ">f4", ">f8"]))
        shape = tuple(int(s) for s in rng.integers(1, 40, int(rng.integers(2, 4))))
        kind = str(rng.choice(datagen.KINDS))
        x = datagen.make_values(seed * 10 + i, dt, shape, kind)
        if rng.random() < 0.2:  # all zeros, signs kept
            x = np.copysign(np.zeros(x.shape), np.nan_to_num(x.astype(np.float64))).astype(x.dtype)
        data["/%s%d" % (rng.choice(NAMES), i)] = x
    if rng.random() < 0.5:
        rule = ["--sparsity", str(rng.choice(["0", "0.1", "0.35", "0.5", "0.501", "0.75", "0.9",
                                              "0.999", "1", "0.125", "0.3333333333333333333333"])),
                "--scope", str(rng.choice(["tensor", "global"]))]
    else:
        rule = ["--threshold", str(rng.choice(["0", "1e-45", "6e-8", "0.05", "0.1", "0.5", "1", "1e300"]))]
    extra = []
    if rng.random() < 0.3:
        extra += ["--memory-limit", "64K"]
    if rng.random() < 0.3:
        extra += ["--threads", "1"]
    return data, rule, extra


@pytest.mark.parametrize("seed", CASES)
def test_random_case(tmp_path, seed):
    data, rule, extra = _case(seed)
    src = datagen.write_h5(tmp_path / "in.h5", data)
    out = tmp_path / "out.h5"
    ctx = "[fuzz seed=%d %s %s tensors=%s]" % (seed, " ".join(rule), " ".join(extra),
                                                {p: (x.dtype.str, x.shape) for p, x in data.items()})
    js = h5util.run_json("prune", src, "-o", out, *rule, *extra)
    checks.check_against_reference(js, src, out, rule, ctx)
    with h5py.File(out, "r") as f:
        assert sorted(reference.walk_datasets(f)) == sorted(data), ctx
