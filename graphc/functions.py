"""Torch-named tensor functions, written as compositions of the IR's primitives.

Each is available as `graphc.<name>(x, ...)` and, where PyTorch has it, as `x.<name>(...)`:
functions.py installs the Tensor methods that are compositions (x.sum(), x @ y, x.zero_(), ...),
since graphc.tensor may not import this module (it builds on graphc.tensor: a circle).
"""
from __future__ import annotations

import builtins
import math
import operator
from collections import namedtuple

import numpy as np

from . import dtypes, qdispatch
from .driver import tracing
from .grad_mode import is_grad_enabled
from .device import check_device
from .tensor import Tensor, apply, as_array, check

_pymax = builtins.max  # this module defines torch's max/min/sum/abs

# ---- helpers --------------------------------------------------------------------------------------


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)  # an array operand is not copied


def _axes(dim, ndim: int):
    """Normalise a torch `dim` argument (None, int, or sequence) to a sorted tuple or None."""
    if dim is None:
        return None
    if ndim == 0:  # torch allows dim 0 / -1 on a 0-d tensor: reduce over nothing
        return ()
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        check(-_pymax(ndim, 1) <= d < _pymax(ndim, 1), f"dim {d} is out of range for a {ndim}-d tensor")
        out.append(int(d) % _pymax(ndim, 1))
    return tuple(sorted(set(out)))


def _dim(dim: int, ndim: int) -> int:
    check(-_pymax(ndim, 1) <= dim < _pymax(ndim, 1), f"dim {dim} is out of range for a {ndim}-d tensor")
    return int(dim) % _pymax(ndim, 1)


# ---- elementwise ----------------------------------------------------------------------------------

def _float(x: Tensor) -> Tensor:
    return x if x.dtype.is_float else apply("cast", x, dtype=dtypes.float32)


def exp(x):
    """Elementwise e**x; integer tensors are computed in float32."""
    return apply("exp", _float(_t(x)))


def log(x):
    """Elementwise natural logarithm; integer tensors are computed in float32."""
    return apply("log", _float(_t(x)))


def log1p(x):
    """Elementwise log(1 + x), accurate near 0; integer tensors are computed in float32."""
    return apply("log1p", _float(_t(x)))


def sqrt(x):
    """Elementwise square root; integer tensors are computed in float32."""
    return apply("sqrt", _float(_t(x)))


def rsqrt(x):
    """Elementwise 1 / sqrt(x); integer tensors are computed in float32."""
    return apply("rsqrt", _float(_t(x)))


def tanh(x):
    """Elementwise hyperbolic tangent; integer tensors are computed in float32."""
    return apply("tanh", _float(_t(x)))


def erf(x):
    """Elementwise Gauss error function; integer tensors are computed in float32."""
    return apply("erf", _float(_t(x)))


def abs(x):  # noqa: A001
    """Elementwise absolute value."""
    return apply("abs", _t(x))


def neg(x):
    """Elementwise -x."""
    return apply("neg", _t(x))


def sign(x):
    """Elementwise sign of x: -1, 0 or 1 (0 at NaN, as torch.sign)."""
    x = _t(x)
    if x.dtype.is_bool:   # torch: sign of a bool tensor is the tensor
        return x.clone()
    s = apply("sign", x)
    return where(x != x, 0.0, s) if x.dtype.is_float else s


def square(x):
    """Elementwise x * x."""
    return _t(x) * _t(x)


def reciprocal(x):
    """Elementwise 1 / x; integer tensors are computed in float32."""
    return 1.0 / _float(_t(x))


def maximum(a, b):
    """Elementwise maximum of a and b (broadcast); NaN propagates, as torch.maximum."""
    return apply("maximum", a, b)


def minimum(a, b):
    """Elementwise minimum of a and b (broadcast); NaN propagates, as torch.minimum."""
    return apply("minimum", a, b)


