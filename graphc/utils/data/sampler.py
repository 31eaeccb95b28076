"""Samplers as in torch.utils.data: which indices a DataLoader fetches, and in which groups.

Random orders come from graphc's random state: `generator=` (a graphc.Generator when
graphc.random provides one, or a NumPy Generator), else a fresh generator seeded from graphc's
global generator at each epoch, as torch does, so `graphc.manual_seed(s)` makes shuffling
reproducible.
"""
from __future__ import annotations

import numpy as np

from ... import random as _random


def _np_rng(generator) -> np.random.Generator:
    """A NumPy Generator to draw from: `generator` itself, the one inside a graphc.Generator, or a
    new one seeded from graphc's global generator (torch's per-epoch seed draw)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        glob = getattr(_random, "generator", None)
        base = glob() if callable(glob) else None
        if not isinstance(base, np.random.Generator):
            base = getattr(_random, "_rng", None)
        seed = int(base.integers(0, 2 ** 63)) if isinstance(base, np.random.Generator) else None
        return np.random.default_rng(seed)
    for attr in ("_rng", "rng", "_np", "numpy_generator"):
        inner = getattr(generator, attr, None)
        if isinstance(inner, np.random.Generator):
            return inner
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    seed = getattr(generator, "initial_seed", None)
    return np.random.default_rng(seed() if callable(seed) else None)


def randperm(n: int, generator=None) -> list[int]:
    """A random permutation of range(n) as a list, drawn from `generator` (see the module doc):
    graphc.random.randperm when graphc has it and `generator` is not a NumPy Generator."""
    n = int(n)
    rp = getattr(_random, "randperm", None)
    if rp is not None and not isinstance(generator, np.random.Generator):
        out = rp(n, generator=generator) if generator is not None else rp(n)
        return [int(i) for i in (out.tolist() if hasattr(out, "tolist") else out)]
    return _np_rng(generator).permutation(n).tolist()


def uniforms(k: int, generator=None) -> np.ndarray:
    """k float64 uniforms in [0, 1) from `generator` (as randperm: graphc's generator when graphc
    has graphc.random.rand and `generator` is not a NumPy Generator)."""
    rand = getattr(_random, "rand", None)
    if rand is not None and not isinstance(generator, np.random.Generator):
        from ... import dtypes
        return np.asarray(rand(int(k), generator=generator, dtype=dtypes.float64).numpy())
    return _np_rng(generator).random(int(k))


class Sampler:
    """Base class: an iterable of dataset indices (or of lists of them, for batch samplers)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices (a new one per epoch); with `replacement=True`, `num_samples`
    draws with replacement. Without replacement and num_samples > len, whole permutations follow
    one another, as in torch."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None):
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement="
                            f"{self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """How many indices an epoch yields (len(data_source) unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, total = len(self.data_source), self.num_samples
        if self.replacement:   # 32 at a time, as torch: num_samples may be huge (minGPT: 1e10)
            for start in range(0, total, 32):
                u = uniforms(min(32, total - start), self.generator)
                yield from np.minimum((u * n).astype(np.int64), n - 1).tolist()
            return
        gen = self.generator
        if gen is None and getattr(_random, "randperm", None) is None:
            gen = _np_rng(None)  # one seed drawn from graphc's generator per epoch
        for _ in range(total // n):
            yield from randperm(n, gen)
        if total % n:
            yield from randperm(n, gen)[:total % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a new one per epoch)."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in randperm(len(self.indices), self.generator):
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """`num_samples` indices drawn with probabilities proportional to `weights`."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        self.weights, self.num_samples = w, num_samples
        self.replacement, self.generator = replacement, generator

    def __iter__(self):
        w, k = self.weights, self.num_samples
        u = uniforms(k if self.replacement else len(w), self.generator)
        if self.replacement:   # inverse cdf
            cdf = np.cumsum(w)
            idx = np.searchsorted(cdf, u * cdf[-1], side="right")
            yield from np.minimum(idx, len(w) - 1).tolist()
            return
        if k > np.count_nonzero(w > 0):
            raise ValueError("WeightedRandomSampler: not enough categories with a non-zero weight "
                             f"to draw {k} without replacement")
        with np.errstate(divide="ignore"):   # the exponential race: smallest -log(1-u)/w first
            keys = np.where(w > 0, -np.log1p(-u) / np.where(w > 0, w, 1.0), np.inf)
        yield from np.argsort(keys, kind="stable")[:k].tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of `batch_size` (the last one shorter unless
    `drop_last`)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
