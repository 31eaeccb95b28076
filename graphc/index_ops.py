"""Torch's indexing functions beyond basic slicing: gathers and scatters along a dim, index_*
row ops, masks; compositions of the gather / scatter / take / put primitives (graphc/ir/ops/
index.py), so each runs eagerly, compiles and differentiates.

Functions whose result shape depends on the data (nonzero, masked_select, x[mask], ...) run
eagerly only: inside graphc.compile they raise a TraceError naming the static alternative.
Every public name is listed in __all__ and exported from graphc by `from .index_ops import *`.
"""
from __future__ import annotations

import operator

import numpy as np

from . import dtypes
from .driver import tracing
from .errors import ShapeError, TraceError
from .functions import (
    _broadcastable,
    _dim,
    _index_tensor,
    _t,
    cast,
    expand,
    full,
    reshape,
    zeros_like,
)
from .functions import getitem as _basic_getitem
from .functions import setitem as _basic_setitem
from .functions import tensor as _tensor
from .functions import where as _where3
from .grad_mode import is_grad_enabled
from .tensor import Tensor, apply, check, fresh_result

__all__ = [
    "where",
    "argwhere",
    "index_add",
    "index_copy",
    "index_fill",
    "index_put",
    "masked_fill",
    "masked_scatter",
    "masked_select",
    "nonzero",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "take",
    "take_along_dim",
]


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
    if isinstance(src, (Tensor, np.ndarray)):
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


# ---- x[index] with integer tensors, lists and masks (torch's advanced indexing) -------------------
#
# torch's rule: ints (and 0-d integer tensors) select first, like basic indexing; the integer
# tensors, lists, ranges and NumPy arrays left broadcast together to one shape B; the result has
# the remaining dims with B in place of the indexed dims when those are adjacent, else in front.
# A bool mask stands for its nonzero() index tensors (so it needs known values).

def is_advanced(index) -> bool:
    """True if `index` (one entry or a tuple) holds a tensor, array, list, range or bool."""
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (Tensor, np.ndarray, list, tuple, range, bool, np.bool_))
               for i in items)


def _known(t):
    """t's values if known now (eager data, a traced constant node's), else None."""
    if not isinstance(t, Tensor):
        return np.asarray(t)
    if t._value is None:
        return t.numpy()
    node = t._value.producer
    return np.asarray(node.attrs["value"]) if node is not None and node.op == "constant" else None


def _as_index(i):
    """An index entry that is not an int/slice/None/...: a Tensor, or a NumPy array for known
    values (lists, ranges, arrays, eager tensors); floats are an error as in torch."""
    if isinstance(i, Tensor):
        known = _known(i)
        t = i if known is None else None
        arr = known
    else:
        t = None
        arr = np.asarray(list(i) if isinstance(i, range) else i)
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)   # x[[]]: an empty integer index
    dt = arr.dtype if t is None else t.dtype.np
    check(np.dtype(dt).kind in "biu", f"tensors used as indices must be long, int, byte or bool "
                                      f"tensors, got {np.dtype(dt)}")
    return t, arr


def _where() -> str:
    return tracing.user_where()


