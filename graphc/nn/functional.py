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


def dropout(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Identity when not training; train-mode dropout is not implemented yet and raises."""
    if not training or p == 0.0:
        return x
    from ..errors import GraphcError
    raise GraphcError(f"dropout with p={p} in training mode is not supported yet; call model.eval() "
                      "or use p=0 (graphc will not silently skip it)")
