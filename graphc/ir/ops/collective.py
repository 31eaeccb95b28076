"""Collective ops across processes: `allreduce`, the mean of gradients over data-parallel ranks.

`%a, %b = allreduce[world=N] %ga, %gb` returns, for every operand, its mean over the N ranks of
the job. All operands share one float dtype and travel as one contiguous buffer in one
MPI_Allreduce (see passes/allreduce.py, which inserts the op, and graphc/distributed.py). With
world=1 it is the identity, so a graph holding it also runs in a single process.
"""
from __future__ import annotations

import numpy as np

from ...errors import ExecutionError
from .registry import NONDIFF, register, require


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
    from ... import distributed
    if not distributed.is_initialized() or distributed.world_size() != world:
        have = distributed.world_size() if distributed.is_initialized() else "no MPI job"
        raise ExecutionError(f"allreduce[world={world}] runs in a job of {world} MPI ranks, "
                             f"but this process has {have} (graphc.distributed.init() first)")
    flat = np.concatenate([np.ravel(g) for g in grads])
    distributed.allreduce_sum_(flat)
    flat /= flat.dtype.type(world)
    out, at = [], 0
    for g in grads:
        out.append(flat[at:at + g.size].reshape(g.shape))
        at += g.size
    return out


# allreduce[world](*g) = mean over ranks of each g; inserted after backward by passes/allreduce.py
register("allreduce", "special", _allreduce_infer, _allreduce_ref, [], NONDIFF,
         doc="mean of each operand over the ranks of an MPI job, as one flat all-reduce")
