"""The trace context: the graph being built while a compiled function runs on symbolic tensors."""
from __future__ import annotations

import os
import re
import sys
import threading
from typing import Any

import numpy as np

from ..errors import TraceError
from ..ir.builder import Builder
from ..ir.graph import Graph, Value, tensor_type
from .. import dtypes

_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the graphc package
_PKG_DIRS = (_GRAPHC_DIR + os.sep, os.path.join(os.path.dirname(_GRAPHC_DIR), "passes") + os.sep)
_local = threading.local()


def user_frame(depth: int = 1):
    """The innermost stack frame outside graphc and passes: the user's code."""
    f = sys._getframe(depth)
    while f is not None:
        fn = f.f_code.co_filename
        if not (os.path.abspath(fn).startswith(_PKG_DIRS) or fn.startswith("<frozen")):
            return f
        f = f.f_back
    return None


def user_loc() -> str | None:
    """`file.py:line` of the user's code that is running now (what the IR dump shows)."""
    f = user_frame(2)
    return f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}" if f else None


def user_where() -> str:
    """Full path and line of the user's code, for error messages."""
    f = user_frame(2)
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f else "<unknown>"


_BAD = re.compile(r"[^A-Za-z0-9_.]")


def clean_name(name: str) -> str:
    """Make `name` a valid IR identifier."""
    name = _BAD.sub("_", name) or "v"
    return name if re.match(r"[A-Za-z_]", name) else "v" + name


class Trace:
    """One trace in progress: its graph, a builder, and which parameters became which state."""

    def __init__(self, name: str, param_names: dict[int, str] | None = None):
        self.graph = Graph(clean_name(name))
        self.builder = Builder(self.graph)
        self.param_names = param_names or {}   # id(Parameter) -> state name
        self.params: dict[str, Any] = {}       # state name -> the Parameter (or buffer) object
        self.state_names: dict[int, str] = {}  # id(obj) -> name for optimizer buffers and grads
        self._lifted: dict[int, Value] = {}     # id(obj) -> its state Value
        self._current: dict[int, Value] = {}    # id(obj) -> its value after in-place updates
        self.grad_leaves: list = []             # tensors whose .grad backward() fills
        self.baked: set[int] = set()            # id() of the arrays read as constants

    @classmethod
    def on(cls, graph: Graph) -> "Trace":
        """A trace that appends to an existing graph (used to run user backward() code in a pass)."""
        tr = cls(graph.name)
        tr.graph, tr.builder = graph, Builder(graph)
        return tr

    def unique_name(self, base: str, taken) -> str:
        """`base` made an IR name, suffixed _2, _3, ... until it is not in `taken`."""
        base, n = clean_name(base), 1
        name = base
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        return name

    def add_input(self, name: str, arr: np.ndarray) -> Value:
        """Add a graph input named after `name` (made unique) with arr's shape and dtype."""
        taken = {v.name for v in self.graph.inputs} | set(self.graph.state)
        return self.graph.add_input(self.unique_name(name, taken),
                                    tensor_type(arr.shape, dtypes.from_numpy(arr.dtype)))

    def state_value(self, obj) -> Value:
        """The state Value standing for a Parameter/buffer object (created on first use)."""
        v = self._lifted.get(id(obj))
        if v is None:
            arr = obj._data
            base = self.state_names.get(id(obj)) or self.param_names.get(id(obj)) or obj._state_hint
            taken = {v.name for v in self.graph.inputs} | set(self.graph.state)
            name = self.unique_name(base, taken)
            v = self.graph.add_state(name, tensor_type(arr.shape, dtypes.from_numpy(arr.dtype)))
            self._lifted[id(obj)] = v
            self._current[id(obj)] = v
            self.params[name] = obj
            if obj.requires_grad:
                self.grad_leaves.append(obj)
        return v

    def current(self, obj) -> Value:
        """The Value a state object holds now (after any in-place updates traced so far)."""
        self.state_value(obj)
        return self._current[id(obj)]

    def assign(self, obj, value: Value) -> None:
        """An in-place update of a state object: later reads see `value`; it is written back."""
        self.state_value(obj)
        self._current[id(obj)] = value

    def state_updates(self) -> dict[str, Value]:
        """State name -> final value, for every state object updated in place during the trace."""
        out = {}
        for name, obj in self.params.items():
            v = self._current[id(obj)]
            if v is not self._lifted[id(obj)]:
                out[name] = v
        return out

    def constant(self, arr: np.ndarray) -> Value:
        """A constant node holding a copy of `arr`, located at the user's current line."""
        self.baked.add(id(arr))   # a variable rebound to a traced value and read: an input
        return self.builder.emit("constant", value=np.array(arr), loc=user_loc())


