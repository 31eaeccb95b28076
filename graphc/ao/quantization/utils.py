"""torch.ao.quantization.utils' helpers that observers and fake-quant modules use: quantization
ranges per dtype (`calculate_qmin_qmax`), qscheme predicates and the min/max validity check."""
from __future__ import annotations

import warnings

import numpy as np

from ... import dtypes
from ...errors import GraphcError

__all__ = [
    "activation_dtype",
    "activation_is_dynamically_quantized",
    "activation_is_int8_quantized",
    "activation_is_int32_quantized",
    "activation_is_statically_quantized",
    "calculate_qmin_qmax",
    "check_min_max_valid",
    "dtype_name",
    "get_combined_dict",
    "get_qconfig_dtypes",
    "get_qparam_dict",
    "has_no_children_ignoring_parametrizations",
    "is_per_channel",
    "is_per_tensor",
    "is_symmetric",
    "op_is_int8_dynamically_quantized",
    "validate_qmin_qmax",
    "weight_dtype",
    "weight_is_quantized",
    "weight_is_statically_quantized",
]

_Q8 = {dtypes.qint8: "qint8", dtypes.int8: "int8"}
_QU8 = {dtypes.quint8: "quint8", dtypes.uint8: "uint8"}
_Q32 = {dtypes.qint32: "qint32", dtypes.int32: "int32"}
ALLOWED_DTYPES = (dtypes.qint8, dtypes.quint8, dtypes.qint32, dtypes.int8, dtypes.uint8,
                  dtypes.int32)


def dtype_name(dt) -> str:
    """graphc.qint8 -> 'qint8' (for messages and reprs)."""
    return getattr(dt, "name", str(dt))


def is_per_tensor(qscheme) -> bool:
    """Whether qscheme is per_tensor_affine or per_tensor_symmetric."""
    return qscheme in (dtypes.per_tensor_affine, dtypes.per_tensor_symmetric)


def is_per_channel(qscheme) -> bool:
    """Whether qscheme is one of the per-channel schemes."""
    return qscheme in (dtypes.per_channel_affine, dtypes.per_channel_affine_float_qparams,
                       dtypes.per_channel_symmetric)


def is_symmetric(qscheme) -> bool:
    """Whether qscheme is per_tensor_symmetric or per_channel_symmetric."""
    return qscheme in (dtypes.per_tensor_symmetric, dtypes.per_channel_symmetric)


def validate_qmin_qmax(quant_min: int, quant_max: int) -> None:
    """A user-given range must contain 0 and be non-empty (torch's assertion messages)."""
    if not quant_min <= 0 <= quant_max:
        raise GraphcError("Used-specified quantization range must include 0.")
    if quant_min >= quant_max:
        raise GraphcError("qmin must be strictly less than qmax for user-specified quantization "
                          "range.")


def calculate_qmin_qmax(quant_min, quant_max, has_customized_qrange: bool, dtype,
                        reduce_range: bool) -> tuple[int, int]:
    """The real (quant_min, quant_max): a customized range (halved by reduce_range, as torch
    does), else the dtype's 8-bit range (7-bit with reduce_range) or qint32's."""
    if has_customized_qrange:
        if dtype in _Q32:
            lo, hi = 0, 2 ** 32 - 1
        else:
            lo, hi = 0, 255
        if quant_min is not None and quant_max is not None:
            lo, hi = quant_min, quant_max
        qrange_len = hi - lo + 1
        if dtype in _Q8 and not 0 < qrange_len <= 256:
            raise GraphcError("quantization range should be positive and not exceed the maximum "
                              "bit range (=256).")
        if dtype in _Q32 and not 0 < qrange_len <= 2 ** 32:
            raise GraphcError("quantization range should be positive and not exceed the maximum "
                              "bit range (=4294967296).")
        if reduce_range:
            quant_min, quant_max = quant_min // 2, quant_max // 2
        return int(quant_min), int(quant_max)
    if dtype in _Q8:
        return (-64, 63) if reduce_range else (-128, 127)
    if dtype in _QU8:
        return (0, 127) if reduce_range else (0, 255)
    if dtype in _Q32:
        return -(2 ** 31), 2 ** 31 - 1
    return 0, 15


def check_min_max_valid(min_val, max_val) -> bool:
    """False (with torch's warning) when the observer has seen nothing yet: empty statistics or
    min = +inf and max = -inf; raises when min > max. Reads values: eager only."""
    mn, mx = np.asarray(min_val._data), np.asarray(max_val._data)
    if mn.size == 0 or mx.size == 0:
        warnings.warn("must run observer before calling calculate_qparams. Returning default "
                      "values.", stacklevel=3)
        return False
    if mn.ndim == 0 or mx.ndim == 0:
        if mn == np.inf and mx == -np.inf:
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default values.", stacklevel=3)
            return False
        if mn > mx:
            raise GraphcError(f"min {mn} should be less than max {mx}")
    elif np.any(mn > mx):
        raise GraphcError(f"min {mn} should be less than max {mx}")
    return True


