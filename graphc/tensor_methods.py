"""Tensor methods torch programs use for bookkeeping, installed on graphc.Tensor (graphc.tensor
imports none of this: it sits below functions.py and device.py).

- `.device` (graphc.device('cpu')), `.is_cuda` (False), `.is_cpu`, `.cpu()` (the tensor itself),
  `.cuda()` (a DeviceError: no CUDA), `.pin_memory()` (itself), `.is_pinned()`;
- `.to(device)`, `.to(dtype)`, `.to(device, dtype)`, `.to(other)`, with `non_blocking=` and
  `copy=`: the tensor itself when nothing changes, as torch;
- `.type()` gives graphc's name of the tensor type ('graphc.FloatTensor', where torch says
  'torch.FloatTensor'), `.type(dtype)` converts; `.type` is still the TensorType (shape, dtype)
  that graphc's own code and error messages read (it is callable on top);
- `format(t, spec)` of a 0-d tensor formats its value (`f"{loss:>7f}"`), as torch;
- `.element_size()`, `.nbytes`, `.itemsize`, `.nelement()`, `.ndimension()`,
  `.is_floating_point()`, `.is_contiguous()`, `.new_zeros/new_ones/new_full/new_empty/new_tensor`,
  `.numpy(force=False)`.
"""
from __future__ import annotations

from . import dtypes
from . import functions as F
from .device import CPU, DeviceError, check_device, device
from .dtypes import DType
from .ir.graph import TensorType
from .tensor import Tensor

# torch's legacy tensor-type names, by dtype
TYPE_NAMES = {dtypes.float32: "FloatTensor", dtypes.float64: "DoubleTensor",
              dtypes.int64: "LongTensor", dtypes.int32: "IntTensor", dtypes.int8: "CharTensor",
              dtypes.uint8: "ByteTensor", dtypes.bool_: "BoolTensor"}
_BY_TYPE_NAME = {n: d for d, n in TYPE_NAMES.items()}


def _dtype_of(x) -> DType:
    """A dtype from a DType, NumPy dtype, Python type or a 'torch.FloatTensor'-style name."""
    if isinstance(x, str):
        short = x.rpartition(".")[2]
        if short in _BY_TYPE_NAME and x.partition(".")[0] in ("torch", "graphc", short):
            return _BY_TYPE_NAME[short]
    return dtypes.as_dtype(x)


class TypeOf(TensorType):
    """A tensor's `.type`: its TensorType (shape, dtype; what graphc's code reads), callable as
    torch's Tensor.type: `t.type()` is 'graphc.FloatTensor', `t.type(graphc.float64)` converts."""

    def __call__(self, dtype=None, non_blocking: bool = False, **kwargs):
        t = self.__dict__["_tensor"]
        if dtype is None:
            return "graphc." + TYPE_NAMES[self.dtype]
        return F.cast(t, _dtype_of(dtype))

    def __eq__(self, other):
        if isinstance(other, TensorType):
            return self.shape == other.shape and self.dtype == other.dtype
        return NotImplemented

    __hash__ = TensorType.__hash__

    def __reduce__(self):  # pickles and copies as the plain TensorType (not the tensor)
        return (TensorType, (self.shape, self.dtype))


_base_type = getattr(Tensor.__dict__.get("type"), "fget", None) or \
    (lambda self: self._value.type if self._value is not None else
     TensorType(self._data.shape, dtypes.from_numpy(self._data.dtype)))


def _type(self) -> TypeOf:
    base = _base_type(self)
    out = object.__new__(TypeOf)
    object.__setattr__(out, "shape", base.shape)
    object.__setattr__(out, "dtype", base.dtype)
    object.__setattr__(out, "_tensor", self)
    return out


def _split_to_args(self, args, kwargs):
    """torch's Tensor.to overloads -> (dtype or None, device or None)."""
    dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (device, int)) and not isinstance(a, bool):
            dev = a
        elif isinstance(a, str):
            try:
                dev = device(a)
            except Exception:  # noqa: BLE001  (not a device name: a dtype name then)
                dtype = _dtype_of(a)
        elif a is not None:
            dtype = a
    return dtype, dev


def _to(self, *args, non_blocking: bool = False, copy: bool = False, memory_format=None, **kwargs):
    """Convert to a dtype and/or device (only the CPU): `t.to("cpu")`, `t.to(graphc.float64)`,
    `t.to(device, dtype)`, `t.to(other)`; the tensor itself when nothing changes."""
    dtype, dev = _split_to_args(self, args, kwargs)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    check_device(dev)
    out = self if dtype is None else F.cast(self, _dtype_of(dtype))
    return out.clone() if copy and out is self else out