class BodyTrace(Trace):
    """The trace of a loop body (graphc.scan) inside an enclosing trace, `parent`.

    The body is a closed graph: a value of an enclosing trace it reads (a parameter, a tensor
    computed before the loop) becomes one of the body's inputs after its carries and sequence
    entries (`captured` keeps the enclosing Values, in input order). Parameters are lifted in
    the enclosing trace, so their gradients reach it. In-place updates of state (an optimizer
    step, a random generator's counter) cannot happen once per step inside a loop: they raise.
    """

    def __init__(self, parent: Trace, name: str):
        super().__init__(name)
        self.parent = parent
        self.baked = parent.baked
        self.captured: list[Value] = []           # enclosing values, one per captured input
        self._captures: dict[Value, Value] = {}   # enclosing value -> the body's input

    def input(self, name: str, type) -> Value:
        """A body input (a carry or a sequence entry) of `type`."""
        return self.graph.add_input(name, type)

    def capture(self, outer: Value) -> Value:
        """The body input standing for the enclosing trace's value `outer` (added on first use)."""
        v = self._captures.get(outer)
        if v is None:
            v = self._captures[outer] = self.graph.add_input(f"k{len(self.captured)}", outer.type)
            self.captured.append(outer)
        return v

    def value_of(self, t) -> Value:
        """The body's Value for a tensor traced in this trace or an enclosing one."""
        if t._trace is self:
            return t._value
        outer = self.parent.value_of(t) if isinstance(self.parent, BodyTrace) else \
            (t._value if t._trace is self.parent else None)
        if outer is None:
            raise TraceError(
                f"a traced tensor ({t.type}) from another trace was used at {user_where()}: a "
                "traced tensor cannot escape its compiled function; return it instead")
        return self.capture(outer)

    def state_value(self, obj) -> Value:
        """A state object's value where the loop starts, as one of the body's inputs."""
        return self.capture(self.parent.current(obj))

    def current(self, obj) -> Value:
        """The same as state_value: state cannot change inside the body."""
        return self.state_value(obj)

    def assign(self, obj, value: Value) -> None:
        """Refused: the body cannot update state (a TraceError saying what to do)."""
        raise TraceError(
            f"in-place update of state inside a graphc.scan body at {user_where()} (a "
            "parameter, buffer, optimizer state or a "
            "random generator's state, e.g. dropout): the body runs once per step, so it cannot "
            "update state; return the value as a carry, or do the update outside the loop")

    def add_input(self, name: str, arr: np.ndarray) -> Value:
        """Refused: a loop body has no compiled-function inputs of its own."""
        raise TraceError(f"a new compiled-function input inside a graphc.scan body at "
                         f"{user_where()}")


def current() -> Trace | None:
    """The active trace on this thread, or None (eager mode)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


class tracing:
    """Context manager making `trace` the active one on this thread."""

    def __init__(self, trace: Trace):
        self.trace = trace

    def __enter__(self) -> Trace:
        if not hasattr(_local, "stack"):
            _local.stack = []
        _local.stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc):
        _local.stack.pop()


def control_flow_error(what: str, t) -> TraceError:
    """The TraceError for `what` needing a traced tensor's value, with what to do instead."""
    return TraceError(
        f"{what} of a traced tensor ({t.type}) at {user_where()}: graphc traces Python code once, "
        "unrolling Python control flow, so the value is not known yet. Use graphc.where(cond, a, b) "
        "instead of `if`, keep the value as a tensor and return it from the compiled function, "
        "or compute it outside graphc.compile.")
