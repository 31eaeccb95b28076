"""Reverse-mode autodiff as a Graph -> Graph pass.

`Tensor.backward()` records a `grad` node: `%g1, %g2 = grad %loss, %seed, %w1, %w2`. This pass
replaces every such node by the gradient computation, derived symbolically: it walks the nodes
before it in reverse, calls each op's `vjp` rule (graphc/ir/ops), sums fan-out, un-broadcasts to
each operand's shape, and stops at values that carry no gradient (integers, booleans, NONDIFF ops).
Gradient nodes carry the source line of the forward node they differentiate.
"""
from __future__ import annotations

from graphc.errors import GraphcError
from graphc.ir import NONDIFF, OPS, Builder, Fusion, Graph, Node, Value, fusion_of

from .rewrite import copy_graph_header
from .scan_grad import scan_vjp


def autodiff(g: Graph) -> Graph:
    """Expand every `grad` node of `g`; returns a new graph (the input is left untouched)."""
    if not any(n.op == "grad" for n in g.nodes):
        return g
    out, vmap = copy_graph_header(g)
    for node in g.nodes:
        if node.op == "grad":
            y, seed, *wrt = (vmap[v] for v in node.inputs)
            grads = gradients(out, y, seed, wrt, node.loc)
            for old, new in zip(node.outputs, grads):
                vmap[old] = new
            continue
        new = Node(node.op, [vmap[v] for v in node.inputs], node.attrs,
                   [v.type for v in node.outputs], node.loc)
        out.add_node(new)
        vmap.update(zip(node.outputs, new.outputs))
    out.outputs = [vmap[v] for v in g.outputs]
    out.updates = {k: vmap[v] for k, v in g.updates.items()}
    return out


def _differentiable(v: Value) -> bool:
    return v.dtype.is_float


def gradients(g: Graph, y: Value, seed: Value, wrt: list[Value], loc: str | None = None
              ) -> list[Value]:
    """Append to `g` the nodes computing <seed, dy/dw> for each w in `wrt`; returns them in order.

    A w that y does not depend on gets zeros.
    """
    return backprop(g, {y: seed}, wrt, loc)


def backprop(g: Graph, seeds: dict[Value, Value], wrt: list[Value], loc: str | None = None,
             zeros: bool = True) -> list[Value | None]:
    """Append to `g` the cotangents of `wrt` given the cotangents `seeds` of some of g's values
    (the sum over seeds of <seed, d value/dw>); a w no seed depends on gets zeros (None if not
    `zeros`)."""
    # values the seeds depend on (backwards) and values depending on some w (forwards): the tape
    needed: set[Value] = set()
    stack = list(seeds)
    while stack:
        v = stack.pop()
        if v in needed:
            continue
        needed.add(v)
        if v.producer is not None:
            stack.extend(v.producer.inputs)
    active: set[Value] = set(wrt)
    nodes = g.nodes[:]  # snapshot: gradient nodes are appended while walking
    for n in nodes:
        if any(v in active for v in n.inputs) and OPS[n.op].vjp is not NONDIFF:
            active.update(o for o in n.outputs if _differentiable(o))
    relevant = [n for n in nodes if any(o in needed and o in active for o in n.outputs)]

    ct: dict[Value, Value] = dict(seeds)
    for n in reversed(relevant):
        b = Builder(g, n.loc)
        if fusion_of(n) is Fusion.SCAN:   # a loop: its gradient is a reverse loop
            g_outs = [ct.get(o) for o in n.outputs]
            if all(c is None for c in g_outs):
                continue
            cts = scan_vjp(b, n, g_outs, [x in active for x in n.inputs], backprop)
        else:
            (out,) = n.outputs if len(n.outputs) == 1 else (None,)
            if out is None:
                raise GraphcError(f"cannot differentiate through multi-result op {n.op}")
            g_out = ct.get(out)
            if g_out is None:
                continue
            rule = OPS[n.op].vjp
            if rule is None:
                raise GraphcError(f"op {n.op!r} has no gradient rule yet"
                                  f"{' (at ' + n.loc + ')' if n.loc else ''}")
            cts = rule(b, g_out, *n.inputs, out, **n.attrs)
        if len(cts) != len(n.inputs):
            raise GraphcError(f"gradient rule of {n.op} returned {len(cts)} cotangents for "
                              f"{len(n.inputs)} operands")
        for x, c in zip(n.inputs, cts):
            if c is None or x not in active or not _differentiable(x):
                continue
            c = b.sum_to(c, x.shape)
            if c.dtype != x.dtype:
                c = b.cast(c, dtype=x.dtype)
            ct[x] = b.add(ct[x], c) if x in ct else c   # fan-out: cotangents add up
    b = Builder(g, loc)
    return [ct[w] if w in ct else (b.zeros(w.type) if zeros else None) for w in wrt]
