"""Kernels of the class-axis loss ops (graphc/ir/ops/loss.py): `lse` and `take_class`.

`lse` reads each row twice while it is in cache: a vector maximum, then a vector sum of
exp(x - max) through libmvec (16 floats or 8 doubles a step), and writes log(sum) + max; `xent`
does the same and subtracts the row's target logit (skipping ignored rows); `xent_grad` writes
(exp(x - lse) - onehot) * g in one pass (zeros for ignored rows). Rows are independent, so large
inputs are split by rows over the thread pool (the same bits for any thread count).
`take_class` is a scalar loop over the indices.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ....ir.graph import Node
from .. import irhelp as H
from . import emit_blocked, pool_tasks, register_kernel
from .elementwise import mathcall

_ROWS_ELEMS_PER_TASK = 1 << 15   # split lse over the pool from about 32K elements per task


def _chunks(c: int, dt):
    """How a row of c elements is swept: a loop of w = 2 x lanes wide steps (two libmvec calls)
    to `end`, then at most one lanes-wide step and one lanes-wide tail padded beyond the row
    (start, valid lanes), so that every exp is a vector call even for c = 10."""
    lanes = 8 if dt.itemsize == 4 else 4
    w = 2 * lanes
    end = c // w * w
    rest, s = [], end
    if c - s >= lanes:
        rest.append((s, lanes))
        s += lanes
    if c > s:
        rest.append((s, c - s))
    return w, lanes, end, rest


def _load_chunk(b: ir.IRBuilder, xp, dt, base, start: int, lanes: int, valid: int, pad):
    """x[base + start : + valid] as a `lanes` vector, lanes beyond `valid` set to `pad`."""
    off = b.add(base, H.i64(start))
    if valid == lanes:
        return H.load(b, xp, dt, off, lanes)
    v = H.const(dt, pad, lanes)
    for i in range(valid):
        v = b.insert_element(v, H.load(b, xp, dt, b.add(off, H.i64(i))), ir.Constant(H.I32, i))
    return v


def _store_chunk(b: ir.IRBuilder, v, yp, dt, base, start: int, lanes: int, valid: int) -> None:
    off = b.add(base, H.i64(start))
    if valid == lanes:
        H.store(b, v, yp, dt, off, lanes)
        return
    for i in range(valid):
        H.store(b, b.extract_element(v, ir.Constant(H.I32, i)), yp, dt, b.add(off, H.i64(i)))


def _row_shift(cx_factory, b: ir.IRBuilder, xp, base, c: int, dt):
    """The row's maximum where it is finite, else 0 (the shift that keeps exp in range)."""
    w, lanes, end, rest = _chunks(c, dt)
    neg_inf = float("-inf")

    def gt_max(p, q):
        return b.select(b.fcmp_ordered(">", p, q), p, q)

    def vmax(j, carried):
        return [gt_max(H.load(b, xp, dt, b.add(base, j), w), carried[0])]
    m = H.const(dt, neg_inf)
    if end:
        (mv,) = H.loop(b, end, vmax, [H.const(dt, neg_inf, w)], step=w, name="mx")
        m = H.hreduce(b, mv, w, gt_max)
    for start, valid in rest:
        m = gt_max(H.hreduce(b, _load_chunk(b, xp, dt, base, start, lanes, valid, neg_inf),
                             lanes, gt_max), m)
    absm = b.call(cx_factory(b, 1).intrinsic("fabs", H.scalar_type(dt)), [m])
    return b.select(b.fcmp_ordered("<", absm, H.const(dt, math.inf)), m, H.const(dt, 0.0))


