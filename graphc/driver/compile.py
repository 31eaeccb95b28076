"""graphc.compile: trace a function or Module per input signature, then run the graph on a backend."""
from __future__ import annotations

import collections
import difflib
import functools
import inspect
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import config, dtypes, mpi
from . import tracing
from ..errors import ExecutionError, GraphcError, InputError, TraceError
from ..ir.interpreter import run as interpret
from ..ir import OPS, Fusion, fusion_of
from ..ir.graph import Graph
from ..ir.printer import print_graph
from ..ir.verifier import verify
from .guards import PyState, apply_effects
from .escape import write_back
from . import rngwatch
from ..tensor import Tensor, contiguous

BACKENDS = ("llvm", "interpreter")

# ---- pytrees: nested tuples/lists/dicts of arrays and static Python values --------------------------


def flatten(x: Any, path: str, leaves: list, paths: list):
    """Split `x` into array leaves and a hashable structure; static Python values stay in it.

    A leaf tensor requiring grad is not data but state (as a parameter): the structure names it
    by identity (a different tensor is a new trace), the trace reads and updates it in place and
    backward() fills its `.grad`."""
    if isinstance(x, Tensor):
        if x.requires_grad and not x.is_traced and x.is_leaf:
            _ARG_TENSORS[id(x)] = x
            return ("tensor", id(x))
        x = x.numpy()
    if isinstance(x, (np.ndarray, np.generic)) and not isinstance(x, (np.str_, np.bytes_)):
        arr = contiguous(np.asarray(x))
        if not arr.dtype.isnative or not arr.flags.aligned:  # byte-swapped or misaligned data:
            arr = arr.astype(arr.dtype.newbyteorder("="))    # native code needs a native copy
        try:
            dtypes.from_numpy(arr.dtype)
        except KeyError as e:
            raise InputError(f"argument {path}: {e.args[0]}") from None
        leaves.append(arr)
        paths.append(path)
        return ("array",)
    if isinstance(x, (bool, int, float)) or x is None:
        return ("static", type(x).__name__, x)
    if isinstance(x, (tuple, list)):
        return (_seq_kind(x), tuple(flatten(v, f"{path}[{i}]", leaves, paths)
                                    for i, v in enumerate(x)))
    if isinstance(x, dict):
        keys = tuple(x)
        if not all(isinstance(k, (str, int)) for k in keys):
            raise InputError(f"argument {path}: dict keys must be str or int")
        return ("dict", keys, tuple(flatten(x[k], f"{path}[{k!r}]", leaves, paths) for k in keys))
    raise InputError(f"argument {path.lstrip('.') or '?'}: a {type(x).__name__} cannot be passed to a "
                     "compiled function; pass NumPy arrays, Python numbers, or tuples/lists/dicts "
                     f"of them (called at {tracing.user_where()})")


def unflatten(tree, leaves):
    """Rebuild the structure `flatten` recorded in `tree`, taking its arrays from `leaves`."""
    it = iter(leaves)

    def build(t):
        kind = t[0]
        if kind == "array":
            return next(it)
        if kind == "tensor":  # a requires-grad argument: the tensor itself (state of the graph)
            return _ARG_TENSORS[t[1]]
        if kind == "static":
            return t[2]
        if kind == "dict":
            return {k: build(c) for k, c in zip(t[1], t[2])}
        items = [build(c) for c in t[1]]
        if kind == "list":
            return items
        return tuple(items) if kind == "tuple" else kind(*items)  # kind: a namedtuple class
    return build(tree)


def _has_tensor(x) -> bool:
    """True if a graphc Tensor is anywhere in `x` (nested tuples/lists/dicts)."""
    if isinstance(x, Tensor):
        return True
    if isinstance(x, (tuple, list)):
        return any(_has_tensor(v) for v in x)
    if isinstance(x, dict):
        return any(_has_tensor(v) for v in x.values())
    return False


_wrap = getattr(Tensor, "_wrap", None) or Tensor


def as_tensors(x):
    """A compiled call's result with every NumPy array (or NumPy scalar) as a graphc Tensor
    sharing its memory; the structure (tuples, lists, dicts, namedtuples) and Python values stay."""
    if isinstance(x, np.ndarray):
        return _wrap(x)
    if isinstance(x, np.generic):
        return _wrap(np.asarray(x))
    if isinstance(x, list):
        return [as_tensors(v) for v in x]
    if isinstance(x, tuple):
        items = [as_tensors(v) for v in x]
        return type(x)(*items) if hasattr(type(x), "_fields") else tuple(items)
    if isinstance(x, dict):
        return {k: as_tensors(v) for k, v in x.items()}
    return x


