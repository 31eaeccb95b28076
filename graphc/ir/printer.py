"""Deterministic text form of a Graph: dense renumbering, sorted attributes, user source lines.

    graph @step(%x: f32[64,784]) state(%fc1.weight: f32[128,784]) {
      %0: f32[64,128] = matmul[transpose_b=true] %x, %fc1.weight     # mnist.py:12
      return %0 updates(%fc1.weight <- %5)
    }
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..dtypes import DType
from .graph import Graph, Node, Value

LOC_COLUMN = 64


def format_scalar(v, dtype: np.dtype) -> str:
    """One element, spelled so that parsing it back gives the same bits."""
    if dtype.kind == "b":
        return "true" if v else "false"
    if dtype.kind in "iu":
        return str(int(v))
    if dtype == np.float32:
        return _float_token(str(np.float32(v)))
    return _float_token(repr(float(v)))


def _float_token(s: str) -> str:
    # make sure a float always reads back as a float ("1" would parse as an int)
    if s in ("nan", "inf", "-inf") or any(c in s for c in ".e"):
        return s
    return s + ".0"


def format_attr(v: Any) -> str:
    """One attribute value in the IR's text syntax (the parser reads it back)."""
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_token(repr(float(v)))
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "none"
    if isinstance(v, DType):
        return v.name
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, np.ndarray):
        from .graph import tensor_type
        items = ", ".join(format_scalar(x, v.dtype) for x in v.ravel())
        return f"dense<{tensor_type(v.shape, v.dtype)}>[{items}]"
    raise TypeError(f"cannot print attribute value {v!r} of type {type(v).__name__}")


def format_attrs(node: Node) -> str:
    """A node's attributes as `[k=v, ...]` in key order (kernel bodies left out)."""
    if not node.attrs:
        return ""
    parts = []
    for k in sorted(node.attrs):
        v = node.attrs[k]
        if isinstance(v, Graph):
            continue  # a kernel body is printed as a block after the operands
        if node.op == "constant" and k == "value" and isinstance(v, np.ndarray):
            # the result type carries dtype and shape: print just the elements
            s = (format_scalar(v.item(), v.dtype) if v.ndim == 0 else
                 "[" + ", ".join(format_scalar(x, v.dtype) for x in v.ravel()) + "]")
        else:
            s = format_attr(v)
        parts.append(f"{k}={s}")
    return "[" + ", ".join(parts) + "]"


def print_graph(g: Graph, indent: str = "") -> str:
    """The graph as text; `parse(print_graph(g))` rebuilds an identical graph."""
    names: dict[Value, str] = {}
    for v in g.inputs:
        names[v] = "%" + v.name
    for name, v in g.state.items():
        names[v] = "%" + name

    def ref(v: Value) -> str:
        try:
            return names[v]
        except KeyError:
            return f"%<undefined {v.type}>"

    def sig(vals) -> str:
        return ", ".join(f"{ref(v)}: {v.type}" for v in vals)

    head = f"{indent}graph @{g.name}({sig(g.inputs)})"
    if g.state:
        head += f" state({sig(g.state.values())})"
    arena = g.meta.get("arena")
    if arena is not None:
        head += f" arena({arena})"
    buffers = g.meta.get("buffers", {})
    lines = [head + " {"]
    counter = 0
    for node in g.nodes:
        for v in node.outputs:
            names[v] = f"%{counter}"
            counter += 1
        lhs = ", ".join(f"{names[v]}: {v.type}" + (f" @{buffers[v]}" if v in buffers else "")
                        for v in node.outputs)
        rhs = node.op + format_attrs(node)
        if node.inputs:
            rhs += " " + ", ".join(ref(v) for v in node.inputs)
        bodies = [v for _, v in sorted(node.attrs.items()) if isinstance(v, Graph)]
        if bodies:
            rhs += " {"
        line = f"{indent}  {lhs} = {rhs}"
        if node.loc:
            line = line.ljust(LOC_COLUMN) + f"  # {node.loc}"
        lines.append(line)
        for body in bodies:
            lines.append(print_graph(body, indent + "    ").rstrip("\n"))
            lines.append(f"{indent}  }}")
    ret = f"{indent}  return"
    if g.outputs:
        ret += " " + ", ".join(ref(v) for v in g.outputs)
    if g.updates:
        ret += " updates(" + ", ".join(f"%{k} <- {ref(v)}" for k, v in g.updates.items()) + ")"
    lines.append(ret)
    lines.append(indent + "}")
    return "\n".join(lines) + "\n"


def _graph_str(g: Graph) -> str:
    return print_graph(g)


Graph.__str__ = _graph_str   # str(graph): its text (graph.py cannot import the printer)