def _parse(x: Tensor, index):
    """Split `index` into a basic index for x (advanced entries as full slices) and the
    advanced entries: [(ydim, NumPy int array or traced int Tensor)] with ydim a dim of
    x[basic index]; masks with known values become their nonzero() arrays."""
    items = list(index) if isinstance(index, tuple) else [index]
    masks_or_none = []
    for i in items:
        if isinstance(i, (bool, np.bool_)):
            masks_or_none.append(("bool", bool(i)))
        elif isinstance(i, (Tensor, np.ndarray, list, tuple, range)):
            t, arr = _as_index(i)
            kind = (t.dtype if t is not None else dtypes.from_numpy(arr.dtype))
            if kind.is_bool or kind.name == "u8":
                if t is not None:
                    raise TraceError(
                        f"indexing with a boolean mask that is traced data ({t.type}) at "
                        f"{_where()}: the result's shape depends on the mask's values, which "
                        "graphc.compile does not know; use graphc.where(mask, x, 0) or "
                        "x.masked_fill(~mask, 0) to keep the shape, or index outside the "
                        "compiled function")
                masks_or_none.append(("mask", arr.astype(bool)))
            elif (t is None and arr.ndim == 0):
                masks_or_none.append(("int", int(arr)))
            elif t is not None and t.ndim == 0:
                masks_or_none.append(("int_t", t))
            else:
                masks_or_none.append(("adv", t if t is not None else arr.astype(np.int64)))
        elif i is None or i is Ellipsis or isinstance(i, slice):
            masks_or_none.append(("basic", i))
        else:
            try:
                masks_or_none.append(("int", operator.index(i)))
            except TypeError:
                check(False, f"indexing with {type(i).__name__} is not supported (ints, slices, "
                             "None, ..., integer or bool tensors, lists, ranges)")
    check(not any(k == "bool" for k, _ in masks_or_none) or
          not any(k in ("adv", "mask", "int_t") for k, _ in masks_or_none),
          "a Python bool index beside tensor indices is not supported")
    consumed = sum(v.ndim if k == "mask" else (0 if k == "bool" or (k == "basic" and v is None)
                                               or (k == "basic" and v is Ellipsis) else 1)
                   for k, v in masks_or_none)
    check(consumed <= x.ndim, f"too many indices for tensor of dimension {x.ndim} "
                              f"({consumed} indexed)")
    n_ell = sum(1 for k, v in masks_or_none if k == "basic" and v is Ellipsis)
    check(n_ell <= 1, "an index can only have a single ellipsis ('...')")
    entries = []
    for k, v in masks_or_none:
        if k == "basic" and v is Ellipsis:
            entries += [("basic", slice(None))] * (x.ndim - consumed)
        else:
            entries.append((k, v))
    if not n_ell:
        entries += [("basic", slice(None))] * (x.ndim - consumed)
    basic, adv, late, empty_dims = [], [], [], []
    xdim = ydim = 0
    for k, v in entries:
        if k == "basic":
            basic.append(v)
            xdim += v is not None
            ydim += 1
        elif k == "bool":   # x[True] is x[None]; x[False] is that new dim emptied
            basic.append(None)
            if not v:
                empty_dims.append(ydim)
            ydim += 1
        elif k == "int":
            n = x.shape[xdim]
            _check_known(np.asarray(v), n, xdim)
            basic.append(v)
            xdim += 1
        elif k == "int_t":
            basic.append(slice(None))
            late.append((ydim, v))
            xdim += 1
            ydim += 1
        elif k == "mask":
            want = x.shape[xdim:xdim + v.ndim]
            if v.shape != want:
                bad = next(d for d in range(v.ndim) if v.shape[d] != want[d])
                raise _index_error(f"the shape of the mask {list(v.shape)} at index {bad} does "
                                  f"not match the shape of the indexed tensor {list(x.shape)} at "
                                  f"index {xdim + bad}")
            for comp in np.nonzero(v):
                basic.append(slice(None))
                adv.append((ydim, comp.astype(np.int64)))
                xdim += 1
                ydim += 1
        else:
            basic.append(slice(None))
            adv.append((ydim, v))
            xdim += 1
            ydim += 1
    return tuple(basic), adv, late, empty_dims


def _index_error(msg: str) -> ShapeError:
    """A ShapeError for a bad index, naming the user's line."""
    return ShapeError(f"{msg} (at {_where()})")


def _check_known(arr: np.ndarray, n: int, dim: int) -> np.ndarray:
    """A known index array checked against [-n, n) and wrapped, as torch's x[idx]."""
    from .errors import ExecutionError
    if arr.size and (arr.min() < -n or arr.max() >= n):
        bad = arr[(arr < -n) | (arr >= n)].ravel()[0]
        raise ExecutionError(f"index {bad} is out of bounds for dimension {dim} with size {n} "
                             f"(at {_where()})")
    return np.where(arr < 0, arr + n, arr) if arr.size and arr.min() < 0 else arr


def _adv_shape(adv) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*[a.shape for _, a in adv]))
    except ValueError:
        shapes = ", ".join(str(list(a.shape)) for _, a in adv)
        raise _index_error(f"shape mismatch: indexing tensors could not be broadcast together "
                          f"with shapes {shapes}") from None