_ARG_TENSORS: "weakref.WeakValueDictionary[int, Tensor]" = weakref.WeakValueDictionary()
# id -> requires-grad tensor passed as an argument; a trace's entry keeps its tensors alive
# (Entry.state), so an id in a cached key always names the same tensor


def _seq_kind(x):
    """"list", "tuple", or the class of a namedtuple (rebuilt with its fields)."""
    if isinstance(x, list):
        return "list"
    return type(x) if hasattr(type(x), "_fields") else "tuple"


def _leaf_sig(a: np.ndarray):
    return (a.shape, a.dtype.str)


def _path_name(path: str) -> str:
    name = path.replace("][", ".").replace("[", ".").replace("]", "").replace("'", "")
    return tracing.clean_name(name.lstrip("."))


# ---- the compiled object ------------------------------------------------------------------------------

@dataclass
class Entry:
    """One specialisation: the graph for one input signature, its stages and how to call it."""

    graph: Graph
    stages: dict[str, str]
    state: dict[str, Any]            # state name -> Parameter/buffer object
    out_tree: Any
    scalar_inputs: list[Callable] = field(default_factory=list)  # runtime scalars (lr), in order
    effects: list = field(default_factory=list)  # Python-side slot effects to replay per call
    escapes: list = field(default_factory=list)  # escape.Slots given outputs[n_out:] per call
    n_out: int = 0                               # the outputs the function returns
    seconds: dict[str, float] = field(default_factory=dict)       # time per pass
    traced: Graph | None = field(repr=False, default=None)         # before any pass
    exe: Any = field(repr=False, default=None)                     # the native executable
    runner: Callable = field(repr=False, default=None)


