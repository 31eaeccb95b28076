"""Graph -> one LLVM module with one exported entry function `graphc_main(ptr slots) -> i32`.

`slots` is an array of buffer pointers prepared by the runtime: graph inputs, state (by name),
outputs, then the arena. Every top-level node becomes one internal kernel function whose
arguments are the distinct buffers it touches (`noalias`: the memory planner guarantees distinct
values never overlap, and an in-place update passes its buffer once). The entry calls the kernels
in order, copies state updates that could not be done in place, and returns the error flag
(1 = an index was out of range).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.ir as ir
import numpy as np

from ...ir.graph import Graph, Node, Value
from . import irhelp as H
from .loop import LoopKernel, Operand
from .elementwise import Ctx
from .matmul import MatmulKernel
from .movement import emit_misc, memcpy

ENTRY = "graphc_main"
ALIGN = 64
PARALLEL_MACS = 1 << 20   # matmuls with at least this many multiply-adds use the thread pool
MAX_TASKS = 8


@dataclass
class Layout:
    """How the runtime fills the slot array."""

    inputs: list[str]
    state: list[str]
    outputs: list[int]                 # one slot per graph output
    arena_bytes: int
    kernels: list[str] = field(default_factory=list)


def _is_const(v: Value) -> bool:
    return v.producer is not None and v.producer.op == "constant"


class ModuleBuilder:
    """Builds a graph's LLVM module: where each value lives, one kernel function per node."""

    def __init__(self, g: Graph, vector_math: bool, timing: bool = False,
                 bounds_check: bool = False):
        self.g = g
        self.timing = timing
        self.bounds_check = bounds_check
        self.vector_math = vector_math
        self.module = ir.Module(name=f"graphc.{g.name}")
        self.buffers = g.meta.get("buffers", {})
        self.n_in = len(g.inputs)
        self.state_names = list(g.state)
        self.slot_of_input = {v: i for i, v in enumerate(g.inputs)}
        self.slot_of_state = {k: self.n_in + i for i, k in enumerate(self.state_names)}
        self.out_base = self.n_in + len(self.state_names)
        self.arena_slot = self.out_base + len(g.outputs)
        self.out_slot: dict[Value, int] = {}
        for j, v in enumerate(g.outputs):
            if v not in self.out_slot and v.producer is not None and not _is_const(v) \
                    and v not in self.buffers:
                self.out_slot[v] = self.out_base + j
        self.arena_bytes = int(g.meta.get("arena", 0))
        self.scratch_bytes = 0
        self.panel_offset: int | None = None   # the matmul kernels' shared panel region
        self.globals: dict[int, ir.GlobalVariable] = {}
        self.kernel_names: list[str] = []
        self.uses_pool = False

    def cx(self, b, w):
        """A lowering context on builder `b` with vector width `w`."""
        return Ctx(b, self.module, w, self.vector_math)

    # -- where values live ----------------------------------------------------------------------
    def location(self, v: Value):
        """(slot, byte offset) for a value, or ("const", array) for a constant."""
        if v in self.slot_of_input:
            return self.slot_of_input[v], 0
        for k, sv in self.g.state.items():
            if sv is v:
                return self.slot_of_state[k], 0
        if v in self.out_slot:
            return self.out_slot[v], 0
        if _is_const(v):
            return "const", v.producer.attrs["value"]
        loc = self.buffers.get(v)
        if loc is None and v.producer is not None and v.producer.op == "reshape":
            return self.location(v.producer.inputs[0])  # a reshape aliases its operand
        if loc is None:
            raise RuntimeError(f"no buffer planned for a value of type {v.type}")
        if loc.startswith("arena+"):
            return self.arena_slot, int(loc[6:])
        if loc in self.slot_of_state_name():
            return self.slot_of_state[loc], 0
        for iv in self.g.inputs:
            if iv.name == loc:
                return self.slot_of_input[iv], 0
        raise RuntimeError(f"unknown buffer location {loc!r}")

    def slot_of_state_name(self):
        """State name -> the slot index of its buffer."""
        return self.slot_of_state

    def pointer(self, b, slots, v: Value):
        """A pointer to v's buffer: its slot plus byte offset, or a constant global."""
        where = self.location(v)
        if where[0] == "const":
            return self.global_array(where[1])
        slot, off = where
        p = slots[slot]
        return b.gep(p, [H.i64(off)], source_etype=H.I8) if off else p

    def global_array(self, arr: np.ndarray):
        """An internal constant global holding `arr` (one per array object)."""
        key = id(arr)
        if key not in self.globals:
            from ...dtypes import from_numpy
            dt = from_numpy(arr.dtype)
            mt = H.mem_type(dt)
            flat = arr.reshape(-1)
            vals = [int(x) for x in flat.astype(np.int64)] if not dt.is_float else \
                [float(x) for x in flat]
            at = ir.ArrayType(mt, max(len(vals), 1))
            gv = ir.GlobalVariable(self.module, at, name=f"const{len(self.globals)}")
            gv.linkage = "internal"
            gv.global_constant = True
            gv.initializer = ir.Constant(at, [ir.Constant(mt, x) for x in vals] or
                                         [ir.Constant(mt, 0)])
            self.globals[key] = gv
        return self.globals[key]

    # -- the module -------------------------------------------------------------------------------
    def build(self) -> tuple[ir.Module, Layout]:
        """Emit every kernel and the entry function; returns the module and the slot Layout."""
        g = self.g
        fn = ir.Function(self.module, ir.FunctionType(H.I32, [H.PTR]), ENTRY)
        fn.args[0].add_attribute("noalias")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        err = b.alloca(H.I32, name="err")
        b.store(ir.Constant(H.I32, 0), err)
        n_slots = self.arena_slot + 1
        slots = [b.load(b.gep(fn.args[0], [H.i64(i)], source_etype=H.PTR), typ=H.PTR,
                        name=f"slot{i}") for i in range(n_slots)]
        times = b.load(b.gep(fn.args[0], [H.i64(n_slots)], source_etype=H.PTR), typ=H.PTR) \
            if self.timing else None
        for k, node in enumerate(g.nodes):
            if node.op == "constant":
                continue
            if node.op == "reshape" and self._aliased(node):
                continue
            t0 = self._now(b) if self.timing else None
            self.kernel(b, slots, node, err, k)
            if self.timing:  # GRAPHC_DEBUG: nanoseconds per kernel, accumulated
                slot = b.gep(times, [H.i64(len(self.kernel_names) - 1)], source_etype=H.I64)
                dt = b.sub(self._now(b), t0)
                b.store(b.add(b.load(slot, typ=H.I64), dt), slot)
        self.finish(b, slots)
        b.ret(b.load(err, typ=H.I32))
        layout = Layout([v.name for v in g.inputs], self.state_names,
                        list(range(len(g.outputs))),
                        self.arena_bytes + self.scratch_bytes, self.kernel_names)
        return self.module, layout

    def _now(self, b):
        """clock_gettime(CLOCK_MONOTONIC) in nanoseconds."""
        fn = self.module.globals.get("clock_gettime") or ir.Function(
            self.module, ir.FunctionType(H.I32, [H.I32, H.PTR]), "clock_gettime")
        ts = b.alloca(ir.ArrayType(H.I64, 2))
        b.call(fn, [ir.Constant(H.I32, 1), ts])
        sec = b.load(b.gep(ts, [H.i64(0), ir.Constant(H.I32, 0)],
                           source_etype=ir.ArrayType(H.I64, 2)), typ=H.I64)
        nsec = b.load(b.gep(ts, [H.i64(0), ir.Constant(H.I32, 1)],
                            source_etype=ir.ArrayType(H.I64, 2)), typ=H.I64)
        return b.add(b.mul(sec, H.i64(1_000_000_000)), nsec)

    def _aliased(self, node: Node) -> bool:
        try:
            return self.location(node.outputs[0]) == self.location(node.inputs[0])
        except RuntimeError:
            return False

    def kernel(self, b, slots, node: Node, err, k: int):
        """One internal function for this node; the entry calls it with its buffers."""
        if node.op == "qlinear":
            return self.qlinear(b, slots, node, err, k)
        if node.op == "allreduce":  # data parallelism: graphc/backend/llvm/collective.py
            from .allreduce import emit_allreduce
            return emit_allreduce(self, b, slots, node, err, k)
        if node.op == "fused":
            body, kind = node.attrs["body"], node.attrs["kind"]
            outer_in = dict(zip(body.inputs, node.inputs))
            outer_out = dict(zip(body.outputs, node.outputs))
        else:
            body = Graph(f"k{k}", [], {}, [node], list(node.outputs))
            kind = "matmul" if node.op == "matmul" else "loop"
            outer_in = {v: v for v in node.inputs}
            outer_out = {v: v for v in node.outputs}
        # distinct buffers this kernel touches, in a stable order
        where: dict = {}
        args: list = []
        for inner, outer in list(outer_in.items()) + list(outer_out.items()):
            loc = self.location(outer)
            if loc[0] == "const":
                if outer.type.size == 1 and inner.type.ndim == 0:
                    continue  # scalars are inlined
                key = ("const", id(loc[1]))
            else:
                key = loc
            if key not in where:
                where[key] = len(args)
                args.append(outer)
        name = f"k{k}_{node.op if node.op != 'fused' else kind}"
        self.kernel_names.append(name)
        # after the buffers, before the error flag: where a matmul's tasks pack B's panels
        panels = kind == "matmul" and self._panel_bytes(body) > 0
        fty = ir.FunctionType(H.VOID, [H.PTR] * (len(args) + 1 + panels))
        kf = ir.Function(self.module, fty, name)
        kf.linkage = "internal"
        # kept out of line: inlining every kernel into one huge entry function makes the
        # optimiser's time grow with the square of the kernel count
        kf.attributes.add("noinline")
        for a in kf.args[:-1]:
            a.add_attribute("noalias")
        kb = ir.IRBuilder(kf.append_basic_block("entry"))
        if panels:   # no panel slice in use yet (the arena is not zeroed between calls)
            kb.store(ir.Constant(H.I32, 0), kf.args[len(args)])
        tasks = self._tasks(node, body, kind)
        if tasks > 1:  # split over the thread pool: kf packs its arguments, tasks unpack them
            task, tb, ptrs = self._pool_task(name + "_task", len(kf.args))
            self._emit_body(tb, node, body, kind, outer_in, outer_out, where, ptrs,
                            (task.args[1], tasks))
            tb.ret_void()
            self._run_on_pool(kb, task, list(kf.args), tasks)
            self._emit_body(kb, node, body, kind, outer_in, outer_out, where, list(kf.args),
                            None, uniform_only=True)
        else:
            self._emit_body(kb, node, body, kind, outer_in, outer_out, where, list(kf.args), None)
        kb.ret_void()
        extra = [self._panel_region(b, slots)] if panels else []
        b.call(kf, [self.pointer(b, slots, v) for v in args] + extra + [err])

    def _panel_bytes(self, body) -> int:
        """Arena bytes the matmul kernel of `body` packs its panels into (all its tasks)."""
        mm = next(n for n in body.nodes if n.op == "matmul")
        return MatmulKernel.panel_bytes(mm, self._tasks(None, body, "matmul"))

    def _panel_region(self, b, slots):
        """The arena region every matmul kernel packs its panels into: kernels run one at a time,
        so one region of the largest need serves them all. In the arena, not on the stack, so a
        thread with a small stack (threading.stack_size) is as safe as any other."""
        if self.panel_offset is None:
            need = 0
            for node in self.g.nodes:
                if node.op == "fused" and node.attrs["kind"] == "matmul":
                    need = max(need, self._panel_bytes(node.attrs["body"]))
                elif node.op == "matmul":
                    need = max(need, self._panel_bytes(
                        Graph("k", [], {}, [node], list(node.outputs))))
            self.panel_offset = self.arena_bytes + self.scratch_bytes
            self.scratch_bytes += (need + ALIGN - 1) // ALIGN * ALIGN
        return b.gep(slots[self.arena_slot], [H.i64(self.panel_offset)], source_etype=H.I8)

    def _pool_task(self, name: str, n_values: int):
        """A task `void name(ptr ctx, i64 t)` for the pool, its builder, and the n_values
        pointers it reads from ctx."""
        task = ir.Function(self.module, ir.FunctionType(H.VOID, [H.PTR, H.I64]), name)
        task.linkage = "internal"
        tb = ir.IRBuilder(task.append_basic_block("entry"))
        vals = [tb.load(tb.gep(task.args[0], [H.i64(i)], source_etype=H.PTR), typ=H.PTR)
                for i in range(n_values)]
        return task, tb, vals

    def _run_on_pool(self, kb, task, values: list, n_tasks: int) -> None:
        """Pack `values` (pointers) into a stack array and run `task` n_tasks times on the pool."""
        ctx = kb.alloca(H.PTR, size=H.i64(len(values)))
        for i, a in enumerate(values):
            kb.store(a, kb.gep(ctx, [H.i64(i)], source_etype=H.PTR))
        pf = self.module.globals.get("graphc_parallel_for") or ir.Function(
            self.module, ir.FunctionType(H.VOID, [H.PTR, H.PTR, H.I64]), "graphc_parallel_for")
        self.uses_pool = True
        kb.call(pf, [task, ctx, H.i64(n_tasks)])

    @staticmethod
    def _rows_of_task(tb, t, rows: int, M: int):
        """[r0, r1): the rows task t handles, `rows` per task, clipped to M."""
        r0 = tb.mul(t, H.i64(rows))
        r1 = tb.add(r0, H.i64(rows))
        return r0, tb.select(tb.icmp_signed("<", r1, H.i64(M)), r1, H.i64(M))

    def _tasks(self, node, body, kind) -> int:
        """How many pool tasks a kernel is split into: only large matmuls, never batched ones.

        The count does not depend on the number of threads, so neither do the results.
        """
        if kind != "matmul":
            return 1
        mm = next(n for n in body.nodes if n.op == "matmul")
        c = mm.outputs[0]
        a = mm.inputs[0]
        if len(c.shape) != 2 or not c.dtype.is_float:
            return 1
        K = a.shape[0] if mm.attrs.get("transpose_a") else a.shape[1]
        M, N = c.shape
        if M * N * K < PARALLEL_MACS:
            return 1
        return MatmulKernel.task_count(mm, MAX_TASKS)

    def _emit_body(self, kb, node, body, kind, outer_in, outer_out, where, ptrs, part,
                   uniform_only: bool = False):
        def operand_for(inner, outer):
            loc = self.location(outer)
            key = ("const", id(loc[1])) if loc[0] == "const" else loc
            if key not in where:
                return None
            return Operand(ptrs[where[key]], inner.dtype, inner.shape)

        operands, results = {}, {}
        for inner, outer in outer_in.items():
            op = operand_for(inner, outer)
            if op is not None:   # None: a scalar constant, inlined by the kernel
                operands[inner] = op
        for inner, outer in outer_out.items():
            results[inner] = operand_for(inner, outer)
        kerr = ptrs[-1]
        panels = ptrs[len(where)] if len(ptrs) > len(where) + 1 else None
        if self.bounds_check:
            H.BOUNDS.clear()
            for v, op in list(operands.items()) + list(results.items()):
                if op is not None and op.ptr is not None:
                    H.BOUNDS[id(op.ptr)] = (max(v.type.size, 1), kerr)
        try:
            self._dispatch(kb, node, body, kind, operands, results, kerr, part, uniform_only,
                           panels)
        finally:
            H.BOUNDS.clear()

    def _dispatch(self, kb, node, body, kind, operands, results, kerr, part, uniform_only,
                  panels=None):
        if node.op not in ("fused", "matmul", "sum", "max") and not _elementwise(node):
            emit_misc(kb, self.module, node, [operands[v].ptr for v in node.inputs],
                      results[node.outputs[0]].ptr, kerr)
        elif kind == "matmul":
            MatmulKernel(self.cx, kb, body, operands, results, kerr, part, uniform_only,
                         panels).emit()
        else:
            LoopKernel(self.cx, kb, body, kind, operands, results, kerr).emit()

    def qlinear(self, b, slots, node: Node, err, k: int):
        """Dynamic int8 Linear: serial min/max and parameters, parallel quantize + GEMM."""
        from .qlinear import QLinearKernel, scratch_bytes, tasks_for
        names = ["x", "w_q", "w_scale", "w_colsum", "bias", "w"]
        avx2 = self.vector_math  # vector_math is set only when the CPU has AVX2 (+ libmvec)
        off = self.arena_bytes + self.scratch_bytes
        self.scratch_bytes += (scratch_bytes(node, avx2) + ALIGN - 1) // ALIGN * ALIGN
        args = [self.pointer(b, slots, v) for v in node.inputs]
        args.append(self.pointer(b, slots, node.outputs[0]))
        args.append(b.gep(slots[self.arena_slot], [H.i64(off)], source_etype=H.I8))
        name = f"k{k}_qlinear"
        self.kernel_names.append(name)
        kf = ir.Function(self.module, ir.FunctionType(H.VOID, [H.PTR] * (len(args) + 1)), name)
        kf.linkage = "internal"
        kf.attributes.add("noinline")
        kb = ir.IRBuilder(kf.append_basic_block("entry"))

        def ptrs_of(vals):
            d = dict(zip(names, vals[:6]))
            d["out"] = vals[6]
            return d, vals[7], vals[8]

        ptrs, scratch, kerr = ptrs_of(list(kf.args))
        qk = QLinearKernel(self.cx, self.module, kb, node, ptrs, scratch, kerr, avx2)
        mn, mx, finite = self._qlinear_minmax(kb, kf, node, name, avx2, ptrs_of, qk)
        with kb.if_else(finite) as (then, otherwise):
            with then:
                s_x, inv, z = qk.params(mn, mx)
                n_tasks = tasks_for(node)
                n_ptr = len(kf.args)
                task, tb, vals = self._pool_task(name + "_task", n_ptr + 1)
                tptrs, tscratch, terr = ptrs_of(vals[:n_ptr])
                params = vals[n_ptr]
                ts_x = tb.load(tb.gep(params, [H.i64(0)], source_etype=H.F32), typ=H.F32)
                tinv = tb.load(tb.gep(params, [H.i64(1)], source_etype=H.F32), typ=H.F32)
                tz = tb.bitcast(tb.load(tb.gep(params, [H.i64(2)], source_etype=H.F32),
                                        typ=H.F32), H.I32)
                tq = QLinearKernel(self.cx, self.module, tb, node, tptrs, tscratch, terr, avx2)
                from .qlinear import ROWS_PER_TASK
                r0, r1 = self._rows_of_task(tb, task.args[1], ROWS_PER_TASK, qk.M)
                tq.quantize_rows(r0, r1, tinv, tz)
                (tq.gemm_rows_packed if tq.packed else tq.gemm_rows)(r0, r1, ts_x, tz)
                tb.ret_void()
                pblock = kb.alloca(H.F32, size=H.i64(4))  # s_x, 1/s_x, z (bits) for the tasks
                kb.store(s_x, kb.gep(pblock, [H.i64(0)], source_etype=H.F32))
                kb.store(inv, kb.gep(pblock, [H.i64(1)], source_etype=H.F32))
                kb.store(kb.bitcast(z, H.F32), kb.gep(pblock, [H.i64(2)], source_etype=H.F32))
                self._run_on_pool(kb, task, list(kf.args) + [pblock], n_tasks)
            with otherwise:
                qk.fallback()
        kb.ret_void()
        b.call(kf, args + [err])

    def _qlinear_minmax(self, kb, kf, node, name, avx2, ptrs_of, qk):
        """Step 1 of qlinear split over the pool: each task reduces a block of rows into its own
        slot, then the slots are combined here (min/max are exact, so the order is irrelevant).
        For the broadcast-form GEMM the same pool run also packs the weight panels (the first
        tasks, as they are the longest)."""
        from .qlinear import QLinearKernel, ROWS_PER_TASK, pack_tasks, tasks_for
        n, n_pack = tasks_for(node), pack_tasks(node, avx2)
        if n == 1 and not n_pack:
            return qk.minmax()
        n_ptr = len(kf.args)
        task, tb, vals = self._pool_task(name + "_mm", n_ptr + 1)
        tptrs, tscratch, terr = ptrs_of(vals[:n_ptr])
        slots = vals[n_ptr]
        tq = QLinearKernel(self.cx, self.module, tb, node, tptrs, tscratch, terr, avx2)
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
        r0, r1 = self._rows_of_task(tb, t, ROWS_PER_TASK, M)
        mn, mx, fin = tq.minmax(tb.mul(r0, H.i64(K)), tb.mul(r1, H.i64(K)))
        base = tb.mul(t, H.i64(3))
        tb.store(mn, tb.gep(slots, [base], source_etype=H.F32))
        tb.store(mx, tb.gep(slots, [tb.add(base, H.i64(1))], source_etype=H.F32))
        tb.store(tb.uitofp(fin, H.F32), tb.gep(slots, [tb.add(base, H.i64(2))],
                                               source_etype=H.F32))
        tb.ret_void()
        part = kb.alloca(H.F32, size=H.i64(3 * n))
        self._run_on_pool(kb, task, list(kf.args) + [part], n + n_pack)
        mnf = self.cx(kb, 1).intrinsic("minnum", H.F32, 2)
        mxf = self.cx(kb, 1).intrinsic("maxnum", H.F32, 2)

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

    def finish(self, b, slots):
        """Copy outputs and state updates that were not computed in place."""
        g = self.g
        # sources that are themselves state or inputs are staged through scratch first
        staged = {}
        for k, v in g.updates.items():
            if self.location(v) != (self.slot_of_state[k], 0) and (
                    v in self.slot_of_input or any(v is s for s in g.state.values())):
                off = self.arena_bytes + self.scratch_bytes
                self.scratch_bytes += (v.type.nbytes + ALIGN - 1) // ALIGN * ALIGN
                dst = b.gep(slots[self.arena_slot], [H.i64(off)], source_etype=H.I8)
                memcpy(b, self.module, dst, self.pointer(b, slots, v), v.type.nbytes)
                staged[k] = dst
        for j, v in enumerate(g.outputs):
            dst_slot = self.out_base + j
            if self.out_slot.get(v) == dst_slot:
                continue
            memcpy(b, self.module, slots[dst_slot], self.pointer(b, slots, v), v.type.nbytes)
        for k, v in g.updates.items():
            dst = slots[self.slot_of_state[k]]
            if k in staged:
                memcpy(b, self.module, dst, staged[k], v.type.nbytes)
            elif self.location(v) != (self.slot_of_state[k], 0):
                memcpy(b, self.module, dst, self.pointer(b, slots, v), v.type.nbytes)


def _elementwise(node: Node) -> bool:
    from ...ir.ops import OPS
    return OPS[node.op].kind == "elementwise" or node.op in ("broadcast", "gather")


def build_module(g: Graph, vector_math: bool, timing: bool = False,
                 bounds_check: bool = False) -> tuple[ir.Module, Layout]:
    """The LLVM module for graph `g` and the Layout of its slot array."""
    return ModuleBuilder(g, vector_math, timing, bounds_check).build()
