"""Movement ops: reshape (a view), broadcast, transpose, slice, pad, concat."""
from __future__ import annotations

import numpy as np

from ..graph import tensor_type
from .registry import Fusion, int_tuple, register, require




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
], lambda b, g, x, out, shape: (b.reshape(g, shape=x.shape),),
         fusion=Fusion.VIEW)


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
         ], lambda b, g, x, out, shape: (b.sum_to(g, x.shape),),
         fusion=Fusion.BROADCAST)


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


def _concat_infer(types, attrs):
    require(len(types) >= 1, "concat needs at least one operand")
    t0 = types[0]
    axis = int(attrs["axis"])
    require(0 <= axis < t0.ndim, f"concat axis {axis} out of range for {t0}")
    rest = t0.shape[:axis] + t0.shape[axis + 1:]
    require(all(t.dtype == t0.dtype and t.ndim == t0.ndim and
                t.shape[:axis] + t.shape[axis + 1:] == rest for t in types),
            lambda: f"concat along axis {axis} needs one dtype and equal other dims, got "
            + ", ".join(str(u) for u in types))
    shape = list(t0.shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return tensor_type(tuple(shape), t0.dtype)


def _concat_vjp(b, g, *operands, axis):
    *xs, _out = operands          # gradient rules get (inputs..., out)
    grads, off = [], 0
    for x in xs:
        start = [0] * x.type.ndim
        stop = list(g.shape)
        start[axis], stop[axis] = off, off + x.shape[axis]
        grads.append(b.slice(g, start=tuple(start), stop=tuple(stop), step=(1,) * x.type.ndim))
        off += x.shape[axis]
    return tuple(grads)


register("concat", "shape", _concat_infer, lambda *xs, axis: np.concatenate(xs, axis), [
    ([("f32", (2, 3), "any"), ("f32", (1, 3), "any"), ("f32", (4, 3), "any")], {"axis": 0}),
    ([("f32", (2, 3, 2), "any"), ("f32", (2, 1, 2), "any")], {"axis": 1}),
    ([("f64", (3, 2), "any"), ("f64", (3, 5), "any")], {"axis": 1}),
], _concat_vjp, doc="x0, x1, ... joined along `axis` (one dtype; other dims equal)")
