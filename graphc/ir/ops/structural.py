"""Reductions, shape ops, matmul, gather/one_hot and constants."""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import (NONDIFF, broadcast_shapes, int_tuple, norm_axes, reduced_shape, register,
                       require)

# ---- reductions: sum, max, argmax --------------------------------------------------------------


def _reduce_infer(kind):
    def infer(types, attrs):
        (t,) = types
        require(attrs.get("axis") is None or isinstance(attrs["axis"], (tuple, list)),
                f"axis attr must be None or a tuple, got {attrs.get('axis')!r}")
        axes = norm_axes(attrs.get("axis"), t.ndim)
        require(tuple(attrs.get("axis") or ()) == axes or attrs.get("axis") is None,
                f"axis attr must be a sorted tuple of non-negative ints, got {attrs.get('axis')}")
        if kind == "max":
            require(all(t.shape[a] > 0 for a in axes), f"max of an empty axis of {t}")
            dt = t.dtype
        else:
            dt = t.dtype if t.dtype.is_float else dtypes.int64
        return tensor_type(reduced_shape(t.shape, axes, attrs.get("keepdims", False)), dt)
    return infer


def _sum_ref(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=None if x.dtype.kind == "f" else np.int64)


def _max_ref(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _keep_shape(x, axis):
    axes = norm_axes(axis, x.type.ndim)
    return tuple(1 if i in axes else d for i, d in enumerate(x.shape))


def _sum_vjp(b, g, x, out, axis=None, keepdims=False):
    return (b.broadcast(b.reshape(g, shape=_keep_shape(x, axis)), shape=x.shape),)


def _max_vjp(b, g, x, out, axis=None, keepdims=False):
    # torch's amax rule: the gradient is shared evenly between tied maxima
    keep = _keep_shape(x, axis)
    mask = b.cast(b.eq(x, b.reshape(out, shape=keep)), dtype=x.dtype)
    count = b.sum(mask, axis=norm_axes(axis, x.type.ndim), keepdims=True)
    return (b.mul(mask, b.div(b.reshape(g, shape=keep), count)),)


_RED_SAMPLES = [
    ([("f32", (3, 4), "any")], {"axis": (1,), "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": (0,), "keepdims": True}),
    ([("f32", (2, 3, 4), "any")], {"axis": (0, 2), "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": None, "keepdims": False}),
]
register("sum", "reduce", _reduce_infer("sum"), _sum_ref,
         _RED_SAMPLES + [([("i64", (3, 4), "int:9")], {"axis": (1,), "keepdims": False})],
         _sum_vjp)
register("max", "reduce", _reduce_infer("max"), _max_ref,
         _RED_SAMPLES + [([np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)],
                          {"axis": (1,), "keepdims": False})],          # ties
         _max_vjp)


def _argmax_infer(types, attrs):
    (t,) = types
    axis = attrs.get("axis")
    keepdims = attrs.get("keepdims", False)
    if axis is None:
        require(t.size > 0, "argmax of an empty tensor")
        return tensor_type((1,) * t.ndim if keepdims else (), dtypes.int64)
    require(isinstance(axis, (int, np.integer)), f"argmax axis must be None or an int, got {axis!r}")
    (a,) = norm_axes(axis, t.ndim)
    require(a == axis, f"argmax axis must be non-negative, got {axis}")
    require(t.shape[a] > 0, f"argmax over an empty axis of {t}")
    return tensor_type(reduced_shape(t.shape, (a,), keepdims), dtypes.int64)


def _argmax_ref(x, axis=None, keepdims=False):
    return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)


register("argmax", "reduce", _argmax_infer, _argmax_ref, [
    ([("f32", (3, 4), "any")], {"axis": 1, "keepdims": False}),
    ([("f32", (3, 4), "any")], {"axis": 0, "keepdims": True}),
    ([("f32", (3, 4), "any")], {"axis": None, "keepdims": False}),
], NONDIFF)

# ---- shape ops: reshape, broadcast, transpose, slice, pad ---------------------------------------


def _reshape_infer(types, attrs):
    (t,) = types
    shape = int_tuple(attrs, "shape")
    require(all(d >= 0 for d in shape), f"reshape target {list(shape)} has a negative dimension")
    require(int(np.prod(shape, dtype=np.int64)) == t.size,
            f"cannot reshape {t} ({t.size} elements) to {list(shape)}")
    return tensor_type(shape, t.dtype)


