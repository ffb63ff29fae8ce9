#!/usr/bin/python3
"""Evaluates a digits MLP stored in Keras layout (model_weights/<layer>/<layer>/kernel:0 and
bias:0, layers in the order of the `layer_names` attribute) on the held-out split, with h5py
and a numpy forward pass. Prints one JSON line, the h5prune --eval contract:
{"accuracy": ..., "loss": ...}.   usage: evaluate.py MODEL.h5"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits_data  # noqa: E402


def layers(path):
    """[(kernel, bias), ...] in the model's layer order, as float64."""
    out = []
    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        for name in g.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            layer = g[name][name]
            out.append((layer["kernel:0"][()].astype(np.float64), layer["bias:0"][()].astype(np.float64)))
    return out


def forward(weights, x):
    """ReLU hidden layers, softmax output: class probabilities."""
    h = x
    for i, (k, b) in enumerate(weights):
        h = h @ k + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
    h = h - h.max(axis=1, keepdims=True)
    e = np.exp(h)
    return e / e.sum(axis=1, keepdims=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    _, _, x, y = digits_data.split()
    p = forward(layers(sys.argv[1]), x)
    accuracy = float((p.argmax(axis=1) == y).mean())
    loss = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())
    print(f"held-out samples: {len(y)}")
    print(json.dumps({"accuracy": accuracy, "loss": loss}))


if __name__ == "__main__":
    main()
