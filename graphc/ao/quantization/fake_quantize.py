"""Fake-quantize modules (torch.ao.quantization.fake_quantize): an observer plus fake
quantization, for quantization-aware training.

    y = (clamp(nearbyint(x / scale) + zero_point, quant_min, quant_max) - zero_point) * scale

with the straight-through gradient (graphc.fake_quantize_per_tensor_affine / _per_channel_).
Same classes, constructor arguments, attributes (`activation_post_process`, `scale`,
`zero_point`, `dtype`, `qscheme`, `ch_axis`, `quant_min`, `quant_max`, `is_per_channel`), uint8
`fake_quant_enabled` / `observer_enabled` buffers (int64 in FusedMovingAvgObsFakeQuantize) and
state_dict keys as torch's.

The two flags are read at run time, not in Python: forward computes the observed statistics
and the fake-quantized tensor and selects with `where` (statistics and scale/zero_point keep
their old values while the observer is off; the input passes unchanged, gradient 1, while fake
quantization is off). So `model.apply(disable_observer)` between calls of a compiled step takes
effect in the next call without a retrace. Per-channel `scale`/`zero_point` (shape (1,) at
construction, as torch's) get C elements at the first forward; that depends on shapes only.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ... import dtypes
from ... import functions as G
from ...errors import GraphcError, NotSupportedError
from ...grad_mode import no_grad
from ...nn.module import Module
from ...quant_ops import (
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
    fused_moving_avg_obs_fake_quant,
    resize_buffer,
)
from ...tensor import Tensor
from .observer import (
    FixedQParamsObserver,
    HistogramObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    _with_args,
    default_fixed_qparams_range_0to1_observer,
    default_fixed_qparams_range_neg1to1_observer,
)
from .utils import is_per_channel as _is_per_channel
from .utils import is_per_tensor as _is_per_tensor
from .utils import is_symmetric as _is_symmetric_quant

__all__ = [
    "FakeQuantize",
    "FakeQuantizeBase",
    "FixedQParamsFakeQuantize",
    "FusedMovingAvgObsFakeQuantize",
    "default_affine_fixed_qparams_fake_quant",
    "default_dynamic_fake_quant",
    "default_embedding_fake_quant",
    "default_fake_quant",
    "default_fixed_qparams_range_0to1_fake_quant",
    "default_fixed_qparams_range_neg1to1_fake_quant",
    "default_fused_act_fake_quant",
    "default_fused_per_channel_wt_fake_quant",
    "default_fused_wt_fake_quant",
    "default_histogram_fake_quant",
    "default_per_channel_weight_fake_quant",
    "default_symmetric_fixed_qparams_fake_quant",
    "default_weight_fake_quant",
    "disable_fake_quant",
    "disable_observer",
    "enable_fake_quant",
    "enable_observer",
    "fused_per_channel_wt_fake_quant_range_neg_127_to_127",
    "fused_wt_fake_quant_range_neg_127_to_127",
]

_IINFO = {dtypes.qint8: (-128, 127), dtypes.quint8: (0, 255), dtypes.qint32: (-(2 ** 31),
          2 ** 31 - 1), dtypes.int8: (-128, 127), dtypes.uint8: (0, 255),
          dtypes.int32: (-(2 ** 31), 2 ** 31 - 1)}


def _is_float_qparams(qscheme) -> bool:
    return qscheme is dtypes.per_channel_affine_float_qparams


def _show(buf: Tensor) -> str:
    """A buffer as torch prints a tensor inside a repr (no "Parameter containing")."""
    return repr(Tensor._wrap(buf._data))


def _flag(buf: Tensor) -> Tensor:
    """A (1,) flag buffer as a 0-d bool tensor (read at run time)."""
    return G.reshape(buf, ()) == 1


class FakeQuantizeBase(ABC, Module):
    """Base fake-quantize module: the `fake_quant_enabled` and `observer_enabled` uint8 (1,)
    buffers and the methods that toggle them (in place, so compiled steps see the change)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fake_quant_enabled", np.array([1], np.uint8))
        self.register_buffer("observer_enabled", np.array([1], np.uint8))

    @abstractmethod
    def forward(self, x):
        """Observe and fake-quantize x."""

    @abstractmethod
    def calculate_qparams(self, **kwargs):
        """(scale, zero_point) from the observer."""

    def enable_fake_quant(self, enabled: bool = True) -> None:
        """Turn fake quantization on (or off with enabled=False)."""
        self.fake_quant_enabled._data[0] = 1 if enabled else 0

    def disable_fake_quant(self):
        """Turn fake quantization off: forward returns its input."""
        self.enable_fake_quant(False)

    def enable_observer(self, enabled: bool = True) -> None:
        """Turn observation on (or off with enabled=False)."""
        self.observer_enabled._data[0] = 1 if enabled else 0

    def disable_observer(self):
        """Freeze the statistics, scale and zero point."""
        self.enable_observer(False)

    @classmethod
    def with_args(cls, **kwargs):
        """torch's factory: `FakeQuantize.with_args(observer=..., quant_min=0)()`."""
        fake_quant_constructor = _with_args(cls, **kwargs)
        fake_quant_constructor.__module__ = "graphc.ao.quantization.fake_quantize"
        return fake_quant_constructor


