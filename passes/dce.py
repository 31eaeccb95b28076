"""Dead-code elimination: drop nodes whose results reach no output and no state update."""
from __future__ import annotations

from graphc.ir import Graph


def dce(g: Graph) -> Graph:
    """Keep only the nodes that outputs or updates depend on (every op is pure)."""
    live = set(g.outputs) | set(g.updates.values())
    keep = []
    for node in reversed(g.nodes):
        if any(v in live for v in node.outputs):
            keep.append(node)
            live.update(node.inputs)
    if len(keep) == len(g.nodes):
        return g
    return Graph(g.name, list(g.inputs), dict(g.state), keep[::-1], list(g.outputs), dict(g.updates))
