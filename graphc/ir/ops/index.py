"""Indexing: gather (take_along_axis) and one_hot."""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import Fusion, NONDIFF, register, require




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
], _gather_vjp,
         fusion=Fusion.GATHER, indices=lambda n: (1, n.inputs[0].shape[n.attrs["axis"]]))


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
