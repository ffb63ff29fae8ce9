"""--metrics-dir: the textfile h5prune writes on success and on every kind of failure, checked
with promtool and parsed with prometheus_client, against values computed here with numpy."""

import os
import signal
import subprocess
import time
from fractions import Fraction

import numpy as np
import pytest

import datagen
import h5util
from metrics_util import (ODD_NAMES, expected_file_name, help_type_lines, one, parse, promtool_check,
                          read_text, small_model)

SUCCESS_FAMILIES = {
    "h5prune_last_run_start_timestamp_seconds", "h5prune_last_run_end_timestamp_seconds",
    "h5prune_last_success_timestamp_seconds", "h5prune_last_run_success", "h5prune_last_run_exit_code",
    "h5prune_last_run_info", "h5prune_last_run_duration_seconds", "h5prune_last_run_read_bytes",
    "h5prune_last_run_written_bytes", "h5prune_last_run_output_file_bytes", "h5prune_last_run_tensors",
    "h5prune_last_run_parameters", "h5prune_last_run_pruned_parameters", "h5prune_last_run_sparsity_ratio",
    "h5prune_last_run_requested_sparsity_ratio", "h5prune_last_run_zeros_before_parameters",
    "h5prune_last_run_newly_zeroed_parameters", "h5prune_last_run_zeros_after_parameters",
    "h5prune_last_run_retained_l2_ratio",
}
PER_TENSOR_FAMILIES = {"h5prune_last_run_tensor_parameters", "h5prune_last_run_tensor_pruned_parameters",
                       "h5prune_last_run_tensor_sparsity_ratio", "h5prune_last_run_tensor_threshold",
                       "h5prune_last_run_tensor_newly_zeroed_parameters"}


def round_half_even(x):
    """x a Fraction; exact."""
    fl = x.numerator // x.denominator
    rem = x - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def only_prom_files(d):
    names = sorted(os.listdir(d))
    assert all(n.endswith(".prom") and not n.startswith(".") for n in names), (
        "temporary or foreign files left in the metrics directory: %r" % names)
    return names


def test_success_values_match_numpy(tmp_path):
    weights = small_model(tmp_path / "model.h5")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    out = tmp_path / "pruned.h5"
    t0 = time.time()
    summary = h5util.run_json("prune", tmp_path / "model.h5", "-o", out, "--sparsity", "0.35",
                              "--metrics-dir", mdir, "--quiet")
    t1 = time.time()
    assert only_prom_files(mdir) == ["h5prune_model.prom"]  # default model: the input's stem
    path = mdir / "h5prune_model.prom"
    promtool_check(path)
    p = parse(read_text(path))
    lab = {"model": "model", "array_task": ""}
    assert SUCCESS_FAMILIES <= set(p), "missing: %s" % sorted(SUCCESS_FAMILIES - set(p))
    assert not (PER_TENSOR_FAMILIES & set(p)), "per-tensor series written without --metrics-per-tensor"
    assert "h5prune_last_run_failure_info" not in p and "h5prune_last_run_threshold" not in p
    for fam in p.values():
        for labels, _ in fam["samples"]:
            assert labels["model"] == "model" and labels["array_task"] == "", labels

    # Independent counts: k = round_half_even(0.35 * n) per tensor, exact.
    n = {k: v.size for k, v in weights.items()}
    k = {name: round_half_even(Fraction(35, 100) * cnt) for name, cnt in n.items()}
    assert one(p, "h5prune_last_run_tensors", **lab) == 2
    assert one(p, "h5prune_last_run_parameters", **lab) == sum(n.values())
    assert one(p, "h5prune_last_run_pruned_parameters", **lab) == sum(k.values())
    assert one(p, "h5prune_last_run_sparsity_ratio", **lab) == pytest.approx(sum(k.values()) / sum(n.values()), abs=0)
    assert one(p, "h5prune_last_run_requested_sparsity_ratio", **lab) == 0.35
    assert one(p, "h5prune_last_run_success", **lab) == 1
    assert one(p, "h5prune_last_run_exit_code", **lab) == 0
    weight_bytes = sum(v.nbytes for v in weights.values())
    assert one(p, "h5prune_last_run_written_bytes", **lab) == weight_bytes
    assert one(p, "h5prune_last_run_read_bytes", **lab) >= weight_bytes
    assert one(p, "h5prune_last_run_output_file_bytes", **lab) == os.path.getsize(out)

    start = one(p, "h5prune_last_run_start_timestamp_seconds", **lab)
    end = one(p, "h5prune_last_run_end_timestamp_seconds", **lab)
    assert t0 - 1 <= start <= end <= t1 + 1, (t0, start, end, t1)
    assert one(p, "h5prune_last_success_timestamp_seconds", **lab) == end
    stages = {l["stage"]: v for l, v in p["h5prune_last_run_duration_seconds"]["samples"]}
    assert set(stages) == {"read", "compute", "write", "publish", "total"}
    assert all(v >= 0 for v in stages.values()), stages
    assert stages["total"] == pytest.approx(end - start, abs=1e-6)
    assert stages["read"] + stages["compute"] + stages["write"] + stages["publish"] <= stages["total"] + 1e-3
    info = p["h5prune_last_run_info"]["samples"]
    assert len(info) == 1 and info[0][1] == 1
    assert info[0][0]["backend"] == summary["backend"] and info[0][0]["device"] == summary["device"]
    assert info[0][0]["version"].startswith(summary["tool"]["version"] + "+")


