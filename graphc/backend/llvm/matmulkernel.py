"""Matmul kernels: register-blocked micro-kernels with the kernel's elementwise epilogue fused in.

Two forms cover the transposes a training step produces, without packing:
- broadcast form (B not transposed: x @ W, dX = g @ W, dW = g^T @ x): a tile of MR=6 rows by
  16 columns keeps 12 `<8 x float>` accumulators in registers; each k step loads two vectors of
  B's row k and broadcasts MR scalars of A (rows of A, or columns when A is transposed);
- dot form (B transposed, A not: x @ W^T, the forward Linear): a 3x3 tile of `<8 x float>`
  accumulators runs along k over rows of A and rows of B, then sums each accumulator.
Either way the finished tile goes straight through the epilogue (bias, ReLU and its mask, or a
whole optimizer update) while it is in registers. Other shapes/dtypes use a plain triple loop.
"""
from __future__ import annotations

import llvmlite.ir as ir
import numpy as np

from ...ir.graph import Graph, Value
from . import irhelp as H
from .loopkernel import Operand, _strides
from .lowering import lower_elementwise

MR, NR_VEC = 6, 2          # broadcast form: 6 rows x 2 vectors of 8
DOT_MR, DOT_NR = 3, 3      # dot form tile
PACK_MIN_M = 256           # x @ W^T with at least this many rows: pack W^T panels, broadcast form
PACK_MAX_K = 8192          # a packed panel lives on the stack: K x 16 floats
PANEL_MAX = 16