register("reshape", "shape", _reshape_infer, lambda x, shape: np.reshape(x, shape), [
    ([("f32", (3, 4), "any")], {"shape": (2, 6)}),
    ([("f32", (3, 4), "any")], {"shape": (12,)}),
    ([("f32", (), "any")], {"shape": (1, 1)}),
], lambda b, g, x, out, shape: (b.reshape(g, shape=x.shape),))


def _broadcast_infer(types, attrs):
    (t,) = types
    shape = int_tuple(attrs, "shape")
    ok = len(shape) >= t.ndim and all(
        s == d or s == 1 for s, d in zip(t.shape[::-1], shape[::-1]))
    require(ok, f"cannot broadcast {t} to {list(shape)}")
    return tensor_type(shape, t.dtype)


register("broadcast", "shape", _broadcast_infer,
         lambda x, shape: np.broadcast_to(x, shape).copy(), [
             ([("f32", (3, 1), "any")], {"shape": (2, 3, 4)}),
             ([("f32", (), "any")], {"shape": (3,)}),
         ], lambda b, g, x, out, shape: (b.sum_to(g, x.shape),))


def _transpose_infer(types, attrs):
    (t,) = types
    perm = int_tuple(attrs, "perm")
    require(sorted(perm) == list(range(t.ndim)), f"perm {list(perm)} is not a permutation of {t}'s axes")
    return tensor_type(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_vjp(b, g, x, out, perm):
    return (b.transpose(g, perm=tuple(int(i) for i in np.argsort(perm))),)


register("transpose", "shape", _transpose_infer, lambda x, perm: np.transpose(x, perm), [
    ([("f32", (3, 4), "any")], {"perm": (1, 0)}),
    ([("f32", (2, 3, 4), "any")], {"perm": (2, 0, 1)}),
], _transpose_vjp)


def _slice_len(start, stop, step):
    return max(0, (stop - start + step - 1) // step)


def _slice_infer(types, attrs):
    (t,) = types
    start, stop, step = (int_tuple(attrs, k) for k in ("start", "stop", "step"))
    require(len(start) == len(stop) == len(step) == t.ndim,
            f"slice needs start/stop/step for all {t.ndim} axes")
    for a, (s0, s1, st, d) in enumerate(zip(start, stop, step, t.shape)):
        require(st > 0 and 0 <= s0 <= d and 0 <= s1 <= d,
                f"slice bounds {s0}:{s1}:{st} invalid for axis {a} of size {d}")
    return tensor_type(tuple(_slice_len(*z) for z in zip(start, stop, step)), t.dtype)


def _slice_ref(x, start, stop, step):
    return x[tuple(slice(a, b, c) for a, b, c in zip(start, stop, step))]


def _slice_vjp(b, g, x, out, start, stop, step):
    if out.type.size == 0:
        return (b.zeros(x.type),)
    hi = tuple(d - (s0 + (n - 1) * st + 1) for d, s0, n, st in zip(x.shape, start, out.shape, step))
    return (b.pad(g, lo=tuple(start), hi=hi, interior=tuple(st - 1 for st in step)),)


register("slice", "shape", _slice_infer, _slice_ref, [
    ([("f32", (5, 6), "any")], {"start": (1, 0), "stop": (4, 6), "step": (1, 2)}),
    ([("f32", (5,), "any")], {"start": (4,), "stop": (5,), "step": (1,)}),
], _slice_vjp)


def _pad_infer(types, attrs):
    (t,) = types
    lo, hi, interior = (int_tuple(attrs, k) for k in ("lo", "hi", "interior"))
    require(len(lo) == len(hi) == len(interior) == t.ndim, f"pad needs lo/hi/interior for {t.ndim} axes")
    require(all(v >= 0 for v in lo + hi + interior), "pad amounts must be non-negative")
    shape = tuple(l + d + max(d - 1, 0) * i + h for l, d, i, h in zip(lo, t.shape, interior, hi))
    return tensor_type(shape, t.dtype)


def _pad_ref(x, lo, hi, interior):
    shape = tuple(l + d + max(d - 1, 0) * i + h for l, d, i, h in zip(lo, x.shape, interior, hi))
    out = np.zeros(shape, x.dtype)
    out[tuple(slice(l, l + max(d - 1, 0) * (i + 1) + (1 if d else 0), i + 1)  # empty axis: 0 slots
              for l, d, i in zip(lo, x.shape, interior))] = x
    return out


def _pad_vjp(b, g, x, out, lo, hi, interior):
    stop = tuple(l + max(d - 1, 0) * (i + 1) + 1 if d else l for l, d, i in zip(lo, x.shape, interior))
    return (b.slice(g, start=tuple(lo), stop=stop, step=tuple(i + 1 for i in interior)),)


register("pad", "shape", _pad_infer, _pad_ref, [
    ([("f32", (3, 2), "any")], {"lo": (1, 0), "hi": (0, 2), "interior": (0, 1)}),
], _pad_vjp)


# ---- matmul -------------------------------------------------------------------------------------


def _matmul_dims(t, transposed):
    m, k = t.shape[-2:]
    return (k, m) if transposed else (m, k)


def _matmul_infer(types, attrs):
    a, b = types
    require(a.ndim >= 2 and b.ndim >= 2, f"matmul needs rank >= 2 operands, got {a} and {b}")
    (m, k), (k2, n) = _matmul_dims(a, attrs.get("transpose_a", False)), \
        _matmul_dims(b, attrs.get("transpose_b", False))
    require(k == k2, f"inner dimensions differ: {a} @ {b}"
                     f"{' (b transposed)' if attrs.get('transpose_b') else ''} needs {k} == {k2}")
    require(a.dtype == b.dtype, f"operands must have the same dtype, got {a.dtype} and {b.dtype}")
    require(not a.dtype.is_bool, "matmul of bool tensors")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return tensor_type(batch + (m, n), a.dtype)


def _matmul_ref(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


def _matmul_vjp(b, g, x, y, out, transpose_a=False, transpose_b=False):
    # C = A'B' with A' = A or A^T, B' = B or B^T:  dA' = g B'^T,  dB' = A'^T g
    if transpose_a:
        gx = b.matmul(y, g, transpose_a=transpose_b, transpose_b=True)
    else:
        gx = b.matmul(g, y, transpose_b=not transpose_b)
    if transpose_b:
        gy = b.matmul(g, x, transpose_a=True, transpose_b=transpose_a)
    else:
        gy = b.matmul(x, g, transpose_a=not transpose_a)
    return gx, gy


register("matmul", "linalg", _matmul_infer, _matmul_ref, [
    ([("f32", (3, 4), "any"), ("f32", (4, 5), "any")], {}),
    ([("f32", (3, 4), "any"), ("f32", (5, 4), "any")], {"transpose_b": True}),
    ([("f32", (4, 3), "any"), ("f32", (4, 5), "any")], {"transpose_a": True}),
    ([("f32", (4, 3), "any"), ("f32", (5, 4), "any")], {"transpose_a": True, "transpose_b": True}),
    ([("f32", (2, 3, 4), "any"), ("f32", (4, 5), "any")], {}),     # batched, broadcast
], _matmul_vjp)

# ---- indexing: gather (take_along_axis) and one_hot --------------------------------------------


def _gather_infer(types, attrs):
    x, idx = types
    axis = attrs["axis"]
    require(0 <= axis < x.ndim, f"gather axis {axis} out of range for {x}")
    require(idx.dtype.is_int, f"indices must be integers, got {idx.dtype}")
    expect = x.shape[:axis] + x.shape[axis + 1:]
    require(idx.shape == expect, f"indices {idx} must have shape {list(expect)} to gather from {x} "
                                 f"along axis {axis}")
    return tensor_type(expect, x.dtype)


def _gather_ref(x, idx, axis):
    n = x.shape[axis]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].ravel()[0]
        raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    return np.take_along_axis(x, np.expand_dims(idx, axis), axis).squeeze(axis)


def _gather_vjp(b, g, x, idx, out, axis):
    hot = b.one_hot(idx, num_classes=x.shape[axis], dtype=x.dtype)        # idx.shape + (C,)
    nd = x.type.ndim
    if axis != nd - 1:
        hot = b.transpose(hot, perm=tuple(range(axis)) + (nd - 1,) + tuple(range(axis, nd - 1)))
    keep = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    return b.mul(hot, b.reshape(g, shape=keep)), None


register("gather", "index", _gather_infer, _gather_ref, [
    ([("f32", (4, 5), "any"), ("i64", (4,), "int:5")], {"axis": 1}),
    ([("f32", (4, 5), "any"), ("i64", (5,), "int:4")], {"axis": 0}),
], _gather_vjp)


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
], NONDIFF)

# ---- constants ----------------------------------------------------------------------------------


def _constant_infer(types, attrs):
    require(not types, "constant takes no operands")
    v = attrs["value"]
    require(isinstance(v, np.ndarray), "constant value must be an ndarray")
    return tensor_type(v.shape, dtypes.from_numpy(v.dtype))


register("constant", "source", _constant_infer, lambda value: value.copy(), [
    ([], {"value": np.array(1.5, np.float32)}),
    ([], {"value": np.arange(6, dtype=np.int64).reshape(2, 3)}),
], NONDIFF)
