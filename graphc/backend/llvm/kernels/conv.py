"""Kernels of convolution's primitives (graphc/ir/ops/conv.py): `unfold` (im2col) and `fold`.

Both walk the N*C planes (split into blocks of planes over the thread pool when large: planes
are independent, so the bits do not depend on the thread count). `unfold` unrolls the kernel
offsets (i, j) at compile time, so for each offset the rows and columns that fall inside the
input are known constants: it zero-fills the rest with memsets and copies each valid row
segment (a constant-size memcpy at stride 1, a strided loop otherwise). `fold` zeroes its
plane, then adds each offset's row segments in (i, j) order — the interpreter's order, so both
backends give the same bits — a vector of W elements at a time at stride 1 (written out: left
to LLVM, the loop vectoriser gathers and scatters across rows instead); its kernel rows i are a
loop (their valid output rows computed at run time), its column offsets j unrolled.
With `batch_last` the columns are (C*K, N*L): plane (n, c)'s row r starts at (c*K + r)*N*L + n*L
instead of ((n*C + c)*K + r)*L; nothing else changes.
"""
from __future__ import annotations

from llvmlite import ir

from ....ir.graph import Node
from ....ir.ops.conv import blocks
from .. import irhelp as H
from . import emit_blocked, pool_tasks, register_kernel


