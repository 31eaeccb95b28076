"""Observers (torch.ao.quantization.observer): modules that record statistics of the tensors
flowing through them and turn them into a scale and zero point (`calculate_qparams`).

Same classes, constructor arguments, attributes (`dtype`, `qscheme`, `quant_min`, `quant_max`,
`ch_axis`, `eps`, `averaging_constant`), buffers and state_dict keys as torch's; `calculate_qparams`
follows torch's `_calculate_qparams` op for op in float32 (bit-identical scale and zero point).

The statistics `min_val` / `max_val` are buffers updated in place by `forward` (copy_ under
no_grad, like BatchNorm's running statistics), so inside `graphc.compile` they are graph state
and the compiled step updates them. Nothing branches in Python on their values: torch's
"first batch takes the batch's min/max" of the moving averages is a `where` on
min_val == +inf and max_val == -inf (the initial values), and the degenerate "never observed"
case of calculate_qparams is a `where` too when traced (eagerly it warns and returns torch's
defaults, as torch does).

Per-channel observers start, as torch's, with empty (0,) min_val/max_val; the first forward
(eager or traced: it depends on the input's shape only) gives them C = input.size(ch_axis)
elements filled with +inf / -inf and then takes the running minimum (maximum), which equals
torch's "first batch" rule. Loading a state dict with C-element statistics into fresh observers
works through `load_observer_state_dict` (nn.Module.load_state_dict insists on equal shapes).
`HistogramObserver` runs eagerly only (post-training calibration).
"""
from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from functools import partial
from typing import Any

import numpy as np

from ... import dtypes
from ... import functions as G
from ...driver import tracing
from ...errors import GraphcError, NotSupportedError
from ...grad_mode import no_grad
from ...nn.module import Module
from ...quant_ops import moving_average, resize_buffer
from ...tensor import Tensor
from .utils import (
    ALLOWED_DTYPES,
    calculate_qmin_qmax,
    check_min_max_valid,
    is_per_channel,
    is_per_tensor,
    validate_qmin_qmax,
)

__all__ = [
    "FixedQParamsObserver",
    "HistogramObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver",
    "NoopObserver",
    "ObserverBase",
    "PerChannelMinMaxObserver",
    "PlaceholderObserver",
    "RecordingObserver",
    "ReuseInputObserver",
    "UniformQuantizationObserverBase",
    "default_affine_fixed_qparams_observer",
    "default_debug_observer",
    "default_dynamic_quant_observer",
    "default_fixed_qparams_range_0to1_observer",
    "default_fixed_qparams_range_neg1to1_observer",
    "default_float_qparams_observer",
    "default_histogram_observer",
    "default_observer",
    "default_per_channel_weight_observer",
    "default_placeholder_observer",
    "default_reuse_input_observer",
    "default_symmetric_fixed_qparams_observer",
    "default_weight_observer",
    "get_observer_state_dict",
    "load_observer_state_dict",
    "per_channel_weight_observer_range_neg_127_to_127",
    "weight_observer_range_neg_127_to_127",
]

FLOAT32_EPS = float(np.finfo(np.float32).eps)


class _PartialWrapper:
    """A constructor with bound arguments (torch's `with_args` result): calling it builds a new
    instance; `callable_args` are called afresh at each construction."""

    def __init__(self, p):
        self.p = p
        self.callable_args = {}

    def __call__(self, *args, **keywords):
        for arg_name in self.callable_args:
            if arg_name not in keywords:
                keywords = {**keywords, arg_name: self.callable_args[arg_name]()}
        return self.p(*args, **keywords)

    def __repr__(self):
        return self.p.__repr__() + self.callable_args.__repr__()

    def with_args(self, **kwargs):
        """A wrapper with these keyword arguments bound as well."""
        return _with_args(self, **kwargs)

    def with_callable_args(self, **kwargs):
        """A wrapper whose `kwargs` values are called at each construction."""
        result = _PartialWrapper(p=self.p)
        result.callable_args = {**self.callable_args, **kwargs}
        return result


def _with_args(cls_or_self, **kwargs):
    """torch's class factory: `Foo.with_args(a=3)()` builds Foo(a=3), a new one per call."""
    return _PartialWrapper(partial(cls_or_self, **kwargs))


def _with_callable_args(cls_or_self, **kwargs):
    """torch's factory whose argument values are computed at construction time."""
    return _PartialWrapper(partial(cls_or_self)).with_callable_args(**kwargs)


ABC: Any = ABCMeta("ABC", (object,), {})


def _show(buf: Tensor) -> str:
    """A buffer as torch prints a tensor inside a repr."""
    return repr(Tensor._wrap(buf._data))


def _is_tracing() -> bool:
    return tracing.current() is not None


