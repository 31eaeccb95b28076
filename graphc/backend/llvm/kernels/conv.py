"""Kernels of convolution's primitives (graphc/ir/ops/conv.py): `unfold` (im2col) and `fold`.

Both walk the N*C planes in a loop; the kernel offsets (i, j) are unrolled at compile time, so
for each offset the rows and columns that fall inside the input are known constants: `unfold`
zero-fills the rest with memsets and copies each valid row segment (a constant-size memcpy at
stride 1, a strided loop otherwise); `fold` zeroes its output, then adds each offset's row
segments in (i, j) order — the interpreter's order, so both backends give the same bits.
"""
from __future__ import annotations

from llvmlite import ir

from ....ir.graph import Node
from ....ir.ops.conv import blocks
from .. import irhelp as H
from . import register_kernel


def _valid(n_out: int, size: int, stride: int, shift: int) -> tuple[int, int]:
    """[lo, hi): the output positions o with 0 <= o * stride + shift < size (clipped to n_out)."""
    lo = -(shift // stride) if shift < 0 else 0   # ceil(-shift / stride)
    hi = min(n_out, (size - 1 - shift) // stride + 1) if size - 1 - shift >= 0 else 0
    return lo, max(lo, hi)


def _taps(node: Node, spatial):
    """For each kernel offset in order: (row r, (oh_lo, oh_hi, ih shift), (ow_lo, ow_hi, iw shift))."""
    a = node.attrs
    (kh, kw), (dh, dw), (sh, sw) = a["kernel"], a["dilation"], a["stride"]
    (ph, pw) = a["pad_lo"]
    h, w = spatial
    ho, wo = _grid_of(node)
    for i in range(kh):
        for j in range(kw):
            yh, yw = i * dh - ph, j * dw - pw
            yield i * kw + j, (*_valid(ho, h, sh, yh), yh), (*_valid(wo, w, sw, yw), yw)


def _grid_of(node: Node) -> tuple[int, int]:
    """(Ho, Wo): the block grid of the node's unfolded side."""
    a = node.attrs
    spatial = node.inputs[0].shape[2:] if node.op == "unfold" else a["output_size"]
    return tuple(blocks(n, *(a[k][d] for k in ("kernel", "dilation", "stride", "pad_lo",
                                                 "pad_hi")))
                 for d, n in enumerate(spatial))


def _at(b: ir.IRBuilder, ptr, dt, index):
    return H.gep(b, ptr, dt, index if isinstance(index, ir.Value) else H.i64(index))


@register_kernel("unfold")
def emit_unfold(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """cols[n, c*K + r, oh*Wo + ow] = x[n, c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] or 0."""
    x = node.inputs[0]
    dt, isz = x.dtype, x.dtype.itemsize
    n, c, h, w = x.shape
    ho, wo = _grid_of(node)
    k = node.attrs["kernel"][0] * node.attrs["kernel"][1]
    sh, sw = node.attrs["stride"]
    big_l = ho * wo

    def plane(p, _):
        xb = b.mul(p, H.i64(h * w))
        ob = b.mul(p, H.i64(k * big_l))
        for r, (oh0, oh1, yh), (ow0, ow1, yw) in _taps(node, (h, w)):
            rb = b.add(ob, H.i64(r * big_l))
            if oh1 <= oh0 or ow1 <= ow0:
                H.memset0(b, module, _at(b, out, dt, rb), big_l * isz)
                continue
            H.memset0(b, module, _at(b, out, dt, rb), oh0 * wo * isz)
            H.memset0(b, module, _at(b, out, dt, b.add(rb, H.i64(oh1 * wo))),
                      (ho - oh1) * wo * isz)

            def row(oh, _, rb=rb, yh=yh, ow0=ow0, ow1=ow1, yw=yw):
                dst = b.add(rb, b.mul(oh, H.i64(wo)))
                ih = b.add(b.mul(oh, H.i64(sh)), H.i64(yh))
                src = b.add(xb, b.mul(ih, H.i64(w)))
                H.memset0(b, module, _at(b, out, dt, dst), ow0 * isz)
                H.memset0(b, module, _at(b, out, dt, b.add(dst, H.i64(ow1))), (wo - ow1) * isz)
                if sw == 1:
                    H.memcpy(b, module, _at(b, out, dt, b.add(dst, H.i64(ow0))),
                             _at(b, ins[0], dt, b.add(src, H.i64(ow0 + yw))), (ow1 - ow0) * isz)
                else:
                    H.loop(b, ow1, lambda ow, _: H.store(
                        b, H.load(b, ins[0], dt, b.add(src, b.add(b.mul(ow, H.i64(sw)),
                                                                    H.i64(yw)))),
                        out, dt, b.add(dst, ow)) or [], start=ow0, name="ow")
                return []
            H.loop(b, oh1, row, start=oh0, name="oh")
        return []
    H.loop(b, n * c, plane, name="plane")


@register_kernel("fold")
def emit_fold(b: ir.IRBuilder, module: ir.Module, node: Node, ins: list, out, err) -> None:
    """y = 0, then y[n, c, ih, iw] += cols[n, c*K + r, oh*Wo + ow] for r = (i, j) in order."""
    y = node.outputs[0]
    dt = y.dtype
    n, c, h, w = y.shape
    ho, wo = _grid_of(node)
    k = node.attrs["kernel"][0] * node.attrs["kernel"][1]
    sh, sw = node.attrs["stride"]
    big_l = ho * wo
    H.memset0(b, module, out, y.type.nbytes)
    add = b.fadd if dt.is_float else b.add

    def plane(p, _):
        yb = b.mul(p, H.i64(h * w))
        cb = b.mul(p, H.i64(k * big_l))
        for r, (oh0, oh1, yh), (ow0, ow1, yw) in _taps(node, (h, w)):
            if oh1 <= oh0 or ow1 <= ow0:
                continue

            def row(oh, _, r=r, yh=yh, ow0=ow0, ow1=ow1, yw=yw):
                src = b.add(cb, b.add(H.i64(r * big_l), b.mul(oh, H.i64(wo))))
                ih = b.add(b.mul(oh, H.i64(sh)), H.i64(yh))
                dst = b.add(yb, b.add(b.mul(ih, H.i64(w)), H.i64(yw)))

                def col(ow, _):
                    at = b.add(dst, b.mul(ow, H.i64(sw)) if sw != 1 else ow)
                    H.store(b, add(H.load(b, out, dt, at), H.load(b, ins[0], dt, b.add(src, ow))),
                            out, dt, at)
                    return []
                H.loop(b, ow1, col, start=ow0, name="ow")
                return []
            H.loop(b, oh1, row, start=oh0, name="oh")
        return []
    H.loop(b, n * c, plane, name="plane")
