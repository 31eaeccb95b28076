"""The kernels of max pooling's primitives (graphc/ir/ops/pool.py): `max_pool_index` and
`max_pool` (its values, for inference).

It walks the planes (the leading axes' product; blocks of planes are pool tasks when large,
planes are independent so the bits never depend on the thread count), and in each plane every
output position's window in row-major order, clipped to the input: the best value starts at
-inf and its index at the window's first element, and an element is taken when it is greater
or NaN, PyTorch's loop and the interpreter's rule exactly.
"""
from __future__ import annotations

from llvmlite import ir

from .... import dtypes
from ....ir.graph import Node
from ....ir.ops.pool import geometry
from .. import irhelp as H
from . import emit_blocked, pool_tasks, register_kernel

_ELEMS_PER_TASK = 1 << 15   # split over the pool from about 32K input elements per task


def _window(b: ir.IRBuilder, o, stride: int, pad: int, dilation: int, k: int, size: int):
    """[first, end) of the in-bounds rows (columns) of position o's window, as i64 values."""
    start = b.sub(b.mul(o, H.i64(stride)), H.i64(pad))
    if pad:
        skip = b.sdiv(b.add(b.neg(start), H.i64(dilation - 1)), H.i64(dilation))
        first = b.select(b.icmp_signed("<", start, H.i64(0)),
                         b.add(start, b.mul(skip, H.i64(dilation))), start)
    else:
        first = start
    end = b.add(start, H.i64((k - 1) * dilation + 1))
    return first, b.select(b.icmp_signed("<", end, H.i64(size)), end, H.i64(size))


@register_kernel("max_pool_index", "max_pool", whole=True)
def emit_max_pool_index(mb, b, slots, node: Node, err, name: str) -> None:
    """index[p, oh*Wo + ow] = the flat ih*W + iw of the window's first maximum (or last NaN);
    for `max_pool`, that element's value instead (the same walk)."""
    values = node.op == "max_pool"
    x = node.inputs[0]
    dt = x.dtype
    h, w = x.shape[-2:]
    g = geometry(node.attrs)
    (kh, kw), (dh, dw), (sh, sw), (ph, pw), (ho, wo) = (g[k] for k in
                                                        ("kernel", "dilation", "stride",
                                                         "padding", "out"))
    planes = x.type.size // (h * w)
    args = [mb.pointer(b, slots, v) for v in (x, node.outputs[0])]
    # the window's running maximum starts below every value: -inf, or an integer type's least
    lowest = H.const(dt, float("-inf") if dt.is_float else
                     (0 if dt.name == "u8" else -(1 << (8 * dt.itemsize - 1))))

    def greater(bb, v, best):
        if dt.is_float:    # NaN wins (PyTorch's rule): it is taken and stays
            return bb.or_(bb.fcmp_ordered(">", v, best), bb.fcmp_unordered("uno", v, v))
        return (bb.icmp_unsigned if dt.name == "u8" else bb.icmp_signed)(">", v, best)

    def plane(b, xp, out, p):
        xb = b.mul(p, H.i64(h * w))
        ob = b.mul(p, H.i64(ho * wo))

        def row(oh, _):
            ih0, ih1 = _window(b, oh, sh, ph, dh, kh, h)

            def col(ow, _):
                iw0, iw1 = _window(b, ow, sw, pw, dw, kw, w)

                def tap_row(ih, carry):
                    at = b.mul(ih, H.i64(w))

                    def tap(iw, carry):
                        best, idx = carry
                        here = b.add(at, iw)
                        v = H.load(b, xp, dt, b.add(xb, here))
                        take = greater(b, v, best)
                        return [b.select(take, v, best), b.select(take, here, idx)]
                    return H.loop(b, iw1, tap, carry, start=iw0, step=dw, name="iw")
                first = b.add(b.mul(ih0, H.i64(w)), iw0)
                best, idx = H.loop(b, ih1, tap_row, [lowest, first], start=ih0, step=dh,
                                   name="ih")
                at = b.add(ob, b.add(b.mul(oh, H.i64(wo)), ow))
                if values:
                    H.store(b, best, out, dt, at)
                else:
                    H.store(b, idx, out, dtypes.int64, at)
                return []
            H.loop(b, wo, col, name="ow")
            return []
        H.loop(b, ho, row, name="oh")

    def block(bb, ptrs, p0, p1, _err):
        H.loop(bb, p1, lambda p, _: plane(bb, *ptrs, p) or [], start=p0, name="plane")
    emit_blocked(mb, b, args, err, name, planes,
                 pool_tasks(planes, x.type.size, _ELEMS_PER_TASK), block)
