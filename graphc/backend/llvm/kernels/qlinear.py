"""`qlinear`: dynamic int8 Linear in one kernel, the semantics of torch's quantize_dynamic
Linear (fbgemm): `y = x @ w.T + bias` with x quantized per call to u8 (asymmetric, 7-bit range,
scale and zero point from x's min and max) and w stored as s8 (symmetric, per tensor or per
output channel) with its column sums precomputed; graphc/ir/ops/quant.py holds the reference.

1. one pass over the whole batch: min, max, and whether every element is finite;
2. the activation scale and zero point, in double precision, exactly as fbgemm computes them;
3. if anything was NaN/Inf: the fp32 Linear instead (rows without NaN equal the fp32 layer);
4. else, split over the thread pool by row blocks: quantize the block's rows to u8 (7-bit
   range) in scratch memory, then the int8 GEMM. Two forms of the GEMM:
   - small batches (M < PACK_MIN_M) or no AVX2: int8 dot products along k against the weight
     rows as stored (both operands contiguous along k; a horizontal sum per output);
   - large batches with AVX2: the weights are first packed (in the same pool run as step 1)
     into panels of PW output columns x 4 k (4*PW bytes per k-quad, as `vpdpbusd` wants them;
     PW = 16, a zmm register, with AVX-512 VNNI, else 8), then each MR x 4-panel register tile
     broadcasts 4 input bytes per row against the packed weight bytes: no horizontal sums, and
     the accumulators are already in output order.
   With AVX2 each product step is `pmaddubsw` (u8 x s8 -> saturating i16 pairs, which the
   7-bit range keeps exact) then `pmaddwd` with ones (-> i32); with AVX-512 VNNI one `vpdpbusd`;
   a portable scalar path serves other CPUs;
5. epilogue: fma(float(acc - z * colsum[n]), fl(s_x * s_w[n]), bias[n]), optional ReLU.
Rows are coupled only through step 1, and every form sums exact integers, so the result is the
same bits for any number of threads and either GEMM form.

A whole kernel (kernels.py): `emit_qlinear` builds the kernel function, its pool tasks and its
scratch memory (the quantized rows, then the packed panels) after the planned arena.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ....ir.buffers import align
from .. import irhelp as H
from . import register_kernel

MR, NR = 2, 4            # rows of x by rows of W per register tile (8 i32x8 accumulators)
ROWS_PER_TASK = 16
SMALL_SCALE = np.float32(6.1e-5)  # a float32, as in torch
PACK_MIN_M = 64          # batches of at least this many rows use packed weights (broadcast form)
NV = 4                   # panels per register tile of the broadcast form


def _rows(node) -> int:
    x = node.inputs[0]
    return int(np.prod(x.shape[:-1])) if x.shape[:-1] else 1


def packed(node, avx2: bool) -> bool:
    """Whether the node's GEMM uses packed weight panels (broadcast form)."""
    return avx2 and _rows(node) >= PACK_MIN_M


def panel_width(avx2: bool) -> int:
    """Output columns per packed panel: 16 (one zmm accumulator: AVX-512 VNNI's `vpdpbusd` on
    zmm does about 1.6x the work per cycle of the ymm form here) or 8 (one ymm)."""
    from ..target import host
    return 16 if avx2 and host()["vnni"] else 8


