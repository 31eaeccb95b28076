"""graphc.distributed: data-parallel training over MPI (mpi4py), as PyTorch's DDP does it.

    mpiexec -n 2 python -m mpi4py train.py        # `-m mpi4py`: a failing rank aborts the job

    import graphc.distributed as dist
    dist.init()                                   # 1 LLVM thread per rank on a 2-core host
    dist.broadcast_parameters(net)                # every rank starts from rank 0's weights
    loader = dist.DistributedDataLoader((x, y), batch_size=64, shuffle=True, seed=0)

    @graphc.compile(data_parallel=True)           # gradients: mean over the ranks, one all-reduce
    def train_step(data, target): ...

Each rank runs the same compiled step on its own shard of every batch; the `allreduce` pass
(passes/allreduce.py) inserts one mean all-reduce of all parameter gradients between the backward
graph and the optimizer update, in the native step itself (graphc/backend/llvm/allreduce.py).
The MPI state and primitives (init, rank, world_size, communicator, allreduce_sum_, ...) are
graphc/mpi.py's, re-exported here; this module adds the torch-named API built on them.
Needs the `mpi` extra: `pip install -e '.[mpi]'` (mpi4py and the MPICH wheel; a system MPI works
too when mpi4py is built against it).
"""
from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator

import numpy as np

from . import config, mpi
from .data import DataLoader
from .errors import GraphcError
from .ir.ops import collective
# the MPI runtime itself (state, init, ranks, the in-place sum) lives in graphc/mpi.py, shared
# with the allreduce op and the backend; `_state` is its state (the data-parallel notice too)
from .mpi import (_state, active_world_size, allreduce_sum_, barrier,  # noqa: F401
                  communicator, default_threads, is_initialized, local_rank, local_size,
                  mpi_available, rank, world_size)

# the IR's `allreduce` reference (the interpreter) sums over the ranks through graphc.mpi: the IR
# declares the slot (it imports nothing above it), this module, above both, fills it
collective.set_collective(mpi.job_size, mpi.allreduce_sum_)


def init(threads: int | None = None) -> None:
    """Join the MPI job (idempotent): graphc's own communicator, abort-on-exception, threads.

    `threads` sets GRAPHC_NUM_THREADS for this rank; by default, when it is not set already, the
    cores are split between the ranks on this host (2 ranks on 2 cores: 1 thread each, so ranks
    do not fight over cores). Call it before the first compiled call: the LLVM thread pool reads
    the variable once (a notice says so when it already runs with another count). An exception
    that reaches the top of any rank aborts every rank.
    """
    if "comm" in _state:   # joined already (is_initialized() is also true under `-m mpi4py`)
        return
    mpi.init(threads)
    from .backend.llvm import pool
    running = pool.started_threads()
    if running is not None and running != config.num_threads():
        print(f"[graphc] rank {rank()}: the LLVM thread pool already runs {running} threads; "
              f"GRAPHC_NUM_THREADS={config.num_threads()} applies only when "
              "graphc.distributed.init() comes before the first compiled call", file=sys.stderr)


def is_main_process() -> bool:
    """True on rank 0 (and without MPI): the rank that prints and writes checkpoints."""
    return rank() == 0


def allreduce_mean(value):
    """The mean over the ranks of a number or array (a new value; for metrics such as loss)."""
    arr = np.array(value, dtype=np.float64)
    allreduce_sum_(arr)
    arr /= world_size()
    return float(arr) if arr.ndim == 0 else arr


def broadcast_(arrays, root: int = 0) -> None:
    """Overwrite each array, in place, with root's copy."""
    if not is_initialized() or world_size() == 1:
        return
    comm = communicator()
    for a in arrays:
        if not a.flags.c_contiguous:
            raise GraphcError("broadcast_ needs C-contiguous arrays")
        comm.Bcast(a, root=root)


def broadcast_parameters(module, root: int = 0) -> None:
    """Every rank's parameters and buffers become root's, in place (call once, before training)."""
    arrays = [p._data for _, p in module.named_parameters()]
    arrays += [b._data for _, b in module.named_buffers()]
    broadcast_(arrays, root)


def broadcast_optimizer_state(optimizer, root: int = 0) -> None:
    """Every rank's optimizer state and hyperparameters become root's (e.g. after loading)."""
    if not is_initialized() or world_size() == 1:
        return
    sd = communicator().bcast(optimizer.state_dict() if rank() == root else None, root=root)
    if rank() != root:
        optimizer.load_state_dict(sd)


def broadcast_object(obj=None, root: int = 0):
    """root's Python object on every rank (pickled)."""
    if not is_initialized() or world_size() == 1:
        return obj
    return communicator().bcast(obj, root=root)


# ---- checkpoints: written by rank 0, read by rank 0 and broadcast -------------------------------

def save_checkpoint(path: str, model, optimizer=None, **extra) -> None:
    """Rank 0 writes {model, optimizer, **extra} to `path` (atomically); every rank waits for it."""
    if is_main_process():
        state = {"model": model.state_dict(), **extra}
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    barrier()


def load_checkpoint(path: str, model, optimizer=None) -> dict:
    """Rank 0 reads `path`, every rank gets its contents (no shared disk needed); returns extras."""
    state = None
    if is_main_process():
        with open(path, "rb") as f:
            state = pickle.load(f)
    state = broadcast_object(state)
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return {k: v for k, v in state.items() if k not in ("model", "optimizer")}


# ---- sharding the data ------------------------------------------------------------------------

class DistributedSampler:
    """Indices of this rank's shard of each epoch, as torch.utils.data.DistributedSampler.

    Every rank draws the same permutation (seed + epoch) and takes every world-th index from
    position `rank`, so the shards are disjoint and together cover the epoch. All ranks get the
    same count (they step together): with drop_last=False the permutation is padded by wrapping
    around (a few samples twice); with drop_last=True its tail is dropped instead.
    """

    def __init__(self, n: int, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        self.n = int(n)
        self.num_replicas = world_size() if num_replicas is None else int(num_replicas)
        self.rank = globals()["rank"]() if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise GraphcError(f"rank {self.rank} is not in [0, {self.num_replicas})")
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = -(-self.n // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of `epoch` (call it before each epoch, as with PyTorch's)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch."""
        order = (np.random.default_rng(self.seed + self.epoch).permutation(self.n)
                 if self.shuffle else np.arange(self.n))
        total = self.num_samples * self.num_replicas
        if total > self.n:
            order = np.resize(order, total)   # wraps around
        return order[:total][self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class DistributedDataLoader(DataLoader):
    """A DataLoader over this rank's shard: `batch_size` is per rank, as in PyTorch's DDP.

    Each iteration is the next epoch (seed + epoch), so `for epoch: for x, y in loader` works
    without set_epoch; the ranks see disjoint parts of the same shuffled epoch. drop_last
    defaults to True: every rank then runs the same number of equal-sized steps (a compiled
    step is specialised to the batch shape).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True, num_replicas: int | None = None,
                 rank: int | None = None):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                         seed=seed)
        self.sampler = DistributedSampler(len(self.dataset), num_replicas, rank, shuffle, seed,
                                          drop_last)
        self._auto_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Start from epoch `epoch`'s permutation (the next iteration uses it)."""
        self._auto_epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        self.sampler.set_epoch(self._auto_epoch)
        self._auto_epoch += 1
        idx = self.sampler.indices()
        stop = len(idx) - len(idx) % self.batch_size if self.drop_last else len(idx)
        for i in range(0, stop, self.batch_size):
            yield self._batch(idx[i:i + self.batch_size])