def where(cond, a=None, b=None) -> Tensor:
    """Elementwise `a if cond else b` (the traced replacement for Python `if`).

    A Python float beside integer tensors makes the result float32, as torch's; the condition
    itself is never converted. (graphc.where(cond) alone, nonzero(cond, as_tuple=True), is
    graphc.index_ops.where.)"""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two numbers: torch's result
        # dtype is the default float (any float among them), else int64 (bool for two bools)
        dt = (dtypes.get_default_dtype() if any(isinstance(v, (float, np.floating)) for v in (a, b))
              else dtypes.bool_ if all(isinstance(v, (bool, np.bool_)) for v in (a, b))
              else dtypes.int64)
        a = tensor(np.asarray(a, dtype=dt.np))
    if any(isinstance(v, (float, np.floating)) for v in (a, b)):
        a, b = (cast(v, dtypes.float32) if isinstance(v, Tensor) and not v.dtype.is_float else v
                for v in (a, b))
    return apply("where", cond, a, b)


def relu(x) -> Tensor:
    """max(x, 0); 0 (and gradient 0) at x <= 0, NaN stays NaN, as torch.relu."""
    if qdispatch.quantized(x):
        return qdispatch.call("relu", x)
    x = _t(x)
    return where(x <= 0, 0, x)


def sigmoid(x) -> Tensor:
    """Elementwise 1 / (1 + exp(-x)); integer tensors are computed in float32."""
    return 1.0 / (1.0 + exp(-_float(_t(x))))


def _gelu(x, approximate: str) -> Tensor:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


def _gelu_grad(x, g, approximate: str) -> Tensor:
    """torch's GeluBackward (aten/src/ATen/native/cpu/Activation.cpp), from x alone."""
    if approximate == "tanh":
        beta, kappa = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5, 0.044715
        x_sq = x * x
        t = tanh(beta * (x + kappa * x_sq * x))
        left, right = 0.5 * x, 1.0 + t
        return g * (0.5 * right + left * (1.0 - t * t) * beta * (1.0 + 3.0 * kappa * x_sq))
    beta = (2.0 / math.sqrt(math.pi)) * (1.0 / math.sqrt(2.0)) * 0.5
    cdf = 0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    return g * (cdf + x * exp(-0.5 * x * x) * beta)


_GELU_FUNCTIONS: dict = {}   # approximate -> its autograd Function (made on first use)


