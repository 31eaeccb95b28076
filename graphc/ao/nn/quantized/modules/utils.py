"""Shared pieces of the static int8 modules: weight quantization from an observer (torch's
`_quantize_weight`), quantization parameters from observers, and the requantizing GEMM's
per-output-channel operands.
"""
from __future__ import annotations

import numpy as np

from ..... import dtypes
from .....errors import GraphcError
from .....quantized_tensor import QTensor, quantize_per_channel, quantize_per_tensor
from .....tensor import Tensor

F32 = np.float32


def as_numpy(v) -> np.ndarray:
    """A NumPy array from a graphc Tensor, a NumPy array or a Python number."""
    if isinstance(v, Tensor):
        return np.asarray(v.detach().numpy())
    return np.asarray(v)


def qparams(observer) -> tuple[np.ndarray, np.ndarray]:
    """(scale, zero_point) arrays from an observer's or fake-quant's `calculate_qparams()`."""
    s, z = observer.calculate_qparams()
    return as_numpy(s).astype(np.float64), as_numpy(z).astype(np.int64)


def quantize_weight(float_w, observer) -> QTensor:
    """torch's `_quantize_weight`: the weight quantized with its observer's qparams (qint8), per
    tensor (torch.quantize_per_tensor) or per channel along the observer's ch_axis."""
    s, z = qparams(observer)
    scheme = getattr(observer, "qscheme", dtypes.per_tensor_affine)
    w = float_w if isinstance(float_w, Tensor) else Tensor(np.asarray(float_w, F32))
    w = Tensor(np.asarray(w.detach().numpy(), F32))
    if getattr(observer, "dtype", dtypes.qint8) is not dtypes.qint8:
        raise GraphcError(f"weight observer must have dtype graphc.qint8, got "
                          f"{getattr(observer, 'dtype', None)!r}")
    if scheme in (dtypes.per_tensor_symmetric, dtypes.per_tensor_affine):
        return quantize_per_tensor(w, float(s.reshape(-1)[0]), int(z.reshape(-1)[0]),
                                   dtypes.qint8)
    if scheme in (dtypes.per_channel_symmetric, dtypes.per_channel_affine):
        return quantize_per_channel(w, s.reshape(-1), z.reshape(-1),
                                    int(getattr(observer, "ch_axis", 0)), dtypes.qint8)
    raise GraphcError(f"weight observer qscheme {scheme!r} is not supported for static int8 "
                      "Linear/Conv (use per_tensor_affine/symmetric or per_channel_*)")


def weight_arrays(qweight: QTensor, out_channels: int):
    """(int8 values, per-output-channel scales f64[N], zero points i64[N], per_channel flag)
    of a qint8 weight whose dim 0 is the output channel."""
    if not isinstance(qweight, QTensor) or qweight.dtype is not dtypes.qint8:
        raise GraphcError(f"the weight must be a graphc.qint8 quantized tensor, got "
                          f"{getattr(qweight, 'dtype', type(qweight).__name__)!r}")
    q = qweight.int_repr().numpy()
    if qweight.per_channel():
        if qweight.q_per_channel_axis() != 0:
            raise GraphcError("per-channel weights must be quantized along axis 0 (the output "
                              f"channels), got axis {qweight.q_per_channel_axis()}")
        s = qweight._scales.copy()
        z = qweight._zps.copy()
    else:
        s = np.full(out_channels, qweight.q_scale(), np.float64)
        z = np.full(out_channels, qweight.q_zero_point(), np.int64)
    return q, s, z, qweight.per_channel()


def gemm_operands(w2: np.ndarray, w_scales: np.ndarray, w_zps: np.ndarray, bias,
                  a_scale: float, out_scale: float):
    """(col_off i32[N], w_zp i32[N], bias_div f32[N], mult f32[N]) for `qgemm`, as torch's
    fbgemm Linear/Conv compute them: act_times_w_scale = fl(fl(s_a) * fl(s_w)),
    mult = fl(act_times_w_scale / fl(s_out)), bias_div = fl(bias / act_times_w_scale)."""
    n, k = w2.shape
    zp = w_zps.astype(np.int64)
    col_off = (w2.astype(np.int64).sum(axis=1) - zp * k).astype(np.int32)
    atws = (F32(a_scale) * w_scales.astype(F32)).astype(F32)
    mult = (atws / F32(out_scale)).astype(F32)
    if bias is None:
        bias_div = np.zeros(n, F32)
    else:
        with np.errstate(all="ignore"):
            bias_div = (np.asarray(bias, F32) / atws).astype(F32)
    return col_off, zp.astype(np.int32), bias_div, mult


def check_quint8(x, who: str) -> QTensor:
    """x if it is a per-tensor quint8 quantized tensor, else a GraphcError naming `who`."""
    if not isinstance(x, QTensor):
        raise GraphcError(f"{who} takes a quantized tensor (graphc.quint8), got "
                          f"{type(x).__name__}: put a QuantStub / nnq.Quantize before it, or "
                          "quantize the input with graphc.quantize_per_tensor")
    if x.dtype is not dtypes.quint8 or x.per_channel():
        raise GraphcError(f"{who} takes a per-tensor graphc.quint8 tensor, got {x.dtype!r} "
                          f"({x.qscheme()!r})")
    return x


def float_module_qparams(mod) -> tuple[float, int]:
    """(scale, zero_point) of the observer attached to a prepared module's output."""
    app = getattr(mod, "activation_post_process", None)
    if app is None:
        raise GraphcError(f"{type(mod).__name__} has no activation_post_process: prepare (or "
                          "prepare_qat) the model and calibrate it before convert")
    s, z = qparams(app)
    return float(s.reshape(-1)[0]), int(z.reshape(-1)[0])
