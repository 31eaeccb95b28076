"""Torch's functions called on quantized tensors: `F.relu(q)`, `F.max_pool2d(q, 2)`,
`torch.flatten(q, 1)`, `nn.Dropout` in eval mode, ... as a converted model calls them.

torch dispatches such calls to its quantized kernels. graphc's functions check their input with
`quantized(x)` and hand a quantized tensor to the implementation registered here under the
function's name (graphc.ao registers those of graphc.ao.nn.quantized.functional), so the float
code never sees the integers; a function with no quantized implementation raises
NotSupportedError naming it, never computes on the integers as if they were floats.
"""
from __future__ import annotations

from typing import Callable

from .errors import NotSupportedError

_IMPLS: dict[str, Callable] = {}


def register(name: str, fn: Callable) -> None:
    """Make `fn` the implementation of the torch function `name` for quantized tensors."""
    _IMPLS[name] = fn


def quantized(x) -> bool:
    """Whether `x` is a quantized tensor (graphc.QTensor: `is_quantized` on its class)."""
    return getattr(type(x), "is_quantized", False) is True


def call(name: str, *args, **kwargs):
    """The quantized implementation of `name` applied to args, or NotSupportedError."""
    fn = _IMPLS.get(name)
    if fn is None:
        raise NotSupportedError(
            f"{name} of a quantized tensor is not supported in graphc (supported: "
            f"{', '.join(sorted(_IMPLS)) or 'none'}); call .dequantize() on it first, or use "
            "the quantized modules of graphc.ao.nn.quantized")
    return fn(*args, **kwargs)
