"""Torch's indexing functions beyond basic slicing: gathers and scatters along a dim, index_*
row ops, masks; compositions of the gather / scatter / take / put primitives (graphc/ir/ops/
index.py), so each runs eagerly, compiles and differentiates.

Functions whose result shape depends on the data (nonzero, masked_select, x[mask], ...) run
eagerly only: inside graphc.compile they raise a TraceError naming the static alternative.
Every public name is listed in __all__ and exported from graphc by `from .index_ops import *`.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .driver import tracing
from .errors import TraceError
from .functions import (_dim, _index_tensor, _t, cast, expand, full, reshape, sum as _sum,
                        where, zeros_like)
from .tensor import Tensor, apply, check

__all__ = ["take_along_dim", "scatter", "scatter_add", "scatter_reduce"]


# ---- along a dim: one index per element ---------------------------------------------------------

def take_along_dim(x, indices, dim=None, *, out=None) -> Tensor:
    """torch.take_along_dim: gather along `dim` with x and `indices` broadcast against each
    other off that dim, negative indices counted from the end; dim=None: of the flattened x."""
    check(out is None, "take_along_dim: out= is not supported")
    x, idx = _t(x), _index_tensor(indices, "take_along_dim", int64_only=True)
    if dim is None:
        return apply("gather", reshape(x, (x.numel(),)), reshape(idx, (idx.numel(),)), axis=0,
                     wrap=True)
    check(idx.ndim == x.ndim, f"take_along_dim: input and indices should have the same number "
                              f"of dimensions, but got {x.ndim} and {idx.ndim}")
    if x.ndim == 0:
        return reshape(apply("gather", reshape(x, (1,)), reshape(idx, (1,)), axis=0, wrap=True),
                       ())
    d = _dim(dim, x.ndim)
    try:
        shape = np.broadcast_shapes(x.shape[:d] + (1,) + x.shape[d + 1:],
                                    idx.shape[:d] + (1,) + idx.shape[d + 1:])
    except ValueError:
        check(False, f"take_along_dim: input {list(x.shape)} and indices {list(idx.shape)} "
                     f"cannot be broadcast off dimension {d}")
    x = expand(x, *(shape[:d] + (x.shape[d],) + shape[d + 1:]))
    idx = expand(idx, *(shape[:d] + (idx.shape[d],) + shape[d + 1:]))
    return apply("gather", x, idx, axis=d, wrap=True)


def _scatter_operands(x, dim, index, src, what: str):
    """(x, axis, index, src) checked as torch's scatter: same number of dims, index no larger
    than src, nor than x off dim; a number `src` fills index's shape; 0-d operands as 1-d."""
    x, index = _t(x), _index_tensor(index, what)
    if isinstance(src, Tensor) or isinstance(src, np.ndarray):
        src = _t(src)
        check(src.dtype == x.dtype, f"{what}(): expected self.dtype to be equal to src.dtype "
                                    f"({x.dtype} vs {src.dtype})")
    else:
        src = full(index.shape, src, dtype=x.dtype)
    if x.ndim == 0:
        check(index.ndim <= 1 and src.ndim <= 1, f"{what}: a 0-d input takes 0-d or 1-d operands")
        return reshape(x, (1,)), _dim(dim, 1), reshape(index, (index.numel(),)), \
            reshape(src, (src.numel(),))
    d = _dim(dim, x.ndim)
    check(index.ndim == x.ndim and src.ndim == x.ndim,
          f"{what}: index {list(index.shape)} and src {list(src.shape)} must have the same "
          f"number of dimensions as the input {list(x.shape)}")
    for k, (i, s, n) in enumerate(zip(index.shape, src.shape, x.shape)):
        check(i <= s and (k == d or i <= n),
              f"{what}: expected index {list(index.shape)} to be no larger than the input "
              f"{list(x.shape)} apart from dimension {d} and no larger than src "
              f"{list(src.shape)}")
    return x, d, index, src


def _scattered(x: Tensor, out: Tensor) -> Tensor:
    return reshape(out, x.shape) if out.shape != _t(x).shape else out


def scatter(x, dim: int, index, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """torch.scatter: x with x[p with p[dim] = index[p]] = src[p] (or a number `value`); with
    reduce='add' / 'multiply', combined instead. Repeated indices: the last one written wins."""
    src = value if src is None else src
    check(src is not None, "scatter: needs src or value")
    xs, d, index, src = _scatter_operands(x, dim, index, src, "scatter")
    red = {None: "assign", "add": "add", "multiply": "multiply"}.get(reduce)
    check(red is not None, f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    return _scattered(x, apply("scatter", xs, index, src, axis=d, reduce=red))


def scatter_add(x, dim: int, index, src) -> Tensor:
    """torch.scatter_add: x with src[p] added at x[p with p[dim] = index[p]] (in index order)."""
    xs, d, index, src = _scatter_operands(x, dim, index, src, "scatter_add")
    return _scattered(x, apply("scatter", xs, index, src, axis=d, reduce="add"))


_REDUCE = {"sum": "add", "prod": "multiply", "amax": "amax", "amin": "amin", "mean": "add"}


def _identity(dt, reduce: str):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = reduce == "amin"
    if dt.is_float:
        return float("inf") if big else float("-inf")
    if dt.is_bool:
        return big
    info = np.iinfo(dt.np)
    return int(info.max if big else info.min)


def scatter_reduce(x, dim: int, index, src, reduce: str, *, include_self: bool = True) -> Tensor:
    """torch.scatter_reduce: src's entries combined into x at index along dim by sum, prod,
    mean, amax or amin; include_self=False leaves x's own values out where anything lands
    (integer means round down, as torch's)."""
    check(reduce in _REDUCE, f"scatter_reduce: reduce must be one of {sorted(_REDUCE)}, got "
                             f"{reduce!r}")
    xs, d, index, src = _scatter_operands(x, dim, index, src, "scatter_reduce")
    base = xs
    if not include_self:
        base = apply("scatter", xs, index, full(index.shape, _identity(xs.dtype, reduce),
                                                dtype=xs.dtype), axis=d, reduce="assign")
    out = apply("scatter", base, index, src, axis=d, reduce=_REDUCE[reduce])
    if reduce == "mean":
        part = src if src.shape == index.shape else \
            apply("slice", src, start=(0,) * src.ndim, stop=index.shape, step=(1,) * src.ndim)
        count = apply("scatter", zeros_like(xs), index, full(part.shape, 1, dtype=xs.dtype),
                      axis=d, reduce="add")
        n = count + 1 if include_self else where(count == 0, 1, count)
        out = out / n if xs.dtype.is_float else out // n
    return _scattered(x, out)


# ---- Tensor methods -----------------------------------------------------------------------------

def _inplace(fn):
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs))
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In place: self = {fn.__name__}(self, ...); returns self."
    return method


def _install_methods() -> None:
    for name in ("take_along_dim", "scatter", "scatter_add", "scatter_reduce"):
        setattr(Tensor, name, globals()[name])
    for name in ("scatter", "scatter_add", "scatter_reduce"):
        setattr(Tensor, name + "_", _inplace(globals()[name]))


_install_methods()
