"""graphc.nn.functional: activations, linear and losses as compositions of graphc ops."""
from __future__ import annotations

from ..functions import (gelu, log_softmax, relu, sigmoid, softmax, tanh)  # noqa: F401
from .. import functions as G
from ..tensor import Tensor, check


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b with W of shape (out_features, in_features), as torch.nn.functional.linear."""
    x = G._t(x)
    check(x.ndim >= 1, f"linear: input must have at least 1 dim, got {x.type}")
    check(x.shape[-1] == weight.shape[-1],
          f"linear: input {x.type} has {x.shape[-1]} features but weight {weight.type} expects "
          f"{weight.shape[-1]} (in_features)")
    check(x.dtype == weight.dtype,
          f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}; "
          f"convert the input (e.g. x.astype(np.{weight.dtype.np}))")
    x2 = G.unsqueeze(x, 0) if x.ndim == 1 else x
    from ..tensor import apply
    y = apply("matmul", x2, weight, transpose_b=True)
    if bias is not None:
        y = y + bias
    return G.squeeze(y, 0) if x.ndim == 1 else y


def _reduce(loss: Tensor, reduction: str, what: str) -> Tensor:
    if reduction == "mean":
        return G.mean(loss)
    if reduction == "sum":
        return G.sum(loss)
    check(reduction == "none", f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return loss


def _same_shape(a: Tensor, b: Tensor, what: str) -> None:
    check(a.shape == b.shape, f"{what}: input {a.type} and target {b.type} must have the same shape")


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Squared error (input - target)**2, reduced by `reduction` ('mean', 'sum' or 'none')."""
    input, target = G._t(input), G._t(target)
    _same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Absolute error |input - target|, reduced by `reduction` ('mean', 'sum' or 'none')."""
    input, target = G._t(input), G._t(target)
    _same_shape(input, target, "l1_loss")
    return _reduce(G.abs(input - target), reduction, "l1_loss")


def nll_loss(input, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` (N,) under log-probabilities (N, C)."""
    input, target = G._t(input), G._t(target)
    _check_class_target(input, target, "nll_loss")
    if input.ndim == 1:
        input, target = G.unsqueeze(input, 0), G.unsqueeze(target, 0)
    picked = G.gather(input, 1, target)
    return _reduce(-picked, reduction, "nll_loss")


def _check_class_target(input: Tensor, target: Tensor, what: str) -> None:
    check(input.ndim in (1, 2), f"{what}: input must be (N, C) or (C,), got {input.type}")
    check(target.dtype.is_int,
          f"{what}: target {target.type} must hold integer class indices (int64); got "
          f"{target.dtype}. Pass labels as an int64 array (or class probabilities of input's shape)")
    check(target.shape == input.shape[:-1],
          f"{what}: target {target.type} must have shape {list(input.shape[:-1])} for input "
          f"{input.type}")


def cross_entropy(input, target, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax + nll_loss for class indices, or soft cross-entropy for class probabilities."""
    input, target = G._t(input), G._t(target)
    logp = log_softmax(input, dim=-1)
    if target.dtype.is_float:
        check(target.shape == input.shape,
              f"cross_entropy: target {target.type} is {target.dtype}, so it is read as class "
              f"probabilities and must have input {input.type}'s shape; for class indices pass an "
              f"int64 target of shape {list(input.shape[:-1])} (e.g. y.astype(np.int64))")
        if label_smoothing:  # as torch: smooth the probabilities towards uniform
            target = target * (1.0 - label_smoothing) + label_smoothing / input.shape[-1]
        return _reduce(-G.sum(target * logp, -1), reduction, "cross_entropy")
    _check_class_target(input, target, "cross_entropy")
    loss = nll_loss(logp, target, reduction="none")
    if label_smoothing:
        smooth = -G.mean(logp, -1)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    return _reduce(loss, reduction, "cross_entropy")


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula, as PyTorch computes it."""
    x, y = G._t(input), G._t(target)
    _same_shape(x, y, "binary_cross_entropy_with_logits")
    check(y.dtype.is_float, f"binary_cross_entropy_with_logits: target must be float, got {y.dtype}")
    softplus_neg = G.log1p(G.exp(-G.abs(x))) + G.maximum(-x, 0.0)   # log(1 + e^-x), stable
    if pos_weight is None:
        loss = (1.0 - y) * x + softplus_neg
    else:
        loss = (1.0 - y) * x + (1.0 + (G._t(pos_weight) - 1.0) * y) * softplus_neg
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _check_p(p, what: str) -> float:
    from ..errors import InputError
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise InputError(f"{what} probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _keep_mask(x: Tensor, p: float, shape) -> Tensor:
    """1.0 with probability 1 - p, else 0.0, of `shape` in x's dtype (a Philox draw)."""
    from .. import random as R
    u = R.draw(tuple(shape), x.dtype, "uniform")
    return G.cast(u >= p, x.dtype)


def _dropout(x, p: float, training: bool, inplace: bool, what: str, channel_dims=None) -> Tensor:
    p = _check_p(p, what)
    x = G._t(x)
    if not training or p == 0.0:
        return x
    check(x.dtype.is_float, f"{what} needs a float tensor, got {x.dtype}")
    if p == 1.0:
        out = x * 0.0
    else:
        shape = x.shape if channel_dims is None else \
            tuple(x.shape[:channel_dims]) + (1,) * (x.ndim - channel_dims)
        out = x * (_keep_mask(x, p, shape) * (1.0 / (1.0 - p)))
    return x._assign(out) if inplace else out


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training); identity
    otherwise. The mask is a Philox draw from the default generator (fresh on each call)."""
    return _dropout(x, p, training, inplace, "dropout")


def _feature_dims(x, batched_ndim: int, what: str) -> int:
    """How many leading dims a channel-wise mask spans: (N, C) for batched input, (C,) else."""
    x = G._t(x)
    check(x.ndim in (batched_ndim - 1, batched_ndim),
          f"{what} expects a {batched_ndim - 1}-D or {batched_ndim}-D input, got {x.ndim}-D")
    return 2 if x.ndim == batched_ndim else 1


def dropout1d(x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability p (torch's Dropout1d)."""
    return _dropout(x, p, training, inplace, "dropout1d", _feature_dims(x, 3, "dropout1d"))


def dropout2d(x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability p (Dropout2d).

    As torch, a 3-D input is taken as (N, C, L) (channel-wise 1-D dropout)."""
    x = G._t(x)
    check(x.ndim in (3, 4), f"dropout2d expects a 3-D or 4-D input, got {x.ndim}-D")
    return _dropout(x, p, training, inplace, "dropout2d", 2)


_SELU_ALPHA = 1.7580993408473766   # -SELU's negative saturation (lambda * alpha), as ATen


def alpha_dropout(x, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout keeping SELU's self-normalisation (ATen's formula): a kept element becomes
    a*x + b, a dropped one a*(-alpha') + b, with a = 1/sqrt((alpha'^2 p + 1)(1 - p))."""
    p = _check_p(p, "alpha_dropout")
    x = G._t(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        out = x * 0.0
    else:
        keep = _keep_mask(x, p, x.shape)
        a = 1.0 / ((_SELU_ALPHA ** 2 * p + 1.0) * (1.0 - p)) ** 0.5
        b = (keep - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
        out = x * (keep * a) + b
    return x._assign(out) if inplace else out

from ..shape_ops import pad  # noqa: F401,E402  (torch.nn.functional.pad: all four modes)
from ..unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