def _observe_under(observer: Module, x: Tensor, enabled: Tensor) -> None:
    """Run observer(x), keeping each of its buffers' old value where `enabled` is false."""
    prep = getattr(observer, "_channel_rows", None)
    if prep is not None and G._t(x).numel():
        prep(x)                              # size empty per-channel statistics first
    bufs = list(observer._buffers.values()) if hasattr(observer, "_buffers") else []
    with no_grad():
        old = [b.clone() for b in bufs]
    observer(x)
    with no_grad():
        for b, o in zip(bufs, old):
            if b.shape == o.shape:
                b.copy_(G.where(enabled, b, o))


class FakeQuantize(FakeQuantizeBase):
    """Simulates quantize and dequantize in training:
    x_out = (clamp(round(x / scale + zero_point), quant_min, quant_max) - zero_point) * scale,
    with scale and zero_point from the observer (`activation_post_process`) while
    observer_enabled, applied while fake_quant_enabled."""

    def __init__(self, observer=MovingAverageMinMaxObserver, quant_min=None, quant_max=None,
                 is_dynamic=False, **observer_kwargs):
        super().__init__()
        if quant_min is not None and quant_max is not None:
            if quant_min > quant_max:
                raise GraphcError("quant_min must be less than or equal to quant_max")
            dtype = observer_kwargs.get("dtype", dtypes.quint8)
            if hasattr(observer, "p"):
                dtype = getattr(getattr(observer, "p", {}), "keywords", {}).get("dtype", dtype)
            lo, hi = _IINFO.get(dtype, (None, None))
            if lo is None:
                raise NotSupportedError(f"FakeQuantize: dtype {dtype} is not supported")
            if lo > quant_min:
                raise GraphcError("quant_min out of bound")
            if quant_max > hi:
                raise GraphcError("quant_max out of bound")
            observer_kwargs.update({"quant_min": quant_min, "quant_max": quant_max})
        observer_kwargs["is_dynamic"] = is_dynamic
        self.activation_post_process = observer(**observer_kwargs)
        self.quant_min = self.activation_post_process.quant_min
        self.quant_max = self.activation_post_process.quant_max
        self.is_dynamic = self.activation_post_process.is_dynamic
        zero_point_dtype = np.float32 if _is_float_qparams(
            self.activation_post_process.qscheme) else np.int32
        self.register_buffer("scale", np.array([1.0], np.float32))
        self.register_buffer("zero_point", np.array([0], zero_point_dtype))
        self.dtype = self.activation_post_process.dtype
        self.qscheme = self.activation_post_process.qscheme
        self.ch_axis = (self.activation_post_process.ch_axis
                        if hasattr(self.activation_post_process, "ch_axis") else -1)
        if not (_is_per_channel(self.qscheme) or _is_per_tensor(self.qscheme)):
            raise GraphcError("Only per channel and per tensor quantization are supported in "
                              f"fake quantize got qscheme: {self.qscheme}")
        self.is_per_channel = _is_per_channel(self.qscheme)

    def calculate_qparams(self):
        """The observer's (scale, zero_point)."""
        return self.activation_post_process.calculate_qparams()

    def _update_qparams(self, X: Tensor, observe: Tensor) -> None:
        """Observe X and store the new scale/zero_point, where `observe` holds."""
        _observe_under(self.activation_post_process, X.detach(), observe)
        with no_grad():
            _scale, _zero_point = self.calculate_qparams()
            if self.scale.shape != _scale.shape:
                resize_buffer(self.scale, _scale.shape, 1.0)
                resize_buffer(self.zero_point, _zero_point.shape, 0)
            self.scale.copy_(G.where(observe, _scale, self.scale))
            self.zero_point.copy_(G.where(observe, G.cast(_zero_point, self.zero_point.dtype),
                                          self.zero_point))

    def forward(self, X):
        """Observe X (if observer_enabled), then fake-quantize it (if fake_quant_enabled)."""
        X = G._t(X)
        self._update_qparams(X, _flag(self.observer_enabled))
        if self.is_per_channel:
            Y = fake_quantize_per_channel_affine(X, self.scale, self.zero_point, self.ch_axis,
                                                 self.activation_post_process.quant_min,
                                                 self.activation_post_process.quant_max)
        else:
            Y = fake_quantize_per_tensor_affine(X, self.scale, self.zero_point,
                                                self.activation_post_process.quant_min,
                                                self.activation_post_process.quant_max)
        return G.where(_flag(self.fake_quant_enabled), Y, X)

    def extra_repr(self):
        """torch's: flags, range, dtype, qscheme, ch_axis, scale and zero_point."""
        return (f"fake_quant_enabled={_show(self.fake_quant_enabled)}, "
                f"observer_enabled={_show(self.observer_enabled)}, "
                f"quant_min={self.activation_post_process.quant_min}, "
                f"quant_max={self.activation_post_process.quant_max}, "
                f"dtype={self.dtype}, qscheme={self.qscheme}, ch_axis={self.ch_axis}, "
                f"scale={_show(self.scale)}, zero_point={_show(self.zero_point)}")