def test_threshold_rule_and_per_tensor_series(tmp_path):
    weights = small_model(tmp_path / "m.h5", seed=5)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--threshold", "0.05",
                  "--metrics-dir", mdir, "--model", "thr", "--metrics-per-tensor", "--quiet")
    path = mdir / "h5prune_thr.prom"
    promtool_check(path)
    p = parse(read_text(path))
    assert PER_TENSOR_FAMILIES <= set(p)
    assert "h5prune_last_run_requested_sparsity_ratio" not in p
    assert one(p, "h5prune_last_run_threshold", model="thr") == 0.05
    total = 0
    for name, w in weights.items():
        pruned = int(np.count_nonzero(np.abs(w.astype(np.float64)) < 0.05))
        total += pruned
        assert one(p, "h5prune_last_run_tensor_parameters", tensor=name) == w.size
        assert one(p, "h5prune_last_run_tensor_pruned_parameters", tensor=name) == pruned, name
        assert one(p, "h5prune_last_run_tensor_sparsity_ratio", tensor=name) == pytest.approx(pruned / w.size, abs=0)
        assert one(p, "h5prune_last_run_tensor_threshold", tensor=name) == 0.05
    assert one(p, "h5prune_last_run_pruned_parameters", model="thr") == total
    assert {l["tensor"] for l, _ in p["h5prune_last_run_tensor_sparsity_ratio"]["samples"]} == set(weights)


def test_per_tensor_boundary_is_kth_smallest_magnitude(tmp_path):
    weights = small_model(tmp_path / "m.h5", seed=9)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--sparsity", "0.6",
                  "--metrics-dir", mdir, "--model", "k", "--metrics-per-tensor", "--quiet")
    p = parse(read_text(mdir / "h5prune_k.prom"))
    for name, w in weights.items():
        k = round_half_even(Fraction(6, 10) * w.size)
        mags = np.sort(np.abs(w.astype(np.float64)).ravel())
        assert one(p, "h5prune_last_run_tensor_threshold", tensor=name) == mags[k - 1], name
        assert one(p, "h5prune_last_run_tensor_pruned_parameters", tensor=name) == k, name


