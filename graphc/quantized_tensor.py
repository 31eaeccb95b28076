"""Quantized tensors (torch's quint8 / qint8 / qint32 tensors): an integer tensor plus fixed
quantization parameters.

    q = graphc.quantize_per_tensor(x, 0.1, 10, graphc.quint8)   # x f32 -> integers in [0, 255]
    q.int_repr(), q.q_scale(), q.q_zero_point(), q.dequantize()  # as torch
    graphc.quantize_per_channel(w, scales, zero_points, 0, graphc.qint8)

A `QTensor` holds its integer values as a graphc Tensor (u8 for quint8, i8 for qint8, i32 for
qint32; concrete, or traced inside graphc.compile) and its scale / zero point as Python numbers
(per channel: NumPy arrays), so a compiled converted model sees them as constants. It is not a
`graphc.Tensor`: float ops do not take it (they raise and say so, they never compute on the
integers); the ops torch allows on quantized tensors are its methods (`reshape`, `view`,
`flatten`, `relu`, `dequantize`, ...) and the quantized modules and functions of
graphc.ao.nn.quantized. Rounding is torch's (graphc/ir/ops/qstatic.py): 0 ulp against torch 2.13.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from . import functions as G
from .driver import tracing
from .dtypes import QDType
from .errors import GraphcError, NotSupportedError
from .ir.ops.qstatic import inv_scale, quantize_two_round
from .tensor import Tensor, apply

STORAGE = {"quint8": dtypes.uint8, "qint8": dtypes.int8, "qint32": dtypes.int32}
_BY_STORAGE = {"u8": dtypes.quint8, "i8": dtypes.qint8, "i32": dtypes.qint32}


def _qdtype(dtype) -> QDType:
    if isinstance(dtype, QDType):
        return dtype
    name = getattr(dtype, "name", None) or str(dtype)
    raise GraphcError(f"expected a quantized dtype (graphc.quint8, graphc.qint8 or "
                      f"graphc.qint32), got {name}")


def _float_arg(v, what: str) -> float:
    if isinstance(v, Tensor):
        if v.is_traced:
            raise NotSupportedError(f"{what} must be a Python number or a concrete tensor (static "
                                    "quantization parameters), not a traced tensor")
        return float(v.numpy().reshape(()))
    return float(v)


class QTensor:
    """A quantized tensor: integer values (`int_repr()`) with a scale and zero point per tensor
    or per channel (`qscheme()`), as torch's quantized tensors."""

    __slots__ = ("_axis", "_q", "_qdtype", "_scale", "_scales", "_zp", "_zps")
    is_quantized = True
    requires_grad = False
    grad = None
    __array_priority__ = 1000

    def __init__(self, int_values: Tensor, dtype: QDType, scale: float | None = None,
                 zero_point: int | None = None, scales=None, zero_points=None,
                 axis: int | None = None):
        self._q, self._qdtype = int_values, dtype
        self._scale = None if scale is None else float(scale)
        self._zp = None if zero_point is None else int(zero_point)
        self._scales = None if scales is None else np.asarray(scales, np.float64)
        self._zps = None if zero_points is None else np.asarray(zero_points, np.int64)
        self._axis = axis

    # ---- what it is -------------------------------------------------------------------------
    @property
    def dtype(self) -> QDType:
        """graphc.quint8, qint8 or qint32."""
        return self._qdtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape."""
        return self._q.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._q.ndim

    @property
    def is_traced(self) -> bool:
        """True while the integer values stand for a value in a trace."""
        return self._q.is_traced

    @property
    def device(self):
        """The CPU device (graphc runs on the CPU)."""
        return self._q.device

    def dim(self) -> int:
        """The number of dimensions."""
        return self._q.ndim

    def size(self, dim: int | None = None):
        """The shape, or the size of dimension `dim`."""
        return self._q.size(dim)

    def numel(self) -> int:
        """The number of elements."""
        return self._q.numel()

    def __len__(self) -> int:
        return len(self._q)

    def per_channel(self) -> bool:
        """True for per-channel quantization parameters."""
        return self._scales is not None

    def qscheme(self):
        """graphc.per_tensor_affine or graphc.per_channel_affine."""
        return dtypes.per_channel_affine if self.per_channel() else dtypes.per_tensor_affine

    def q_scale(self) -> float:
        """The scale (per-tensor quantization)."""
        self._need(False, "q_scale")
        return self._scale

    def q_zero_point(self) -> int:
        """The zero point (per-tensor quantization)."""
        self._need(False, "q_zero_point")
        return self._zp

    def q_per_channel_scales(self) -> Tensor:
        """The scales, a float64 tensor (per-channel quantization)."""
        self._need(True, "q_per_channel_scales")
        return Tensor(self._scales.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        """The zero points, an int64 tensor (per-channel quantization)."""
        self._need(True, "q_per_channel_zero_points")
        return Tensor(self._zps.copy())

    def q_per_channel_axis(self) -> int:
        """The channel axis (per-channel quantization)."""
        self._need(True, "q_per_channel_axis")
        return self._axis

    def _need(self, per_channel: bool, what: str) -> None:
        if self.per_channel() != per_channel:
            raise GraphcError(f"{what}() needs a {'per-channel' if per_channel else 'per-tensor'}"
                              f" quantized tensor; this one is {self.qscheme()!r}")

    # ---- values ------------------------------------------------------------------------------
    def int_repr(self) -> Tensor:
        """The integer values (uint8 for quint8, int8 for qint8, int32 for qint32)."""
        if self._q.is_traced:
            return self._q
        return Tensor(self._q.numpy().copy())

    def dequantize(self) -> Tensor:
        """The float32 values: fl(fl(scale) * (q - zero_point)) per tensor, as torch
        (per channel torch multiplies in double: fl(double(q - zp) * scale))."""
        if not self.per_channel():
            return apply("dequantize", self._q, scale=self._scale, zero_point=self._zp)
        if self._q.is_traced:
            raise NotSupportedError("dequantize of a per-channel quantized tensor inside "
                                    "graphc.compile is not supported (weights are dequantized "
                                    "eagerly); call it outside the compiled function")
        q = self._q.numpy()
        shape = [1] * q.ndim
        shape[self._axis] = q.shape[self._axis]
        # torch's per-channel kernel: float(double(q - zp) * double(scale)), one rounding
        d = (q.astype(np.int64) - self._zps.reshape(shape)).astype(np.float64)
        return Tensor((d * self._scales.reshape(shape)).astype(np.float32))

    def _like(self, q: Tensor) -> QTensor:
        """A quantized tensor with this one's parameters over the integer values `q`."""
        return QTensor(q, self._qdtype, self._scale, self._zp, self._scales, self._zps,
                       self._axis)

    # ---- what torch allows on quantized tensors ---------------------------------------------
    def _per_tensor_only(self, what: str) -> None:
        if self.per_channel():
            raise NotSupportedError(f"{what} of a per-channel quantized tensor is not supported "
                                    "(its channel axis would move); dequantize() it first")

    def reshape(self, *shape) -> QTensor:
        """The same values in a new shape (same quantization parameters)."""
        self._per_tensor_only("reshape")
        return self._like(G.reshape(self._q, *shape))

    def view(self, *shape) -> QTensor:
        """As reshape (graphc tensors are contiguous)."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> QTensor:
        """Dims start_dim..end_dim merged into one, as torch.flatten."""
        self._per_tensor_only("flatten")
        return self._like(G.flatten(self._q, start_dim, end_dim))

    def squeeze(self, dim=None) -> QTensor:
        """Size-1 dims removed."""
        self._per_tensor_only("squeeze")
        return self._like(self._q.squeeze() if dim is None else self._q.squeeze(dim))

    def unsqueeze(self, dim: int) -> QTensor:
        """A size-1 dim inserted at `dim`."""
        self._per_tensor_only("unsqueeze")
        return self._like(self._q.unsqueeze(dim))

    def permute(self, *dims) -> QTensor:
        """Dims reordered."""
        self._per_tensor_only("permute")
        return self._like(self._q.permute(*dims))

    def __getitem__(self, idx) -> QTensor:
        """Basic indexing / slicing of the integers (same quantization parameters)."""
        self._per_tensor_only("indexing")
        return self._like(self._q[idx])

    def contiguous(self, *args, **kwargs) -> QTensor:
        """Itself (graphc tensors are contiguous)."""
        return self

    def detach(self) -> QTensor:
        """Itself (quantized tensors carry no gradient)."""
        return self

    def clone(self) -> QTensor:
        """A copy."""
        return self._like(self._q.clone())

    def cpu(self) -> QTensor:
        """Itself."""
        return self

    def to(self, *args, **kwargs) -> QTensor:
        """Itself for a CPU device; a dtype change raises (dequantize() first)."""
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, (QDType, dtypes.DType)) and a is not self._qdtype:
                raise NotSupportedError(f"to({a!r}) of a quantized tensor: call dequantize() "
                                        "or graphc.quantize_per_tensor instead")
        return self

    def relu(self) -> QTensor:
        """max(q, zero_point): torch's relu of a quantized tensor (same parameters)."""
        self._per_tensor_only("relu")
        return self._like(G.maximum(self._q, Tensor(np.array(self._zp, self._q.dtype.np))))

    def relu_(self) -> QTensor:
        """relu, in place (a new QTensor here, as graphc's quantized tensors are values)."""
        r = self.relu()
        self._q = r._q
        return self

    # ---- not a float tensor ------------------------------------------------------------------
    def numpy(self):
        """Refused: torch has no numpy() for quantized tensors; use int_repr() or dequantize()."""
        raise GraphcError("numpy() of a quantized tensor: use .int_repr().numpy() for the "
                          "integers or .dequantize().numpy() for the values")

    def __array__(self, dtype=None, copy=None):
        raise NotSupportedError(
            f"a quantized tensor ({self._qdtype!r}, shape {list(self.shape)}) was passed to a "
            "float op or NumPy: graphc's quantized tensors support reshape/view/flatten/relu/"
            "dequantize as methods and the modules and functions of graphc.ao.nn.quantized "
            "(e.g. graphc.ao.nn.quantized.functional.max_pool2d); call .dequantize() to compute "
            "in float")

    def __bool__(self):
        raise GraphcError("a quantized tensor has no truth value; dequantize() it first")

    def __repr__(self) -> str:
        if self._q.is_traced:
            return f"QTensor(traced {self._q.type}, dtype={self._qdtype!r}, {self._params()})"
        body = repr(self.dequantize())
        body = body.removesuffix(")")
        return (f"{body}, size={tuple(self.shape)}, dtype={self._qdtype!r},\n       "
                f"quantization_scheme={self.qscheme()!r}, {self._params()})")

    def _params(self) -> str:
        if not self.per_channel():
            return f"scale={self._scale}, zero_point={self._zp}"
        return (f"scale={Tensor(self._scales)!r},\n       zero_point={Tensor(self._zps)!r}, "
                f"axis={self._axis}")


