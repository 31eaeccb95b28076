"""Indexing kernels: scatter, take, put, one_hot and argmax (gather is a loop-kernel op).

Plain kernels (see kernels/__init__.py): `ins` and `out` are pointers, shapes and attrs come from
the node. An index out of range sets the error flag instead of reading or writing out of bounds.
Scatter and put visit the index in row-major order on one thread: accumulations happen in the
order of the NumPy rules, so the results are the same bits.
"""
from __future__ import annotations

import llvmlite.ir as ir
import numpy as np

from ....ir.graph import Node
from .. import irhelp as H
from . import register_kernel


def _index(b: ir.IRBuilder, ptr, dt, at, size: int, wrap: bool, err):
    """The index stored at element `at` as an i64 in [0, size) (wrapped from [-size, 0) if
    `wrap`); outside, the error flag is set and 0 returned."""
    k = H.load(b, ptr, dt, at)
    k = k if k.type == H.I64 else b.sext(k, H.I64)
    if wrap:
        k = b.select(b.icmp_signed("<", k, H.i64(0)), b.add(k, H.i64(size)), k)
    bad = b.or_(b.icmp_signed("<", k, H.i64(0)), b.icmp_signed(">=", k, H.i64(size)))
    with b.if_then(bad, likely=False):
        b.store(ir.Constant(H.I32, 1), err)
    return b.select(bad, H.i64(0), k)


