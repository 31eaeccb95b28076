"""Pooling with torch's semantics: F.max_pool1d/2d, avg_pool1d/2d, lp_pool1d/2d,
adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d and their nn modules.

Every pool is separable, so each is reduced one spatial axis at a time (the last first): an axis
of the (padded) input is read as K "taps", tap k holding for each output position o the input
element at window position k (a strided slice when the windows are regular, one `take` when
they are not, as adaptive windows). A max keeps a running best over the taps with
`take = (tap > best) | isnan(tap)`, `best = where(take, tap, best)`: torch's loop exactly, so
the whole gradient goes to the first maximum in row-major window order (ties after a ReLU are
not split, as `maximum` would) and the last NaN wins; padded positions are -inf and the first
real element of each window is taken unconditionally, as torch starts from it. Indices ride
along as a second where chain. Averages sum the taps and divide by torch's divisor. These are
compositions of pad/slice/take/where, so they run eagerly and compiled and differentiate.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from .. import functions as G
from .. import qdispatch
from ..math_ops import div
from ..shape_ops import index_select
from ..ir.ops.pool import windows_fit
from ..tensor import Tensor, apply, check
from .normalization import Retracing  # a Module whose attributes compiled calls guard

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d",
           "adaptive_max_pool2d_with_indices", "avg_pool1d", "avg_pool2d", "lp_pool1d",
           "lp_pool2d", "max_pool1d", "max_pool1d_with_indices", "max_pool2d",
           "max_pool2d_with_indices"]

# ---- arguments ------------------------------------------------------------------------------------


def _ints(v, n: int, what: str, name: str) -> tuple[int, ...]:
    """An int or a sequence of 1 or n ints as an n-tuple (torch accepts (k,) for (k, k))."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        out = tuple(v)
    except TypeError:
        out = None
    ok = out is not None and len(out) in (1, n) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in out)
    if not ok:
        raise _error(TypeError, f"{what}: {name} must be an int or a tuple of {n} ints, "
                                f"got {v!r}")
    return tuple(int(d) for d in out) * (n // len(out))


def _error(base, msg: str):
    from ..driver import tracing
    from ..errors import InputError, ShapeError
    cls = InputError if base is TypeError else ShapeError
    return cls(f"{msg} (at {tracing.user_where()})")


def _spatial_input(x, n: int, what: str) -> Tensor:
    x = G._t(x)
    check(x.ndim in (n + 1, n + 2) and all(s > 0 for s in x.shape[-n:]),
          f"{what}: expected a non-empty {n + 1}D or {n + 2}D (batch mode) input, got shape "
          f"{list(x.shape)}")
    return x


def _pool_args(x, kernel_size, stride, padding, dilation, n: int, what: str):
    k = _ints(kernel_size, n, what, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) \
        else _ints(stride, n, what, "stride")
    p = _ints(padding, n, what, "padding")
    d = _ints(dilation, n, what, "dilation")
    check(all(v > 0 for v in k), f"{what}: kernel_size must be greater than zero, got {k}")
    check(all(v > 0 for v in s), f"{what}: stride must be greater than zero, got {s}")
    check(all(v > 0 for v in d), f"{what}: dilation must be greater than zero, got {d}")
    check(all(v >= 0 for v in p), f"{what}: pad must be non-negative, got {p}")
    for kk, pp, dd in zip(k, p, d):
        check(pp <= ((kk - 1) * dd + 1) // 2,
              f"{what}: pad should be at most half of effective kernel size, but got pad={pp}, "
              f"kernel_size={kk} and dilation={dd}")
    return k, s, p, d


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: with ceil_mode the last window must start inside the input
    or its left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _out_sizes(x: Tensor, k, s, p, d, ceil_mode: bool, what: str) -> tuple[int, ...]:
    n = len(k)
    out = tuple(_out_size(x.shape[x.ndim - n + i], k[i], s[i], p[i], d[i], ceil_mode)
                for i in range(n))
    if any(o <= 0 for o in out):
        lead = x.shape[-n - 1] if x.ndim > n else 1
        check(False, f"{what}: Given input size: ({'x'.join(map(str, (lead,) + x.shape[-n:]))}). "
                     f"Calculated output size: ({'x'.join(map(str, (lead,) + out))}). "
                     "Output size is too small")
    return out


# ---- one axis at a time ---------------------------------------------------------------------------

class _Axis:
    """The windows of one spatial axis: pos[k][o] is the input index of tap k of output o
    (outside [0, n) for padding), valid[k][o] whether it is a real element."""

    def __init__(self, n: int, pos: list[np.ndarray]):
        self.n, self.pos = n, pos
        self.valid = [(q >= 0) & (q < n) for q in pos]
        lo = max(0, -min(int(q.min()) for q in pos))
        hi = max(0, max(int(q.max()) for q in pos) - n + 1)
        self.pad = (lo, hi)

    @classmethod
    def regular(cls, n: int, out: int, k: int, s: int, p: int, d: int) -> _Axis:
        """Windows o*s - p + i*d for i < k (a pool's kernel, stride, padding, dilation)."""
        o = np.arange(out, dtype=np.int64) * s - p
        return cls(n, [o + i * d for i in range(k)])

    @classmethod
    def adaptive(cls, n: int, out: int) -> _Axis:
        """torch's adaptive windows [floor(o*n/out), ceil((o+1)*n/out)); a short window repeats
        its last element (harmless for a max, masked for a mean)."""
        o = np.arange(out, dtype=np.int64)
        start, end = (o * n) // out, -((-(o + 1) * n) // out)
        ax = cls(n, [np.minimum(start + i, end - 1) for i in range(int((end - start).max()))])
        ax.valid = [start + i < end for i in range(len(ax.pos))]
        ax.count = end - start
        return ax

    def first(self) -> list[np.ndarray]:
        """first[k][o]: tap k is the first real element of window o."""
        seen = np.zeros(len(self.pos[0]), bool)
        out = []
        for v in self.valid:
            out.append(v & ~seen)
            seen |= v
        return out

    def taps(self, x: Tensor, axis: int, fill) -> list[Tensor]:
        """x's values at each tap along `axis` (x not yet padded; padding reads `fill`)."""
        lo, hi = self.pad
        if lo or hi:
            pads = [0, 0] * (x.ndim - 1 - axis) + [lo, hi]
            from ..shape_ops import pad as _pad
            x = _pad(x, pads, value=fill)
        out = []
        for q in self.pos:
            q = q + lo
            step = int(q[1] - q[0]) if len(q) > 1 else 1
            if step > 0 and np.array_equal(q, q[0] + step * np.arange(len(q))):
                start = [0] * x.ndim
                stop = list(x.shape)
                steps = [1] * x.ndim
                start[axis], stop[axis], steps[axis] = int(q[0]), int(q[-1]) + 1, step
                if start[axis] == 0 and stop[axis] == x.shape[axis] and step == 1:
                    out.append(x)
                else:
                    out.append(apply("slice", x, start=tuple(start), stop=tuple(stop),
                                     step=tuple(steps)))
            else:
                out.append(index_select(x, axis, G.tensor(q)))
        return out


def _along(mask: np.ndarray, axis: int, ndim: int) -> Tensor:
    """A 1-D constant laid along `axis` of an ndim tensor (broadcastable)."""
    shape = [1] * ndim
    shape[axis] = len(mask)
    return G.tensor(np.ascontiguousarray(mask.reshape(shape)))


def _max_axis(x: Tensor, idx, axis: int, ax: _Axis, stride_in: int):
    """Running first-max along one axis; idx (or None) is the flat index so far, stride_in the
    flat-index stride of this axis."""
    floating = x.dtype.is_float
    fill = float("-inf") if floating else int(np.iinfo(x.dtype.np).min)
    vals = ax.taps(x, axis, fill)
    prev = ax.taps(idx, axis, 0) if idx is not None else None
    firsts = ax.first()
    best = out_idx = None
    for k, (s, q, f) in enumerate(zip(vals, ax.pos, firsts)):
        here = _along(np.clip(q, 0, ax.n - 1) * stride_in, axis, x.ndim)
        if prev is not None:
            here = here + prev[k]
        if best is None:
            best, out_idx = s, here
            continue
        take = s > best
        if floating:
            take = take | (s != s)  # noqa: PLR0124  (isnan)
        if f.any():
            take = take | _along(f, axis, x.ndim)
        best = G.where(take, s, best)
        out_idx = G.where(take, here, out_idx)
    if out_idx.shape != best.shape:
        out_idx = G.broadcast_to(out_idx, best.shape)
    return best, out_idx


def _sum_axis(x: Tensor, axis: int, ax: _Axis, masked: bool) -> Tensor:
    k, out = len(ax.pos), len(ax.pos[0])
    if k * out == ax.n and all(np.array_equal(q, np.arange(out) * k + i)
                               for i, q in enumerate(ax.pos)):
        # windows that tile the axis (kernel = stride, no padding; adaptive pooling to a
        # divisor): one reduction over a reshaped axis, not k slices (whose gradients are k
        # pads of the whole input)
        shape = tuple(x.shape)
        return G.sum(G.reshape(x, shape[:axis] + (out, k) + shape[axis + 1:]), axis + 1)
    total = None
    for s, v in zip(ax.taps(x, axis, 0), ax.valid):
        if masked and not v.all():
            s = G.where(_along(v, axis, x.ndim), s, 0)
        total = s if total is None else total + s
    return total


def _max_pool(x: Tensor, axes: list[_Axis], return_indices: bool):
    n = len(axes)
    nd = x.ndim
    idx = None
    strides = np.cumprod([1] + [x.shape[nd - 1 - i] for i in range(n - 1)])
    for i in reversed(range(n)):          # the last axis first: row-major window order
        x, idx = _max_axis(x, idx, nd - n + i, axes[i], int(strides[n - 1 - i]))
    return (x, idx) if return_indices else x


# ---- max ------------------------------------------------------------------------------------------

def _max_pool_native(x: Tensor, k, s, p, d, out, return_indices: bool):
    """Through the max_pool_index primitive: values = x's planes gathered at the indices (their
    gradient a scatter-add there); a 1-D pool is a 2-D one over rows of height 1."""
    n = len(k)
    lead, spatial = x.shape[:-n], x.shape[-n:]
    if n == 1:
        k, s, d, out, spatial = ((1,) + t for t in (k, s, d, out, spatial))
        p = (0,) + p
    idx = apply("max_pool_index", G.reshape(x, lead + spatial), kernel=k, dilation=d, stride=s,
                padding=p, out=out)
    flat = G.reshape(x, lead + (spatial[0] * spatial[1],))
    values = G.reshape(apply("gather", flat, idx, axis=len(lead)), lead + out[-n:])
    return (values, G.reshape(idx, lead + out[-n:])) if return_indices else values


def _max_pool_nd(n: int, name: str):
    def fn(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
           return_indices: bool = False):
        if qdispatch.quantized(input):
            return qdispatch.call(name, input, kernel_size, stride, padding, dilation,
                                  ceil_mode, return_indices)
        x = _spatial_input(input, n, name)
        check(x.dtype.name != "bool", f"{name}: not implemented for bool input")
        k, s, p, d = _pool_args(x, kernel_size, stride, padding, dilation, n, name)
        out = _out_sizes(x, k, s, p, d, ceil_mode, name)
        if x.dtype.is_float and all(windows_fit(x.shape[x.ndim - n + i], out[i], k[i], s[i],
                                                p[i], d[i]) for i in range(n)):
            return _max_pool_native(x, k, s, p, d, out, return_indices)
        axes = [_Axis.regular(x.shape[x.ndim - n + i], out[i], k[i], s[i], p[i], d[i])
                for i in range(n)]
        return _max_pool(x, axes, return_indices)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{n}-D max pooling as torch.nn.functional.{name}: stride defaults to "
                  "kernel_size, -inf padding, dilation, ceil_mode, return_indices (flat indices "
                  "into each input plane); the gradient goes to the first maximum of a window.")
    return fn