def is_quantized(x) -> bool:
    """True for a quantized tensor."""
    return isinstance(x, QTensor)


def quantize_per_tensor(input, scale, zero_point, dtype) -> QTensor:
    """x quantized with one scale and zero point: clamp(rne(fma(x, 1 / scale, zp))), as torch."""
    qd = _qdtype(dtype)
    x = input if isinstance(input, Tensor) else G.as_tensor(input)
    if isinstance(x, Tensor) and x.dtype is not dtypes.float32:
        raise GraphcError(f"quantize_per_tensor takes a float32 tensor, got {x.dtype}")
    s, z = _float_arg(scale, "scale"), int(_float_arg(zero_point, "zero_point"))
    q = apply("quantize", x, scale=s, zero_point=z, dtype=STORAGE[qd.name])
    return QTensor(q, qd, s, z)


def quantize_per_channel(input, scales, zero_points, axis: int, dtype) -> QTensor:
    """x quantized with a scale and zero point per index of `axis`, as torch (fbgemm's scalar
    rounding: clamp(rne(fl(fl(x * fl(1 / s)) + zp))))."""
    qd = _qdtype(dtype)
    x = input if isinstance(input, Tensor) else G.as_tensor(input)
    if x.is_traced or tracing.current() is not None:
        raise NotSupportedError("quantize_per_channel runs eagerly (it quantizes weights); call "
                                "it outside graphc.compile")
    a = x.numpy()
    if a.dtype != np.float32:
        raise GraphcError(f"quantize_per_channel takes a float32 tensor, got {a.dtype}")
    ax = axis + a.ndim if axis < 0 else axis
    s = np.asarray(scales.numpy() if isinstance(scales, Tensor) else scales, np.float64)
    z = np.asarray(zero_points.numpy() if isinstance(zero_points, Tensor) else zero_points,
                   np.int64)
    if not 0 <= ax < a.ndim or s.shape != (a.shape[ax],) or z.shape != s.shape:
        raise GraphcError(f"quantize_per_channel: {len(s)} scales and {len(z)} zero points for "
                          f"axis {axis} of shape {list(a.shape)}")
    if not (np.isfinite(s).all() and (s.astype(np.float32) > 0).all()):
        raise GraphcError("quantize_per_channel: scales must be positive and finite")
    shape = [1] * a.ndim
    shape[ax] = a.shape[ax]
    inv = np.array([inv_scale(v) for v in s], np.float32).reshape(shape)
    q = quantize_two_round(a, inv, z.astype(np.float32).reshape(shape), STORAGE[qd.name])
    return QTensor(Tensor(q), qd, scales=s, zero_points=z, axis=ax)


