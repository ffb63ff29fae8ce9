"""`sweep --report` as a tool for choosing: with `--materialize --eval`, every metric against
achieved sparsity with the baseline, the tolerance band and the best point marked, checked
against numpy-pruned models evaluated in the test and in a real browser; the log-density axis;
per-tensor charts whose curves are distinct."""

import math
import os
import re
import sys

import h5py
import numpy as np
import pytest

import browser
import datagen
import h5util
import reference

DIGITS = os.path.join(h5util.REPO, "examples", "digits")
MLP = os.path.join(DIGITS, "mlp.h5")
EVAL = "/usr/bin/python3 %s {output}" % os.path.join(DIGITS, "evaluate.py")
POINTS = ["0.3", "0.5", "0.6", "0.7", "0.8", "0.9", "0.99"]


def scores_by_numpy(points):
    """(baseline {accuracy, loss}, [(achieved sparsity, {accuracy, loss}) per point]): the MLP
    pruned by the numpy reference and evaluated with the example's forward pass."""
    sys.path.insert(0, DIGITS)
    import digits_data
    import evaluate
    _, _, x, y = digits_data.split()

    def score(layers):
        p = evaluate.forward(layers, x)
        return {"accuracy": float((p.argmax(axis=1) == y).mean()),
                "loss": float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())}

    with h5py.File(MLP, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["model_weights"].attrs["layer_names"]]
    base_layers = evaluate.layers(MLP)
    out = []
    for s in points:
        paths, res, tensors = reference.prune_file(MLP, sparsity=s)
        layers = [(res.arrays.get("/model_weights/%s/%s/kernel:0" % (n, n), k).astype(np.float64), b)
                  for n, (k, b) in zip(names, base_layers)]
        out.append((res.total() / sum(t.size for t in tensors.values()), score(layers)))
    return score(base_layers), out


def attrs(svg, tag, cls):
    """The attributes of every <tag class="cls" ...> in svg, as dicts of floats."""
    found = []
    for m in re.finditer(r'<%s class="%s"([^>]*)>' % (tag, cls), svg):
        found.append({k: float(v) for k, v in re.findall(r'([\w-]+)="([-0-9.e+]+)"', m.group(1))})
    return found


def linear_fit(pairs):
    """value -> pixel map through the first and last (value, pixel) pair; checks the rest lie on it."""
    (v0, p0), (v1, p1) = pairs[0], pairs[-1]
    f = lambda v: p0 + (v - v0) * (p1 - p0) / (v1 - v0)  # noqa: E731
    for v, p in pairs:
        assert f(v) == pytest.approx(p, abs=0.15), (v, p, pairs)
    return f


def density_frac(scored, i):
    """Where point i lies across a log-density axis of whole decades around all points (a density
    within 0.01 decade of a decade counts as on it)."""
    dens = [1 - s for s, _ in scored]
    hi, lo = math.ceil(math.log10(max(dens)) - 0.01), math.floor(math.log10(min(dens)) + 0.01)
    return (hi - math.log10(dens[i])) / (hi - lo)


