"""graphc.data: TensorDataset and DataLoader over NumPy arrays (batches come out as NumPy arrays)."""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from .errors import GraphcError


class TensorDataset:
    """Arrays sharing their first dimension; item i is the tuple of their i-th rows."""

    def __init__(self, *arrays):
        if not arrays:
            raise GraphcError("TensorDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = len(self.arrays[0])
        for k, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                raise GraphcError(f"TensorDataset: array {k} has {len(a) if a.ndim else 'no'} rows, "
                                  f"array 0 has {n}; all must share the first dimension")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, i):
        return tuple(a[i] for a in self.arrays)


class DataLoader:
    """Batches of a dataset: `for x, y in DataLoader(ds, batch_size=64, shuffle=True, seed=0)`.

    With `shuffle=True` each epoch draws a new permutation from a generator seeded by `seed`
    (reproducible across runs when a seed is given). A TensorDataset is sliced with one fancy index
    per array; other datasets are collated by stacking their items.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None):
        if isinstance(dataset, (tuple, list)) and dataset and isinstance(dataset[0], np.ndarray):
            dataset = TensorDataset(*dataset)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise GraphcError(f"DataLoader batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        for i in range(0, stop, self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self._batch(idx)

    def _batch(self, idx: np.ndarray):
        if isinstance(self.dataset, TensorDataset):
            return tuple(np.ascontiguousarray(a[idx]) for a in self.dataset.arrays)
        return collate([self.dataset[int(i)] for i in idx])


def collate(items: Sequence[Any]):
    """Stack a list of samples (arrays, numbers, or tuples/dicts of them) into a batch."""
    first = items[0]
    if isinstance(first, tuple):
        return tuple(collate([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: collate([it[k] for it in items]) for k in first}
    return np.stack([np.asarray(it) for it in items])