max_pool1d = _max_pool_nd(1, "max_pool1d")
max_pool2d = _max_pool_nd(2, "max_pool2d")


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """max_pool1d returning (values, indices)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """max_pool2d returning (values, indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ---- average --------------------------------------------------------------------------------------

def _avg_pool(x: Tensor, k, s, p, ceil_mode, count_include_pad, divisor_override, name):
    n = len(k)
    out = _out_sizes(x, k, s, p, (1,) * n, ceil_mode, name)
    divisor = np.ones((), np.int64)
    for i in reversed(range(n)):
        size = x.shape[x.ndim - n + i]
        ax = _Axis.regular(size, out[i], k[i], s[i], p[i], 1)
        x = _sum_axis(x, x.ndim - n + i, ax, masked=False)
        start = np.arange(out[i], dtype=np.int64) * s[i] - p[i]
        end = np.minimum(start + k[i], size + p[i])
        cnt = end - start if count_include_pad else \
            np.minimum(end, size) - np.maximum(start, 0)
        divisor = np.multiply.outer(cnt, divisor)
    if divisor_override is not None:
        check(divisor_override != 0, f"{name}: divisor must be not zero")
        divisor = np.full(divisor.shape, divisor_override, np.int64)
    return _divide(x, G.tensor(np.maximum(divisor, 1).astype(x.dtype.np)))


def _divide(x: Tensor, divisor: Tensor) -> Tensor:
    """A window sum over its divisor (in x's dtype); torch divides integer sums by an integer,
    truncating."""
    return x / divisor if x.dtype.is_float else div(x, divisor, rounding_mode="trunc")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling as torch.nn.functional.avg_pool1d (count_include_pad, ceil_mode)."""
    x = _spatial_input(input, 1, "avg_pool1d")
    k, s, p, _ = _pool_args(x, kernel_size, stride, padding, 1, 1, "avg_pool1d")
    return _avg_pool(x, k, s, p, ceil_mode, count_include_pad, None, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """2-D average pooling as torch.nn.functional.avg_pool2d (count_include_pad, ceil_mode,
    divisor_override)."""
    if qdispatch.quantized(input):
        return qdispatch.call("avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)
    x = _spatial_input(input, 2, "avg_pool2d")
    k, s, p, _ = _pool_args(x, kernel_size, stride, padding, 1, 2, "avg_pool2d")
    return _avg_pool(x, k, s, p, ceil_mode, count_include_pad, divisor_override, "avg_pool2d")


def _lp_pool(n: int, name: str):
    avg = avg_pool1d if n == 1 else avg_pool2d

    def fn(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
        x = G._t(input)
        k = _ints(kernel_size, n, name, "kernel_size")
        out = avg(x ** norm_type if norm_type != 1 else x, k, stride, 0, ceil_mode)
        size = int(np.prod(k))
        out = G.sign(out) * G.relu(G.abs(out)) * size
        return out ** (1.0 / norm_type)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{n}-D power-average pooling (sum of x**p over a window)**(1/p), as torch."
    return fn


lp_pool1d = _lp_pool(1, "lp_pool1d")
lp_pool2d = _lp_pool(2, "lp_pool2d")


# ---- adaptive -------------------------------------------------------------------------------------

def _adaptive_sizes(x: Tensor, output_size, n: int, name: str) -> tuple[int, ...]:
    if output_size is None or isinstance(output_size, numbers.Integral):
        sizes = (output_size,) * n
    else:
        sizes = tuple(output_size)
        check(len(sizes) == n, f"{name}: output_size must have {n} elements, got {output_size!r}")
    sizes = tuple(x.shape[x.ndim - n + i] if v is None else int(v) for i, v in enumerate(sizes))
    check(all(v >= 0 for v in sizes),
          f"{name}: elements of output_size must be greater than or equal to 0, got {sizes}")
    return sizes


def _empty(x: Tensor, out) -> Tensor:
    n = len(out)
    return G.zeros(x.shape[:x.ndim - n] + tuple(out), dtype=x.dtype)


def _adaptive_avg(n: int, name: str):
    def fn(input, output_size) -> Tensor:
        if qdispatch.quantized(input):
            return qdispatch.call(name, input, output_size)
        x = _spatial_input(input, n, name)
        out = _adaptive_sizes(x, output_size, n, name)
        if any(o == 0 for o in out):
            return _empty(x, out)
        for i in reversed(range(n)):
            a = x.ndim - n + i
            size = x.shape[a]
            if size % out[i] == 0:   # a plain pool with kernel = stride = size / out
                kk = size // out[i]
                x = _sum_axis(x, a, _Axis.regular(size, out[i], kk, kk, 0, 1), False)
                cnt = np.full(out[i], kk, np.int64)
            else:
                ax = _Axis.adaptive(size, out[i])
                x = _sum_axis(x, a, ax, True)
                cnt = ax.count
            x = _divide(x, _along(cnt.astype(x.dtype.np), a, x.ndim))
        return x
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{n}-D adaptive average pooling as torch.nn.functional.{name}: windows "
                  "[floor(i*in/out), ceil((i+1)*in/out)); None keeps a size.")
    return fn


def _adaptive_max(n: int, name: str):
    def fn(input, output_size, return_indices: bool = False):
        x = _spatial_input(input, n, name)
        out = _adaptive_sizes(x, output_size, n, name)
        if any(o == 0 for o in out):
            e = _empty(x, out)
            return (e, G.zeros(e.shape, dtype=dtypes.int64)) if return_indices else e
        axes = []
        for i in range(n):
            size = x.shape[x.ndim - n + i]
            kk = size // out[i]
            axes.append(_Axis.regular(size, out[i], kk, kk, 0, 1) if size % out[i] == 0
                        else _Axis.adaptive(size, out[i]))
        return _max_pool(x, axes, return_indices)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{n}-D adaptive max pooling as torch.nn.functional.{name} (return_indices: "
                  "flat indices into each input plane).")
    return fn


adaptive_avg_pool1d = _adaptive_avg(1, "adaptive_avg_pool1d")
adaptive_avg_pool2d = _adaptive_avg(2, "adaptive_avg_pool2d")
adaptive_max_pool1d = _adaptive_max(1, "adaptive_max_pool1d")
adaptive_max_pool2d = _adaptive_max(2, "adaptive_max_pool2d")


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = True):
    """adaptive_max_pool1d returning (values, indices)."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = True):
    """adaptive_max_pool2d returning (values, indices)."""
    return adaptive_max_pool2d(input, output_size, True)


# ---- modules --------------------------------------------------------------------------------------

class _MaxPoolNd(Retracing):
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        """Max pooling of input with this module's settings."""
        return type(self)._fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L) or (C, L) input, as torch.nn.MaxPool1d."""

    _fn = staticmethod(max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over (N, C, H, W) or (C, H, W) input, as torch.nn.MaxPool2d."""

    _fn = staticmethod(max_pool2d)


