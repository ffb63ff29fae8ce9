"""Checks of a prune output file and its --json summary against the reference."""

import math
from fractions import Fraction

import h5py
import numpy as np
import pytest

import h5util
import reference

DTYPE_NAMES = {2: "float16", 4: "float32", 8: "float64"}


def check_output_tensors(out_path, paths, res, ctx):
    """Every selected tensor equals the reference bit for bit; pruned positions are +0.0."""
    with h5py.File(out_path, "r") as f:
        for p in paths:
            got = f[p][()]
            h5util.assert_bits_equal(got, res.arrays[p], "%s tensor %s" % (ctx, p))
            h5util.assert_pruned_positive_zero(got, res.masks[p], "%s tensor %s" % (ctx, p))


def check_summary(js, paths, res, tensors, ctx, sparsity=None, threshold=None, scope="tensor"):
    """The --json summary agrees with the reference (counts exactly, ratios to rounding)."""
    assert js.get("command") == "prune", "%s: command=%r" % (ctx, js.get("command"))
    rule = js["rule"]
    if sparsity is not None:
        assert rule["mode"] == "sparsity", ctx
        assert rule["sparsity"] == sparsity, ("%s: rule.sparsity %r is not the decimal as written %r"
                                              % (ctx, rule["sparsity"], sparsity))
        assert rule["scope"] == scope, ctx
    else:
        assert rule["mode"] == "threshold", ctx
    got = {t["path"]: t for t in js["tensors"]}
    assert sorted(got) == sorted(paths), ("%s: summary tensors %s != selected %s"
                                          % (ctx, sorted(got), sorted(paths)))
    tot_n = tot_pruned = tot_zb = tot_za = 0
    for p in paths:
        t = got[p]
        x = tensors[p]
        c = "%s tensor %s" % (ctx, p)
        n = int(x.size)
        tot_n += n
        tot_pruned += res.k[p]
        assert t["n"] == n, "%s: n=%r expected %d" % (c, t["n"], n)
        assert t["pruned"] == res.k[p], "%s: pruned=%r expected %d" % (c, t["pruned"], res.k[p])
        assert list(t["shape"]) == list(x.shape), "%s: shape %r" % (c, t["shape"])
        if x.dtype.byteorder in ("=", "<", "|"):
            assert t["dtype"] == DTYPE_NAMES[x.dtype.itemsize], "%s: dtype %r" % (c, t["dtype"])
        zeros = int(np.count_nonzero(x == 0))
        assert t["zeros_before"] == zeros, "%s: zeros_before=%r expected %d" % (c, t["zeros_before"], zeros)
        zeros_after = int(np.count_nonzero(res.arrays[p] == 0))
        newly = int(np.count_nonzero((x != 0) & (res.arrays[p] == 0)))
        assert t["zeros_after"] == zeros_after, "%s: zeros_after=%r expected %d" % (c, t["zeros_after"], zeros_after)
        assert t["newly_zeroed"] == newly, "%s: newly_zeroed=%r expected %d" % (c, t["newly_zeroed"], newly)
        tot_zb += zeros
        tot_za += zeros_after
        if n:
            assert t["sparsity"] == pytest.approx(res.k[p] / n, rel=1e-12, abs=1e-15), c
        if sparsity is not None:
            assert t["requested_sparsity"] == pytest.approx(float(Fraction(sparsity)), rel=1e-12, abs=1e-15), c
        else:
            assert t["requested_sparsity"] is None, "%s: requested_sparsity should be null" % c
        mag = np.abs(x.astype(np.float64)).ravel()
        K = t["threshold"]
        if threshold is not None:
            assert K == float(threshold), "%s: threshold %r != T %r" % (c, K, threshold)
            assert t["ties_pruned"] == 0, "%s: ties_pruned %r with --threshold" % (c, t["ties_pruned"])
        if res.k[p] > 0 and isinstance(K, (int, float)) and math.isfinite(K):
            below = int(np.count_nonzero(mag < K))
            ties = int(np.count_nonzero(mag == K))
            assert t["ties"] == ties, "%s: ties=%r but %d weights have |w| == K=%r" % (c, t["ties"], ties, K)
            assert 0 <= t["ties_pruned"] <= ties, c
            assert below + t["ties_pruned"] == res.k[p], (
                "%s: count(|w| < K=%r)=%d + ties_pruned=%d != pruned %d"
                % (c, K, below, t["ties_pruned"], res.k[p]))
        with np.errstate(over="ignore", invalid="ignore"):
            x64 = x.astype(np.float64).ravel()
            w64 = res.arrays[p].astype(np.float64).ravel()
            nw, nk = np.linalg.norm(x64), np.linalg.norm(w64)
        if np.isfinite(nw) and np.isfinite(nk):
            exp_l2 = 1.0 if nw == 0 else nk / nw
            assert t["retained_l2"] == pytest.approx(exp_l2, rel=1e-6, abs=1e-12), (
                "%s: retained_l2 %r expected %r" % (c, t["retained_l2"], exp_l2))
    total = js["total"]
    assert total["n"] == tot_n, "%s: total.n %r expected %d" % (ctx, total["n"], tot_n)
    assert total["pruned"] == tot_pruned, "%s: total.pruned %r expected %d" % (ctx, total["pruned"], tot_pruned)
    assert (total["zeros_before"], total["zeros_after"], total["newly_zeroed"]) == (tot_zb, tot_za, tot_za - tot_zb), (
        "%s: total zeros %r" % (ctx, total))
    if tot_n:
        assert total["sparsity"] == pytest.approx(tot_pruned / tot_n, rel=1e-12, abs=1e-15), ctx


def check_against_reference(js, src, out, rule, ctx):
    """The output file and the --json summary of `prune src -o out RULE` against the reference.
    rule is ["--sparsity", S, "--scope", SCOPE] or ["--threshold", T]."""
    if rule[0] == "--sparsity":
        paths, res, tensors = reference.prune_file(src, sparsity=rule[1], scope=rule[3])
        check_summary(js, paths, res, tensors, ctx, sparsity=rule[1], scope=rule[3])
    else:
        paths, res, tensors = reference.prune_file(src, threshold=float(rule[1]))
        check_summary(js, paths, res, tensors, ctx, threshold=rule[1])
    check_output_tensors(out, paths, res, ctx)