def _row_lse(cx_factory, b: ir.IRBuilder, xp, base, c: int, dt):
    """log(sum(exp(x[base:base + c] - shift))) + shift, the sum in a fixed order."""
    shift = _row_shift(cx_factory, b, xp, base, c, dt)
    w, lanes, end, rest = _chunks(c, dt)
    cxw, cxl, cx1 = cx_factory(b, w), cx_factory(b, lanes), cx_factory(b, 1)
    vshift = H.splat(b, shift, w)

    def vsum(j, carried):
        e = mathcall(cxw, "exp", dt, b.fsub(H.load(b, xp, dt, b.add(base, j), w), vshift))
        return [b.fadd(carried[0], e)]
    s = H.const(dt, 0.0)
    if end:
        (sv,) = H.loop(b, end, vsum, [H.const(dt, 0.0, w)], step=w, name="se")
        s = H.hsum(b, sv, w, fast=())
    for start, valid in rest:   # padding: exp(-inf) adds 0
        v = _load_chunk(b, xp, dt, base, start, lanes, valid, float("-inf"))
        e = mathcall(cxl, "exp", dt, b.fsub(v, H.splat(b, shift, lanes)))
        s = b.fadd(s, H.hsum(b, e, lanes, fast=()))
    return b.fadd(mathcall(cx1, "log", dt, s), shift)


def _class_index(b: ir.IRBuilder, tp, tdt, r, c: int, ignore, err):
    """(index, skip: it is the ignored value, bad: out of range otherwise) for row r; a bad
    index sets the error flag."""
    k = H.load(b, tp, tdt, r)
    k = k if k.type == H.I64 else b.sext(k, H.I64)
    skip = b.icmp_signed("==", k, H.i64(ignore)) if ignore is not None else ir.Constant(H.I1, 0)
    bad = b.and_(b.not_(skip), b.or_(b.icmp_signed("<", k, H.i64(0)),
                                      b.icmp_signed(">=", k, H.i64(c))))
    with b.if_then(bad, likely=False):
        b.store(ir.Constant(H.I32, 1), err)
    return k, skip, bad


def _emit_rows(mb, b, slots, node: Node, err, name: str, rows_fn) -> None:
    """A kernel over the rows of node.inputs[0] (..., C): rows_fn(cx_factory, builder, ptrs,
    r0, r1, err) emits rows r0 <= r < r1; large inputs split into row blocks over the pool."""
    x = node.inputs[0]
    c = x.shape[-1]
    rows = math.prod(x.shape[:-1])
    args = [mb.pointer(b, slots, v) for v in list(node.inputs) + list(node.outputs)]
    emit_blocked(mb, b, args, err, name, rows, pool_tasks(rows, rows * c, _ROWS_ELEMS_PER_TASK),
                 lambda bb, ptrs, r0, r1, kerr: rows_fn(mb.cx, bb, ptrs, r0, r1, kerr))


@register_kernel("lse", whole=True)
def emit_lse(mb, b, slots, node: Node, err, name: str) -> None:
    """log-sum-exp over the last axis."""
    x = node.inputs[0]
    c, dt = x.shape[-1], x.dtype

    def rows(cxf, kb, ptrs, r0, r1, kerr):
        def row(r, _):
            H.store(kb, _row_lse(cxf, kb, ptrs[0], kb.mul(r, H.i64(c)), c, dt), ptrs[1], dt, r)
            return []
        H.loop(kb, r1, row, start=r0, name="row")
    _emit_rows(mb, b, slots, node, err, name, rows)


@register_kernel("xent", whole=True)
def emit_xent(mb, b, slots, node: Node, err, name: str) -> None:
    """lse(row) - row[t] per row, 0 (and no work) for an ignored row."""
    x, t = node.inputs
    c, dt, ignore = x.shape[-1], x.dtype, node.attrs.get("ignore")

    def rows(cxf, kb, ptrs, r0, r1, kerr):
        xp, tp, yp = ptrs

        def row(r, _):
            k, skip, bad = _class_index(kb, tp, t.dtype, r, c, ignore, kerr)
            H.store(kb, H.const(dt, 0.0), yp, dt, r)
            with kb.if_then(kb.not_(kb.or_(skip, bad))):
                base = kb.mul(r, H.i64(c))
                lse = _row_lse(cxf, kb, xp, base, c, dt)
                H.store(kb, kb.fsub(lse, H.load(kb, xp, dt, kb.add(base, k))), yp, dt, r)
            return []
        H.loop(kb, r1, row, start=r0, name="row")
    _emit_rows(mb, b, slots, node, err, name, rows)


