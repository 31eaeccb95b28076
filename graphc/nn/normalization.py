"""Normalisation layers with torch's semantics: F.batch_norm / instance_norm / group_norm /
layer_norm / rms_norm / local_response_norm / normalize and nn.BatchNorm1d/2d, InstanceNorm1d/2d,
GroupNorm, LayerNorm, RMSNorm, LocalResponseNorm.

Each is a composition of mean/sum/sqrt/where, so it runs eagerly and compiled and its gradient
(train mode through the batch statistics, eval mode through the running ones) comes from the
primitives. Outputs are torch's `x * alpha + beta` with alpha = weight / sqrt(var + eps),
beta = bias - mean * alpha. Running statistics are updated in place under no_grad (biased
variance normalises, the unbiased one is tracked); inside graphc.compile the buffers are graph
state, so they (and num_batches_tracked) are updated by the compiled step itself.
layer_norm / rms_norm normalise the trailing dims as (x - mean) * rsqrt(var + eps) * w + b and
x * rsqrt(mean(x^2) + eps) * w (per-element w, b); normalize divides by the clamped p-norm.
"""
from __future__ import annotations

import numbers
import operator
import warnings

import numpy as np

from .. import dtypes
from .. import functions as G
from ..device import check_device
from ..driver import tracing
from ..errors import InputError
from ..grad_mode import no_grad
from ..linalg_ops import norm as _norm
from ..misc_ops import finfo
from ..shape_ops import pad as _pad
from ..tensor import Tensor, check
from . import init
from .module import Module
from .parameter import Buffer, Parameter

__all__ = ["batch_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm",
           "normalize", "rms_norm"]


def _per_channel(v: Tensor, ndim: int) -> Tensor:
    """A (C,) tensor shaped (1, C, 1, ...) to broadcast over an (N, C, *) input."""
    return G.reshape(v, (1, v.shape[0]) + (1,) * (ndim - 2))


def _check_stat(v, c: int, name: str, what: str) -> None:
    if v is not None:
        check(G._t(v).numel() == c, f"{what}: {name} should contain {c} elements not "
                                    f"{G._t(v).numel()}")


def _channel_args(x: Tensor, what: str, min_ndim: int, weight, bias, **stats):
    """Check x's rank and that every per-channel argument has C elements; return weight and
    bias shaped (1, C, 1, ...) (or None)."""
    check(x.ndim >= min_ndim, f"{what}: expected an input with at least {min_ndim} dims (N, C, "
                              f"...), got shape {list(x.shape)}")
    for name, v in (*stats.items(), ("weight", weight), ("bias", bias)):
        _check_stat(v, x.shape[1], name, what)
    return _affine(x, weight, bias)


def _affine(x: Tensor, weight, bias):
    """weight and bias (each (C,) or None) shaped (1, C, 1, ...) to broadcast over x."""
    return tuple(None if v is None else _per_channel(G._t(v), x.ndim) for v in (weight, bias))


def _moments(x: Tensor, axes) -> tuple[Tensor, Tensor]:
    """Mean and biased variance of x over axes, keeping the reduced dims."""
    mean = G.mean(x, axes, keepdim=True)
    return mean, G.mean(G.square(x - mean), axes, keepdim=True)


def _running(x: Tensor, running_mean, running_var) -> tuple[Tensor, Tensor]:
    """The running statistics in x's dtype, shaped to broadcast over x."""
    return (_per_channel(G.cast(running_mean, x.dtype), x.ndim),
            _per_channel(G.cast(running_var, x.dtype), x.ndim))


def _update(buf: Tensor, stat: Tensor, momentum) -> None:
    """buf <- (1 - momentum) * buf + momentum * stat, in place and without gradient."""
    with no_grad():
        stat = G.cast(stat.detach(), buf.dtype)
        if isinstance(momentum, Tensor):
            m = G.cast(momentum, buf.dtype)
            buf.copy_(m * stat + (1 - m) * buf)
        else:
            buf.copy_(momentum * stat + (1.0 - momentum) * buf)