class MatmulKernel:
    """Emit one matmul kernel, its elementwise epilogue fused in, into the current function."""

    @staticmethod
    def row_blocks(mm) -> int:
        """How many row blocks the kernel for matmul node `mm` loops over (the unit of tasks)."""
        M = mm.outputs[0].shape[-2]
        ta, tb = mm.attrs.get("transpose_a", False), mm.attrs.get("transpose_b", False)
        if tb and not ta and M < PACK_MIN_M:
            return M // DOT_MR if M >= DOT_MR else 0
        return M // MR

    def __init__(self, cx_factory, b: ir.IRBuilder, body: Graph,
                 operands: dict[Value, Operand], results: dict[Value, Operand], err,
                 part=None, uniform_only: bool = False):
        self.part = part  # (task index, number of tasks): this call does a share of row blocks
        # scalar results (a step counter) are stored once, after all tasks, never by a task:
        # tasks must all read the old value
        self.uniform_only = uniform_only
        self.cx_factory, self.b, self.body = cx_factory, b, body
        self.operands, self.results = operands, results
        self.mm = body.nodes[0] if body.nodes[0].op == "matmul" else \
            next(n for n in body.nodes if n.op == "matmul")
        self.C = self.mm.outputs[0]
        self.S = self.C.shape
        rest = [n for n in body.nodes if n is not self.mm and n.op != "constant"]
        self.uniform = [n for n in rest if n.outputs[0].shape == () and
                        all(v.shape == () for v in n.inputs) and not self._depends_on_c(n)]
        self.epi = [n for n in rest if n not in self.uniform]
        self.dt = self.C.dtype
        self.VW = 8 if self.dt.name == "f32" else 4

    def _depends_on_c(self, n) -> bool:
        seen, stack = set(), list(n.inputs)
        while stack:
            v = stack.pop()
            if v is self.C:
                return True
            if v in seen or v.producer is None or v.producer not in self.body.nodes:
                continue
            seen.add(v)
            stack.extend(v.producer.inputs)
        return False

    # -- entry ----------------------------------------------------------------------------------
    def emit(self):
        """Emit the kernel: its uniform scalar ops, then the tiled matmul with its epilogue."""
        b = self.b
        cx = self.cx_factory(b, 1)
        self.uvals = {}
        for n in self.uniform:
            args = [self._scalar(v) for v in n.inputs]
            self.uvals[n.outputs[0]] = lower_elementwise(cx, n, args)
            if n.outputs[0] in self.results and self.part is None:
                H.store(b, self.uvals[n.outputs[0]], self.results[n.outputs[0]].ptr,
                        n.outputs[0].dtype, H.i64(0))
        if self.uniform_only:
            return
        A, B = self.mm.inputs
        ta, tb = self.mm.attrs.get("transpose_a", False), self.mm.attrs.get("transpose_b", False)
        M, N = self.S[-2], self.S[-1]
        K = A.shape[-2] if ta else A.shape[-1]
        batch = self.S[:-2]
        self.epi_operands = list(dict.fromkeys(
            v for n in self.epi for v in n.inputs
            if v in self.operands and not _is_const(v)))
        access = [A, B] + self.epi_operands + [v for v in self._stored()]
        self.bstrides = {}
        for v in access:  # A and B: only their batch strides are used
            full = batch + v.shape[-2:] if v in (A, B) else self.S
            self.bstrides[v] = _strides(v.shape, full)
        self.M, self.N, self.K, self.ta, self.tb = M, N, K, ta, tb
        float_ok = self.dt.name in ("f32", "f64")

        self.pack = float_ok and K <= PACK_MAX_K and (tb or N * self.dt.itemsize % 4096 == 0
                                                       or M >= PACK_MIN_M)

        def per_batch(base):
            if float_ok and tb and not ta and M < PACK_MIN_M:
                self._dot_form(base)       # few rows: stream W once, no packing
            elif float_ok and (not tb or self.pack):
                self._broadcast_form(base)  # B's column panels packed (and transposed) first
            else:
                self._naive(base)

        self._batch_nest(0, batch, {v: H.i64(0) for v in access}, per_batch)

    def _stored(self):
        out = []
        if self.C in self.results:
            out.append(self.C)
        out += [n.outputs[0] for n in self.epi if n.outputs[0] in self.results]
        return out

    def _batch_nest(self, d, batch, base, fn):
        b = self.b
        if d == len(batch):
            fn(base)
            return

        def body(i, c):
            nb = {v: (b.add(o, b.mul(i, H.i64(self.bstrides[v][d]))) if self.bstrides[v][d] else o)
                  for v, o in base.items()}
            self._batch_nest(d + 1, batch, nb, fn)
            return []
        H.loop(b, batch[d], body, name=f"batch{d}")

    def _scalar(self, v: Value):
        if v in self.uvals:
            return self.uvals[v]
        if _is_const(v):
            return H.const(v.dtype, v.producer.attrs["value"].reshape(-1)[0])
        return H.load(self.b, self.operands[v].ptr, v.dtype, H.i64(0))

    def _row_loop(self, m_full: int, fn):
        """Run fn(block index) over full row blocks (this task's share of them)."""
        b = self.b
        if self.part is None:
            if m_full:
                H.loop(b, m_full, lambda ib, c: (fn(ib), [])[1], name="ib")
            return
        t, n = self.part
        chunk = -(-m_full // n)
        lo = b.mul(t, H.i64(chunk))
        hi = b.add(lo, H.i64(chunk))
        hi = b.select(b.icmp_signed("<", hi, H.i64(m_full)), hi, H.i64(m_full))
        H.loop(b, hi, lambda ib, c: (fn(ib), [])[1], start=lo, name="ib")

    def _last_task(self):
        """The remainder rows belong to the last task (or to the only one)."""
        b = self.b
        if self.part is None:
            return None
        t, n = self.part
        return b.icmp_signed("==", t, H.i64(n - 1))

    # -- A and B element addressing --------------------------------------------------------------
    def _a_index(self, base, i, k):
        b = self.b
        A = self.mm.inputs[0]
        M, K = self.M, self.K
        if self.ta:  # A is stored (K, M)
            return b.add(base[A], b.add(b.mul(k, H.i64(M)), i))
        return b.add(base[A], b.add(b.mul(i, H.i64(K)), k))

    # -- broadcast form -------------------------------------------------------------------------
    def _broadcast_form(self, base):
        b = self.b
        M, N = self.M, self.N
        VW = self.VW
        panel = VW * NR_VEC
        n_full = N // panel
        rest = N - n_full * panel
        m_full = M // MR
        m_rest = M - m_full * MR

        def row_blocks(j0, widths):
            """All of this task's row blocks for one column panel: B's panel stays in cache."""
            self.packed = self._pack_panel(base, j0, sum(widths)) if self.pack else None
            self._row_loop(m_full, lambda ib: self._bcast_tile(base, b.mul(ib, H.i64(MR)), MR,
                                                               j0, widths))
            if m_rest:
                last = self._last_task()
                if last is None:
                    self._bcast_tile(base, H.i64(m_full * MR), m_rest, j0, widths)
                else:
                    with b.if_then(last):
                        self._bcast_tile(base, H.i64(m_full * MR), m_rest, j0, widths)

        if n_full:
            H.loop(b, n_full, lambda jp, c: (row_blocks(b.mul(jp, H.i64(panel)),
                                                        [VW] * NR_VEC), [])[1], name="jp")
        j = n_full * panel
        widths = []
        r = rest
        while r >= VW:
            widths.append(VW)
            r -= VW
        if widths:
            row_blocks(H.i64(j), widths)
            j += VW * len(widths)
        if r:
            H.loop(b, N, lambda jj, c: (row_blocks(jj, [1]), [])[1], start=j, name="jc")

    def _bcast_tile(self, base, i0, mr, j0, widths):
        b = self.b
        A, B = self.mm.inputs
        N, K = self.N, self.K
        st = H.scalar_type(self.dt)
        fma_fns = {w: self.cx_factory(b, w).intrinsic("fma", st if w == 1 else
                                                      ir.VectorType(st, w), 3) for w in set(widths)}
        zeros = [H.const(self.dt, 0, w) for _ in range(mr) for w in widths]

        pw = sum(widths)

        def kstep(k, accs):
            bvs = []
            if self.packed is not None:  # the panel, contiguous: row k at k * pw
                src, off = self.packed, b.mul(k, H.i64(pw))
            else:
                src, off = self.operands[B].ptr, b.add(base[B], b.add(b.mul(k, H.i64(N)), j0))
            col = 0
            for w in widths:
                bvs.append(H.load(b, src, self.dt, b.add(off, H.i64(col)) if col else off, w))
                col += w
            out = []
            for r in range(mr):
                a = H.load(b, self.operands[A].ptr, self.dt,
                           self._a_index(base, b.add(i0, H.i64(r)), k))
                for q, w in enumerate(widths):
                    acc = accs[r * len(widths) + q]
                    out.append(b.call(fma_fns[w], [H.splat(b, a, w), bvs[q], acc]))
            return out

        accs = H.loop(b, K, kstep, zeros, name="k")
        for r in range(mr):
            col = 0
            for q, w in enumerate(widths):
                i = b.add(i0, H.i64(r))
                j = b.add(j0, H.i64(col)) if col else j0
                self._epilogue(base, i, j, accs[r * len(widths) + q], w)
                col += w

    def _pack_panel(self, base, j0, pw: int):
        """Copy B's columns j0..j0+pw (all K rows) into a contiguous stack buffer, transposing
        when B is stored transposed. Removes power-of-two strides (cache-set conflicts) and lets
        `x @ W^T` use the broadcast kernel."""
        b = self.b
        B = self.mm.inputs[1]
        K, N = self.K, self.N
        if not hasattr(self, "_panel_buf"):
            entry = b.function.entry_basic_block
            with b.goto_block(entry):  # allocas belong to the entry block
                b.position_at_start(entry)
                self._panel_buf = b.alloca(H.mem_type(self.dt), size=H.i64(K * PANEL_MAX))
        buf = self._panel_buf

        def row(k, c):
            for col in range(pw):
                j = b.add(j0, H.i64(col))
                src = (b.add(base[B], b.add(b.mul(j, H.i64(K)), k)) if self.tb else
                       b.add(base[B], b.add(b.mul(k, H.i64(N)), j)))
                v = H.load(b, self.operands[B].ptr, self.dt, src)
                H.store(b, v, buf, self.dt, b.add(b.mul(k, H.i64(pw)), H.i64(col)))
            return []
        H.loop(b, K, row, name="pack")
        return buf

    # -- dot form ------------------------------------------------------------------------------
    def _dot_form(self, base):
        b = self.b
        M, N = self.M, self.N
        mr_t, nr_t = (DOT_MR, DOT_NR) if M >= DOT_MR else (1, 8)

        def tiles(i0, mr):
            n_full = N // nr_t
            if n_full:
                H.loop(b, n_full, lambda jb, c: (self._dot_tile(base, i0, mr,
                                                                b.mul(jb, H.i64(nr_t)), nr_t),
                                                 [])[1], name="jb")
            if N % nr_t:
                self._dot_tile(base, i0, mr, H.i64(n_full * nr_t), N % nr_t)

        m_full = M // mr_t
        self._row_loop(m_full, lambda ib: tiles(b.mul(ib, H.i64(mr_t)), mr_t))
        if M % mr_t:
            last = self._last_task()
            if last is None:
                tiles(H.i64(m_full * mr_t), M % mr_t)
            else:
                with b.if_then(last):
                    tiles(H.i64(m_full * mr_t), M % mr_t)

    def _dot_tile(self, base, i0, mr, j0, nr):
        b = self.b
        A, B = self.mm.inputs
        K, VW = self.K, self.VW
        st = H.scalar_type(self.dt)
        vt = ir.VectorType(st, VW)
        fma = self.cx_factory(b, VW).intrinsic("fma", vt, 3)
        kv = K // VW * VW
        a_rows = [b.add(base[A], b.mul(b.add(i0, H.i64(r)), H.i64(K))) for r in range(mr)]
        b_rows = [b.add(base[B], b.mul(b.add(j0, H.i64(c)), H.i64(K))) for c in range(nr)]
        accs = [H.const(self.dt, 0, VW) for _ in range(mr * nr)]
        if kv:
            def kstep(k, accs):
                av = [H.load(b, self.operands[A].ptr, self.dt, b.add(a, k), VW) for a in a_rows]
                bv = [H.load(b, self.operands[B].ptr, self.dt, b.add(x, k), VW) for x in b_rows]
                return [b.call(fma, [av[r], bv[c], accs[r * nr + c]])
                        for r in range(mr) for c in range(nr)]
            accs = H.loop(b, kv, kstep, accs, step=VW, name="k")
        sums = [H.hsum(b, a, VW) for a in accs]
        if kv < K:
            fma1 = self.cx_factory(b, 1).intrinsic("fma", st, 3)

            def tail(k, s):
                av = [H.load(b, self.operands[A].ptr, self.dt, b.add(a, k)) for a in a_rows]
                bv = [H.load(b, self.operands[B].ptr, self.dt, b.add(x, k)) for x in b_rows]
                return [b.call(fma1, [av[r], bv[c], s[r * nr + c]])
                        for r in range(mr) for c in range(nr)]
            sums = H.loop(b, K, tail, sums, start=kv, name="kt")
        for r in range(mr):
            for c in range(nr):
                self._epilogue(base, b.add(i0, H.i64(r)), b.add(j0, H.i64(c)), sums[r * nr + c], 1)

    # -- anything else: a plain triple loop -----------------------------------------------------
    def _naive(self, base):
        b = self.b
        A, B = self.mm.inputs
        M, N, K = self.M, self.N, self.K
        dt = self.dt

        def row(i, c):
            def col(j, c2):
                def kk(k, acc):
                    a = H.load(b, self.operands[A].ptr, dt, self._a_index(base, i, k))
                    bi = (b.add(base[B], b.add(b.mul(j, H.i64(K)), k)) if self.tb else
                          b.add(base[B], b.add(b.mul(k, H.i64(N)), j)))
                    x = H.load(b, self.operands[B].ptr, dt, bi)
                    p = b.fmul(a, x) if dt.is_float else b.mul(a, x)
                    return [b.fadd(acc[0], p) if dt.is_float else b.add(acc[0], p)]
                (s,) = H.loop(b, K, kk, [H.const(dt, 0)], name="k")
                self._epilogue(base, i, j, s, 1)
                return []
            H.loop(b, N, col, name="j")
            return []
        H.loop(b, M, row, name="i")

    # -- the fused epilogue on one tile row segment ----------------------------------------------
    def _epilogue(self, base, i, j, cval, w):
        """Run the epilogue for C[i, j:j+w] = cval, reading other operands at the same place."""
        b = self.b
        cx = self.cx_factory(b, w)
        N = self.N
        vals = {self.C: cval}

        def offset(v):
            st = self.bstrides[v]
            o = base[v]
            si, sj = st[-2], st[-1]
            if si:
                o = b.add(o, b.mul(i, H.i64(si)))
            if sj:
                o = b.add(o, j if sj == 1 else b.mul(j, H.i64(sj)))
            return o, sj

        def arg(v):
            if v in vals:
                return vals[v]
            if v in self.uvals:
                return H.splat(b, self.uvals[v], w)
            if _is_const(v):
                return H.const(v.dtype, v.producer.attrs["value"].reshape(-1)[0], w)
            o, sj = offset(v)
            if sj == 1:
                x = H.load(b, self.operands[v].ptr, v.dtype, o, w)
            else:
                x = H.splat(b, H.load(b, self.operands[v].ptr, v.dtype, o), w)
            vals[v] = x  # read once, before any in-place store of this element
            return x

        stores = [self.C] if self.C in self.results else []
        for n in self.epi:
            vals[n.outputs[0]] = lower_elementwise(cx, n, [arg(v) for v in n.inputs])
            if n.outputs[0] in self.results:
                stores.append(n.outputs[0])
        for v in stores:  # after every read: an in-place weight update reads the old weight
            o, _ = offset(v)
            H.store(b, vals[v], self.results[v].ptr, v.dtype, o, w)
        del N


def _is_const(v: Value) -> bool:
    return v.producer is not None and v.producer.op == "constant" and v.type.size == 1


__all__ = ["MatmulKernel", "np"]
