"""The IR's data structures: TensorType, Value, Node, Graph (typed SSA, nodes in topological order)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import dtypes
from ..dtypes import DType


@dataclass(frozen=True)
class TensorType:
    """Static type of a value: shape (tuple of ints) and element dtype."""

    shape: tuple[int, ...]
    dtype: DType

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """The size in bytes: elements times the dtype's itemsize."""
        return self.size * self.dtype.itemsize

    def __str__(self) -> str:
        return f"{self.dtype.name}[{','.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"TensorType({self})"


def tensor_type(shape: Iterable[int], dtype) -> TensorType:
    """Build a TensorType from any shape iterable and dtype spelling."""
    return TensorType(tuple(shape), dtypes.as_dtype(dtype))


class Value:
    """An SSA value: a graph input, a state entry, or an output of a node."""

    __slots__ = ("type", "name", "producer", "index")

    def __init__(self, type: TensorType, name: str | None = None,
                 producer: "Node | None" = None, index: int = 0):
        self.type = type
        self.name = name          # set for graph inputs and state; None for node results
        self.producer = producer  # the Node computing it, or None for inputs/state
        self.index = index        # which output of the producer

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value's type."""
        return self.type.shape

    @property
    def dtype(self) -> DType:
        """The element type of the value's type."""
        return self.type.dtype

    def __repr__(self) -> str:
        what = self.name or (self.producer.op if self.producer else "?")
        return f"<Value {what}: {self.type}>"


class Node:
    """One operation: op name, operand values, sorted attributes, result values, user source line."""

    __slots__ = ("op", "inputs", "attrs", "outputs", "loc")

    def __init__(self, op: str, inputs: list[Value], attrs: dict[str, Any],
                 out_types: list[TensorType], loc: str | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.outputs = [Value(t, None, self, i) for i, t in enumerate(out_types)]
        self.loc = loc

    @property
    def out(self) -> Value:
        """The single result (most ops have exactly one)."""
        assert len(self.outputs) == 1, f"{self.op} has {len(self.outputs)} results"
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"<Node {self.op} {[str(v.type) for v in self.inputs]} -> {[str(v.type) for v in self.outputs]}>"


@dataclass(eq=False)
class Graph:
    """A function in the IR: inputs, named state, nodes in topological order, outputs, state updates.

    `state` maps a state name (e.g. ``fc1.weight``) to its Value; `updates` maps a state name to the
    Value written back into that state after the graph runs (parameters and optimizer buffers).
    """

    name: str = "main"
    inputs: list[Value] = field(default_factory=list)
    state: dict[str, Value] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    updates: dict[str, Value] = field(default_factory=dict)
    # analysis results that travel with the graph and print with it: "arena" (bytes) and
    # "buffers" (Value -> a graphc.ir.buffers location: Arena, StateBuffer or InputBuffer), set
    # by the memory planner
    meta: dict = field(default_factory=dict, compare=False)

    def add_input(self, name: str, type: TensorType) -> Value:
        """Append a graph input `name` of type `type`; returns its Value."""
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add_state(self, name: str, type: TensorType) -> Value:
        """Add the state entry `name` of type `type`; returns its Value (ValueError if taken)."""
        if name in self.state:
            raise ValueError(f"state {name!r} already exists")
        v = Value(type, name)
        self.state[name] = v
        return v

    def add_node(self, node: Node) -> Node:
        """Append `node` after the existing nodes; returns it."""
        self.nodes.append(node)
        return node

    # str(graph) is its IR text: printer.py installs Graph.__str__ (this module holds no printing;
    # the printer builds on it, so importing it here would make a circle)

    def users(self) -> dict[Value, list[Node]]:
        """Map each value to the nodes that read it (in order)."""
        out: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                out.setdefault(v, []).append(n)
        return out

    def op_counts(self) -> dict[str, int]:
        """How many nodes of each op the graph holds (top level only)."""
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))
