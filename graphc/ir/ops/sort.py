"""Sorting: argsort, the one primitive behind torch.sort, argsort, topk, median, quantile, ...

argsort[axis, descending](x) is the permutation that sorts each row along `axis`, **stable**, in
torch's order: NaN is larger than every number (last ascending, first descending), -0.0 equals
0.0, and equal keys keep their original order in both directions (torch's `stable=True`). The
result has x's shape and is int64; it carries no gradient (sorted values are a gather of x by it,
and their gradient is that gather's scatter-add).
"""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .reduce import check_axis_and_flag
from .registry import NONDIFF, register


def _argsort_infer(types, attrs):
    (t,) = types
    check_axis_and_flag("argsort", t, attrs, "descending")
    return tensor_type(t.shape, dtypes.int64)


def _argsort_ref(x, axis, descending=False):
    if x.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:   # NumPy's stable sort already puts NaN last and keeps ties in order
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64)
    # descending with ties in their original order: sort the reversed rows ascending, stably, then
    # read the result backwards (NaN comes first, equal keys by increasing index)
    n = x.shape[axis]
    idx = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.ascontiguousarray(np.flip(n - 1 - idx, axis)).astype(np.int64)


_NAN = float("nan")
register("argsort", "reduce", _argsort_infer, _argsort_ref, [
    ([("f32", (3, 7), "any")], {"axis": 1}),
    ([("f32", (3, 7), "any")], {"axis": 1, "descending": True}),
    ([("f64", (9, 2, 3), "any")], {"axis": 0}),
    ([("i64", (4, 40), "int:5")], {"axis": 1}),                      # ties, merge passes
    ([("i32", (40, 3), "int:7")], {"axis": 0, "descending": True}),
    ([np.array([[3.0, _NAN, 1.0, -0.0, 0.0, _NAN, 1.0, -2.0],
                [_NAN, _NAN, 0.0, -0.0, 5.0, 5.0, -np.inf, np.inf]], np.float32)], {"axis": 1}),
    ([np.array([[3.0, _NAN, 1.0, -0.0, 0.0, _NAN, 1.0, -2.0],
                [_NAN, _NAN, 0.0, -0.0, 5.0, 5.0, -np.inf, np.inf]], np.float32)],
     {"axis": 1, "descending": True}),
    ([("u8", (2, 19), "int:200")], {"axis": 1, "descending": True}),
    ([("bool", (3, 6), "bool")], {"axis": 1}),
    ([("f32", (), "any")], {"axis": 0}),
], NONDIFF, doc="stable sorting permutation along one axis (torch.argsort(stable=True))")
