"""DataLoader as in torch.utils.data: batches of graphc Tensors from a dataset.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for xb, yb in loader: ...          # xb, yb: graphc.Tensor (a list [xb, yb], as torch)

torch's arguments are accepted with torch's rules (mutually exclusive ones raise): `batch_size`
(None: no batching, each sample converted), `shuffle`, `sampler`, `batch_sampler`, `collate_fn`,
`drop_last`, `generator`, plus graphc's `seed=` (shuffle with a NumPy generator seeded so).
`num_workers`, `pin_memory`, `timeout`, `worker_init_fn`, `multiprocessing_context`,
`prefetch_factor`, `persistent_workers`, `pin_memory_device` and `in_order` are checked as torch
does and then have no effect: batches are built in the main process, on the fly, in order
(there is no device memory to pin; `worker_init_fn` is never called, as with num_workers=0).
A TensorDataset with the default collate is batched with one fancy index per tensor.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ...errors import GraphcError
from ...tensor import Tensor
from .collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


class DataError(GraphcError, ValueError):
    """A DataLoader or sampler was given arguments that do not fit together (torch: ValueError)."""


def get_worker_info():
    """None: graphc builds every batch in the main process (as torch's num_workers=0)."""
    return None


class _InfiniteConstantSampler(Sampler):
    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Batches of a dataset as graphc Tensors; see the module docstring for every argument."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True, seed: int | None = None):
        if isinstance(dataset, tuple) and dataset and \
                all(isinstance(a, (np.ndarray, Tensor)) and a.ndim for a in dataset):
            dataset = TensorDataset(*dataset)   # graphc's shorthand: DataLoader((x, y), ...);
            # a list stays a list of samples, as in torch
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or
                                       isinstance(batch_size, bool) or batch_size < 1):
            raise DataError(f"DataLoader batch_size should be a positive integer value (or None), "
                            f"but got batch_size={batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise DataError("num_workers option should be non-negative; use num_workers=0 to "
                            "disable multiprocessing.")
        if timeout < 0:
            raise DataError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise DataError("prefetch_factor option could only be specified in multiprocessing."
                            "let num_workers > 0 to enable multiprocessing, otherwise set "
                            "prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise DataError("persistent_workers option needs num_workers > 0")
        if generator is None and seed is not None:
            generator = np.random.default_rng(seed)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise DataError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise DataError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise DataError(f"DataLoader with IterableDataset: expected unspecified "
                                f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise DataError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise DataError("batch_sampler option is mutually exclusive with batch_size, "
                                "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise DataError("batch_size=None option disables auto-batching and is mutually "
                            "exclusive with drop_last")
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last, self.shuffle = bool(drop_last), shuffle
        self.sampler, self.batch_sampler, self.collate_fn = sampler, batch_sampler, collate_fn
        self.generator, self.num_workers, self.pin_memory = generator, num_workers, pin_memory
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context, self.prefetch_factor = multiprocessing_context, prefetch_factor
        self.persistent_workers, self.pin_memory_device = persistent_workers, pin_memory_device
        self.in_order = in_order

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler) if self._auto_collation else len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        if isinstance(self.dataset, IterableDataset):
            yield from self._iter_iterable()
            return
        if not self._auto_collation:
            for idx in self.sampler:
                yield self.collate_fn(self.dataset[idx])
            return
        for indices in self.batch_sampler:
            yield self._batch(indices)

    def _iter_iterable(self):
        it = iter(self.dataset)
        if not self._auto_collation:
            for sample in it:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in it:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _batch(self, indices):
        """The collated batch of the samples at `indices` (a list or an integer array)."""
        ds = self.dataset
        if self._default_collate:   # a TensorDataset, or a Subset (of a Subset...) of one
            base, rows = ds, indices
            while isinstance(base, Subset) and type(base).__getitem__ is Subset.__getitem__ and \
                    type(base).__getitems__ is Subset.__getitems__:
                rows, base = [base.indices[int(i)] for i in rows], base.dataset
            if type(base).__getitem__ is TensorDataset.__getitem__:
                idx = np.asarray(rows, dtype=np.int64)   # one fancy index per tensor
                return [Tensor(np.ascontiguousarray(t.numpy()[idx])) for t in base.tensors]
        if callable(getattr(ds, "__getitems__", None)):
            data = ds.__getitems__([int(i) for i in indices])
        else:
            data = [ds[int(i)] for i in indices]
        return self.collate_fn(data)


def collate(items):
    """graphc's old name for default_collate."""
    return default_collate(list(items))
