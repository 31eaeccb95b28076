"""Builder: append type-checked nodes to a Graph (`b.mul(x, y)`, `b.sum(x, axis=(0,))`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..errors import ShapeError
from .graph import Graph, Node, TensorType, Value
from .ops import OPS


def describe_types(types) -> str:
    """The types as a comma-separated list for error messages ('no operands' if none)."""
    return ", ".join(str(t) for t in types) or "no operands"


def weak_scalar_dtype(v, dt):
    """The dtype a Python number takes next to tensors of dtype `dt` (NumPy 2 / PyTorch rules)."""
    if isinstance(v, (bool, np.bool_)):
        return dt
    if isinstance(v, (int, np.integer)):
        return dtypes.int64 if dt.is_bool else dt
    return dt if dt.is_float else dtypes.float32


class Builder:
    """Emits nodes into `graph`; every node gets `loc` (the user's file:line) unless given one."""

    def __init__(self, graph: Graph, loc: str | None = None):
        self.graph = graph
        self.loc = loc

    def emit(self, op: str, *inputs: Any, loc: str | None = None, **attrs: Any) -> Value:
        """Append `op(*inputs, **attrs)`; Python numbers become constants (weakly typed, as in NumPy)."""
        node = self.emit_node(op, *inputs, loc=loc, **attrs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def emit_node(self, op: str, *inputs: Any, loc: str | None = None, **attrs: Any) -> Node:
        """Append `op(*inputs, **attrs)` and return the Node itself (for several results)."""
        opdef = OPS.get(op)
        if opdef is None:
            raise ShapeError(f"unknown op {op!r}")
        loc = loc or self.loc
        vals = self._operands(inputs, loc)
        types = [v.type for v in vals]
        try:
            out_types = opdef.result_types(types, attrs)
        except (ShapeError, KeyError, TypeError) as e:  # a missing/ill-typed attr is the caller's bug too
            where = f" at {loc}" if loc else ""
            what = e if isinstance(e, ShapeError) else f"bad or missing attribute {e}"
            raise ShapeError(f"{op}: {what} (operands: {describe_types(types)}){where}") from None
        return self.graph.add_node(Node(op, vals, attrs, out_types, loc))

    def const(self, value, dtype, loc: str | None = None) -> Value:
        """A constant node holding `value` (a scalar or array) converted to `dtype`."""
        dt = dtypes.as_dtype(dtype)
        arr = np.asarray(value, dtype=dt.np)
        return self.emit("constant", value=arr, loc=loc)

    def _operands(self, inputs, loc=None) -> list[Value]:
        vals = [v for v in inputs if isinstance(v, Value)]
        if len(vals) == len(inputs):
            return list(inputs)
        if not vals:
            raise ShapeError("an op needs at least one tensor operand")
        dt = dtypes.result_type([v.dtype for v in vals if v.shape != ()],
                                [v.dtype for v in vals if v.shape == ()])
        has_float = any(isinstance(v, (float, np.floating)) for v in inputs)
        out = []
        for v in inputs:
            if isinstance(v, Value):
                if has_float and not dt.is_float:  # int tensor * 2.5 -> f32, as in PyTorch
                    v = self.emit("cast", v, dtype=dtypes.float32, loc=loc)
                out.append(v)
            elif isinstance(v, (bool, int, float, np.number, np.bool_)):
                scalar_dt = weak_scalar_dtype(v, dt)
                out.append(self.const(v, scalar_dt, loc))
            else:
                raise ShapeError(f"operand {v!r} is neither a Value nor a Python number")
        return out

    def __getattr__(self, op: str):
        if op.startswith("_") or op not in OPS:
            raise AttributeError(op)
        return lambda *inputs, **attrs: self.emit(op, *inputs, **attrs)

    # -- small compositions used by gradient rules ---------------------------------------------

    def sum_to(self, g: Value, shape: tuple[int, ...]) -> Value:
        """Sum `g` down to `shape` (the inverse of NumPy broadcasting): un-broadcasting."""
        shape = tuple(shape)
        if g.shape == shape:
            return g
        lead = g.type.ndim - len(shape)
        if lead:
            g = self.emit("sum", g, axis=tuple(range(lead)), keepdims=False)
        inner = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
        if inner:
            g = self.emit("sum", g, axis=inner, keepdims=True)
        if g.shape != shape:
            g = self.emit("reshape", g, shape=shape)
        return g

    def zeros(self, type: TensorType) -> Value:
        """A zero-filled value of `type` (a scalar constant, broadcast if needed)."""
        z = self.const(0, type.dtype)
        return z if type.shape == () else self.emit("broadcast", z, shape=type.shape)
