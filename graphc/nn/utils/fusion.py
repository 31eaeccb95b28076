"""Folding an eval-mode BatchNorm into the Conv or Linear before it, as torch.nn.utils.fusion.

    w' = w * (gamma / sqrt(running_var + eps))      per output channel
    b' = (b - running_mean) / sqrt(running_var + eps) * gamma + beta

computed in the weights' dtype with torch's operation order (rsqrt is 1 / sqrt, as torch's CPU
kernel), so the folded parameters equal torch's bit for bit.
"""
from __future__ import annotations

import copy

import numpy as np

from ...errors import GraphcError
from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def _arr(t):
    return None if t is None else np.asarray(t.detach().numpy())


def _check_eval(a, bn, what: str) -> None:
    if a.training or bn.training:
        raise GraphcError(f"{what}({type(a).__name__}, {type(bn).__name__}): fusion only for "
                          "eval! Call .eval() on both modules first (fuse_modules_qat fuses "
                          "training modules)")
    if bn.running_mean is None or bn.running_var is None:
        raise GraphcError(f"{what}: {type(bn).__name__} has no running statistics "
                          "(track_running_stats=False): nothing to fold into the weights")


def fuse_conv_bn_eval(conv, bn, transpose: bool = False):
    """A new conv module (a deep copy of `conv`) with `bn`'s eval-mode transform folded into
    its weight and bias; both modules must be in eval mode."""
    _check_eval(conv, bn, "fuse_conv_bn_eval")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """(weight, bias) Parameters of the conv with the BatchNorm folded in (torch's formula;
    `transpose` for ConvTranspose, whose output channels are the weight's dim 1)."""
    w, rm, rv = _arr(conv_w), _arr(bn_rm), _arr(bn_rv)
    b = _arr(conv_b) if conv_b is not None else np.zeros_like(rm)
    b_dtype = b.dtype if conv_b is not None else w.dtype
    gamma = _arr(bn_w) if bn_w is not None else np.ones_like(rm)
    beta = _arr(bn_b) if bn_b is not None else np.zeros_like(rm)
    if rm.shape[0] != w.shape[1 if transpose else 0]:
        raise GraphcError(f"fuse_conv_bn_weights: BatchNorm has {rm.shape[0]} features, the "
                          f"conv weight {list(w.shape)} has {w.shape[1 if transpose else 0]} "
                          "output channels")
    rsqrt = (1 / np.sqrt(rv + rv.dtype.type(bn_eps))).astype(rv.dtype)
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (w.ndim - 2)
    fw = (w * (gamma * rsqrt).reshape(shape)).astype(w.dtype)
    fb = ((b - rm) * rsqrt * gamma + beta).astype(b_dtype)
    return (Parameter(fw, conv_w.requires_grad),
            Parameter(fb, conv_b.requires_grad if conv_b is not None else True))


def fuse_linear_bn_eval(linear, bn):
    """A new Linear (a deep copy of `linear`) with `bn`'s eval-mode transform folded in; bn has
    linear.out_features features (or 1)."""
    _check_eval(linear, bn, "fuse_linear_bn_eval")
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise GraphcError(
            "fuse_linear_bn_eval: to fuse, linear.out_features == bn.num_features or "
            f"bn.num_features == 1, got linear.out_features={linear.out_features} and "
            f"bn.num_features={bn.num_features}")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w,
                           bn_b) -> tuple[Parameter, Parameter]:
    """(weight, bias) Parameters of the Linear with the BatchNorm folded in (torch's formula)."""
    w, rm, rv = _arr(linear_w), _arr(bn_rm), _arr(bn_rv)
    b = _arr(linear_b) if linear_b is not None else np.zeros_like(rm)
    scale = _arr(bn_w) * (1 / np.sqrt(rv + rv.dtype.type(bn_eps))).astype(rv.dtype)
    fw = w * scale[:, None].astype(w.dtype)
    fb = ((b - rm) * scale + _arr(bn_b)).astype(b.dtype)
    return (Parameter(fw, linear_w.requires_grad),
            Parameter(fb, linear_b.requires_grad if linear_b is not None else True))
