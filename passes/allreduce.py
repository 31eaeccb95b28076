"""Data parallelism as a pass: average the parameter gradients over the MPI ranks.

Runs before `autodiff`, on the `grad` nodes `loss.backward()` records. After each one it adds
`allreduce[world=N]` over the gradients of the graph's state (the parameters), one node per
float dtype, and every later use of those gradients (the optimizer update, `p.grad`) reads the
mean instead. Autodiff then expands `grad` into the backward graph, so the one all-reduce sits
between the backward graph and the optimizer update. Gradients of graph inputs (data with
`requires_grad_`) are per-rank values and stay local. Several `backward()` calls give one
all-reduce each (a mean of sums is the sum of means).
"""
from __future__ import annotations

from graphc.ir import Graph, Node, Value

from .rewrite import copy_graph_header, finish


def world_size() -> int:
    """Ranks in the running MPI job; 1 when graphc.distributed is not initialised."""
    from graphc import distributed
    return distributed.world_size() if distributed.is_initialized() else 1


def allreduce(g: Graph, world: int | None = None) -> Graph:
    """Insert a mean all-reduce of the parameter gradients after every `grad` node of `g`."""
    if not any(n.op == "grad" for n in g.nodes):
        return g
    world = world_size() if world is None else world
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


def data_parallel_passes(passes: list[str] | None) -> list[str] | None:
    """The pipeline for a data-parallel step: `allreduce` first; unchanged when the step runs
    on one process (graphc.distributed prints a one-line notice if MPI is not initialised)."""
    from graphc import distributed
    if distributed.active_world_size() == 1:
        return passes
    from .manager import DEFAULT_PIPELINE
    names = list(DEFAULT_PIPELINE if passes is None else passes)
    return names if "allreduce" in names else ["allreduce", *names]
