"""Assorted torch names real programs use: finfo/iinfo, the legacy tensor types (FloatTensor,
LongTensor, ...), unique / unique_consecutive, Tensor.multinomial, Tensor.retain_grad.

unique and unique_consecutive have data-dependent output shapes: eager only (a TraceError inside
graphc.compile). retain_grad keeps the gradient of a non-leaf tensor in eager autograd (the
tensor is registered in autograd.RETAINED, and backward() adds it to the tensors it fills)."""
from __future__ import annotations

import weakref

import numpy as np

from . import autograd, dtypes
from . import random as _random
from .driver import tracing
from .errors import InputError, ShapeError, TraceError
from .tensor import Tensor

__all__ = [
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "IntTensor",
    "LongTensor",
    "finfo",
    "iinfo",
    "unique",
    "unique_consecutive",
]


# ---- finfo / iinfo ---------------------------------------------------------------------------

class finfo:
    """torch.finfo: the limits of a floating-point dtype (default: the default dtype)."""

    def __init__(self, type=None):
        d = dtypes.get_default_dtype() if type is None else _dtype_arg(type, "finfo")
        if not d.is_float:
            raise InputError(f"graphc.finfo() requires a floating point dtype, got {d}; use "
                             "graphc.iinfo for integer types")
        f = np.finfo(d.np)
        self.bits = int(f.bits)
        self.eps = float(f.eps)
        self.max = float(f.max)
        self.min = float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)
        self.dtype = d.torch_name

    def __eq__(self, other):
        return isinstance(other, finfo) and other.dtype == self.dtype

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """torch.iinfo: the limits of an integer dtype."""

    def __init__(self, type):
        d = _dtype_arg(type, "iinfo")
        if not d.is_int:
            raise InputError(f"graphc.iinfo() requires an integer dtype, got {d}"
                             + ("" if d.is_bool else "; use graphc.finfo for floating types"))
        i = np.iinfo(d.np)
        self.bits, self.max, self.min, self.dtype = int(i.bits), int(i.max), int(i.min), d.torch_name

    def __eq__(self, other):
        return isinstance(other, iinfo) and other.dtype == self.dtype

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def _dtype_arg(x, who: str) -> dtypes.DType:
    if not isinstance(x, dtypes.DType):
        raise InputError(f"{who}(): the argument must be a graphc dtype (e.g. graphc.float32), "
                         f"not {type(x).__name__}")
    return x


# ---- legacy tensor types ---------------------------------------------------------------------

class _LegacyType(type):
    """The metaclass of FloatTensor & co: calling one builds a tensor of its dtype (from data, or
    uninitialised (zero-filled) from sizes), isinstance(t, FloatTensor) checks t's dtype."""

    def __call__(cls, *args, device=None):
        from . import functions as G
        from .device import check_device
        check_device(device)
        d = cls.dtype
        if not args:
            return G.zeros(0, dtype=d)
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = args[0]
            if isinstance(data, Tensor):
                if data.dtype != d:
                    raise InputError(f"{cls.__name__}(tensor): the tensor is {data.dtype}, not "
                                     f"{d}; use .to({d}) to convert")
                return data
            if isinstance(data, (float, bool, np.floating, np.bool_)):
                raise InputError(f"{cls.__name__}(): data must be a sequence (got "
                                 f"{type(data).__name__})")
            arr = np.asarray(data)
            if d.is_int and arr.dtype.kind == "f":
                arr = np.trunc(arr)
            if d == dtypes.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
                raise InputError(f"{cls.__name__}(): a value cannot be converted to uint8 "
                                 "without overflow")
            return Tensor(arr.astype(d.np))
        sizes = [int(s) for s in args]
        if any(s < 0 for s in sizes):
            raise ShapeError(f"{cls.__name__}{tuple(sizes)}: negative dimension")
        return G.zeros(*sizes, dtype=d)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'graphc.{cls.__name__}'>"


def _legacy(name: str, d: dtypes.DType):
    return _LegacyType(name, (), {"dtype": d, "__doc__": f"torch.{name}: tensors of {d} (legacy "
                                  f"constructor: {name}(data) or {name}(*sizes))."})


FloatTensor = _legacy("FloatTensor", dtypes.float32)
DoubleTensor = _legacy("DoubleTensor", dtypes.float64)
LongTensor = _legacy("LongTensor", dtypes.int64)
IntTensor = _legacy("IntTensor", dtypes.int32)
BoolTensor = _legacy("BoolTensor", dtypes.bool_)
ByteTensor = _legacy("ByteTensor", dtypes.uint8)
CharTensor = _legacy("CharTensor", dtypes.int8)


# ---- unique / unique_consecutive (eager only) ---------------------------------------------------

def _eager_array(x, who: str) -> np.ndarray:
    if not isinstance(x, Tensor):
        raise InputError(f"{who}() takes a tensor, got {type(x).__name__}")
    if x.is_traced or tracing.current() is not None:
        raise TraceError(f"{who}() inside graphc.compile: its output shape depends on the data; "
                         f"call it outside the compiled function, or use a static alternative "
                         f"(sort, a one_hot / bincount-style count with a known number of classes)")
    return x._data