class FixedQParamsFakeQuantize(FakeQuantize):
    """Fake quantization with a fixed scale and zero point (a FixedQParamsObserver's); per tensor
    only."""

    def __init__(self, observer):
        super().__init__(observer=observer)
        if type(self.activation_post_process) is not FixedQParamsObserver:
            raise GraphcError(f"{self.__class__.__name__}'s observer must be a "
                              f"{FixedQParamsObserver.__name__}")
        self._observer_ctr = observer
        # torch shares the observer's tensors; graphc's state_dict lists a shared buffer once,
        # so these are copies (both are fixed), keeping torch's keys in the state dict
        self.register_buffer("scale", self.activation_post_process.scale._data.copy())
        self.register_buffer("zero_point", self.activation_post_process.zero_point._data.copy())
        if not _is_per_tensor(self.qscheme):
            raise GraphcError("Only per tensor quantization is supported "
                              f"FixedQParamsFakeQuantize module, got qscheme:{self.qscheme}")

    def calculate_qparams(self):
        """The fixed (scale, zero_point)."""
        return self.scale, self.zero_point

    def extra_repr(self):
        """torch's: flags, scale, zero_point, dtype, range and qscheme."""
        return (f"fake_quant_enabled={_show(self.fake_quant_enabled)}, "
                f"observer_enabled={_show(self.observer_enabled)}, "
                f"scale={_show(self.scale)}, zero_point={_show(self.zero_point)}, "
                f"dtype={self.dtype}, quant_min={self.activation_post_process.quant_min}, "
                f"quant_max={self.activation_post_process.quant_max}, qscheme={self.qscheme}")


