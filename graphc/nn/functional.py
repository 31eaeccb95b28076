"""graphc.nn.functional: activations, linear and losses as compositions of graphc ops."""
from __future__ import annotations

import warnings

from ..functions import (gelu, log_softmax, one_hot, relu, sigmoid, softmax, tanh)  # noqa: F401
from .. import functions as G
from .. import qdispatch
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


from ..tensor import apply as _apply  # noqa: E402  (the loss ops below are primitives)


def _class_last(x: Tensor) -> Tensor:
    """x with its class dim (1, or 0 for an unbatched (C,) input) moved last: (N, d1.., C)."""
    return x if x.ndim <= 2 else G.permute(x, (0,) + tuple(range(2, x.ndim)) + (1,))


def _check_class_target(input: Tensor, target: Tensor, what: str) -> None:
    check(input.ndim >= 1, f"{what}: input must be (C,), (N, C) or (N, C, d1, ...), got {input.type}")
    check(target.dtype.is_int,
          f"{what}: target {target.type} must hold integer class indices (int64); got "
          f"{target.dtype}. Pass labels as an int64 array (or class probabilities of input's shape)")
    want = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if input.ndim == 2 and target.ndim == 1:
        check(target.shape == want, f"{what}: Expected input batch_size ({input.shape[0]}) to "
                                    f"match target batch_size ({target.shape[0]}) (input "
                                    f"{input.type}, target {target.type})")
    check(target.shape == want,
          f"{what}: Expected target size {list(want)}, got {list(target.shape)} for input "
          f"{input.type} (class dim {1 if input.ndim >= 2 else 0})")