def _traced_index(a, n: int) -> Tensor:
    """A traced index tensor as int64 in [0, n) where valid, negatives wrapped (graph ops)."""
    a = a if a.dtype is dtypes.int64 else cast(a, dtypes.int64)
    return where(a < 0, a + n, a)


def _linear(sizes, adv, B):
    """The flat position in the indexed dims (of `sizes`, row-major) of each element of B: a
    NumPy array when every index is known, else a traced tensor (-1 where any index is out of
    range, which the take/put kernels then report)."""
    strides = [int(np.prod(sizes[k + 1:])) for k in range(len(sizes))]
    if all(isinstance(a, np.ndarray) for _, a in adv):
        return sum(np.broadcast_to(_check_known(a, n, d), B) * s
                   for (d, a), n, s in zip(adv, sizes, strides)).astype(np.int64)
    lin = bad = None
    for (d, a), n, s in zip(adv, sizes, strides):
        if isinstance(a, np.ndarray):
            term = Tensor(np.ascontiguousarray(np.broadcast_to(_check_known(a, n, d), B)))
            off = False
        else:
            a = _traced_index(a, n)
            term = expand(a, *B)
            off = (term < 0) | (term >= n)
        term = term * s if s != 1 else term
        lin = term if lin is None else lin + term
        if off is not False:
            bad = off if bad is None else bad | off
    return lin if bad is None else where(bad, -1, lin)


def getitem_advanced(x: Tensor, index) -> Tensor:
    """x[index] with integer tensors / lists / masks anywhere (torch's semantics)."""
    basic, adv, late, empty_dims = _parse(x, index)
    y = _basic_getitem(x, basic)
    for d in empty_dims:
        y = apply("slice", y, start=(0,) * y.ndim, stop=y.shape[:d] + (0,) + y.shape[d + 1:],
                  step=(1,) * y.ndim)
    for k, (d, t) in reversed(list(enumerate(late))):   # traced 0-d ints: select (wrapping)
        y = apply("take", y, cast(t, dtypes.int64), axis=d, wrap=True)
        adv = [(e - (e > d), a) for e, a in adv]
    if not adv:
        return y
    B = _adv_shape(adv)
    dims = [d for d, _ in adv]
    if len(adv) == 1:
        (d, a), = adv
        if isinstance(a, np.ndarray):
            return apply("take", y, Tensor(_check_known(a, y.shape[d], d)), axis=d)
        return apply("take", y, a, axis=d, wrap=True)
    fast = _row_pick(y, adv, B)
    if fast is not None:
        return fast
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    rest = [d for d in range(y.ndim) if d not in dims]
    sizes = [y.shape[d] for d in dims]
    if dims + rest != list(range(y.ndim)):
        y = apply("transpose", y, perm=tuple(dims + rest))
    merged = reshape(y, (int(np.prod(sizes)),) + y.shape[len(dims):])
    lin = _linear(sizes, adv, B)
    out = apply("take", merged, lin if isinstance(lin, Tensor) else Tensor(lin), axis=0)
    if adjacent and dims[0] > 0:   # B goes where the indexed dims were
        nb, p = len(B), dims[0]
        perm = tuple(range(nb, nb + p)) + tuple(range(nb)) + tuple(range(nb + p, out.ndim))
        out = apply("transpose", out, perm=perm)
    return out


def _row_pick(y: Tensor, adv, B):
    """x[range(n), t] on a 2-d x (one known index is arange over its dim, the other traced, both
    of shape (n,)): a gather of one entry per row, as cross_entropy's (None if not that case)."""
    if y.ndim != 2 or len(adv) != 2 or len(B) != 1:
        return None
    for (d, a), (e, t) in (adv, adv[::-1]):
        if isinstance(a, np.ndarray) and isinstance(t, Tensor) and a.shape == B == t.shape \
                and y.shape[d] == B[0] and np.array_equal(a, np.arange(B[0])):
            t = t if t.dtype is dtypes.int64 else cast(t, dtypes.int64)
            return apply("gather", y, t, axis=e, wrap=True)
    return None


# ---- x[index] = v ---------------------------------------------------------------------------------