def _normalise(x: Tensor, mean: Tensor, var: Tensor, weight, bias, eps: float) -> Tensor:
    """x * alpha + beta with per-channel (broadcastable) mean and var, as torch's kernels."""
    alpha = 1.0 / G.sqrt(var + eps)
    if weight is not None:
        alpha = alpha * weight
    beta = -mean * alpha
    if bias is not None:
        beta = beta + bias
    return x * alpha + beta


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum=0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over (N, C, *) as torch.nn.functional.batch_norm: training uses the
    batch's statistics (biased variance) and updates running_mean / running_var (unbiased) with
    `momentum` (a float or a 0-d tensor); otherwise the running statistics normalise."""
    x = G._t(input)
    what = "batch_norm"
    w, b = _channel_args(x, what, 2, weight, bias, running_mean=running_mean,
                         running_var=running_var)
    c = x.shape[1]
    if training:
        n = x.numel() // max(c, 1)
        check(n > 1, f"{what}: Expected more than 1 value per channel when training, got input "
                     f"size {list(x.shape)}")
        mean, var = _moments(x, (0,) + tuple(range(2, x.ndim)))
        if running_mean is not None:
            _update(running_mean, G.reshape(mean, (c,)), momentum)
        if running_var is not None:
            _update(running_var, G.reshape(var, (c,)) * (n / (n - 1)), momentum)
    else:
        check(running_mean is not None and running_var is not None,
              f"{what}: running_mean and running_var must be defined in evaluation mode")
        mean, var = _running(x, running_mean, running_var)
    return _normalise(x, mean, var, w, b, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum=0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation of (N, C, *) as torch.nn.functional.instance_norm: statistics per
    sample and channel; given running statistics are updated with the batch mean of them."""
    x = G._t(input)
    what = "instance_norm"
    w, b = _channel_args(x, what, 3, weight, bias, running_mean=running_mean,
                         running_var=running_var)
    if use_input_stats:
        n = int(np.prod(x.shape[2:]))
        check(n > 1, f"{what}: Expected more than 1 spatial element when training, got input "
                     f"size {list(x.shape)}")
        mean, var = _moments(x, tuple(range(2, x.ndim)))
        if running_mean is not None:
            _update(running_mean, G.mean(G.reshape(mean, x.shape[:2]), 0), momentum)
        if running_var is not None:
            _update(running_var, G.mean(G.reshape(var, x.shape[:2]), 0) * (n / (n - 1)),
                    momentum)
    else:
        check(running_mean is not None and running_var is not None,
              f"{what}: Expected running_mean and running_var to be defined when "
              "use_input_stats is false")
        mean, var = _running(x, running_mean, running_var)
    return _normalise(x, mean, var, w, b, eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Group normalisation of (N, C, *) as torch.nn.functional.group_norm: statistics over each
    group of C / num_groups channels and the spatial dims, then a per-channel affine."""
    x = G._t(input)
    what = "group_norm"
    check(x.ndim >= 2, f"{what}: Expected at least 2 dimensions for input tensor but received "
                       f"{x.ndim}")
    c = x.shape[1]
    check(num_groups > 0 and c % num_groups == 0,
          f"{what}: Expected number of channels in input to be divisible by num_groups, but got "
          f"input of shape {list(x.shape)} and num_groups={num_groups}")
    for name, v in (("weight", weight), ("bias", bias)):
        _check_stat(v, c, name, what)
    n = x.shape[0]
    xg = G.reshape(x, (n, num_groups, -1))
    mean, var = _moments(xg, -1)                                         # (N, G, 1)
    per = c // num_groups
    mean = G.reshape(G.broadcast_to(mean, (n, num_groups, per)), (n, c))   # per channel
    var = G.reshape(G.broadcast_to(var, (n, num_groups, per)), (n, c))
    shape = (n, c) + (1,) * (x.ndim - 2)
    w, b = _affine(x, weight, bias)
    return _normalise(x, G.reshape(mean, shape), G.reshape(var, shape), w, b, eps)


def _shape_arg(normalized_shape, what: str) -> list[int]:
    """normalized_shape (a sequence of ints) as a list; an int or other element is torch's
    TypeError (F.layer_norm takes no bare int, unlike nn.LayerNorm)."""
    arg = f"{what}(): argument 'normalized_shape' (position 2) must be tuple of ints"
    if isinstance(normalized_shape, (numbers.Integral, str, Tensor)) or not hasattr(
            normalized_shape, "__iter__"):
        _type_error(f"{arg}, not {type(normalized_shape).__name__}")
    shape = list(normalized_shape)
    for i, s in enumerate(shape):
        if not isinstance(s, numbers.Integral):
            _type_error(f"{arg}, but found element of type {type(s).__name__} at pos {i}")
    return [operator.index(s) for s in shape]


def _type_error(msg: str) -> None:
    raise InputError(f"{msg} (at {tracing.user_where()})")


def _trailing_axes(x: Tensor, shape: list[int], what: str, rms: bool, **params) -> tuple:
    """The last len(shape) axes of x, after torch's checks of shape, of the parameters (each
    exactly `shape`) and of x's trailing dims (rms_norm's message lacks layer_norm's comma)."""
    check(len(shape) >= 1, f"{what}: Expected normalized_shape to be at least 1-dimensional, "
                           "i.e., containing at least one element, but got normalized_shape = []")
    for name, v in params.items():
        if v is not None:
            check(list(v.shape) == shape,
                  f"{what}: Expected {name} to be of same shape as normalized_shape, but got "
                  f"{name} of shape {list(v.shape)} and normalized_shape = {shape}")
    k = len(shape)
    if rms:
        check(x.ndim >= k, f"{what}: Input tensor must have at least {k} dimensions, but got "
                           f"{x.ndim}")
    sep = "" if rms else ", "
    check(x.ndim >= k and list(x.shape[x.ndim - k:]) == shape,
          f"{what}: Given normalized_shape={shape}, expected input with shape "
          f"[*{sep}{', '.join(map(str, shape))}], but got input of size{list(x.shape)}")
    check(x.dtype.is_float, f"{what}: not implemented for '{x.dtype.torch_name}' input")
    return tuple(range(x.ndim - k, x.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last len(normalized_shape) dims, as
    torch.nn.functional.layer_norm: (x - mean) / sqrt(var + eps) * weight + bias (biased var)."""
    x = G._t(input)
    what = "layer_norm"
    w, b = (None if v is None else G._t(v) for v in (weight, bias))
    axes = _trailing_axes(x, _shape_arg(normalized_shape, what), what, False, weight=w, bias=b)
    for v in (w, b):   # torch's CPU kernel takes no mixed dtypes (graphc has no half types)
        check(v is None or v.dtype == x.dtype,
              f"{what}: mixed dtype (CPU): expect parameter to have scalar type of Float"
              if x.dtype == dtypes.float32 else
              f"{what}: mixed dtype (CPU): all inputs must share same datatype.")
    mean, var = _moments(x, axes)
    y = (x - mean) * G.rsqrt(var + eps)
    if w is not None:
        y = y * w
    return y if b is None else y + b


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation over the last len(normalized_shape) dims, as
    torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) * weight, eps None meaning
    finfo(x.dtype).eps; the result has x's dtype whatever weight's."""
    x = G._t(input)
    what = "rms_norm"
    w = None if weight is None else G._t(weight)
    axes = _trailing_axes(x, _shape_arg(normalized_shape, what), what, True, weight=w)
    eps = finfo(x.dtype).eps if eps is None else eps
    y = x * G.rsqrt(G.mean(G.square(x), axes, keepdim=True) + eps)
    if w is not None:
        y = y * w
    return y if y.dtype == x.dtype else G.cast(y, x.dtype)


def normalize(input, p=2.0, dim=1, eps: float = 1e-12, out=None) -> Tensor:
    """input / max(||input||_p over dim, eps), as torch.nn.functional.normalize (dim an int or a
    tuple; the norm's gradient is cut where it is clamped, so a zero vector gets g / eps).
    With `out=` the result is written into out (no gradient, as torch)."""
    x = G._t(input)
    y = x / G.clamp(_norm(x, p, dim, keepdim=True), eps, None)
    if out is None:
        return y
    check(isinstance(out, Tensor), f"normalize: out must be a Tensor, not {type(out).__name__}")
    check(not (y.requires_grad or out.requires_grad),
          "normalize: div(): functions with out=... arguments don't support automatic "
          "differentiation, but one of the arguments requires grad.")
    check(out.shape == y.shape, f"normalize: out has shape {list(out.shape)}, the result "
                                f"{list(y.shape)} (graphc does not resize out=)")
    return out.copy_(y)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x**2 over `size` neighbouring channels)**beta, as torch."""
    x = G._t(input)
    check(x.ndim >= 3, f"local_response_norm: Expected 3D or higher dimensionality input (got "
                       f"{x.ndim} dimensions)")
    if x.numel() == 0:
        return x
    sq = G.square(x)
    pads = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]
    sq = _pad(sq, pads)
    c = x.shape[1]
    total = None
    for i in range(size):   # the channel windows, summed in order as torch's avg_pool
        piece = sq[:, i:i + c]
        total = piece if total is None else total + piece
    div = (total * (1.0 / size) if size != 1 else total) * alpha + k
    return x / div ** beta


# ---- modules --------------------------------------------------------------------------------------

class Retracing(Module):
    """A module whose plain attributes (momentum, eps, kernel sizes...) are baked into a trace:
    assigning one bumps the module's version, which compiled functions guard on (a retrace)."""

    def _graphc_setattr(self, name: str, value) -> None:
        super()._graphc_setattr(name, value)
        object.__setattr__(self, "_version", self.__dict__.get("_version", 0) + 1)


def _check_num(v, name: str, what: str) -> int:
    check(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0,
          f"{what}: {name} must be a positive integer, got {v!r}")
    return int(v)


def _affine_parameters(m: Module, c: int, np_dt, affine: bool, bias: bool) -> None:
    """m.weight = ones(c), m.bias = zeros(c) (each None unless affine, bias None unless bias)."""
    m.register_parameter("weight", Parameter(np.ones(c, np_dt)) if affine else None)
    m.register_parameter("bias", Parameter(np.zeros(c, np_dt)) if affine and bias else None)


class _NormBase(Retracing):
    """Common base of BatchNorm and InstanceNorm: weight/bias, running statistics as buffers."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True):
        super().__init__()
        check_device(device)
        num_features = _check_num(num_features, "num_features", type(self).__name__)
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, np_dt, affine, bias)
        if track_running_stats:
            self.running_mean = Buffer(np.zeros(num_features, np_dt))
            self.running_var = Buffer(np.ones(num_features, np_dt))
            self.num_batches_tracked = Buffer(np.zeros((), np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.__dict__[name] = None

    def reset_running_stats(self) -> None:
        """running_mean 0, running_var 1, num_batches_tracked 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and set weight to 1, bias to 0."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data = np.ones_like(self.weight.numpy())
            if self.bias is not None:
                self.bias.data = np.zeros_like(self.bias.numpy())

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    _dims: tuple = ()

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            check(False, f"{type(self).__name__}: expected {want} input (got {x.ndim}D input)")

    def forward(self, input):
        """Batch normalisation with batch statistics in train mode (updating the running ones
        unless track_running_stats=False), the running statistics in eval mode."""
        x = G._t(input)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:   # the cumulative average: 1 / batches seen (traced too)
                factor = 1.0 / G.cast(self.num_batches_tracked, dtypes.float64)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if keep else None,
                          self.running_var if keep else None, self.weight, self.bias,
                          use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, as torch.nn.BatchNorm1d."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, as torch.nn.BatchNorm2d."""

    _dims = (4,)


class _InstanceNorm(_NormBase):
    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *,
                 bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, input):
        """Instance normalisation (an unbatched input is one sample)."""
        x = G._t(input)
        name = type(self).__name__
        if x.ndim not in self._dims:
            check(False, f"{name}: expected {self._dims[0]}D or {self._dims[1]}D input (got "
                         f"{x.ndim}D input)")
        fdim = x.ndim - self._dims[0]
        if x.shape[fdim] != self.num_features:
            check(not self.affine, f"{name}: expected input's size at dim={fdim} to match "
                                   f"num_features ({self.num_features}), but got: "
                                   f"{x.shape[fdim]}.")
            warnings.warn(f"input's size at dim={fdim} does not match num_features. You can "
                          "silence this warning by not passing in num_features, which is not "
                          "used because affine=False", stacklevel=2)
        unbatched = x.ndim == self._dims[0]
        if unbatched:
            x = G.unsqueeze(x, 0)
        out = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return G.squeeze(out, 0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or (C, L) input, as torch.nn.InstanceNorm1d."""

    _dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or (C, H, W) input, as torch.nn.InstanceNorm2d."""

    _dims = (3, 4)


class GroupNorm(Retracing):
    """Group normalisation, as torch.nn.GroupNorm (weight 1, bias 0 per channel if affine)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        check_device(device)
        if num_channels % num_groups != 0:
            check(False, f"num_channels ({num_channels}) must be divisible by num_groups "
                         f"({num_groups})")
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        self.num_groups, self.num_channels, self.eps, self.affine = (num_groups, num_channels,
                                                                     eps, affine)
        _affine_parameters(self, num_channels, np_dt, affine, bias)

    def forward(self, input):
        """Group normalisation of input with this module's groups and affine parameters."""
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def _shape_tuple(normalized_shape, what: str) -> tuple:
    """A module's normalized_shape: an int as a 1-tuple, a sequence as a tuple (torch's)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else \
        tuple(normalized_shape)
    for s in shape:
        check(s >= 0, f"{what}: Trying to create tensor with negative dimension {s}: "
                      f"{list(shape)}")
    return shape


class LayerNorm(Retracing):
    """Layer normalisation over the trailing dims normalized_shape, as torch.nn.LayerNorm
    (elementwise weight 1 and bias 0 of that shape if elementwise_affine)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self.normalized_shape = _shape_tuple(normalized_shape, "LayerNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        _affine_parameters(self, self.normalized_shape, np_dt, elementwise_affine, bias)

    def reset_parameters(self) -> None:
        """weight 1, bias 0 (in place)."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        """layer_norm of input with this module's shape, parameters and eps."""
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Retracing):
    """Root-mean-square normalisation over the trailing dims normalized_shape, as
    torch.nn.RMSNorm (elementwise weight 1 if elementwise_affine; eps None: finfo's eps)."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self.normalized_shape = _shape_tuple(normalized_shape, "RMSNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        self.register_parameter("weight", Parameter(np.ones(self.normalized_shape, np_dt))
                                if elementwise_affine else None)

    def reset_parameters(self) -> None:
        """weight 1 (in place)."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x):
        """rms_norm of x with this module's shape, weight and eps."""
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Retracing):
    """Local response normalisation across channels, as torch.nn.LocalResponseNorm."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        """local_response_norm of input with this module's settings."""
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