def best_point(base, scored, metric, max_drop, maximize):
    drops = [(s, (base[metric] - m[metric]) if maximize else (m[metric] - base[metric])) for s, m in scored]
    feasible = [i for i, (s, d) in enumerate(drops) if d <= max_drop]
    return max(feasible, key=lambda i: scored[i][0]) if feasible else None


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One materialised, evaluated sweep of the digits MLP, its registry and the numpy scores."""
    tmp = tmp_path_factory.mktemp("report")
    reg = tmp / "reg"
    report = tmp / "r.html"
    js = h5util.run_json("sweep", MLP, "--sparsity", ",".join(POINTS), "--materialize", "--registry", reg, "--model",
                         "digits", "--eval", EVAL, "--report", report, "--report-axis", "log-density",
                         "--max-drop", "0.1")
    base, scored = scores_by_numpy(POINTS)
    return {"tmp": tmp, "reg": reg, "report": report, "json": js, "base": base, "scored": scored}


def test_recorded_metrics_equal_numpy(evaluated):
    for m, (achieved, score) in zip(evaluated["json"]["materialized"], evaluated["scored"]):
        assert m["sparsity"] == pytest.approx(achieved, abs=1e-15)
        for k in ("accuracy", "loss"):
            assert m["evaluation"]["metrics"][k] == pytest.approx(score[k], abs=1e-12), (m["value"], k)
            assert m["evaluation"]["baseline"][k] == pytest.approx(evaluated["base"][k], abs=1e-12)


def test_metric_chart_places_baseline_band_and_best(evaluated):
    base, scored = evaluated["base"], evaluated["scored"]
    html = evaluated["report"].read_text()
    sections = re.findall(r'<section class="metric" data-metric="([^"]+)">(.*?)</section>', html, re.S)
    assert [name for name, _ in sections] == ["accuracy", "loss"], "the chosen metric first, then every other"
    svg = sections[0][1]
    assert "digits: accuracy" in svg, "the model names the chart"
    # The values drawn are the numpy ones.
    (line,) = attrs(svg, "line", "baseline")
    (band,) = attrs(svg, "rect", "tolerance")
    (best,) = attrs(svg, "circle", "best")
    i = best_point(base, scored, "accuracy", 0.1, True)
    assert i is not None and 0 < i < len(POINTS) - 1, "the example's tolerance must cut the curve inside the range"
    assert line["data-y"] == pytest.approx(base["accuracy"], abs=1e-12)
    assert (band["data-y-lo"], band["data-y-hi"]) == pytest.approx((base["accuracy"] - 0.1, base["accuracy"]), abs=1e-12)
    assert (best["data-x"], best["data-y"]) == pytest.approx((scored[i][0], scored[i][1]["accuracy"]), abs=1e-12)
    # Placed where the axes say: y through the round ticks, x through log10(1 - s) over whole
    # decades of the density: 1 (0.3 achieved) to 0.01 (0.99 requested is 0.99004 achieved).
    ys = linear_fit([(t["data-y"], t["y1"]) for t in attrs(svg, "line", "y-tick")])
    assert line["y1"] == pytest.approx(ys(base["accuracy"]), abs=0.1)
    assert best["cy"] == pytest.approx(ys(scored[i][1]["accuracy"]), abs=0.1)
    assert band["y"] == pytest.approx(ys(base["accuracy"]), abs=0.1)
    assert band["y"] + band["height"] == pytest.approx(ys(base["accuracy"] - 0.1), abs=0.15)
    ticks = {t["data-x"]: t["x1"] for t in attrs(svg, "line", "x-tick")}
    decades = sorted((x, px) for x, px in ticks.items() if min(abs(x - d) for d in (0.0, 0.9, 0.99)) < 1e-12)
    assert max(ticks) == pytest.approx(0.99, abs=1e-12), "the axis ends at the last decade"
    assert len(decades) == 3 and decades[1][1] - decades[0][1] == pytest.approx(decades[2][1] - decades[1][1], abs=0.1)
    frac = density_frac(scored, i)
    assert best["cx"] == pytest.approx(band["x"] + frac * band["width"], abs=0.1)
    # The table marks the best row and the text names it.
    assert re.search(r'<tr class="best"><td>%s</td>' % re.escape(POINTS[i]), html)
    assert "Highest sparsity with accuracy within 0.1 of the baseline" in html


def test_metric_chart_in_chromium(evaluated):
    """Drawn by a real browser: the band, the dashed baseline on its upper edge and the best
    marker at the numpy point's position inside it."""
    base, scored = evaluated["base"], evaluated["scored"]
    i = best_point(base, scored, "accuracy", 0.1, True)
    img = browser.screenshot(evaluated["report"], evaluated["tmp"] / "shot.png", 900, 1000)
    rows, cols = browser.pixels_of(img, "#fff0b3")
    assert len(rows) > 2000, "tolerance band not drawn"
    # The band, not its legend swatch (10 x 10): the rows and columns where it shows (the dashed
    # baseline hides two thirds of its top rows, the curve a few pixels).
    col_n, row_n = np.bincount(cols), np.bincount(rows)
    band_cols, band_rows = np.nonzero(col_n >= 0.5 * col_n.max())[0], np.nonzero(row_n >= 0.25 * row_n.max())[0]
    top, bottom, left, right = band_rows.min(), band_rows.max() + 1, band_cols.min(), band_cols.max() + 1
    svg = re.search(r'<section class="metric" data-metric="accuracy">(.*?)</section>', evaluated["report"].read_text(), re.S).group(1)
    (band,) = attrs(svg, "rect", "tolerance")
    assert right - left == pytest.approx(band["width"], abs=2) and bottom - top == pytest.approx(band["height"], abs=2)

    def near_band(hex_colour):
        r, c = browser.pixels_of(img, hex_colour)
        keep = (c >= left) & (c < right) & (r >= top - 60) & (r < bottom + 60)
        return r[keep], c[keep]

    r, c = near_band("#6a3d9a")
    assert len(r) > 100, "baseline not drawn across the plot"
    assert np.median(r) == pytest.approx(top, abs=2), "the baseline is the band's upper edge (higher is better)"
    r, c = near_band("#e6007e")
    assert len(r) > 30, "best marker not drawn"
    frac = density_frac(scored, i)
    assert c.mean() == pytest.approx(left + frac * (right - left), abs=3)
    drop = base["accuracy"] - scored[i][1]["accuracy"]
    assert r.mean() == pytest.approx(top + drop / 0.1 * (bottom - top), abs=3)


