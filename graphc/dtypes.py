"""Element types: the IR's short names (f32, i64, ...) mapped to NumPy dtypes, and promotion."""
from __future__ import annotations

import numpy as np


class DType:
    """An element type of a tensor. Instances are singletons; compare with `is` or `==`."""

    __slots__ = ("name", "np", "torch_name")

    def __init__(self, name: str, np_dtype, torch_name: str):
        self.name, self.np, self.torch_name = name, np.dtype(np_dtype), torch_name

    def __repr__(self) -> str:
        return f"graphc.{self.torch_name}"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return (from_name, (self.name,))

    @property
    def is_float(self) -> bool:
        """True for floating-point dtypes (f32, f64)."""
        return self.np.kind == "f"

    @property
    def is_int(self) -> bool:
        """True for integer dtypes, signed or unsigned (not bool)."""
        return self.np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        """True for the bool dtype."""
        return self.np.kind == "b"

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.np.itemsize


float32 = DType("f32", np.float32, "float32")
float64 = DType("f64", np.float64, "float64")
int64 = DType("i64", np.int64, "int64")
int32 = DType("i32", np.int32, "int32")
int8 = DType("i8", np.int8, "int8")
uint8 = DType("u8", np.uint8, "uint8")
bool_ = DType("bool", np.bool_, "bool")

ALL = (float32, float64, int64, int32, int8, uint8, bool_)
_BY_NAME = {d.name: d for d in ALL}
_BY_NP = {d.np: d for d in ALL}



class UnsupportedDType:
    """A torch dtype graphc names but cannot compute in (bfloat16, float16): it may be stored
    and compared (nanoGPT builds {'float32': torch.float32, 'bfloat16': torch.bfloat16, ...}
    before choosing one), and making a tensor of it raises a NotSupportedError."""

    __slots__ = ("torch_name",)

    def __init__(self, torch_name: str):
        self.torch_name = torch_name

    def __repr__(self) -> str:
        return f"graphc.{self.torch_name}"

    is_floating_point = True

    def refuse(self):
        """The NotSupportedError for a tensor of this dtype."""
        from .errors import NotSupportedError
        return NotSupportedError(f"graphc.{self.torch_name} tensors are not supported: graphc "
                                 "computes in float32 and float64 (use float32, or autocast / "
                                 "GradScaler disabled)", name=self.torch_name)


bfloat16 = UnsupportedDType("bfloat16")
float16 = half = UnsupportedDType("float16")

# PyTorch-style aliases
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001
bool = bool_  # noqa: A001


class QDType:
    """A quantized dtype marker (`graphc.qint8`, `quint8`, `qint32`), as torch's: `storage` is the
    NumPy type of the integer values and [qmin, qmax] their full range."""

    def __init__(self, name: str, storage, qmin: int, qmax: int):
        self.name, self.storage, self.qmin, self.qmax = name, np.dtype(storage), qmin, qmax
        self.is_quantized, self.is_floating_point, self.is_signed = True, False, qmin < 0

    def __repr__(self) -> str:
        return f"graphc.{self.name}"

    def __reduce__(self):
        return (_qdtype, (self.name,))


def _qdtype(name: str) -> QDType:
    return globals()[name]


qint8 = QDType("qint8", np.int8, -128, 127)
quint8 = QDType("quint8", np.uint8, 0, 255)
qint32 = QDType("qint32", np.int32, -(1 << 31), (1 << 31) - 1)
QUANTIZED = (qint8, quint8, qint32)


class QScheme:
    """A quantization scheme marker (`graphc.per_tensor_affine`, ...), as torch.qscheme."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"graphc.{self.name}"

    def __reduce__(self):
        return (_qdtype, (self.name,))


per_tensor_affine = QScheme("per_tensor_affine")
per_channel_affine = QScheme("per_channel_affine")
per_tensor_symmetric = QScheme("per_tensor_symmetric")
per_channel_symmetric = QScheme("per_channel_symmetric")
per_channel_affine_float_qparams = QScheme("per_channel_affine_float_qparams")


_default_float = [float32]


def get_default_dtype() -> DType:
    """The dtype Python floats and float factories (zeros, ones, arange(0.5), ...) take:
    float32 unless set_default_dtype changed it (as torch.get_default_dtype)."""
    return _default_float[0]


def set_default_dtype(d) -> None:
    """Make `d` (float32 or float64) the default floating-point dtype (as torch's)."""
    dt = as_dtype(d)
    if not dt.is_float:
        raise TypeError(f"only floating-point types are supported as the default type, not {dt!r}")
    _default_float[0] = dt


def from_name(name: str) -> DType:
    """The DType whose IR name is `name` (f32, i64, ...)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown dtype {name!r}; known: {', '.join(_BY_NAME)}") from None


def from_numpy(dt) -> DType:
    """The DType of a NumPy dtype; raises KeyError for unsupported ones (e.g. complex, float16)."""
    dt = np.dtype(dt)
    try:
        return _BY_NP[dt]
    except KeyError:
        raise KeyError(f"unsupported NumPy dtype {dt}; graphc supports "
                       f"{', '.join(str(d.np) for d in ALL)}") from None


def as_dtype(x) -> DType:
    """Accept a DType, an IR name, a NumPy dtype or a Python type and return the DType."""
    if isinstance(x, DType):
        return x
    if isinstance(x, UnsupportedDType):
        raise x.refuse()
    if isinstance(x, str) and x in _BY_NAME:
        return _BY_NAME[x]
    if x is _PY_FLOAT:  # torch's default float dtype, not NumPy's float64
        return float32
    try:
        return from_numpy(x)
    except (KeyError, TypeError) as e:  # np.dtype("complex") or np.dtype("nope")
        from .errors import InputError
        raise InputError(f"unsupported dtype {x!r}: {e.args[0] if e.args else e}; graphc supports "
                         f"{', '.join(_BY_NAME)}") from None


_PY_FLOAT = (1.0).__class__


def _category(d: DType) -> int:
    return 2 if d.is_float else 1 if d.is_int else 0


def promote(*dtypes: DType) -> DType:
    """PyTorch's promotion of tensor dtypes (torch.promote_types): a higher category (bool <
    integer < float) wins outright (f32 + i64 -> f32, bool + i32 -> i32), within a category the
    wider type (f32 + f64 -> f64, i32 + i64 -> i64); u8 + i8 -> i16 is unsupported (no i16)."""
    top = max(_category(d) for d in dtypes)
    out = np.result_type(*[d.np for d in dtypes if _category(d) == top])
    try:
        return _BY_NP[out]
    except KeyError:
        raise KeyError(f"promoting {', '.join(map(str, dtypes))} gives {out}, "
                       "which graphc does not support; cast explicitly") from None


def result_type(dimensioned: list[DType], zero_dim: list[DType]) -> DType:
    """torch.result_type of tensor operands: the dimensioned tensors' promoted dtype, which a 0-d
    tensor changes only when it is of a higher category (f32[3] + f64[] -> f32, i64[3] + f64[]
    -> f64, i32[3] + i64[] -> i32; bool tensors always promote). Python numbers are weaker still
    and handled by the caller (weak_scalar_dtype)."""
    if not dimensioned:
        return promote(*zero_dim)
    dim = promote(*dimensioned)
    if not zero_dim:
        return dim
    zero = promote(*zero_dim)
    if dim.is_float:
        return dim
    if dim.is_bool or _category(zero) > _category(dim):
        return promote(dim, zero)
    return dim
