"""Indexing: gather / scatter (one index per element, torch.gather's rule), take / put (whole
slices at integer positions: x[idx], index_select, index_add), and one_hot.

Every op reading indices bounds-checks them (the NumPy rules raise, the kernels set the error
flag) and declares where they are (`indices=`: operand, bound, lowest allowed value), so the
driver checks indices that are graph inputs before any native code runs. `wrap=True` accepts
[-n, n) with negatives counted from the end (torch's x[idx]); otherwise [0, n) as torch.gather.
Accumulating ops (scatter, put with accumulate) add in index order (row-major over the index),
the same bits on every backend.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import NONDIFF, Fusion, register, require


def _check_range(idx: np.ndarray, n: int, wrap: bool, what: str) -> np.ndarray:
    """`idx` with negatives wrapped (if `wrap`); an index outside [-n or 0, n) is an IndexError."""
    lo = -n if wrap else 0
    if idx.size and (idx.min() < lo or idx.max() >= n):
        bad = idx[(idx < lo) | (idx >= n)].ravel()[0]
        raise IndexError(f"index {bad} is out of bounds for {what} with size {n}")
    return np.where(idx < 0, idx + n, idx) if wrap and idx.size and idx.min() < 0 else idx


def _index_bounds(pos: int):
    """OpDef.indices for an op whose index operand is `pos` and whose axis attr bounds it."""
    def bounds(n):
        size = n.inputs[0].shape[n.attrs["axis"]]
        return (pos, size, -size) if n.attrs.get("wrap") else (pos, size)
    return bounds


# ---- gather: out[p] = x[p with p[axis] replaced by idx[p]] -------------------------------------

def _gather_infer(types, attrs):
    x, idx = types
    axis = attrs["axis"]
    require(0 <= axis < x.ndim, f"gather axis {axis} out of range for {x}")
    require(idx.dtype.is_int, f"indices must be integers, got {idx.dtype}")
    if idx.ndim == x.ndim:   # torch.gather: the result has the index's shape
        require(all(i <= s for d, (i, s) in enumerate(zip(idx.shape, x.shape)) if d != axis),
                f"indices {idx} must be no larger than {x} off axis {axis}")
        return tensor_type(idx.shape, x.dtype)
    expect = x.shape[:axis] + x.shape[axis + 1:]   # one index per row: the axis dropped
    require(idx.shape == expect, f"indices {idx} must have shape {list(expect)} to gather from {x} "
                                 f"along axis {axis}")
    return tensor_type(expect, x.dtype)


def _gather_ref(x, idx, axis, wrap=False):
    idx = _check_range(idx, x.shape[axis], wrap, f"axis {axis}")
    if idx.ndim == x.ndim:
        part = x[tuple(slice(None) if d == axis else slice(0, s) for d, s in enumerate(idx.shape))]
        return np.take_along_axis(part, idx, axis)
    return np.take_along_axis(x, np.expand_dims(idx, axis), axis).squeeze(axis)


def _gather_vjp(b, g, x, idx, out, axis, wrap=False):
    nd = x.type.ndim
    if idx.type.ndim == nd:   # torch's form: scatter-add the cotangent back into zeros
        if wrap:
            n = x.shape[axis]
            idx = b.where(b.lt(idx, 0), b.add(idx, n), idx)
        return b.scatter(b.zeros(x.type), idx, g, axis=axis, reduce="add"), None
    if wrap:
        idx = b.where(b.lt(idx, 0), b.add(idx, x.shape[axis]), idx)
    # one index per row: one_hot * g stays in the fused elementwise kernels (cross_entropy's)
    hot = b.one_hot(idx, num_classes=x.shape[axis], dtype=x.dtype)        # idx.shape + (C,)
    if axis != nd - 1:
        hot = b.transpose(hot, perm=tuple(range(axis)) + (nd - 1,) + tuple(range(axis, nd - 1)))
    keep = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    return b.mul(hot, b.reshape(g, shape=keep)), None


register("gather", "index", _gather_infer, _gather_ref, [
    ([("f32", (4, 5), "any"), ("i64", (4,), "int:5")], {"axis": 1}),
    ([("f32", (4, 5), "any"), ("i64", (5,), "int:4")], {"axis": 0}),
    ([("f32", (4, 5), "any"), ("i64", (6, 4), "int:4")], {"axis": 0}),
    ([("f32", (3, 4, 2), "any"), ("i64", (2, 3, 2), "int:4")], {"axis": 1}),
    ([("f64", (3, 4), "any"), np.array([[-1, 0], [3, -4]])], {"axis": 1, "wrap": True}),
], _gather_vjp, fusion=Fusion.GATHER, indices=_index_bounds(1))


# ---- scatter: out = x, then out[p with p[axis] = idx[p]] (reduce)= src[p], in index order -------

SCATTER_REDUCE = ("add", "multiply", "amax", "amin", "assign")


def _scatter_infer(types, attrs):
    x, idx, src = types
    axis, reduce = attrs["axis"], attrs["reduce"]
    require(reduce in SCATTER_REDUCE, f"scatter reduce must be one of {SCATTER_REDUCE}")
    require(0 <= axis < x.ndim, f"scatter axis {axis} out of range for {x}")
    require(idx.dtype.is_int, f"indices must be integers, got {idx.dtype}")
    require(src.dtype == x.dtype, f"scatter source {src} must have the dtype of {x}")
    require(reduce == "assign" or not x.dtype.is_bool, f"scatter {reduce} of booleans")
    require(idx.ndim == x.ndim == src.ndim, f"scatter: {x}, indices {idx} and source {src} must "
                                            "have the same number of dimensions")
    require(all(i <= s for i, s in zip(idx.shape, src.shape)) and
            all(i <= s for d, (i, s) in enumerate(zip(idx.shape, x.shape)) if d != axis),
            f"scatter: indices {idx} must be no larger than the source {src}, nor than {x} off "
            f"axis {axis}")
    return tensor_type(x.shape, x.dtype)


_AT = {"add": np.add, "multiply": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _scatter_ref(x, idx, src, axis, reduce):
    idx = _check_range(idx, x.shape[axis], False, f"axis {axis}")
    out = x.copy()
    if not idx.size:
        return out
    where = list(np.indices(idx.shape, sparse=True))
    where[axis] = idx
    vals = src[tuple(slice(0, s) for s in idx.shape)]
    if reduce != "assign":
        _AT[reduce].at(out, tuple(where), vals)   # unbuffered, in index order
        return out
    lin = np.ravel_multi_index(tuple(np.broadcast_arrays(*where)), x.shape).ravel()
    last = len(lin) - 1 - np.unique(lin[::-1], return_index=True)[1]   # the last write wins
    out.reshape(-1)[lin[last]] = vals.reshape(-1)[last]
    return out


def _scatter_vjp(b, g, x, idx, src, out, axis, reduce):
    nd = x.type.ndim
    part = src if src.shape == idx.shape else \
        b.slice(src, start=(0,) * nd, stop=idx.shape, step=(1,) * nd)   # the entries scattered

    def at_idx(v):    # an x-shaped value read at the scattered positions (idx's shape)
        return b.gather(v, idx, axis=axis)

    def to_src(v):    # idx's shape -> src's shape: zeros beyond the index
        hi = tuple(s - i for s, i in zip(src.shape, idx.shape))
        return b.pad(v, lo=(0,) * nd, hi=hi, interior=(0,) * nd) if any(hi) else v

    def scat(base, v, red):
        return b.scatter(base, idx, v, axis=axis, reduce=red)

    zeros = b.zeros(x.type)
    if reduce == "add":
        return g, None, to_src(at_idx(g))
    if reduce == "assign":
        # each position of x takes the last entry written to it: only that entry (and x where
        # nothing was written) gets the gradient, also for repeated indices
        order = b.const(np.arange(idx.type.size).reshape(idx.shape), dtypes.int64)
        written = b.scatter(b.broadcast(b.const(-1, dtypes.int64), shape=x.shape), idx, order,
                            axis=axis, reduce="assign")
        won = b.eq(b.gather(written, idx, axis=axis), order)
        return (b.where(b.ge(written, 0), 0, g), None,
                to_src(b.where(won, at_idx(g), b.zeros(part.type))))
    if reduce in ("amax", "amin"):   # shared evenly by every entry equal to the result (torch)
        self_is = b.cast(b.eq(x, out), dtype=g.dtype)
        src_is = b.cast(b.eq(part, at_idx(out)), dtype=g.dtype)
        share = b.div(g, b.add(self_is, scat(zeros, src_is, "add")))
        return b.mul(share, self_is), None, to_src(b.mul(at_idx(share), src_is))
    # multiply: torch's rule, exact where an operand is 0 (a product without that factor)
    masked_self = b.where(b.eq(x, 0), 1, x)
    gx = b.div(b.mul(g, scat(masked_self, part, "multiply")), masked_self)
    src_zero = b.eq(part, 0)
    zeros_at = at_idx(scat(zeros, b.cast(src_zero, dtype=x.dtype), "add"))
    single = b.emit("and", src_zero, b.eq(zeros_at, 1))
    without = scat(x, b.where(single, 1, part), "multiply")
    gsrc = b.where(single, at_idx(b.mul(g, without)),
                   b.div(at_idx(b.mul(g, out)), b.where(src_zero, 1, part)))
    return gx, None, to_src(gsrc)


register("scatter", "index", _scatter_infer, _scatter_ref, [
    ([("f32", (4, 5), "any"), ("i64", (3, 5), "int:4"), ("f32", (3, 5), "any")],
     {"axis": 0, "reduce": "add"}),
    ([("f32", (3, 4, 2), "any"), ("i64", (3, 2, 2), "int:4"), ("f32", (3, 2, 2), "any")],
     {"axis": 1, "reduce": "add"}),
    ([("f64", (3, 5), "any"), np.array([[4, 1], [0, 2], [3, 0]]), ("f64", (3, 2), "any")],
     {"axis": 1, "reduce": "assign"}),
    ([("f32", (4, 3), "any"), ("i64", (5, 3), "int:4"), ("f32", (5, 3), "any")],
     {"axis": 0, "reduce": "multiply"}),
    ([("f32", (4, 3), "any"), ("i64", (5, 3), "int:4"), ("f32", (5, 3), "any")],
     {"axis": 0, "reduce": "amax"}),
    ([("i64", (4, 3), "int:50"), ("i64", (5, 3), "int:4"), ("i64", (5, 3), "int:50")],
     {"axis": 0, "reduce": "amin"}),
], _scatter_vjp, indices=_index_bounds(1))


# ---- take / put: whole slices at integer positions along an axis --------------------------------

def _take_shape(x, idx, axis):
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:]


def _take_infer(types, attrs):
    x, idx = types
    axis = attrs["axis"]
    require(0 <= axis < x.ndim, f"take axis {axis} out of range for {x}")
    require(idx.dtype.is_int, f"indices must be integers, got {idx.dtype}")
    return tensor_type(_take_shape(x, idx, axis), x.dtype)


def _take_ref(x, idx, axis, wrap=False):
    idx = _check_range(idx, x.shape[axis], wrap, f"axis {axis}")
    return np.take(x, idx, axis=axis)


def _take_vjp(b, g, x, idx, out, axis, wrap=False):
    return b.put(b.zeros(x.type), idx, g, axis=axis, accumulate=True, wrap=wrap), None


register("take", "index", _take_infer, _take_ref, [
    ([("f32", (5, 3), "any"), ("i64", (4,), "int:5")], {"axis": 0}),
    ([("f32", (2, 5, 3), "any"), ("i64", (2, 3), "int:5")], {"axis": 1}),
    ([("f64", (3, 4), "any"), np.array([-1, 0, -4, 3, 3])], {"axis": 1, "wrap": True}),
    ([("i64", (6,), "int:9"), ("i32", (2, 2), "int:6")], {"axis": 0}),
], _take_vjp, indices=_index_bounds(1))


def _put_infer(types, attrs):
    x, idx, v = types
    axis = attrs["axis"]
    require(0 <= axis < x.ndim, f"put axis {axis} out of range for {x}")
    require(idx.dtype.is_int, f"indices must be integers, got {idx.dtype}")
    require(v.dtype == x.dtype, f"put values {v} must have the dtype of {x}")
    require(not (attrs["accumulate"] and x.dtype.is_bool), "put accumulate of booleans")
    want = _take_shape(x, idx, axis)
    require(v.shape == want, f"put values {v} must have shape {list(want)} to put into {x} at "
                             f"indices {idx} along axis {axis}")
    return tensor_type(x.shape, x.dtype)


def _put_ref(x, idx, v, axis, accumulate, wrap=False):
    idx = _check_range(idx, x.shape[axis], wrap, f"axis {axis}").reshape(-1)
    out = x.copy()
    lead = (slice(None),) * axis
    v = v.reshape(x.shape[:axis] + (idx.size,) + x.shape[axis + 1:])
    if accumulate:
        np.add.at(out, lead + (idx,), v)   # unbuffered: duplicates add up, in index order
        return out
    last = idx.size - 1 - np.unique(idx[::-1], return_index=True)[1]   # the last write wins
    out[lead + (idx[last],)] = v[lead + (last,)]
    return out


def _put_vjp(b, g, x, idx, v, out, axis, accumulate, wrap=False):
    gv = b.take(g, idx, axis=axis, wrap=wrap)
    if accumulate:
        return g, None, gv
    # only the last slice written to each position gets the gradient (repeated indices)
    n, k = x.shape[axis], idx.type.size
    order = b.const(np.arange(k).reshape(idx.shape), dtypes.int64)
    written = b.put(b.broadcast(b.const(-1, dtypes.int64), shape=(n,)), idx, order, axis=0,
                    accumulate=False, wrap=wrap)
    won = b.eq(b.take(written, idx, axis=0, wrap=wrap), order)
    won = b.reshape(won, shape=(1,) * axis + idx.shape + (1,) * (x.type.ndim - axis - 1))
    gx = b.put(g, idx, b.zeros(v.type), axis=axis, accumulate=False, wrap=wrap)
    return gx, None, b.where(won, gv, b.zeros(v.type))


register("put", "index", _put_infer, _put_ref, [
    ([("f32", (5, 3), "any"), ("i64", (4,), "int:5"), ("f32", (4, 3), "any")],
     {"axis": 0, "accumulate": True}),
    ([("f32", (2, 5, 3), "any"), ("i64", (2, 2), "int:5"), ("f32", (2, 2, 2, 3), "any")],
     {"axis": 1, "accumulate": True}),
    ([("f64", (3, 4), "any"), np.array([-1, 0, 2, 1]), ("f64", (3, 4), "any")],
     {"axis": 1, "accumulate": False, "wrap": True}),
    ([("i64", (6,), "int:9"), np.array([5, 1, 5]), ("i64", (3,), "int:9")],
     {"axis": 0, "accumulate": False}),
], _put_vjp, indices=_index_bounds(1))


# ---- one_hot ------------------------------------------------------------------------------------

def _one_hot_infer(types, attrs):
    (idx,) = types
    require(idx.dtype.is_int, f"one_hot needs integer indices, got {idx.dtype}")
    require(attrs["num_classes"] > 0, "num_classes must be positive")
    return tensor_type(idx.shape + (attrs["num_classes"],), dtypes.as_dtype(attrs["dtype"]))


def _one_hot_ref(idx, num_classes, dtype):
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        bad = idx[(idx < 0) | (idx >= num_classes)].ravel()[0]
        raise IndexError(f"class index {bad} is out of range for {num_classes} classes")
    return (idx[..., None] == np.arange(num_classes)).astype(dtypes.as_dtype(dtype).np)


register("one_hot", "index", _one_hot_infer, _one_hot_ref, [
    ([("i64", (4,), "int:5")], {"num_classes": 5, "dtype": dtypes.float32}),
], NONDIFF, indices=lambda n: (0, n.attrs["num_classes"]))
