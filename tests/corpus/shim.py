"""One random stream for torch and graphc: PyTorch's generator and graphc's Philox are different
streams, so a program's draws (`torch.randn((27, 10), generator=g)`, `torch.randint(...)`,
`torch.multinomial(...)`) come from a seeded NumPy generator in the same calls and shapes, and
both frameworks see the same numbers. Everything else is the framework's own.
"""
from __future__ import annotations

import numpy as np


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


class NumpyRandom:
    """`torch` with its random draws taken from NumPy (`seed`); other names pass through."""

    def __init__(self, torch, seed: int = 0):
        self._torch = torch
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def randn(self, *size, generator=None, dtype=None, requires_grad=False):
        t = self._torch.tensor(self._rng.standard_normal(_shape(size)).astype(np.float32))
        return t.requires_grad_() if requires_grad else t

    def rand(self, *size, generator=None, requires_grad=False):
        t = self._torch.tensor(self._rng.random(_shape(size)).astype(np.float32))
        return t.requires_grad_() if requires_grad else t

    def randint(self, low, high=None, size=None, generator=None, dtype=None):
        if high is None:
            low, high = 0, low
        return self._torch.tensor(self._rng.integers(int(low), int(high), _shape((size,))))

    def randperm(self, n, generator=None):
        return self._torch.tensor(self._rng.permutation(int(n)))

    def multinomial(self, probs, num_samples, replacement=False, generator=None):
        """Inverse-CDF draws, one uniform per row; `num_samples` 1 (what the programs draw)."""
        assert num_samples == 1
        p = np.asarray(probs.detach().numpy(), np.float64)
        rows = p.reshape(-1, p.shape[-1])
        cdf = np.cumsum(rows / rows.sum(-1, keepdims=True), -1)
        u = self._rng.random((rows.shape[0], 1))
        ix = np.minimum((cdf < u).sum(-1, keepdims=True), rows.shape[-1] - 1)
        return self._torch.tensor(ix.reshape(p.shape[:-1] + (1,)).astype(np.int64))
