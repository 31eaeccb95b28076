"""The two pieces of cross_entropy / nll_loss along a class axis (the last one):

- `lse`: log(sum(exp(x))) over the last axis, that axis dropped (stable: the row maximum is taken
  out first; -inf for an all -inf or empty row, +inf if one entry is +inf, NaN with a NaN). Its
  gradient g * exp(x - lse) is elementwise and fuses into the kernel that uses it.
- `take_class[ignore]`: x[..., t] per position of the class indices t (x has t's shape plus the
  class axis, or is one table (C,) read at every t); positions where t == ignore give 0 and no
  gradient, so torch's ignore_index needs no computed index. Its gradient is a compare with
  0..C-1 (elementwise, no index op). Indices are declared (`indices=`: operand, bound, lowest,
  the one value allowed outside [lowest, bound)), so the driver checks labels that are graph
  inputs before any native code runs.

cross_entropy(x, t) is then lse(x) - take_class(x, t): the logits are read once forward (lse)
and once backward (exp(x - lse) minus the one-hot compare), never as a log_softmax temporary.
"""
from __future__ import annotations

import numpy as np

from ..graph import tensor_type
from .registry import register, require


def _lse_infer(types, attrs):
    (t,) = types
    require(t.dtype.is_float, f"lse needs a float operand, got {t}")
    require(t.ndim >= 1, f"lse needs at least one axis (the class axis, last), got {t}")
    return tensor_type(t.shape[:-1], t.dtype)


def _lse_ref(x):
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf, x.dtype)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)  # all -inf, or +inf, or NaN: no shift
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return (np.log(np.sum(np.exp(x - m), axis=-1)) + m[..., 0]).astype(x.dtype)


def _lse_vjp(b, g, x, out):
    keep = x.shape[:-1] + (1,)
    return (b.mul(b.reshape(g, shape=keep), b.exp(b.sub(x, b.reshape(out, shape=keep)))),)


register("lse", "reduce", _lse_infer, _lse_ref, [
    ([("f32", (4, 5), "any")],),
    ([("f64", (2, 3, 7), "any")],),
    ([("f32", (6,), "any")],),
], _lse_vjp)


def _take_infer(types, attrs):
    x, t = types
    require(t.dtype.is_int, f"take_class needs integer class indices, got {t}")
    require(x.ndim >= 1, f"take_class needs a class axis (last) in {x}")
    require(x.ndim == 1 or x.shape[:-1] == t.shape,
            f"take_class: indices {t} must have the shape of {x} without its last (class) axis")
    return tensor_type(t.shape, x.dtype)


def _take_ref(x, t, ignore=None):
    c = x.shape[-1]
    skip = t == ignore if ignore is not None else np.zeros(t.shape, bool)
    bad = ~skip & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"class index {t[bad].ravel()[0]} is out of range for {c} classes")
    if c == 0:
        return np.zeros(t.shape, x.dtype)
    safe = np.where(skip, 0, t)
    got = x[safe] if x.ndim == 1 else np.take_along_axis(x, safe[..., None], -1)[..., 0]
    return np.where(skip, np.zeros((), x.dtype), got).astype(x.dtype)


def class_index_dtype(x_dtype, c: int):
    """The dtype class indices are compared in: x's float dtype where it holds 0..c exactly
    (so the gradient's loop over (..., C) reads no 8-byte integers and stays 8 lanes wide; the
    losses compute the same cast of their target forward, which cse merges), else int64."""
    exact = {4: 1 << 24, 8: 1 << 53}.get(x_dtype.itemsize if x_dtype.is_float else 0, 0)
    return x_dtype if c < exact else None


def _take_vjp_hot(b, x, t, ignore):
    """(x's columns == t, as a (..., C) bool): an ignored index (also one inside [0, C))
    matches no column."""
    c = x.shape[-1]
    dt = class_index_dtype(x.dtype, c)
    tt = b.cast(t, dtype=dt) if dt is not None else t
    if ignore is not None and 0 <= ignore < c:
        tt = b.where(b.eq(tt, b.const(ignore, tt.dtype)), b.const(-1, tt.dtype), tt)
    return (b.eq(b.reshape(tt, shape=t.shape + (1,)), b.const(np.arange(c), tt.dtype)),)


def _take_vjp(b, g, x, t, out, ignore=None):
    (hot,) = _take_vjp_hot(b, x, t, ignore)
    return b.where(hot, b.reshape(g, shape=g.shape + (1,)), b.const(0, x.dtype)), None


