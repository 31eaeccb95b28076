"""Default module mappings of eager-mode quantization (torch.ao.quantization.quantization_mappings).

The QAT mapping (float -> QAT module) is graphc.ao.nn.qat's and .intrinsic.qat's. The static and
dynamic mappings point at the int8 modules of graphc.ao.nn.quantized; those are imported when a
getter is called, and a target graphc does not have yet is left out of the mapping (convert then
leaves that float module as it is).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from ... import nn
from ...nn.layers import NonDynamicallyQuantizableLinear
from ..nn import intrinsic as nni
from ..nn import qat as nnqat
from ..nn.intrinsic import qat as nniqat
from ..nn.qat import dynamic as nnqatd
from .stubs import DeQuantStub, QuantStub

__all__ = ["DEFAULT_QAT_MODULE_MAPPINGS", "get_default_static_quant_module_mappings",
           "get_default_static_quant_reference_module_mappings", "get_static_quant_module_class",
           "get_dynamic_quant_module_class", "get_default_qat_module_mappings",
           "get_default_dynamic_quant_module_mappings", "get_default_qconfig_propagation_list",
           "get_embedding_qat_module_mappings", "get_embedding_static_quant_module_mappings",
           "get_default_compare_output_module_list", "no_observer_set"]

DEFAULT_QAT_MODULE_MAPPINGS: dict[Callable, Any] = {
    nn.Conv2d: nnqat.Conv2d,
    nn.Linear: nnqat.Linear,
    NonDynamicallyQuantizableLinear: nnqat.Linear,
    nni.ConvBn1d: nniqat.ConvBn1d,
    nni.ConvBn2d: nniqat.ConvBn2d,
    nni.ConvBnReLU1d: nniqat.ConvBnReLU1d,
    nni.ConvBnReLU2d: nniqat.ConvBnReLU2d,
    nni.ConvReLU2d: nniqat.ConvReLU2d,
    nni.LinearReLU: nniqat.LinearReLU,
    nni.LinearBn1d: nniqat.LinearBn1d,
}

# (float module, name of its int8 class in graphc.ao.nn.quantized / .intrinsic.quantized),
# torch's DEFAULT_STATIC_QUANT_MODULE_MAPPINGS restricted to the modules graphc has
_STATIC = [
    (QuantStub, "nnq.Quantize"), (DeQuantStub, "nnq.DeQuantize"),
    (nn.BatchNorm2d, "nnq.BatchNorm2d"), (nn.Dropout, "nnq.Dropout"),
    (nn.Conv1d, "nnq.Conv1d"), (nn.Conv2d, "nnq.Conv2d"),
    (nn.ConvTranspose1d, "nnq.ConvTranspose1d"), (nn.ConvTranspose2d, "nnq.ConvTranspose2d"),
    (nn.ELU, "nnq.ELU"), (nn.Embedding, "nnq.Embedding"), (nn.EmbeddingBag, "nnq.EmbeddingBag"),
    (nn.GroupNorm, "nnq.GroupNorm"), (nn.Hardswish, "nnq.Hardswish"),
    (nn.InstanceNorm1d, "nnq.InstanceNorm1d"), (nn.InstanceNorm2d, "nnq.InstanceNorm2d"),
    (nn.LayerNorm, "nnq.LayerNorm"), (nn.LeakyReLU, "nnq.LeakyReLU"),
    (NonDynamicallyQuantizableLinear, "nnq.Linear"), (nn.Linear, "nnq.Linear"),
    (nn.ReLU6, "nnq.ReLU6"), (nn.PReLU, "nnq.PReLU"),
    ("nnq.FloatFunctional", "nnq.QFunctional"),
    (nni.BNReLU2d, "nniq.BNReLU2d"), (nni.ConvReLU1d, "nniq.ConvReLU1d"),
    (nni.ConvReLU2d, "nniq.ConvReLU2d"), (nni.LinearReLU, "nniq.LinearReLU"),
    (nniqat.ConvBn1d, "nnq.Conv1d"), (nniqat.ConvBn2d, "nnq.Conv2d"),
    (nniqat.ConvBnReLU1d, "nniq.ConvReLU1d"), (nniqat.ConvBnReLU2d, "nniq.ConvReLU2d"),
    (nniqat.ConvReLU2d, "nniq.ConvReLU2d"), (nniqat.LinearReLU, "nniq.LinearReLU"),
    (nniqat.LinearBn1d, "nnq.Linear"), (nnqat.Linear, "nnq.Linear"),
    (nnqat.Conv2d, "nnq.Conv2d"),
]
_REFERENCE = [
    (QuantStub, "nnq.Quantize"), (DeQuantStub, "nnq.DeQuantize"),
    (nn.Linear, "nnqr.Linear"), (nn.Conv1d, "nnqr.Conv1d"), (nn.Conv2d, "nnqr.Conv2d"),
    (nn.ConvTranspose1d, "nnqr.ConvTranspose1d"), (nn.ConvTranspose2d, "nnqr.ConvTranspose2d"),
    (nn.Embedding, "nnqr.Embedding"), (nn.EmbeddingBag, "nnqr.EmbeddingBag"),
    (nn.GRUCell, "nnqr.GRUCell"), (nn.LSTMCell, "nnqr.LSTMCell"), (nn.RNNCell, "nnqr.RNNCell"),
    (nn.LSTM, "nnqr.LSTM"),
]
_DYNAMIC = [
    (nn.GRUCell, "nnqd.GRUCell"), (nn.Linear, "nnqd.Linear"), (nnqatd.Linear, "nnqd.Linear"),
    (NonDynamicallyQuantizableLinear, "nnqd.Linear"), (nn.LSTM, "nnqd.LSTM"),
    (nn.GRU, "nnqd.GRU"), (nn.LSTMCell, "nnqd.LSTMCell"), (nn.RNNCell, "nnqd.RNNCell"),
    (nni.LinearReLU, "nniqd.LinearReLU"), (nn.EmbeddingBag, "nnq.EmbeddingBag"),
    (nn.Embedding, "nnq.Embedding"),
]
_PACKAGES = {"nnq": "graphc.ao.nn.quantized", "nnqd": "graphc.ao.nn.quantized.dynamic",
             "nnqr": "graphc.ao.nn.quantized.reference",
             "nniq": "graphc.ao.nn.intrinsic.quantized",
             "nniqd": "graphc.ao.nn.intrinsic.quantized.dynamic"}
_INCLUDE_QCONFIG_PROPAGATE_LIST = {nn.Sequential}


def _resolve(name):
    """The class `name` ("nnq.Linear") names, or None while graphc does not have it."""
    if not isinstance(name, str):
        return name
    import importlib
    pkg, cls = name.split(".")
    try:
        mod = importlib.import_module(_PACKAGES[pkg])
    except ImportError:
        return None
    return getattr(mod, cls, None)


def _mapping(pairs) -> dict[Callable, Any]:
    out = {}
    for src, dst in pairs:
        src, dst = _resolve(src), _resolve(dst)
        if src is not None and dst is not None:
            out[src] = dst
    return out


def no_observer_set() -> set:
    """Module types that cannot have observers inserted (torch's quantizable LSTM/MHA, which
    graphc does not have: empty)."""
    return set()


def get_default_static_quant_module_mappings() -> dict[Callable, Any]:
    """Float (or QAT) module type -> static int8 module type, for convert."""
    return _mapping(_STATIC)


def get_default_static_quant_reference_module_mappings() -> dict[Callable, Any]:
    """Float module type -> reference quantized module type (convert(is_reference=True))."""
    return _mapping(_REFERENCE)


def get_default_qat_module_mappings() -> dict[Callable, Any]:
    """Float (or fused) module type -> QAT module type, for prepare_qat."""
    return copy.copy(DEFAULT_QAT_MODULE_MAPPINGS)


def get_embedding_qat_module_mappings() -> dict[Callable, Any]:
    """The QAT mapping plus Embedding / EmbeddingBag -> their QAT forms."""
    mapping = get_default_qat_module_mappings()
    mapping[nn.EmbeddingBag] = nnqat.EmbeddingBag
    mapping[nn.Embedding] = nnqat.Embedding
    return mapping


def get_embedding_static_quant_module_mappings() -> dict[Callable, Any]:
    """The static mapping plus the QAT embeddings -> nnq.Embedding / EmbeddingBag."""
    return {**get_default_static_quant_module_mappings(),
            **_mapping([(nnqat.EmbeddingBag, "nnq.EmbeddingBag"),
                        (nnqat.Embedding, "nnq.Embedding")])}


def get_default_dynamic_quant_module_mappings() -> dict[Callable, Any]:
    """Float module type -> dynamic int8 module type, for quantize_dynamic / convert."""
    return _mapping(_DYNAMIC)


def _lookup(kind: str, mapping: dict, float_module_class, additional) -> Any:
    cls = {**mapping, **(additional or {})}.get(float_module_class)
    if cls is None:
        from ...errors import NotSupportedError
        raise NotSupportedError(f"Floating point module class {float_module_class} does not "
                                f"have a corresponding {kind} quantized module class")
    return cls


def get_static_quant_module_class(float_module_class, additional_static_quant_mapping=None,
                                  is_reference: bool = False) -> Any:
    """The static int8 class of a float module class (NotSupportedError if none)."""
    mapping = get_default_static_quant_reference_module_mappings() if is_reference else \
        get_default_static_quant_module_mappings()
    return _lookup("static", mapping, float_module_class, additional_static_quant_mapping)


def get_dynamic_quant_module_class(float_module_class,
                                   additional_dynamic_quant_mapping=None) -> Any:
    """The dynamic int8 class of a float module class (NotSupportedError if none)."""
    return _lookup("dynamic", get_default_dynamic_quant_module_mappings(), float_module_class,
                   additional_dynamic_quant_mapping)


def get_default_qconfig_propagation_list() -> set:
    """Module types prepare attaches a qconfig and an output observer to: every key of the
    static, QAT and dynamic mappings (whether or not graphc has the int8 target yet)."""
    keys = {_resolve(src) for src, _ in _STATIC + _DYNAMIC} - {None}
    return keys | set(DEFAULT_QAT_MODULE_MAPPINGS) | _INCLUDE_QCONFIG_PROPAGATE_LIST


def get_default_compare_output_module_list() -> set:
    """Module types whose outputs the numeric suite records: every key and value of the
    mappings."""
    out = get_default_qconfig_propagation_list() | set(DEFAULT_QAT_MODULE_MAPPINGS.values())
    for m in (get_default_static_quant_module_mappings(),
              get_default_dynamic_quant_module_mappings()):
        out |= set(m.values())
    return out


def _get_special_act_post_process(module) -> Callable | None:
    """The fixed-qparams fake quant torch uses for Sigmoid/Softmax/Hardsigmoid/Tanh outputs,
    when graphc.ao.quantization.fake_quantize provides it."""
    from importlib import import_module
    try:
        fq = import_module("graphc.ao.quantization.fake_quantize")
    except ImportError:
        return None
    zero_one = getattr(fq, "default_fixed_qparams_range_0to1_fake_quant", None)
    neg_one = getattr(fq, "default_fixed_qparams_range_neg1to1_fake_quant", None)
    table = {nn.Hardsigmoid: zero_one, nn.Sigmoid: zero_one, nn.Softmax: zero_one,
             nn.Tanh: neg_one}
    return table.get(type(module))


def _has_special_act_post_process(module) -> bool:
    return module.training and _get_special_act_post_process(module) is not None