class Compiled:
    """A traced-and-compiled function: call it with NumPy arrays; `.ir(stage)` shows its IR."""

    def __init__(self, fn, backend: str | None = None, passes=None, data_parallel: bool = False):
        from ..nn.module import Module
        backend = backend or default_backend()
        if not callable(fn):
            raise GraphcError(f"graphc.compile needs a function or an nn.Module, got a "
                              f"{type(fn).__name__}")
        if backend not in BACKENDS:
            raise GraphcError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        self.module = fn if isinstance(fn, Module) else None
        self.fn = fn
        self.name = type(fn).__name__ if self.module is not None else getattr(fn, "__name__", "fn")
        self.backend = backend
        self.passes = passes
        self.data_parallel = data_parallel  # graphc.distributed: gradients averaged over ranks
        self._sig_fn = fn.forward if self.module is not None else fn
        self.pystate = PyState(self._sig_fn if self.module is None else fn.forward, self.module)
        self._cache: dict[Any, Entry] = {}
        self._fast: dict[Any, tuple] = {}
        self._signature = inspect.signature(self._sig_fn)
        self._last: Entry | None = None
        # one re-entrant lock serialises tracing and every call of a step that changes Python
        # state: a trace swaps lr/.grad/optimizer slots for traced tensors, and which graph a
        # call needs (first step or later) depends on state the previous call created
        self._lock = threading.RLock()
        self._serial: bool | None = None  # None until the first trace; False: pure inference
        self._rebinds = 0  # retraces because a global/closure variable the step reads was rebound
        functools.update_wrapper(self, self._sig_fn, updated=())

    # -- calling ----------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self._serial is False:  # pure inference: threads may call it concurrently
            return self._call(args, kwargs)
        with self._lock:  # a training step: choosing the graph and running it are one step
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        # called with graphc Tensors, it returns Tensors (on the output arrays, no copy); called
        # with NumPy arrays, arrays (0-d results as NumPy scalars), as before
        fast = None
        if not kwargs:  # fast path: positional C-contiguous arrays/Tensors, a signature seen before
            arrays, wrap = args, False
            try:
                fast = tuple((a.shape, a.dtype.char) for a in args
                             if type(a) is np.ndarray and a.flags.c_contiguous)
                if len(fast) != len(args) and any(type(a) is Tensor for a in args):
                    wrap = True   # (checked only then: arrays alone cost nothing more)
                    arrays = [a._data if type(a) is Tensor and not a.requires_grad else a
                              for a in args]  # (a requires-grad Tensor is state: see flatten)
                    fast = tuple((a.shape, a.dtype.char) for a in arrays
                                 if type(a) is np.ndarray and a.flags.c_contiguous)
            except AttributeError:
                fast = None
            if fast is not None and len(fast) == len(args):
                hit = self._fast.get(fast)
                if hit is not None and hit[1] == self.pystate.guard_key():
                    self._last = hit[0]
                    out = hit[0].runner(arrays)   # a Tensor's own array: no copy
                    return as_tensors(out) if wrap else out
            else:
                fast = None
        else:
            wrap = _has_tensor(kwargs) or _has_tensor(args)
        if not wrap and fast is None:
            wrap = _has_tensor(args)
        entry, leaves = self._lookup(args, kwargs)
        if fast is not None:
            self._fast[fast] = (entry, self.pystate.guard_key())
        out = entry.runner(leaves)
        return as_tensors(out) if wrap else out

    def _rebound(self) -> None:
        """Count a retrace caused by a rebound global/closure variable; warn once at the 8th (a
        variable rebound every call retraces every call: pass it as an argument instead)."""
        self._rebinds += 1
        if self._rebinds == 8:
            import warnings
            from ..errors import GraphcWarning
            warnings.warn(
                f"{self.name} was retraced 8 times because a global or closure variable it reads "
                f"(a model, optimizer, tensor, ...) was rebound each time (called at "
                f"{tracing.user_where()}); each rebinding compiles it again. Pass values that "
                "change from call to call as arguments.", GraphcWarning, stacklevel=4)

    def trace(self, *args, **kwargs) -> Entry:
        """Trace and compile for these arguments without running (nothing is updated)."""
        with self._lock:  # a trace swaps Python slots: never while a step of this function runs
            return self._lookup(args, kwargs)[0]

    def _lookup(self, args, kwargs):
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise InputError(f"{self.name}{self._signature}: {e} "
                             f"(called at {tracing.user_where()})") from None
        leaves, paths = [], []
        tree = flatten(dict(bound.arguments), "", leaves, paths)
        with self._lock:
            if self.pystate.stale():  # a parameter or layer was replaced: find them again
                if self.pystate.bound is not None and not self.pystate.bound():
                    self._rebound()
                self.pystate = PyState(self._sig_fn, self.module, self.pystate)
                self._cache.clear()
                self._fast.clear()
            sig = tuple(_leaf_sig(a) for a in leaves)
            for _ in range(4):   # a variable the step reads and rebinds: traced again as input
                key = (tree, sig, self.pystate.guard_key())
                entry = self._cache.get(key)
                if entry is None:
                    entry = self._trace(bound, tree, leaves, paths)
                    if entry is None:
                        continue
                    self._cache[key] = entry
                break
            if entry is None:
                raise TraceError(f"{self.name}: the variables it rebinds kept changing while it "
                                 "was traced")
            self._last = entry
        return entry, leaves

    def _trace(self, bound, tree, leaves, paths) -> Entry | None:
        """The traced and compiled entry, or None when it must be traced again (PyState found a
        variable the step reads and rebinds, which the next trace reads as an input)."""
        tr = tracing.Trace(self.name, self.pystate.names)
        sym = [Tensor._symbolic(tr.add_input(_path_name(p), a), tr) for p, a in zip(paths, leaves)]
        arguments = unflatten(tree, sym)
        call_args = inspect.BoundArguments(bound.signature, arguments)
        snap, scalar_inputs = self.pystate.begin(tr)
        try:
            # rngwatch: a warning for each random.* / np.random.* value drawn while tracing
            with tracing.tracing(tr), rngwatch.watching(
                    self.name, self._sig_fn, [m for _, m in self.pystate.modules]):
                result = self.fn(*call_args.args, **call_args.kwargs)
                outs: list = []
                out_tree = self._flatten_output(result, tr, outs)
                effects = self.pystate.end(tr, snap)
                n_out = len(outs)
                if not snap.retrace:
                    from ..tensor import lift
                    outs += [lift(tr, t) for _, t in snap.escapes]
        finally:
            self.pystate.restore(snap)
        if snap.retrace:
            return None
        tr.graph.outputs = outs
        tr.graph.updates = tr.state_updates()
        scalar_inputs = _drop_unused_scalars(tr.graph, len(leaves), scalar_inputs)
        graph = verify(tr.graph)
        from passes import run_pipeline  # late: passes imports graphc
        res = run_pipeline(graph, self.passes, world_size=self._world_size())
        stages = {"traced": print_graph(graph), **res.stages}
        entry = Entry(res.graph, stages, tr.params, out_tree, scalar_inputs, effects,
                      [s for s, _ in snap.escapes], n_out, res.seconds, graph)
        entry.runner = self._make_runner(entry)
        if entry.graph.updates or entry.effects or entry.escapes:
            self._serial = True
        elif self._serial is None:
            self._serial = False
        self._dump(entry)
        if config.bisect():  # python -m graphc bisect: check before running
            print(f"[graphc] {self.name}: {self._bisect(entry, leaves)}", file=sys.stderr)
        return entry

    def _world_size(self) -> int:
        """The ranks this step's gradients are averaged over, for the pipeline's `allreduce`:
        the MPI job's size with data_parallel=True (1, with a notice, without MPI), decided at
        trace time since distributed.init() may come after compile(); the job's size for an
        `allreduce` the user lists without data_parallel; else 1."""
        from ..nn.parallel import uses_ddp
        if self.data_parallel or uses_ddp([m for _, m in self.pystate.modules]):
            return mpi.active_world_size()   # nn.parallel.DistributedDataParallel: as torch's
        if self.passes is not None and "allreduce" in self.passes:
            return mpi.world_size()
        return 1

    def _flatten_output(self, x, tr, outs):
        if isinstance(x, Tensor):
            from ..tensor import lift
            outs.append(lift(tr, x))
            return ("array",)
        if isinstance(x, (tuple, list)):
            return (_seq_kind(x), tuple(self._flatten_output(v, tr, outs) for v in x))
        if isinstance(x, dict):
            return ("dict", tuple(x), tuple(self._flatten_output(v, tr, outs) for v in x.values()))
        if isinstance(x, (bool, int, float, str)) or x is None:
            return ("static", type(x).__name__, x)
        raise TraceError(f"{self.name} returned a {type(x).__name__}; a compiled function may return "
                         "tensors, Python numbers, and tuples/lists/dicts of them "
                         f"(traced from {tracing.user_where()})")

    def _make_runner(self, entry: Entry):
        run = self._native_runner(entry) if self.backend == "llvm" else \
            self._interpreter_runner(entry)
        if not entry.graph.updates and not entry.effects and not entry.escapes:
            return run  # pure inference: threads may call it concurrently
        lock = self._lock

        def serialised(leaves):  # a training step changes shared state: one call at a time
            with lock:
                return run(leaves)
        return serialised

    def _interpreter_runner(self, entry: Entry):
        graph, state = entry.graph, entry.state

        binder = StateBinder(graph, state)

        def run(leaves):
            arrays = binder.as_dict()
            inputs = list(leaves) + [get() for get in entry.scalar_inputs]
            outs, updates = interpret(graph, inputs, arrays)
            for name, new in updates.items():   # only after everything was computed: a failed
                np.copyto(arrays[name], new)     # call leaves parameters and state untouched
            apply_effects(entry.effects)
            if entry.escapes:
                write_back(entry.escapes, outs[entry.n_out:])
            outs = [o[()] if o.ndim == 0 else o for o in outs]
            return unflatten(entry.out_tree, outs)
        return run

    def _native_runner(self, entry: Entry):
        from ..backend.llvm import compile_graph
        graph = entry.graph
        if "buffers" not in graph.meta:  # a pass list without plan-memory: the backend needs a
            from passes.memory import plan_memory   # plan (it runs no passes); not a stage
            graph = plan_memory(graph)
        exe = entry.exe = compile_graph(graph)
        entry.seconds.update(exe.seconds)
        graph, state = exe.graph, entry.state
        checks = index_checks(graph)
        binder = StateBinder(graph, state)
        scalars = entry.scalar_inputs
        # index ops fed by computed values are checked only inside the native call: keep a copy
        # of the state so that a failing call still leaves parameters untouched
        guard_state = bool(graph.updates) and unchecked_indices(graph)
        single = entry.out_tree == ("array",)
        escapes, n_out = entry.escapes, entry.n_out

        def run(leaves):
            arrays = binder.arrays()
            inputs = list(leaves) + [get() for get in scalars] if scalars else leaves
            for i, bound, lo, skip, what in checks:  # before the call: a bad label never
                a = inputs[i]                           # half-updates
                if a.size and (a.min() < lo or a.max() >= bound):
                    bad = a[((a < lo) | (a >= bound)) & (a != skip)].ravel()
                    if bad.size:
                        raise ExecutionError(f"{what}: index {bad[0]} in input "
                                             f"%{graph.inputs[i].name} is out of range for "
                                             f"{bound} classes")
            backup = [a.copy() for a in arrays] if guard_state else None
            try:
                outs = exe.run(inputs, arrays, binder.ids)
            except MemoryError as e:  # outputs or arena too large: raised before the native call
                raise ExecutionError(f"graph @{graph.name}: not enough memory for its outputs and "
                                     f"intermediates ({e})") from None
            except ExecutionError as e:
                if backup is not None:
                    for a, saved in zip(arrays, backup):
                        np.copyto(a, saved)
                raise _failing_node(graph, inputs, binder, e) from None
            if entry.effects:
                apply_effects(entry.effects)
            if escapes:
                write_back(escapes, outs[n_out:])
            if single:  # the common case: one tensor out
                o = outs[0]
                return o[()] if o.ndim == 0 else o
            outs = [o[()] if o.ndim == 0 else o for o in outs]
            return unflatten(entry.out_tree, outs)
        return run

    # -- debugging --------------------------------------------------------------------------------
    def ir(self, stage: str | None = None) -> str:
        """IR text for the most recent input signature: `"traced"`, or the graph the backend runs."""
        e = self._entry()
        if stage is None:
            return print_graph(e.graph)
        if stage in ("llvm", "asm") and e.exe is not None:
            return e.exe.llvm() if stage == "llvm" else e.exe.asm()
        if stage not in e.stages:
            raise GraphcError(f"no stage {stage!r}; available: {', '.join(e.stages)}")
        return e.stages[stage]

    def ir_diff(self, a: str, b: str) -> str:
        """What happened between two stages, as a unified diff of their IR text."""
        ta, tb = self.ir(a), self.ir(b)
        return "".join(difflib.unified_diff(ta.splitlines(True), tb.splitlines(True),
                                            fromfile=a, tofile=b))

    @property
    def pass_seconds(self) -> dict[str, float]:
        """Time each pass took for the most recent signature."""
        return dict(self._entry().seconds)

    def memory_report(self) -> str:
        """Arena bytes vs. the sum of intermediates vs. the liveness lower bound."""
        from passes.memory import memory_report
        return memory_report(self._entry().graph)

    def fusion_report(self) -> str:
        """Why each kernel boundary exists (what could not be fused with what, and why)."""
        from passes.fuse import fusion_report
        from passes.manager import DEFAULT_PIPELINE, PASSES
        g = self._entry().traced
        for name in DEFAULT_PIPELINE[:DEFAULT_PIPELINE.index("fuse")]:
            g = PASSES[name](g)
        return fusion_report(g)

    def bisect(self, *args, rtol: float = 1e-4, atol: float = 1e-5, **kwargs):
        """Run the pipeline pass by pass on these inputs; name the first pass changing results."""
        entry, leaves = self._lookup(args, kwargs)
        return self._bisect(entry, leaves, rtol, atol)

    def _bisect(self, entry: Entry, leaves, rtol: float = 1e-4, atol: float = 1e-5):
        from passes.bisect import bisect
        inputs = list(leaves) + [get() for get in entry.scalar_inputs]
        state = {name: obj._data for name, obj in entry.state.items()}
        return bisect(entry.traced, inputs, state, self.passes, rtol, atol)

    @property
    def stages(self) -> list[str]:
        """Names of the IR stages recorded for the most recent signature (for `ir(stage)`)."""
        return list(self._entry().stages)

    @property
    def graph(self) -> Graph:
        """The Graph the backend runs, for the most recent input signature."""
        return self._entry().graph

    def _entry(self) -> Entry:
        if self._last is None:
            raise GraphcError(f"{self.name} has not been called yet: it is traced on its first call")
        return self._last

    def _dump(self, entry: Entry) -> None:
        d = config.dump_dir()
        if not d:
            return
        os.makedirs(d, exist_ok=True)
        with _dump_lock:  # numbered per (dir, graph name): two functions of one name never clobber
            n = _dump_counts[(d, entry.graph.name)]
            _dump_counts[(d, entry.graph.name)] += 1
        for i, (stage, text) in enumerate(entry.stages.items()):
            with open(os.path.join(d, f"{entry.graph.name}.{n}.{i:02d}-{stage}.ir"), "w") as f:
                f.write(text)


