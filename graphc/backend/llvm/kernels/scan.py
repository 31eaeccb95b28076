"""Scan kernels: `cumsum` and `cumprod` along one axis.

The tensor is viewed as (outer, n, inner) around the scanned axis. For each outer index the
kernel walks the n positions in order (from the end when `reverse`), carrying a running sum
(product) per inner position: W inner positions at a time in one vector register, the rest one by
one. The carries are float64 (float operands) or int64 (wrapping) and rounded once per result, in
a fixed sequential order, so the results equal the interpreter's bit for bit for any thread count.
"""
from __future__ import annotations

import math

from llvmlite import ir

from .... import dtypes
from ....ir.graph import Node
from .. import irhelp as H
from . import register_kernel
from .elementwise import convert

W = 8  # inner positions per vector step: 8 floats in, 2 x 4 doubles of running sums


# op -> (identity, combine(builder, carry, value, is_float))
_SCANS = {
    "cumsum": (0, lambda b, a, v, f: b.fadd(a, v) if f else b.add(a, v)),
    "cumprod": (1, lambda b, a, v, f: b.fmul(a, v) if f else b.mul(a, v)),
}


@register_kernel(*_SCANS)
def emit_scan(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """y = cumsum(x) / cumprod(x) along attrs["axis"] (attrs["reverse"]: from the end)."""
    identity, combine = _SCANS[node.op]
    x, y = node.inputs[0], node.outputs[0]
    shape = x.shape or (1,)
    axis, reverse = node.attrs["axis"], node.attrs.get("reverse", False)
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    acc_dt = dtypes.float64 if y.dtype.is_float else dtypes.int64
    if outer * n * inner == 0:
        return
    xp, yp = ins[0], out

    def scan(o, i, w):
        """Running sums over the axis for w inner positions from i, outer index o."""
        base = b.add(b.mul(o, H.i64(n * inner)), i)

        def step(k, carried):
            (acc,) = carried
            kk = b.sub(H.i64(n - 1), k) if reverse else k
            off = b.add(base, b.mul(kk, H.i64(inner)))
            v = convert(b, H.load(b, xp, x.dtype, off, w), x.dtype, acc_dt, w)
            acc = combine(b, acc, v, acc_dt.is_float)
            H.store(b, convert(b, acc, acc_dt, y.dtype, w), yp, y.dtype, off, w)
            return [acc]
        H.loop(b, n, step, [H.const(acc_dt, identity, w)], name="scan")

    n_vec = inner // W * W

    def row(o, _):
        if n_vec:
            H.loop(b, n_vec, lambda i, c: (scan(o, i, W), [])[1], step=W, name="vec")
        if n_vec < inner:
            H.loop(b, inner, lambda i, c: (scan(o, i, 1), [])[1], start=n_vec, name="rest")
        return []
    H.loop(b, outer, row, name="outer")
