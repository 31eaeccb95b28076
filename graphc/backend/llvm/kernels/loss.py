"""Kernels of the class-axis loss ops (graphc/ir/ops/loss.py): `lse` and `take_class`.

`lse` reads each row twice while it is in cache: a vector maximum, then a vector sum of
exp(x - max) through libmvec (two independent accumulators of 8 floats or 4 doubles), and writes
log(sum) + max. Rows are independent, so large inputs are split by rows over the thread pool
(the same bits for any thread count). `take_class` is a scalar loop over the indices.
"""
from __future__ import annotations

import math

import llvmlite.ir as ir

from ....ir.graph import Node
from .. import irhelp as H
from .elementwise import mathcall
from . import register_kernel

_ROWS_ELEMS_PER_TASK = 1 << 15   # split lse over the pool from about 32K elements per task
_MAX_TASKS = 8


def _lse_rows(cx_factory, b: ir.IRBuilder, xp, yp, r0, r1, c: int, dt) -> None:
    """y[r] = log(sum(exp(x[r, :] - m))) + m for rows r0 <= r < r1 (m: the row max if finite)."""
    lanes = 8 if dt.itemsize == 4 else 4
    w = 2 * lanes
    st = H.scalar_type(dt)
    nvec = c // w * w
    neg_inf = float("-inf")

    def gt_max(p, q):
        return b.select(b.fcmp_ordered(">", p, q), p, q)

    def row(r, _):
        base = b.mul(r, H.i64(c))

        def vmax(j, carried):
            v = H.load(b, xp, dt, b.add(base, j), w)
            return [gt_max(v, carried[0])]

        def smax(j, carried):
            return [gt_max(H.load(b, xp, dt, b.add(base, j)), carried[0])]
        m = H.const(dt, neg_inf)
        if nvec:
            (mv,) = H.loop(b, nvec, vmax, [H.const(dt, neg_inf, w)], step=w, name="mx")
            m = H.hreduce(b, mv, w, gt_max)
        (m,) = H.loop(b, c, smax, [m], start=nvec, name="mxs")
        absm = b.call(cx_factory(b, 1).intrinsic("fabs", st), [m])
        shift = b.select(b.fcmp_ordered("<", absm, H.const(dt, math.inf)), m, H.const(dt, 0.0))
        cxw, cx1 = cx_factory(b, w), cx_factory(b, 1)
        vshift = H.splat(b, shift, w)

        def vsum(j, carried):
            v = H.load(b, xp, dt, b.add(base, j), w)
            e = mathcall(cxw, "exp", dt, b.fsub(v, vshift))
            return [b.fadd(carried[0], e)]

        def ssum(j, carried):
            v = H.load(b, xp, dt, b.add(base, j))
            return [b.fadd(carried[0], mathcall(cx1, "exp", dt, b.fsub(v, shift)))]
        s = H.const(dt, 0.0)
        if nvec:
            (sv,) = H.loop(b, nvec, vsum, [H.const(dt, 0.0, w)], step=w, name="se")
            s = H.hsum(b, sv, w, fast=())
        (s,) = H.loop(b, c, ssum, [s], start=nvec, name="ses")
        H.store(b, b.fadd(mathcall(cx1, "log", dt, s), shift), yp, dt, r)
        return []
    H.loop(b, r1, row, start=r0, name="row")


@register_kernel("lse", whole=True)
def emit_lse(mb, b, slots, node: Node, err, name: str) -> None:
    """log-sum-exp over the last axis, split by rows over the pool when the input is large."""
    x, y = node.inputs[0], node.outputs[0]
    c = x.shape[-1]
    rows = math.prod(x.shape[:-1])
    args = [mb.pointer(b, slots, x), mb.pointer(b, slots, y)]
    kf, kb = mb.kernel_function(name, len(args) + 1)
    for a in kf.args[:-1]:
        a.add_attribute("noalias")
    tasks = max(1, min(_MAX_TASKS, rows, rows * c // _ROWS_ELEMS_PER_TASK))
    if tasks == 1:
        _lse_rows(mb.cx, kb, kf.args[0], kf.args[1], H.i64(0), H.i64(rows), c, x.dtype)
    else:
        per = -(-rows // tasks)
        task, tb, vals = mb.pool_task(name + "_task", 2)
        r0 = tb.mul(task.args[1], H.i64(per))
        r1 = tb.add(r0, H.i64(per))
        r1 = tb.select(tb.icmp_signed("<", r1, H.i64(rows)), r1, H.i64(rows))
        _lse_rows(mb.cx, tb, vals[0], vals[1], r0, r1, c, x.dtype)
        tb.ret_void()
        mb.run_on_pool(kb, task, list(kf.args[:2]), tasks)
    kb.ret_void()
    b.call(kf, args + [err])


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