_dump_counts: collections.Counter = collections.Counter()
_dump_lock = threading.Lock()


class StateBinder:
    """The arrays behind a graph's state, checked before every call (cheaply when unchanged).

    A parameter whose array was replaced is re-checked in full: shape, dtype, C-contiguity;
    the arrays the graph writes are checked for writability on every call (a read-only array
    is refused before any update).
    """

    def __init__(self, graph: Graph, state: dict[str, Any]):
        self.names = list(graph.state)
        self.types = [graph.state[k] for k in self.names]
        self.objs = [state[k] for k in self.names]
        self.written = [i for i, k in enumerate(self.names) if k in graph.updates]
        self.ids: tuple | None = None
        self.cache: list = []  # self.ids is replaced (a new object) whenever an array is
        # read-only state held by Parameters: re-checked only after some array was rebound
        from ..nn.parameter import Parameter
        self._P = Parameter
        self._skip = not self.written and all(isinstance(o, Parameter) for o in self.objs)
        self._rebinds = -1

    def arrays(self) -> list[np.ndarray]:
        """The state arrays in graph order, checked (in full only when one was replaced)."""
        rebinds = self._P.rebinds  # read before the arrays: a rebind meanwhile is seen next call
        if self._skip and self._rebinds == rebinds:
            return self.cache
        cur = [obj._data for obj in self.objs]
        ids = tuple(map(id, cur))
        if ids != self.ids:
            for i, arr in enumerate(cur):
                v, name = self.types[i], self.names[i]
                if not isinstance(arr, np.ndarray) or arr.shape != v.shape or \
                        arr.dtype != v.dtype.np:
                    raise InputError(f"state %{name} was traced as {v.type} but now holds "
                                     f"{getattr(arr, 'dtype', type(arr).__name__)}"
                                     f"{list(getattr(arr, 'shape', ()))}; recompile after "
                                     "changing parameters")
                if not arr.flags.c_contiguous:
                    raise InputError(f"state %{name} must be a C-contiguous array")
            self.ids, self.cache = ids, cur  # keep them alive: their ids stay unique
        self._rebinds = rebinds
        for i in self.written:
            if not cur[i].flags.writeable:
                raise InputError(f"state %{self.names[i]} is read-only (its array is not "
                                 "writeable); nothing was updated")
        return cur

    def as_dict(self) -> dict[str, np.ndarray]:
        """State name -> its checked array."""
        return dict(zip(self.names, self.arrays()))


