"""Collective ops across processes: `allreduce`, the mean of gradients over data-parallel ranks.

`%a, %b = allreduce[world=N] %ga, %gb` returns, for every operand, its mean over the N ranks of
the job. All operands share one float dtype and travel as one contiguous buffer in one
MPI_Allreduce (see passes/allreduce.py, which inserts the op, and graphc/mpi.py). With
world=1 it is the identity, so a graph holding it also runs in a single process.

The NumPy reference (the interpreter) sums over the ranks through a *collective runtime*
installed here with `set_collective` (graphc.distributed installs graphc.mpi's at import): the
IR is the bottom layer and imports nothing above it, so it declares the slot and a higher layer
fills it. Without a runtime, or with one whose job has another size, the op raises
ExecutionError.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...errors import ExecutionError
from .registry import NONDIFF, register, require

# the collective runtime: (job_size, sum_) or None; see set_collective
_runtime: tuple[Callable[[], int | None], Callable[[np.ndarray], object]] | None = None


def set_collective(job_size: Callable[[], int | None],
                   sum_: Callable[[np.ndarray], object]) -> None:
    """Install the process's collective runtime, which the `allreduce` reference sums through.

    `job_size()` is the number of ranks in the running job (None outside one); `sum_(buf)` sums a
    writeable C-contiguous array over those ranks, in place. graphc.distributed installs
    graphc.mpi's at import; the IR only declares this slot, since it may not import the layers
    above it.
    """
    global _runtime
    _runtime = (job_size, sum_)


def _allreduce_infer(types, attrs):
    require(len(types) >= 1, "allreduce takes at least one tensor")
    require(all(t.dtype == types[0].dtype for t in types) and types[0].dtype.is_float,
            "allreduce operands must share one float dtype (the pass groups them by dtype), got "
            + ", ".join(str(t) for t in types))
    world = attrs.get("world")
    require(isinstance(world, int) and not isinstance(world, bool) and world >= 1,
            f"allreduce needs an int attr world >= 1, got {world!r}")
    return list(types)


def _allreduce_ref(*grads, world):
    """Mean over the ranks: one flat buffer, one in-place MPI sum, then a division by `world`."""
    if world == 1:
        return [np.array(g, copy=True) for g in grads]
    size = _runtime[0]() if _runtime is not None else None
    if size != world:
        have = "no MPI job" if size is None else size
        raise ExecutionError(f"allreduce[world={world}] runs in a job of {world} MPI ranks, "
                             f"but this process has {have} (graphc.distributed.init() first)")
    flat = np.concatenate([np.ravel(g) for g in grads])
    _runtime[1](flat)
    flat /= flat.dtype.type(world)
    out, at = [], 0
    for g in grads:
        out.append(flat[at:at + g.size].reshape(g.shape))
        at += g.size
    return out


# allreduce[world](*g) = mean over ranks of each g; inserted after backward by passes/allreduce.py
register("allreduce", "special", _allreduce_infer, _allreduce_ref, [], NONDIFF,
         doc="mean of each operand over the ranks of an MPI job, as one flat all-reduce")
