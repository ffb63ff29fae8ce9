#!/usr/bin/python3
"""Generate a synthetic transformer-like HDF5 weight file for benchmarking h5prune.

Layout (d = hidden size, V = vocabulary, L = number of blocks):

    /model/embed_tokens/weight                 V x d
    /model/layers/<i>/input_layernorm/{weight,bias}          d
    /model/layers/<i>/self_attn/{q,k,v,o}_proj/{weight: d x d, bias: d}
    /model/layers/<i>/post_attention_layernorm/{weight,bias} d
    /model/layers/<i>/mlp/up_proj/{weight: d x 4d, bias: 4d}
    /model/layers/<i>/mlp/down_proj/{weight: 4d x d, bias: d}
    /model/norm/{weight,bias}                  d
    /meta/step                                 int64 scalar (not a float tensor)

plus root attributes (model config as JSON).  With the defaults (d = 1024, V = 32000)
a block holds ~12.6M parameters and the embeddings 32.8M, so --params 100e6 gives 5
blocks (~95.8M parameters, ~383 MB as float32).  For small targets (< embeddings + 2
blocks) d is halved until at least 2 blocks fit, and V scales with d (V = 31.25 d).

Values: normal with a per-tensor scale (weights ~ N(0, (s/sqrt(fan_in))^2) with a per-tensor
random factor s in [0.6, 1.7), embeddings ~ N(0, 0.02 s), layernorm weights ~ 1 + N(0, 0.05),
biases ~ N(0, 0.01 s)).  Each tensor has its own generator seeded from (seed, tensor index),
so the file is deterministic for a given (params, dtype, seed, d, vocab).

Written one dataset at a time, in slabs of at most --slab elements, so memory stays low
(~ a few tens of MB) whatever the model size.  Contiguous layout, no compression.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np


def block_tensors(i, d):
    """(path, shape, kind, fan_in) for one transformer block."""
    p = f"/model/layers/{i}"
    t = []
    t.append((f"{p}/input_layernorm/weight", (d,), "ln", None))
    t.append((f"{p}/input_layernorm/bias", (d,), "bias", None))
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        t.append((f"{p}/self_attn/{name}/weight", (d, d), "weight", d))
        t.append((f"{p}/self_attn/{name}/bias", (d,), "bias", None))
    t.append((f"{p}/post_attention_layernorm/weight", (d,), "ln", None))
    t.append((f"{p}/post_attention_layernorm/bias", (d,), "bias", None))
    t.append((f"{p}/mlp/up_proj/weight", (d, 4 * d), "weight", d))
    t.append((f"{p}/mlp/up_proj/bias", (4 * d,), "bias", None))
    t.append((f"{p}/mlp/down_proj/weight", (4 * d, d), "weight", 4 * d))
    t.append((f"{p}/mlp/down_proj/bias", (d,), "bias", None))
    return t


def count(tensors):
    return sum(int(np.prod(s)) for _, s, _, _ in tensors)


def plan(params, d=None, vocab=None):
    """Choose d, V, L for a parameter target; return (d, V, L, tensor list)."""
    if d is None:
        d = 1024
        while d > 16:
            v = vocab or int(round(31.25 * d))
            if v * d + 2 * count(block_tensors(0, d)) <= params:
                break
            d //= 2
    v = vocab or int(round(31.25 * d))
    per_block = count(block_tensors(0, d))
    fixed = v * d + 2 * d  # embeddings + final norm
    nblocks = max(1, int(round((params - fixed) / per_block)))
    tensors = [("/model/embed_tokens/weight", (v, d), "embed", None)]
    for i in range(nblocks):
        tensors += block_tensors(i, d)
    tensors.append(("/model/norm/weight", (d,), "ln", None))
    tensors.append(("/model/norm/bias", (d,), "bias", None))
    return d, v, nblocks, tensors


def write_tensor(ds, rng, kind, fan_in, dtype, slab):
    n = int(np.prod(ds.shape))
    factor = float(rng.uniform(0.6, 1.7))  # per-tensor scale
    if kind == "weight":
        loc, scale = 0.0, factor / np.sqrt(fan_in)
    elif kind == "embed":
        loc, scale = 0.0, 0.02 * factor
    elif kind == "ln":
        loc, scale = 1.0, 0.05
    else:
        loc, scale = 0.0, 0.01 * factor
    rows = ds.shape[0]
    row_len = n // rows
    rows_per_slab = max(1, slab // max(1, row_len))
    for r0 in range(0, rows, rows_per_slab):
        r1 = min(rows, r0 + rows_per_slab)
        shape = (r1 - r0,) + tuple(ds.shape[1:])
        x = rng.standard_normal(size=shape, dtype=np.float32)
        x *= np.float32(scale)
        if loc:
            x += np.float32(loc)
        ds[r0:r1] = x.astype(dtype, copy=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", help="output .h5 file")
    ap.add_argument("--params", type=float, default=100e6, help="target parameter count (default 100e6)")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-model", type=int, default=None, help="hidden size (default: 1024, halved for small targets)")
    ap.add_argument("--vocab", type=int, default=None, help="vocabulary size (default 31.25 * d)")
    ap.add_argument("--slab", type=int, default=1 << 22, help="max elements generated at once (default 4Mi)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)

    d, v, nblocks, tensors = plan(int(a.params), a.d_model, a.vocab)
    dtype = np.dtype(a.dtype)
    total = count(tensors)
    tmp = a.output + ".tmp"
    with h5py.File(tmp, "w", libver="earliest") as f:
        f.attrs["generator"] = "h5prune benchmarks/make_model.py"
        f.attrs["model_config"] = json.dumps({
            "d_model": d, "vocab_size": v, "num_layers": nblocks, "mlp_dim": 4 * d,
            "dtype": a.dtype, "seed": a.seed, "params": total})
        f.create_dataset("/meta/step", data=np.int64(100000))
        for idx, (path, shape, kind, fan_in) in enumerate(tensors):
            ds = f.create_dataset(path, shape=shape, dtype=dtype)  # contiguous, no filters
            rng = np.random.default_rng(np.random.SeedSequence([a.seed, idx]))
            write_tensor(ds, rng, kind, fan_in, dtype, a.slab)
            ds.attrs["kind"] = kind
    os.replace(tmp, a.output)
    if not a.quiet:
        sel = sum(int(np.prod(s)) for _, s, _, _ in tensors if len(s) >= 2)
        print(f"{a.output}: d={d} vocab={v} blocks={nblocks} tensors={len(tensors)} "
              f"params={total} (selected >=2-D: {sel}) dtype={a.dtype} "
              f"bytes={os.path.getsize(a.output)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