def _drop_unused_scalars(g: Graph, n_user: int, getters: list) -> list:
    """Remove runtime scalar inputs (an optimizer's lr) that the traced code never read."""
    used = {v for n in g.nodes for v in n.inputs} | set(g.outputs) | set(g.updates.values())
    keep_inputs, keep_getters = list(g.inputs[:n_user]), []
    for v, get in zip(g.inputs[n_user:], getters):
        if v in used:
            keep_inputs.append(v)
            keep_getters.append(get)
    g.inputs = keep_inputs
    return keep_getters


_VALUE_VIEWS = ("reshape", "broadcast")   # ops whose result holds their operand's values


def _index_source(v, outer_of: dict):
    """Where the integers of index operand v come from: (value, its producer or None for a
    graph input or state), following value-preserving views (reshape, broadcast) and kernel
    boundaries (`outer_of` maps a kernel body's inputs to the values the kernel reads)."""
    while True:
        v = outer_of.get(v, v)
        p = v.producer
        if p is None:
            return v, None
        if fusion_of(p) is Fusion.KERNEL:
            body = p.attrs["body"]
            outer_of = {**outer_of, **dict(zip(body.inputs, p.inputs))}
            v = body.outputs[next(i for i, o in enumerate(p.outputs) if o is v)]
        elif p.op in _VALUE_VIEWS:
            v = p.inputs[0]
        else:
            return v, p


