"""Data-movement kernels: a reshape's copy, transpose, slice and pad.

Plain loop nests over the output (or, for pad, over the operand after zeroing the output); LLVM
vectorises what it can. Each is a plain kernel (see kernels.py: `ins` and `out` are pointers,
shapes and attrs come from the node) except transpose and concat, whole kernels split over the
pool, and slice, a whole kernel whose start is an offset of its operand's pointer.
"""
from __future__ import annotations

import llvmlite.ir as ir

from ....ir.graph import Node
from .. import irhelp as H
from . import emit_blocked, pool_tasks, register_kernel


@register_kernel("reshape")
def emit_reshape_copy(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out,
                      err) -> None:
    """A reshape that cannot alias its operand (e.g. a graph output of its own): one memcpy."""
    H.memcpy(b, module, out, ins[0], node.outputs[0].type.nbytes)


_TRANSPOSE_ELEMS_PER_TASK = 1 << 15   # split over the pool from about 32K elements per task


@register_kernel("transpose", whole=True)
def emit_transpose(mb, b, slots, node: Node, err, name: str) -> None:
    """y[i...] = x[i permuted by attrs["perm"]]: a loop nest over y, its first axis split into
    blocks over the thread pool when large (a copy: the same bits for any split). Where the
    last axis stays last ((C, N, L) -> (N, C, L), a convolution's output to NCHW), each run of
    it is one memcpy."""
    x, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    perm = node.attrs["perm"]
    xs = H.row_major(x.shape)
    src_strides = [xs[p] for p in perm]
    ys = H.row_major(y.shape)
    args = [mb.pointer(b, slots, v) for v in (x, y)]
    if len(y.shape) == 0 or y.type.size == 0:
        emit_blocked(mb, b, args, err, name, 1, 1, lambda bb, ptrs, lo, hi, e: H.memcpy(
            bb, mb.module, ptrs[1], ptrs[0], y.type.nbytes))
        return
    run = len(y.shape) > 1 and perm[-1] == len(y.shape) - 1 and y.shape[-1] > 1
    nest = y.shape[:-1] if run else y.shape

    def element(bb, xp, yp, idx):
        if run:
            H.memcpy(bb, mb.module, H.gep(bb, yp, dt, H.offset(bb, idx, ys)),
                     H.gep(bb, xp, dt, H.offset(bb, idx, src_strides)),
                     y.shape[-1] * dt.itemsize)
        else:
            H.store(bb, H.load(bb, xp, dt, H.offset(bb, idx, src_strides)), yp, dt,
                    H.offset(bb, idx, ys))

    def block(bb, ptrs, lo, hi, _err):
        H.loop(bb, hi, lambda i, _: H.loop_nest(bb, nest, lambda idx: element(bb, *ptrs, idx),
                                                idx=(i,)) or [], start=lo, name="t0")
    emit_blocked(mb, b, args, err, name, nest[0],
                 pool_tasks(nest[0], y.type.size, _TRANSPOSE_ELEMS_PER_TASK), block)


@register_kernel("slice", whole=True)
def emit_slice(mb, b, slots, node: Node, err, name: str) -> None:
    """y[i...] = x[start + i * step] per dimension: the start is an offset added to x's pointer
    in the caller, so every slice of one shape and step (x[t] for each t of a recurrence) is
    one function."""
    x, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    xs = H.row_major(x.shape)
    start, step = node.attrs["start"], node.attrs["step"]
    base = sum(s0 * st for s0, st in zip(start, xs))
    src = [st * k for st, k in zip(xs, step)]
    ys = H.row_major(y.shape)
    args = [H.gep(b, mb.pointer(b, slots, x), dt, H.i64(base)), mb.pointer(b, slots, y)]
    key = ("slice", str(x.type), str(y.type), tuple(step))

    def block(bb, ptrs, lo, hi, _err):
        H.loop_nest(bb, y.shape, lambda idx: H.store(
            bb, H.load(bb, ptrs[0], dt, H.offset(bb, idx, src)), ptrs[1], dt,
            H.offset(bb, idx, ys)))
    emit_blocked(mb, b, args, err, name, 1, 1, block, key=key)


@register_kernel("pad")
def emit_pad(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """Zeros, then x's elements at lo + i * (interior + 1) per dimension."""
    x, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    H.memset0(b, module, out, y.type.nbytes)
    ys = H.row_major(y.shape)
    lo, interior = node.attrs["lo"], node.attrs["interior"]
    base = sum(lo_ * s for lo_, s in zip(lo, ys))
    dst = [s * (i + 1) for s, i in zip(ys, interior)]
    xs = H.row_major(x.shape)
    H.loop_nest(b, x.shape, lambda idx: H.store(
        b, H.load(b, ins[0], dt, H.offset(b, idx, xs)), out, dt, H.offset(b, idx, dst, base)))


@register_kernel("concat", whole=True)
def emit_concat(mb, b, slots, node: Node, err, name: str) -> None:
    """y = x0, x1, ... side by side along `axis`: for each index of the axes before it, each
    operand's contiguous run (its axis and the rest) is one memcpy into place; the outer index
    is split over the pool when large (a copy: the same bits for any split)."""
    y = node.outputs[0]
    dt = y.dtype
    axis = node.attrs["axis"]
    outer = 1
    for s in y.shape[:axis]:
        outer *= s
    inner = y.type.size // max(1, outer * y.shape[axis]) if y.type.size else 0
    total = y.shape[axis] * inner
    args = [mb.pointer(b, slots, v) for v in node.inputs] + [mb.pointer(b, slots, y)]

    def block(bb, ptrs, lo, hi, _err):
        *ins, out = ptrs

        def row(o, _):
            off = 0
            for x, p in zip(node.inputs, ins):
                run = x.shape[axis] * inner
                if run:
                    H.memcpy(bb, mb.module,
                             H.gep(bb, out, dt, bb.add(bb.mul(o, H.i64(total)), H.i64(off))),
                             H.gep(bb, p, dt, bb.mul(o, H.i64(run))), run * dt.itemsize)
                off += run
            return []
        H.loop(bb, hi, row, start=lo, name="o")
    emit_blocked(mb, b, args, err, name, outer,
                 pool_tasks(outer, y.type.size, _TRANSPOSE_ELEMS_PER_TASK), block)
