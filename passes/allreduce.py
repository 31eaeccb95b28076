"""Data parallelism as a pass: average the parameter gradients over the MPI ranks.

Runs before `autodiff`, on the `grad` nodes `loss.backward()` records. After each one it adds
`allreduce[world=N]` over the gradients of the graph's state (the parameters), one node per
float dtype, and every later use of those gradients (the optimizer update, `p.grad`) reads the
mean instead. Autodiff then expands `grad` into the backward graph, so the one all-reduce sits
between the backward graph and the optimizer update. Gradients of graph inputs (data with
`requires_grad_`) are per-rank values and stay local. Several `backward()` calls give one
all-reduce each (a mean of sums is the sum of means).

The pass reads no MPI state: the driver, which knows the job, gives `world` through the
pipeline (`run_pipeline(g, names, world_size=N)`), and passes/manager.py's `pipeline` puts this
pass before `autodiff` whenever gradients are averaged over more than one rank.
"""
from __future__ import annotations

from graphc.ir import Graph, Node, Value

from .rewrite import copy_graph_header, finish


def allreduce(g: Graph, world: int = 1) -> Graph:
    """Insert a mean all-reduce over `world` ranks of the parameter gradients after every `grad`
    node of `g` (world=1: the identity op, so the graph also runs in one process)."""
    if not any(n.op == "grad" for n in g.nodes):
        return g
    state = set(g.state.values())
    out, vmap = copy_graph_header(g)
    for node in g.nodes:
        new = Node(node.op, [vmap[v] for v in node.inputs], node.attrs,
                   [v.type for v in node.outputs], node.loc)
        out.add_node(new)
        vmap.update(zip(node.outputs, new.outputs))
        if node.op != "grad":
            continue
        wrt = node.inputs[2:]
        by_dtype: dict[str, list[Value]] = {}
        for w, gv in zip(wrt, node.outputs):
            if w in state and gv.dtype.is_float:
                by_dtype.setdefault(gv.dtype.name, []).append(gv)
        for grads in by_dtype.values():
            red = Node("allreduce", [vmap[v] for v in grads], {"world": world},
                       [v.type for v in grads], node.loc)
            out.add_node(red)
            vmap.update(zip(grads, red.outputs))
    return finish(g, out, vmap)

