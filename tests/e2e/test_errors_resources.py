"""Running out of memory is one line naming the file and the tensor, exit 3 (it was exit 1,
"internal error: std::bad_alloc", naming nothing), and leaves nothing behind."""

import os
import resource

import h5py

import h5util


def test_out_of_memory_names_the_file_and_the_tensor(tmp_path):
    src = tmp_path / "big.h5"
    with h5py.File(src, "w") as f:  # 1 GiB declared, never written: a few KB on disk
        f.create_dataset("/dense/kernel", shape=(16384, 16384), dtype="<f4")
    out = tmp_path / "out"
    out.mkdir()
    limit = 900 << 20

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = h5util.run("prune", src, "-o", out / "p.h5", "--sparsity", "0.5", "--memory-limit", "4G",
                     "--threads", "1", preexec_fn=cap, env=env, timeout=120)
    ctx = h5util.describe(res)
    assert res.returncode == 3, ctx
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("h5prune: error: out of memory"), ctx
    assert "/dense/kernel" in lines[0] and str(src) in lines[0], ctx
    assert os.listdir(out) == [], ctx