def test_minimize_metric_svg_reuses_evaluations(evaluated):
    """--metric loss --minimize: the band lies above the baseline; the standalone SVG names the
    model; a rerun evaluates nothing again (every point and the baseline are recorded)."""
    base, scored = evaluated["base"], evaluated["scored"]
    svg_path = evaluated["tmp"] / "loss.svg"
    res = h5util.run("sweep", MLP, "--sparsity", ",".join(POINTS), "--materialize", "--registry", evaluated["reg"],
                     "--model", "digits", "--eval", EVAL, "--report", svg_path, "--metric", "loss", "--minimize",
                     "--max-drop", "0.1")
    assert res.returncode == 0, h5util.describe(res)
    assert res.stdout.count("evaluation (recorded before)") == len(POINTS), res.stdout
    assert "baseline (recorded before)" in res.stdout
    svg = svg_path.read_text()
    assert svg.startswith("<svg xmlns=") and "digits: loss" in svg
    (band,) = attrs(svg, "rect", "tolerance")
    assert (band["data-y-lo"], band["data-y-hi"]) == pytest.approx((base["loss"], base["loss"] + 0.1), abs=1e-12)
    i = best_point(base, scored, "loss", 0.1, False)
    markers = attrs(svg, "circle", "best")
    if i is None:
        assert markers == []
    else:
        assert [(m["data-x"], m["data-y"]) for m in markers] == [pytest.approx((scored[i][0], scored[i][1]["loss"]), abs=1e-12)]


def test_failed_baseline_is_exit_8_and_no_report(tmp_path):
    report = tmp_path / "r.html"
    res = h5util.run("sweep", MLP, "--sparsity", "0.5", "--materialize", "--registry", tmp_path / "reg", "--eval", "exit 3",
                     "--report", report)
    assert res.returncode == 8, h5util.describe(res)
    lines = [l for l in res.stderr.splitlines() if l.startswith("h5prune: error:")]
    assert len(lines) == 1 and "baseline" in lines[0] and "status 3" in lines[0], res.stderr
    assert not report.exists()


def test_materialize_report_without_eval(tmp_path):
    report = tmp_path / "r.html"
    js = h5util.run_json("sweep", MLP, "--sparsity", "0.5,0.9", "--materialize", "--registry", tmp_path / "reg",
                         "--report", report)
    html = report.read_text()
    assert 'class="metric"' not in html and "retained L2" in html
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td>", html)
    assert [(v, int(p)) for v, p in rows] == [(m["value"], m["pruned"]) for m in js["materialized"]]


