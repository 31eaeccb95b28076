"""QConfig (torch.ao.quantization.qconfig): which observer / fake-quant constructors a layer's
activations and weights get, and torch's default configurations per backend.

    qconfig = graphc.ao.quantization.get_default_qat_qconfig("x86")
    # QConfig(activation=FusedMovingAvgObsFakeQuantize.with_args(...reduce_range=True),
    #         weight=default_fused_per_channel_wt_fake_quant)

Same names and contents as torch 2.13. graphc has no float16, so torch's float16 qconfigs are
absent. Configurations built on HistogramObserver (`get_default_qconfig`'s, torch's default for
post-training static quantization) calibrate eagerly only (the histogram observer raises
NotSupportedError inside graphc.compile).
"""
from __future__ import annotations

import copy
import warnings
from collections import namedtuple

from ... import dtypes
from ...errors import GraphcError
from ...nn import Identity
from ...nn.module import Module
from .fake_quantize import (
    FakeQuantize,
    FakeQuantizeBase,
    FusedMovingAvgObsFakeQuantize,
    default_dynamic_fake_quant,
    default_embedding_fake_quant,
    default_fake_quant,
    default_fused_act_fake_quant,
    default_fused_per_channel_wt_fake_quant,
    default_fused_wt_fake_quant,
    default_per_channel_weight_fake_quant,
    default_weight_fake_quant,
    fused_per_channel_wt_fake_quant_range_neg_127_to_127,
    fused_wt_fake_quant_range_neg_127_to_127,
)
from .observer import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    NoopObserver,
    PlaceholderObserver,
    ReuseInputObserver,
    _PartialWrapper,
    default_debug_observer,
    default_dynamic_quant_observer,
    default_float_qparams_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_placeholder_observer,
    default_reuse_input_observer,
    default_weight_observer,
    per_channel_weight_observer_range_neg_127_to_127,
    weight_observer_range_neg_127_to_127,
)

__all__ = [
    "QConfig",
    "QConfigAny",
    "QConfigDynamic",
    "default_activation_only_qconfig",
    "default_debug_qconfig",
    "default_dynamic_qat_qconfig",
    "default_dynamic_qconfig",
    "default_embedding_qat_qconfig",
    "default_per_channel_qconfig",
    "default_per_channel_symmetric_qnnpack_qat_qconfig",
    "default_per_channel_symmetric_qnnpack_qconfig",
    "default_qat_qconfig",
    "default_qat_qconfig_v2",
    "default_qconfig",
    "default_quint8_weight_qconfig",
    "default_reuse_input_qconfig",
    "default_symmetric_qnnpack_qat_qconfig",
    "default_symmetric_qnnpack_qconfig",
    "default_weight_only_qconfig",
    "float_qparams_weight_only_qconfig",
    "get_default_qat_qconfig",
    "get_default_qconfig",
    "per_channel_dynamic_qconfig",
    "qconfig_equals",
]


class QConfig(namedtuple("QConfig", ["activation", "weight"])):
    """Observer (or fake-quant) constructors for a layer's activations and weights: classes or
    `with_args` wrappers, never instances (prepare builds one per layer)."""

    __slots__ = ()

    def __new__(cls, activation, weight):
        if isinstance(activation, Module) or isinstance(weight, Module):
            raise GraphcError("QConfig received observer instance, please pass observer class "
                              "instead. Use MyObserver.with_args(x=1) to override arguments to "
                              "constructor if needed")
        return super().__new__(cls, activation, weight)


class QConfigDynamic(namedtuple("QConfigDynamic", ["activation", "weight"])):
    """torch's deprecated dynamic-quantization QConfig (use QConfig)."""

    __slots__ = ()

    def __new__(cls, activation=Identity, weight=Identity):
        warnings.warn("`QConfigDynamic` is going to be deprecated in PyTorch 1.12, please use "
                      "`QConfig` instead", FutureWarning, stacklevel=2)
        if isinstance(weight, Module):
            raise GraphcError("QConfigDynamic received observer instance, please pass observer "
                              "class instead. Use MyObserver.with_args(x=1) to override "
                              "arguments to constructor if needed")
        return super().__new__(cls, activation, weight)


QConfigAny = QConfig | None

default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_debug_qconfig = QConfig(weight=default_weight_observer,
                                activation=default_debug_observer)
default_per_channel_qconfig = QConfig(activation=default_observer,
                                      weight=default_per_channel_weight_observer)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                  weight=default_weight_observer)
per_channel_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                      weight=default_per_channel_weight_observer)
float_qparams_weight_only_qconfig = QConfig(activation=default_placeholder_observer,
                                            weight=default_float_qparams_observer)
default_qat_qconfig = QConfig(activation=default_fake_quant, weight=default_weight_fake_quant)
default_dynamic_qat_qconfig = QConfig(activation=default_dynamic_fake_quant,
                                      weight=default_weight_fake_quant)
default_weight_only_qconfig = QConfig(activation=Identity, weight=default_weight_fake_quant)
default_activation_only_qconfig = QConfig(activation=default_fake_quant, weight=Identity)
default_qat_qconfig_v2 = QConfig(activation=default_fused_act_fake_quant,
                                 weight=default_fused_wt_fake_quant)
default_reuse_input_qconfig = QConfig(activation=default_reuse_input_observer,
                                      weight=NoopObserver)
default_symmetric_qnnpack_qconfig = QConfig(
    activation=HistogramObserver.with_args(dtype=dtypes.qint8, reduce_range=False, eps=2 ** -12),
    weight=weight_observer_range_neg_127_to_127)
