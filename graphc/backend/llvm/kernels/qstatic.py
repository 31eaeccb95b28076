"""Static int8 kernels (graphc/ir/ops/qstatic.py holds the reference semantics):

- `quantize` / `dequantize`: elementwise lowering rules (they fuse into loop kernels);
  quantize is one `llvm.fma` (x * inv + zp, one rounding), clamp, `llvm.rint`; dequantize is
  an int32 subtract and one multiply (no `contract` flag: an FMA with a following add would
  change the bits);
- `qbinary`: torch's quantized add (its vectorised rounding for the first n - n % block
  elements, its scalar rounding for the tail) and mul, one loop;
- `qgemm`: the requantizing int8 GEMM. It reuses the dynamic Linear kernel's register tiles
  (kernels/qlinear.py `QLinearKernel.tile`: `vpmaddubsw` + `vpmaddwd` on AVX2, `vpdpbusd` with
  AVX-512 VNNI, a portable scalar path otherwise) on the u8 rows as stored, with fbgemm's
  requantization as the epilogue; row blocks are split over the thread pool. Every product
  and partial sum is an exact integer, so any split and either instruction set give the same
  bits.

u8 x s8 products summed in pairs by `vpmaddubsw` saturate at int16 when both activations of a
pair are large: 2 * 255 * 128 > 32767. torch's x86 default qconfigs quantize activations to 7
bits (reduce_range=True, q <= 127: 2 * 127 * 128 = 32512 fits), so the AVX2 path is exact there.
With 8-bit activations (reduce_range=False) fbgemm's AVX2 kernels can saturate there (torch on an
AVX2-only CPU then differs from the exact sum; with VNNI it is exact). graphc stays exact on every
path: on AVX2 without VNNI each row block first ORs its bytes, and a block with a byte above 127
runs the portable scalar dot products (exact, slower) instead of pmaddubsw.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from .... import dtypes
from .. import irhelp as H
from . import elementwise as E
from . import register_kernel
from .qlinear import (QLinearKernel, pack_tasks, packed, panel_width, rows_of_task,
                      rows_per_task)

F32, I32, U8 = dtypes.float32, dtypes.int32, dtypes.uint8
_QRANGE = {"u8": (0, 255), "i8": (-128, 127), "i32": (-(1 << 31), (1 << 31) - 1)}


def _fconst(v, w):
    return H.const(F32, float(v), w)


# ---- quantize / dequantize: elementwise rules -------------------------------------------------

def _quantize_rule(cx, args, node):
    """clamp(rne(fma(x, inv, zp)), qmin, qmax) on f32 lanes; NaN -> qmax."""
    b, w = cx.b, cx.w
    (x,) = args
    dt = node.outputs[0].dtype
    lo, hi = _QRANGE[dt.name]
    scale = np.float32(node.attrs["scale"])
    inv = np.float32(np.float32(1) / scale)
    t = b.call(cx.intrinsic("fma", x.type, 3),
               [x, _fconst(inv, w), _fconst(np.float32(node.attrs["zero_point"]), w)])
    if dt.name == "i32":   # saturate at the int32 limits, as torch's double clamp
        big = b.fcmp_unordered(">=", t, _fconst(2.0 ** 31, w))        # NaN too
        small = b.fcmp_ordered("<=", t, _fconst(-2.0 ** 31, w))
        r = b.fptosi(b.call(cx.intrinsic("rint", x.type), [t]), H.vtype(I32, w))
        r = b.select(big, H.const(I32, hi, w), r)
        return b.select(small, H.const(I32, lo, w), r)
    t = b.select(b.fcmp_unordered("!=", t, t), _fconst(hi, w), t)    # NaN -> qmax
    t = b.select(b.fcmp_ordered("<", t, _fconst(lo, w)), _fconst(lo, w), t)
    t = b.select(b.fcmp_ordered(">", t, _fconst(hi, w)), _fconst(hi, w), t)
    r = b.fptosi(b.call(cx.intrinsic("rint", x.type), [t]), H.vtype(I32, w))
    return b.trunc(r, H.vtype(dt, w))


def _dequantize_rule(cx, args, node):
    """fl(fl(scale) * float(q - zp)) with q - zp in int32 (args arrive widened to i32)."""
    b, w = cx.b, cx.w
    (q,) = args
    d = b.sub(q, H.const(I32, int(node.attrs["zero_point"]), w))
    return b.fmul(_fconst(np.float32(node.attrs["scale"]), w), b.sitofp(d, H.vtype(F32, w)))


E.RULES.update({"quantize": _quantize_rule, "dequantize": _dequantize_rule})
E.COMPUTE_DTYPE.update({"quantize": lambda node: F32, "dequantize": lambda node: I32})


# ---- qbinary: torch's quantized add / mul -------------------------------------------------------

@register_kernel("qbinary")
def emit_qbinary(b: ir.IRBuilder, module: ir.Module, node, ins: list, out, err) -> None:
    """One loop over the elements: the vector-path rounding below n - n % block, the scalar
    tail's after (add), or the integer product requantized (mul)."""
    a = node.attrs
    n = int(np.prod(node.inputs[0].shape, dtype=np.int64))
    nv = n - n % int(a.get("block", 64))
    cx = E.Ctx(b, module, 1, False)
    fma = cx.intrinsic("fma", H.F32, 3)
    rint = cx.intrinsic("rint", H.F32)
    f = lambda v: ir.Constant(H.F32, float(np.float32(v)))
    i = lambda v: ir.Constant(H.I32, int(v))
    sa, sb, inv = np.float32(a["a_scale"]), np.float32(a["b_scale"]), \
        np.float32(np.float32(1) / np.float32(a["scale"]))
    zo, relu = int(a["zero_point"]), bool(a.get("relu", False))
    lo = zo if (relu and a["binop"] == "mul") else 0

    def clamp_i(r, lo_, hi_):
        r = b.select(b.icmp_signed("<", r, i(lo_)), i(lo_), r)
        return b.select(b.icmp_signed(">", r, i(hi_)), i(hi_), r)

    def to_int(t):   # rne, saturating far outside [0, 255] before the int conversion
        t = b.select(b.fcmp_unordered("!=", t, t), f(-1024), t)
        t = b.select(b.fcmp_ordered("<", t, f(-1024)), f(-1024), t)
        t = b.select(b.fcmp_ordered(">", t, f(1024)), f(1024), t)
        return b.fptosi(b.call(rint, [t]), H.I32)

    def body(k, c):
        qa = b.zext(H.load(b, ins[0], U8, k), H.I32)
        qb = b.zext(H.load(b, ins[1], U8, k), H.I32)
        if a["binop"] == "mul":
            m = np.float32(np.float32(sa * sb) * inv)
            prod = b.mul(b.sub(qa, i(a["a_zp"])), b.sub(qb, i(a["b_zp"])))
            r = b.add(to_int(b.fmul(b.sitofp(prod, H.F32), f(m))), i(zo))
        else:
            vec = b.icmp_signed("<", k, H.i64(nv))
            # vector path: fma(q, s, fl(s * -zp)) per operand, then rne(fl(c * inv)) + zp
            da = b.call(fma, [b.sitofp(qa, H.F32), f(sa), f(np.float32(sa * np.float32(-a["a_zp"])))])
            db = b.call(fma, [b.sitofp(qb, H.F32), f(sb), f(np.float32(sb * np.float32(-a["b_zp"])))])
            cv = b.fadd(da, db)
            # scalar tail: fl(s * (q - zp)) per operand, then rne(fl(fl(c * inv) + zp))
            ea = b.fmul(f(sa), b.sitofp(b.sub(qa, i(a["a_zp"])), H.F32))
            eb = b.fmul(f(sb), b.sitofp(b.sub(qb, i(a["b_zp"])), H.F32))
            cs = b.fadd(ea, eb)
            if relu:
                zero = f(0.0)
                cv = b.select(b.fcmp_ordered("<", cv, zero), zero, cv)
                cs = b.select(b.fcmp_ordered("<", cs, zero), zero, cs)
            rv = b.add(to_int(b.fmul(cv, f(inv))), i(zo))
            rs = to_int(b.fadd(b.fmul(cs, f(inv)), f(zo)))
            r = b.select(vec, rv, rs)
        H.store(b, b.trunc(clamp_i(r, lo, 255), H.I8), out, U8, k)
        return []
    H.loop(b, n, body, name="qb")


