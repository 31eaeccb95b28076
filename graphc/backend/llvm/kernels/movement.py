"""Data-movement kernels: a reshape's copy, transpose, slice and pad.

Plain loop nests over the output (or, for pad, over the operand after zeroing the output); LLVM
vectorises what it can. Each is a plain kernel (see kernels.py): `ins` and `out` are pointers,
shapes and attrs come from the node.
"""
from __future__ import annotations

import llvmlite.ir as ir

from ....ir.graph import Node
from .. import irhelp as H
from . import register_kernel


@register_kernel("reshape")
def emit_reshape_copy(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out,
                      err) -> None:
    """A reshape that cannot alias its operand (e.g. a graph output of its own): one memcpy."""
    H.memcpy(b, module, out, ins[0], node.outputs[0].type.nbytes)


@register_kernel("transpose")
def emit_transpose(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """y[i...] = x[i permuted by attrs["perm"]]."""
    x, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    xs = H.row_major(x.shape)
    src_strides = [xs[p] for p in node.attrs["perm"]]
    ys = H.row_major(y.shape)
    H.loop_nest(b, y.shape, lambda idx: H.store(
        b, H.load(b, ins[0], dt, H.offset(b, idx, src_strides)), out, dt, H.offset(b, idx, ys)))


@register_kernel("slice")
def emit_slice(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """y[i...] = x[start + i * step] per dimension."""
    x, y = node.inputs[0], node.outputs[0]
    dt = y.dtype
    xs = H.row_major(x.shape)
    start, step = node.attrs["start"], node.attrs["step"]
    base = sum(s0 * st for s0, st in zip(start, xs))
    src = [st * k for st, k in zip(xs, step)]
    ys = H.row_major(y.shape)
    H.loop_nest(b, y.shape, lambda idx: H.store(
        b, H.load(b, ins[0], dt, H.offset(b, idx, src, base)), out, dt, H.offset(b, idx, ys)))


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