@pytest.mark.parametrize("outcome", ["success", "nan"])
@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda s: s.encode("unicode_escape").decode())
def test_odd_model_names(tmp_path, name, outcome):
    small_model(tmp_path / "m.h5", nan=outcome == "nan")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    res = h5util.run("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--sparsity", "0.5",
                     "--metrics-dir", mdir, "--model", name, "--quiet")
    assert res.returncode == (0 if outcome == "success" else 4), h5util.describe(res)
    fname = expected_file_name(name)
    assert only_prom_files(mdir) == [fname]
    promtool_check(mdir / fname)
    p = parse(read_text(mdir / fname))
    models = {l["model"] for fam in p.values() for l, _ in fam["samples"]}
    assert models == {name}, "label values %r, expected exactly %r" % (models, name)
    assert one(p, "h5prune_last_run_success", model=name) == (1 if outcome == "success" else 0)


def test_default_model_from_a_non_utf8_file_name(tmp_path):
    src = os.path.join(os.fsencode(str(tmp_path)), b"w\xff\xfe.h5")
    small_model(os.fsdecode(src))
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    h5util.run_ok("prune", os.fsdecode(src), "-o", tmp_path / "o.h5", "--sparsity", "0.5",
                  "--metrics-dir", mdir, "--quiet")
    names = only_prom_files(mdir)
    assert len(names) == 1 and names[0].startswith("h5prune_w_-"), names
    promtool_check(mdir / names[0])
    p = parse(read_text(mdir / names[0]))  # read_text insists on valid UTF-8
    assert one(p, "h5prune_last_run_success", model="w\ufffd\ufffd") == 1


def test_file_names_of_distinct_identities_do_not_collide(tmp_path):
    small_model(tmp_path / "m.h5")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    runs = [("m", "3"), ("m_3", ""), ("a b", ""), ("a/b", ""), ("a_b", "")]
    for model, task in runs:
        env = dict(os.environ, SLURM_ARRAY_TASK_ID=task) if task else {
            k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
        h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--force", "--sparsity", "0.5",
                      "--metrics-dir", mdir, "--model", model, "--quiet", env=env)
    names = only_prom_files(mdir)
    assert names == sorted(expected_file_name(m, t) for m, t in runs)
    assert "h5prune_m_3.prom" in names and "h5prune_a_b.prom" in names  # readable names stay readable
    for model, task in runs:
        p = parse(read_text(mdir / expected_file_name(model, task)))
        assert one(p, "h5prune_last_run_success", model=model, array_task=task) == 1


def _failure_case(tmp_path, case):
    small_model(tmp_path / "m.h5", nan=case == "nan")
    out = tmp_path / "o.h5"
    args = ["prune", tmp_path / "m.h5", "-o", out, "--sparsity", "0.5"]
    if case == "missing":
        args[1] = tmp_path / "absent.h5"
    elif case == "not_hdf5":
        (tmp_path / "m.h5").write_bytes(b"this is not an HDF5 file\n" * 10)
    elif case == "usage":
        args[-1] = "1.5"
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "no_tensor":
        args += ["--include", "^/nothing$"]
    return args


@pytest.mark.parametrize("case,code,reason", [
    ("nan", 4, "data"), ("missing", 3, "input"), ("not_hdf5", 3, "input"), ("no_tensor", 3, "input"),
    ("usage", 2, "usage"), ("exists", 5, "output"),
])
def test_failed_run_writes_failure(tmp_path, case, code, reason):
    args = _failure_case(tmp_path, case)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    res = h5util.run(*args, "--metrics-dir", mdir, "--model", "fail", "--quiet")
    assert res.returncode == code, h5util.describe(res)
    errs = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(errs) == 1 and errs[0].startswith("h5prune: error: "), h5util.describe(res)
    assert only_prom_files(mdir) == ["h5prune_fail.prom"]
    path = mdir / "h5prune_fail.prom"
    promtool_check(path)
    p = parse(read_text(path))
    assert one(p, "h5prune_last_run_success", model="fail") == 0
    assert one(p, "h5prune_last_run_exit_code", model="fail") == code
    assert one(p, "h5prune_last_run_failure_info", model="fail", reason=reason) == 1
    for absent in ("h5prune_last_run_sparsity_ratio", "h5prune_last_run_parameters",
                   "h5prune_last_success_timestamp_seconds"):
        assert absent not in p, "%s written by a failed run" % absent
    stages = {l["stage"] for l, _ in p["h5prune_last_run_duration_seconds"]["samples"]}
    assert stages == {"total"}
    if case != "usage":
        assert one(p, "h5prune_last_run_requested_sparsity_ratio", model="fail") == 0.5


