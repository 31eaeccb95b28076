"""The LLVM backend: a planned Graph -> one native function, called once per step through ctypes.

    exe = compile_graph(passes.plan_memory(graph))   # codegen, O3, object cache, JIT load
    outs, err = exe.run(inputs, state_arrays)        # one native call

The graph's memory must be planned (`graph.meta["buffers"]`, passes/memory.py); the backend
never runs passes itself.
"""
from __future__ import annotations

import atexit
import ctypes
import sys
import threading
import time

import numpy as np

from ... import config
from ...errors import CompileError, ExecutionError
from ...ir.graph import Graph
from . import cache, target
from .kernels import allreduce
from .codegen import ENTRY, Layout, build_module
from .pool import parallel_for_address

_ENTRY_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
SMALL = 16384  # bytes: inputs/outputs up to this size go through per-thread fixed buffers


class Executable:
    """Native code for one graph plus what the runtime needs to call it safely."""

    def __init__(self, graph: Graph, module_texts: list[str], layout: Layout, objs: list[bytes],
                 seconds: dict, timing: bool = False):
        self.graph, self.layout = graph, layout
        self.module_texts = module_texts   # the entry module's LLVM IR, then each kernel's
        self.llvm_ir = "\n".join(module_texts)
        self.timing = timing
        self.kernel_ns = np.zeros(len(layout.kernels), np.int64)
        self.calls = 0
        self.seconds = seconds
        imports = {"graphc_parallel_for": parallel_for_address()}
        if allreduce.SYMBOL in layout.imports:  # data parallelism: this process's MPI all-reduce
            imports[allreduce.SYMBOL] = allreduce.address()
        self._loaded = target.Loaded(objs, [ENTRY], imports=imports)
        self._fn = _ENTRY_T(self._loaded.addresses[ENTRY])
        self.n_in, self.n_state = len(layout.inputs), len(layout.state)
        self.n_out = len(graph.outputs)
        self.n_slots = self.n_in + self.n_state + self.n_out + 1 + (1 if timing else 0)
        self.out_specs = [(v.shape, v.dtype.np) for v in graph.outputs]
        self._written = [j for j, name in enumerate(layout.state) if name in graph.updates]
        self._local = threading.local()

    def _thread_state(self):
        st = getattr(self._local, "st", None)
        if st is None:  # per thread: concurrent inference calls never share scratch memory
            arena = np.empty(max(self.layout.arena_bytes, 64) + 64, np.uint8)
            ptrs = (ctypes.c_void_p * self.n_slots)()
            base = arena.ctypes.data
            arena_slot = self.n_in + self.n_state + self.n_out
            ptrs[arena_slot] = base + (-base) % 64
            times = np.zeros(max(len(self.layout.kernels), 1), np.int64)
            if self.timing:
                ptrs[arena_slot + 1] = times.ctypes.data
            # small inputs are copied into fixed buffers and small outputs copied out: cheaper
            # than asking NumPy for a fresh array's address on every call
            inbufs = [np.empty(v.shape, v.dtype.np) if v.type.nbytes <= SMALL else None
                      for v in self.graph.inputs]
            outbufs = [np.empty(sh, dt) if int(np.prod(sh)) * np.dtype(dt).itemsize <= SMALL
                       else None for sh, dt in self.out_specs]
            for i, a in enumerate(inbufs):
                if a is not None:
                    ptrs[i] = a.ctypes.data
            o = self.n_in + self.n_state
            for j, a in enumerate(outbufs):
                if a is not None:
                    ptrs[o + j] = a.ctypes.data
            st = self._local.st = {"arena": arena, "ptrs": ptrs, "state_ids": None,
                                   "in": inbufs, "out": outbufs, "times": times,
                                   "fresh": [None] * len(outbufs),
                                   "any_large_out": any(o is None for o in outbufs)}
        return st

    def run(self, inputs, state: list[np.ndarray], token=None) -> list[np.ndarray]:
        """Call the native entry. Inputs and state must already be checked by the caller.

        `token` (optional) is an object that stays the same exactly as long as the state arrays
        do; this thread's cached state pointers are refreshed whenever it changes."""
        st = getattr(self._local, "st", None) or self._thread_state()
        ptrs = st["ptrs"]
        inbufs, outbufs = st["in"], st["out"]
        if state and (token is None or st.get("token") is not token):
            ids = tuple(map(id, state))
            if st["state_ids"] != ids:
                for j, a in enumerate(state):
                    ptrs[self.n_in + j] = a.ctypes.data
                st["state_ids"], st["state_refs"] = ids, list(state)
                st["written"] = [(ptrs[self.n_in + j], ptrs[self.n_in + j] + state[j].nbytes)
                                 for j in self._written]
            st["token"] = token
        written = st.get("written") if state else None
        copies = []
        for i, a in enumerate(inputs):
            buf = inbufs[i]
            if buf is None:
                p = a.ctypes.data
                if written and any(p < hi and lo < p + a.nbytes for lo, hi in written):
                    a = a.copy()  # the input is (part of) a state array this call updates in
                    copies.append(a)  # place: kernels must read its value from before the call
                    p = a.ctypes.data
                ptrs[i] = p
            else:
                np.copyto(buf, a)
        fresh = st["fresh"]
        if st["any_large_out"]:
            o = self.n_in + self.n_state
            for j, buf in enumerate(outbufs):
                if buf is None:
                    shape, dt = self.out_specs[j]
                    a = np.empty(shape, dt)
                    ptrs[o + j] = a.ctypes.data
                    fresh[j] = a
        rc = self._fn(ptrs)
        if self.timing:
            self._record(st["times"])
        if rc == 2:
            raise ExecutionError(f"graph @{self.graph.name}: a kernel accessed memory out of "
                                 "bounds (GRAPHC_BOUNDS_CHECK caught it; the access was "
                                 "suppressed) - please report this as a graphc bug")
        if rc:
            raise ExecutionError(f"graph @{self.graph.name}: an index (class label or gather "
                                 "index) was out of range during the native call")
        return [buf.copy() if f is None else f for f, buf in zip(fresh, outbufs)]

    def _record(self, times: np.ndarray) -> None:
        self.kernel_ns += times
        self.calls += 1
        if debug_level() >= 2:
            print(self.kernel_report(times, 1), file=sys.stderr)
        times[:] = 0

    def kernel_report(self, ns=None, calls=None) -> str:
        """Per-kernel time per call (GRAPHC_DEBUG=1 collects it; needs a debug build)."""
        ns = self.kernel_ns if ns is None else ns
        calls = max(self.calls if calls is None else calls, 1)
        # a loop body's kernels (named s<loop>_...) are timed inside their loop's time: the
        # total counts the top-level kernels only
        top = ns[[not n.startswith("s") for n in self.layout.kernels]] if len(ns) else ns
        total_ns = max(int(top.sum()), 1)
        lines = [f"graph @{self.graph.name}: {total_ns / calls / 1e3:.1f} us per call in "
                 f"{len(ns)} kernels ({calls} calls)"]
        for name, t in sorted(zip(self.layout.kernels, ns), key=lambda p: -p[1]):
            lines.append(f"  {t / calls / 1e3:9.2f} us  {100 * t / total_ns:5.1f} %  {name}")
        return "\n".join(lines)

    def llvm(self) -> str:
        """The optimised LLVM IR of every module, entry first (recomputed on demand)."""
        return "\n".join(str(target.optimize(t)) for t in self.module_texts)

    def asm(self) -> str:
        """The optimised module as native assembly (recomputed on demand)."""
        return "\n".join(target.emit_assembly(target.optimize(t)) for t in self.module_texts)