def _valid(n_out: int, size: int, stride: int, shift: int) -> tuple[int, int]:
    """[lo, hi): the output positions o with 0 <= o * stride + shift < size (clipped to n_out)."""
    lo = -(shift // stride) if shift < 0 else 0   # ceil(-shift / stride)
    hi = min(n_out, (size - 1 - shift) // stride + 1) if size - 1 - shift >= 0 else 0
    return lo, max(lo, hi)


def _valid_at_run_time(b: ir.IRBuilder, n_out: int, size: int, stride: int, shift):
    """_valid for a shift known at run time (an i64): (lo, hi) as i64 values."""
    lo = b.sdiv(b.add(b.neg(shift), H.i64(stride - 1)), H.i64(stride))   # ceil(-shift / stride)
    lo = b.select(b.icmp_signed(">", lo, H.i64(0)), lo, H.i64(0))
    last = b.sub(H.i64(size - 1), shift)
    hi = b.add(b.sdiv(last, H.i64(stride)), H.i64(1))
    hi = b.select(b.icmp_signed("<", hi, H.i64(n_out)), hi, H.i64(n_out))
    hi = b.select(b.icmp_signed("<", last, H.i64(0)), H.i64(0), hi)
    return lo, b.select(b.icmp_signed("<", hi, lo), lo, hi)


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


def _cols_rows(b: ir.IRBuilder, node: Node, p, channels: int, k: int, big_l: int):
    """(row base of plane p's first column row, stride between its K rows) in the columns."""
    if not node.attrs.get("batch_last"):
        return b.mul(p, H.i64(k * big_l)), big_l
    n = b.udiv(p, H.i64(channels))
    c = b.urem(p, H.i64(channels))
    n_imgs = node.inputs[0].shape[0] if node.op == "unfold" else node.outputs[0].shape[0]
    row = k * n_imgs * big_l
    return b.add(b.mul(c, H.i64(row)), b.mul(n, H.i64(big_l))), n_imgs * big_l


_PLANE_ELEMS_PER_TASK = 1 << 16   # split over the pool from about 64K column entries per task
W = 8                              # fold's vector width at stride 1


def _emit_planes(mb, b, slots, node: Node, err, name: str, plane_fn) -> None:
    """A kernel over the N*C planes: plane_fn(builder, module, (src, dst), p) emits plane p; large
    nodes run blocks of planes as pool tasks."""
    image = node.outputs[0] if node.op == "fold" else node.inputs[0]   # the (N, C, H, W) side
    planes = image.shape[0] * image.shape[1]
    work = node.inputs[0].type.size if node.op == "fold" else node.outputs[0].type.size
    args = [mb.pointer(b, slots, v) for v in (node.inputs[0], node.outputs[0])]

    def block(bb, ptrs, p0, p1, _err):
        H.loop(bb, p1, lambda p, _: plane_fn(bb, mb.module, ptrs, p) or [], start=p0,
               name="plane")
    emit_blocked(mb, b, args, err, name, planes,
                 pool_tasks(planes, work, _PLANE_ELEMS_PER_TASK), block)


@register_kernel("unfold", whole=True)
def emit_unfold(mb, b, slots, node: Node, err, name: str) -> None:
    """cols[n, c*K + r, oh*Wo + ow] = x[n, c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] or 0."""
    x = node.inputs[0]
    dt, isz = x.dtype, x.dtype.itemsize
    _, channels, h, w = x.shape
    ho, wo = _grid_of(node)
    k = node.attrs["kernel"][0] * node.attrs["kernel"][1]
    sh, sw = node.attrs["stride"]
    big_l = ho * wo

    def plane(b, module, ptrs, p):
        xp, out = ptrs
        xb = b.mul(p, H.i64(h * w))
        ob, rs = _cols_rows(b, node, p, channels, k, big_l)
        for r, (oh0, oh1, yh), (ow0, ow1, yw) in _taps(node, (h, w)):
            rb = b.add(ob, H.i64(r * rs))
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
                             _at(b, xp, dt, b.add(src, H.i64(ow0 + yw))), (ow1 - ow0) * isz)
                else:
                    H.loop(b, ow1, lambda ow, _: H.store(
                        b, H.load(b, xp, dt, b.add(src, b.add(b.mul(ow, H.i64(sw)),
                                                                H.i64(yw)))),
                        out, dt, b.add(dst, ow)) or [], start=ow0, name="ow")
                return []
            H.loop(b, oh1, row, start=oh0, name="oh")
    _emit_planes(mb, b, slots, node, err, name, plane)


@register_kernel("fold", whole=True)
def emit_fold(mb, b, slots, node: Node, err, name: str) -> None:
    """y = 0, then y[n, c, ih, iw] += cols[n, c*K + r, oh*Wo + ow] for r = (i, j) in order."""
    y = node.outputs[0]
    dt = y.dtype
    _, channels, h, w = y.shape
    ho, wo = _grid_of(node)
    k = node.attrs["kernel"][0] * node.attrs["kernel"][1]
    sh, sw = node.attrs["stride"]
    big_l = ho * wo

    def plane(b, module, ptrs, p):
        cp, out = ptrs
        add = b.fadd if dt.is_float else b.add
        yb = b.mul(p, H.i64(h * w))
        cb, rs = _cols_rows(b, node, p, channels, k, big_l)
        H.memset0(b, module, _at(b, out, dt, yb), h * w * dt.itemsize)
        (kh, kw), (dh, dw), (ph, pwd) = (node.attrs[k] for k in ("kernel", "dilation", "pad_lo"))

        def kernel_row(i, _):
            """Kernel row i's offsets (i, 0..kw-1) in order; its output rows oh0..oh1 (those
            whose input row lies inside y) are computed here, so the IR holds one copy of each
            column offset rather than kh*kw (LLVM spent seconds on LeNet-5's 25 unrolled)."""
            yh = b.sub(b.mul(i, H.i64(dh)), H.i64(ph))
            oh0, oh1 = _valid_at_run_time(b, ho, h, sh, yh)
            for j in range(kw):
                yw = j * dw - pwd
                ow0, ow1 = _valid(wo, w, sw, yw)
                if ow1 <= ow0:
                    continue
                r = b.add(b.mul(i, H.i64(kw)), H.i64(j))

                def row(oh, _, r=r, ow0=ow0, ow1=ow1, yw=yw):
                    src = b.add(cb, b.add(b.mul(r, H.i64(rs)), b.mul(oh, H.i64(wo))))
                    ih = b.add(b.mul(oh, H.i64(sh)), yh)
                    dst = b.add(yb, b.add(b.mul(ih, H.i64(w)), H.i64(yw)))

                    def col(ow, _, vw=1):
                        at = b.add(dst, b.mul(ow, H.i64(sw)) if sw != 1 else ow)
                        H.store(b, add(H.load(b, out, dt, at, vw),
                                       H.load(b, cp, dt, b.add(src, ow), vw)), out, dt, at, vw)
                        return []
                    vec_end = ow0 + (ow1 - ow0) // W * W if sw == 1 else ow0
                    if vec_end > ow0:
                        H.loop(b, vec_end, lambda ow, c: col(ow, c, W), start=ow0, step=W,
                               name="owv")
                    H.loop(b, ow1, col, start=vec_end, name="ow")
                    return []
                H.loop(b, oh1, row, start=oh0, name="oh")
            return []
        H.loop(b, kh, kernel_row, name="kh")
    _emit_planes(mb, b, slots, node, err, name, plane)