def _check_dim(a: np.ndarray, dim, who: str) -> int:
    nd = a.ndim
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -nd <= dim < nd:
        raise ShapeError(f"{who}: dim {dim!r} is out of range for a {a.ndim}-D tensor "
                         f"(expected in [{-nd}, {nd - 1}])")
    return int(dim) % nd


def _result(vals, inv, counts, return_inverse: bool, return_counts: bool):
    out = [Tensor(np.array(vals, order="C"))]
    if return_inverse:
        out.append(Tensor(np.array(inv, np.int64, order="C")))
    if return_counts:
        out.append(Tensor(np.array(counts, np.int64, order="C")))
    return out[0] if len(out) == 1 else tuple(out)


def unique(input, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim=None):
    """torch.unique: the distinct values (sorted), with the index of each element's value
    (return_inverse, input's shape; along `dim`: one per slice) and each value's count. With
    `dim`, the distinct slices along it, in lexicographic order. NaNs count as distinct, as in
    torch. Eager only (the output shape depends on the data). sorted=False still sorts (torch on
    the CPU does too for most inputs)."""
    a = _eager_array(input, "unique")
    if dim is None:
        vals, inv, counts = np.unique(a.reshape(-1), return_inverse=True, return_counts=True,
                                      equal_nan=False)
        return _result(vals, inv.reshape(a.shape), counts, return_inverse, return_counts)
    d = _check_dim(a, dim, "unique")
    moved = np.moveaxis(a, d, 0)
    n = moved.shape[0]
    if n == 0:
        return _result(a, np.zeros(0, np.int64), np.zeros(0, np.int64), return_inverse,
                       return_counts)
    flat = moved.reshape(n, int(np.prod(moved.shape[1:])))
    order = np.lexsort(flat.T[::-1]) if flat.shape[1] else np.zeros(n, np.int64)
    srt = flat[order]
    new = np.ones(n, bool)
    new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    group = np.cumsum(new) - 1
    inv = np.empty(n, np.int64)
    inv[order] = group
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n))
    vals = np.moveaxis(moved[order[starts]], 0, d)
    return _result(vals, inv, counts, return_inverse, return_counts)


def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False,
                       dim=None):
    """torch.unique_consecutive: collapse each run of equal consecutive values (or slices along
    `dim`) to one, with each element's run index (return_inverse) and the run lengths. Eager only."""
    a = _eager_array(input, "unique_consecutive")
    if dim is None:
        flat, shape, d = a.reshape(-1, 1), a.shape, None
    else:
        d = _check_dim(a, dim, "unique_consecutive")
        moved = np.moveaxis(a, d, 0)
        flat = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))
        shape = (moved.shape[0],)
    n = flat.shape[0]
    new = np.ones(n, bool)
    if n:
        new[1:] = np.any(flat[1:] != flat[:-1], axis=1)
    starts = np.flatnonzero(new)
    inv = (np.cumsum(new) - 1).reshape(shape)
    counts = np.diff(np.append(starts, n))
    if d is None:
        vals = a.reshape(-1)[starts]
    else:
        vals = np.moveaxis(np.moveaxis(a, d, 0)[starts], 0, d)
    return _result(vals, inv, counts, return_inverse, return_counts)


# ---- Tensor methods ------------------------------------------------------------------------------

def _multinomial(self, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn from the categories of each row (non-negative weights), as graphc.multinomial."""
    return _random.multinomial(self, num_samples, replacement, generator=generator)


def _retain_grad(self) -> None:
    """Keep this non-leaf tensor's gradient in `.grad` on backward() (eager autograd; a leaf
    keeps its own anyway)."""
    if self.is_traced or tracing.current() is not None:
        raise TraceError(f"retain_grad() on {self.type} inside graphc.compile: a compiled step "
                         "fills .grad of leaves (parameters) only; return the intermediate "
                         "tensor and differentiate eagerly, or make it a leaf input")
    if not self.requires_grad:
        raise InputError(f"can't retain_grad on a tensor {self.type} that has "
                         "requires_grad=False")
    if self._node is not None:
        autograd.RETAINED[self._node] = weakref.ref(self)


def _retains_grad(self) -> bool:
    node = self._node
    if node is None or self._value is not None:
        return False
    ref = autograd.RETAINED.get(node)
    return ref is not None and ref() is self


def _unique_method(self, sorted: bool = True, return_inverse: bool = False,
                   return_counts: bool = False, dim=None):
    """torch.Tensor.unique: see graphc.unique."""
    return unique(self, sorted, return_inverse, return_counts, dim)


def _unique_consecutive_method(self, return_inverse: bool = False, return_counts: bool = False,
                               dim=None):
    """torch.Tensor.unique_consecutive: see graphc.unique_consecutive."""
    return unique_consecutive(self, return_inverse, return_counts, dim)


Tensor.multinomial = _multinomial
Tensor.retain_grad = _retain_grad
Tensor.retains_grad = property(_retains_grad, doc="True after retain_grad() on a non-leaf tensor.")
Tensor.unique = _unique_method
Tensor.unique_consecutive = _unique_consecutive_method