def test_failure_keeps_last_success_and_success_clears_failure(tmp_path):
    small_model(tmp_path / "good.h5")
    small_model(tmp_path / "bad.h5", nan=True)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    common = ["--metrics-dir", mdir, "--model", "job", "--quiet", "--sparsity", "0.5", "--force"]
    h5util.run_ok("prune", tmp_path / "good.h5", "-o", tmp_path / "o.h5", *common)
    path = mdir / "h5prune_job.prom"
    first = parse(read_text(path))
    ok_end = one(first, "h5prune_last_run_end_timestamp_seconds", model="job")
    for _ in range(2):
        res = h5util.run("prune", tmp_path / "bad.h5", "-o", tmp_path / "o2.h5", *common)
        assert res.returncode == 4, h5util.describe(res)
        p = parse(read_text(path))
        assert one(p, "h5prune_last_success_timestamp_seconds", model="job") == ok_end
        assert one(p, "h5prune_last_run_end_timestamp_seconds", model="job") > ok_end
        assert one(p, "h5prune_last_run_success", model="job") == 0
        promtool_check(path)
    h5util.run_ok("prune", tmp_path / "good.h5", "-o", tmp_path / "o.h5", *common)
    p = parse(read_text(path))
    assert "h5prune_last_run_failure_info" not in p
    assert one(p, "h5prune_last_success_timestamp_seconds", model="job") > ok_end


def test_array_task_env_and_default_dir(tmp_path):
    small_model(tmp_path / "m.h5")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    for task in ("0", "1"):
        env = dict(os.environ, H5PRUNE_METRICS_DIR=str(mdir), SLURM_ARRAY_TASK_ID=task, SLURM_JOB_ID="4242")
        h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / ("o%s.h5" % task), "--sparsity", "0.5",
                      "--model", "sweep", "--quiet", env=env)
    assert only_prom_files(mdir) == ["h5prune_sweep_0.prom", "h5prune_sweep_1.prom"]
    for task in ("0", "1"):
        p = parse(read_text(mdir / ("h5prune_sweep_%s.prom" % task)))
        assert one(p, "h5prune_last_run_success", model="sweep", array_task=task) == 1
        assert one(p, "h5prune_last_run_info", slurm_job_id="4242") == 1


def test_registry_version_gauge(tmp_path):
    small_model(tmp_path / "m.h5")
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    reg = tmp_path / "registry"
    common = ["--registry", reg, "--metrics-dir", mdir, "--model", "reg", "--quiet"]
    versions = []
    for rule in (["--sparsity", "0.5"], ["--sparsity", "0.5"], ["--sparsity", "0.7"]):
        out = h5util.run_json("prune", tmp_path / "m.h5", *rule, *common)
        p = parse(read_text(mdir / "h5prune_reg.prom"))
        versions.append(one(p, "h5prune_last_run_registry_version", model="reg"))
        assert versions[-1] == out["registry"]["version"], out["registry"]
    assert versions == [1, 1, 2]  # a rerun of the same input and rule is the same version
    h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--sparsity", "0.5",
                  "--metrics-dir", mdir, "--model", "reg", "--quiet")
    assert "h5prune_last_run_registry_version" not in parse(read_text(mdir / "h5prune_reg.prom"))