def test_log_density_axis_spreads_the_high_end(tmp_path):
    src = datagen.write_h5(tmp_path / "m.h5", {"/a/kernel": datagen.make_values(7, "<f4", (100, 100), "normal")})
    report = tmp_path / "r.html"
    h5util.run_ok("sweep", src, "--sparsity", "0.5,0.9,0.99,0.999,1", "--report", report, "--report-axis", "log-density")
    html = report.read_text()
    overall = re.search(r'<section id="overall">(.*?)</section>', html, re.S).group(1)
    ticks = {round(t["data-x"], 9): t["x1"] for t in attrs(overall, "line", "x-tick")}
    gaps = [ticks[0.9] - ticks[0.0], ticks[0.99] - ticks[0.9], ticks[0.999] - ticks[0.99]]
    assert max(gaps) - min(gaps) < 0.2 and min(gaps) > 100, ticks
    d = re.search(r'data-name="achieved sparsity" d="([^"]+)"', overall).group(1)
    xs = [float(v.split(",")[0]) for v in re.findall(r"[ML]([-0-9.]+,[-0-9.]+)", d)]
    assert len(xs) == 4, "sparsity 1 has no place on a log-density axis"
    for s, x in zip((0.5, 0.9, 0.99, 0.999), xs):
        assert x == pytest.approx(ticks[0.0] + -math.log10(1 - s) * gaps[0], abs=0.15), s
    assert "Not drawn on the log-density axis" in html and ": 1;" in html
    res = h5util.run("sweep", src, "--threshold", "0.1,0.5", "--report", report, "--report-axis", "log-density")
    assert res.returncode == 2 and "--report-axis log-density needs --sparsity" in res.stderr, h5util.describe(res)
    res = h5util.run("sweep", src, "--sparsity", "0.5", "--report", report, "--report-axis", "sqrt")
    assert res.returncode == 2 and "--report-axis" in res.stderr
    for extra in (["--max-drop", "0.1"], ["--minimize"], ["--metric", "m"]):  # no metric chart to apply them to
        res = h5util.run("sweep", src, "--sparsity", "0.5", "--report", report, *extra)
        assert res.returncode == 2 and "applies to --materialize --eval" in res.stderr, h5util.describe(res)


def retained_curves(src, points):
    """{path: [retained L2 at each point]} by the numpy reference."""
    curves = {}
    for s in points:
        paths, res, tensors = reference.prune_file(src, sparsity=s)
        for p in paths:
            before = np.sum(tensors[p].astype(np.float64) ** 2)
            after = np.sum(res.arrays[p].astype(np.float64) ** 2)
            curves.setdefault(p, []).append(math.sqrt(after / before))
    return curves


def test_per_tensor_curves_are_distinct(tmp_path):
    """Tensors whose curves coincide are drawn once ("(+k alike)"), so --top N draws N distinct
    curves: /b is /a times 3 (the same retained L2 at every sparsity), /c is uniform, /d heavy-tailed."""
    a = datagen.make_values(11, "<f4", (64, 64), "normal")
    rng = np.random.default_rng(12)
    src = datagen.write_h5(tmp_path / "m.h5", {
        "/a/kernel": a, "/b/kernel": (a * 3).astype("<f4"),
        "/c/kernel": rng.uniform(-1, 1, (64, 32)).astype("<f4"),
        "/d/kernel": rng.standard_cauchy((32, 32)).astype("<f4")})
    points = ["0.2", "0.5", "0.8", "0.95"]
    report = tmp_path / "r.html"
    h5util.run_ok("sweep", src, "--sparsity", ",".join(points), "--report", report, "--top", "2")
    html = report.read_text()
    curves = retained_curves(src, points)
    # Independent grouping: largest first (path order among equals), alike within 0.005 everywhere.
    with h5py.File(src, "r") as f:
        size = {p: f[p].size for p in curves}
    order = sorted(curves, key=lambda p: (-size[p], p))
    groups = []
    for p in order:
        g = next((g for g in groups if max(abs(u - v) for u, v in zip(curves[g[0]], curves[p])) <= 0.005), None)
        if g:
            g.append(p)
        else:
            groups.append([p])
    assert groups == [["/a/kernel", "/b/kernel"], ["/c/kernel"], ["/d/kernel"]], groups
    l2 = re.search(r'<section id="per-tensor-l2">(.*?)</section>', html, re.S).group(1)
    names = re.findall(r'<path class="series" data-name="([^"]+)"', l2)
    assert names == ["/a/kernel (+1 alike)", "/c/kernel", "other (1 tensor)"], names
    assert max(abs(u - v) for u, v in zip(curves["/a/kernel"], curves["/c/kernel"])) > 0.005
    # With a tensor scope every tensor reaches the requested sparsity: one curve stands for all.
    sp = re.search(r'<section id="per-tensor-sparsity">(.*?)</section>', html, re.S).group(1)
    assert re.findall(r'<path class="series" data-name="([^"]+)"', sp) == ["/a/kernel (+3 alike)"]