def _in_range(p, bound: int, lo: int = 0, skip=None) -> bool:
    """Whether every integer node p produces lies in [lo, bound) (or is `skip`): a constant's
    values, or an op's declared result range (OpDef.index_range)."""
    if p.op == "constant":
        a = np.asarray(p.attrs["value"])
        ok = (a >= lo) & (a < bound)
        return bool((ok | (a == skip) if skip is not None else ok).all())
    r = OPS[p.op].index_range
    return r is not None and r(p)[0] >= lo and r(p)[1] <= bound


def _index_ops(graph: Graph):
    """(index op, (operand position, bound, lowest, skip), index source value, its producer)
    for every op reading indices, in kernel and loop bodies too (a loop body's inputs are no
    graph inputs: its indices count as unchecked unless provably in range)."""
    out = []

    def visit(nodes, outer_of):
        for n in nodes:
            if fusion_of(n) is Fusion.KERNEL:
                body = n.attrs["body"]
                visit(body.nodes, {**outer_of, **dict(zip(body.inputs, n.inputs))})
            elif fusion_of(n) is Fusion.SCAN:
                visit(n.attrs["body"].nodes, {})
            elif OPS[n.op].indices is not None:
                at, bound, *lo = OPS[n.op].indices(n)
                src, p = _index_source(n.inputs[at], outer_of)
                out.append((n, (at, bound, lo[0] if lo else 0, lo[1] if len(lo) > 1 else None),
                            src, p))
    visit(graph.nodes, {})
    return out


