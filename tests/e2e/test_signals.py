"""SIGTERM / SIGINT during a long prune: exit 128+signal, no output, no temporary left."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest

import datagen
import h5util

SEED = 7
N_ROWS, N_COLS = 10000, 5000  # 50M float32 weights, 200 MB


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((N_ROWS, N_COLS), dtype=np.float32)
    path = datagen.write_h5(d / "big.h5", {"/dense/kernel:0": w,
                                           "/dense/bias:0": np.zeros(N_COLS, np.float32)})
    del w
    return path, h5util.sha256(path)


@pytest.mark.parametrize("sig,rule", [
    (signal.SIGTERM, ["--sparsity", "0.5"]),
    (signal.SIGINT, ["--sparsity", "0.5", "--scope", "global"]),
], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(tmp_path, big_model, sig, rule):
    src, src_sha = big_model
    d_out = tmp_path / "out"
    d_out.mkdir()
    out = d_out / "pruned.h5"
    cmd = [h5util.binary(), "prune", str(src), "-o", str(out), "--memory-limit", "16M"] + rule
    ctx = "[%s during: %s]" % (sig.name, " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    t0 = time.monotonic()
    seen = []
    try:
        # signal once the temporary output appears (or after 2 s of reading, if it has not)
        while time.monotonic() - t0 < 2.0 and proc.poll() is None:
            seen = os.listdir(d_out)
            if seen:
                time.sleep(0.2)
                break
            time.sleep(0.02)
        if proc.poll() is not None:
            out_s, err_s = proc.communicate()
            pytest.fail("%s finished (exit %d) after %.2fs, before the signal could be sent; the test "
                        "file is too small for this machine. stderr: %r"
                        % (ctx, proc.returncode, time.monotonic() - t0, err_s[-500:]))
        t_sig = time.monotonic() - t0
        proc.send_signal(sig)
        out_s, err_s = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ctx += " signalled at %.2fs, output dir then held %r" % (t_sig, seen)
    assert proc.returncode == 128 + sig, (
        "%s: exit %r, expected %d (a negative value means the process was killed by the signal "
        "instead of handling it). stderr: %r" % (ctx, proc.returncode, 128 + sig, err_s[-1000:]))
    left = os.listdir(d_out)
    assert left == [], "%s: files left in the output directory: %r" % (ctx, left)
    assert h5util.sha256(src) == src_sha, "%s: input modified" % ctx
    assert os.listdir(os.path.dirname(src)) == ["big.h5"], "%s: files left next to the input" % ctx
