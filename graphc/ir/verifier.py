"""IR invariants: SSA definition before use, types agree with each op's shape rule, valid names."""
from __future__ import annotations

import re

from ..errors import ShapeError, VerifyError
from .graph import Graph, Value
from .ops import OPS

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


def _result_types(opdef, types, attrs, seen: dict):
    """opdef.result_types(types, attrs), remembered in `seen` for hashable attrs (a shape rule
    is a pure function of them), so a graph of many identical steps checks each kind once."""
    try:
        key = (opdef.name, tuple(types), tuple(sorted(attrs.items())))
        hash(key)
    except TypeError:
        return opdef.result_types(types, attrs)
    if key not in seen:
        seen[key] = opdef.result_types(types, attrs)
    return seen[key]


def verify(g: Graph) -> Graph:
    """Check `g`; raise VerifyError naming the first bad node (with its neighbours) or name."""
    defined: set[Value] = set()
    names: set[str] = set()
    seen: dict = {}   # (op, operand types, attrs) -> result types: repeated layers infer once
    for v in list(g.inputs) + list(g.state.values()):
        if v.name is None or not _NAME.match(v.name):
            raise VerifyError(f"graph @{g.name}: input/state name {v.name!r} is not an identifier "
                              "([A-Za-z_][A-Za-z0-9_.]*)")
        if v.name in names:
            raise VerifyError(f"graph @{g.name}: name %{v.name} is used twice")
        if v.producer is not None:
            raise VerifyError(f"graph @{g.name}: input %{v.name} is also a node result")
        names.add(v.name)
        defined.add(v)
    for k, v in g.state.items():
        if v.name != k:
            raise VerifyError(f"graph @{g.name}: state key {k!r} holds a value named {v.name!r}")
    for i, node in enumerate(g.nodes):
        def fail(msg, i=i, node=node):
            raise VerifyError(f"graph @{g.name}, node {i} ({node.op}"
                              f"{' at ' + node.loc if node.loc else ''}): {msg}\n"
                              + _context(g, i))
        opdef = OPS.get(node.op)
        if opdef is None:
            fail(f"unknown op {node.op!r}")
        for j, v in enumerate(node.inputs):
            if not isinstance(v, Value):
                fail(f"operand {j} is {type(v).__name__}, not a Value")
            if v not in defined:
                fail(f"operand {j} ({v.type}) is not defined before this node")
        try:
            want = _result_types(opdef, [v.type for v in node.inputs], node.attrs, seen)
        except ShapeError as e:
            fail(str(e))
        except (KeyError, TypeError) as e:
            fail(f"bad or missing attribute: {e}")
        got = [v.type for v in node.outputs]
        if got != want:
            fail(f"result types {[str(t) for t in got]} differ from the shape rule's "
                 f"{[str(t) for t in want]}")
        for key, body in node.attrs.items():
            if isinstance(body, Graph):
                try:
                    verify(body)
                except VerifyError as e:
                    fail(f"in its {key} graph: {e}")
        for j, v in enumerate(node.outputs):
            if v.producer is not node or v.index != j or v in defined:
                fail(f"result {j} is not uniquely owned by this node")
            defined.add(v)
    for j, v in enumerate(g.outputs):
        if v not in defined:
            raise VerifyError(f"graph @{g.name}: output {j} ({v.type}) is not defined")
    for k, v in g.updates.items():
        if k not in g.state:
            raise VerifyError(f"graph @{g.name}: update of %{k}, which is not state")
        if v not in defined:
            raise VerifyError(f"graph @{g.name}: update of %{k} uses an undefined value")
        if v.type != g.state[k].type:
            raise VerifyError(f"graph @{g.name}: update of %{k}: {v.type} does not match the "
                              f"state's type {g.state[k].type}")
    return g


def _context(g: Graph, i: int, radius: int = 2) -> str:
    """The printed lines around node i, marked, as JAX's check_jaxpr does."""
    try:
        lines = g.__str__().splitlines()
    except Exception:  # noqa: BLE001 - printing a broken graph is best effort
        return ""
    # top-level node lines only: a fused node's body prints extra, deeper-indented lines
    tops = [k for k, line in enumerate(lines) if line.startswith("  %")]
    if i >= len(tops):
        return ""
    at = tops[i]
    lo, hi = max(1, at - radius), min(len(lines) - 2, at + radius)
    return "\n".join(("> " if k == at else "  ") + lines[k] for k in range(lo, hi + 1))
