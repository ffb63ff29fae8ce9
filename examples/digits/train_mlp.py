#!/usr/bin/python3
"""Trains the example digits MLP (64-64-64-10, ReLU, softmax) with full-batch Adam from a fixed
seed and writes it as a Keras-layout HDF5 file (what Keras 2 `model.save` writes: model_config,
model_weights/<layer>/<layer>/kernel:0, bias:0 with layer_names / weight_names attributes).
examples/digits/mlp.h5 was made with this script; floating-point sums may differ in the last
bits on another BLAS, so the committed file, not a rerun, is what the README's numbers describe.
usage: train_mlp.py OUT.h5"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits_data  # noqa: E402
from evaluate import forward  # noqa: E402

SIZES = [64, 64, 64, 10]
SEED = 7
EPOCHS = 400
RATE = 0.01


def init(rng):
    """He-normal kernels, zero biases."""
    return [(rng.normal(0, np.sqrt(2.0 / a), (a, b)), np.zeros(b)) for a, b in zip(SIZES[:-1], SIZES[1:])]


def gradients(weights, x, y):
    """Cross-entropy gradients by backpropagation."""
    acts = [x]
    h = x
    for i, (k, b) in enumerate(weights):
        h = h @ k + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
        acts.append(h)
    p = forward(weights, x)
    d = p.copy()
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    grads = []
    for i in range(len(weights) - 1, -1, -1):
        grads.append((acts[i].T @ d, d.sum(axis=0)))
        if i > 0:
            d = (d @ weights[i][0].T) * (acts[i] > 0)
    return grads[::-1]


def train():
    x, y, _, _ = digits_data.split()
    rng = np.random.default_rng(SEED)
    w = init(rng)
    m = [(np.zeros_like(k), np.zeros_like(b)) for k, b in w]
    v = [(np.zeros_like(k), np.zeros_like(b)) for k, b in w]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, EPOCHS + 1):
        g = gradients(w, x, y)
        for i in range(len(w)):
            new = []
            for j in range(2):
                mj = b1 * m[i][j] + (1 - b1) * g[i][j]
                vj = b2 * v[i][j] + (1 - b2) * g[i][j] ** 2
                m[i] = (mj, m[i][1]) if j == 0 else (m[i][0], mj)
                v[i] = (vj, v[i][1]) if j == 0 else (v[i][0], vj)
                step = RATE * (mj / (1 - b1**t)) / (np.sqrt(vj / (1 - b2**t)) + eps)
                new.append(w[i][j] - step)
            w[i] = (new[0], new[1])
    return w


def save(weights, path):
    names = [f"dense_{i + 1}" for i in range(len(weights))]
    config = {"class_name": "Sequential", "config": {"name": "digits_mlp", "layers": [
        {"class_name": "Dense", "config": {"name": n, "units": int(k.shape[1]), "use_bias": True,
                                           "activation": "softmax" if i == len(weights) - 1 else "relu",
                                           **({"batch_input_shape": [None, 64]} if i == 0 else {})}}
        for i, (n, (k, _)) in enumerate(zip(names, weights))]}}
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["keras_version"] = np.bytes_("2.2.4")
        f.attrs["backend"] = np.bytes_("tensorflow")
        f.attrs["model_config"] = np.bytes_(json.dumps(config))
        g = f.create_group("model_weights", track_order=True)
        g.attrs["layer_names"] = np.array([n.encode() for n in names])
        g.attrs["backend"] = np.bytes_("tensorflow")
        g.attrs["keras_version"] = np.bytes_("2.2.4")
        for n, (k, b) in zip(names, weights):
            layer = g.create_group(n)
            layer.attrs["weight_names"] = np.array([f"{n}/kernel:0".encode(), f"{n}/bias:0".encode()])
            inner = layer.create_group(n)
            inner.create_dataset("kernel:0", data=k.astype(np.float32))
            inner.create_dataset("bias:0", data=b.astype(np.float32))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    save(train(), sys.argv[1])


if __name__ == "__main__":
    main()