def dequantize(x):
    """x.dequantize() for a quantized tensor (a list: each one), as torch.dequantize."""
    if isinstance(x, (list, tuple)):
        return [dequantize(t) for t in x]
    if not isinstance(x, QTensor):
        raise GraphcError(f"dequantize takes a quantized tensor, got {type(x).__name__}")
    return x.dequantize()


def _make_per_tensor_quantized_tensor(input, scale, zero_point) -> QTensor:
    """A quantized tensor over integer values (uint8 -> quint8, int8 -> qint8, int32 -> qint32)."""
    q = input if isinstance(input, Tensor) else G.as_tensor(input)
    qd = _BY_STORAGE.get(q.dtype.name)
    if qd is None:
        raise GraphcError(f"_make_per_tensor_quantized_tensor takes uint8, int8 or int32 values, "
                          f"got {q.dtype}")
    return QTensor(q, qd, float(scale), int(zero_point))


def _make_per_channel_quantized_tensor(input, scales, zero_points, axis: int) -> QTensor:
    """A per-channel quantized tensor over integer values."""
    q = input if isinstance(input, Tensor) else G.as_tensor(input)
    qd = _BY_STORAGE.get(q.dtype.name)
    if qd is None:
        raise GraphcError(f"_make_per_channel_quantized_tensor takes uint8, int8 or int32 values, "
                          f"got {q.dtype}")
    s = np.asarray(scales.numpy() if isinstance(scales, Tensor) else scales, np.float64)
    z = np.asarray(zero_points.numpy() if isinstance(zero_points, Tensor) else zero_points,
                   np.int64)
    return QTensor(q, qd, scales=s, zero_points=z, axis=axis % q.ndim)
