"""graphc's random state: `graphc.manual_seed(n)` makes parameter initialisation reproducible."""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator used for parameter initialisation (as torch.manual_seed)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The NumPy Generator behind graphc's parameter initialisation."""
    return _rng


def uniform(shape, low: float, high: float, dtype=np.float32) -> np.ndarray:
    """An array of `shape` drawn uniformly from [low, high), as `dtype`."""
    return _rng.uniform(low, high, size=shape).astype(dtype)


def randn(*shape, dtype=np.float32) -> np.ndarray:
    """An array of the given shape drawn from the standard normal distribution, as `dtype`."""
    return _rng.standard_normal(size=shape).astype(dtype)