def _size(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def _no_rows(b, module, node, idx_v, out, err, copy_from=None) -> bool:
    """An axis of size 0 (every index is out of range): emit the error and the result; True."""
    x = node.inputs[0]
    if x.shape[node.attrs["axis"]] != 0:
        return False
    if idx_v.type.size:
        b.store(ir.Constant(H.I32, 1), err)
    y = node.outputs[0]
    if copy_from is None:
        H.memset0(b, module, out, y.type.nbytes)
    else:
        H.memcpy(b, module, out, copy_from, y.type.nbytes)
    return True


def _combine(b, dt, reduce: str, old, new):
    """old (reduce) new for scatter: add, multiply, NaN-propagating amax/amin, or assign."""
    if reduce == "assign":
        return new
    f = dt.is_float
    if reduce == "add":
        return b.fadd(old, new) if f else b.add(old, new)
    if reduce == "multiply":
        return b.fmul(old, new) if f else b.mul(old, new)
    big = reduce == "amax"
    if f:
        pick = b.fcmp_unordered("uno", new, new)
        pick = b.or_(pick, b.fcmp_ordered(">" if big else "<", new, old))
    elif dt.name == "u8":
        pick = b.icmp_unsigned(">" if big else "<", new, old)
    else:
        pick = b.icmp_signed(">" if big else "<", new, old)
    return b.select(pick, new, old)


@register_kernel("scatter")
def emit_scatter(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """out = x; then for each index position p (row-major): out[p, axis <- idx[p]] (op)= src[p]."""
    x, idx_v, src = node.inputs
    dt, axis = x.dtype, node.attrs["axis"]
    if _no_rows(b, module, node, idx_v, out, err, ins[0]):
        return
    H.memcpy(b, module, out, ins[0], x.type.nbytes)
    if not idx_v.type.size:
        return
    xs, ss, ids = H.row_major(x.shape), H.row_major(src.shape), H.row_major(idx_v.shape)

    def at(p):
        k = _index(b, ins[1], idx_v.dtype, H.offset(b, p, ids), x.shape[axis], False, err)
        dst = H.offset(b, p[:axis] + [k] + p[axis + 1:], xs)
        new = H.load(b, ins[2], dt, H.offset(b, p, ss))
        H.store(b, _combine(b, dt, node.attrs["reduce"], H.load(b, out, dt, dst), new),
                out, dt, dst)
    H.loop_nest(b, idx_v.shape, at, name="sc")


def _rows(node):
    """(outer, n, inner, k): x as [outer, n, inner] around the axis, k = number of indices."""
    x, idx_v = node.inputs[:2]
    axis = node.attrs["axis"]
    return (_size(x.shape[:axis]), x.shape[axis], _size(x.shape[axis + 1:]), idx_v.type.size)


@register_kernel("take")
def emit_take(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """out[o, j, i] = x[o, idx[j], i]: one contiguous row of `inner` elements per index."""
    x, idx_v = node.inputs
    dt, wrap = x.dtype, bool(node.attrs.get("wrap"))
    if _no_rows(b, module, node, idx_v, out, err) or not node.outputs[0].type.size:
        return
    outer, n, inner, k = _rows(node)

    def row(o, j):
        r = _index(b, ins[1], idx_v.dtype, j, n, wrap, err)
        src = b.mul(b.add(b.mul(o, H.i64(n)), r), H.i64(inner))
        dst = b.mul(b.add(b.mul(o, H.i64(k)), j), H.i64(inner))
        H.loop(b, inner, lambda i, c: H.store(b, H.load(b, ins[0], dt, b.add(src, i)), out, dt,
                                              b.add(dst, i)) or [], name="tk")
    H.loop_nest(b, (outer, k), lambda p: row(*p), name="tr")


@register_kernel("put")
def emit_put(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """out = x; then out[o, idx[j], i] = (or +=) v[o, j, i], in the order of j."""
    x, idx_v, _ = node.inputs
    dt, wrap = x.dtype, bool(node.attrs.get("wrap"))
    if _no_rows(b, module, node, idx_v, out, err, ins[0]):
        return
    H.memcpy(b, module, out, ins[0], x.type.nbytes)
    if not idx_v.type.size:
        return
    outer, n, inner, k = _rows(node)
    add = node.attrs["accumulate"]

    def row(o, j):
        r = _index(b, ins[1], idx_v.dtype, j, n, wrap, err)
        dst = b.mul(b.add(b.mul(o, H.i64(n)), r), H.i64(inner))
        src = b.mul(b.add(b.mul(o, H.i64(k)), j), H.i64(inner))

        def elem(i, c):
            v = H.load(b, ins[2], dt, b.add(src, i))
            if add:
                v = _combine(b, dt, "add", H.load(b, out, dt, b.add(dst, i)), v)
            H.store(b, v, out, dt, b.add(dst, i))
            return []
        H.loop(b, inner, elem, name="pt")
    H.loop_nest(b, (outer, k), lambda p: row(*p), name="pr")


@register_kernel("one_hot")
def emit_one_hot(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """Row i of the result is 1 at column index[i], 0 elsewhere; a bad index sets `err`."""
    idx_v, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    C = node.attrs["num_classes"]
    n = int(np.prod(idx_v.shape)) if idx_v.shape else 1

    def row(i, c):
        k = H.load(b, ins[0], idx_v.dtype, i)
        k = k if k.type == H.I64 else b.sext(k, H.I64)
        bad = b.or_(b.icmp_signed("<", k, H.i64(0)), b.icmp_signed(">=", k, H.i64(C)))
        with b.if_then(bad, likely=False):
            b.store(ir.Constant(H.I32, 1), err)

        def col(j, c2):
            H.store(b, b.select(b.icmp_signed("==", j, k), H.const(dt, 1), H.const(dt, 0)),
                    out, dt, b.add(b.mul(i, H.i64(C)), j))
            return []
        H.loop(b, C, col, name="c")
        return []
    H.loop(b, n, row, name="r")


@register_kernel("argmax")
def emit_argmax(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """The first index of the maximum along attrs["axis"] (of the flattened operand if None)."""
    x, y = node.inputs[0], node.outputs[0]
    axis = node.attrs.get("axis")
    shape = x.shape if axis is not None else (int(np.prod(x.shape)) if x.shape else 1,)
    ax = axis if axis is not None else 0
    xs = H.row_major(shape)
    outer = [d for d in range(len(shape)) if d != ax]
    ostr = H.row_major([shape[d] for d in outer])
    state = _ArgmaxState(b, x.dtype)

    def at(idx):
        def step(k, carry):
            full = list(idx)
            full.insert(ax, k)
            v = H.load(b, ins[0], x.dtype, H.offset(b, full, xs))
            return state.update(carry, v, k)
        init = state.init(b, H.load(b, ins[0], x.dtype, H.offset(b, [*idx[:ax], H.i64(0),
                                                                     *idx[ax:]], xs)))
        best, arg = H.loop(b, shape[ax], step, init, start=1, name="am")
        H.store(b, arg, out, y.dtype, H.offset(b, idx, ostr))
    H.loop_nest(b, [shape[d] for d in outer], at)


class _ArgmaxState:
    """First index of the maximum; NaN wins (as np.argmax)."""

    def __init__(self, b, dt):
        self.b, self.dt = b, dt

    def init(self, b, first):
        """The carry (best value, its index) starting from the first element."""
        return [first, H.i64(0)]

    def update(self, carry, v, k):
        """The carry after element `v` at index `k`: v wins if larger, or if NaN and best is not."""
        b = self.b
        best, arg = carry
        if self.dt.is_float:
            best_nan = b.fcmp_unordered("uno", best, best)
            take = b.and_(b.not_(best_nan), b.or_(b.fcmp_ordered(">", v, best),
                                                  b.fcmp_unordered("uno", v, v)))
        elif self.dt.name == "u8" or self.dt.is_bool:
            take = b.icmp_unsigned(">", v, best)
        else:
            take = b.icmp_signed(">", v, best)
        return [b.select(take, v, best), b.select(take, k, arg)]