def unchecked_indices(graph: Graph) -> bool:
    """True if some op reading indices (OpDef.indices) reads ones that are neither a graph input
    (checked before the call) nor provably in range (a constant, or an op's declared range:
    max pooling's index): only such an index can stop the native call part way."""
    inputs = set(graph.inputs)
    return any(not (src in inputs if p is None else _in_range(p, bound, lo, skip))
               for _, (_, bound, lo, skip), src, p in _index_ops(graph))


def _failing_node(graph: Graph, inputs, binder, err: ExecutionError) -> ExecutionError:
    """The native call failed (an index out of range): the interpreter's error for the same
    call, which names the failing op and its source line, or `err` if the interpreter passes."""
    try:
        interpret(graph, list(inputs), binder.as_dict())
    except ExecutionError as e:
        return ExecutionError(f"{e} (an index out of range stopped the native call of "
                              f"@{graph.name})")
    except GraphcError:
        pass
    return err


def index_checks(graph: Graph) -> list[tuple[int, int, int, int | None, str]]:
    """(input position, bound, lowest allowed index, one value allowed besides (ignore_index) or
    None, op description) for every op reading indices from a graph input, directly or through
    a reshape (OpDef.indices: (operand, bound), (operand, bound, lowest) or (operand, bound,
    lowest, skip))."""
    pos = {v: i for i, v in enumerate(graph.inputs)}
    return [(pos[src], bound, lo, skip, f"{n.op} at {n.loc or '?'}")
            for n, (_, bound, lo, skip), src, p in _index_ops(graph) if p is None and src in pos]


def default_backend() -> str:
    """GRAPHC_BACKEND if set (llvm or interpreter), else llvm."""
    return config.backend()


def compile(fn=None, *, backend: str | None = None, passes=None,
            data_parallel: bool = False):
    """Trace `fn` (a function or nn.Module) on its first call per input signature and compile it.

    Use as `graphc.compile(fn)`, `@graphc.compile` or `@graphc.compile(backend=...)`. `passes` is
    the list of pass names to run (default: passes.DEFAULT_PIPELINE); the autodiff pass always runs
    when the function calls backward(), since a recorded `grad` node cannot execute unexpanded.
    `data_parallel=True` averages the parameter gradients over the ranks of an MPI job before the
    optimizer update (see graphc.distributed), with any `passes`: the `allreduce` pass is then
    required and runs before autodiff (passes.manager.pipeline); without MPI it is a no-op
    with a notice.
    """
    if fn is None:
        return lambda f: Compiled(f, backend=backend, passes=passes, data_parallel=data_parallel)
    return Compiled(fn, backend=backend, passes=passes, data_parallel=data_parallel)
