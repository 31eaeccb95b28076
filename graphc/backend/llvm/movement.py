"""Kernels for the ops that are not elementwise, reductions or matmuls: data movement and indexing.

Plain loop nests over the output; LLVM vectorises what it can. Index checks set the error flag
instead of reading out of bounds.
"""
from __future__ import annotations

import llvmlite.ir as ir
import numpy as np

from ...ir.graph import Node
from . import irhelp as H


def _row_major(shape) -> list[int]:
    out, acc = [0] * len(shape), 1
    for d in reversed(range(len(shape))):
        out[d] = acc
        acc *= shape[d]
    return out


def _nest(b, shape, fn, idx=()):
    """Call fn(list of i64 indices) inside loops over `shape`."""
    if len(idx) == len(shape):
        fn(list(idx))
        return
    d = len(idx)
    H.loop(b, shape[d], lambda i, c: (_nest(b, shape, fn, idx + (i,)), [])[1], name=f"m{d}")


def _dot(b, idx, strides, base=0):
    off = H.i64(base)
    for i, s in zip(idx, strides):
        if s:
            off = b.add(off, b.mul(i, H.i64(s)))
    return off


def memcpy(b: ir.IRBuilder, module: ir.Module, dst, src, nbytes: int) -> None:
    """Emit llvm.memcpy of `nbytes` from `src` to `dst` (nothing if nbytes <= 0)."""
    if nbytes <= 0:
        return
    name = "llvm.memcpy.p0.p0.i64"
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(H.VOID, [H.PTR, H.PTR, H.I64, H.I1]), name)
    b.call(fn, [dst, src, H.i64(nbytes), ir.Constant(H.I1, 0)])


def memset0(b: ir.IRBuilder, module: ir.Module, dst, nbytes: int) -> None:
    """Emit llvm.memset zeroing `nbytes` at `dst` (nothing if nbytes <= 0)."""
    if nbytes <= 0:
        return
    name = "llvm.memset.p0.i64"
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(H.VOID, [H.PTR, H.I8, H.I64, H.I1]), name)
    b.call(fn, [dst, ir.Constant(H.I8, 0), H.i64(nbytes), ir.Constant(H.I1, 0)])


def emit_misc(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """`ins` and `out` are pointers; shapes and attrs come from the node."""
    op = node.op
    y = node.outputs[0]
    dt = y.dtype
    if op in ("reshape", "constant_copy"):
        memcpy(b, module, out, ins[0], y.type.nbytes)
        return
    if op == "transpose":
        x = node.inputs[0]
        perm = node.attrs["perm"]
        xs = _row_major(x.shape)
        src_strides = [xs[p] for p in perm]
        ys = _row_major(y.shape)
        _nest(b, y.shape, lambda idx: H.store(
            b, H.load(b, ins[0], dt, _dot(b, idx, src_strides)), out, dt, _dot(b, idx, ys)))
        return
    if op == "slice":
        x = node.inputs[0]
        xs = _row_major(x.shape)
        start, step = node.attrs["start"], node.attrs["step"]
        base = sum(s0 * st for s0, st in zip(start, xs))
        src = [st * k for st, k in zip(xs, step)]
        ys = _row_major(y.shape)
        _nest(b, y.shape, lambda idx: H.store(
            b, H.load(b, ins[0], dt, _dot(b, idx, src, base)), out, dt, _dot(b, idx, ys)))
        return
    if op == "pad":
        x = node.inputs[0]
        memset0(b, module, out, y.type.nbytes)
        ys = _row_major(y.shape)
        lo, interior = node.attrs["lo"], node.attrs["interior"]
        base = sum(l * s for l, s in zip(lo, ys))
        dst = [s * (i + 1) for s, i in zip(ys, interior)]
        xs = _row_major(x.shape)
        _nest(b, x.shape, lambda idx: H.store(
            b, H.load(b, ins[0], dt, _dot(b, idx, xs)), out, dt, _dot(b, idx, dst, base)))
        return
    if op == "one_hot":
        idx_v = node.inputs[0]
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
        return
    if op == "argmax":
        x = node.inputs[0]
        axis = node.attrs.get("axis")
        shape = x.shape if axis is not None else (int(np.prod(x.shape)) if x.shape else 1,)
        ax = axis if axis is not None else 0
        xs = _row_major(shape)
        outer = [d for d in range(len(shape)) if d != ax]
        ostr = _row_major([shape[d] for d in outer])
        cx_max = _ArgmaxState(b, x.dtype)

        def at(idx):
            def step(k, carry):
                full = list(idx)
                full.insert(ax, k)
                v = H.load(b, ins[0], x.dtype, _dot(b, full, xs))
                return cx_max.update(carry, v, k)
            init = cx_max.init(b, H.load(b, ins[0], x.dtype, _dot(b, [*idx[:ax], H.i64(0),
                                                                         *idx[ax:]], xs)))
            best, arg = H.loop(b, shape[ax], step, init, start=1, name="am")
            H.store(b, arg, out, y.dtype, _dot(b, idx, ostr))
        _nest(b, [shape[d] for d in outer], at)
        return
    raise NotImplementedError(f"no LLVM kernel for op {op}")


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