default_per_channel_symmetric_qnnpack_qconfig = QConfig(
    activation=HistogramObserver.with_args(dtype=dtypes.qint8, reduce_range=False, eps=2 ** -12),
    weight=per_channel_weight_observer_range_neg_127_to_127)
default_embedding_qat_qconfig = QConfig(activation=NoopObserver.with_args(dtype=dtypes.float32),
                                        weight=default_embedding_fake_quant)
default_quint8_weight_qconfig = QConfig(activation=HistogramObserver, weight=MinMaxObserver)

_SUPPORTED_BACKENDS = ["fbgemm", "x86", "qnnpack", "onednn"]


def _check_backend(backend) -> None:
    if backend not in _SUPPORTED_BACKENDS:
        raise GraphcError(f"backend: {backend} not supported. backend must be one of "
                          f"{_SUPPORTED_BACKENDS}")


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """torch's default post-training (static) qconfig for `backend`: a HistogramObserver
    activation (reduce_range for x86/fbgemm), per-channel weights (per tensor for qnnpack).
    HistogramObserver calibrates eagerly only."""
    _check_backend(backend)
    if version != 0:
        raise GraphcError(f"Version number: {version} in get_default_qconfig is not supported. "
                          "Version number must be 0")
    if backend in ("fbgemm", "x86"):
        return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                       weight=default_per_channel_weight_observer)
    if backend == "qnnpack":
        return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                       weight=default_weight_observer)
    return QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                   weight=default_per_channel_weight_observer)


def get_default_qat_qconfig(backend: str = "x86", version: int = 1) -> QConfig:
    """torch's default QAT qconfig for `backend`: version 1 (default) uses the fused
    FusedMovingAvgObsFakeQuantize modules, version 0 FakeQuantize with moving-average
    observers; x86/fbgemm: 7-bit activations (reduce_range) and per-channel weights."""
    _check_backend(backend)
    if version == 0:
        act, per_channel, per_tensor = (FakeQuantize, default_per_channel_weight_fake_quant,
                                        default_weight_fake_quant)
    elif version == 1:
        act, per_channel, per_tensor = (FusedMovingAvgObsFakeQuantize,
                                        default_fused_per_channel_wt_fake_quant,
                                        default_fused_wt_fake_quant)
    else:
        raise GraphcError(f"Version number: {version}in get_default_qat_qconfig is not "
                          "supported. Version number must be 0 or 1")
    if backend in ("fbgemm", "x86"):
        return QConfig(activation=act.with_args(observer=MovingAverageMinMaxObserver,
                                                quant_min=0, quant_max=255, reduce_range=True),
                       weight=per_channel)
    if backend == "qnnpack":
        return QConfig(activation=act.with_args(observer=MovingAverageMinMaxObserver,
                                                quant_min=0, quant_max=255, reduce_range=False),
                       weight=per_tensor)
    return QConfig(activation=act.with_args(observer=MovingAverageMinMaxObserver, quant_min=0,
                                            quant_max=255),
                   weight=per_channel)


default_symmetric_qnnpack_qat_qconfig = QConfig(
    activation=FusedMovingAvgObsFakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=dtypes.qint8,
        reduce_range=False, eps=2 ** -12),
    weight=fused_wt_fake_quant_range_neg_127_to_127)
default_per_channel_symmetric_qnnpack_qat_qconfig = QConfig(
    activation=FusedMovingAvgObsFakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=dtypes.qint8,
        reduce_range=False, eps=2 ** -12),
    weight=fused_per_channel_wt_fake_quant_range_neg_127_to_127)

_default_fp32_placeholder_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=dtypes.float32),
    weight=PlaceholderObserver.with_args(dtype=dtypes.float32))
_default_quint8_placeholder_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype=dtypes.quint8), weight=None)


def _obs_or_fq_ctr_equals(a, b) -> bool:
    if isinstance(a, _PartialWrapper) and isinstance(b, _PartialWrapper):
        return _partial_wrapper_equals(a, b)
    return a == b


def _partial_wrapper_equals(a: _PartialWrapper, b: _PartialWrapper) -> bool:
    ka, kb = copy.copy(a.p.keywords), copy.copy(b.p.keywords)
    same = True
    if "observer" in ka and "observer" in kb:
        same = _obs_or_fq_ctr_equals(ka.pop("observer"), kb.pop("observer"))
    return same and ka == kb and a.p.func == b.p.func and a.p.args == b.p.args


def qconfig_equals(q1: QConfigAny, q2: QConfigAny) -> bool:
    """Whether two qconfigs build the same observers (with_args wrappers compared by their
    class and arguments, as torch's)."""
    if q1 is None or q2 is None:
        return q1 == q2
    try:
        return (_obs_or_fq_ctr_equals(q1.activation, q2.activation)
                and _obs_or_fq_ctr_equals(q1.weight, q2.weight))
    except AttributeError:
        return q1 == q2


def _activation_is_memoryless(qconfig: QConfig) -> bool:
    """Whether the qconfig's activation observer is a moving average with constant 1 (what
    dynamic QAT needs)."""
    def memoryless(observer):
        return hasattr(observer, "averaging_constant") and observer.averaging_constant == 1
    act = qconfig.activation()
    if isinstance(act, FakeQuantizeBase) and hasattr(act, "activation_post_process"):
        return memoryless(act.activation_post_process)
    return memoryless(act)


def _is_reuse_input_qconfig(qconfig: QConfig | None) -> bool:
    return (qconfig is not None and isinstance(qconfig.activation(), ReuseInputObserver)
            and isinstance(qconfig.weight(), NoopObserver))