def _single(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class AvgPool1d(Retracing):
    """1-D average pooling, as torch.nn.AvgPool1d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input):
        """Average pooling of input with this module's settings."""
        return avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Retracing):
    """2-D average pooling, as torch.nn.AvgPool2d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        """Average pooling of input with this module's settings."""
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _LPPoolNd(Retracing):
    _fn = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        """Power-average pooling of input with this module's settings."""
        return type(self)._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                              self.ceil_mode)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling, as torch.nn.LPPool1d."""

    _fn = staticmethod(lp_pool1d)


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling, as torch.nn.LPPool2d."""

    _fn = staticmethod(lp_pool2d)


class _AdaptiveNd(Retracing):
    _fn = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        """Adaptive pooling of input to self.output_size."""
        return type(self)._fn(input, self.output_size)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveNd):
    """1-D adaptive average pooling, as torch.nn.AdaptiveAvgPool1d."""

    _fn = staticmethod(adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveNd):
    """2-D adaptive average pooling (None keeps a size), as torch.nn.AdaptiveAvgPool2d."""

    _fn = staticmethod(adaptive_avg_pool2d)


class _AdaptiveMaxNd(_AdaptiveNd):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        """Adaptive max pooling of input to self.output_size (and indices if asked)."""
        return type(self)._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxNd):
    """1-D adaptive max pooling, as torch.nn.AdaptiveMaxPool1d."""

    _fn = staticmethod(adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxNd):
    """2-D adaptive max pooling (None keeps a size), as torch.nn.AdaptiveMaxPool2d."""

    _fn = staticmethod(adaptive_max_pool2d)
