"""Quantization rewrites: fold a ReLU into the int8 Linear's requantize epilogue.

`graphc.relu(q)` traces as `where(le(q, 0), 0, q)`. When q is a `qlinear[relu=false]` read only
by that ReLU, the pair becomes one `qlinear[relu=true]`: the kernel applies max(0, y) to each
result right after its fused multiply-add, so y is written once instead of written, read back,
compared and written again. The rule is exact: qlinear's relu attr is defined as
`where(y <= 0, +0.0, y)`, the very expression it replaces (NaN from an fp32-fallback call stays
NaN, -0.0 becomes +0.0).
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Builder, Graph, Node, Value

from .dce import dce
from .rewrite import copy_graph_header, finish


def _use_counts(g: Graph) -> dict[Value, int]:
    """How many times each value is read: by nodes, as an output, or as a state update."""
    n: dict[Value, int] = {}
    for node in g.nodes:
        for v in node.inputs:
            n[v] = n.get(v, 0) + 1
    for v in list(g.outputs) + list(g.updates.values()):
        n[v] = n.get(v, 0) + 1
    return n


def _is_pos_zero(v: Value) -> bool:
    """v is a constant +0.0 (all elements), of v's dtype; -0.0 would give where() a -0.0 result."""
    p = v.producer
    if p is None or p.op != "constant":
        return False
    a = p.attrs["value"]
    return a.size > 0 and bool(np.all(a == 0)) and not bool(np.any(np.signbit(a)))


def _producer(v: Value, op: str) -> Node | None:
    p = v.producer
    return p if p is not None and p.op == op else None


# ---- the rules: op -> [(match, algebra)] ---------------------------------------------------------
# a match gets (node, use counts) in the input graph and returns (op, operands, attrs, loc) or None


def _relu_into_qlinear(n: Node, uses: dict[Value, int]):
    cond, zero, q = n.inputs
    le, ql = _producer(cond, "le"), _producer(q, "qlinear")
    if le is None or ql is None or ql.attrs.get("relu", False):
        return None
    if le.inputs[0] is not q or not _is_pos_zero(le.inputs[1]) or not _is_pos_zero(zero):
        return None
    if uses.get(q, 0) != 2 or uses.get(cond, 0) != 1 or n.out.type != q.type:
        return None   # the un-ReLU'd q is needed elsewhere (or the where broadcasts)
    return "qlinear", ql.inputs, {**ql.attrs, "relu": True}, ql.loc


RULES = {
    "where": [(_relu_into_qlinear,
               ("where(le(q, 0), 0, q) -> qlinear[relu=true](...)  for q = qlinear[relu=false](...)"
                " read only by that le and where"))],
}


def quantize_fuse(g: Graph) -> Graph:
    """Apply RULES once over the graph; the replaced qlinear/le nodes are left to DCE."""
    uses = _use_counts(g)
    out, vmap = copy_graph_header(g)
    changed = False
    for node in g.nodes:
        hit = None
        for match, _algebra in RULES.get(node.op, ()):
            hit = match(node, uses) if len(node.outputs) == 1 else None
            if hit is not None:
                break
        if hit is not None:
            op, operands, attrs, loc = hit
            vmap[node.outputs[0]] = Builder(out, loc).emit(op, *[vmap[v] for v in operands],
                                                           **attrs)
            changed = True
            continue
        new = out.add_node(Node(node.op, [vmap[v] for v in node.inputs], node.attrs,
                                [v.type for v in node.outputs], node.loc))
        vmap.update(zip(node.outputs, new.outputs))
    return dce(finish(g, out, vmap)) if changed else g
