"""graphc.nn.utils: gradient clipping and parameter/vector conversion with PyTorch's formulas.

All are compositions of existing ops (abs, square, sum, sqrt, maximum, minimum, mul), so they run
eagerly and inside a compiled training step (the in-place updates of `p.grad` become graph state
updates there).
"""
from __future__ import annotations

import math

from ... import functions as G
from ...autograd import no_grad
from ...driver import tracing
from ...errors import GraphcError
from ...tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(x: Tensor, norm_type: float) -> Tensor:
    """torch.linalg.vector_norm of x flattened (a 0-d float tensor)."""
    if norm_type == math.inf:
        return G.amax(G.abs(x))
    if norm_type == -math.inf:
        return G.amin(G.abs(x))
    if norm_type == 2:
        return G.sqrt(G.sum(x * x))
    if norm_type == 1:
        return G.sum(G.abs(x))
    if norm_type == 0:
        return G.sum(G.cast(x != 0, x.dtype))
    return G.sum(G.abs(x) ** norm_type) ** (1.0 / norm_type)


def _combine(norms: list[Tensor], norm_type: float) -> Tensor:
    """The norm of the vector of per-tensor norms (as torch: vector_norm(stack(norms)))."""
    out = norms[0]
    if norm_type == math.inf:
        for n in norms[1:]:
            out = G.maximum(out, n)
        return out
    if norm_type == -math.inf:
        for n in norms[1:]:
            out = G.minimum(out, n)
        return out
    if len(norms) == 1:
        return out if norm_type != 0 else G.cast(out != 0, out.dtype)
    if norm_type == 0:
        return sum((G.cast(n != 0, n.dtype) for n in norms[1:]), G.cast(out != 0, out.dtype))
    if norm_type == 1:
        return sum(norms[1:], out)
    if norm_type == 2:
        return G.sqrt(sum((n * n for n in norms[1:]), out * out))
    return sum((n ** norm_type for n in norms[1:]), out ** norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """The norm of all `tensors` together, as torch.nn.utils.get_total_norm."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return G.tensor(0.0)
    total = _combine([_vector_norm(t, norm_type) for t in tensors], norm_type)
    if error_if_nonfinite:
        if tracing.current() is not None:
            raise GraphcError(
                f"clip_grad_norm_(error_if_nonfinite=True) at {tracing.user_where()}: whether the "
                "norm is finite is data-dependent and can't be traced by graphc.compile; check "
                "the returned norm after the compiled call instead")
        v = float(total.item())
        if math.isnan(v) or math.isinf(v):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


@no_grad()
def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)), as torch."""
    grads = _grads(parameters)
    if not grads:
        return
    coef = G.minimum(float(max_norm) / (total_norm + 1e-6), 1.0)
    for g in grads:
        g.mul_(G.cast(coef, g.dtype))


@no_grad()
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Clip the gradients' total norm to max_norm in place; returns the total norm (before
    clipping), as torch.nn.utils.clip_grad_norm_ (norm_type may be inf)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        clip_grads_with_norm_(parameters, max_norm, total)
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient to [-clip_value, clip_value] in place, as torch."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor, as torch."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    flat = [G.reshape(p, (-1,)) for p in parameters]
    if len(flat) == 1:
        return flat[0]
    try:
        from ...shape_ops import cat
    except ImportError as e:  # pragma: no cover - cat arrives with graphc/shape_ops.py
        raise GraphcError("parameters_to_vector needs graphc.cat (graphc/shape_ops.py)") from e
    return cat(flat)


@no_grad()
def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters, as torch."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    i = 0
    for p in parameters:
        n = p.numel()
        p.copy_(G.reshape(vec[i:i + n], p.shape))
        i += n
from . import rnn  # noqa: E402,F401
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights,  # noqa: E402,F401
                     fuse_linear_bn_eval, fuse_linear_bn_weights)
