"""nnq.Linear (torch.ao.nn.quantized.Linear): a static int8 Linear, quint8 in and out.

    out = requantize(q_x @ q_w.T + bias) to (scale, zero_point)     torch's fbgemm numbers

The input's scale and zero point come with the quantized input; the output's are the module's
`scale` and `zero_point` attributes (set by `convert` from the observer after the layer). The
weight is qint8, per tensor or per output channel; the bias stays float32. See
graphc/ir/ops/qstatic.py (`qgemm`) for the exact arithmetic.

state_dict: `weight` (the int8 values), `weight_scale` (f64[out]), `weight_zero_point`
(i64[out]) and `bias` (f32[out], zeros without a bias); torch keeps a packed-params object
there instead, which graphc cannot hold as arrays. `scale` / `zero_point` are plain attributes.
"""
from __future__ import annotations

import numpy as np

from ..... import dtypes
from ..... import functions as G
from .....errors import GraphcError
from .....nn.module import Module
from .....quantized_tensor import QTensor
from .....tensor import apply
from .utils import (
    F32,
    as_numpy,
    check_quint8,
    float_module_qparams,
    gemm_operands,
    quantize_weight,
    weight_arrays,
)


class WeightedQuantized(Module):
    """The weight/bias bookkeeping nnq.Linear and nnq.Conv2d share (int8 weight, float bias)."""

    _relu = False

    def _init_weight(self, shape, bias: bool) -> None:
        out = shape[0]
        self.register_buffer("weight", np.zeros(shape, np.int8))
        self.register_buffer("weight_scale", np.ones(out, np.float64))
        self.register_buffer("weight_zero_point", np.zeros(out, np.int64))
        self.register_buffer("bias", np.zeros(out, F32))
        self._has_bias = bool(bias)
        self._per_channel = False
        self.scale, self.zero_point = 1.0, 0

    def _w(self):
        return self._buffers["weight"]

    def set_weight_bias(self, w: QTensor, b) -> None:
        """Set the qint8 weight (per tensor, or per channel along dim 0) and the float bias."""
        shape = tuple(self._buffers["weight"].shape)
        if tuple(w.shape) != shape:
            raise GraphcError(f"{type(self).__name__}.set_weight_bias: weight of shape "
                              f"{list(w.shape)}, expected {list(shape)}")
        q, s, z, pc = weight_arrays(w, shape[0])
        if b is not None:
            bb = as_numpy(b).astype(F32)
            if bb.shape != (shape[0],):
                raise GraphcError(f"{type(self).__name__}.set_weight_bias: bias of shape "
                                  f"{list(bb.shape)}, expected [{shape[0]}]")
        np.copyto(self._buffers["weight"]._data, q)
        np.copyto(self._buffers["weight_scale"]._data, s)
        np.copyto(self._buffers["weight_zero_point"]._data, z)
        np.copyto(self._buffers["bias"]._data, bb if b is not None else np.zeros(shape[0], F32))
        self._has_bias, self._per_channel = b is not None, pc

    def _is_per_channel(self) -> bool:
        """Per-channel weights: as set, or as a loaded state_dict's differing scales show."""
        s, z = self._buffers["weight_scale"].numpy(), self._buffers["weight_zero_point"].numpy()
        return self._per_channel or bool((s != s[0]).any() or (z != z[0]).any())

    def weight(self) -> QTensor:
        """The qint8 weight as a quantized tensor."""
        from .....tensor import Tensor
        q = Tensor(self._buffers["weight"].numpy().copy())
        if self._is_per_channel():
            return QTensor(q, dtypes.qint8, scales=self._buffers["weight_scale"].numpy().copy(),
                           zero_points=self._buffers["weight_zero_point"].numpy().copy(), axis=0)
        return QTensor(q, dtypes.qint8, float(self._buffers["weight_scale"].numpy()[0]),
                       int(self._buffers["weight_zero_point"].numpy()[0]))

    def bias(self):
        """The float32 bias (None without one)."""
        from .....tensor import Tensor
        return Tensor(self._buffers["bias"].numpy().copy()) if self._has_bias else None

    def _qscheme(self):
        return dtypes.per_channel_affine if self._is_per_channel() else dtypes.per_tensor_affine

    def _gemm(self, a2, a_scale: float, a_zp: int, w_op, rows=slice(None), rows_per_image=0):
        """qgemm of u8 rows `a2` [M, K] against `w_op`, the int8 weight's output channels
        `rows` viewed as [N, K]."""
        w = self._buffers["weight"].numpy()
        w2 = w.reshape(w.shape[0], -1)[rows]
        col_off, wzp, bias_div, mult = gemm_operands(
            w2, self._buffers["weight_scale"].numpy()[rows],
            self._buffers["weight_zero_point"].numpy()[rows],
            self._buffers["bias"].numpy()[rows] if self._has_bias else None, a_scale, self.scale)
        return apply("qgemm", a2, w_op, col_off, wzp, bias_div, mult, a_zp=int(a_zp),
                     out_zp=int(self.zero_point), relu=self._relu,
                     rows_per_image=int(rows_per_image), w_asym=bool(np.any(wzp != 0)))

    def _out(self, q) -> QTensor:
        return QTensor(q, dtypes.quint8, float(self.scale), int(self.zero_point))

    def _check_out_qparams(self) -> None:
        if not (float(self.scale) > 0 and 0 <= int(self.zero_point) <= 255):
            raise GraphcError(f"{type(self).__name__}: output scale {self.scale} / zero_point "
                              f"{self.zero_point} must be > 0 / in [0, 255]")