def test_bad_metrics_dir_and_dry_run(tmp_path):
    small_model(tmp_path / "m.h5")
    missing = tmp_path / "no" / "such"
    res = h5util.run("prune", tmp_path / "m.h5", "-o", tmp_path / "o.h5", "--sparsity", "0.5",
                     "--metrics-dir", missing, "--quiet")
    assert res.returncode == 5, h5util.describe(res)
    assert str(missing) in res.stderr, h5util.describe(res)
    assert not (tmp_path / "o.h5").exists(), "output written although the metrics directory is unusable"
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    h5util.run_ok("prune", tmp_path / "m.h5", "--dry-run", "--sparsity", "0.5", "--metrics-dir", mdir)
    assert os.listdir(mdir) == [], "a dry run wrote metrics"


def test_help_and_type_identical_in_every_file(tmp_path):
    small_model(tmp_path / "m.h5")
    small_model(tmp_path / "bad.h5", nan=True)
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    base = ["--metrics-dir", mdir, "--quiet", "--metrics-per-tensor"]
    h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "a.h5", "--sparsity", "0.5", "--model", "a", *base)
    h5util.run_ok("prune", tmp_path / "m.h5", "-o", tmp_path / "b.h5", "--threshold", "0.1", "--model", "b", *base)
    h5util.run("prune", tmp_path / "bad.h5", "-o", tmp_path / "c.h5", "--sparsity", "0.5", "--model", "c", *base)
    seen = {}
    for name in only_prom_files(mdir):
        for fam, ht in help_type_lines(read_text(mdir / name)).items():
            assert ht[1] == "gauge", (name, fam, ht)
            assert seen.setdefault(fam, ht) == ht, "%s: HELP/TYPE of %s differ between files" % (name, fam)
    assert len(os.listdir(mdir)) == 3 and "h5prune_last_run_failure_info" in seen and "h5prune_last_run_threshold" in seen


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    """Large enough (100 MB) that a streamed prune is still running when the signal comes."""
    d = tmp_path_factory.mktemp("slow")
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5000, 5000), dtype=np.float32)
    return datagen.write_h5(d / "slow.h5", {"/dense/kernel:0": w})


@pytest.mark.parametrize("sig,reason", [(signal.SIGTERM, "sigterm"), (signal.SIGINT, "sigint")],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_writes_failure_metrics(tmp_path, slow_model, sig, reason):
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    d_out = tmp_path / "out"
    d_out.mkdir()
    cmd = [h5util.binary(), "prune", str(slow_model), "-o", str(d_out / "o.h5"), "--sparsity", "0.5",
           "--memory-limit", "8M", "--metrics-dir", str(mdir), "--model", "slurm job", "--quiet"]
    # Test hook: 20 ms per checkpoint (per slab), so the run is surely still going when the signal
    # comes, however fast the machine (the streamed passes map the input and finish quickly).
    env = dict(os.environ, H5PRUNE_TEST_CHECKPOINT_DELAY_MS="20")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        t0 = time.monotonic()
        while not os.listdir(d_out) and proc.poll() is None and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        if proc.poll() is not None:
            pytest.fail("prune finished (exit %d) before the signal; stderr %r" % (proc.returncode, proc.stderr.read()))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, "exit %r, stderr %r" % (proc.returncode, err)
    assert os.listdir(d_out) == [], "output or temporary left: %r" % os.listdir(d_out)
    fname = expected_file_name("slurm job")
    assert only_prom_files(mdir) == [fname]
    promtool_check(mdir / fname)
    p = parse(read_text(mdir / fname))
    assert one(p, "h5prune_last_run_success", model="slurm job") == 0
    assert one(p, "h5prune_last_run_exit_code", model="slurm job") == 128 + sig
    assert one(p, "h5prune_last_run_failure_info", model="slurm job", reason=reason) == 1