def _cuda(self, device=None, non_blocking: bool = False, **kwargs):
    raise DeviceError("Tensor.cuda(): CUDA is not available: graphc runs on the CPU only "
                      "(graphc.cuda.is_available() is False); use .to('cpu') or leave it out")


def _format(self, spec: str) -> str:
    if self.ndim == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


def _new(self, fill, size, dtype, device, requires_grad):
    size = F._shape_arg(size)
    return F.full(size, fill, dtype or self.dtype, device, requires_grad)


def _result_dtype(a, b) -> DType:
    ts = [x.dtype for x in (a, b) if isinstance(x, Tensor)]
    dt = dtypes.promote(*ts) if len(ts) > 1 else ts[0]
    other = b if isinstance(a, Tensor) else a
    if not dt.is_float and isinstance(other, float):
        dt = dtypes.get_default_dtype()
    return dt


def floor_divide(a, b) -> Tensor:
    """a // b as torch: floor(a / b), in the operands' promoted dtype (integers divided in
    float64, exact below 2**53)."""
    from .tensor import apply
    dt = _result_dtype(a, b)
    if dt.is_float:
        return F.cast(apply("floor", F.cast(a, dt) / b if isinstance(a, Tensor) else a / F.cast(b, dt)), dt)
    x = F.cast(a, dtypes.float64) if isinstance(a, Tensor) else float(a)
    y = F.cast(b, dtypes.float64) if isinstance(b, Tensor) else float(b)
    return F.cast(apply("floor", x / y), dt)


def remainder(a, b) -> Tensor:
    """a % b as torch (Python's sign rule: the result has b's sign): a - (a // b) * b."""
    dt = _result_dtype(a, b)
    a = F.cast(a, dt) if isinstance(a, Tensor) else a
    b = F.cast(b, dt) if isinstance(b, Tensor) else b
    return a - floor_divide(a, b) * b


_numpy = Tensor.numpy


def _install() -> None:
    T = Tensor
    T.type = property(_type, doc=TypeOf.__doc__)
    # .dtype read .type: read the plain TensorType instead (no TypeOf built per access)
    T.dtype = property(lambda self: _base_type(self).dtype, doc="The element type, a DType.")
    T.device = property(lambda self: CPU, doc="graphc.device('cpu'): graphc tensors live there.")
    T.is_cuda = property(lambda self: False, doc="False: graphc has no CUDA.")
    T.is_cpu = property(lambda self: True, doc="True: every graphc tensor is on the CPU.")
    T.is_meta = property(lambda self: False, doc="False.")
    T.to = _to
    T.cpu = lambda self, memory_format=None: self
    T.cuda = _cuda
    T.pin_memory = lambda self, device=None: self
    T.is_pinned = lambda self, device=None: False
    T.__format__ = _format
    T.element_size = lambda self: self.dtype.itemsize
    T.itemsize = property(lambda self: self.dtype.itemsize, doc="Bytes per element.")
    T.nbytes = property(lambda self: self.numel() * self.dtype.itemsize, doc="Bytes of data.")
    T.nelement = lambda self: self.numel()
    T.ndimension = lambda self: self.ndim
    T.is_floating_point = lambda self: self.dtype.is_float
    T.is_contiguous = lambda self, memory_format=None: True
    T.numpy = lambda self, *, force=False: _numpy(self)
    if "__floordiv__" not in T.__dict__:
        T.__floordiv__ = lambda self, o: floor_divide(self, o)
        T.__rfloordiv__ = lambda self, o: floor_divide(o, self)
        T.floor_divide = T.__floordiv__
    if "__mod__" not in T.__dict__:
        T.__mod__ = lambda self, o: remainder(self, o)
        T.__rmod__ = lambda self, o: remainder(o, self)
        T.remainder = T.__mod__
    T.new_zeros = lambda self, *size, dtype=None, device=None, requires_grad=False: \
        _new(self, 0, size, dtype, device, requires_grad)
    T.new_ones = lambda self, *size, dtype=None, device=None, requires_grad=False: \
        _new(self, 1, size, dtype, device, requires_grad)
    T.new_empty = T.new_zeros
    T.new_full = lambda self, size, fill_value, *, dtype=None, device=None, requires_grad=False: \
        _new(self, fill_value, (size,), dtype, device, requires_grad)
    T.new_tensor = lambda self, data, *, dtype=None, device=None, requires_grad=False: \
        F.tensor(data, dtype or self.dtype, device, requires_grad)


_install()
Tensor.is_quantized = False  # as torch; quantized tensors are graphc.QTensor (quantized_tensor.py)
