"""Writes the fuzzing seed corpus (tests/fuzz/corpus/seeds): small HDF5 files covering the
shapes of input h5prune meets: Keras-like groups and attributes, chunked and filtered data,
float16/64, scalars and strings, and the sparse layouts prune writes (csr, coo, bitmask, nm).
Usage: /usr/bin/python3 tests/fuzz/make_seeds.py H5PRUNE_BINARY"""

import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "seeds")


def main(binary):
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(13)
    with h5py.File(os.path.join(OUT, "keras_like.h5"), "w") as f:
        f.attrs["keras_version"] = "2.8.0"
        f.attrs["layer_names"] = np.array([b"dense", b"conv"])
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        g["kernel:0"] = rng.standard_normal((8, 4)).astype("f4")
        g["bias:0"] = np.zeros(4, "f4")
        f["model_weights/conv/kernel:0"] = rng.standard_normal((3, 3, 2, 2)).astype("f8")
        f["optimizer_weights/m"] = rng.standard_normal((8, 4)).astype("f2")
    with h5py.File(os.path.join(OUT, "chunked.h5"), "w") as f:
        f.create_dataset("w", data=rng.standard_normal((16, 16)).astype("f4"), chunks=(4, 8),
                         compression="gzip", shuffle=True, fillvalue=1.5)
        f.create_dataset("unwritten", shape=(32, 32), dtype="f4", chunks=(8, 8))
        f.create_dataset("ext", shape=(4, 4), maxshape=(None, 4), dtype="f8", chunks=(2, 4))
    with h5py.File(os.path.join(OUT, "odd_types.h5"), "w") as f:
        f["scalar"] = 3.0
        f["text"] = "hello"
        f["ints"] = np.arange(12, dtype="i8").reshape(3, 4)
        f["big_endian"] = rng.standard_normal((4, 4)).astype(">f4")
        f["ref_target"] = np.ones((2, 2), "f4")
        f["refs"] = np.array([f["ref_target"].ref], dtype=h5py.ref_dtype)
        f["soft"] = h5py.SoftLink("/ints")
        f["external"] = h5py.ExternalLink("other.h5", "/x")
    src = os.path.join(OUT, "keras_like.h5")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, rule in (("csr", ["--sparsity", "0.5"]), ("coo", ["--sparsity", "0.7"]),
                          ("bitmask", ["--threshold", "0.5"]), ("nm", ["--nm", "2:4", "--include", "dense"])):
            out = os.path.join(OUT, "sparse_%s.h5" % fmt)
            if os.path.exists(out):
                os.unlink(out)
            subprocess.run([binary, "prune", src, "-o", out, "--format", fmt, "--quiet", "--min-ndim", "2"] + rule,
                           check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main(sys.argv[1])