def compile_graph(graph: Graph) -> Executable:
    """Generate LLVM IR for a memory-planned graph, optimise, and load (through the object cache)."""
    if "buffers" not in graph.meta:
        raise CompileError(f"graph @{graph.name} has no memory plan: plan the graph's memory "
                           "first: passes.plan_memory(g) (the plan-memory pass of the default "
                           "pipeline)")
    t0 = time.perf_counter()
    h = target.host()
    timing = debug_level() >= 1
    checks = config.bounds_check()
    mod, kernel_texts, layout = build_module(graph, vector_math=h["avx2"] and h["libmvec"],
                                             timing=timing, bounds_check=checks)
    texts = [str(mod)] + kernel_texts
    t1 = time.perf_counter()
    objs, misses = compile_objects(texts)
    t2 = time.perf_counter()
    # every module from the cache: "cache-load"; else the compile (the hits are part of it)
    seconds = {"codegen": t1 - t0, "llvm-compile" if misses else "cache-load": t2 - t1}
    exe = Executable(graph, texts, layout, objs, seconds, timing)
    if timing:
        _debug_executables.append(exe)
    return exe


def compile_objects(texts: list[str]) -> tuple[list[bytes], int]:
    """The object of each module's IR text, from the cache or compiled (one at a time:
    llvmlite serialises its calls into LLVM); returns them and how many were compiled."""
    parts = target.cache_key_parts()
    objs, misses = [], 0
    for text in texts:
        k = cache.key(text, parts)
        obj = cache.get(k)
        if obj is None:
            obj = target.emit_object(target.optimize(text))
            cache.put(k, obj)
            misses += 1
        objs.append(obj)
    return objs, misses


def debug_level() -> int:
    """GRAPHC_DEBUG: 1 = time every kernel and print a summary at exit; 2 = print every call."""
    return config.debug_level()


_debug_executables: list = []


@atexit.register
def _print_debug_summary():
    for exe in _debug_executables:
        if exe.calls:
            print(exe.kernel_report(), file=sys.stderr)
