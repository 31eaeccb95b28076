"""Indexing kernels: one_hot and argmax.

Plain kernels (see kernels.py): `ins` and `out` are pointers, shapes and attrs come from the
node. An index out of range sets the error flag instead of writing out of bounds.
"""
from __future__ import annotations

import llvmlite.ir as ir
import numpy as np

from ....ir.graph import Node
from .. import irhelp as H
from . import register_kernel


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
