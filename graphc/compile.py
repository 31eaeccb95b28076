"""graphc.compile: trace a function or Module per input signature, then run the graph on a backend."""
from __future__ import annotations

import functools
import inspect
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import dtypes, tracing
from .errors import GraphcError, InputError, TraceError
from .interpreter import run as interpret
from .ir.graph import Graph
from .ir.printer import print_graph
from .ir.verifier import verify
from .tensor import Tensor

BACKENDS = ("interpreter",)

# ---- pytrees: nested tuples/lists/dicts of arrays and static Python values --------------------------


def flatten(x: Any, path: str, leaves: list, paths: list):
    """Split `x` into array leaves and a hashable structure; static Python values stay in it."""
    if isinstance(x, Tensor):
        x = x.numpy()
    if isinstance(x, (np.ndarray, np.generic)) and not isinstance(x, (np.str_, np.bytes_)):
        arr = np.ascontiguousarray(x)
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
        return (type(x).__name__, tuple(flatten(v, f"{path}[{i}]", leaves, paths)
                                        for i, v in enumerate(x)))
    if isinstance(x, dict):
        keys = tuple(x)
        if not all(isinstance(k, (str, int)) for k in keys):
            raise InputError(f"argument {path}: dict keys must be str or int")
        return ("dict", keys, tuple(flatten(x[k], f"{path}[{k!r}]", leaves, paths) for k in keys))
    raise InputError(f"argument {path}: a {type(x).__name__} cannot be passed to a compiled function; "
                     "pass NumPy arrays, Python numbers, or tuples/lists/dicts of them")


def unflatten(tree, leaves):
    it = iter(leaves)

    def build(t):
        kind = t[0]
        if kind == "array":
            return next(it)
        if kind == "static":
            return t[2]
        if kind == "dict":
            return {k: build(c) for k, c in zip(t[1], t[2])}
        items = [build(c) for c in t[1]]
        return tuple(items) if kind == "tuple" else items
    return build(tree)


def _leaf_sig(a: np.ndarray):
    return (a.shape, a.dtype.str)


def _path_name(path: str) -> str:
    name = path.replace("][", ".").replace("[", ".").replace("]", "").replace("'", "")
    return tracing.clean_name(name.lstrip("."))


# ---- naming parameters after the modules that hold them ---------------------------------------------

def _modules_seen_by(fn) -> list[tuple[str, Any]]:
    from .nn.module import Module
    found: list[tuple[str, Any]] = []
    target = fn
    if inspect.ismethod(fn) and isinstance(fn.__self__, Module):
        found.append(("", fn.__self__))
        target = fn.__func__
    code = getattr(target, "__code__", None)
    if code is not None:
        cells = {}
        for name, c in zip(code.co_freevars, target.__closure__ or ()):
            try:
                cells[name] = c.cell_contents
            except ValueError:  # an empty cell
                pass
        g = getattr(target, "__globals__", {})
        for name in list(code.co_freevars) + list(code.co_names) + list(g):
            obj = cells.get(name, g.get(name))
            if isinstance(obj, Module):
                found.append((name, obj))
    return found