# ---- qgemm: the requantizing int8 GEMM ----------------------------------------------------------

class QGemmKernel(QLinearKernel):
    """QLinearKernel's register tiles over u8 rows already in memory (stride K), with fbgemm's
    requantizing epilogue instead of the dynamic Linear's float one."""

    def __init__(self, cx_factory, module, b, node, ptrs, rows_ptr, err, avx2, pack=False,
                 panels=None):
        super().__init__(cx_factory, module, b, node, ptrs, rows_ptr, err, avx2)
        # the rows are read at stride Kp: where they are (K) unless the packed form needs them
        # padded to whole k-quads (K % 4 != 0: a copy in scratch, `rows_ptr`); `panels` is
        # the packed weight panels' scratch
        self.packed, self.panels = pack, panels
        self.Kp = 4 * self.K4 if pack else self.K
        self.a_zp = int(node.attrs["a_zp"])
        self.out_zp = int(node.attrs["out_zp"])
        self.L = int(node.attrs.get("rows_per_image", 0))
        self.w_asym = bool(node.attrs.get("w_asym", True))

    def packed_weights(self):
        """Where the packed panels live (their own scratch)."""
        return self.panels

    def out_at(self, i, j):
        """The output index of (row i, column j): row-major, or NCHW with L rows per image."""
        b = self.b
        if not self.L:
            return b.add(b.mul(i, H.i64(self.N)), j)
        img, pos = b.sdiv(i, H.i64(self.L)), b.srem(i, H.i64(self.L))
        return b.add(b.mul(img, H.i64(self.N * self.L)), b.add(b.mul(j, H.i64(self.L)), pos))

    def _rowsum(self, i):
        b = self.b
        base = b.mul(i, H.i64(self.Kp))
        (s,) = H.loop(b, self.K, lambda k, c: [b.add(c[0], b.zext(
            H.load(b, self.scratch, U8, b.add(base, k)), H.I32))], [ir.Constant(H.I32, 0)],
            name="rs")
        return s

    def copy_rows(self, r0, r1):
        """Rows [r0, r1) of the u8 input into scratch at stride Kp, zero-padded (packed form)."""
        b = self.b
        K, Kp = self.K, self.Kp

        def row(r, c):
            dst = b.gep(self.scratch, [b.mul(r, H.i64(Kp))], source_etype=H.I8)
            H.memcpy(b, self.module, dst, b.gep(self.ptrs["x"], [b.mul(r, H.i64(K))],
                                                source_etype=H.I8), K)
            H.memset0(b, self.module, b.gep(dst, [H.i64(K)], source_etype=H.I8), Kp - K)
            return []
        H.loop(b, r1, row, start=r0, name="cr")

    def epilogue(self, i, j, dot, s_x, z):
        """out[i, j] = clamp(rne(fl(fl(float(raw) + bias_div[j]) * mult[j])) + out_zp)."""
        b = self.b
        raw = b.sub(dot, b.mul(ir.Constant(H.I32, self.a_zp),
                               H.load(b, self.ptrs["w_colsum"], I32, j)))
        if not self.w_asym:   # symmetric weights: no row-sum term
            return self._finish(i, j, raw)
        wz = H.load(b, self.ptrs["w_zp"], I32, j)
        # - w_zp[j] * rowsum(a[i]) only for asymmetric weights (torch's defaults are symmetric)
        pre, then_bb = b.block, b.append_basic_block("wzp")
        merge = b.append_basic_block("wzp_end")
        b.cbranch(b.icmp_signed("!=", wz, ir.Constant(H.I32, 0)), then_bb, merge)
        b.position_at_end(then_bb)
        corr = b.mul(wz, self._rowsum(i))
        then_end = b.block
        b.branch(merge)
        b.position_at_end(merge)
        phi = b.phi(H.I32)
        phi.add_incoming(ir.Constant(H.I32, 0), pre)
        phi.add_incoming(corr, then_end)
        self._finish(i, j, b.sub(raw, phi))

    def _finish(self, i, j, raw):
        """The float part of the scalar epilogue and the store."""
        b = self.b
        y = b.fadd(b.sitofp(raw, H.F32), H.load(b, self.ptrs["bias"], F32, j))
        y = b.fmul(y, H.load(b, self.ptrs["w_scale"], F32, j))
        rint = self.cx(1).intrinsic("rint", H.F32)
        lim = ir.Constant(H.F32, 1024.0)
        y = b.select(b.fcmp_unordered("!=", y, y), ir.Constant(H.F32, -1024.0), y)
        y = b.select(b.fcmp_ordered("<", y, b.fneg(lim)), b.fneg(lim), y)
        y = b.select(b.fcmp_ordered(">", y, lim), lim, y)
        r = b.add(b.fptosi(b.call(rint, [y]), H.I32), ir.Constant(H.I32, self.out_zp))
        lo = self.out_zp if self.relu else 0
        r = b.select(b.icmp_signed("<", r, ir.Constant(H.I32, lo)), ir.Constant(H.I32, lo), r)
        r = b.select(b.icmp_signed(">", r, ir.Constant(H.I32, 255)), ir.Constant(H.I32, 255), r)
        H.store(b, b.trunc(r, H.I8), self.ptrs["out"], U8, self.out_at(i, j))

    def _wzp_vec(self, i, raw, wz, W):
        """raw - w_zp * rowsum(a[i]) on W lanes, the row sum computed only if a lane's w_zp
        is not 0."""
        b = self.b
        vi = ir.VectorType(H.I32, W)
        any_wz = H.hreduce(b, wz, W, lambda p, q: b.or_(p, q))
        pre, then_bb = b.block, b.append_basic_block("wzpv")
        merge = b.append_basic_block("wzpv_end")
        b.cbranch(b.icmp_signed("!=", any_wz, ir.Constant(H.I32, 0)), then_bb, merge)
        b.position_at_end(then_bb)
        corr = b.mul(wz, H.splat(b, self._rowsum(i), W))
        then_end = b.block
        b.branch(merge)
        b.position_at_end(merge)
        phi = b.phi(vi)
        phi.add_incoming(ir.Constant(vi, [ir.Constant(H.I32, 0)] * W), pre)
        phi.add_incoming(corr, then_end)
        return b.sub(raw, phi)

    def epilogue_vec(self, i, j0, acc, s_x, z, cnt: int, W: int):
        """The epilogue on W lanes at once (outputs (i, j0..j0+cnt-1); the same arithmetic as
        `epilogue`, lane by lane); lanes past cnt are neither loaded nor stored."""
        b = self.b
        vi, vf = ir.VectorType(H.I32, W), ir.VectorType(H.F32, W)

        def vec(name, dt, ty):
            if cnt == W:
                return H.load(b, self.ptrs[name], dt, j0, W)
            v = ir.Constant(ty, [ir.Constant(ty.element, 0)] * W)
            for lane in range(cnt):
                v = b.insert_element(v, H.load(b, self.ptrs[name], dt, b.add(j0, H.i64(lane))),
                                     ir.Constant(H.I32, lane))
            return v
        raw = b.sub(acc, b.mul(H.splat(b, ir.Constant(H.I32, self.a_zp), W),
                               vec("w_colsum", I32, vi)))
        if self.w_asym:
            raw = self._wzp_vec(i, raw, vec("w_zp", I32, vi), W)
        y = b.fadd(b.sitofp(raw, vf), vec("bias", F32, vf))
        y = b.fmul(y, vec("w_scale", F32, vf))
        lim, nlim = _fconst(1024.0, W), _fconst(-1024.0, W)
        y = b.select(b.fcmp_unordered("!=", y, y), nlim, y)
        y = b.select(b.fcmp_ordered("<", y, nlim), nlim, y)
        y = b.select(b.fcmp_ordered(">", y, lim), lim, y)
        r = b.add(b.fptosi(b.call(self.cx(W).intrinsic("rint", vf), [y]), vi),
                  H.const(I32, self.out_zp, W))
        lo, hi = H.const(I32, self.out_zp if self.relu else 0, W), H.const(I32, 255, W)
        r = b.select(b.icmp_signed("<", r, lo), lo, r)
        r = b.select(b.icmp_signed(">", r, hi), hi, r)
        q = b.trunc(r, ir.VectorType(H.I8, W))
        at = self.out_at(i, j0)
        if cnt == W and not self.L:
            H.store(b, q, self.ptrs["out"], U8, at, W)
            return
        step = self.L or 1      # NCHW: consecutive columns are L bytes apart
        for lane in range(cnt):
            H.store(b, b.extract_element(q, ir.Constant(H.I32, lane)), self.ptrs["out"], U8,
                    b.add(at, H.i64(lane * step)))


