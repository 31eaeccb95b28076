"""matmul: the one linear-algebra primitive (transposed operands as attrs)."""
from __future__ import annotations

import numpy as np

from ..graph import tensor_type
from .registry import Fusion, broadcast_shapes, register, require




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
], _matmul_vjp,
         fusion=Fusion.MATMUL)