def _panels(node, avx2: bool) -> int:
    return -(-node.inputs[1].shape[0] // panel_width(avx2))


def _k4(K: int) -> int:
    return -(-K // 4)


def _q_bytes(node) -> int:
    return align(_rows(node) * _kpad(node.inputs[0].shape[-1]))


def scratch_bytes(node, avx2: bool = False) -> int:
    """Scratch bytes: the quantized input rows (K padded to a multiple of 32), then, for the
    broadcast form, the packed weight panels."""
    extra = (_panels(node, avx2) * _k4(node.inputs[0].shape[-1]) * 4 * panel_width(avx2)
             if packed(node, avx2) else 0)
    return _q_bytes(node) + extra


def pack_tasks(node, avx2: bool) -> int:
    """Pool tasks that pack the weight panels (run alongside the min/max tasks), 0 if unpacked."""
    return min(8, _panels(node, avx2)) if packed(node, avx2) else 0


def _kpad(K: int) -> int:
    return (K + 31) // 32 * 32


class QLinearKernel:
    """Emit the pieces of the dynamic int8 Linear (`qlinear`) kernel into the current function."""

    def __init__(self, cx_factory, module, b: ir.IRBuilder, node, ptrs: dict, scratch, err,
                 avx2: bool):
        self.cx_factory, self.module, self.b, self.node = cx_factory, module, b, node
        self.ptrs, self.scratch, self.err, self.avx2 = ptrs, scratch, err, avx2
        x = node.inputs[0]
        self.K = x.shape[-1]
        self.M = int(np.prod(x.shape[:-1])) if x.shape[:-1] else 1
        self.N = node.inputs[1].shape[0]
        self.Kp = _kpad(self.K)
        self.per_channel = node.inputs[2].shape != ()
        self.relu = bool(node.attrs.get("relu", False))
        from ..target import host
        self.vnni = avx2 and host()["vnni"]
        # VNNI implies AVX-512VL: 32 vector registers hold a 4 x 4 tile of accumulators
        self.MR = 4 if self.vnni else MR
        self.packed = packed(node, avx2)
        self.PW = panel_width(avx2)
        self.K4, self.P = _k4(self.K), _panels(node, avx2)

    def cx(self, w):
        """A lowering context of vector width `w` on this kernel's builder."""
        return self.cx_factory(self.b, w)

    def intrinsic(self, name, ret, args):
        """The function `name` (e.g. an x86 intrinsic) of this signature, declared on first use."""
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name)
        return fn

    # -- 1. min / max / finite over the whole batch ------------------------------------------
    def minmax(self, lo=None, hi=None):
        """Step 1: min, max and whether every element is finite, over elements [lo, hi)
        (the whole batch by default; a task's share when split over the pool)."""
        b = self.b
        total = self.M * self.K
        lo = H.i64(0) if lo is None else lo
        hi = H.i64(total) if hi is None else hi
        x = self.ptrs["x"]
        W = 8
        v8 = ir.VectorType(H.F32, 8)
        inf = ir.Constant(H.F32, float("inf"))
        init = [ir.Constant(v8, [inf] * W), ir.Constant(v8, [ir.Constant(H.F32, -np.inf)] * W),
                ir.Constant(ir.VectorType(H.I1, W), [ir.Constant(H.I1, 1)] * W)]
        fabs8 = self.cx(W).intrinsic("fabs", v8)
        U = 4  # independent accumulators: one vminps chain would be latency-bound (4 cycles)
        nvec = b.add(lo, b.mul(b.sdiv(b.sub(hi, lo), H.i64(W * U)), H.i64(W * U)))

        def vstep(i, c):  # plain compare+select (one vminps/vmaxps): NaN is caught by `fin`
            out = []
            for u in range(U):
                v = H.load(b, x, _f32(), b.add(i, H.i64(W * u)), W)
                fin = b.fcmp_ordered("<", b.call(fabs8, [v]), ir.Constant(v8, [inf] * W))
                mn, mx, ok = c[3 * u:3 * u + 3]
                out += [b.select(b.fcmp_ordered("<", v, mn), v, mn),
                        b.select(b.fcmp_ordered(">", v, mx), v, mx), b.and_(ok, fin)]
            return out
        acc = H.loop(b, nvec, vstep, init * U, start=lo, step=W * U, name="mm")
        vmin = self.cx(W).intrinsic("minnum", v8, 2)
        vmax = self.cx(W).intrinsic("maxnum", v8, 2)
        for u in range(1, U):
            acc[0] = b.call(vmin, [acc[0], acc[3 * u]])
            acc[1] = b.call(vmax, [acc[1], acc[3 * u + 1]])
            acc[2] = b.and_(acc[2], acc[3 * u + 2])
        mn = H.hreduce(b, acc[0], W, lambda p, q: b.call(self.cx(p.type.count).intrinsic(
            "minnum", p.type, 2), [p, q]))
        mx = H.hreduce(b, acc[1], W, lambda p, q: b.call(self.cx(p.type.count).intrinsic(
            "maxnum", p.type, 2), [p, q]))
        fin = H.hreduce(b, acc[2], W, lambda p, q: b.and_(p, q))
        fabs1 = self.cx(1).intrinsic("fabs", H.F32)
        mn1 = self.cx(1).intrinsic("minnum", H.F32, 2)
        mx1 = self.cx(1).intrinsic("maxnum", H.F32, 2)

        def sstep(i, c):
            v = H.load(b, x, _f32(), i)
            f = b.fcmp_ordered("<", b.call(fabs1, [v]), inf)
            return [b.call(mn1, [c[0], v]), b.call(mx1, [c[1], v]), b.and_(c[2], f)]
        mn, mx, fin = H.loop(b, hi, sstep, [mn, mx, fin], start=nvec, name="ms")
        return mn, mx, fin

    # -- 2. scale and zero point (fbgemm's ChooseQuantizationParams, reduce_range) -------------
    def params(self, mn, mx):
        """(s_x, 1/s_x, z) exactly as graphc/ir/ops/quant.py's activation_params."""
        b = self.b
        d, f = H.F64, H.F32
        zero = ir.Constant(f, 0.0)
        small_f = ir.Constant(f, float(np.float32(SMALL_SCALE)))
        small_d = ir.Constant(d, float(np.float32(SMALL_SCALE)))
        lo = b.call(self.cx(1).intrinsic("minnum", f, 2), [mn, zero])
        hi = b.call(self.cx(1).intrinsic("maxnum", f, 2), [mx, zero])
        S = b.fdiv(b.fsub(b.fpext(hi, d), b.fpext(lo, d)), ir.Constant(d, 127.0))
        Sf = b.fptrunc(S, f)
        inv_inf = b.fcmp_ordered("==", b.fdiv(ir.Constant(f, 1.0), Sf),
                                 ir.Constant(f, float("inf")))
        S = b.select(b.or_(b.fcmp_ordered("==", Sf, zero), inv_inf), ir.Constant(d, 0.1), S)
        small = b.fcmp_ordered("<", S, small_d)
        # torch's small-scale rule: the scale is raised to fp16's smallest normal and min moves so
        # that the zero point stays put (max == 0: min = -S*127; min == 0: unchanged)
        amp = b.fdiv(small_f, b.fptrunc(S, f))
        lo_small = b.select(b.fcmp_ordered("==", hi, zero),
                            b.fmul(b.fneg(small_f), ir.Constant(f, 127.0)),
                            b.select(b.fcmp_ordered("!=", lo, zero), b.fmul(lo, amp), lo))
        lo = b.select(small, lo_small, lo)
        S = b.select(small, small_d, S)
        zp = b.fdiv(b.fneg(b.fpext(lo, d)), S)
        zp = b.call(self.cx(1).intrinsic("maxnum", d, 2), [zp, ir.Constant(d, 0.0)])
        zp = b.call(self.cx(1).intrinsic("minnum", d, 2), [zp, ir.Constant(d, 127.0)])
        z = b.fptosi(b.call(self.cx(1).intrinsic("rint", d), [zp]), H.I32)
        s_x = b.fptrunc(S, f)
        inv = b.fdiv(ir.Constant(f, 1.0), s_x)
        return s_x, inv, z

    # -- 4. one task: quantize a block of rows, then the int8 GEMM and epilogue ----------------
    def quantize_rows(self, r0, r1, inv, z):
        """Rows [r0, r1) of x quantized to u8 in scratch: clamp(rint(x * inv + z), 0, 255)."""
        b = self.b
        K, Kp = self.K, self.Kp
        x, q = self.ptrs["x"], self.scratch
        rint = self.cx(1).intrinsic("rint", H.F32)
        cap = ir.Constant(H.F32, 2147483520.0)
        mnf = self.cx(1).intrinsic("minnum", H.F32, 2)
        mxf = self.cx(1).intrinsic("maxnum", H.F32, 2)
        fma = self.cx(1).intrinsic("fma", H.F32, 3)
        zf = b.sitofp(z, H.F32)

        W = 8
        kv = K // W * W
        vcx = self.cx(W)
        v8 = ir.VectorType(H.F32, W)
        vfma = vcx.intrinsic("fma", v8, 3)
        vrint = vcx.intrinsic("rint", v8)
        vinv, vz = H.splat(b, inv, W), H.splat(b, zf, W)
        vcap, vm1 = H.splat(b, cap, W), H.splat(b, ir.Constant(H.F32, -1.0), W)
        vhi = H.splat(b, ir.Constant(H.F32, 255.0), W)
        vlo = H.splat(b, ir.Constant(H.F32, 0.0), W)

        def row(r, c):
            def vmn(p, q2):  # finite operands here: compare+select is one vminps
                return b.select(b.fcmp_ordered("<", p, q2), p, q2)

            def vmx(p, q2):
                return b.select(b.fcmp_ordered(">", p, q2), p, q2)

            def vcol(k, c2):  # 8 at a time; clamping in float is exact: rint gives integers
                at = b.add(b.mul(r, H.i64(K)), k)
                v = H.load(b, x, _f32(), at, W)
                t = vmn(b.call(vfma, [v, vinv, vz]), vcap)
                t = b.call(vrint, [vmx(t, vm1)])
                t = vmn(vmx(t, vlo), vhi)
                qv = b.trunc(b.fptosi(t, ir.VectorType(H.I32, W)), ir.VectorType(H.I8, W))
                b.store(qv, b.gep(q, [b.add(b.mul(r, H.i64(Kp)), k)], source_etype=H.I8),
                        align=1)
                return []
            k32 = K // 32 * 32 if self.avx2 else 0
            if k32:
                H.loop(b, k32, lambda k, c2: self._quantize32(r, k, vinv, vz, vcap), step=32,
                       name="q32")
            if kv > k32:
                H.loop(b, kv, vcol, start=k32, step=W, name="qv")

            def col(k, c2):  # q = clamp(rint(min(fma(x, inv, z), cap)), 0, 255): one rounding
                v = H.load(b, x, _f32(), b.add(b.mul(r, H.i64(K)), k))
                t = b.call(mnf, [b.call(fma, [v, inv, zf]), cap])
                t = b.call(rint, [b.call(mxf, [t, ir.Constant(H.F32, -1.0)])])
                qi = b.fptosi(t, H.I32)
                qi = b.select(b.icmp_signed("<", qi, ir.Constant(H.I32, 0)),
                              ir.Constant(H.I32, 0), qi)
                qi = b.select(b.icmp_signed(">", qi, ir.Constant(H.I32, 255)),
                              ir.Constant(H.I32, 255), qi)
                b.store(b.trunc(qi, H.I8), b.gep(q, [b.add(b.mul(r, H.i64(Kp)), k)],
                                                 source_etype=H.I8))
                return []
            if kv < K:
                H.loop(b, K, col, start=kv, name="qk")

            def pad(k, c2):  # the K tail is 0, not the zero point: colsum covers real K only
                b.store(ir.Constant(H.I8, 0), b.gep(q, [b.add(b.mul(r, H.i64(Kp)), k)],
                                                    source_etype=H.I8))
                return []
            if Kp > K:
                H.loop(b, Kp, pad, start=K, name="qpad")
            return []
        H.loop(b, r1, row, start=r0, name="qr")

    def _quantize32(self, r, k, vinv, vz, vcap):
        """32 elements of row r from column k: fma, then `cvtps2dq` (round to nearest even, as
        rint) and the saturating packs i32 -> i16 -> u8, which clamp to [0, 255] exactly as
        clamp(rint(t), 0, 255) does for every t <= cap; one 32-byte store."""
        b = self.b
        f8, i8x32 = ir.VectorType(H.F32, 8), ir.VectorType(H.I8, 32)
        i32x8, i16x16 = ir.VectorType(H.I32, 8), ir.VectorType(ir.IntType(16), 16)
        vfma = self.cx(8).intrinsic("fma", f8, 3)
        cvt = self.intrinsic("llvm.x86.avx.cvt.ps2dq.256", i32x8, [f8])
        packs = self.intrinsic("llvm.x86.avx2.packssdw", i16x16, [i32x8, i32x8])
        packu = self.intrinsic("llvm.x86.avx2.packuswb", i8x32, [i16x16, i16x16])
        base = b.add(b.mul(r, H.i64(self.K)), k)
        ints = []
        for part in range(4):
            v = H.load(b, self.ptrs["x"], _f32(), b.add(base, H.i64(8 * part)), 8)
            t = b.call(vfma, [v, vinv, vz])
            t = b.select(b.fcmp_ordered("<", t, vcap), t, vcap)
            ints.append(b.call(cvt, [t]))
        u8 = b.call(packu, [b.call(packs, ints[:2]), b.call(packs, ints[2:])])
        # the packs work per 128-bit lane: 4-byte groups come out as 0,4,1,5,2,6,3,7
        perm = ir.Constant(ir.VectorType(H.I32, 8), [0, 4, 1, 5, 2, 6, 3, 7])
        w = b.bitcast(u8, i32x8)
        w = b.shuffle_vector(w, w, perm)
        b.store(w, b.gep(self.scratch, [b.add(b.mul(r, H.i64(self.Kp)), k)],
                         source_etype=H.I8), align=1)
        return []

    def gemm_rows(self, r0, r1, s_x, z):
        """Rows [r0, r1) of the output: MR x NR tiles of int8 dot products, then the epilogue."""
        b = self.b
        N = self.N
        n_full = N // NR

        def rows_of(i0, mr):
            if n_full:
                H.loop(b, n_full, lambda jb, c: (self.tile(i0, mr, b.mul(jb, H.i64(NR)), NR,
                                                           s_x, z), [])[1], name="qn")
            if N % NR:
                self.tile(i0, mr, H.i64(n_full * NR), N % NR, s_x, z)
        self._row_blocks(r0, r1, self.MR, rows_of)

    def _row_blocks(self, r0, r1, mr_full, rows_of):
        """rows_of(i0, mr) over [r0, r1) in blocks of mr_full rows, then one shorter block."""
        b = self.b
        span = b.sub(r1, r0)
        blocks = b.sdiv(span, H.i64(mr_full))
        H.loop(b, blocks, lambda ib, c: (rows_of(b.add(r0, b.mul(ib, H.i64(mr_full))), mr_full),
                                         [])[1], name="qm")
        rest = b.srem(span, H.i64(mr_full))
        for left in range(1, mr_full):  # the last 1..MR-1 rows: one tile height each
            with b.if_then(b.icmp_signed("==", rest, H.i64(left))):
                rows_of(b.sub(r1, H.i64(left)), left)

    # -- the broadcast form: packed weight panels ----------------------------------------------
    def packed_weights(self):
        """Where the packed panels live: scratch, after the quantized rows."""
        return self.b.gep(self.scratch, [H.i64(_q_bytes(self.node))], source_etype=H.I8)

    def pack_panels(self, p0, p1):
        """Panels [p0, p1): panel p holds columns PW*p..PW*p+PW-1 as [k-quad][column][4 bytes]
        (zeros past N and past K), i.e. the 4*PW bytes `vpdpbusd` multiplies against one
        broadcast quad."""
        b = self.b
        K, N, K4, PW = self.K, self.N, self.K4, self.PW
        stride = 4 * PW  # bytes per k-quad of a panel
        wq, dst = self.ptrs["w_q"], self.packed_weights()
        kfull = K // 4

        full = N // PW  # panels whose columns all exist: 8 x 8 transposes of i32 quads
        k32 = K // 32 * 32 if self.avx2 else 0

        def fast_panel(p, c0):
            base = b.mul(p, H.i64(K4 * stride))
            for half in range(PW // 8):
                rows = [b.mul(b.add(b.mul(p, H.i64(PW)), H.i64(8 * half + c)), H.i64(K))
                        for c in range(8)]

                def block(k, c2, rows=rows, half=half):  # 8 columns x 8 quads -> transposed
                    i32x8 = ir.VectorType(H.I32, 8)
                    vs = [b.load(b.gep(wq, [b.add(r, k)], source_etype=H.I8), typ=i32x8,
                                 align=1) for r in rows]
                    for kq, v in enumerate(H.transpose8(b, vs)):
                        at = b.add(base, b.add(b.mul(k, H.i64(stride // 4)),
                                               H.i64(stride * kq + 32 * half)))
                        b.store(v, b.gep(dst, [at], source_etype=H.I8), align=32)
                    return []
                H.loop(b, k32, block, step=32, name="pb")
            return []

        def panel(p, c0):
            base = b.mul(p, H.i64(K4 * stride))
            for c in range(PW):
                n = b.add(b.mul(p, H.i64(PW)), H.i64(c))
                col = b.add(base, H.i64(4 * c))
                with b.if_else(b.icmp_signed("<", n, H.i64(N))) as (then, other):
                    with then:
                        src = b.mul(n, H.i64(K))

                        def quad(kq, c2, src=src, col=col):
                            v = b.load(b.gep(wq, [b.add(src, b.mul(kq, H.i64(4)))],
                                             source_etype=H.I8), typ=H.I32, align=1)
                            b.store(v, b.gep(dst, [b.add(col, b.mul(kq, H.i64(stride)))],
                                             source_etype=H.I8), align=4)
                            return []
                        if kfull:
                            fast = b.icmp_signed("<", p, H.i64(full))
                            H.loop(b, kfull, quad, start=b.select(fast, H.i64(k32 // 4),
                                                                   H.i64(0)), name="pq")
                        for j in range(4 if K % 4 else 0):  # the last quad, zero-padded
                            k = kfull * 4 + j
                            v = (b.load(b.gep(wq, [b.add(src, H.i64(k))], source_etype=H.I8),
                                        typ=H.I8) if k < K else ir.Constant(H.I8, 0))
                            b.store(v, b.gep(dst, [b.add(col, H.i64(kfull * stride + j))],
                                             source_etype=H.I8))
                    with other:  # columns past N: zeros (their outputs are never stored)
                        H.loop(b, K4, lambda kq, c2, col=col: (b.store(
                            ir.Constant(H.I32, 0), b.gep(dst, [b.add(col, b.mul(
                                kq, H.i64(stride)))], source_etype=H.I8), align=4), [])[1],
                            name="pz")
            return []
        if k32:
            H.loop(b, b.select(b.icmp_signed("<", p1, H.i64(full)), p1, H.i64(full)), fast_panel,
                   start=p0, name="pf")
        H.loop(b, p1, panel, start=p0, name="pp")

    def gemm_rows_packed(self, r0, r1, s_x, z):
        """Rows [r0, r1) of the output in the broadcast form: MR rows x NV panels per tile."""
        b = self.b
        PW = self.PW
        full = self.N // PW
        groups = full // NV
        rest = full % NV + (1 if self.N % PW else 0)  # a static last group; last panel partial

        def rows_of(i0, mr):
            if groups:
                H.loop(b, groups, lambda g, c: (self.tile_packed(
                    i0, mr, b.mul(g, H.i64(NV)), NV, False, s_x, z), [])[1], name="pg")
            if rest:
                self.tile_packed(i0, mr, H.i64(groups * NV), rest, self.N % PW != 0, s_x, z)
        self._row_blocks(r0, r1, 4 if self.vnni else 2, rows_of)

    def _dot4(self, acc, a, w):
        """acc + the four-byte dot products of u8 `a` and s8 `w` in each i32 lane."""
        b = self.b
        W = acc.type.count
        if self.vnni:
            vt = ir.VectorType(H.I32, W)
            f = self.intrinsic(f"llvm.x86.avx512.vpdpbusd.{32 * W}", vt, [vt, vt, vt])
            return b.call(f, [acc, a, w])
        i32x8 = ir.VectorType(H.I32, 8)
        u8x32 = ir.VectorType(H.I8, 32)
        i16x16 = ir.VectorType(ir.IntType(16), 16)
        maddubs = self.intrinsic("llvm.x86.avx2.pmadd.ub.sw", i16x16, [u8x32, u8x32])
        maddwd = self.intrinsic("llvm.x86.avx2.pmadd.wd", i32x8, [i16x16, i16x16])
        ones = ir.Constant(i16x16, [ir.Constant(ir.IntType(16), 1)] * 16)
        p16 = b.call(maddubs, [b.bitcast(a, u8x32), b.bitcast(w, u8x32)])
        return b.add(acc, b.call(maddwd, [p16, ones]))

    def tile_packed(self, i0, mr, p0, nv, last_partial, s_x, z):
        """An mr-row x nv-panel tile: per k-quad, one broadcast of 4 input bytes per row against
        the 4*PW packed bytes of each panel; then the PW-wide epilogue per row and panel."""
        b = self.b
        K4, Kp, PW = self.K4, self.Kp, self.PW
        q, w = self.scratch, self.packed_weights()
        vt = ir.VectorType(H.I32, PW)
        x_rows = [b.mul(b.add(i0, H.i64(r)), H.i64(Kp)) for r in range(mr)]
        panels = [b.mul(b.add(p0, H.i64(v)), H.i64(K4 * 4 * PW)) for v in range(nv)]
        zero = ir.Constant(vt, [ir.Constant(H.I32, 0)] * PW)

        def step(kq, acc):
            k, kb = b.mul(kq, H.i64(4)), b.mul(kq, H.i64(4 * PW))
            wv = [b.load(b.gep(w, [b.add(pn, kb)], source_etype=H.I8), typ=vt, align=4 * PW)
                  for pn in panels]
            out = []
            for r in range(mr):
                a = b.load(b.gep(q, [b.add(x_rows[r], k)], source_etype=H.I8), typ=H.I32,
                           align=4)
                av = H.splat(b, a, PW)
                out += [self._dot4(acc[r * nv + v], av, wv[v]) for v in range(nv)]
            return out
        accs = H.loop(b, K4, step, [zero] * (mr * nv), name="pk")
        for r in range(mr):
            for v in range(nv):
                cnt = self.N % PW if (last_partial and v == nv - 1) else PW
                j0 = b.mul(b.add(p0, H.i64(v)), H.i64(PW))
                self.epilogue_vec(b.add(i0, H.i64(r)), j0, accs[r * nv + v], s_x, z, cnt, W=PW)

    def epilogue_vec(self, i, j0, acc, s_x, z, cnt: int, W: int):
        """The epilogue for outputs (i, j0..j0+cnt-1) from W lanes (the same arithmetic as
        `epilogue`); lanes past cnt are neither loaded nor stored."""
        b = self.b
        v_f, v_i = ir.VectorType(H.F32, W), ir.VectorType(H.I32, W)

        def vec(ptr, dt, ty):
            if cnt == W:
                return H.load(b, ptr, dt, j0, W)
            v = ir.Constant(ty, [ir.Constant(ty.element, 0)] * W)
            for lane in range(cnt):
                v = b.insert_element(v, H.load(b, ptr, dt, b.add(j0, H.i64(lane))),
                                     ir.Constant(H.I32, lane))
            return v
        colsum = vec(self.ptrs["w_colsum"], _i32(), v_i)
        acc = b.sub(acc, b.mul(H.splat(b, z, W), colsum))
        s_w = (vec(self.ptrs["w_scale"], _f32(), v_f) if self.per_channel else
               H.splat(b, H.load(b, self.ptrs["w_scale"], _f32(), H.i64(0)), W))
        scale = b.fmul(H.splat(b, s_x, W), s_w)
        bias = vec(self.ptrs["bias"], _f32(), v_f)
        fma = self.cx(W).intrinsic("fma", v_f, 3)
        y = b.call(fma, [b.sitofp(acc, v_f), scale, bias])
        if self.relu:
            zero = ir.Constant(v_f, [ir.Constant(H.F32, 0.0)] * W)
            y = b.select(b.fcmp_ordered("<=", y, zero), zero, y)
        at = b.add(b.mul(i, H.i64(self.N)), j0)
        if cnt == W:
            H.store(b, y, self.ptrs["out"], _f32(), at, W)
            return
        for lane in range(cnt):
            H.store(b, b.extract_element(y, ir.Constant(H.I32, lane)), self.ptrs["out"], _f32(),
                    b.add(at, H.i64(lane)))

    def tile(self, i0, mr, j0, nr, s_x, z):
        """An mr x nr tile of int8 dot products at rows i0.., columns j0.., then the epilogue."""
        b = self.b
        K, Kp = self.K, self.Kp
        q, wq = self.scratch, self.ptrs["w_q"]
        i32x8 = ir.VectorType(H.I32, 8)
        k32 = K // 32 * 32 if self.avx2 else 0
        x_rows = [b.mul(b.add(i0, H.i64(r)), H.i64(Kp)) for r in range(mr)]
        w_rows = [b.mul(b.add(j0, H.i64(c)), H.i64(K)) for c in range(nr)]
        sums = []
        if k32:
            u8x32 = ir.VectorType(H.I8, 32)
            i16x16 = ir.VectorType(ir.IntType(16), 16)
            maddubs = self.intrinsic("llvm.x86.avx2.pmadd.ub.sw", i16x16, [u8x32, u8x32])
            maddwd = self.intrinsic("llvm.x86.avx2.pmadd.wd", i32x8, [i16x16, i16x16])
            ones = ir.Constant(i16x16, [ir.Constant(ir.IntType(16), 1)] * 16)
            zero = ir.Constant(i32x8, [ir.Constant(H.I32, 0)] * 8)

            vnni = self.vnni
            if vnni:  # u8 x s8, four products summed into i32 lanes in one instruction
                dpbusd = self.intrinsic("llvm.x86.avx512.vpdpbusd.256", i32x8,
                                        [i32x8, i32x8, i32x8])

            def step(k, acc):
                xv = [b.load(b.gep(q, [b.add(x, k)], source_etype=H.I8), typ=u8x32, align=1)
                      for x in x_rows]
                wv = [b.load(b.gep(wq, [b.add(w, k)], source_etype=H.I8), typ=u8x32, align=1)
                      for w in w_rows]
                out = []
                if vnni:
                    xi = [b.bitcast(v, i32x8) for v in xv]
                    wi = [b.bitcast(v, i32x8) for v in wv]
                    return [b.call(dpbusd, [acc[r * nr + c], xi[r], wi[c]])
                            for r in range(mr) for c in range(nr)]
                for r in range(mr):
                    for c in range(nr):
                        p16 = b.call(maddubs, [xv[r], wv[c]])   # u8 x s8, pairs -> i16
                        out.append(b.add(acc[r * nr + c], b.call(maddwd, [p16, ones])))
                return out
            accs = H.loop(b, k32, step, [zero] * (mr * nr), step=32, name="qk32")
        else:
            accs = None
        if accs is not None and K - k32 >= 16:  # one 16-byte step (SSSE3 forms of the same pair)
            u8x16 = ir.VectorType(H.I8, 16)
            i16x8 = ir.VectorType(ir.IntType(16), 8)
            i32x4 = ir.VectorType(H.I32, 4)
            maddubs = self.intrinsic("llvm.x86.ssse3.pmadd.ub.sw.128", i16x8, [u8x16, u8x16])
            maddwd = self.intrinsic("llvm.x86.sse2.pmadd.wd", i32x4, [i16x8, i16x8])
            ones = ir.Constant(i16x8, [ir.Constant(ir.IntType(16), 1)] * 8)
            zero4 = ir.Constant(i32x4, [ir.Constant(H.I32, 0)] * 4)
            widen = ir.Constant(ir.VectorType(H.I32, 8), list(range(8)))
            k = H.i64(k32)
            xv = [b.load(b.gep(q, [b.add(x, k)], source_etype=H.I8), typ=u8x16, align=1)
                  for x in x_rows]
            wv = [b.load(b.gep(wq, [b.add(w, k)], source_etype=H.I8), typ=u8x16, align=1)
                  for w in w_rows]
            accs = [b.add(accs[r * nr + c], b.shuffle_vector(
                b.call(maddwd, [b.call(maddubs, [xv[r], wv[c]]), ones]), zero4, widen))
                for r in range(mr) for c in range(nr)]
            k32 += 16
        rows4 = None
        if accs is None:
            sums = [ir.Constant(H.I32, 0)] * (mr * nr)
        elif nr == 4:  # four column sums of a row at once, then a 4-wide epilogue
            rows4 = [self._hsum4(accs[r * 4:(r + 1) * 4]) for r in range(mr)]
            sums = [ir.Constant(H.I32, 0)] * (mr * nr)
        else:
            sums = [H.hreduce(b, a, 8, lambda p, q2: b.add(p, q2)) for a in accs]
        if k32 < K:
            def tail(k, s):
                xs = [b.zext(b.load(b.gep(q, [b.add(x, k)], source_etype=H.I8), typ=H.I8), H.I32)
                      for x in x_rows]
                ws = [b.sext(b.load(b.gep(wq, [b.add(w, k)], source_etype=H.I8), typ=H.I8), H.I32)
                      for w in w_rows]
                return [b.add(s[r * nr + c], b.mul(xs[r], ws[c]))
                        for r in range(mr) for c in range(nr)]
            sums = H.loop(b, K, tail, sums, start=k32, name="qkt")
        if rows4 is not None:
            for r in range(mr):
                v = rows4[r]
                if k32 < K:  # integer sums: adding the scalar tail in any order is exact
                    for c in range(4):
                        ci = ir.Constant(H.I32, c)
                        v = b.insert_element(v, b.add(b.extract_element(v, ci), sums[r * 4 + c]),
                                             ci)
                self.epilogue_vec(b.add(i0, H.i64(r)), j0, v, s_x, z, 4, W=4)
            return
        for r in range(mr):
            for c in range(nr):
                self.epilogue(b.add(i0, H.i64(r)), b.add(j0, H.i64(c)), sums[r * nr + c], s_x, z)

    def _hsum4(self, accs):
        """[sum a0, sum a1, sum a2, sum a3] of four <8 x i32> with three vphaddd and one add."""
        b = self.b
        i32x8 = ir.VectorType(H.I32, 8)
        phadd = self.intrinsic("llvm.x86.avx2.phadd.d", i32x8, [i32x8, i32x8])
        h = b.call(phadd, [b.call(phadd, [accs[0], accs[1]]), b.call(phadd, [accs[2], accs[3]])])
        lo = b.shuffle_vector(h, h, ir.Constant(ir.VectorType(H.I32, 4), [0, 1, 2, 3]))
        hi = b.shuffle_vector(h, h, ir.Constant(ir.VectorType(H.I32, 4), [4, 5, 6, 7]))
        return b.add(lo, hi)

    def epilogue(self, i, j, dot, s_x, z):
        """Output (i, j) = fma(float(dot - z * colsum[j]), s_x * s_w, bias[j]), ReLU if fused."""
        b = self.b
        colsum = H.load(b, self.ptrs["w_colsum"], _i32(), j)
        acc = b.sub(dot, b.mul(z, colsum))
        s_w = H.load(b, self.ptrs["w_scale"], _f32(), j if self.per_channel else H.i64(0))
        scale = b.fmul(s_x, s_w)
        bias = H.load(b, self.ptrs["bias"], _f32(), j)
        fma = self.cx(1).intrinsic("fma", H.F32, 3)
        y = b.call(fma, [b.sitofp(acc, H.F32), scale, bias])
        if self.relu:  # where(y <= 0, +0.0, y), as graphc.relu
            y = b.select(b.fcmp_ordered("<=", y, ir.Constant(H.F32, 0.0)),
                         ir.Constant(H.F32, 0.0), y)
        H.store(b, y, self.ptrs["out"], _f32(), b.add(b.mul(i, H.i64(self.N)), j))

    # -- 3. the fp32 fallback: x @ w^T + bias (NaN rows stay NaN) ----------------------------
    def fallback(self):
        """Step 3: the fp32 Linear x @ w^T + bias (ReLU if fused), used when x is not all finite."""
        b = self.b
        K, N = self.K, self.N
        x, w = self.ptrs["x"], self.ptrs["w"]
        W = 8
        v8 = ir.VectorType(H.F32, W)
        fma8 = self.cx(W).intrinsic("fma", v8, 3)
        fma1 = self.cx(1).intrinsic("fma", H.F32, 3)
        kv = K // W * W

        def row(i, c):
            def col(j, c2):
                xo, wo = b.mul(i, H.i64(K)), b.mul(j, H.i64(K))
                acc = ir.Constant(v8, [ir.Constant(H.F32, 0.0)] * W)
                if kv:
                    (acc,) = H.loop(b, kv, lambda k, a: [b.call(fma8, [
                        H.load(b, x, _f32(), b.add(xo, k), W),
                        H.load(b, w, _f32(), b.add(wo, k), W), a[0]])], [acc], step=W, name="fk")
                s = H.hsum(b, acc, W)
                if kv < K:
                    (s,) = H.loop(b, K, lambda k, a: [b.call(fma1, [
                        H.load(b, x, _f32(), b.add(xo, k)), H.load(b, w, _f32(), b.add(wo, k)),
                        a[0]])], [s], start=kv, name="fkt")
                y = b.fadd(s, H.load(b, self.ptrs["bias"], _f32(), j))
                if self.relu:  # NaN stays NaN
                    y = b.select(b.fcmp_ordered("<=", y, ir.Constant(H.F32, 0.0)),
                                 ir.Constant(H.F32, 0.0), y)
                H.store(b, y, self.ptrs["out"], _f32(), b.add(b.mul(i, H.i64(N)), j))
                return []
            H.loop(b, N, col, name="fn")
            return []
        H.loop(b, self.M, row, name="fm")


def _f32():
    from .... import dtypes
    return dtypes.float32


def _i32():
    from .... import dtypes
    return dtypes.int32


MAX_ROW_TASKS = 4   # pool hand-offs cost more than finer splits save (measured on 2 threads)


def rows_per_task(M: int) -> int:
    """Rows per row-block task of an M-row int8 GEMM: whole groups of ROWS_PER_TASK, at most
    MAX_ROW_TASKS tasks (a split fixed by the shape: the same bits on any machine)."""
    return -(-max(1, -(-M // MAX_ROW_TASKS)) // ROWS_PER_TASK) * ROWS_PER_TASK


def task_rows(node) -> int:
    """rows_per_task for the node's batch (every axis but the last)."""
    x = node.inputs[0]
    return rows_per_task(int(np.prod(x.shape[:-1])) if x.shape[:-1] else 1)


def tasks_for(node) -> int:
    """How many row-block tasks the node's batch splits into (task_rows rows each)."""
    x = node.inputs[0]
    M = int(np.prod(x.shape[:-1])) if x.shape[:-1] else 1
    return max(1, -(-M // task_rows(node)))


def rows_of_task(tb, t, rows: int, M: int):
    """[r0, r1): the rows task t handles, `rows` per task, clipped to M."""
    r0 = tb.mul(t, H.i64(rows))
    r1 = tb.add(r0, H.i64(rows))
    return r0, tb.select(tb.icmp_signed("<", r1, H.i64(M)), r1, H.i64(M))


_NAMES = ["x", "w_q", "w_scale", "w_colsum", "bias", "w"]  # the node's operands, in order


def _ptrs_of(vals):
    """The kernel's arguments -> (operand and "out" pointers by name, scratch, error flag)."""
    d = dict(zip(_NAMES, vals[:6]))
    d["out"] = vals[6]
    return d, vals[7], vals[8]


@register_kernel("qlinear", whole=True)
def emit_qlinear(mb, b, slots, node, err, name: str) -> None:
    """Dynamic int8 Linear: serial min/max and parameters, parallel quantize + GEMM."""
    avx2 = mb.vector_math  # vector_math is set only when the CPU has AVX2 (+ libmvec)
    off = mb.reserve(scratch_bytes(node, avx2))
    args = [mb.pointer(b, slots, v) for v in node.inputs]
    args.append(mb.pointer(b, slots, node.outputs[0]))
    args.append(mb.arena_pointer(b, slots, off))
    kf, kb = mb.kernel_function(name, len(args) + 1)

    ptrs, scratch, kerr = _ptrs_of(list(kf.args))
    qk = QLinearKernel(mb.cx, mb.module, kb, node, ptrs, scratch, kerr, avx2)
    mn, mx, finite = _minmax(mb, kb, kf, node, name, avx2, qk)
    with kb.if_else(finite) as (then, otherwise):
        with then:
            s_x, inv, z = qk.params(mn, mx)
            n_tasks = tasks_for(node)
            n_ptr = len(kf.args)
            task, tb, vals = mb.pool_task(name + "_task", n_ptr + 1)
            tptrs, tscratch, terr = _ptrs_of(vals[:n_ptr])
            params = vals[n_ptr]
            ts_x = tb.load(tb.gep(params, [H.i64(0)], source_etype=H.F32), typ=H.F32)
            tinv = tb.load(tb.gep(params, [H.i64(1)], source_etype=H.F32), typ=H.F32)
            tz = tb.bitcast(tb.load(tb.gep(params, [H.i64(2)], source_etype=H.F32),
                                    typ=H.F32), H.I32)
            tq = QLinearKernel(mb.cx, mb.module, tb, node, tptrs, tscratch, terr, avx2)
            r0, r1 = rows_of_task(tb, task.args[1], task_rows(node), qk.M)
            tq.quantize_rows(r0, r1, tinv, tz)
            (tq.gemm_rows_packed if tq.packed else tq.gemm_rows)(r0, r1, ts_x, tz)
            tb.ret_void()
            pblock = kb.alloca(H.F32, size=H.i64(4))  # s_x, 1/s_x, z (bits) for the tasks
            kb.store(s_x, kb.gep(pblock, [H.i64(0)], source_etype=H.F32))
            kb.store(inv, kb.gep(pblock, [H.i64(1)], source_etype=H.F32))
            kb.store(kb.bitcast(z, H.F32), kb.gep(pblock, [H.i64(2)], source_etype=H.F32))
            mb.run_on_pool(kb, task, list(kf.args) + [pblock], n_tasks)
        with otherwise:
            qk.fallback()
    kb.ret_void()
    b.call(kf, args + [err])


def _minmax(mb, kb, kf, node, name, avx2, qk):
    """Step 1 split over the pool: each task reduces a block of rows into its own slot, then
    the slots are combined here (min/max are exact, so the order is irrelevant). For the
    broadcast-form GEMM the same pool run also packs the weight panels (the first tasks, as
    they are the longest)."""
    n, n_pack = tasks_for(node), pack_tasks(node, avx2)
    if n == 1 and not n_pack:
        return qk.minmax()
    n_ptr = len(kf.args)
    task, tb, vals = mb.pool_task(name + "_mm", n_ptr + 1)
    tptrs, tscratch, terr = _ptrs_of(vals[:n_ptr])
    slots = vals[n_ptr]
    tq = QLinearKernel(mb.cx, mb.module, tb, node, tptrs, tscratch, terr, avx2)
    K, M = qk.K, qk.M
    t = task.args[1]
    if n_pack:
        per = -(-qk.P // n_pack)
        with tb.if_then(tb.icmp_signed("<", t, H.i64(n_pack))):
            p0 = tb.mul(t, H.i64(per))
            p1 = tb.add(p0, H.i64(per))
            tq.pack_panels(p0, tb.select(tb.icmp_signed("<", p1, H.i64(qk.P)), p1,
                                         H.i64(qk.P)))
            tb.ret_void()
        t = tb.sub(t, H.i64(n_pack))
    r0, r1 = rows_of_task(tb, t, task_rows(node), M)
    mn, mx, fin = tq.minmax(tb.mul(r0, H.i64(K)), tb.mul(r1, H.i64(K)))
    base = tb.mul(t, H.i64(3))
    tb.store(mn, tb.gep(slots, [base], source_etype=H.F32))
    tb.store(mx, tb.gep(slots, [tb.add(base, H.i64(1))], source_etype=H.F32))
    tb.store(tb.uitofp(fin, H.F32), tb.gep(slots, [tb.add(base, H.i64(2))],
                                           source_etype=H.F32))
    tb.ret_void()
    part = kb.alloca(H.F32, size=H.i64(3 * n))
    mb.run_on_pool(kb, task, list(kf.args) + [part], n + n_pack)
    mnf = mb.cx(kb, 1).intrinsic("minnum", H.F32, 2)
    mxf = mb.cx(kb, 1).intrinsic("maxnum", H.F32, 2)

    def combine(t, c):
        at = kb.mul(t, H.i64(3))
        pm = kb.load(kb.gep(part, [at], source_etype=H.F32), typ=H.F32)
        pM = kb.load(kb.gep(part, [kb.add(at, H.i64(1))], source_etype=H.F32), typ=H.F32)
        pf_ = kb.load(kb.gep(part, [kb.add(at, H.i64(2))], source_etype=H.F32), typ=H.F32)
        ok = kb.fcmp_ordered("!=", pf_, ir.Constant(H.F32, 0.0))
        return [kb.call(mnf, [c[0], pm]), kb.call(mxf, [c[1], pM]), kb.and_(c[2], ok)]
    init = [ir.Constant(H.F32, float("inf")), ir.Constant(H.F32, float("-inf")),
            ir.Constant(H.I1, 1)]
    return H.loop(kb, n, combine, init, name="mmc")
