"""graphc.nn.DataParallel and graphc.nn.parallel.DistributedDataParallel, torch's wrappers.

DataParallel exists so that programs written for several GPUs run unchanged: graphc compiles for
the CPU, and one process already uses every core (the native step splits its large matmuls over
a thread pool, GRAPHC_NUM_THREADS), so there is nothing to replicate. The wrapper is transparent:
forward calls the wrapped module, `.module` is it, and state_dict keys carry torch's `module.`
prefix (load a DataParallel checkpoint into a bare model with `dp.module.load_state_dict`).

DistributedDataParallel is torch's DDP on graphc.distributed (MPI): constructing it broadcasts
rank 0's parameters, and a compiled step that trains a DDP-wrapped model averages its gradients
over the ranks (as `graphc.compile(..., data_parallel=True)`: one all-reduce inside the step).
Eager (uncompiled) backward has no all-reduce, so a training-mode DDP forward with gradients
enabled outside graphc.compile on more than one rank raises rather than letting the ranks
diverge silently (eval() or no_grad evaluation runs).
"""
from __future__ import annotations

from ..errors import GraphcError
from .module import Module


class DataParallel(Module):
    """torch.nn.DataParallel: a transparent wrapper. graphc runs on the CPU and one process
    already uses every core (GRAPHC_NUM_THREADS), so forward simply calls `module`;
    `device_ids`, `output_device` and `dim` are accepted and recorded."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise GraphcError(f"DataParallel wraps an nn.Module, got a {type(module).__name__}")
        self.module = module
        object.__setattr__(self, "device_ids", list(device_ids) if device_ids else [])
        object.__setattr__(self, "output_device", output_device)
        object.__setattr__(self, "dim", dim)

    def forward(self, *inputs, **kwargs):
        """The wrapped module's forward."""
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel over graphc.distributed (MPI ranks).

    On construction every rank takes rank 0's parameters and buffers (as torch's DDP). A step
    compiled with graphc.compile that uses this wrapper all-reduces (averages) the gradients of
    every parameter inside the step, as `data_parallel=True` does; without MPI (one process) it is
    a transparent wrapper. Uncompiled training on several ranks raises: graphc averages gradients
    only inside compiled steps."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, find_unused_parameters: bool = False, **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise GraphcError(f"DistributedDataParallel wraps an nn.Module, got a "
                              f"{type(module).__name__}")
        self.module = module
        object.__setattr__(self, "device_ids", list(device_ids) if device_ids else [])
        object.__setattr__(self, "dim", dim)
        from .. import mpi
        if mpi.is_initialized() and mpi.world_size() > 1:
            from .. import distributed
            distributed.broadcast_parameters(module)

    def forward(self, *inputs, **kwargs):
        """The wrapped module's forward; training outside graphc.compile on several ranks (train
        mode with gradients enabled) is an error, evaluation (eval() or no_grad) is not."""
        from ..driver import tracing
        from ..grad_mode import is_grad_enabled
        from .. import mpi
        if tracing.current() is None and self.training and is_grad_enabled() and \
                mpi.is_initialized() and mpi.world_size() > 1:
            raise GraphcError(
                "DistributedDataParallel averages gradients inside a compiled step only: put the "
                "training step (forward, backward, optimizer.step) under @graphc.compile "
                f"(called at {tracing.user_where()})")
        return self.module(*inputs, **kwargs)


def uses_ddp(modules) -> bool:
    """True when one of `modules` (or a sub-module) is a DistributedDataParallel wrapper."""
    return any(isinstance(m, DistributedDataParallel) for root in modules for m in root.modules())