def _value(x: Tensor, value) -> Tensor:
    v = value if isinstance(value, Tensor) else _tensor(np.asarray(value), dtype=x.dtype)
    return v if v.dtype == x.dtype else cast(v, x.dtype)


def _positions(x: Tensor, index):
    """(shape R of x[index], flat position in x of each of its elements): NumPy when every
    index is known, else a traced int64 tensor (-1 where an index is out of range)."""
    basic, adv, late, empty_dims = _parse(x, index)
    xs = [int(np.prod(x.shape[d + 1:])) for d in range(x.ndim)]
    base, ydims, xd = 0, [], 0     # ydims: (size, stride in x) of each dim of x[basic]
    for b in basic:
        if b is None:
            ydims.append((1, 0))
            continue
        n = x.shape[xd]
        if isinstance(b, slice):
            s0, s1, st = b.indices(n)
            check(st > 0, "step must be greater than zero (torch has no negative slice steps)")
            base += s0 * xs[xd]
            ydims.append((max(0, -(-(s1 - s0) // st)), st * xs[xd]))
        else:
            base += (b % n) * xs[xd]
        xd += 1
    for d in empty_dims:
        ydims[d] = (0, 0)
    traced = []                    # (traced index tensor, its stride): summed in at the end
    for d, t in late:
        traced.append((_traced_index(t, ydims[d][0]), ydims[d][1], ydims[d][0], None))
    drop = {d for d, _ in late}
    adv = [(d, a) for d, a in adv]
    for d in sorted(drop, reverse=True):
        adv = [(e - (e > d), a) for e, a in adv]
    ydims = [yd for d, yd in enumerate(ydims) if d not in drop]
    dims = [d for d, _ in adv]
    B = _adv_shape(adv) if adv else ()
    adjacent = not adv or dims == list(range(dims[0], dims[0] + len(dims)))
    p = dims[0] if adv and adjacent else 0
    plain = [d for d in range(len(ydims)) if d not in dims]
    R = tuple(ydims[d][0] for d in plain[:p]) + B + tuple(ydims[d][0] for d in plain[p:])
    at = {d: (k if k < p else k + len(B)) for k, d in enumerate(plain)}   # result dim of each
    pos = np.full((), base, np.int64)
    for d in plain:
        size, stride = ydims[d]
        shape = [1] * len(R)
        shape[at[d]] = size
        pos = pos + (np.arange(size, dtype=np.int64) * stride).reshape(shape)
    bshape = (1,) * p + B + (1,) * (len(R) - p - len(B))
    for d, a in adv:
        size, stride = ydims[d]
        if isinstance(a, np.ndarray):
            pos = pos + (np.broadcast_to(_check_known(a, size, d), B) * stride).reshape(bshape)
        else:
            traced.append((_traced_index(a, size), stride, size, bshape))
    pos = np.broadcast_to(pos, R)
    if not traced:
        return R, pos
    out, bad = Tensor(np.ascontiguousarray(pos)), None
    for t, stride, size, shape in traced:
        tt = t if shape is None else reshape(expand(t, *B), shape)
        off = (tt < 0) | (tt >= size)
        bad = off if bad is None else bad | off
        out = out + (tt * stride if stride != 1 else tt)
    return R, where(bad, -1, out)


def _mask_only(x: Tensor, index):
    """The mask if `index` is one boolean tensor/array over x's leading dims, else None."""
    i = index[0] if isinstance(index, tuple) and len(index) == 1 else index
    if not isinstance(i, (Tensor, np.ndarray, list)):
        return None
    m = _t(i) if isinstance(i, Tensor) else _tensor(np.asarray(i))
    if not m.dtype.is_bool or m.ndim == 0 or m.shape != x.shape[:m.ndim]:
        return None
    return m


def setitem_advanced(x: Tensor, index, value, accumulate: bool = False) -> None:
    """`x[index] = value` (or += with accumulate, as index_put_) with tensor, list or mask
    indices, in place, with torch's broadcasting of value; repeated indices: the last write wins
    (accumulate: all add up, in index order). A mask alone is `where` (static shape: it works
    inside graphc.compile even when the mask is traced)."""
    v = _value(x, value)
    recorded = tracing.current() is not None or (
        is_grad_enabled() and (x.requires_grad or v.requires_grad))
    m = _mask_only(x, index)
    if m is not None and not accumulate:
        rest = x.shape[m.ndim:]
        mb = reshape(m, m.shape + (1,) * len(rest))
        if v.ndim <= len(rest) and _broadcastable(v.shape, rest):
            x._assign(where(mb, v, x))
            return
        if _known(m) is None:      # v holds one row per True: consumed in order
            x._assign(masked_scatter(x, expand(mb, *x.shape), v))
            return
    R, pos = _positions(x, index)
    check(_broadcastable(v.shape, R), f"shape mismatch: value tensor of shape {list(v.shape)} "
                                      f"cannot be broadcast to indexing result of shape {list(R)}")
    if not recorded and isinstance(pos, np.ndarray) and not v.is_traced:
        flat = x._data.reshape(-1)
        assert np.shares_memory(flat, x._data)
        vals = np.broadcast_to(v.numpy(), R).reshape(-1)
        if accumulate:
            np.add.at(flat, pos.reshape(-1), vals)
        else:
            flat[pos.reshape(-1)] = vals
        x._version += 1
        return
    one = _single_row_put(x, index, v, accumulate)
    if one is not None:
        x._assign(one)
        return
    n = pos.size if isinstance(pos, np.ndarray) else pos.numel()
    idx = _tensor(np.ascontiguousarray(pos.reshape(-1))) if isinstance(pos, np.ndarray) \
        else reshape(pos, (n,))
    vals = reshape(expand(v, *R) if v.shape != R else v, (n,))
    flat = apply("put", reshape(x, (x.numel(),)), idx, vals, axis=0, accumulate=accumulate)
    x._assign(reshape(flat, x.shape))


def _single_row_put(x: Tensor, index, v: Tensor, accumulate: bool):
    """x[:, ..., idx] = v with one index tensor and full slices elsewhere: one `put` of whole
    slices (no per-element positions), or None for other indices."""
    items = list(index) if isinstance(index, tuple) else [index]
    if Ellipsis in [i for i in items if not isinstance(i, (Tensor, np.ndarray))]:
        k = next(j for j, i in enumerate(items) if i is Ellipsis)
        items = items[:k] + [slice(None)] * (x.ndim - len(items) + 1) + items[k + 1:]
    items += [slice(None)] * (x.ndim - len(items))
    full = [isinstance(i, slice) and i == slice(None) for i in items]
    if len(items) != x.ndim or sum(not f for f in full) != 1:
        return None
    d = full.index(False)
    if not isinstance(items[d], (Tensor, np.ndarray, list, range)):
        return None
    t, arr = _as_index(items[d])
    if (t is None and (arr.dtype.kind == "b" or arr.ndim == 0)) or (t is not None and (
            t.dtype.is_bool or t.dtype.name == "u8" or t.ndim == 0)):
        return None
    idx = t if t is not None else _tensor(_check_known(arr.astype(np.int64), x.shape[d], d))
    shape = x.shape[:d] + idx.shape + x.shape[d + 1:]
    vals = expand(v, *shape) if v.shape != shape else v
    return apply("put", x, idx, vals, axis=d, accumulate=accumulate, wrap=t is not None)


# ---- index_* : whole slices at positions along a dim ------------------------------------------

def _rows_operands(x, dim, index, source, what: str):
    """(x, axis, 1-d index, source) checked as torch's index_add/index_copy: source has x's
    shape with dim's size replaced by the number of indices."""
    x, index = _t(x), _index_tensor(index, what)
    check(index.ndim <= 1, f"{what}(): index should have dimension 1 or 0 (got {index.ndim})")
    index = reshape(index, (index.numel(),))
    source = _t(source)
    check(source.dtype == x.dtype, f"{what}(): self ({x.dtype}) and source ({source.dtype}) "
                                   "must have the same scalar type")
    if x.ndim == 0:
        x, source = reshape(x, (1,)), reshape(source, (source.numel(),))
    d = _dim(dim, x.ndim)
    want = x.shape[:d] + (index.numel(),) + x.shape[d + 1:]
    check(source.shape == want or (source.ndim == 0 and want == (1,)),
          f"{what}(): source {list(source.shape)} must have the shape of self {list(x.shape)} "
          f"with dimension {d} of size {index.numel()} (the number of indices)")
    return x, d, index, reshape(source, want)


def index_add(x, dim: int, index, source, *, alpha=1) -> Tensor:
    """torch.index_add: x with alpha * source's slices added at `index` along dim (repeated
    indices all add up, in index order)."""
    xs, d, index, source = _rows_operands(x, dim, index, source, "index_add")
    if not (isinstance(alpha, (int, float)) and alpha == 1):
        source = source * alpha
    return _scattered(x, apply("put", xs, index, source, axis=d, accumulate=True))


def index_copy(x, dim: int, index, source) -> Tensor:
    """torch.index_copy: x with its slices at `index` along dim replaced by source's (the last
    of repeated indices wins)."""
    xs, d, index, source = _rows_operands(x, dim, index, source, "index_copy")
    return _scattered(x, apply("put", xs, index, source, axis=d, accumulate=False))


def index_fill(x, dim: int, index, value) -> Tensor:
    """torch.index_fill: x with its slices at `index` along dim set to `value` (a number or a
    0-d tensor); negative indices count from the end, as torch's."""
    x, index = _t(x), _index_tensor(index, "index_fill")
    check(index.ndim <= 1, f"index_fill(): index should have dimension 1 or 0 (got {index.ndim})")
    xs = reshape(x, (1,)) if x.ndim == 0 else x
    d = _dim(dim, xs.ndim)
    index = reshape(index, (index.numel(),))
    shape = xs.shape[:d] + (index.numel(),) + xs.shape[d + 1:]
    v = _fill_value(xs, value, "index_fill")
    out = apply("put", xs, index, expand(v, *shape), axis=d, accumulate=False, wrap=True)
    return _scattered(x, out)


def take(x, index) -> Tensor:
    """torch.take: the entries of the flattened x at `index` (any shape; negatives from the end)."""
    x, index = _t(x), _index_tensor(index, "take", int64_only=True)
    return apply("take", reshape(x, (x.numel(),)), index, axis=0, wrap=True)


def index_put(x, indices, values, accumulate: bool = False) -> Tensor:
    """torch.index_put: a copy of x with x[indices] = values (accumulate=True: +=)."""
    out = _t(x).clone()
    setitem_advanced(out, tuple(indices), values, accumulate)
    return out


def _index_put_(self, indices, values, accumulate: bool = False) -> Tensor:
    """In place: self[indices] = values (accumulate=True: +=); returns self."""
    setitem_advanced(self, tuple(indices), values, accumulate)
    return self


# ---- masks --------------------------------------------------------------------------------------

def _fill_value(x: Tensor, value, what: str) -> Tensor:
    if isinstance(value, Tensor):
        check(value.ndim == 0, f"{what} only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s)")
        return value if value.dtype == x.dtype else cast(value, x.dtype)
    return _tensor(np.asarray(value), dtype=x.dtype)


def _bool_mask(mask, what: str) -> Tensor:
    m = _t(mask)
    check(m.dtype.is_bool, f"{what} only supports boolean masks, but got mask with dtype "
                           f"{m.dtype}")
    return m


def masked_fill(x, mask, value) -> Tensor:
    """torch.masked_fill: `value` (a number or 0-d tensor, cast to x's dtype) where mask is True
    (mask broadcast to x): a `where`, so it compiles with a traced mask."""
    x = _t(x)
    return where(_bool_mask(mask, "masked_fill"), _fill_value(x, value, "masked_fill"), x)


@fresh_result
def masked_scatter(x, mask, source) -> Tensor:
    """torch.masked_scatter: x with its entries where mask is True (row-major) replaced by
    source's first entries in order; compiles (positions are a cumsum of the mask)."""
    x, m, src = _t(x), _bool_mask(mask, "masked_scatter"), _t(source)
    check(src.dtype == x.dtype, f"masked_scatter: expected source to have dtype {x.dtype}, got "
                                f"{src.dtype}")
    shape = tuple(np.broadcast_shapes(x.shape, m.shape))
    x, m = expand(x, *shape), expand(m, *shape)
    known = _known(m)
    if known is not None:
        check(int(known.sum()) <= src.numel(), "masked_scatter: number of elements of source < "
                                               "number of ones in mask")
        if not known.any():
            return x
    n = x.numel()
    flat_m = reshape(m, (n,))
    pos = apply("cumsum", flat_m, axis=0) - 1
    picked = apply("take", reshape(src, (src.numel(),)), where(flat_m, pos, 0), axis=0)
    return reshape(where(flat_m, picked, reshape(x, (n,))), shape)


def _eager_only(what: str, t: Tensor, instead: str) -> np.ndarray:
    """t's values for a function whose result shape depends on them; a TraceError inside a
    trace when they are not known."""
    v = _known(t)
    if v is None:
        raise TraceError(f"{what} of a traced tensor ({t.type}) at {_where()}: its result's shape "
                         "depends on the values, which graphc.compile does not know; "
                         f"{instead}, or call it outside the compiled function")
    return v


_MASK_HINT = "keep the shape with graphc.where(mask, x, 0) or x.masked_fill(~mask, 0)"


def masked_select(x, mask) -> Tensor:
    """torch.masked_select: the entries of x where mask is True (both broadcast), as a 1-d
    tensor (eager: the result's size depends on the mask; differentiable through x)."""
    x, m = _t(x), _bool_mask(mask, "masked_select")
    known = _eager_only("masked_select", m, _MASK_HINT)
    shape = tuple(np.broadcast_shapes(x.shape, m.shape))
    flat = reshape(expand(x, *shape), (int(np.prod(shape)),))
    where_true = np.flatnonzero(np.broadcast_to(known, shape))
    return apply("take", flat, _tensor(where_true.astype(np.int64)), axis=0)


def nonzero(x, *, as_tuple: bool = False):
    """torch.nonzero: the indices of the nonzero entries, an int64 [n, ndim] tensor, or with
    as_tuple=True one 1-d tensor per dim (a 0-d input counts as 1-d). Eager only."""
    x = _t(x)
    v = _eager_only("nonzero", x, "use a mask with graphc.where / masked_fill instead")
    if as_tuple:
        return tuple(_tensor(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(v)))
    return _tensor(np.argwhere(v).astype(np.int64))


def argwhere(x) -> Tensor:
    """torch.argwhere: nonzero(x) as an [n, ndim] int64 tensor. Eager only."""
    x = _t(x)
    v = _eager_only("argwhere", x, "use a mask with graphc.where / masked_fill instead")
    return _tensor(np.argwhere(v).astype(np.int64))


# ---- Tensor methods -----------------------------------------------------------------------------

def getitem(x: Tensor, index) -> Tensor:
    """x[index] as torch: ints, slices (positive steps), None, Ellipsis, and integer tensors,
    lists, ranges, NumPy arrays and bool masks (Tensor.__getitem__)."""
    if is_advanced(index):
        return getitem_advanced(x, index)
    return _basic_getitem(x, index)


def setitem(x: Tensor, index, value) -> None:
    """`x[index] = value` in place (Tensor.__setitem__): basic indices as functions.setitem,
    integer-tensor indices as a `put`, masks as a `where`."""
    if is_advanced(index):
        setitem_advanced(x, index, value)
    else:
        _basic_setitem(x, index, value)


def where(condition, input=None, other=None) -> Tensor:  # noqa: A002
    """torch.where: `where(cond, a, b)` elementwise; `where(cond)` alone is
    nonzero(cond, as_tuple=True) (eager only: its shape depends on the data)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return _where3(condition, input, other)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs))
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In place: self = {fn.__name__}(self, ...); returns self."
    return method


def _install_methods() -> None:
    names = ["take_along_dim", "scatter", "scatter_add", "scatter_reduce", "index_add",
             "index_copy", "index_fill", "take", "index_put", "masked_fill", "masked_scatter",
             "masked_select", "nonzero", "argwhere"]
    for name in names:
        setattr(Tensor, name, globals()[name])
    for name in ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy",
                 "index_fill", "masked_fill", "masked_scatter"):
        setattr(Tensor, name + "_", _inplace(globals()[name]))
    Tensor.index_put_ = _index_put_
    Tensor.__getitem__ = getitem
    Tensor.__setitem__ = setitem


_install_methods()