_STATIC = (dtypes.quint8, dtypes.qint8, dtypes.qint32, dtypes.uint8, dtypes.int8, dtypes.int32)


def get_qparam_dict(observer_or_fake_quant) -> dict:
    """{"qscheme", "dtype", "scale", "zero_point", ("axis"), "quant_min", "quant_max"} of an
    observer or fake-quant module, with symmetric schemes reported as affine (as torch's, for
    the reference quantized modules); a placeholder gives only its dtype."""
    qscheme = getattr(observer_or_fake_quant, "qscheme", None)
    dtype = observer_or_fake_quant.dtype
    names = {c.__name__ for c in type(observer_or_fake_quant).__mro__}
    if not qscheme or "PlaceholderObserver" in names:
        return {"qscheme": None, "dtype": dtype}
    qparams = {"qscheme": qscheme, "dtype": dtype}
    if is_per_tensor(qscheme):
        qscheme = dtypes.per_tensor_affine
    elif is_per_channel(qscheme):
        if qscheme is dtypes.per_channel_symmetric:
            qscheme = dtypes.per_channel_affine
        qparams["axis"] = observer_or_fake_quant.ch_axis
    else:
        raise GraphcError(f"Unrecognized qscheme: {qscheme}")
    qparams["qscheme"] = qscheme
    qparams["scale"], qparams["zero_point"] = observer_or_fake_quant.calculate_qparams()
    if hasattr(observer_or_fake_quant, "quant_min"):
        qparams["quant_min"] = observer_or_fake_quant.quant_min
    if hasattr(observer_or_fake_quant, "quant_max"):
        qparams["quant_max"] = observer_or_fake_quant.quant_max
    return qparams


def _need(qconfig, what: str):
    if qconfig is None:
        raise GraphcError(f"qconfig must be provided to determine {what}")
    return qconfig


def activation_dtype(qconfig):
    """The dtype of the qconfig's activation observer."""
    return _need(qconfig, "activation dtype").activation().dtype


def weight_dtype(qconfig):
    """The dtype of the qconfig's weight observer."""
    return _need(qconfig, "weight dtype").weight().dtype


def get_qconfig_dtypes(qconfig):
    """(activation dtype, weight dtype, whether the activation is dynamic)."""
    _need(qconfig, "dtypes")
    activation, weight = qconfig.activation(), qconfig.weight()
    return activation.dtype, weight.dtype, getattr(activation, "is_dynamic", False)


def activation_is_dynamically_quantized(qconfig) -> bool:
    """Whether the activation observer is a dynamic one (is_dynamic)."""
    return get_qconfig_dtypes(qconfig)[2]


def activation_is_statically_quantized(qconfig) -> bool:
    """Whether activations get a fixed quantized dtype (not dynamic)."""
    return activation_dtype(qconfig) in _STATIC and not activation_is_dynamically_quantized(
        qconfig)


def activation_is_int8_quantized(qconfig) -> bool:
    """Whether activations are quantized to an 8-bit integer type."""
    return activation_dtype(qconfig) in (dtypes.quint8, dtypes.qint8, dtypes.uint8, dtypes.int8)


def activation_is_int32_quantized(qconfig) -> bool:
    """Whether activations are quantized to qint32/int32."""
    return activation_dtype(qconfig) in (dtypes.qint32, dtypes.int32)


def weight_is_quantized(qconfig) -> bool:
    """Whether weights get a quantized dtype."""
    return weight_dtype(qconfig) in _STATIC


def weight_is_statically_quantized(qconfig) -> bool:
    """Whether weights are quantized to an 8-bit integer type."""
    return weight_dtype(qconfig) in (dtypes.quint8, dtypes.qint8, dtypes.uint8, dtypes.int8)


def op_is_int8_dynamically_quantized(qconfig) -> bool:
    """Whether the qconfig means int8 dynamic quantization (quint8 dynamic activations, qint8
    weights)."""
    act, wt, dynamic = get_qconfig_dtypes(qconfig)
    return act in (dtypes.quint8, dtypes.uint8) and wt in (dtypes.qint8, dtypes.int8) and dynamic


def get_combined_dict(default_dict: dict, additional_dict: dict) -> dict:
    """default_dict updated with additional_dict (a new dict)."""
    d = default_dict.copy()
    d.update(additional_dict)
    return d


def _parent_name(target: str):
    """'foo.bar' -> ('foo', 'bar'); 'bar' -> ('', 'bar')."""
    r = target.rsplit(".", 1)
    return ("", r[0]) if len(r) == 1 else (r[0], r[1])


def has_no_children_ignoring_parametrizations(module) -> bool:
    """Whether the module has no sub-modules (graphc has no parametrizations)."""
    return len(module._modules) == 0