@register_kernel("xent_grad", whole=True)
def emit_xent_grad(mb, b, slots, node: Node, err, name: str) -> None:
    """(exp(row - lse) - onehot(t)) * g per row, zeros for an ignored row."""
    x, t, _, _ = node.inputs
    c, dt, ignore = x.shape[-1], x.dtype, node.attrs.get("ignore")
    w, lanes, end, rest = _chunks(c, dt)

    def rows(cxf, kb, ptrs, r0, r1, kerr):
        xp, tp, lp, gp, yp = ptrs
        cxw, cxl = cxf(kb, w), cxf(kb, lanes)

        def row(r, _):
            k, skip, bad = _class_index(kb, tp, t.dtype, r, c, ignore, kerr)
            base = kb.mul(r, H.i64(c))
            with kb.if_else(kb.or_(skip, bad)) as (zero, live):
                with zero:
                    if end:
                        H.loop(kb, end, lambda j, cc: H.store(
                            kb, H.const(dt, 0.0, w), yp, dt, kb.add(base, j), w) or [],
                            step=w, name="z")
                    for start, valid in rest:
                        _store_chunk(kb, H.const(dt, 0.0, lanes), yp, dt, base, start, lanes,
                                     valid)
                with live:
                    lse, g = H.load(kb, lp, dt, r), H.load(kb, gp, dt, r)

                    def p(v, cx, wv):
                        e = mathcall(cx, "exp", dt, kb.fsub(v, H.splat(kb, lse, wv)))
                        return kb.fmul(e, H.splat(kb, g, wv))
                    if end:
                        H.loop(kb, end, lambda j, cc: H.store(
                            kb, p(H.load(kb, xp, dt, kb.add(base, j), w), cxw, w), yp, dt,
                            kb.add(base, j), w) or [], step=w, name="p")
                    for start, valid in rest:
                        v = _load_chunk(kb, xp, dt, base, start, lanes, valid, 0.0)
                        _store_chunk(kb, p(v, cxl, lanes), yp, dt, base, start, lanes, valid)
                    at = kb.add(base, k)
                    H.store(kb, kb.fsub(H.load(kb, yp, dt, at), g), yp, dt, at)
            return []
        H.loop(kb, r1, row, start=r0, name="row")
    _emit_rows(mb, b, slots, node, err, name, rows)


@register_kernel("take_class")
def emit_take_class(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """y[i] = x[row i, t[i]] (x[t[i]] for a table), 0 where t[i] == ignore; a bad index sets err."""
    x, t = node.inputs
    y = node.outputs[0]
    c = x.shape[-1]
    n = math.prod(t.shape)
    ignore = node.attrs.get("ignore")
    table = x.type.ndim == 1

    def at(i, _):
        k = H.load(b, ins[1], t.dtype, i)
        k = k if k.type == H.I64 else b.sext(k, H.I64)
        skip = b.icmp_signed("==", k, H.i64(ignore)) if ignore is not None else \
            ir.Constant(H.I1, 0)
        bad = b.and_(b.not_(skip), b.or_(b.icmp_signed("<", k, H.i64(0)),
                                          b.icmp_signed(">=", k, H.i64(c))))
        with b.if_then(bad, likely=False):
            b.store(ir.Constant(H.I32, 1), err)
        zero = H.const(y.dtype, 0)
        if c == 0:
            H.store(b, zero, out, y.dtype, i)
            return []
        safe = b.select(b.or_(skip, bad), H.i64(0), k)
        off = safe if table else b.add(b.mul(i, H.i64(c)), safe)
        v = H.load(b, ins[0], x.dtype, off)
        H.store(b, b.select(skip, zero, v), out, y.dtype, i)
        return []
    H.loop(b, n, at, name="t")
