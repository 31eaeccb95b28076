"""A tiny rewriting driver shared by the simplification passes.

`rewrite(g, fn)` walks the nodes in order and calls `fn(node, b)` with operands already replaced;
`fn` returns a Value (the node's single result is replaced by it), or None to keep the node.
Nodes `fn` emits through `b` land before the node being replaced, so the result stays in order.
"""
from __future__ import annotations

from typing import Callable

from graphc.ir import Builder, Graph, Node, Value


def copy_graph_header(g: Graph) -> tuple[Graph, dict[Value, Value]]:
    """A new empty graph with g's name, inputs and state; the map old value -> new value."""
    out = Graph(g.name)
    vmap: dict[Value, Value] = {}
    for v in g.inputs:
        vmap[v] = out.add_input(v.name, v.type)
    for k, v in g.state.items():
        vmap[v] = out.add_state(k, v.type)
    return out, vmap


def finish(g: Graph, out: Graph, vmap: dict[Value, Value]) -> Graph:
    """Set out's outputs and state updates from g's through `vmap` (old -> new); returns out."""
    out.outputs = [vmap[v] for v in g.outputs]
    out.updates = {k: vmap[v] for k, v in g.updates.items()}
    return out


def rewrite(g: Graph, fn: Callable[[Node, Builder], Value | None]) -> tuple[Graph, int]:
    """Apply `fn` to every node once; returns the new graph and how many nodes were replaced."""
    out, vmap = copy_graph_header(g)
    changed = 0
    for node in g.nodes:
        new = Node(node.op, [vmap[v] for v in node.inputs], node.attrs,
                   [v.type for v in node.outputs], node.loc)
        b = Builder(out, node.loc)
        repl = fn(new, b) if len(new.outputs) == 1 else None
        if repl is not None and repl is not new.outputs[0]:
            if repl.type != new.outputs[0].type:
                raise AssertionError(f"rewrite of {node.op} changed its type "
                                     f"{new.outputs[0].type} -> {repl.type}")
            vmap[node.outputs[0]] = repl
            changed += 1
            continue
        out.add_node(new)
        vmap.update(zip(node.outputs, new.outputs))
    return finish(g, out, vmap), changed
