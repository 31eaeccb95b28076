"""Dynamic int8 Linear: QuantizedLinear (graphc's) and Linear, torch.ao.nn.quantized.dynamic.Linear.

QuantizedLinear quantizes its weights once (symmetric int8, per tensor or per output channel);
each call quantizes its input with one scale for the whole batch and runs the `qlinear` op (see
graphc/ir/ops/quant.py for the exact formulas, which match torch's fbgemm bit for bit).
`graphc.quantization.QuantizedLinear` is this class.
"""
from __future__ import annotations

import numpy as np

from ...... import dtypes
from ......errors import NotSupportedError
from ......ir.ops.quant import quantize_weight
from ......nn.layers import Linear as FloatLinear
from ......nn.module import Module
from ......tensor import Tensor, apply, check

__all__ = ["Linear", "QuantizedLinear", "qconfig_per_channel"]


class QuantizedLinear(Module):
    """A Linear with int8 weights; its input is quantized to 7-bit unsigned on every call.

    Buffers (all plain NumPy arrays in state_dict): `weight_q` i8[out, in], `w_scale` f32[]
    (per tensor) or f32[out] (per channel), `w_colsum` i32[out] (row sums of weight_q, for the
    zero-point correction), `bias` f32[out] (zeros without a bias) and `weight` f32[out, in], the
    original weight, used only when an input holds NaN or inf (that call runs in fp32).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 per_channel: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.has_bias, self.per_channel = bool(bias), bool(per_channel)
        self.register_buffer("weight_q", np.zeros((out_features, in_features), np.int8))
        self.register_buffer("w_scale", np.ones((out_features,) if per_channel else (), np.float32))
        self.register_buffer("w_colsum", np.zeros(out_features, np.int32))
        self.register_buffer("bias", np.zeros(out_features, np.float32))
        self.register_buffer("weight", np.zeros((out_features, in_features), np.float32))

    @classmethod
    def from_float(cls, linear: FloatLinear, per_channel: bool = False) -> QuantizedLinear:
        """Quantize an fp32 nn.Linear's weight (its arrays are copied, never shared)."""
        w = np.asarray(linear.weight._data)
        b = None if linear.bias is None else np.asarray(linear.bias._data)
        return cls.from_weight(w, b, per_channel)

    @classmethod
    def from_weight(cls, w: np.ndarray, b: np.ndarray | None = None,
                    per_channel: bool = False) -> QuantizedLinear:
        """Quantize a float32 weight [out, in] with an optional fp32 bias [out] (both copied)."""
        w = np.asarray(w)
        check(w.dtype == np.float32 and w.ndim == 2,
              f"QuantizedLinear: weight is {w.dtype}{list(w.shape)}, not a 2-D float32 array")
        m = cls(w.shape[1], w.shape[0], b is not None, per_channel=per_channel)
        q, s, cs = quantize_weight(w, per_channel)
        np.copyto(m.weight_q._data, q)
        np.copyto(m.w_scale._data, s)
        np.copyto(m.w_colsum._data, cs)
        np.copyto(m.weight._data, w)
        if b is not None:
            np.copyto(m.bias._data, np.asarray(b, np.float32))
        return m

    def forward(self, x):
        """x @ W^T + b with int8 W and x quantized on each call (in fp32 if x holds NaN/inf)."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        check(x.ndim >= 1 and x.shape[-1] == self.in_features,
              f"QuantizedLinear({self.in_features} -> {self.out_features}): input {x.type} must "
              f"have {self.in_features} features in its last dim")
        check(x.dtype == dtypes.float32,
              f"QuantizedLinear takes float32 input, got {x.dtype}; convert it "
              "(e.g. x.astype(np.float32))")
        return apply("qlinear", x, self.weight_q, self.w_scale, self.w_colsum, self.bias,
                     self.weight, relu=False, has_bias=self.has_bias)

    def extra_repr(self) -> str:
        """Sizes, bias and quantization scheme, for the module's repr."""
        scheme = "per_channel" if self.per_channel else "per_tensor"
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.has_bias}, dtype=qint8, qscheme={scheme}"


class Linear(QuantizedLinear):
    """Linear(in_features, out_features, bias_=True, dtype=qint8): a QuantizedLinear (same buffers,
    numbers and kernel) that prints as torch's DynamicQuantizedLinear."""

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=dtypes.qint8, per_channel: bool = False):
        if dtype is not dtypes.qint8:
            raise NotSupportedError(f"DynamicQuantizedLinear: dtype={dtype!r} is not supported; "
                                    "graphc's dynamic Linear has int8 weights only (qint8)")
        super().__init__(in_features, out_features, bias_, per_channel)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False, per_channel=None):
        """Quantize an fp32 nn.Linear; per_channel None reads `mod.qconfig` (per tensor without)."""
        if per_channel is None:
            per_channel = qconfig_per_channel(getattr(mod, "qconfig", None))
        return super().from_float(mod, per_channel)

    def extra_repr(self) -> str:
        """torch's text (with graphc's dtype names): sizes, dtype and the weight's qscheme."""
        scheme = "per_channel_affine" if self.per_channel else "per_tensor_affine"
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype=graphc.qint8, qscheme=graphc.{scheme}")

    def __repr__(self) -> str:
        return f"DynamicQuantizedLinear({self.extra_repr()})"


def qconfig_per_channel(qconfig) -> bool:
    """Whether a qconfig's weight observer is per channel (torch's per_channel_dynamic_qconfig).

    Duck-typed: `qconfig.weight()` builds the observer; its `qscheme` names the scheme. None (no
    qconfig) and anything without a weight observer mean per tensor.
    """
    weight = getattr(qconfig, "weight", None)
    if weight is None:
        return False
    try:
        obs = weight() if callable(weight) else weight
    except TypeError:
        return False
    return "per_channel" in str(getattr(obs, "qscheme", ""))