class FusedMovingAvgObsFakeQuantize(FakeQuantize):
    """Observer and fake quantization in one op (torch.fused_moving_avg_obs_fake_quant): moving
    average min/max, then scale/zero_point by fbgemm's rule (which differs from
    calculate_qparams' in the last bits: torch's fused module does the same), then fake quant.
    Its flags are int64 (1,) buffers, as torch's."""

    def __init__(self, observer: Any = MovingAverageMinMaxObserver, quant_min: int = 0,
                 quant_max: int = 255, **observer_kwargs: Any) -> None:
        super().__init__(observer, quant_min, quant_max, **observer_kwargs)
        if not isinstance(self.activation_post_process,
                          (MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver)):
            raise GraphcError("Fused observer+fake_quant module only works with "
                              "MovingAverageMinMaxObserver")
        # int64 flags, as torch's (new arrays for the same buffers: state_dict order is kept)
        self.fake_quant_enabled._data = np.array([1], np.int64)
        self.observer_enabled._data = np.array([1], np.int64)
        self.is_symmetric_quant = _is_symmetric_quant(self.activation_post_process.qscheme)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """The observer's (scale, zero_point) (calculate_qparams' rule, not the fused one)."""
        return self.activation_post_process.calculate_qparams()

    def extra_repr(self) -> str:
        """torch's: flags, scale, zero_point, dtype, range, qscheme and reduce_range."""
        return (f"fake_quant_enabled={_show(self.fake_quant_enabled)}, "
                f"observer_enabled={_show(self.observer_enabled)}, "
                f"scale={_show(self.scale)}, zero_point={_show(self.zero_point)}, dtype={self.dtype}, "
                f"quant_min={self.activation_post_process.quant_min}, "
                f"quant_max={self.activation_post_process.quant_max}, "
                f"qscheme={self.qscheme}, "
                f"reduce_range={self.activation_post_process.reduce_range}")

    def forward(self, X):
        """torch.fused_moving_avg_obs_fake_quant on this module's buffers."""
        app = self.activation_post_process
        return fused_moving_avg_obs_fake_quant(
            G._t(X), self.observer_enabled, self.fake_quant_enabled, app.min_val, app.max_val,
            self.scale, self.zero_point, app.averaging_constant, app.quant_min, app.quant_max,
            self.ch_axis, self.is_per_channel, self.is_symmetric_quant)


# ---- the defaults torch defines ------------------------------------------------------------------

default_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=dtypes.quint8,
    qscheme=dtypes.per_tensor_affine, reduce_range=True)
default_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=dtypes.qint8,
    qscheme=dtypes.per_tensor_symmetric, reduce_range=False)
default_dynamic_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, is_dynamic=True,
    dtype=dtypes.quint8, averaging_constant=1)
default_fixed_qparams_range_neg1to1_fake_quant = FixedQParamsFakeQuantize.with_args(
    observer=default_fixed_qparams_range_neg1to1_observer)
default_fixed_qparams_range_0to1_fake_quant = FixedQParamsFakeQuantize.with_args(
    observer=default_fixed_qparams_range_0to1_observer)
default_symmetric_fixed_qparams_fake_quant = default_fixed_qparams_range_neg1to1_fake_quant
default_affine_fixed_qparams_fake_quant = default_fixed_qparams_range_0to1_fake_quant
default_per_channel_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
    dtype=dtypes.qint8, qscheme=dtypes.per_channel_symmetric, reduce_range=False, ch_axis=0)
default_embedding_fake_quant = FakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver,
    qscheme=dtypes.per_channel_affine_float_qparams, dtype=dtypes.quint8, quant_min=0,
    quant_max=255, ch_axis=0, averaging_constant=1)
default_histogram_fake_quant = FakeQuantize.with_args(
    observer=HistogramObserver, quant_min=0, quant_max=255, dtype=dtypes.quint8,
    qscheme=dtypes.per_tensor_affine, reduce_range=True)
default_fused_act_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=dtypes.quint8)
default_fused_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=dtypes.qint8,
    qscheme=dtypes.per_tensor_symmetric)
default_fused_per_channel_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
    dtype=dtypes.qint8, qscheme=dtypes.per_channel_symmetric)
fused_wt_fake_quant_range_neg_127_to_127 = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-127, quant_max=127, dtype=dtypes.qint8,
    qscheme=dtypes.per_tensor_symmetric, eps=2 ** -12)
fused_per_channel_wt_fake_quant_range_neg_127_to_127 = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-127, quant_max=127,
    dtype=dtypes.qint8, qscheme=dtypes.per_channel_symmetric, eps=2 ** -12)


def disable_fake_quant(mod):
    """`model.apply(disable_fake_quant)`: turn fake quantization off in every FakeQuantize."""
    if isinstance(mod, FakeQuantizeBase):
        mod.disable_fake_quant()


def enable_fake_quant(mod):
    """`model.apply(enable_fake_quant)`: turn fake quantization on in every FakeQuantize."""
    if isinstance(mod, FakeQuantizeBase):
        mod.enable_fake_quant()


def disable_observer(mod):
    """`model.apply(disable_observer)`: freeze every FakeQuantize's statistics and qparams."""
    if isinstance(mod, FakeQuantizeBase):
        mod.disable_observer()


def enable_observer(mod):
    """`model.apply(enable_observer)`: resume observation in every FakeQuantize."""
    if isinstance(mod, FakeQuantizeBase):
        mod.enable_observer()