def param_names(fn) -> dict[int, str]:
    """id(parameter) -> a readable state name (`fc1.weight`), prefixed only to avoid clashes."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for var, m in _modules_seen_by(fn):
        items = list(m.named_parameters()) + list(m.named_buffers())
        for local, p in items:
            if id(p) in names:
                continue
            name = local if local not in used else f"{var}.{local}"
            names[id(p)] = name
            used.add(name)
    return names


# ---- the compiled object ------------------------------------------------------------------------------

@dataclass
class Entry:
    """One specialisation: the graph for one input signature, its stages and how to call it."""

    graph: Graph
    stages: dict[str, str]
    state: dict[str, Any]            # state name -> Parameter/buffer object
    out_tree: Any
    runner: Callable = field(repr=False, default=None)


class Compiled:
    """A traced-and-compiled function: call it with NumPy arrays; `.ir(stage)` shows its IR."""

    def __init__(self, fn, backend: str = "interpreter", passes=None):
        from .nn.module import Module
        if backend not in BACKENDS:
            raise GraphcError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)} "
                              "(the LLVM backend is not built yet)")
        self.module = fn if isinstance(fn, Module) else None
        self.fn = fn
        self.name = type(fn).__name__ if self.module is not None else getattr(fn, "__name__", "fn")
        self.backend = backend
        self.passes = passes
        self._sig_fn = fn.forward if self.module is not None else fn
        self._cache: dict[Any, Entry] = {}
        self._last: Entry | None = None
        self._lock = threading.RLock()
        functools.update_wrapper(self, self._sig_fn, updated=())

    # -- calling ----------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        try:
            bound = inspect.signature(self._sig_fn).bind(*args, **kwargs)
        except TypeError as e:
            raise InputError(f"{self.name}{inspect.signature(self._sig_fn)}: {e}") from None
        leaves, paths = [], []
        tree = flatten(dict(bound.arguments), "", leaves, paths)
        key = (tree, tuple(_leaf_sig(a) for a in leaves))
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._trace(bound, tree, leaves, paths)
                self._cache[key] = entry
            self._last = entry
        return entry.runner(leaves)

    def _trace(self, bound, tree, leaves, paths) -> Entry:
        names = param_names(self.fn)
        if self.module is not None:
            names.update({id(p): n for n, p in list(self.module.named_parameters())
                          + list(self.module.named_buffers())})
        tr = tracing.Trace(self.name, names)
        sym = [Tensor._symbolic(tr.add_input(_path_name(p), a), tr) for p, a in zip(paths, leaves)]
        arguments = unflatten(tree, sym)
        call_args = inspect.BoundArguments(bound.signature, arguments)
        with tracing.tracing(tr):
            result = self.fn(*call_args.args, **call_args.kwargs)
            outs: list = []
            out_tree = self._flatten_output(result, tr, outs)
        tr.graph.outputs = outs
        graph = verify(tr.graph)
        stages = {"traced": print_graph(graph)}
        entry = Entry(graph, stages, tr.params, out_tree)
        entry.runner = self._make_runner(entry)
        self._dump(entry)
        return entry

    def _flatten_output(self, x, tr, outs):
        if isinstance(x, Tensor):
            from .tensor import lift
            outs.append(lift(tr, x))
            return ("array",)
        if isinstance(x, (tuple, list)):
            return (type(x).__name__, tuple(self._flatten_output(v, tr, outs) for v in x))
        if isinstance(x, dict):
            return ("dict", tuple(x), tuple(self._flatten_output(v, tr, outs) for v in x.values()))
        if isinstance(x, (bool, int, float, str)) or x is None:
            return ("static", type(x).__name__, x)
        raise TraceError(f"{self.name} returned a {type(x).__name__}; a compiled function may return "
                         "tensors, Python numbers, and tuples/lists/dicts of them")

    def _make_runner(self, entry: Entry):
        graph, state = entry.graph, entry.state

        def run(leaves):
            arrays = _state_arrays(graph, state)
            outs, updates = interpret(graph, leaves, arrays)
            for name, new in updates.items():
                np.copyto(arrays[name], new)
            outs = [o[()] if o.ndim == 0 else o for o in outs]
            return unflatten(entry.out_tree, outs)
        return run

    # -- debugging --------------------------------------------------------------------------------
    def ir(self, stage: str | None = None) -> str:
        """IR text for the most recent input signature: `"traced"`, or the graph the backend runs."""
        e = self._entry()
        if stage is None:
            return print_graph(e.graph)
        if stage not in e.stages:
            raise GraphcError(f"no stage {stage!r}; available: {', '.join(e.stages)}")
        return e.stages[stage]

    @property
    def stages(self) -> list[str]:
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
        d = os.environ.get("GRAPHC_DUMP")
        if not d:
            return
        os.makedirs(d, exist_ok=True)
        n = len(self._cache)
        for i, (stage, text) in enumerate(entry.stages.items()):
            with open(os.path.join(d, f"{entry.graph.name}.{n}.{i:02d}-{stage}.ir"), "w") as f:
                f.write(text)


def _state_arrays(graph: Graph, state: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, v in graph.state.items():
        arr = state[name].data
        if arr.shape != v.shape or arr.dtype != v.dtype.np:
            raise InputError(f"state %{name} was traced as {v.type} but now holds "
                             f"{arr.dtype}{list(arr.shape)}; recompile after changing parameters")
        if not arr.flags.c_contiguous or not arr.flags.writeable:
            raise InputError(f"state %{name} must be a C-contiguous, writeable array")
        arrays[name] = arr
    return arrays


def compile(fn=None, *, backend: str = "interpreter", passes=None):  # noqa: A001
    """Trace `fn` (a function or nn.Module) on its first call per input signature and compile it.

    Use as `graphc.compile(fn)`, `@graphc.compile` or `@graphc.compile(backend=...)`.
    """
    if fn is None:
        return lambda f: Compiled(f, backend=backend, passes=passes)
    return Compiled(fn, backend=backend, passes=passes)
