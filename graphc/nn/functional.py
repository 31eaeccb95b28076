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


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` (N,) under log-probabilities (N, C),
    with torch's class `weight` (weighted mean) and `ignore_index` (default -100)."""
    if isinstance(weight, str):   # graphc's older nll_loss(input, target, reduction)
        weight, reduction = None, weight
    input, target = G._t(input), G._t(target)
    _check_class_target(input, target, "nll_loss")
    if input.ndim == 1:
        input, target = G.unsqueeze(input, 0), G.unsqueeze(target, 0)
        loss = _weighted_nll(input, target, weight, ignore_index, reduction)
        return G.squeeze(loss, 0) if reduction == "none" else loss
    return _weighted_nll(input, target, weight, ignore_index, reduction)


def _needs_mask(target: Tensor, weight, ignore_index: int) -> bool:
    """Whether the weighted/ignoring formula is needed. A traced target with torch's default
    ignore_index and no weight keeps the plain gather (its graph unchanged): labels equal to
    -100 then fail graphc's index check instead of being ignored; pass weight= or another
    ignore_index to mask in a compiled step."""
    if weight is not None or ignore_index != -100:
        return True
    if target.is_traced:
        return False
    import numpy as _np
    return bool(_np.any(_np.asarray(target.numpy()) == ignore_index))


def _masked_target(input: Tensor, target: Tensor, weight, ignore_index: int):
    """(safe target, per-sample weight w_n: weight[target] or 1, 0 where target == ignore_index)."""
    keep = target != ignore_index
    safe = G.where(keep, target, 0)
    w = G.cast(keep, input.dtype)
    if weight is not None:
        weight = G._t(weight)
        check(weight.ndim == 1 and weight.shape[0] == input.shape[-1],
              f"weight tensor should be defined either for all {input.shape[-1]} classes or no "
              f"classes but got weight tensor of shape: {list(weight.shape)}")
        w = w * G.gather(G.broadcast_to(G.cast(weight, input.dtype), input.shape), 1, safe)
    return safe, w


def _weighted_nll(input: Tensor, target: Tensor, weight, ignore_index: int,
                  reduction: str) -> Tensor:
    if not _needs_mask(target, weight, ignore_index):
        picked = G.gather(input, 1, target)
        return _reduce(-picked, reduction, "nll_loss")
    safe, w = _masked_target(input, target, weight, ignore_index)
    loss = -G.gather(input, 1, safe) * w
    if reduction == "mean":   # torch: sum of w_n * loss_n over the sum of w_n
        return G.sum(loss) / G.sum(w)
    return _reduce(loss, reduction, "nll_loss")


def _check_class_target(input: Tensor, target: Tensor, what: str) -> None:
    check(input.ndim in (1, 2), f"{what}: input must be (N, C) or (C,), got {input.type}")
    check(target.dtype.is_int,
          f"{what}: target {target.type} must hold integer class indices (int64); got "
          f"{target.dtype}. Pass labels as an int64 array (or class probabilities of input's shape)")
    check(target.shape == input.shape[:-1],
          f"{what}: target {target.type} must have shape {list(input.shape[:-1])} for input "
          f"{input.type}")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax + nll_loss for class indices, or soft cross-entropy for class probabilities,
    with torch's class `weight`, `ignore_index` and `label_smoothing` formulas."""
    if isinstance(weight, str):   # graphc's older cross_entropy(input, target, reduction, ls)
        weight, reduction = None, weight
        if isinstance(size_average, (int, float)) and not isinstance(size_average, bool):
            label_smoothing, size_average = size_average, None
    input, target = G._t(input), G._t(target)
    logp = log_softmax(input, dim=-1)
    if target.dtype.is_float:
        check(target.shape == input.shape,
              f"cross_entropy: target {target.type} is {target.dtype}, so it is read as class "
              f"probabilities and must have input {input.type}'s shape; for class indices pass an "
              f"int64 target of shape {list(input.shape[:-1])} (e.g. y.astype(np.int64))")
        if label_smoothing:  # as torch: smooth the probabilities towards uniform
            target = target * (1.0 - label_smoothing) + label_smoothing / input.shape[-1]
        if weight is not None:
            logp = logp * G.cast(G._t(weight), logp.dtype)
        return _reduce(-G.sum(target * logp, -1), reduction, "cross_entropy")
    _check_class_target(input, target, "cross_entropy")
    if _needs_mask(target, weight, ignore_index):
        one = input.ndim == 1
        lp, tg = (G.unsqueeze(logp, 0), G.unsqueeze(target, 0)) if one else (logp, target)
        loss = _weighted_nll(lp, tg, weight, ignore_index, reduction)
        if label_smoothing:   # ATen's formula (LossNLL.cpp cross_entropy_loss_label_smoothing)
            safe, w = _masked_target(lp, tg, weight, ignore_index)
            keep = G.cast(tg != ignore_index, lp.dtype)
            wl = lp if weight is None else lp * G.cast(G._t(weight), lp.dtype)
            smooth = -G.sum(wl, -1) * keep
            if reduction == "mean":
                smooth = G.sum(smooth) / G.sum(w)
            elif reduction == "sum":
                smooth = G.sum(smooth)
            loss = (1.0 - label_smoothing) * loss + smooth * (label_smoothing / input.shape[-1])
        return G.squeeze(loss, 0) if one and reduction == "none" else loss
    loss = nll_loss(logp, target, reduction="none")
    if label_smoothing:
        smooth = -G.mean(logp, -1)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    return _reduce(loss, reduction, "cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula, as PyTorch computes it, with
    torch's element `weight` and `pos_weight` (weight of the positive term, per class)."""
    if isinstance(weight, str):   # graphc's older (input, target, reduction, pos_weight)
        weight, reduction = None, weight
        if size_average is not None and not isinstance(size_average, bool):
            pos_weight, size_average = size_average, None
    x, y = G._t(input), G._t(target)
    _same_shape(x, y, "binary_cross_entropy_with_logits")
    check(y.dtype.is_float, f"binary_cross_entropy_with_logits: target must be float, got {y.dtype}")
    softplus_neg = G.log1p(G.exp(-G.abs(x))) + G.maximum(-x, 0.0)   # log(1 + e^-x), stable
    if pos_weight is None:
        loss = (1.0 - y) * x + softplus_neg
    else:
        loss = (1.0 - y) * x + (1.0 + (G._t(pos_weight) - 1.0) * y) * softplus_neg
    if weight is not None:
        loss = loss * G._t(weight)
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


# ---- activations (compositions; each `inplace=True` writes its result into x) ---------------------

from .. import math_ops as _M  # noqa: E402

_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA0 = 1.6732632423543772848170429916717


def _out(x: Tensor, out: Tensor, inplace: bool) -> Tensor:
    return x._assign(out) if inplace else out


def _fl(x) -> Tensor:
    return G._float(G._t(x))


def _stable_sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), each branch fed only arguments where its exp does not overflow."""
    pos = x >= 0
    e = G.exp(-G.where(pos, x, 0.0))      # e^-x for x >= 0
    n = G.exp(G.where(pos, 0.0, x))       # e^x for x < 0
    return G.where(pos, 1.0 / (1.0 + e), n / (1.0 + n))


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    x = G._t(input)
    return _out(x, G.where(x > 0, x, x * negative_slope), inplace)


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^x - 1)."""
    x = _fl(input)
    neg = alpha * _M.expm1(G.where(x > 0, 0.0, x))
    return _out(G._t(input), G.where(x > 0, x, neg), inplace)


def selu(input, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with SELU's constants (self-normalising)."""
    x = G._t(input)
    return _out(x, _SELU_SCALE * elu(x, _SELU_ALPHA0), inplace)


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (e^(x/alpha) - 1)."""
    x = _fl(input)
    neg = alpha * _M.expm1(G.where(x > 0, 0.0, x) * (1.0 / alpha))
    return _out(G._t(input), G.where(x > 0, x, neg), inplace)


def silu(input, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish)."""
    x = _fl(input)
    return _out(G._t(input), x * _stable_sigmoid(x), inplace)


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta * x > threshold (as torch)."""
    x = _fl(input)
    big = x * beta > threshold
    xs = G.where(big, 0.0, x)
    return G.where(big, x, G.log1p(G.exp(xs * beta)) * (1.0 / beta))


def mish(input, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    x = _fl(input)
    return _out(G._t(input), x * G.tanh(softplus(x)), inplace)


def softsign(input) -> Tensor:
    """x / (1 + |x|)."""
    x = _fl(input)
    return x / (1.0 + G.abs(x))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped into [min_val, max_val]; the gradient is 0 at and beyond the bounds (as torch)."""
    x = G._t(input)
    check(max_val >= min_val, f"hardtanh: max_val ({max_val}) must be at least min_val ({min_val})")
    out = G.where(x <= min_val, min_val, G.where(x >= max_val, max_val, x))
    return _out(x, G.cast(out, x.dtype), inplace)


def relu6(input, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    x = _fl(input)
    out = G.where(x <= -3.0, 0.0, G.where(x >= 3.0, 1.0, (x + 3.0) / 6.0))
    return _out(G._t(input), out, inplace)


def hardswish(input, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    x = _fl(input)
    out = x * G.where(x <= -3.0, 0.0, G.where(x >= 3.0, 1.0, (x + 3.0) / 6.0))
    return _out(G._t(input), out, inplace)


def logsigmoid(input) -> Tensor:
    """log(sigmoid(x)), stable: x - log(1 + e^x) for x < 0, -log(1 + e^-x) otherwise."""
    x = _fl(input)
    neg = x < 0
    xa = G.where(neg, x, 0.0)
    xb = G.where(neg, 0.0, x)
    return G.where(neg, xa - G.log1p(G.exp(xa)), -G.log1p(G.exp(-xb)))


def _half(x: Tensor, dim: int, which: int) -> Tensor:
    h = x.shape[dim] // 2
    idx = (slice(None),) * dim + (slice(which * h, (which + 1) * h),)
    return x[idx]


def glu(input, dim: int = -1) -> Tensor:
    """a * sigmoid(b) with a, b the two halves of x along `dim`."""
    x = G._t(input)
    check(x.ndim > 0, "glu does not support scalars because halving size must be even")
    d = G._dim(dim, x.ndim)
    check(x.shape[d] % 2 == 0,
          f"Halving dimension must be even, but dimension {d} is size {x.shape[d]}")
    return _half(x, d, 0) * _stable_sigmoid(_fl(_half(x, d, 1)))


def prelu(input, weight) -> Tensor:
    """x if x > 0 else weight * x, weight per channel (dim 1) or one shared value."""
    x, w = G._t(input), G._t(weight)
    if w.numel() > 1:
        check(x.ndim >= 2 and x.shape[1] == w.numel() if x.ndim >= 2 else x.shape[0] == w.numel(),
              f"prelu: weight has {w.numel()} parameters but input {x.type} has "
              f"{x.shape[1] if x.ndim >= 2 else (x.shape[0] if x.ndim else 1)} channels")
        if x.ndim >= 2:
            w = G.reshape(w, (1, w.numel()) + (1,) * (x.ndim - 2))
    elif x.ndim == 0:
        w = G.reshape(w, ())
    return G.where(x > 0, x, w * x)


def tanhshrink(input) -> Tensor:
    """x - tanh(x)."""
    x = _fl(input)
    return x - G.tanh(x)


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, dtype=None) -> Tensor:
    """softmax(-x) along `dim` (None: torch's implicit choice, 0 for 0-, 1- and 3-d input)."""
    x = G._t(input)
    if dtype is not None:
        x = G.cast(x, dtype)
    return softmax(-_fl(x), _softmax_dim(x.ndim) if dim is None else dim)


def hardshrink(input, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    x = G._t(input)
    return G.where((x >= -lambd) & (x <= lambd), 0.0, x)  # NaN stays NaN


def softshrink(input, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    x = G._t(input)
    return G.where(x > lambd, x - lambd, G.where(x < -lambd, x + lambd, G.where(x != x, x, 0.0)))


def threshold(input, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: F811
    """x where x > threshold, else value."""
    x = G._t(input)
    return _out(x, G.where(x <= threshold, value, x), inplace)  # NaN stays NaN


def elu_(input, alpha: float = 1.0) -> Tensor:
    """In place elu."""
    return elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope: float = 0.01) -> Tensor:
    """In place leaky_relu."""
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In place hardtanh."""
    return hardtanh(input, min_val, max_val, inplace=True)


# ---- more losses (torch's formulas, reductions 'mean', 'sum', 'none') -----------------------------

def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """-w (y log x + (1 - y) log(1 - x)) of probabilities x, each log clamped to >= -100 (torch)."""
    x, y = G._t(input), G._t(target)
    _same_shape(x, y, "binary_cross_entropy")
    check(y.dtype.is_float, f"binary_cross_entropy: target must be float, got {y.dtype}")
    loss = -(y * G.maximum(G.log(x), -100.0) + (1.0 - y) * G.maximum(G.log(1.0 - x), -100.0))
    if weight is not None:
        loss = loss * G._t(weight)
    return _reduce(loss, reduction, "binary_cross_entropy")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0: L1."""
    input, target = G._t(input), G._t(target)
    _same_shape(input, target, "smooth_l1_loss")
    check(beta >= 0, "smooth_l1_loss does not support negative values for beta.")
    d = G.abs(input - target)
    if beta == 0.0:
        return _reduce(d, reduction, "smooth_l1_loss")
    return _reduce(G.where(d < beta, (0.5 / beta) * d * d, d - 0.5 * beta), reduction,
                   "smooth_l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), as torch.nn.functional.huber_loss."""
    input, target = G._t(input), G._t(target)
    _same_shape(input, target, "huber_loss")
    check(delta > 0, "huber_loss does not support non-positive values for delta.")
    d = G.abs(input - target)
    loss = G.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * G._t(weight)
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """target * (log target - input) pointwise (input: log-probabilities), as torch; reduction
    'batchmean' divides the sum by the batch size input.size(0)."""
    x, t = G._t(input), G._t(target)
    if log_target:
        loss = G.exp(t) * (t - x)
    else:   # xlogy(t, t) - t * x, with 0 log 0 = 0
        pos = t > 0
        loss = G.where(pos, t * G.log(G.where(pos, t, 1.0)), 0.0) - t * x
    if reduction == "batchmean":
        return G.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def soft_margin_loss(input, target, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) (stable), as torch.nn.functional.soft_margin_loss."""
    x, y = G._t(input), G._t(target)
    _same_shape(x, y, "soft_margin_loss")
    z = -y * x
    return _reduce(G.log1p(G.exp(-G.abs(z))) + G.maximum(z, 0.0), reduction, "soft_margin_loss")


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1/max(|x1|, eps) * x2/max(|x2|, eps)) along dim (ATen's formula), broadcasting."""
    x1, x2 = G._t(x1), G._t(x2)
    n1 = G.maximum(G.sqrt(G.sum(x1 * x1, dim, keepdim=True)), eps)
    n2 = G.maximum(G.sqrt(G.sum(x2 * x2, dim, keepdim=True)), eps)
    return G.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dim, as torch.nn.functional.pairwise_distance."""
    x1, x2 = G._t(x1), G._t(x2)
    d = G.abs(x1 - x2 + eps)
    if p == 2:
        return G.sqrt(G.sum(d * d, -1, keepdim=keepdim))
    if p == 1:
        return G.sum(d, -1, keepdim=keepdim)
    if p == float("inf"):
        return G.amax(d, -1, keepdim=keepdim)
    return G.sum(d ** p, -1, keepdim=keepdim) ** (1.0 / p)


def relu(input, inplace: bool = False) -> Tensor:  # noqa: F811
    """max(x, 0) (graphc.relu), written into x when `inplace`."""
    x = G._t(input)
    return _out(x, G.relu(x), inplace)


def relu_(input) -> Tensor:  # noqa: F811
    """In place relu."""
    return relu(input, inplace=True)


def selu_(input) -> Tensor:
    """In place selu."""
    return selu(input, inplace=True)


def celu_(input, alpha: float = 1.0) -> Tensor:
    """In place celu."""
    return celu(input, alpha, inplace=True)


def threshold_(input, threshold: float, value: float) -> Tensor:  # noqa: F811
    """In place threshold."""
    return globals()["threshold"](input, threshold, value, inplace=True)


def _install_activation_methods() -> None:
    """The activations torch also has as Tensor methods (x.prelu(w), x.hardshrink(l), x.relu_())."""
    for name, fn in (("prelu", prelu), ("hardshrink", hardshrink), ("relu_", relu_)):
        if name not in Tensor.__dict__:
            setattr(Tensor, name, fn)


_install_activation_methods()