def _needs_mask(weight, reduction: str, what: str) -> None:
    """Argument checks shared by the index-target losses (the mask itself is always applied:
    take_class gives 0 at ignore_index, in every mode)."""
    check(reduction in ("mean", "sum", "none"),
          f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _masked_target(input: Tensor, target: Tensor, weight, ignore_index: int):
    """(keep: target != ignore_index, per-position weight w_n: weight[target] (0 where ignored)
    or None without weight=)."""
    from ..ir.ops.loss import class_index_dtype
    dt = class_index_dtype(input.dtype, input.shape[-1])
    if dt is None:
        keep = target != ignore_index
    else:   # the cast take_class's gradient compares in (exact: labels are < 2**24 or 2**53)
        keep = G.cast(target, dt) != G.cast(G.tensor(ignore_index), dt)
    if weight is None:
        return keep, None
    weight = G._t(weight)
    c = input.shape[-1]
    check(weight.ndim == 1 and weight.shape[0] == c,
          f"weight tensor should be defined either for all {c} classes or no classes but got "
          f"weight tensor of shape: {list(weight.shape)}")
    w = G.cast(weight, input.dtype).detach()   # torch: no gradient flows into weight
    return keep, _apply("take_class", w, target, ignore=int(ignore_index))


def _weighted_nll(nll: Tensor, keep: Tensor, w, reduction: str) -> Tensor:
    """torch's reductions of per-position losses `nll` (class-last layout, target's shape): 0
    where ignored, weighted by w_n, 'mean' = sum(w_n nll_n) / sum(w_n) (NaN when all ignored)."""
    if w is not None:
        nll = nll * w
    loss = G.where(keep, nll, 0.0)
    if reduction == "mean":
        return G.sum(loss) / G.sum(G.cast(keep, nll.dtype) if w is None else w)
    return G.sum(loss) if reduction == "sum" else loss


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` under log-probabilities `input` ((C,),
    (N, C) or (N, C, d1, ...)), with torch's class `weight` (weighted mean) and `ignore_index`."""
    if isinstance(weight, str):   # graphc's older nll_loss(input, target, reduction)
        weight, reduction = None, weight
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input, target = G._t(input), G._t(target)
    _check_class_target(input, target, "nll_loss")
    _needs_mask(weight, reduction, "nll_loss")
    x = _class_last(input)
    keep, w = _masked_target(x, target, weight, ignore_index)
    return _weighted_nll(-_apply("take_class", x, target, ignore=int(ignore_index)), keep, w,
                         reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax + nll_loss for class indices, or soft cross-entropy for class probabilities
    (input (C,), (N, C) or (N, C, d1, ...), class dim 1), with torch's class `weight`,
    `ignore_index` (masked in every mode) and `label_smoothing` formulas.

    Class indices: loss_n = lse(x_n) - x_n[t_n] (graphc.ir.ops.loss: `xent`, and `xent_grad`
    for its gradient), so no log_softmax is materialised and the logits are read once forward
    and once backward."""
    if isinstance(weight, str):   # graphc's older cross_entropy(input, target, reduction, ls)
        weight, reduction = None, weight
        if isinstance(size_average, (int, float)) and not isinstance(size_average, bool):
            label_smoothing, size_average = size_average, None
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input, target = G._t(input), G._t(target)
    check(input.ndim >= 1, f"cross_entropy: input must be (C,), (N, C) or (N, C, d1, ...), got "
                           f"{input.type}")
    check(0.0 <= label_smoothing <= 1.0,
          f"cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    _needs_mask(weight, reduction, "cross_entropy")
    x = _class_last(G._float(input))
    c = x.shape[-1]
    if target.dtype.is_float:
        check(target.shape == input.shape,
              f"cross_entropy: target {target.type} is {target.dtype}, so it is read as class "
              f"probabilities and must have input {input.type}'s shape; for class indices pass an "
              f"int64 target of shape {list(input.shape[:1] + input.shape[2:])} "
              f"(e.g. y.astype(np.int64))")
        p = _class_last(target)
        if label_smoothing:  # as torch: smooth the probabilities towards uniform
            p = p * (1.0 - label_smoothing) + label_smoothing / c
        logp = x - G.unsqueeze(_apply("lse", x), -1)
        if weight is not None:
            logp = logp * G.cast(G._t(weight), logp.dtype).detach()
        return _reduce(-G.sum(p * logp, -1), reduction, "cross_entropy")
    _check_class_target(input, target, "cross_entropy")
    keep, w = _masked_target(x, target, weight, ignore_index)
    if not label_smoothing:   # one kernel per row forward (xent), one backward (xent_grad)
        nll = _apply("xent", x, target, ignore=int(ignore_index))
        return _weighted_nll(nll, keep, w, reduction)
    lse = _apply("lse", x)
    nll = lse - _apply("take_class", x, target, ignore=int(ignore_index))
    loss = _weighted_nll(nll, keep, w, reduction)
    # ATen's cross_entropy_loss_label_smoothing: sum_c w_c (lse - x_c), masked, same denominator
    if weight is None:
        smooth = lse * float(c) - G.sum(x, -1)
    else:
        wc = G.cast(G._t(weight), x.dtype).detach()
        smooth = lse * G.sum(wc) - G.sum(x * wc, -1)
    smooth = _weighted_nll(smooth, keep, None, "none" if reduction == "none" else "sum")
    if reduction == "mean":
        smooth = smooth / G.sum(G.cast(keep, x.dtype) if w is None else w)
    return (1.0 - label_smoothing) * loss + smooth * (label_smoothing / c)


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
    if qdispatch.quantized(x) and (not training or p == 0.0):
        return x   # identity, as torch's dropout of a quantized tensor in eval mode
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

    As torch, with its warnings: a 3-D input is taken as (N, C, L) (channel-wise 1-D dropout);
    any other rank is deprecated and masks the first two dims (a 2-D (N, C) input: every
    element on its own, as plain dropout)."""
    x = G._t(x)
    if x.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _dropout(x, p, training, inplace, "dropout2d", min(2, max(1, x.ndim)))


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


def relu(input, inplace: bool = False) -> Tensor:  # noqa: F811
    """max(x, 0) (graphc.relu), written into x when `inplace`."""
    if qdispatch.quantized(input):
        return input.relu_() if inplace else qdispatch.call("relu", input)
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


# ---- losses beyond cross-entropy: torch's formulas, argument checks and reductions ------------
# Every function takes torch's arguments (the legacy size_average=/reduce= pair included) and is a
# composition of graphc ops, so it runs eagerly and compiled and its gradient comes from the ops'
# rules; where torch's gradient differs from the composition's (a clamp done under no_grad, the
# norm's value at 0) the composition is written so that the two agree.

import math as _math
import warnings as _warnings

import numpy as _np

from .. import dtypes as _dt
from ..errors import ExecutionError as _ExecutionError
from ..errors import GraphcWarning as _GraphcWarning
from ..errors import ShapeError as _ShapeError
from ..tensor import apply as _apply

_REDUCTIONS = ("none", "mean", "sum")
_ATEN_EPSILON = float(_np.float32(1e-12))   # Loss.cpp's `constexpr float EPSILON = 1e-12`
_KL_MEAN_WARNING = (
    "reduction: 'mean' divides the total loss by both the batch size and the support size."
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
    "'mean' will be changed to behave the same as 'batchmean' in the next major release.")


def _fail(cls, msg: str):
    """Raise `cls` (a GraphcError) with msg and the user's line."""
    from ..driver.tracing import user_where
    raise cls(f"{msg} (at {user_where()})")


def _warn(msg: str) -> None:
    """A GraphcWarning (a UserWarning) reported at the user's line, as torch's warnings are."""
    from ..driver.tracing import user_frame
    f = user_frame(2)
    if f is None:
        _warnings.warn(msg, _GraphcWarning, stacklevel=3)
        return
    g = f.f_globals
    _warnings.warn_explicit(msg, _GraphcWarning, f.f_code.co_filename, f.f_lineno,
                            module=g.get("__name__") or "<graphc>",
                            registry=g.setdefault("__warningregistry__", {}))


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """torch's _Reduction.legacy_get_string: the deprecated pair overrides reduction (with
    torch's deprecation warning); both None keeps reduction."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    out = ("mean" if size_average else "sum") if reduce else "none"
    _warn(f"size_average and reduce args will be deprecated, please use reduction='{out}' "
          "instead.")
    return out


def _reduction(size_average, reduce, reduction, what: str, allowed=_REDUCTIONS) -> str:
    """The effective reduction, checked; a string in size_average's place is graphc's older
    positional `loss(input, target, reduction)`."""
    if isinstance(size_average, str):
        size_average, reduction = None, size_average
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check(reduction in allowed, f"{what}: {reduction!r} is not a valid value for reduction "
                                f"(expected one of {', '.join(map(repr, allowed))})")
    return reduction


def _bshape(what: str, **named) -> tuple:
    """The broadcast shape of the named tensors, or a ShapeError naming each shape."""
    try:
        return tuple(_np.broadcast_shapes(*(t.shape for t in named.values())))
    except ValueError:
        shapes = ", ".join(f"{k} {v.type}" for k, v in named.items())
        check(False, f"{what}: the shapes of {shapes} do not broadcast")


def _fits(what: str, small: Tensor, name: str, shape: tuple, into: str) -> None:
    """`small` must broadcast to `shape` without growing it (torch's in-place broadcast rule)."""
    try:
        ok = tuple(_np.broadcast_shapes(small.shape, shape)) == tuple(shape)
    except ValueError:
        ok = False
    check(ok, f"{what}: {name} {small.type} does not broadcast to {into} shape {list(shape)}")


def _times_weight(loss: Tensor, weight, what: str, shape: tuple, into: str) -> Tensor:
    """loss * weight, where weight must broadcast to `shape` (the `into` operand's) without
    growing it; loss itself without a weight."""
    if weight is None:
        return loss
    w = G._t(weight)
    _fits(what, w, "weight", shape, into)
    return loss * w


def _target_pair(input: Tensor, target: Tensor, what: str) -> None:
    """torch's rule for the pointwise regression losses: a target of another shape is broadcast
    against the input, with torch's warning."""
    if input.shape != target.shape:
        _warn(f"Using a target size ({list(target.shape)}) that is different to the input size "
              f"({list(input.shape)}) in {what}. This will likely lead to incorrect results due "
              "to broadcasting. Please ensure they have the same size.")
        _bshape(what, input=input, target=target)


def _weighted(loss: Tensor, input: Tensor, weight, reduction: str, what: str,
              mean_by_weight: bool) -> Tensor:
    """torch's per-element `weight` (input's shape): 'mean' is sum(w l) / sum(w) (mse, l1) or the
    plain mean of w l (huber)."""
    if weight is None:
        return _reduce(loss, reduction, what)
    w = G._t(weight)
    check(w.shape == input.shape, f"{what}: weight {w.type} and input {input.type} must have the "
                                  "same size")
    loss = loss * w
    if reduction == "mean" and mean_by_weight:
        return G.sum(loss) / G.sum(w)
    return _reduce(loss, reduction, what)


def _concrete(t: Tensor):
    """t's values as a NumPy array when it has them (eagerly), else None (a traced value)."""
    return None if t.is_traced else _np.asarray(t.numpy())


def _clamp0(v: Tensor) -> Tensor:
    """torch.clamp_min(v, 0): NaN kept, and the gradient passes where v >= 0 (ties included)."""
    return G.where(v < 0, 0.0, v)


def _hinge(v: Tensor) -> Tensor:
    """max(0, v) with gradient only where v > 0 (the margin kernels' strict test; NaN gives 0)."""
    return G.where(v > 0, v, 0.0)


def _no_grad_clamp_min(v: Tensor, lo: float) -> Tensor:
    """v clamped to >= lo in value, with v's own gradient (torch's clamp_ under no_grad)."""
    return G.where(v < lo, v - v.detach() + lo, v)


def _vector_norm(x: Tensor, p: float, dim: int, keepdim: bool = False) -> Tensor:
    """torch.linalg.vector_norm over one dim with torch's gradient: 0 where the norm is 0 (and
    for p < 1 at zero entries), shared between ties for p = +-inf, none for p = 0."""
    x = G._float(x)
    a = G.abs(x)
    if p == 0:   # the count of non-zeros; x * 0 (where x is 0) keeps torch's zero gradient
        return G.sum(G.where(x != 0, 1.0, x * 0.0), dim, keepdim=keepdim)
    if p == 1:
        return G.sum(a, dim, keepdim=keepdim)
    if p == _math.inf:
        return G.amax(a, dim, keepdim=keepdim)
    if p == -_math.inf:
        return G.amin(a, dim, keepdim=keepdim)
    if p == 2:
        s = G.sum(x * x, dim, keepdim=keepdim)
    else:
        zero = a == 0   # 0^p is 0 (p > 0) or inf (p < 0), with no gradient
        s = G.sum(G.where(zero, 0.0 if p > 0 else _math.inf, G.where(zero, 1.0, a) ** p), dim,
                  keepdim=keepdim)
    nz = s != 0
    safe = G.where(nz, s, 1.0)
    root = G.sqrt(safe) if p == 2 else safe ** (1.0 / p)
    return G.where(nz, root, 0.0)


# ---- regression and probability losses ----------------------------------------------------------

def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Squared error (input - target)^2, reduced by `reduction`; a target of another shape is
    broadcast with torch's warning; with `weight` (input's shape) 'mean' is sum(w e) / sum(w)."""
    reduction = _reduction(size_average, reduce, reduction, "mse_loss")
    input, target = G._t(input), G._t(target)
    _target_pair(input, target, "mse_loss")
    d = input - target
    return _weighted(d * d, input, weight, reduction, "mse_loss", True)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Absolute error |input - target|, reduced by `reduction`; broadcasting and `weight` as
    mse_loss."""
    reduction = _reduction(size_average, reduce, reduction, "l1_loss")
    input, target = G._t(input), G._t(target)
    _target_pair(input, target, "l1_loss")
    return _weighted(G.abs(input - target), input, weight, reduction, "l1_loss", True)


def binary_cross_entropy(input, target, weight=None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """-w (y log x + (1 - y) log(1 - x)) of probabilities x, each log clamped to >= -100, with
    torch's gradient w (x - y) / max(x (1 - x), 1e-12). Eagerly an x outside [0, 1] is an
    ExecutionError, as torch's; compiled it gives NaN."""
    reduction = _reduction(size_average, reduce, reduction, "binary_cross_entropy")
    x, y = G._t(input), G._t(target)
    check(x.shape == y.shape,
          f"binary_cross_entropy: Using a target size ({list(y.shape)}) that is different to the "
          f"input size ({list(x.shape)}) is deprecated. Please ensure they have the same size.")
    check(y.dtype.is_float, f"binary_cross_entropy: target must be float, got {y.dtype}")
    a = _concrete(x)
    if a is not None and not ((a >= 0) & (a <= 1)).all():
        _fail(_ExecutionError, "binary_cross_entropy: all elements of input should be between "
              f"0 and 1 (input {x.type} has values in [{_np.nanmin(a)}, {_np.nanmax(a)}]"
              f"{', and NaN' if _np.isnan(a).any() else ''})")
    xs = x.detach()
    loss = (y - 1.0) * G.maximum(G.log(1.0 - xs), -100.0) - y * G.maximum(G.log(xs), -100.0)
    if x.requires_grad or x.is_traced:   # torch's input gradient, not the clamped logs'
        g = ((xs - y) / G.maximum((1.0 - xs) * xs, _ATEN_EPSILON)).detach()
        loss = loss + (x - xs) * g
    loss = _times_weight(loss, weight, "binary_cross_entropy", y.shape, "target")
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable formula, with torch's element `weight` and
    `pos_weight` (the positive term's weight, broadcast along the last dim: one per class)."""
    if isinstance(weight, str):   # graphc's older (input, target, reduction, pos_weight)
        weight, reduction = None, weight
        if size_average is not None and not isinstance(size_average, bool):
            pos_weight, size_average = size_average, None
    reduction = _reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    x, y = G._t(input), G._t(target)
    check(x.shape == y.shape, f"binary_cross_entropy_with_logits: Target size ({list(y.shape)}) "
                              f"must be the same as input size ({list(x.shape)})")
    check(y.dtype.is_float,
          f"binary_cross_entropy_with_logits: target must be float, got {y.dtype}")
    softplus_neg = G.log1p(G.exp(-G.abs(x))) + G.maximum(-x, 0.0)   # log(1 + e^-x), stable
    if pos_weight is None:
        loss = (1.0 - y) * x + softplus_neg
    else:
        pw = G._t(pos_weight)
        _fits("binary_cross_entropy_with_logits", pw, "pos_weight", x.shape, "input")
        loss = (1.0 - y) * x + (1.0 + (pw - 1.0) * y) * softplus_neg
    loss = _times_weight(loss, weight, "binary_cross_entropy_with_logits", x.shape, "input")
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def smooth_l1_loss(input, target, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta=0: L1."""
    reduction = _reduction(size_average, reduce, reduction, "smooth_l1_loss")
    input, target = G._t(input), G._t(target)
    _target_pair(input, target, "smooth_l1_loss")
    check(beta >= 0, "smooth_l1_loss does not support negative values for beta.")
    d = G.abs(input - target)
    if beta == 0.0:
        return _reduce(d, reduction, "smooth_l1_loss")
    return _reduce(G.where(d < beta, (0.5 / beta) * d * d, d - 0.5 * beta), reduction,
                   "smooth_l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); with `weight` (input's shape)
    'mean' is the mean of w l, as torch's."""
    reduction = _reduction(None, None, reduction, "huber_loss")
    input, target = G._t(input), G._t(target)
    _target_pair(input, target, "huber_loss")
    check(delta > 0, "huber_loss does not support non-positive values for delta.")
    d = G.abs(input - target)
    loss = G.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _weighted(loss, input, weight, reduction, "huber_loss", False)


def _xlogx(t: Tensor) -> Tensor:
    """torch.xlogy(t, t): 0 at t == 0, NaN for t < 0."""
    zero = t == 0
    return G.where(zero, 0.0, t * G.log(G.where(zero, 1.0, t)))


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """xlogy(target, target) - target * input pointwise (input: log-probabilities), or
    exp(t) (t - input) with log_target; 'batchmean' divides the sum by input.size(0). 'mean' gives
    torch's warning that it divides by every element."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction, "kl_div")
    elif reduction == "mean":
        _warn(_KL_MEAN_WARNING)
    check(reduction in _REDUCTIONS + ("batchmean",),
          f"kl_div: {reduction!r} is not a valid value for reduction (expected 'batchmean', "
          "'none', 'mean' or 'sum')")
    x, t = G._t(input), G._t(target)
    _bshape("kl_div", input=x, target=t)
    loss = G.exp(t) * (t - x) if log_target else _xlogx(t) - t * x
    if reduction == "batchmean":
        total = G.sum(loss)
        return total / x.shape[0] if x.ndim else total
    return _reduce(loss, reduction, "kl_div")


def soft_margin_loss(input, target, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) (computed stably), target broadcast to input's shape."""
    reduction = _reduction(size_average, reduce, reduction, "soft_margin_loss")
    x, y = G._t(input), G._t(target)
    _fits("soft_margin_loss", y, "target", x.shape, "input")
    z = -y * x
    return _reduce(G.log1p(G.exp(-G.abs(z))) + G.maximum(z, 0.0), reduction, "soft_margin_loss")


def _float_pair(x1: Tensor, x2: Tensor, what: str):
    """x1, x2 in their common floating dtype (an integer one cast to the other's)."""
    f1, f2 = x1.dtype.is_float, x2.dtype.is_float
    check(f1 or f2, f"{what}: expected common dtype to be floating point, yet common dtype is "
                    f"{x1.dtype if x1.dtype == x2.dtype else (x1.dtype, x2.dtype)}")
    if not f1:
        x1 = G.cast(x1, x2.dtype)
    if not f2:
        x2 = G.cast(x2, x1.dtype)
    return x1, x2


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along dim after broadcasting (ATen's
    formula; the eps clamp passes the norm's gradient, as torch's no-grad clamp does)."""
    x1, x2 = _float_pair(G._t(x1), G._t(x2), "cosine_similarity")
    shape = _bshape("cosine_similarity", x1=x1, x2=x2)
    x1, x2 = (t if t.shape == shape else G.broadcast_to(t, shape) for t in (x1, x2))
    if not shape:
        x1, x2, dim = G.reshape(x1, (1,)), G.reshape(x2, (1,)), 0
    else:
        dim = G._dim(dim, len(shape))
    n1 = _no_grad_clamp_min(_vector_norm(x1, 2, dim, True), eps)
    n2 = _no_grad_clamp_min(_vector_norm(x2, 2, dim, True), eps)
    return G.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the broadcast result's last dim (any p: 0 counts
    non-zeros, +-inf take max/min |.|), with torch's norm gradient."""
    x1, x2 = G._t(x1), G._t(x2)
    _bshape("pairwise_distance", x1=x1, x2=x2)
    d = G._float(x1 - x2 + eps)
    if d.ndim == 0:
        out = _vector_norm(G.reshape(d, (1,)), p, 0)
        return out
    return _vector_norm(d, p, d.ndim - 1, keepdim)


# ---- likelihood, embedding, ranking and margin losses (torch 2's set) --------------------------

def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """exp(input) - target * input (log_input) or input - target * log(input + eps), plus with
    `full` the Stirling term t log t - t + 0.5 log(2 pi t) where t > 1 (torch's formula)."""
    reduction = _reduction(size_average, reduce, reduction, "poisson_nll_loss")
    x, t = G._t(input), G._t(target)
    _bshape("poisson_nll_loss", input=x, target=t)
    loss = G.exp(x) - t * x if log_input else x - t * G.log(x + eps)
    if full:
        small = t <= 1
        ts = G.where(small, 2.0, t)   # the masked entries never see log(0)
        stirling = ts * G.log(ts) - ts + 0.5 * G.log(2.0 * _math.pi * ts)
        loss = loss + G.where(small, 0.0, stirling)
    return _reduce(loss, reduction, "poisson_nll_loss")


def _gaussian_var(x: Tensor, var) -> Tensor:
    """var checked and shaped as torch's gaussian_nll_loss: a number, input's shape, input's shape
    without its last dim (unsqueezed), or input's shape with one size-1 dim."""
    if not isinstance(var, Tensor) and isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            _fail(_ShapeError, "gaussian_nll_loss: var has negative entry/entries")
        return G.full(x.shape, float(var), dtype=x.dtype)
    var = G._t(var)
    v = _concrete(var)
    if v is not None and (v < 0).any():
        _fail(_ShapeError, "gaussian_nll_loss: var has negative entry/entries")
    if var.shape != x.shape:
        if tuple(x.shape[:-1]) == tuple(var.shape):
            var = G.unsqueeze(var, -1)
        elif not (x.ndim == var.ndim and sum(b for a, b in zip(x.shape, var.shape) if a != b) == 1):
            _fail(_ShapeError, f"gaussian_nll_loss: var is of incorrect size: var {var.type} "
                  f"for input {x.type} must have input's shape, input's shape without the last "
                  "dim, or input's shape with one dim of size 1")
    return var


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) (+ 0.5 log 2 pi with `full`);
    the clamp passes var's gradient, as torch's no-grad clamp. Eagerly a negative var is an
    error as torch's; compiled (values unknown when tracing) it makes the loss NaN."""
    x, t = G._t(input), G._t(target)
    v = _gaussian_var(x, var)
    check(reduction in _REDUCTIONS, f"gaussian_nll_loss: {reduction!r} is not valid (expected "
                                    "'none', 'mean' or 'sum')")
    _bshape("gaussian_nll_loss", input=x, target=t, var=v)
    vc = _no_grad_clamp_min(v, eps)
    d = x - t
    loss = 0.5 * (G.log(vc) + d * d / vc)
    if full:
        loss = loss + 0.5 * _math.log(2 * _math.pi)
    if v.is_traced:
        loss = G.where(v < 0, _math.nan, loss)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def _same_ndim(what: str, msg: str, *ts: Tensor) -> None:
    check(len({t.ndim for t in ts}) == 1, f"{what}: {msg}")


def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target (input1 - input2) + margin)."""
    reduction = _reduction(size_average, reduce, reduction, "margin_ranking_loss")
    x1, x2, y = G._t(input1), G._t(input2), G._t(target)
    _same_ndim("margin_ranking_loss", "All input tensors should have same dimension but got "
               f"sizes: input1: {list(x1.shape)}, input2: {list(x2.shape)}, target: "
               f"{list(y.shape)}", x1, x2, y)
    _bshape("margin_ranking_loss", input1=x1, input2=x2, target=y)
    return _reduce(_clamp0(-y * (x1 - x2) + margin), reduction, "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target != -1 plus max(0, margin - input) where target != 1 (ATen's form)."""
    reduction = _reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    x, y = G._t(input), G._t(target)
    _bshape("hinge_embedding_loss", input=x, target=y)
    loss = G.where(y != 1, _clamp0(margin - x), 0.0) + G.where(y != -1, x, 0.0)
    return _reduce(loss, reduction, "hinge_embedding_loss")


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target == 1, max(0, cos - margin) where target == -1 (cos with
    ATen's 1e-12 added to each squared norm), over dim 1 of (N, D) or dim 0 of (D,)."""
    reduction = _reduction(size_average, reduce, reduction, "cosine_embedding_loss")
    x1, x2, y = G._t(input1), G._t(input2), G._t(target)
    check(y.ndim in (0, 1), "cosine_embedding_loss: 0D or 1D target tensor expected, multi-target "
                            f"not supported (target {y.type})")
    want = y.ndim + 1
    check(x1.ndim == want and x2.ndim == want,
          f"cosine_embedding_loss: {y.ndim}D target tensor expects {want}D input tensors, but "
          f"found inputs with sizes {list(x1.shape)} and {list(x2.shape)}.")
    x1, x2 = _float_pair(x1, x2, "cosine_embedding_loss")
    _bshape("cosine_embedding_loss", input1=x1, input2=x2)
    d = y.ndim
    prod = G.sum(x1 * x2, d)
    m1 = G.sum(x1 * x1, d) + _ATEN_EPSILON
    m2 = G.sum(x2 * x2, d) + _ATEN_EPSILON
    cos = prod / G.sqrt(m1 * m2)
    _bshape("cosine_embedding_loss", cos=cos, target=y)
    loss = G.where(y == 1, 1.0 - cos, 0.0) + G.where(y == -1, _clamp0(cos - margin), 0.0)
    return _reduce(loss, reduction, "cosine_embedding_loss")


def _triplet(anchor, positive, negative, dist, margin, swap, reduction, what) -> Tensor:
    check(margin > 0, f"{what}: margin must be greater than 0, got {margin}")
    a, p, n = G._t(anchor), G._t(positive), G._t(negative)
    _same_ndim(what, "The anchor, positive, and negative tensors are expected to have the same "
               f"number of dimensions, but got: anchor {a.ndim}D, positive {p.ndim}D, and "
               f"negative {n.ndim}D inputs", a, p, n)
    d_pos, d_neg = G._t(dist(a, p)), G._t(dist(a, n))
    if swap:
        d_neg = G.minimum(d_neg, G._t(dist(p, n)))
    return _reduce(_clamp0(margin + d_pos - d_neg), reduction, what)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d = pairwise_distance(., ., p, eps); `swap`
    uses min(d(a, n), d(p, n))."""
    reduction = _reduction(size_average, reduce, reduction, "triplet_margin_loss")
    return _triplet(anchor, positive, negative,
                    lambda u, v: pairwise_distance(u, v, p, eps), margin, swap, reduction,
                    "triplet_margin_loss")


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """triplet_margin_loss with any distance_function(x, y) -> distances (default:
    pairwise_distance)."""
    what = "triplet_margin_with_distance_loss"
    check(reduction in _REDUCTIONS, f"{what}: {reduction!r} is not a valid value for reduction")
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin,
                    swap, reduction, what)


def _class_rows(x: Tensor, what: str):
    """x as (N, C) rows of class scores (a (C,) vector or a 0-d scalar is one row)."""
    ok = (x.ndim == 2 and x.shape[1] != 0) or (x.ndim == 1 and x.shape[0] != 0) or x.ndim == 0
    check(ok, f"{what}: Expected non-empty vector or matrix with optional 0-dim batch size, but "
              f"got: {list(x.shape)}")
    return x if x.ndim == 2 else G.reshape(x, (1, max(x.numel(), 1)))


def _int_target(y: Tensor, what: str) -> None:
    check(y.dtype.is_int, f"{what}: target {y.type} must hold int64 class indices")


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """sum over i != y of w[y] max(0, margin - x[y] + x[i])^p / C per sample (p 1 or 2)."""
    what = "multi_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, what)
    check(p in (1, 2), f"{what}: only p == 1 and p == 2 supported, got p={p}")
    x, y = G._t(input), G._t(target)
    rows = _class_rows(x, what)
    n, c = rows.shape
    _int_target(y, what)
    check(y.ndim <= 1 and y.numel() == n,
          f"{what}: target tensor should be 1-D with size equal to the number of input samples "
          f"(batch size). Expected target size [{n}], but got {list(y.shape)}. Input has shape "
          f"{list(x.shape)}.")
    t = G.reshape(y, (n,))
    v = _concrete(t)
    if v is not None and v.size and (v.min() < 0 or v.max() >= c):
        _fail(_ExecutionError, f"{what}: target out of range: its values must be in [0, {c}), "
              f"got [{v.min()}, {v.max()}]")
    xy = G.unsqueeze(G.gather(rows, 1, t), 1)
    h = _hinge(margin - xy + rows)
    if p == 2:
        h = h * h
    h = h * (1.0 - G.one_hot(t, c, dtype=rows.dtype))   # skip i == y
    if weight is not None:
        w = G._t(weight)
        check(w.ndim == 1, f"{what}: weight must be one-dimensional, got {w.type}")
        check(w.shape[0] == c, f"{what}: inconsistent weight size, expected {c} but got "
                               f"{list(w.shape)}")
        wy = G.gather(G.broadcast_to(G.cast(w, rows.dtype), (n, c)), 1, t)
        h = h * G.unsqueeze(wy, 1)
    loss = G.sum(h, 1) * (1.0 / c)
    if reduction == "none":
        return loss if y.ndim else G.reshape(loss, ())
    return _reduce(loss, reduction, what)


def multilabel_margin_loss(input, target, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """sum over target classes j (up to the first -1) and non-target classes i of
    max(0, 1 - x[j] + x[i]) / C per sample."""
    what = "multilabel_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, what)
    x, y = G._t(input), G._t(target)
    rows = _class_rows(x, what)
    n, c = rows.shape
    _int_target(y, what)
    fits = (y.ndim <= 1 and y.numel() == c) if x.ndim <= 1 else (y.shape == (n, c))
    check(fits, f"{what}: inconsistent target size: {list(y.shape)} for input of size: "
                f"{list(x.shape)}")
    t = G.reshape(y, (n, c))
    v = _concrete(t)
    if v is not None and v.size and (v.min() < -1 or v.max() >= c):
        _fail(_ExecutionError, f"{what}: target is out of range: its values must be in "
              f"[-1, {c}) (-1 ends each row's list), got [{v.min()}, {v.max()}]")
    listed = G.cumsum(G.cast(t < 0, _dt.int64), 1) == 0             # before the first -1
    safe = G.where(listed, t, 0)
    hot = G.one_hot(safe, c, dtype=rows.dtype) * G.unsqueeze(G.cast(listed, rows.dtype), 2)
    other = 1.0 - G.cast(G.sum(hot, 1) > 0, rows.dtype)             # (N, C): not a target
    xt = _apply("gather", rows, safe, axis=1)                        # x[n, t[n, j]]
    z = 1.0 - G.unsqueeze(xt, 2) + G.unsqueeze(rows, 1)              # (N, j, i)
    h = _hinge(z) * G.unsqueeze(G.cast(listed, rows.dtype), 2) * G.unsqueeze(other, 1)
    loss = G.sum(h, (1, 2)) * (1.0 / c)
    if reduction == "none":
        return loss if y.ndim == 2 else G.reshape(loss, ())
    return _reduce(loss, reduction, what)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-(y logsigmoid(x) + (1 - y) logsigmoid(-x)) (times weight), averaged over the last (class)
    dim, then reduced over the samples."""
    what = "multilabel_soft_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, what)
    x, y = G._t(input), G._t(target)
    check(x.ndim >= 1, f"{what}: input must have a class dimension, got {x.type}")
    _bshape(what, input=x, target=y)
    loss = -(y * logsigmoid(x) + (1.0 - y) * logsigmoid(-x))
    if weight is not None:
        w = G._t(weight)
        _bshape(what, loss=loss, weight=w)
        loss = loss * w
    loss = G.sum(loss, -1) * (1.0 / x.shape[-1])
    return _reduce(loss, reduction, what)


from .convolution import (conv1d, conv2d, conv_transpose1d, conv_transpose2d,  # noqa: E402,F401
                          fold, unfold)
from .pooling import *  # noqa: E402,F401,F403  (max/avg/lp/adaptive pools: pooling.__all__)
from .normalization import *  # noqa: E402,F401,F403  (batch/instance/group/local_response_norm)
from .upsampling import *  # noqa: E402,F401,F403  (interpolate, pixel_shuffle/unshuffle)
from .sparse import *  # noqa: E402,F401,F403  (embedding, embedding_bag: sparse.__all__)
from .attention import *  # noqa: E402,F401,F403  (scaled_dot_product_attention, multi_head_attention_forward)