class ObserverBase(ABC, Module):
    """Base observer: `forward` records statistics, `calculate_qparams` turns them into
    (scale, zero_point). `dtype` is the quantized dtype; `is_dynamic` marks a placeholder for
    dynamic quantization."""

    def __init__(self, dtype, is_dynamic: bool = False):
        super().__init__()
        self.dtype = dtype
        self.is_dynamic = is_dynamic

    @abstractmethod
    def forward(self, x):
        """Record statistics of x and return x."""

    @abstractmethod
    def calculate_qparams(self, **kwargs):
        """(scale, zero_point) from the statistics."""

    with_args = classmethod(_with_args)
    with_callable_args = classmethod(_with_callable_args)


class UniformQuantizationObserverBase(ObserverBase):
    """Common base of the observers with uniform (affine or symmetric) quantization: qscheme,
    reduce_range, the quant_min/quant_max defaults per dtype, the `eps` buffer and torch's
    `_calculate_qparams`."""

    _version = 3

    def __init__(self, dtype=dtypes.quint8, qscheme=dtypes.per_tensor_affine,
                 reduce_range=False, quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        super().__init__(dtype=dtype, is_dynamic=is_dynamic, **kwargs)
        self.qscheme = qscheme
        if reduce_range:
            warnings.warn("Please use quant_min and quant_max to specify the range for observers. "
                          "reduce_range will be deprecated in a future release of PyTorch.",
                          stacklevel=2)
        self.reduce_range = reduce_range
        self.register_buffer("eps", np.array([eps], np.float32))
        if not (is_per_tensor(qscheme) or is_per_channel(qscheme)):
            raise GraphcError("Default Observer only works for per_tensor_affine, "
                              "per_tensor_symmetric, per_channel_affine, per_channel_symmetric "
                              f"and per_channel_float_qparams quantization scheme, got {qscheme}")
        if self.dtype not in ALLOWED_DTYPES:
            raise NotSupportedError(
                f"{type(self).__name__}: dtype {self.dtype} is not supported; graphc's observers "
                "take qint8, quint8, qint32, int8, uint8 or int32")
        self.has_customized_qrange = (quant_min is not None) and (quant_max is not None)
        if self.has_customized_qrange:
            validate_qmin_qmax(quant_min, quant_max)
        self.quant_min, self.quant_max = calculate_qmin_qmax(
            quant_min, quant_max, self.has_customized_qrange, self.dtype, self.reduce_range)

    def _validate_qmin_qmax(self, quant_min: int, quant_max: int) -> None:
        """torch's check of a user-given range (contains 0, non-empty)."""
        validate_qmin_qmax(quant_min, quant_max)

    def _calculate_qparams(self, min_val: Tensor, max_val: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, zero_points), shape (1,) per tensor or (C,) per channel, as torch computes
        them from min/max: symmetric s = max(-min(min, 0), max(max, 0)) / ((qmax - qmin) / 2),
        affine s = (max(max, 0) - min(min, 0)) / (qmax - qmin), both at least eps; affine
        z = clamp(qmin - round(min(min, 0) / s), qmin, qmax) (int32), symmetric z = 0 (128 for
        quint8/uint8), int64. Unobserved statistics give (1.0, 0)."""
        if min_val.numel() == 0 or max_val.numel() == 0:
            warnings.warn("must run observer before calling calculate_qparams. Returning default "
                          "values.", stacklevel=2)
            return G.tensor([1.0]), G.tensor([0])
        traced = _is_tracing()
        if not traced and min_val.ndim == 1 and np.all(
                (min_val._data == np.inf) & (max_val._data == -np.inf)):
            # per-channel statistics sized but never updated (graphc sizes them at the first
            # forward even with the observer off; torch's are still empty then)
            warnings.warn("must run observer before calling calculate_qparams. Returning default "
                          "values.", stacklevel=2)
            return G.tensor([1.0]), G.tensor([0])
        if not traced and not check_min_max_valid(min_val, max_val):
            return G.tensor([1.0]), G.tensor([0])
        quant_min, quant_max = self.quant_min, self.quant_max
        min_val_neg = G.minimum(min_val, G.zeros_like(min_val))
        max_val_pos = G.maximum(max_val, G.zeros_like(max_val))
        zero_point = G.zeros(min_val_neg.shape, dtype=dtypes.int64)
        if self.qscheme in (dtypes.per_tensor_symmetric, dtypes.per_channel_symmetric):
            max_val_pos = G.maximum(-min_val_neg, max_val_pos)
            scale = max_val_pos / (float(quant_max - quant_min) / 2)
            scale = G.maximum(scale, self.eps)
            if self.dtype in (dtypes.quint8, dtypes.uint8):
                mid = (quant_min + quant_max) // 2 if self.has_customized_qrange else 128
                zero_point = G.full(zero_point.shape, mid, dtype=dtypes.int64)
        elif self.qscheme is dtypes.per_channel_affine_float_qparams:
            scale = (max_val - min_val) / float(quant_max - quant_min)
            scale = G.where(scale > self.eps, scale, G.ones_like(scale))
            zero_point = -1 * min_val / scale
        else:
            scale = (max_val_pos - min_val_neg) / float(quant_max - quant_min)
            scale = G.maximum(scale, self.eps)
            zero_point = quant_min - G.cast(_round(min_val_neg / scale), dtypes.int32)
            zero_point = G.clamp(zero_point, quant_min, quant_max)
        if scale.ndim == 0:
            scale = G.reshape(scale, (1,))
        if zero_point.ndim == 0:
            zero_point = G.reshape(zero_point, (1,))
        if traced:   # torch's "never observed" defaults, without reading the values
            unseen = (min_val == float("inf")) & (max_val == float("-inf"))
            unseen = G.reshape(unseen, (1,)) if unseen.ndim == 0 else unseen
            scale = G.where(unseen, 1.0, scale)
            zero_point = G.where(unseen, G.zeros_like(zero_point), zero_point)
        return scale, zero_point

    def reset_min_max_vals(self):
        """Forget the statistics (not every observer can)."""
        raise NotImplementedError("Cannot reset min/max values in the given observer.")


def _round(t: Tensor) -> Tensor:
    from ...math_ops import round as round_
    return round_(t)


_ObserverBase = UniformQuantizationObserverBase


class MinMaxObserver(UniformQuantizationObserverBase):
    """Records the running minimum and maximum of its inputs (per tensor) and computes the
    quantization parameters from them (see UniformQuantizationObserverBase)."""

    def __init__(self, dtype=dtypes.quint8, qscheme=dtypes.per_tensor_affine, reduce_range=False,
                 quant_min=None, quant_max=None, factory_kwargs=None, eps=FLOAT32_EPS,
                 is_dynamic=False, **kwargs) -> None:
        if not is_per_tensor(qscheme):
            raise NotImplementedError("MinMaxObserver's qscheme only support "
                                      "torch.per_tensor_symmetric and torch.per_tensor_affine.")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max,
                         factory_kwargs=factory_kwargs, eps=eps, is_dynamic=is_dynamic, **kwargs)
        self.register_buffer("min_val", np.array(np.inf, np.float32))
        self.register_buffer("max_val", np.array(-np.inf, np.float32))
        if self.qscheme is dtypes.per_tensor_symmetric and self.reduce_range and \
                self.dtype is dtypes.quint8:
            raise NotImplementedError("Cannot reduce range for symmetric quantization for quint8")

    def _input(self, x_orig) -> Tensor:
        return G.cast(G._t(x_orig).detach(), self.min_val.dtype)

    def forward(self, x_orig):
        """Records the running minimum and maximum of ``x``."""
        if G._t(x_orig).numel() == 0:
            return x_orig
        with no_grad():
            x = self._input(x_orig)
            self.min_val.copy_(G.minimum(G.amin(x), self.min_val))
            self.max_val.copy_(G.maximum(G.amax(x), self.max_val))
        return x_orig

    def calculate_qparams(self):
        """Calculates the quantization parameters."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self):
        """min_val and max_val, as torch prints them."""
        return f"min_val={_show(self.min_val)}, max_val={_show(self.max_val)}"

    def reset_min_max_vals(self):
        """Resets the min/max values."""
        with no_grad():
            self.min_val.copy_(G.tensor(float("inf")))
            self.max_val.copy_(G.tensor(float("-inf")))


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Records moving averages of the per-batch minimum and maximum:
    x_min <- x_min + c * (min(X) - x_min) (the first batch sets them), c = averaging_constant."""

    def __init__(self, averaging_constant=0.01, dtype=dtypes.quint8,
                 qscheme=dtypes.per_tensor_affine, reduce_range=False, quant_min=None,
                 quant_max=None, eps=FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        if not is_per_tensor(qscheme):
            raise NotImplementedError("MovingAverageMinMaxObserver's qscheme only support "
                                      "torch.per_tensor_symmetric and torch.per_tensor_affine. "
                                      f"but got: {qscheme}")
        if is_dynamic and averaging_constant != 1:
            raise NotImplementedError("MovingAverageMinMaxObserver doesn't support dynamic "
                                      "quantization for averaging constant of "
                                      f"{averaging_constant}")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max, eps=eps,
                         is_dynamic=is_dynamic, **kwargs)
        self.averaging_constant = averaging_constant

    def forward(self, x_orig):
        """Updates the moving averages of min and max with ``x``'s."""
        if G._t(x_orig).numel() == 0:
            return x_orig
        with no_grad():
            x = self._input(x_orig)
            mn, mx = self.min_val, self.max_val
            first = (mn == float("inf")) & (mx == float("-inf"))
            c = self.averaging_constant
            new_min = moving_average(mn, G.amin(x), c, first)
            new_max = moving_average(mx, G.amax(x), c, first)
            self.min_val.copy_(new_min)
            self.max_val.copy_(new_max)
        return x_orig


def _rows(x: Tensor, ch_axis: int) -> Tensor:
    """x with ch_axis swapped to the front and the rest flattened: (C, -1), as torch's."""
    perm = list(range(x.ndim))
    perm[ch_axis], perm[0] = 0, ch_axis
    y = G.permute(x, perm)
    return G.reshape(y, (y.shape[0], -1))


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """Records the running minimum and maximum per slice along `ch_axis` (scales and zero points
    per channel). min_val/max_val start empty and get C elements at the first forward."""

    def __init__(self, ch_axis=0, dtype=dtypes.quint8, qscheme=dtypes.per_channel_affine,
                 reduce_range=False, quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        if not is_per_channel(qscheme):
            raise NotImplementedError(
                "PerChannelMinMaxObserver's qscheme only support torch.per_channel_symmetric, "
                "torch.per_channel_affine and torch.per_channel_affine_float_qparams.")
        if is_dynamic:
            raise NotImplementedError("PerChannelMinMaxObserver doesn't support dynamic "
                                      "quantization")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max,
                         factory_kwargs=factory_kwargs, eps=eps, is_dynamic=is_dynamic, **kwargs)
        self.ch_axis = ch_axis
        self.register_buffer("min_val", np.zeros((0,), np.float32))
        self.register_buffer("max_val", np.zeros((0,), np.float32))
        if self.qscheme is dtypes.per_channel_symmetric and self.reduce_range and \
                self.dtype is dtypes.quint8:
            raise NotImplementedError("Cannot reduce range for symmetric quantization for quint8")

    def _channel_rows(self, x_orig) -> Tensor:
        """The detached input as (C, -1) rows; sizes the statistics to C on first use."""
        x = G._t(x_orig).detach()
        axis = self.ch_axis
        if isinstance(axis, bool) or not -x.ndim <= axis < x.ndim:
            raise GraphcError(f"{type(self).__name__}: ch_axis {axis} is out of range for an "
                              f"input of shape {list(x.shape)}")
        axis %= x.ndim
        c = x.shape[axis]
        if self.min_val.numel() == 0 or self.max_val.numel() == 0:
            resize_buffer(self.min_val, (c,), np.inf)
            resize_buffer(self.max_val, (c,), -np.inf)
        if self.min_val.shape != (c,):
            raise GraphcError(f"{type(self).__name__}: statistics for {self.min_val.shape[0]} "
                              f"channels but the input has {c} along ch_axis {axis} (shape "
                              f"{list(x.shape)}); call reset_min_max_vals() first")
        return G.cast(_rows(x, axis), self.min_val.dtype)

    def forward(self, x_orig):
        """Records the running per-channel minimum and maximum of ``x``."""
        return self._forward(x_orig)

    def _forward(self, x_orig):
        if G._t(x_orig).numel() == 0:
            return x_orig
        with no_grad():
            y = self._channel_rows(x_orig)
            self.min_val.copy_(G.minimum(G.amin(y, 1), self.min_val))
            self.max_val.copy_(G.maximum(G.amax(y, 1), self.max_val))
        return x_orig

    def calculate_qparams(self):
        """Per-channel (scales, zero_points)."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def extra_repr(self):
        """min_val and max_val, as torch prints them."""
        return f"min_val={_show(self.min_val)}, max_val={_show(self.max_val)}"

    def reset_min_max_vals(self):
        """Forget the statistics: min_val/max_val become empty again."""
        self.min_val._data = np.zeros((0,), np.float32)
        self.max_val._data = np.zeros((0,), np.float32)


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel moving averages of min and max (see MovingAverageMinMaxObserver)."""

    def __init__(self, averaging_constant=0.01, ch_axis=0, dtype=dtypes.quint8,
                 qscheme=dtypes.per_channel_affine, reduce_range=False, quant_min=None,
                 quant_max=None, eps=FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        if not is_per_channel(qscheme):
            raise NotImplementedError(
                "MovingAveragePerChannelMinMaxObserver's qscheme only support "
                "torch.per_channel_symmetric, torch.per_channel_affine and "
                "torch.per_channel_affine_float_qparams.")
        if is_dynamic:
            raise NotImplementedError("MovingAveragePerChannelMinMaxObserver doesn't support "
                                      "dynamic quantization")
        super().__init__(ch_axis=ch_axis, dtype=dtype, qscheme=qscheme,
                         reduce_range=reduce_range, quant_min=quant_min, quant_max=quant_max,
                         eps=eps, is_dynamic=is_dynamic, **kwargs)
        self.averaging_constant = averaging_constant

    def forward(self, x_orig):
        """Updates the per-channel moving averages with ``x``'s minimum and maximum."""
        if G._t(x_orig).numel() == 0:
            return x_orig
        with no_grad():
            y = self._channel_rows(x_orig)
            mn, mx = self.min_val, self.max_val
            first = (mn == float("inf")) & (mx == float("-inf"))
            c = self.averaging_constant
            self.min_val.copy_(moving_average(mn, G.amin(y, 1), c, first))
            self.max_val.copy_(moving_average(mx, G.amax(y, 1), c, first))
        return x_orig


def _f32(v) -> np.float32:
    return np.float32(v)


def _histc(x: np.ndarray, bins: int, lo, hi) -> np.ndarray:
    """torch.histc(x, bins, min=lo, max=hi) on the CPU: bin = int((x - lo) * bins / (hi - lo))
    in float32, the top edge inclusive, values outside [lo, hi] (and NaN) dropped; lo == hi is
    widened by 1 on each side."""
    x = np.asarray(x, np.float32).ravel()
    lo, hi = _f32(lo), _f32(hi)
    if lo == hi:
        lo, hi = _f32(lo - 1), _f32(hi + 1)
    with np.errstate(invalid="ignore"):
        x = x[(x >= lo) & (x <= hi)]
    pos = (((x - lo) * _f32(bins)) / (hi - lo)).astype(np.float32).astype(np.int64)
    pos[pos == bins] = bins - 1
    return np.bincount(pos, minlength=bins).astype(np.float32)


def _linspace(a, b, n: int) -> np.ndarray:
    """torch.linspace in float32 on the CPU (one rounding of start + step * i, the upper half
    counted back from the end)."""
    a, b = _f32(a), _f32(b)
    step = _f32((b - a) / _f32(n - 1))
    i = np.arange(n)
    lo = (np.float64(a) + np.float64(step) * i).astype(np.float32)
    hi = (np.float64(b) - np.float64(step) * (n - i - 1)).astype(np.float32)
    return np.where(i < n // 2, lo, hi).astype(np.float32)


def _floor_div(a: np.ndarray, b) -> np.ndarray:
    """torch.div(a, b, rounding_mode="floor") for float32 (its fmod-based formula)."""
    b = _f32(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        mod = np.fmod(a, b).astype(np.float32)
        div = ((a - mod) / b).astype(np.float32)
        div = np.where((mod != 0) & ((b < 0) != (mod < 0)), div - _f32(1), div).astype(np.float32)
        fl = np.where(div != 0, np.floor(div), np.copysign(_f32(0), a / b)).astype(np.float32)
        fl = np.where(div - fl > _f32(0.5), fl + _f32(1), fl).astype(np.float32)
    return fl


class HistogramObserver(UniformQuantizationObserverBase):
    """Records a running histogram (`bins` bins over [min_val, max_val]) and picks the range
    minimising the L2 quantization error (torch's non-linear search) for calculate_qparams.

    Eager only (calibration for post-training quantization): its histogram merging and range
    search branch on the data, so inside graphc.compile it raises NotSupportedError. Follows
    torch's float32 steps (histc, linspace, bucketize, bincount, the floor division, the norm
    terms); the search compares summed errors, which graphc sums in float64 where torch sums
    float32 in its own order, so two candidate ranges whose errors tie within float32 rounding
    could be ordered differently (not seen in the tests)."""

    def __init__(self, bins: int = 2048, dtype=dtypes.quint8, qscheme=dtypes.per_tensor_affine,
                 reduce_range=False, quant_min=None, quant_max=None, factory_kwargs=None,
                 eps=FLOAT32_EPS, is_dynamic=False, **kwargs) -> None:
        if not is_per_tensor(qscheme):
            raise NotImplementedError("HistogramObserver's qscheme only support "
                                      "torch.per_tensor_symmetric and torch.per_tensor_affine.")
        if is_dynamic:
            raise NotImplementedError("HistogramObserver doesn't support dynamic quantization")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range,
                         quant_min=quant_min, quant_max=quant_max,
                         factory_kwargs=factory_kwargs, eps=eps, is_dynamic=is_dynamic, **kwargs)
        self.bins = bins
        self.register_buffer("histogram", np.zeros(bins, np.float32))
        self.register_buffer("min_val", np.array(np.inf, np.float32))
        self.register_buffer("max_val", np.array(-np.inf, np.float32))
        self.dst_nbins = 2 ** (8 if self.dtype not in (dtypes.qint32, dtypes.int32) else 32)
        self.upsample_rate = 16

    # the statistics live in NumPy here (eager only); written back into the buffers' arrays
    def _get(self):
        return (self.histogram._data, _f32(self.min_val._data), _f32(self.max_val._data))

    def _set(self, hist, mn, mx) -> None:
        np.copyto(self.histogram._data, np.asarray(hist, np.float32))
        self.min_val._data[...] = mn
        self.max_val._data[...] = mx

    def _compute_quantization_error(self, next_start_bin: int, next_end_bin: int) -> float:
        hist, mn, mx = self._get()
        bin_width = (float(mx) - float(mn)) / self.bins
        dst_bin_width = bin_width * (next_end_bin - next_start_bin + 1) / self.dst_nbins
        if dst_bin_width == 0.0:
            return 0.0
        bw, dw = _f32(bin_width), _f32(dst_bin_width)
        src_bin = np.arange(self.bins)
        begin = ((src_bin - next_start_bin).astype(np.float32) * bw).astype(np.float32)
        end = (begin + bw).astype(np.float32)
        top = _f32(self.dst_nbins - 1)
        dst_begin = np.clip(_floor_div(begin, dw), _f32(0), top).astype(np.float32)
        dst_begin_center = ((dst_begin + _f32(0.5)) * dw).astype(np.float32)
        dst_end = np.clip(_floor_div(end, dw), _f32(0), top).astype(np.float32)
        density = (hist / bw).astype(np.float32)

        def l2(db, de):
            three = _f32(3)
            return (density * (((de * de * de) - (db * db * db)) / three)).astype(np.float32)

        half = _f32(dst_bin_width / 2)
        norm = np.zeros(self.bins, np.float32)
        norm = (norm + l2((begin - dst_begin_center).astype(np.float32),
                          np.full(self.bins, half, np.float32))).astype(np.float32)
        norm = (norm + ((dst_end - dst_begin - _f32(1)).astype(np.float32)
                        * l2(_f32(-dst_bin_width / 2), half))).astype(np.float32)
        dst_end_center = ((dst_end * dw).astype(np.float32) + half).astype(np.float32)
        norm = (norm + l2(_f32(-dst_bin_width / 2),
                          (end - dst_end_center).astype(np.float32))).astype(np.float32)
        return float(np.sum(norm, dtype=np.float64))

    def _non_linear_param_search(self):
        hist, mn, mx = self._get()
        if hist.shape[0] != self.bins:
            raise GraphcError("bins mismatch")
        bin_width = _f32((mx - mn) / _f32(self.bins))
        total = float(np.sum(hist, dtype=np.float64))
        csum = np.cumsum(hist.astype(np.float64)).astype(np.float32)
        stepsize, alpha, beta = 1e-5, 0.0, 1.0
        start_bin, end_bin = 0, self.bins - 1
        norm_min = float("inf")
        while alpha < beta:
            next_alpha, next_beta = alpha + stepsize, beta - stepsize
            lo_t, hi_t = _f32(next_alpha * total), _f32(next_beta * total)
            left, right = start_bin, end_bin
            while left < end_bin and csum[left] < lo_t:
                left += 1
            while right > start_bin and csum[right] > hi_t:
                right -= 1
            next_start_bin, next_end_bin = start_bin, end_bin
            if (left - start_bin) > (end_bin - right):
                next_start_bin, alpha = left, next_alpha
            else:
                next_end_bin, beta = right, next_beta
            if next_start_bin == start_bin and next_end_bin == end_bin:
                continue
            norm = self._compute_quantization_error(next_start_bin, next_end_bin)
            if norm > norm_min:
                break
            norm_min = norm
            start_bin, end_bin = next_start_bin, next_end_bin
        new_min = _f32(mn + _f32(bin_width * _f32(start_bin)))
        new_max = _f32(mn + _f32(bin_width * _f32(end_bin + 1)))
        return G.tensor(new_min), G.tensor(new_max)

    def _upscale_histogram(self, histogram, orig_min, orig_max, update_min, update_max):
        r = self.upsample_rate
        histogram = (np.repeat(histogram, r) / _f32(r)).astype(np.float32)
        bin_size = _f32((orig_max - orig_min) / _f32(self.bins * r))
        mids = (_linspace(orig_min, orig_max, self.bins * r + 1)[:-1]
                + _f32(_f32(0.5) * bin_size)).astype(np.float32)
        bounds = _linspace(update_min, update_max, self.bins + 1)
        idx = np.searchsorted(bounds, mids, side="right") - 1
        idx = np.clip(idx, 0, self.bins - 1)
        out = np.zeros(self.bins, np.float32)
        np.add.at(out, idx, histogram)
        return out

    def _combine_histograms(self, orig_hist, orig_min, orig_max, update_hist, update_min,
                            update_max):
        if update_min == orig_min and update_max == orig_max:
            return (orig_hist + update_hist).astype(np.float32)
        if orig_min == orig_max:
            bin_value = _f32(np.sum(orig_hist, dtype=np.float64))
            t = (_histc(np.array([orig_min]), self.bins, update_min, update_max)
                 * bin_value).astype(np.float32)
            return (t + update_hist).astype(np.float32)
        t = self._upscale_histogram(orig_hist, orig_min, orig_max, update_min, update_max)
        return (update_hist + t).astype(np.float32)

    def forward(self, x_orig):
        """Adds x's values to the histogram (widening its range as needed, as torch)."""
        if _is_tracing():
            raise NotSupportedError(
                "HistogramObserver runs eagerly only (its histogram merging branches on the "
                "data): calibrate outside graphc.compile, or use MinMaxObserver / "
                "MovingAverageMinMaxObserver in compiled steps")
        x = np.asarray(G._t(x_orig).detach().numpy(), np.float32)
        if x.size == 0:
            return x_orig
        x_min, x_max = _f32(x.min()), _f32(x.max())
        if x_min == -np.inf or x_max == np.inf:
            warnings.warn("torch.inf detected in input tensor, ignoring input", stacklevel=2)
            x = x[np.abs(x) != np.inf]
            if x.size == 0:
                return x_orig
            x_min, x_max = _f32(x.min()), _f32(x.max())
        hist, cur_min, cur_max = self._get()
        if cur_min == np.inf or cur_max == -np.inf:
            self._set(_histc(x, self.bins, x_min, x_max), x_min, x_max)
            return x_orig
        new_min, new_max = min(cur_min, x_min), max(cur_max, x_max)
        update = _histc(x, self.bins, new_min, new_max)
        if new_min == cur_min and new_max == cur_max:
            self._set(hist + update, cur_min, cur_max)
        else:
            self._set(self._combine_histograms(hist, cur_min, cur_max, update, new_min, new_max),
                      new_min, new_max)
        return x_orig

    def calculate_qparams(self):
        """(scale, zero_point) of the range the L2 search picks from the histogram."""
        if _is_tracing():
            raise NotSupportedError("HistogramObserver.calculate_qparams runs eagerly only")
        _, mn, mx = self._get()
        if mn == np.inf and mx == -np.inf:
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default scale and zero point ", stacklevel=2)
            return G.tensor([1.0]), G.tensor([0])
        if self.bins != len(self.histogram._data):
            raise GraphcError("The number of bins in histogram should be equal to the number of "
                              "bins supplied while making this observer")
        new_min, new_max = self._non_linear_param_search()
        return self._calculate_qparams(new_min, new_max)

    def extra_repr(self):
        """min_val and max_val, as torch prints them."""
        return f"min_val={_show(self.min_val)}, max_val={_show(self.max_val)}"


class FixedQParamsObserver(ObserverBase):
    """An observer with a fixed scale and zero point (for ops with a known output range, such
    as sigmoid and tanh); per tensor only."""

    def __init__(self, scale, zero_point, dtype=dtypes.quint8, qscheme=dtypes.per_tensor_affine,
                 quant_min=0, quant_max=255, is_dynamic=False, **kwargs):
        if is_dynamic:
            raise NotImplementedError("FixedQParamsObserver doesn't support dynamic quantization")
        super().__init__(dtype=dtype, is_dynamic=is_dynamic, **kwargs)
        self.quant_min = quant_min
        self.quant_max = quant_max
        self.register_buffer("scale", np.array([scale], np.float32))
        self.register_buffer("zero_point", np.array([zero_point], np.int32))
        self.dtype = dtype
        self.qscheme = qscheme

    def forward(self, X):
        """Returns X (nothing to record)."""
        return X

    def calculate_qparams(self):
        """The fixed (scale, zero_point) buffers."""
        return self.scale, self.zero_point


class PlaceholderObserver(ObserverBase):
    """Records nothing; passes its configuration (dtype, is_dynamic, range) to convert."""

    def __init__(self, dtype=dtypes.float32, custom_op_name="", compute_dtype=None,
                 quant_min=None, quant_max=None, qscheme=None, eps=None,
                 is_dynamic=False) -> None:
        super().__init__(dtype=dtype, is_dynamic=is_dynamic)
        if qscheme is None:
            qscheme = dtypes.per_tensor_affine
        if eps is None:
            eps = FLOAT32_EPS
        self.dtype = dtype
        self.qscheme = qscheme
        self.quant_min = quant_min
        self.quant_max = quant_max
        self.eps = eps
        self.custom_op = custom_op_name
        if compute_dtype:
            is_dynamic = True
            warnings.warn("Please use `is_dynamic` instead of `compute_dtype`. `compute_dtype` "
                          "will be deprecated in a future release of PyTorch.", stacklevel=2)

    def forward(self, x):
        """Returns x."""
        return x

    def extra_repr(self):
        """dtype and is_dynamic, as torch prints them."""
        return f"dtype={self.dtype}, is_dynamic={self.is_dynamic}"

    def calculate_qparams(self):
        """Raises: a placeholder has no statistics."""
        raise GraphcError("calculate_qparams should not be called for PlaceholderObserver")


class RecordingObserver(ObserverBase):
    """Debug observer: keeps a copy of every tensor it sees (eager only)."""

    def __init__(self, dtype=dtypes.quint8):
        super().__init__(dtype=dtype, is_dynamic=False)
        self.tensor_val = []

    def forward(self, x):
        """Appends a copy of x to tensor_val and returns x."""
        if _is_tracing():
            raise NotSupportedError("RecordingObserver keeps Python lists of tensors: use it "
                                    "eagerly, outside graphc.compile")
        self.tensor_val.append(G._t(x).clone())
        return x

    def calculate_qparams(self):
        """Raises: a recording observer computes no parameters."""
        raise GraphcError("calculate_qparams should not be called for RecordingObserver")

    def get_tensor_value(self):
        """The recorded tensors."""
        return self.tensor_val


class NoopObserver(ObserverBase):
    """Records nothing (used for float16 quantization, which needs no range)."""

    def __init__(self, dtype=dtypes.float32, custom_op_name="") -> None:
        super().__init__(dtype=dtype, is_dynamic=False)
        self.dtype = dtype
        self.custom_op = custom_op_name

    def forward(self, x):
        """Returns x."""
        return x

    def calculate_qparams(self):
        """Raises: a no-op observer has no statistics."""
        raise GraphcError("calculate_qparams should not be called for NoopObserver")


class ReuseInputObserver(ObserverBase):
    """Reuses the observer of the op's input (FX graph mode in torch); records nothing."""

    def __init__(self) -> None:
        super().__init__(dtypes.quint8, is_dynamic=False)

    def forward(self, x):
        """Returns x."""
        return x

    def calculate_qparams(self):
        """Raises: this observer has no statistics of its own."""
        raise GraphcError("calculate_qparams should not be called for ReuseInputObserver")


def _is_activation_post_process(module) -> bool:
    """An observer or a fake-quant module (known by its flag buffer: fake_quantize.py builds on
    this module, not the other way round)."""
    return isinstance(module, ObserverBase) or (
        isinstance(module, Module) and "fake_quant_enabled" in module._buffers)


def get_observer_state_dict(mod):
    """The entries of mod.state_dict() that belong to observers and fake-quant modules (keys
    containing 'activation_post_process'), as torch's."""
    return OrderedDict((k, v) for k, v in mod.state_dict().items()
                       if "activation_post_process" in k)


def load_observer_state_dict(mod, obs_dict) -> None:
    """Copy observer statistics (get_observer_state_dict's) into mod's observers, giving empty
    per-channel statistics (and scale/zero_point) the saved shape first, as torch does. A missing
    or unexpected observer key raises."""
    own = OrderedDict()
    for name, m in mod.named_modules():
        if _is_activation_post_process(m):
            for bname, buf in m._buffers.items():
                own[f"{name}.{bname}" if name else bname] = buf
    missing = [k for k in own if k not in obs_dict]
    unexpected = [k for k in obs_dict if k not in own]
    if missing:
        raise GraphcError(f"Missing keys for observer {missing[0]} in state_dict")
    if unexpected:
        raise GraphcError(f"Unexpected keys for observer {unexpected[0]} in state_dict")
    for k, buf in own.items():
        v = obs_dict[k]
        arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "cpu") else v)
        if arr.shape != buf.shape:
            buf._data = np.array(arr, dtype=buf._data.dtype)
        else:
            np.copyto(buf._data, arr.astype(buf._data.dtype, copy=False))


# ---- the defaults torch defines ------------------------------------------------------------------

default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_placeholder_observer = PlaceholderObserver
default_debug_observer = RecordingObserver
default_weight_observer = MinMaxObserver.with_args(dtype=dtypes.qint8,
                                                   qscheme=dtypes.per_tensor_symmetric)
weight_observer_range_neg_127_to_127 = MinMaxObserver.with_args(
    dtype=dtypes.qint8, qscheme=dtypes.per_tensor_symmetric, quant_min=-127, quant_max=127,
    eps=2 ** -12)
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=dtypes.qint8, qscheme=dtypes.per_channel_symmetric)
per_channel_weight_observer_range_neg_127_to_127 = PerChannelMinMaxObserver.with_args(
    dtype=dtypes.qint8, qscheme=dtypes.per_channel_symmetric, quant_min=-127, quant_max=127,
    eps=2 ** -12)
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype=dtypes.quint8, quant_min=0, quant_max=255, is_dynamic=True)
default_float_qparams_observer = PerChannelMinMaxObserver.with_args(
    dtype=dtypes.quint8, qscheme=dtypes.per_channel_affine_float_qparams, ch_axis=0)
default_fixed_qparams_range_neg1to1_observer = FixedQParamsObserver.with_args(
    scale=2.0 / 256.0, zero_point=128, dtype=dtypes.quint8, quant_min=0, quant_max=255)
default_fixed_qparams_range_0to1_observer = FixedQParamsObserver.with_args(
    scale=1.0 / 256.0, zero_point=0, dtype=dtypes.quint8, quant_min=0, quant_max=255)
default_symmetric_fixed_qparams_observer = default_fixed_qparams_range_neg1to1_observer
default_affine_fixed_qparams_observer = default_fixed_qparams_range_0to1_observer
default_reuse_input_observer = ReuseInputObserver
