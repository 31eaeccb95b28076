"""Loop-invariant code motion for `scan` loops.

A body node whose operands are all loop invariants (the body's inputs after its carries and
sequence entries, or values computed from them) computes the same value at every step: it moves
out of the loop, before the scan, and its result enters the body as one more invariant (a user's
`h @ w.T` transposes w once, not once per step). Constants stay (a scalar is inlined into every
kernel that reads it), and so do broadcasts, which fused kernels read in place without
materialising them. Invariant inputs the body no longer reads are dropped from the node.
"""
from __future__ import annotations

from graphc.ir import Fusion, Graph, Node, Value, fusion_of

from .rewrite import copy_graph_header, finish

_STAY = (Fusion.SOURCE, Fusion.BROADCAST, Fusion.MARKER, Fusion.SCAN)


def hoist_invariants(g: Graph) -> Graph:
    """`g` with every loop's invariant body nodes computed once before the loop."""
    if not any(fusion_of(n) is Fusion.SCAN for n in g.nodes):
        return g
    out, vmap = copy_graph_header(g)
    for n in g.nodes:
        inputs = [vmap[v] for v in n.inputs]
        attrs = n.attrs
        if fusion_of(n) is Fusion.SCAN:
            inputs, body = _hoist(n, inputs, out)
            attrs = dict(attrs, body=body)
        new = out.add_node(Node(n.op, inputs, attrs, [v.type for v in n.outputs], n.loc))
        vmap.update(zip(n.outputs, new.outputs))
    return finish(g, out, vmap)


def _hoist(node: Node, operands: list[Value], out: Graph) -> tuple[list[Value], Graph]:
    """Move the scan body's invariant nodes into `out` (before the scan); returns the scan's new
    operands and body."""
    body = node.attrs["body"]
    k, m = node.attrs["n_carry"], node.attrs["n_xs"]
    outer: dict[Value, Value] = dict(zip(body.inputs[k + m:], operands[k + m:]))  # inv -> outer
    consts: dict[Value, Node] = {}
    moved: set[Node] = set()
    for n in body.nodes:
        if fusion_of(n) is Fusion.SOURCE:
            consts[n.outputs[0]] = n
            continue
        if fusion_of(n) in _STAY or not n.inputs or \
                not all(v in outer or v in consts for v in n.inputs) or \
                not any(v in outer for v in n.inputs):
            continue
        args = []
        for v in n.inputs:
            if v not in outer:   # a constant the moved node reads: copied out with it
                c = consts[v]
                outer[v] = out.add_node(Node(c.op, [], c.attrs, [c.outputs[0].type], c.loc)).out
            args.append(outer[v])
        new = out.add_node(Node(n.op, args, n.attrs, [v.type for v in n.outputs], n.loc))
        outer.update(zip(n.outputs, new.outputs))
        moved.add(n)
    if not moved:
        return operands, body
    # the new body: carries, sequence entries, then the invariants it still reads
    kept = [n for n in body.nodes if n not in moved]
    read = {v for n in kept for v in n.inputs} | set(body.outputs)
    new_body = Graph(body.name)
    bmap: dict[Value, Value] = {}
    new_ops = list(operands[:k + m])
    for v in body.inputs[:k + m]:
        bmap[v] = new_body.add_input(v.name, v.type)
    invariants = [v for v in body.inputs[k + m:]] + \
        [o for n in body.nodes if n in moved for o in n.outputs]
    for v in invariants:
        if v in read:
            bmap[v] = new_body.add_input(f"k{len(new_ops) - k - m}", v.type)
            new_ops.append(outer[v])
    for n in kept:
        new = new_body.add_node(Node(n.op, [bmap[v] for v in n.inputs], n.attrs,
                                     [v.type for v in n.outputs], n.loc))
        bmap.update(zip(n.outputs, new.outputs))
    new_body.outputs = [bmap[v] for v in body.outputs]
    return new_ops, new_body
