"""graphc.mpi: this process's MPI job (mpi4py), the one runtime every user of MPI in graphc shares.

It holds the process's MPI state (graphc's own communicator, the ranks on this host) and the
primitives built on it: init, is_initialized, rank / world_size / local_rank / local_size, the
communicator, barrier and an in-place sum of a buffer over the ranks (allreduce_sum_). Three
layers use it:

- graphc.distributed, the torch-named API (DistributedSampler, broadcasts, checkpoints), builds
  on it;
- the IR's `allreduce` op (graphc/ir/ops/collective.py): its NumPy reference sums through a
  collective runtime slot that graphc.distributed fills at import with this module's
  `job_size` and `allreduce_sum_` (graphc.ir, the bottom layer, imports nothing above it, and
  this module imports only the leaves: graphc.config, graphc.errors);
- the backend (graphc/backend/llvm/allreduce.py) calls MPI_Allreduce on `communicator()`.

It imports nothing of the torch-named API (no DataLoader); mpi4py is imported on first use only,
so graphc works without the `mpi` extra.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from . import config
from .errors import GraphcError

_state: dict[str, Any] = {}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise GraphcError("graphc.distributed needs mpi4py: pip install -e '.[mpi]' "
                          "(mpi4py and the MPICH wheel)") from None
    return MPI


def mpi_available() -> bool:
    """True when mpi4py can be imported (it is the `mpi` extra)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def init(threads: int | None = None) -> None:
    """Join the MPI job (idempotent): graphc's own communicator, abort-on-exception, threads.

    `threads` sets GRAPHC_NUM_THREADS for this rank; by default, when it is not set already, the
    cores are split between the ranks on this host (2 ranks on 2 cores: 1 thread each, so ranks
    do not fight over cores). Call it before the first compiled call: the LLVM thread pool reads
    the variable once. An exception that reaches the top of any rank aborts every rank.
    """
    if "comm" in _state:
        return
    MPI = _mpi()
    if not MPI.Is_initialized():
        MPI.Init()
    comm = MPI.COMM_WORLD.Dup()   # graphc's collectives never match the user's messages
    _state["comm"] = comm
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    _state["local_rank"], _state["local_size"] = local.Get_rank(), local.Get_size()
    local.Free()
    if threads is not None:
        config.set_num_threads(int(threads))
    elif not config.num_threads_set():
        config.set_num_threads(default_threads(_state["local_size"]))
    _install_abort_hook()


def default_threads(local_ranks: int) -> int:
    """LLVM threads per rank when `local_ranks` ranks share this host: its cores split evenly."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(local_ranks, 1))


def _install_abort_hook() -> None:
    """An uncaught exception prints its traceback, then MPI_Abort ends every rank (no hang)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if world_size() > 1:
            sys.stderr.write(f"[graphc.distributed] rank {rank()}: uncaught {kind.__name__}; "
                             "aborting all ranks\n")
            sys.stderr.flush()
            _unlink_mpi_segments()
            time.sleep(0.25)  # let mpiexec forward the traceback before it kills every rank
            _mpi().COMM_WORLD.Abort(1)
    sys.excepthook = hook


SEGMENT_PREFIXES = ("/dev/shm/mpich_shm_", "/dev/shm/vader_segment", "/dev/shm/sm_segment")


def _unlink_mpi_segments() -> None:
    """Unlink the MPI library's shared-memory files this process maps (an aborted job leaves
    them in /dev/shm otherwise); ranks that still map them keep their memory until they exit."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "/dev/shm/" in line}
    except OSError:
        return
    for path in paths:
        if path.startswith(SEGMENT_PREFIXES):
            try:
                os.unlink(path)
            except OSError:
                pass


def is_initialized() -> bool:
    """True after init(), or when mpi4py has already initialised MPI (`python -m mpi4py`)."""
    if "comm" in _state:
        return True
    mod = sys.modules.get("mpi4py.MPI")
    if mod is None or not mod.Is_initialized() or mod.Is_finalized():
        return False
    init()
    return True


def communicator():
    """graphc's communicator (a duplicate of MPI.COMM_WORLD); initialises on first use."""
    if "comm" not in _state:
        init()
    return _state["comm"]


def rank() -> int:
    """This process's rank in the job (0 without MPI)."""
    return communicator().Get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of ranks in the job (1 without MPI)."""
    return communicator().Get_size() if is_initialized() else 1


def local_rank() -> int:
    """This process's rank among the ranks on its host (0 without MPI)."""
    return _state["local_rank"] if is_initialized() else 0


def local_size() -> int:
    """Number of ranks on this process's host (1 without MPI)."""
    return _state["local_size"] if is_initialized() else 1


def barrier() -> None:
    """Wait until every rank gets here (nothing without MPI)."""
    if is_initialized():
        communicator().Barrier()


def allreduce_sum_(arr: np.ndarray) -> np.ndarray:
    """Sum a contiguous array over the ranks, in place (one MPI_Allreduce); returns it."""
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise GraphcError("allreduce_sum_ needs a writeable C-contiguous array")
    if is_initialized() and world_size() > 1:
        communicator().Allreduce(_mpi().IN_PLACE, arr)
    return arr


def active_world_size() -> int:
    """The ranks a data-parallel step averages over: the job's size, or 1 with a one-line
    notice (printed once) when MPI is not initialised."""
    if mpi_available() and is_initialized():
        return world_size()
    if not _state.get("noticed"):
        _state["noticed"] = True
        print("[graphc] data_parallel=True: MPI is not initialised (run under mpiexec and call "
              "graphc.distributed.init()); training on this process alone", file=sys.stderr)
    return 1


def job_size() -> int | None:
    """Ranks of the running MPI job; None outside one (the IR's collective runtime asks this)."""
    return world_size() if is_initialized() else None