class Linear(WeightedQuantized):
    """A static int8 Linear (torch.ao.nn.quantized.Linear): quint8 input and output."""

    _FLOAT_MODULE_NAMES = ("Linear", "LinearReLU")

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=dtypes.qint8):
        super().__init__()
        if dtype is not dtypes.qint8:
            raise GraphcError(f"nnq.Linear supports dtype=graphc.qint8 weights only, got "
                              f"{dtype!r}")
        self.in_features, self.out_features = in_features, out_features
        self._init_weight((out_features, in_features), bias_)

    def forward(self, x) -> QTensor:
        """x (quint8, [..., in_features]) -> quint8 [..., out_features] at (scale, zero_point)."""
        x = check_quint8(x, self._get_name())
        k, n = self.in_features, self.out_features
        if x.ndim < 1 or x.shape[-1] != k:
            raise GraphcError(f"{self._get_name()}({k} -> {n}): input of shape "
                              f"{list(x.shape)} must have {k} features in its last dim")
        self._check_out_qparams()
        lead = tuple(x.shape[:-1])
        a2 = G.reshape(x._q, (-1, k))
        y = self._gemm(a2, x.q_scale(), x.q_zero_point(), self._w())
        return self._out(G.reshape(y, lead + (n,)))

    def _get_name(self) -> str:
        return "QuantizedLinear"

    def extra_repr(self) -> str:
        """As torch's: sizes, output scale / zero point and the weight's qscheme."""
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"scale={self.scale}, zero_point={self.zero_point}, "
                f"qscheme={self._qscheme()!r}")

    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False):
        """The int8 layer of a prepared (calibrated) or QAT-trained float Linear, as torch's:
        the weight quantized with its weight observer / fake-quant, the output qparams from
        `mod.activation_post_process`."""
        if hasattr(mod, "weight_fake_quant"):
            wpp = mod.weight_fake_quant
        else:
            if type(mod).__name__ not in cls._FLOAT_MODULE_NAMES:
                raise GraphcError(f"nnq.{cls.__name__}.from_float only works for "
                                  f"{', '.join(cls._FLOAT_MODULE_NAMES)}, got {type(mod).__name__}")
            if getattr(mod, "qconfig", None) is None:
                raise GraphcError("Input float module must have qconfig defined")
            wpp = None
        scale, zp = float_module_qparams(mod)
        inner = mod[0] if type(mod).__name__ == "LinearReLU" and not hasattr(
            mod, "weight_fake_quant") else mod
        if wpp is None:
            wpp = mod.qconfig.weight()
        if not use_precomputed_fake_quant:
            wpp(inner.weight)
        qw = quantize_weight(inner.weight, wpp)
        q = cls(inner.in_features, inner.out_features)
        q.set_weight_bias(qw, inner.bias)
        q.scale, q.zero_point = scale, zp
        return q