def _take_indices(n):
    ignore = n.attrs.get("ignore")
    return (1, n.inputs[0].shape[-1], 0, ignore) if ignore is not None else \
        (1, n.inputs[0].shape[-1])


register("take_class", "index", _take_infer, _take_ref, [
    ([("f32", (4, 5), "any"), ("i64", (4,), "int:5")], {"ignore": 2}),
    ([("f64", (2, 3, 4), "any"), ("i64", (2, 3), "int:4")], {"ignore": -100}),
    ([("f32", (5,), "any"), ("i64", (3, 2), "int:5")], {"ignore": -100}),
], _take_vjp, indices=_take_indices)


# ---- cross-entropy of class indices in one pass per row, forward and backward -------------------

def _xent_infer(types, attrs):
    x, t = types
    require(x.dtype.is_float, f"xent needs float logits, got {x}")
    require(t.dtype.is_int, f"xent needs integer class indices, got {t}")
    require(x.ndim >= 1 and x.shape[:-1] == t.shape,
            f"xent: indices {t} must have the shape of {x} without its last (class) axis")
    return tensor_type(t.shape, x.dtype)


def _xent_ref(x, t, ignore=None):
    skip = t == ignore if ignore is not None else np.zeros(t.shape, bool)
    nll = _lse_ref(x) - _take_ref(x, t, ignore)
    return np.where(skip, np.zeros((), x.dtype), nll).astype(x.dtype)


def _xent_vjp(b, g, x, t, out, ignore=None):
    lse = b.add(out, b.take_class(x, t, ignore=ignore))   # lse - x[t] + x[t] (unused if ignored)
    return b.xent_grad(x, t, lse, g, ignore=ignore), None


register("xent", "reduce", _xent_infer, _xent_ref, [
    ([("f32", (4, 5), "any"), ("i64", (4,), "int:5")], {"ignore": 2}),
    ([("f64", (2, 3, 6), "any"), ("i64", (2, 3), "int:6")], {"ignore": -100}),
], _xent_vjp, indices=_take_indices)


def _xent_grad_infer(types, attrs):
    x, t, lse, g = types
    require(x.dtype.is_float and t.dtype.is_int, f"xent_grad: float logits and integer indices, "
                                                 f"got {x}, {t}")
    require(x.shape[:-1] == t.shape == lse.shape == g.shape and lse.dtype == g.dtype == x.dtype,
            f"xent_grad: {t}, {lse} and {g} must have the shape of {x} without its class axis")
    return tensor_type(x.shape, x.dtype)


def _xent_parts(b, x, t, lse, ignore):
    """(keep (..., 1), exp(x - lse), one-hot compare) as graph values, for xent_grad's rule."""
    keep = b.reshape(b.ne(t, ignore) if ignore is not None else b.eq(t, t), shape=t.shape + (1,))
    p = b.exp(b.sub(x, b.reshape(lse, shape=t.shape + (1,))))
    (hot,) = _take_vjp_hot(b, x, t, ignore)
    return keep, p, hot


def _xent_grad_ref(x, t, lse, g, ignore=None):
    _take_ref(x, t, ignore)   # the index check
    skip = t == ignore if ignore is not None else np.zeros(t.shape, bool)
    safe = np.where(skip, -1, t)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.exp(x - lse[..., None]) * g[..., None]
        out = out - np.where(np.arange(x.shape[-1]) == safe[..., None], g[..., None], 0)
    return np.where(skip[..., None], np.zeros((), x.dtype), out).astype(x.dtype)


def _xent_grad_vjp(b, ct, x, t, lse, g, out, ignore=None):
    keep, p, hot = _xent_parts(b, x, t, lse, ignore)
    zero = b.const(0, x.dtype)
    ctk = b.where(keep, ct, zero)                        # no gradient through ignored rows
    cpg = b.mul(b.mul(ctk, p), b.reshape(g, shape=g.shape + (1,)))
    dg = b.sum(b.sub(b.mul(ctk, p), b.where(hot, ctk, zero)), axis=(x.type.ndim - 1,))
    return cpg, None, b.neg(b.sum(cpg, axis=(x.type.ndim - 1,))), dg


register("xent_grad", "reduce", _xent_grad_infer, _xent_grad_ref, [
    ([("f32", (4, 5), "any"), ("i64", (4,), "int:5"), ("f32", (4,), "any"),
      ("f32", (4,), "any")], {"ignore": 1}),
    ([("f64", (3, 7), "any"), ("i64", (3,), "int:7"), ("f64", (3,), "any"),
      ("f64", (3,), "any")], {"ignore": -100}),
], _xent_grad_vjp, indices=_take_indices)