# the node's operands, named as QLinearKernel reads them ("x" is the u8 rows, also `scratch`)
_NAMES = ["x", "w_q", "w_colsum", "w_zp", "bias", "w_scale"]


def _ptrs_of(vals):
    """(pointers by name, error flag, panels or None, padded rows or None) of the kernel's
    arguments."""
    d = dict(zip(_NAMES, vals[:6]))
    d["out"] = vals[6]
    extra = list(vals[7:-1]) + [None, None]
    return d, vals[-1], extra[0], extra[1]


@register_kernel("qgemm", whole=True)
def emit_qgemm(mb, b, slots, node, err, name: str) -> None:
    """The requantizing int8 GEMM, a few row blocks (qlinear.rows_per_task) split over the
    thread pool;
    with AVX2 and at least 64 rows the broadcast form over packed weight panels (packed by a
    first pool run), else dot products along k on the rows as stored."""
    avx2 = mb.vector_math
    pack = packed(node, avx2)
    args = [mb.pointer(b, slots, v) for v in node.inputs]
    args.append(mb.pointer(b, slots, node.outputs[0]))
    K = node.inputs[0].shape[1]
    copy = pack and K % 4 != 0     # the packed form reads whole k-quads of every row
    if pack:
        pw = panel_width(avx2)
        n_panels = -(-node.inputs[1].shape[0] // pw)
        args.append(mb.arena_pointer(b, slots, mb.reserve(n_panels * (-(-K // 4)) * 4 * pw)))
        if copy:
            args.append(mb.arena_pointer(b, slots, mb.reserve(
                node.inputs[0].shape[0] * 4 * (-(-K // 4)))))
    kf, kb = mb.kernel_function(name, len(args) + 1)
    for a in kf.args[:-1]:
        a.add_attribute("noalias")
    M = node.inputs[0].shape[0]
    # a few blocks of whole row groups: finer splits cost more in pool hand-offs than they save
    # (a 576-row conv took 4x longer as 36 tasks on two threads)
    rows = rows_per_task(M)
    n_tasks = max(1, -(-M // rows))
    if pack:   # pool run 1: the weight panels
        n_pack = pack_tasks(node, avx2)
        ptask, pb, pvals = mb.pool_task(name + "_pack", len(kf.args))
        pptrs, perr, ppanels, _ = _ptrs_of(pvals)
        pk = QGemmKernel(mb.cx, mb.module, pb, node, pptrs, pptrs["x"], perr, avx2, True,
                         ppanels)
        per = -(-pk.P // n_pack)
        p0 = pb.mul(ptask.args[1], H.i64(per))
        p1 = pb.add(p0, H.i64(per))
        pk.pack_panels(p0, pb.select(pb.icmp_signed("<", p1, H.i64(pk.P)), p1, H.i64(pk.P)))
        pb.ret_void()
        mb.run_on_pool(kb, ptask, list(kf.args), n_pack)
    task, tb, vals = mb.pool_task(name + "_task", len(kf.args))
    ptrs, terr, panels, rows_copy = _ptrs_of(vals)
    r0, r1 = rows_of_task(tb, task.args[1], rows, M)
    s0, z0 = ir.Constant(H.F32, 0.0), ir.Constant(H.I32, 0)
    if pack:
        qk = QGemmKernel(mb.cx, mb.module, tb, node, ptrs, rows_copy if copy else ptrs["x"],
                         terr, avx2, True, panels)
        if copy:
            qk.copy_rows(r0, r1)
    else:
        qk = QGemmKernel(mb.cx, mb.module, tb, node, ptrs, ptrs["x"], terr, avx2)
    if avx2 and not qk.vnni:
        # pmaddubsw's int16 pair sums are exact only for activations <= 127 (7-bit, torch's x86
        # default): a block holding a larger byte takes the exact portable path instead
        K = qk.K
        (hi,) = H.loop(tb, tb.mul(r1, H.i64(K)), lambda k, c: [tb.or_(c[0], H.load(
            tb, ptrs["x"], U8, k))], [ir.Constant(H.I8, 0)], start=tb.mul(r0, H.i64(K)),
            name="hb")
        big = tb.icmp_unsigned(">", hi, ir.Constant(H.I8, 127))
        with tb.if_else(big) as (exact, fast):
            with exact:
                QGemmKernel(mb.cx, mb.module, tb, node, ptrs, ptrs["x"], terr, False) \
                    .gemm_rows(r0, r1, s0, z0)
            with fast:
                (qk.gemm_rows_packed if pack else qk.gemm_rows)(r0, r1, s0, z0)
    else:
        (qk.gemm_rows_packed if pack else qk.gemm_rows)(r0, r1, s0, z0)
    tb.ret_void()
    mb.run_on_pool(kb, task, list(kf.args), n_tasks)
    kb.ret_void()
    b.call(kf, args + [err])


# ---- qim2col: quantized Conv2d's rows ----------------------------------------------------------

@register_kernel("qim2col", whole=True)
def emit_qim2col(mb, b, slots, node, err, name: str) -> None:
    """Each output row (n, oh, ow): for every (c, i, j) the input byte or the zero point;
    rows split into blocks over the thread pool (a copy: the same bits for any split)."""
    from ....ir.ops.qstatic import _qim2col_geometry
    from . import emit_blocked, pool_tasks
    x = node.inputs[0]
    n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo = _qim2col_geometry(x.shape, node.attrs)
    ck, rows = c * kh * kw, n * ho * wo
    pad = ir.Constant(H.I8, int(node.attrs["pad_value"]))
    args = [mb.pointer(b, slots, x), mb.pointer(b, slots, node.outputs[0])]

    def block(bb, ptrs, r0, r1, _err):
        xp, out = ptrs

        def row(r, _):
            img = bb.sdiv(r, H.i64(ho * wo))
            rem = bb.srem(r, H.i64(ho * wo))
            oh, ow = bb.sdiv(rem, H.i64(wo)), bb.srem(rem, H.i64(wo))
            obase = bb.mul(r, H.i64(ck))
            taps = []   # per (i, j): in bounds?, offset in the plane (both per row)
            for i in range(kh):
                ih = bb.add(bb.mul(oh, H.i64(sh)), H.i64(i * dh - ph))
                okh = bb.and_(bb.icmp_signed(">=", ih, H.i64(0)), bb.icmp_signed("<", ih, H.i64(h)))
                for j in range(kw):
                    iw = bb.add(bb.mul(ow, H.i64(sw)), H.i64(j * dw - pw))
                    ok = bb.and_(okh, bb.and_(bb.icmp_signed(">=", iw, H.i64(0)),
                                              bb.icmp_signed("<", iw, H.i64(w))))
                    taps.append((ok, bb.select(ok, bb.add(bb.mul(ih, H.i64(w)), iw), H.i64(0))))

            def chan(ch, _, checked=True):   # the kh*kw bytes of channel ch (contiguous)
                plane = bb.mul(bb.add(bb.mul(img, H.i64(c)), ch), H.i64(h * w))
                at = bb.add(obase, bb.mul(ch, H.i64(kh * kw)))
                for t, (ok, src) in enumerate(taps):
                    v = H.load(bb, xp, U8, bb.add(plane, src))
                    H.store(bb, bb.select(ok, v, pad) if checked else v, out, U8,
                            bb.add(at, H.i64(t)))
                return []
            if ph == 0 and pw == 0:       # every tap of every row is inside the input
                H.loop(bb, c, lambda ch, _: chan(ch, _, False), name="qc")
                return []
            inside = taps[0][0]
            for ok, _ in taps[1:]:
                inside = bb.and_(inside, ok)
            with bb.if_else(inside) as (interior, edge):
                with interior:            # no zero-point taps: plain copies
                    H.loop(bb, c, lambda ch, _: chan(ch, _, False), name="qci")
                with edge:
                    H.loop(bb, c, chan, name="qc")
            return []
        H.loop(bb, r1, row, start=r0, name="qr")
    emit_blocked(mb, b, args, err, name, rows, pool_tasks(rows, rows * ck, 1 << 16), block)
