"""Graph -> an entry module with one exported entry function `graphc_main(ptr slots) -> i32`,
and one module per distinct kernel (each compiled and cached on its own, linked with the entry).

`slots` is an array of buffer pointers prepared by the runtime: graph inputs, state (by name),
outputs, then the arena. Every top-level node becomes one kernel function (named by what its
code depends on, so graphs share it) whose arguments are the distinct buffers it touches
(`noalias`: the memory planner guarantees distinct values never overlap, and an in-place update
passes its buffer once). The entry calls the kernels in order, copies state updates that could
not be done in place, and returns the error flag (1 = an index was out of range).

Which code emits a node's kernel comes from the kernel tables (kernels.py), never from its op's
name here; the modules imported below fill them.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field

import llvmlite.ir as ir
import numpy as np

from ...ir import Fusion, fusion_of
from ...ir.ops import NO_KERNEL
from ...ir.buffers import Arena, InputBuffer, StateBuffer, align
from ...ir.graph import Graph, Node, Value
from . import irhelp as H
from .kernels import BODY, PLAIN, WHOLE, Kernel, kernel_for
from .kernels.elementwise import Ctx
from .kernels.loop import Operand, is_const

ENTRY = "graphc_main"


@dataclass
class Layout:
    """How the runtime fills the slot array."""

    inputs: list[str]
    state: list[str]
    outputs: list[int]                 # one slot per graph output
    arena_bytes: int
    kernels: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # runtime symbols the module calls


class ModuleBuilder:
    """Builds a graph's LLVM module: where each value lives, one kernel function per node.

    Whole kernels (kernels.py) build on its public methods: `pointer`, `reserve` and
    `arena_pointer`, `kernel_function`, `pool_task` and `run_on_pool`, `runtime_function`,
    `cx`, and the attributes `module` and `vector_math`."""

    def __init__(self, g: Graph, vector_math: bool, timing: bool = False,
                 bounds_check: bool = False, parent: "ModuleBuilder | None" = None,
                 prefix: str = ""):
        self.g = g
        self.timing = timing
        self.bounds_check = bounds_check
        self.vector_math = vector_math
        # a loop body's builder (`parent` set) emits into its parent's module, its functions'
        # names prefixed, sharing the parent's emitted kernels, constants and runtime imports
        self.prefix = prefix
        # the entry module holds the entry function(s), the constant arrays and the calls; each
        # kernel is a module of its own (`module` while it is being emitted), compiled and
        # cached on its own, so a kernel two graphs share (a train step's first and later
        # calls, a model compiled again) is compiled once
        self.entry_module = parent.entry_module if parent else ir.Module(name=f"graphc.{g.name}")
        self.module = self.entry_module
        self.kernel_texts: list[str] = parent.kernel_texts if parent else []   # their IR
        self.function_names: set[str] = parent.function_names if parent else set()
        self.buffers = g.meta.get("buffers", {})
        self.n_in = len(g.inputs)
        self.state_names = list(g.state)
        self.slot_of_input = {v: i for i, v in enumerate(g.inputs)}
        self.slot_of_input_name = {v.name: i for i, v in enumerate(g.inputs)}
        self.slot_of_state = {k: self.n_in + i for i, k in enumerate(self.state_names)}
        self.out_base = self.n_in + len(self.state_names)
        self.arena_slot = self.out_base + len(g.outputs)
        self.out_slot: dict[Value, int] = {}
        for j, v in enumerate(g.outputs):
            if v not in self.out_slot and v.producer is not None and not is_const(v) \
                    and v not in self.buffers:
                self.out_slot[v] = self.out_base + j
        self.arena_bytes = int(g.meta.get("arena", 0))
        self.scratch_bytes = 0
        self.panel_offset: int | None = None   # the matmul kernels' shared panel region
        self.globals: dict[int, ir.GlobalVariable] = parent.globals if parent else {}
        self.kernel_names: list[str] = parent.kernel_names if parent else []  # timing order
        # kernel signature -> its function, emitted once
        self.emitted: dict = parent.emitted if parent else {}
        self.whole_key = None     # the signature of the whole kernel being emitted
        self.imports: list[str] = parent.imports if parent else []

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
        if is_const(v):
            return "const", v.producer.attrs["value"]
        loc = self.buffers.get(v)
        if loc is None and v.producer is not None and fusion_of(v.producer) is Fusion.VIEW:
            return self.location(v.producer.inputs[0])  # a reshape aliases its operand
        if loc is None:
            raise RuntimeError(f"no buffer planned for a value of type {v.type}")
        if isinstance(loc, Arena):
            return self.arena_slot, loc.offset
        if isinstance(loc, StateBuffer) and loc.name in self.slot_of_state:
            return self.slot_of_state[loc.name], 0
        if isinstance(loc, InputBuffer) and loc.name in self.slot_of_input_name:
            return self.slot_of_input_name[loc.name], 0
        raise RuntimeError(f"unknown buffer location {loc!r}")

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
            gv = ir.GlobalVariable(self.entry_module, at, name=f"const{len(self.globals)}")
            gv.linkage = "internal"
            gv.global_constant = True
            gv.initializer = ir.Constant(at, [ir.Constant(mt, x) for x in vals] or
                                         [ir.Constant(mt, 0)])
            self.globals[key] = gv
        return self.globals[key]

    def reserve(self, nbytes: int) -> int:
        """The arena offset of `nbytes` of scratch (ALIGN-rounded) after the planned buffers,
        this call's own: scratch regions never overlap each other or planned values."""
        off = self.arena_bytes + self.scratch_bytes
        self.scratch_bytes += align(nbytes)
        return off

    def arena_pointer(self, b, slots, offset: int):
        """A pointer `offset` bytes into the arena (in the entry function)."""
        return b.gep(slots[self.arena_slot], [H.i64(offset)], source_etype=H.I8)

    # -- the module -------------------------------------------------------------------------------
    def build(self) -> tuple[ir.Module, list[str], Layout]:
        """Emit every kernel and the entry function; returns the entry module, the kernels'
        modules' IR text and the slot Layout."""
        layout = self.build_entry(ENTRY)
        self._declare_callees()
        return self.entry_module, self.kernel_texts, layout

    def _declare_callees(self) -> None:
        """Declare in the entry module every function its code calls that another module (a
        kernel's) defines: the objects are linked into one library."""
        m = self.entry_module
        for fn in list(m.functions):
            for blk in fn.blocks:
                for ins in blk.instructions:
                    callee = getattr(ins, "callee", None)
                    if isinstance(callee, ir.Function) and callee.module is not m \
                            and callee.name not in m.globals:
                        ir.Function(m, callee.ftype, callee.name)

    @contextlib.contextmanager
    def _in_own_module(self, name: str):
        """A context in which `module` is a fresh module for the kernel `name`; its text joins
        kernel_texts if it defines something."""
        self.module = ir.Module(name=name)
        try:
            yield self.module
            if self.module.functions:
                self.kernel_texts.append(str(self.module))
        finally:
            self.module = self.entry_module

    def _function_name(self, key, what: str) -> str:
        """The symbol of a kernel: named by what its code depends on (the same in every graph
        and process, so its module's text, and so its cached object, is too), unique here."""
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
        name = f"gk_{digest}_{what}"
        if name in self.function_names:
            name = f"{name}_{len(self.function_names)}"
        self.function_names.add(name)
        return name

    def build_entry(self, entry: str) -> Layout:
        """Emit every kernel and the entry function `i32 entry(ptr slots)`; its slot Layout."""
        g = self.g
        fn = ir.Function(self.module, ir.FunctionType(H.I32, [H.PTR]), entry)
        fn.args[0].add_attribute("noalias")
        # the entry is a straight line of kernel calls: optimising it buys nothing, and LLVM's
        # passes over thousands of calls into one arena (a 100-step LSTM) cost seconds
        fn.attributes.add("noinline")
        fn.attributes.add("optnone")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        err = b.alloca(H.I32, name="err")
        b.store(ir.Constant(H.I32, 0), err)
        n_slots = self.arena_slot + 1
        slots = [b.load(b.gep(fn.args[0], [H.i64(i)], source_etype=H.PTR), typ=H.PTR,
                        name=f"slot{i}") for i in range(n_slots)]
        times = b.load(b.gep(fn.args[0], [H.i64(n_slots)], source_etype=H.PTR), typ=H.PTR) \
            if self.timing else None
        for k, node in enumerate(g.nodes):
            f = fusion_of(node)
            if f is Fusion.SOURCE or (f is Fusion.VIEW and self._aliased(node)):
                continue  # no code: a literal array, or a view of its operand's memory
            t0 = self._now(b) if self.timing else None
            at = len(self.kernel_names)   # this node's entry in the timing table
            if f is Fusion.SCAN:
                self.scan_loop(b, slots, node, err, k, times)
            else:
                self.kernel(b, slots, node, err, k)
            if self.timing:  # GRAPHC_DEBUG: nanoseconds per kernel, accumulated
                slot = b.gep(times, [H.i64(at)], source_etype=H.I64)
                dt = b.sub(self._now(b), t0)
                b.store(b.add(b.load(slot, typ=H.I64), dt), slot)
        self.finish(b, slots)
        b.ret(b.load(err, typ=H.I32))
        return Layout([v.name for v in g.inputs], self.state_names, list(range(len(g.outputs))),
                      self.arena_bytes + self.scratch_bytes, self.kernel_names,
                      list(self.imports))

    def scan_loop(self, b, slots, node: Node, err, k: int, times=None) -> None:
        """A `scan` node: its body becomes a function of its own (a slot array, like the entry),
        called once per step from a native loop here.

        Step t's slots: the carries read (the initial ones at the first step, then the ones the
        step before wrote), entry t of each sequence, the invariants, the carries written, entry
        t of each stacked result, and the body's arena (a region of this arena). The carries
        alternate between the node's result buffers and scratch buffers of the same size, in the
        parity that makes the last step write the results."""
        body = node.attrs["body"]
        T, kc, m = node.attrs["length"], node.attrs["n_carry"], node.attrs["n_xs"]
        reverse = node.attrs.get("reverse", False)
        name = f"{self.prefix}s{k}_"
        self.kernel_names.append(f"{self.prefix}k{k}_scan")
        # GRAPHC_DEBUG: the body's kernels are timed too, summed over the steps (their time is
        # part of the loop's)
        sub = ModuleBuilder(body, self.vector_math, self.timing, self.bounds_check, self, name)
        layout = sub.build_entry(name + "body")
        step_fn = self.entry_module.globals[name + "body"]
        body_arena = self.reserve(layout.arena_bytes)
        scratch = [self.reserve(v.type.nbytes) for v in node.outputs[:kc]]
        n_slots = len(body.inputs) + len(body.outputs) + 1
        arr = b.alloca(H.PTR, size=H.i64(n_slots + (times is not None)), name=f"s{k}.slots")
        if times is not None:
            b.store(times, b.gep(arr, [H.i64(n_slots)], source_etype=H.PTR))

        def put(i, p):
            b.store(p, b.gep(arr, [H.i64(i)], source_etype=H.PTR))

        ins, outs = node.inputs, node.outputs
        for i in range(kc + m, len(ins)):          # the invariants
            put(i, self.pointer(b, slots, ins[i]))
        put(n_slots - 1, self.arena_pointer(b, slots, body_arena))
        n_in = len(body.inputs)
        init = [self.pointer(b, slots, v) for v in ins[:kc]]
        res = [self.pointer(b, slots, v) for v in outs[:kc]]
        tmp = [self.arena_pointer(b, slots, off) for off in scratch]
        seqs = [self.pointer(b, slots, v) for v in ins[kc:kc + m]]
        stacked = [self.pointer(b, slots, v) for v in outs[kc:]]

        def entry(base, v, t):   # entry t of a sequence or stacked result
            return b.gep(base, [b.mul(t, H.i64(v.type.nbytes // T))], source_etype=H.I8)

        def step(i, _):
            t = b.sub(H.i64(T - 1), i) if reverse else i
            first = b.icmp_signed("==", i, H.i64(0))
            # the step before wrote the results where (T - 1 - (i - 1)) is even
            prev_out = b.icmp_signed("==", b.and_(b.sub(H.i64(T), i), H.i64(1)), H.i64(0))
            this_out = b.icmp_signed("==", b.and_(b.sub(H.i64(T - 1), i), H.i64(1)), H.i64(0))
            for c in range(kc):
                put(c, b.select(first, init[c], b.select(prev_out, res[c], tmp[c])))
                put(n_in + c, b.select(this_out, res[c], tmp[c]))
            for j, (p, x) in enumerate(zip(seqs, ins[kc:kc + m])):
                put(kc + j, entry(p, x, t))
            for j, (p, y) in enumerate(zip(stacked, outs[kc:])):
                put(n_in + kc + j, entry(p, y, t))
            rc = b.call(step_fn, [arr])
            b.store(b.or_(b.load(err, typ=H.I32), rc), err)
            return []
        H.loop(b, T, step, name=f"s{k}")

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

    # -- kernel functions ---------------------------------------------------------------------------
    def kernel_function(self, name: str, n_args: int):
        """A `void name(ptr x n_args)` in the kernel's module (external: the entry calls it from
        another object), and a builder at its entry."""
        kf = ir.Function(self.module, ir.FunctionType(H.VOID, [H.PTR] * n_args), name)
        kf.attributes.add("noinline")
        return kf, ir.IRBuilder(kf.append_basic_block("entry"))

    def runtime_function(self, name: str, fty: ir.FunctionType) -> ir.Function:
        """The runtime's function `name` (resolved when the object is loaded), declared once."""
        if name not in self.imports:
            self.imports.append(name)
        return self.module.globals.get(name) or ir.Function(self.module, fty, name)

    def kernel(self, b, slots, node: Node, err, k: int):
        """One internal function for this node (or the one already emitted for an identical
        kernel); the entry calls it with its buffers."""
        kern = kernel_for(node)
        fused = fusion_of(node) is Fusion.KERNEL
        name = f"{self.prefix}k{k}_{node.attrs['kind'] if fused else node.op}"
        self.kernel_names.append(name)
        if kern.flavour == WHOLE:   # emit_blocked reuses an identical node's function
            self.whole_key = ("whole", node.op, _signature(_body(node, "k")))
            fname = self._function_name(self.whole_key, node.op)
            with self._in_own_module(fname):
                kern.impl(self, b, slots, node, err, fname)
            self.whole_key = None
            return
        body = _body(node, f"k{k}")
        if fused:
            outer_in = dict(zip(body.inputs, node.inputs))
            outer_out = dict(zip(body.outputs, node.outputs))
        else:
            outer_in = {v: v for v in node.inputs}
            outer_out = {v: v for v in node.outputs}
        # distinct buffers this kernel touches, in a stable order
        where: dict = {}
        args: list = []
        pattern: list = []   # per operand/result: its argument, or an inlined scalar's value
        for inner, outer in list(outer_in.items()) + list(outer_out.items()):
            loc = self.location(outer)
            if loc[0] == "const":
                if outer.type.size == 1 and inner.type.ndim == 0:
                    pattern.append(("scalar", np.asarray(loc[1]).tobytes()))
                    continue  # scalars are inlined
                key = ("const", id(loc[1]))
                if outer.type.size == 1:   # a loop kernel bakes a one-element constant it reads
                    pattern.append(("value", np.asarray(loc[1]).tobytes()))   # (scalar_const)
            else:
                key = loc
            if key not in where:
                where[key] = len(args)
                args.append(outer)
            pattern.append(where[key])
        tasks = kern.impl.tasks(body) if kern.flavour == BODY else 1
        # after the buffers, before the error flag: where a matmul's tasks pack B's panels
        panels = kern.flavour == BODY and kern.impl.panel_bytes(body, tasks) > 0
        extra = [self._panel_region(b, slots)] if panels else []
        # a kernel the same as one already emitted (a transformer's layers) calls that one
        same = (f"{kern.impl.__module__}.{kern.impl.__qualname__}", _signature(body),
                tuple(pattern), tasks, panels)
        if same in self.emitted:
            b.call(self.emitted[same], [self.pointer(b, slots, v) for v in args] + extra + [err])
            return
        fname = self._function_name(same, node.attrs['kind'] if fused else node.op)
        with self._in_own_module(fname):
            kf = self._body_kernel(kern, node, body, outer_in, outer_out, where, args, tasks,
                                   panels, fname)
        self.emitted[same] = kf
        b.call(kf, [self.pointer(b, slots, v) for v in args] + extra + [err])

    def _body_kernel(self, kern, node, body, outer_in, outer_out, where, args, tasks, panels,
                     name):
        """The function of a plain or body kernel (in the current module)."""
        kf, kb = self.kernel_function(name, len(args) + 1 + panels)
        for a in kf.args[:-1]:
            a.add_attribute("noalias")
        if panels:   # no panel slice in use yet (the arena is not zeroed between calls)
            kb.store(ir.Constant(H.I32, 0), kf.args[len(args)])
        if tasks > 1:  # split over the thread pool: kf packs its arguments, tasks unpack them
            task, tb, ptrs = self.pool_task(name + "_task", len(kf.args))
            self._emit_body(tb, kern, node, body, outer_in, outer_out, where, ptrs,
                            (task.args[1], tasks))
            tb.ret_void()
            self.run_on_pool(kb, task, list(kf.args), tasks)
            self._emit_body(kb, kern, node, body, outer_in, outer_out, where, list(kf.args),
                            None, uniform_only=True)
        else:
            self._emit_body(kb, kern, node, body, outer_in, outer_out, where, list(kf.args),
                            None)
        kb.ret_void()
        return kf

    def _panel_region(self, b, slots):
        """The arena region every matmul kernel packs its panels into: kernels run one at a time,
        so one region of the largest need serves them all. In the arena, not on the stack, so a
        thread with a small stack (threading.stack_size) is as safe as any other."""
        if self.panel_offset is None:
            need = 0
            for node in self.g.nodes:
                if fusion_of(node) in NO_KERNEL or fusion_of(node) is Fusion.SCAN:
                    continue  # a loop body's matmuls use the body's own region
                kern = kernel_for(node)
                if kern.flavour == BODY:
                    body = _body(node, "k")
                    need = max(need, kern.impl.panel_bytes(body, kern.impl.tasks(body)))
            self.panel_offset = self.reserve(need)
        return self.arena_pointer(b, slots, self.panel_offset)

    def pool_task(self, name: str, n_values: int):
        """A task `void name(ptr ctx, i64 t)` for the pool, its builder, and the n_values
        pointers it reads from ctx."""
        task = ir.Function(self.module, ir.FunctionType(H.VOID, [H.PTR, H.I64]), name)
        task.linkage = "internal"
        tb = ir.IRBuilder(task.append_basic_block("entry"))
        vals = [tb.load(tb.gep(task.args[0], [H.i64(i)], source_etype=H.PTR), typ=H.PTR)
                for i in range(n_values)]
        return task, tb, vals

    def run_on_pool(self, kb, task, values: list, n_tasks: int) -> None:
        """Pack `values` (pointers) into a stack array and run `task` n_tasks times on the pool."""
        ctx = kb.alloca(H.PTR, size=H.i64(len(values)))
        for i, a in enumerate(values):
            kb.store(a, kb.gep(ctx, [H.i64(i)], source_etype=H.PTR))
        pf = self.runtime_function("graphc_parallel_for",
                                   ir.FunctionType(H.VOID, [H.PTR, H.PTR, H.I64]))
        kb.call(pf, [task, ctx, H.i64(n_tasks)])

    def _emit_body(self, kb, kern: Kernel, node, body, outer_in, outer_out, where, ptrs, part,
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
        if not self.bounds_check:
            self._dispatch(kb, kern, node, body, operands, results, kerr, part, uniform_only,
                           panels)
            return
        # GRAPHC_BOUNDS_CHECK: every load and store through this kernel's buffers checks its
        # index against the buffer's element count (a table of this build only)
        bounds = {id(op.ptr): (max(v.type.size, 1), kerr)
                  for v, op in list(operands.items()) + list(results.items())
                  if op is not None and op.ptr is not None}
        with H.bounds_checked(bounds):
            self._dispatch(kb, kern, node, body, operands, results, kerr, part, uniform_only,
                           panels)

    def _dispatch(self, kb, kern: Kernel, node, body, operands, results, kerr, part,
                  uniform_only, panels=None):
        if kern.flavour == PLAIN:
            kern.impl(kb, self.module, node, [operands[v].ptr for v in node.inputs],
                      results[node.outputs[0]].ptr, kerr)
        else:
            kern.impl(self.cx, kb, body, operands, results, kerr, part, uniform_only,
                      panels).emit()

    def finish(self, b, slots):
        """Copy outputs and state updates that were not computed in place."""
        g = self.g
        # sources that are themselves state or inputs are staged through scratch first
        staged = {}
        for k, v in g.updates.items():
            if self.location(v) != (self.slot_of_state[k], 0) and (
                    v in self.slot_of_input or any(v is s for s in g.state.values())):
                dst = self.arena_pointer(b, slots, self.reserve(v.type.nbytes))
                H.memcpy(b, self.module, dst, self.pointer(b, slots, v), v.type.nbytes)
                staged[k] = dst
        for j, v in enumerate(g.outputs):
            dst_slot = self.out_base + j
            if self.out_slot.get(v) == dst_slot:
                continue
            H.memcpy(b, self.module, slots[dst_slot], self.pointer(b, slots, v), v.type.nbytes)
        for k, v in g.updates.items():
            dst = slots[self.slot_of_state[k]]
            if k in staged:
                H.memcpy(b, self.module, dst, staged[k], v.type.nbytes)
            elif self.location(v) != (self.slot_of_state[k], 0):
                H.memcpy(b, self.module, dst, self.pointer(b, slots, v), v.type.nbytes)


def _body(node: Node, name: str) -> Graph:
    """The kernel body of a top-level node: a fused node's own, else the node wrapped as one
    (named `name`; its operands are the body's free values)."""
    if fusion_of(node) is Fusion.KERNEL:
        return node.attrs["body"]
    return Graph(name, [], {}, [node], list(node.outputs))


def _signature(body: Graph) -> tuple:
    """What a kernel's code depends on in its body: ops, attrs, operand order and types, with
    values numbered by first use (two layers' kernels compare equal whatever their names)."""
    ids: dict = {}

    def ref(v):
        if v not in ids:
            ids[v] = len(ids)
        return ids[v], str(v.type)
    parts = [tuple(ref(v) for v in body.inputs)]
    for n in body.nodes:
        attrs = tuple(sorted((k, _attr_key(a)) for k, a in n.attrs.items()))
        parts.append((n.op, attrs, tuple(ref(v) for v in n.inputs),
                      tuple(ref(v) for v in n.outputs)))
    parts.append(tuple(ref(v) for v in body.outputs))
    return tuple(parts)


def _attr_key(a):
    if isinstance(a, np.ndarray):
        return ("array", a.dtype.str, a.shape, a.tobytes())
    if isinstance(a, Graph):
        return ("graph", _signature(a))
    if isinstance(a, (list, tuple)):
        return tuple(_attr_key(x) for x in a)
    if isinstance(a, dict):
        return tuple(sorted((k, _attr_key(v)) for k, v in a.items()))
    return repr(a)


def build_module(g: Graph, vector_math: bool, timing: bool = False,
                 bounds_check: bool = False) -> tuple[ir.Module, list[str], Layout]:
    """The LLVM modules for graph `g` (the entry's, the kernels') and its slot Layout."""
    return ModuleBuilder(g, vector_math, timing, bounds_check).build()