def gelu(x, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, exact (erf) or `approximate="tanh"` as in PyTorch. Its
    gradient is torch's GeluBackward computed from x (a custom rule): a training step keeps x
    alone for the backward pass, where the derivative of the composition kept three of its
    intermediates (the fc + GELU kernel of a GPT wrote four 4 MB tensors instead of two)."""
    x = _float(_t(x))
    check(approximate in ("none", "tanh"),
          f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
    if not (x.requires_grad and is_grad_enabled()):
        return _gelu(x, approximate)
    fn = _GELU_FUNCTIONS.get(approximate)
    if fn is None:
        from .autograd import Function   # late: autograd builds on this module

        class GeluFunction(Function):
            @staticmethod
            def forward(ctx, t):
                ctx.save_for_backward(t)
                return _gelu(t, approximate)

            @staticmethod
            def backward(ctx, g):
                (t,) = ctx.saved_tensors
                return _gelu_grad(t, g, approximate)
        fn = _GELU_FUNCTIONS[approximate] = GeluFunction
    return fn.apply(x)


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    """x clamped elementwise into [min, max] (numbers or tensors, broadcast; one may be None), as
    torch: min(max(x, min), max), a tie keeps x (and its zero's sign), a NaN anywhere gives NaN;
    the gradient goes to x where min <= x <= max, to min where x < min < max, to max where
    x > max or max < min (torch's subgradients, not maximum/minimum's split ties)."""
    x = _t(x)
    check(min is not None or max is not None,
          "torch.clamp: At least one of 'min' or 'max' must not be None")
    lo, hi = min, max
    v = x.detach() if x.requires_grad else x
    nan = None
    for bound, below in ((lo, True), (hi, False)):
        if bound is None:
            continue
        b = bound.detach() if isinstance(bound, Tensor) and bound.requires_grad else bound
        v = where(v < b, b, v) if below else where(v > b, b, v)
        if isinstance(b, Tensor) and b.dtype.is_float:
            nan = (b != b) if nan is None else (nan | (b != b))
        elif isinstance(b, float) and b != b:
            return x * 0.0 + b if x.dtype.is_float else full_like(x, b, dtype=dtypes.float32)
    if nan is not None:   # a NaN bound gives NaN, as torch (where alone would keep x)
        v = where(nan, math.nan, v)
    grads = [isinstance(t, Tensor) and t.requires_grad and is_grad_enabled() for t in (x, lo, hi)]
    if not any(grads):
        return v
    # v has the values; where() routes the gradient (the three masks never overlap)
    if grads[2]:
        v = where((x > hi) | (hi < lo) if lo is not None else x > hi, hi, v)
    if grads[1]:
        v = where((x < lo) & (lo < hi) if hi is not None else x < lo, lo, v)
    if grads[0]:
        inside = x >= lo if lo is not None else None
        if hi is not None:
            inside = x <= hi if inside is None else inside & (x <= hi)
        v = where(inside, x, v)
    return v


# ---- reductions -----------------------------------------------------------------------------------

def sum(x, dim=None, keepdim: bool = False, *, keepdims=None) -> Tensor:  # noqa: A001
    """Sum over `dim` (an int, a sequence, or None for all); `keepdim` keeps reduced dims
    (`keepdims=`, NumPy's spelling, is torch's alias)."""
    x = _t(x)
    keepdim = keepdim if keepdims is None else keepdims
    return apply("sum", x, axis=_axes(dim, x.ndim), keepdims=keepdim)


def mean(x, dim=None, keepdim: bool = False, *, keepdims=None) -> Tensor:
    """Mean over `dim` (None: all elements); integer tensors are averaged in float32
    (`keepdims=` as sum's)."""
    x = _float(_t(x))
    keepdim = keepdim if keepdims is None else keepdims
    axes = _axes(dim, x.ndim)
    n = int(np.prod([x.shape[a] for a in (axes if axes is not None else range(x.ndim))]))
    return sum(x, dim, keepdim) / float(n)


def amax(x, dim=None, keepdim: bool = False) -> Tensor:
    """Largest value over `dim` (an int, a sequence, or None for all), without indices."""
    x = _t(x)
    return apply("max", x, axis=_axes(dim, x.ndim), keepdims=keepdim)


def _reversed(x: Tensor) -> Tensor:
    """x under an order-reversing map that cannot overflow (-x for floats, -1 - x for signed
    integers, 255 - x for uint8, not for bool): min and argmin are max and argmax of it."""
    if x.dtype.is_float:
        return -x
    if x.dtype.is_bool:
        return apply("not", x)
    return 255 - x if x.dtype is dtypes.uint8 else -1 - x


def amin(x, dim=None, keepdim: bool = False) -> Tensor:
    """Smallest value over `dim` (an int, a sequence, or None for all), without indices."""
    return _reversed(amax(_reversed(_t(x)), dim, keepdim))


def cumsum(x, dim: int, *, dtype=None) -> Tensor:
    """Running sums along `dim` (torch.cumsum); integer and bool tensors sum into int64.

    `dtype` casts the input first, as torch does."""
    x = _t(x) if dtype is None else cast(x, dtype)
    return apply("cumsum", x, axis=_dim(dim, x.ndim))


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest value along `dim` (None: into the flattened tensor)."""
    x = _t(x)
    if dim is None:
        out = apply("argmax", x, axis=None, keepdims=False)
        return reshape(out, (1,) * x.ndim) if keepdim else out
    return apply("argmax", x, axis=_dim(dim, x.ndim), keepdims=keepdim)


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value along `dim` (None: into the flattened tensor)."""
    return argmax(_reversed(_t(x)), dim, keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])  # torch.return_types.max


def _at_index(x, dim, keepdim: bool, arg) -> MaxResult:
    """(values, indices) along one dim, the values read at the indices: the gradient goes to the
    indexed element only (torch's max(dim)/min(dim); amax's ties share it instead)."""
    x = _t(x)
    if x.ndim == 0:
        return MaxResult(x, tensor(np.zeros((), np.int64)))
    d = _dim(dim, x.ndim)
    idx = arg(x, d)
    values = apply("gather", x, idx, axis=d)
    if keepdim:
        keep = x.shape[:d] + (1,) + x.shape[d + 1:]
        values, idx = reshape(values, keep), reshape(idx, keep)
    return MaxResult(values, idx)


def max(x, dim=None, keepdim: bool = False):  # noqa: A001
    """`max(x)` is the largest element; `max(x, dim)` returns (values, indices) as in torch."""
    if isinstance(dim, Tensor):  # torch.max(a, b) is maximum
        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return _at_index(x, dim, keepdim, argmax)


def min(x, dim=None, keepdim: bool = False):  # noqa: A001
    """`min(x)` is the smallest element; `min(x, dim)` returns (values, indices) as in torch."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return _at_index(x, dim, keepdim, argmin)


def softmax(x, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, shifted by the max for numerical stability."""
    x = _float(_t(x))
    z = x - amax(x, dim, keepdim=True).detach()  # shift for stability; no gradient through it
    e = exp(z)
    return e / sum(e, dim, keepdim=True)


def log_softmax(x, dim: int = -1) -> Tensor:
    """log(softmax(x)) along `dim`, computed stably as (x - max) - log(sum(exp(x - max)))."""
    x = _float(_t(x))
    z = x - amax(x, dim, keepdim=True).detach()
    return z - log(sum(exp(z), dim, keepdim=True))


# ---- shapes ---------------------------------------------------------------------------------------

def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        try:
            out.append(operator.index(s))  # ints and NumPy ints; 1.5 is not a size
        except TypeError:
            check(False, f"sizes must be integers, got {s!r} in {list(shape)}")
    return tuple(out)


def reshape(x, *shape) -> Tensor:
    """x with a new shape holding the same number of elements; one size may be -1."""
    x = _t(x)
    shape = list(_shape_arg(shape))
    if shape.count(-1) > 1:
        check(False, f"reshape to {shape}: only one dimension can be -1")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        check(known > 0 and x.numel() % known == 0,
              f"cannot reshape {x.type} ({x.numel()} elements) to {shape}")
        shape[shape.index(-1)] = x.numel() // known
    check(int(np.prod(shape)) == x.numel(),
          f"cannot reshape {x.type} ({x.numel()} elements) to {shape}")
    if tuple(shape) == x.shape:
        return x
    return apply("reshape", x, shape=tuple(shape))


def permute(x, *dims) -> Tensor:
    """x with its dims reordered: output dim i is input dim dims[i]."""
    x = _t(x)
    dims = tuple(_dim(d, x.ndim) for d in _shape_arg(dims))
    check(sorted(dims) == list(range(x.ndim)), f"permute dims {list(dims)} do not fit {x.type}")
    return apply("transpose", x, perm=dims)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    """x with dims dim0 and dim1 swapped."""
    x = _t(x)
    perm = list(range(x.ndim))
    a, b = _dim(dim0, x.ndim), _dim(dim1, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return apply("transpose", x, perm=tuple(perm))


def unsqueeze(x, dim: int) -> Tensor:
    """x with a size-1 dim inserted at position `dim`."""
    x = _t(x)
    d = _dim(dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None) -> Tensor:
    """x without its size-1 dims (all of them, or only `dim` if that has size 1)."""
    x = _t(x)
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    d = _dim(dim, x.ndim)
    return reshape(x, x.shape[:d] + x.shape[d + 1:]) if x.shape[d] == 1 else x


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """x with dims start_dim..end_dim merged into one (a 0-d tensor becomes 1-d)."""
    if qdispatch.quantized(x):
        return qdispatch.call("flatten", x, start_dim, end_dim)
    x = _t(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    return reshape(x, x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def expand(x, *sizes) -> Tensor:
    """x broadcast to `sizes`; -1 keeps a dim's size, and new leading dims may be added."""
    x = _t(x)
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return x if shape == x.shape else apply("broadcast", x, shape=shape)


def broadcast_to(x, shape) -> Tensor:
    """x broadcast to `shape`, as expand(x, *shape)."""
    return expand(x, *shape)


def matmul(a, b) -> Tensor:
    """NumPy/torch matmul: 1-D operands are promoted to matrices and the extra dim removed."""
    a, b = _t(a), _t(b)
    check(a.ndim >= 1 and b.ndim >= 1, f"matmul of a 0-d tensor ({a.type} @ {b.type})")
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    out = apply("matmul", a2, b2)
    if b.ndim == 1:
        out = squeeze(out, -1)
    if a.ndim == 1:
        out = squeeze(out, -2 if b.ndim > 1 else -1)
    return out


def cast(x, dtype) -> Tensor:
    """x converted to `dtype` (x itself if it already has that dtype)."""
    x = _t(x)
    dt = dtypes.as_dtype(dtype)
    return x if x.dtype is dt else apply("cast", x, dtype=dt)


def _basic_index(x: Tensor, index):
    """(start, stop, step, result shape) of a basic index: ints, slices (positive steps), None, ..."""
    if not isinstance(index, tuple):
        index = (index,)
    for i in index:
        if isinstance(i, (Tensor, np.ndarray, list)) or (
                not isinstance(i, (int, np.integer, slice)) and i is not None and i is not Ellipsis):
            check(False, f"indexing with {type(i).__name__} is not supported (ints, slices, None, "
                         "..., integer or bool tensors, lists, ranges)")
    n_real = len([i for i in index if i is not None and i is not Ellipsis])
    check(n_real <= x.ndim, f"too many indices ({n_real}) for a {x.ndim}-d tensor")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - n_real) + index[k + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - n_real)
    start, stop, step, out_shape, axis = [], [], [], [], 0
    for i in index:
        if i is None:
            out_shape.append(1)
            continue
        d = x.shape[axis]
        if isinstance(i, slice):
            s0, s1, st = i.indices(d)
            check(st > 0, "step must be greater than zero (torch has no negative slice steps: "
                          "use x.flip(dim))")
            start.append(s0), stop.append(_pymax(s0, s1)), step.append(st)
            out_shape.append(_pymax(0, (_pymax(s0, s1) - s0 + st - 1) // st))
        else:
            check(-d <= i < d, f"index {i} is out of range for axis {axis} with size {d}")
            i = int(i) % d
            start.append(i), stop.append(i + 1), step.append(1)
        axis += 1
    return tuple(start), tuple(stop), tuple(step), tuple(out_shape)


def getitem(x: Tensor, index) -> Tensor:
    """x[index] for basic indices: ints, slices (positive steps), None, Ellipsis. (Tensor's
    __getitem__, graphc.index_ops.getitem, adds integer tensors, lists and masks.)"""
    start, stop, step, out_shape = _basic_index(x, index)
    y = x
    if (start, stop, step) != ((0,) * x.ndim, x.shape, (1,) * x.ndim):
        y = apply("slice", x, start=start, stop=stop, step=step)
    return reshape(y, out_shape)


def setitem(x: Tensor, index, value) -> None:
    """`x[index] = value` for basic indices, in place, with torch's broadcasting of `value`.

    Eagerly on a tensor outside autograd it writes the array; otherwise (inside a trace, or when
    gradients flow) it is `where(region, pad(value), x)`, so it compiles and differentiates.
    (Tensor's __setitem__, graphc.index_ops.setitem, adds integer-tensor and mask indices.)"""
    start, stop, step, out_shape = _basic_index(x, index)
    lens = tuple(_pymax(0, (b - a + st - 1) // st) for a, b, st in zip(start, stop, step))
    v = value if isinstance(value, Tensor) else tensor(np.asarray(value), dtype=x.dtype)
    if v.dtype != x.dtype:
        v = cast(v, x.dtype)
    check(_broadcastable(v.shape, out_shape),
          f"cannot assign a tensor of shape {list(v.shape)} to x{_index_str(index)} of shape "
          f"{list(out_shape)}")
    if 0 in lens:
        return
    recorded = tracing.current() is not None or (
        is_grad_enabled() and (x.requires_grad or v.requires_grad))
    if not recorded:
        region = tuple(slice(a, b, st) for a, b, st in zip(start, stop, step))
        x._data[region] = np.broadcast_to(v.numpy(), out_shape).reshape(lens)
        x._version += 1
        return
    v = reshape(broadcast_to(v, out_shape), lens)
    hi = tuple(d - (a + (n - 1) * st + 1) for d, a, n, st in zip(x.shape, start, lens, step))
    placed = apply("pad", v, lo=start, hi=hi, interior=tuple(st - 1 for st in step))
    mask = np.zeros(x.shape, bool)
    mask[tuple(slice(a, b, st) for a, b, st in zip(start, stop, step))] = True
    x._assign(where(tensor(mask), placed, x))


def _broadcastable(src: tuple, dst: tuple) -> bool:
    if len(src) > len(dst):
        return all(d == 1 for d in src[:len(src) - len(dst)]) and \
            _broadcastable(src[len(src) - len(dst):], dst)
    return all(a in (1, b) for a, b in zip(src[::-1], dst[::-1]))


def _index_str(index) -> str:
    return f"[{index!r}]" if not isinstance(index, tuple) else f"[{', '.join(map(repr, index))}]"


def _index_tensor(index, what: str, int64_only: bool = False) -> Tensor:
    """`index` as an integer tensor (a ShapeError naming `what` for floats or bools)."""
    index = _t(index)
    ok = index.dtype in (dtypes.int64,) if int64_only else \
        (index.dtype.is_int and index.dtype in (dtypes.int64, dtypes.int32))
    check(ok, f"{what}(): expected dtype {'int64' if int64_only else 'int32/int64'} for index, "
              f"got {index.dtype}")
    return index


def gather(x, dim: int, index, *, sparse_grad: bool = False, out=None) -> Tensor:
    """torch.gather: out[p] = x[p with p[dim] replaced by index[p]]; `index` has x's number of
    dims, no larger than x off `dim`, and the result has its shape (indices in [0, size)).

    graphc also takes an index with x's shape minus `dim` (one index per row: that dim dropped).
    """
    check(out is None, "gather: out= is not supported")
    x, index = _t(x), _index_tensor(index, "gather")
    if x.ndim <= 1 and index.ndim <= 1:   # 0-d operands: torch treats them as 1-d
        if x.ndim == 0:
            check(index.ndim <= 1, "gather: a 0-d input takes a 0-d or 1-d index")
        d = _dim(dim, 1)
        flat = apply("gather", reshape(x, (x.numel(),)), reshape(index, (index.numel(),)), axis=d)
        return reshape(flat, index.shape) if index.ndim == 0 else flat
    d = _dim(dim, x.ndim)
    if index.ndim == x.ndim - 1 and index.shape == x.shape[:d] + x.shape[d + 1:]:
        return apply("gather", x, index, axis=d)
    check(index.ndim == x.ndim, f"gather: index {list(index.shape)} must have the same number of "
                                f"dimensions as the input {list(x.shape)}")
    for k, (i, s) in enumerate(zip(index.shape, x.shape)):
        check(k == d or i <= s, f"gather: size does not match at dimension {k}: expected index "
                                f"{list(index.shape)} to be no larger than the input "
                                f"{list(x.shape)} apart from dimension {d}")
    return apply("gather", x, index, axis=d)


def one_hot(index, num_classes: int = -1, dtype=dtypes.int64) -> Tensor:
    """Class indices as one-hot vectors: a new last dim of num_classes, 1 at the index, else 0.
    num_classes=-1 (torch's default): index.max() + 1, known eagerly only."""
    index = _t(index)
    if num_classes == -1:
        if index.is_traced or tracing.current() is not None:
            from .errors import TraceError
            raise TraceError(f"one_hot({index.type}) without num_classes= inside graphc.compile: "
                             "the class count index.max() + 1 depends on the data; pass "
                             "num_classes= (e.g. F.one_hot(y, num_classes=10))")
        if index.numel() == 0:
            from .errors import ShapeError
            raise ShapeError("one_hot: can not infer the number of classes from an empty tensor; "
                             "pass num_classes=")
        num_classes = int(index._data.max()) + 1
    return apply("one_hot", index, num_classes=int(num_classes), dtype=dtypes.as_dtype(dtype))


# ---- creation -------------------------------------------------------------------------------------
# Every factory takes torch's keywords: dtype= (None: the default dtype for floats, see
# graphc.get_default_dtype), device= (None or the CPU; any other device raises a DeviceError) and
# requires_grad=.

def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    return t.requires_grad_(True) if requires_grad else t


def _default_float():
    return dtypes.get_default_dtype()


def _fresh(arr: np.ndarray) -> Tensor:
    """A tensor on a newly made array (no defensive copy); a constant inside a trace."""
    return apply_constant(arr) if tracing.current() is not None else Tensor(arr)


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (as torch.tensor: Python floats take the default
    dtype, NumPy arrays keep theirs); inside a trace, a constant of the graph."""
    check_device(device)
    if dtype is None and dtypes.get_default_dtype() is not dtypes.float32 and \
            not isinstance(data, (Tensor, np.ndarray, np.generic)):
        arr = np.asarray(data)           # Python floats: float64 by default dtype, kept so
        arr = as_array(arr if arr.dtype.kind == "f" else data)
    else:
        arr = as_array(data, dtype)
    if tracing.current() is not None:
        return _finish(apply_constant(arr), requires_grad)
    if isinstance(data, (Tensor, np.ndarray)) and np.may_share_memory(arr, np.asarray(data)):
        arr = arr.copy()                 # torch.tensor copies; as_tensor/from_numpy share
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor without a copy where it can be (as torch.as_tensor): a Tensor of that
    dtype is returned itself, a NumPy array of a graphc dtype is shared; others are converted."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else cast(data, dtype)
    if isinstance(data, np.ndarray) and tracing.current() is None:
        return Tensor(as_array(data, dtype))
    return tensor(data, dtype)


def from_numpy(a) -> Tensor:
    """A tensor sharing `a`'s memory (as torch.from_numpy): writes through either show in both."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    return Tensor(as_array(a))


def is_tensor(obj) -> bool:
    """True if `obj` is a graphc Tensor (as torch.is_tensor)."""
    return isinstance(obj, Tensor)


def numel(x) -> int:
    """The number of elements of tensor `x`."""
    return _t(x).numel()


def apply_constant(arr: np.ndarray) -> Tensor:
    """A tensor standing for the constant `arr` in the active trace."""
    tr = tracing.current()
    return Tensor._symbolic(tr.constant(arr), tr)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of shape `size` filled with `fill_value` (dtype from the value if not given: the
    default dtype for a float, int64 for an int, bool for a bool)."""
    check_device(device)
    size = _shape_arg(size if isinstance(size, (tuple, list)) else (size,))
    check(builtins.all(s >= 0 for s in size), f"negative size in {list(size)}")
    if dtype is None:
        dtype = _default_float() if isinstance(fill_value, float) else (
            dtypes.bool_ if isinstance(fill_value, bool) else dtypes.int64)
    dt = dtypes.as_dtype(dtype)
    if tracing.current() is not None:
        if not size:
            return _finish(apply_constant(np.array(fill_value, dt.np)), requires_grad)
        scalar = apply_constant(np.array(fill_value, dt.np))
        return _finish(apply("broadcast", scalar, shape=size), requires_grad)
    return Tensor(np.full(size, fill_value, dt.np), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size (the default dtype, float32, unless `dtype` is given)."""
    return full(_shape_arg(size), 0, dtype or _default_float(), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size (the default dtype, float32, unless `dtype` is given)."""
    return full(_shape_arg(size), 1, dtype or _default_float(), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor in torch; in graphc it is zero-filled (deterministic)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """Zeros of x's shape, in x's dtype unless `dtype` is given."""
    return full(_t(x).shape, 0, dtype or _t(x).dtype, device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    """Ones of x's shape, in x's dtype unless `dtype` is given."""
    return full(_t(x).shape, 1, dtype or _t(x).dtype, device, requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """An uninitialised tensor of x's shape in torch; zero-filled in graphc."""
    return zeros_like(x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    """`fill_value` in x's shape, in x's dtype unless `dtype` is given."""
    return full(_t(x).shape, fill_value, dtype or _t(x).dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values in [start, end) spaced by `step` (arange(n): 0..n-1); int64 unless one is a float
    (then the default dtype)."""
    check_device(device)
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _default_float() if any(isinstance(v, float) for v in (start, end, step)) \
            else dtypes.int64
    dt = dtypes.as_dtype(dtype)
    n = builtins.max(0, math.ceil((end - start) / step))
    arr = (start + np.arange(n, dtype=np.float64) * step).astype(dt.np) if dt.is_float \
        else np.arange(start, end, step, dtype=dt.np)
    return _finish(_fresh(arr), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """`steps` values evenly spaced from start to end inclusive (torch's two-sided formula)."""
    check_device(device)
    dt = dtypes.as_dtype(dtype or _default_float())
    steps = operator.index(steps)
    check(steps >= 0, f"linspace: number of steps must be non-negative, got {steps}")
    i = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    vals = np.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)
    if not dt.is_float:
        vals = np.trunc(vals)
    return _finish(_fresh(vals.astype(dt.np)), requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`steps` values base**linspace(start, end, steps)."""
    check_device(device)
    dt = dtypes.as_dtype(dtype or _default_float())
    exps = linspace(start, end, steps, dtype=dtypes.float64).numpy()
    return _finish(_fresh(np.power(float(base), exps).astype(dt.np)), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m = n if not given)."""
    check_device(device)
    dt = dtypes.as_dtype(dtype or _default_float())
    return _finish(_fresh(np.eye(n, n if m is None else m, dtype=dt.np)), requires_grad)


# ---- Tensor methods -------------------------------------------------------------------------------

def _zero_(self) -> Tensor:
    """In place: fill self with zeros; returns self."""
    return self._assign(full_like(self, 0))


def _fill_(self, value) -> Tensor:
    """In place: fill self with `value`; returns self."""
    return self._assign(full_like(self, value))


def _install_methods() -> None:
    """Attach the compositions above as Tensor methods (graphc.tensor imports no function of
    this module: it would be an import circle)."""
    simple = ["exp", "log", "log1p", "sqrt", "rsqrt", "tanh", "erf", "abs", "neg", "sign", "square",
              "reciprocal", "relu", "sigmoid", "sum", "mean", "amax", "amin", "argmax", "argmin",
              "max", "min", "cumsum", "softmax", "log_softmax", "reshape", "permute", "transpose",
              "unsqueeze", "squeeze", "flatten", "expand", "matmul", "clamp", "maximum", "minimum",
              "gather"]
    for name in simple:
        setattr(Tensor, name, globals()[name])
    Tensor.view = reshape
    Tensor.cumsum_ = lambda self, dim, *, dtype=None: self._assign(cumsum(self, dim, dtype=dtype))
    Tensor.__getitem__ = getitem
    Tensor.__setitem__ = setitem
    Tensor.pow = lambda self, e: self ** e
    Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
    Tensor.mT = property(lambda self: transpose(self, -2, -1))
    Tensor.float = lambda self: cast(self, dtypes.float32)
    Tensor.double = lambda self: cast(self, dtypes.float64)
    Tensor.long = lambda self: cast(self, dtypes.int64)
    Tensor.int = lambda self: cast(self, dtypes.int32)
    Tensor.bool = lambda self: cast(self, dtypes.bool_)
    Tensor.to = lambda self, dtype: cast(self, dtype)
    Tensor.type_as = lambda self, other: cast(self, other.dtype)
    Tensor.expand_as = lambda self, other: expand(self, *other.shape)
    Tensor.view_as = lambda self, other: reshape(self, other.shape)
    Tensor.reshape_as = Tensor.view_as
    Tensor.contiguous = lambda self: self
    Tensor.zero_ = _zero_
    Tensor.fill_ = _fill_
    Tensor.__matmul__ = lambda self, o: matmul(self, o)
    Tensor.__rmatmul__ = lambda self, o: matmul(o, self)


_install_methods()
