"""Graph views for analysis and pictures: a networkx DiGraph and Graphviz DOT text."""
from __future__ import annotations

import networkx as nx

from .graph import Graph, Node, Value


def to_networkx(g: Graph) -> nx.DiGraph:
    """One networkx node per IR node (key: its index) and per input/state (key: its name).

    Edges carry the value's type; node data holds op, attrs, loc and result types.
    """
    d = nx.DiGraph(name=g.name)
    key: dict[Value, object] = {}
    for v in g.inputs:
        d.add_node(v.name, kind="input", type=str(v.type))
        key[v] = v.name
    for name, v in g.state.items():
        d.add_node(name, kind="state", type=str(v.type))
        key[v] = name
    for i, n in enumerate(g.nodes):
        d.add_node(i, kind="node", op=n.op, attrs=dict(n.attrs), loc=n.loc,
                   types=[str(v.type) for v in n.outputs])
        for v in n.inputs:
            d.add_edge(key[v], i, type=str(v.type))
        for v in n.outputs:
            key[v] = i
    for j, v in enumerate(g.outputs):
        d.add_node(f"output{j}", kind="output", type=str(v.type))
        d.add_edge(key[v], f"output{j}", type=str(v.type))
    for name, v in g.updates.items():
        d.add_node(f"update:{name}", kind="update", type=str(v.type))
        d.add_edge(key[v], f"update:{name}", type=str(v.type))
    return d


def _label(n: Node) -> str:
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(n.attrs.items()) if k != "value")
    text = n.op + (f"[{attrs}]" if attrs else "")
    types = ", ".join(str(v.type) for v in n.outputs)
    return f"{text}\\n{types}" + (f"\\n{n.loc}" if n.loc else "")


def to_dot(g: Graph) -> str:
    """Graphviz DOT text for `g` (render with `dot -Tsvg`); needs no Graphviz to produce."""
    d = to_networkx(g)
    out = [f'digraph "{g.name}" {{', "  rankdir=TB; node [fontname=monospace, fontsize=10];"]
    for k, data in d.nodes(data=True):
        if data["kind"] == "node":
            label, shape = _label(g.nodes[k]), "box"
        else:
            label, shape = f"{data['kind']} {k}\\n{data['type']}", "ellipse"
        label = label.replace('"', '\\"')
        out.append(f'  "{k}" [label="{label}", shape={shape}];')
    for a, b, data in d.edges(data=True):
        out.append(f'  "{a}" -> "{b}" [label="{data["type"]}"];')
    out.append("}")
    return "\n".join(out) + "\n"
