"""The digits data (8x8 images, 1797 samples) and its fixed train / held-out split, shared by
train_mlp.py and evaluate.py so that both see exactly the same rows."""
import gzip
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "digits.csv.gz")
SPLIT_SEED = 20261129  # the permutation that chooses the held-out rows
HELD_OUT = 597         # the last third: never seen in training


def load():
    """Features scaled to [0, 1] (float64) and integer labels."""
    with gzip.open(DATA, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return raw[:, :64].astype(np.float64) / 16.0, raw[:, 64]


def split():
    """(x_train, y_train, x_held_out, y_held_out), the same on every machine."""
    x, y = load()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    train, held = order[:-HELD_OUT], order[-HELD_OUT:]
    return x[train], y[train], x[held], y[held]
