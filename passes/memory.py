"""Memory planning: liveness of every intermediate buffer and their placement in one arena.

Runs last, on the final node order. Each top-level result gets a location, recorded in
`graph.meta["buffers"]` as a typed description (graphc/ir/buffers.py) and printed after its type:

- `@arena+OFFSET` — an intermediate in the shared arena; buffers whose lifetimes do not overlap
  share bytes (best-fit by lifetime, largest first, 64-byte aligned);
- `@<state name>` — a new value of a parameter or optimizer buffer written straight into that
  state's array (in place), when no later kernel still reads the old value;
- `@<input or state name>` on a reshape — an alias of its operand's memory (no copy);
- no annotation — graph outputs and constants, which own their arrays.

`graph.meta["memory"]` reports the arena size against the sum of all intermediates (no reuse)
and against the liveness lower bound (the most bytes live at any one point).
"""
from __future__ import annotations

import itertools

import numpy as np

from graphc.ir import Fusion, Graph, Node, Value, fusion_of
from graphc.ir.buffers import Arena, Buffer, InputBuffer, StateBuffer, align
from graphc.ir.ops import NO_KERNEL


def _reads_elementwise_only(node: Node, operand: Value) -> bool:
    """True if `node` reads `operand` only at the index it writes (safe to overwrite in place).

    Only the ELEMENTWISE class counts: a broadcast or gather reads elsewhere than it writes."""
    if fusion_of(node) is not Fusion.KERNEL:
        return fusion_of(node) is Fusion.ELEMENTWISE and node.outputs[0].shape == operand.shape
    body = node.attrs["body"]
    inner = [b for v, b in zip(node.inputs, body.inputs) if v is operand]
    for n in body.nodes:
        if any(v in inner for v in n.inputs):
            if fusion_of(n) is not Fusion.ELEMENTWISE or n.outputs[0].shape != operand.shape:
                return False
    return True


def plan_memory(g: Graph) -> Graph:
    """Annotate `g` (a new Graph sharing its nodes) with buffer locations and a memory report."""
    out = Graph(g.name, list(g.inputs), dict(g.state), list(g.nodes), list(g.outputs),
                dict(g.updates), dict(g.meta))
    index = {n: i for i, n in enumerate(g.nodes)}
    end = len(g.nodes)
    last_use: dict[Value, int] = {}
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            last_use[v] = i
    for v in list(g.outputs) + list(g.updates.values()):
        last_use[v] = end

    buffers: dict[Value, Buffer] = {}
    alias_root: dict[Value, Value] = {}
    names = {v: InputBuffer(v.name) for v in g.inputs} | \
        {v: StateBuffer(k) for k, v in g.state.items()}

    def root(v: Value) -> Value:
        while v in alias_root:
            v = alias_root[v]
        return v

    # reshapes alias their operand: extend the operand's life to the alias's last use
    for n in g.nodes:
        if fusion_of(n) is Fusion.VIEW:
            src = root(n.inputs[0])
            alias_root[n.outputs[0]] = src
            last_use[src] = max(last_use.get(src, 0), last_use.get(n.outputs[0], 0))

    # new state values written in place
    state_value = {v: k for k, v in g.updates.items()}
    outputs = set(g.outputs)
    for v, name in state_value.items():
        p = v.producer
        if p is None or v in outputs or v in alias_root or fusion_of(p) in NO_KERNEL:
            continue
        old = g.state[name]
        if any(root(x) is old for x in alias_root if last_use.get(x, -1) > index[p]):
            continue
        later = last_use.get(old, -1)
        if later > index[p] or (later == index[p] and not _reads_elementwise_only(p, old)):
            continue
        buffers[v] = StateBuffer(name)

    # everything else that a kernel produces lives in the arena
    intervals = []
    for i, n in enumerate(g.nodes):
        if fusion_of(n) in NO_KERNEL:
            continue
        for v in n.outputs:
            if v in buffers or v in outputs:
                continue
            start, stop = i, last_use.get(v, i)
            intervals.append((v, start, stop, align(v.type.nbytes)))
    # placed buffers so far, as columns (offset, size, first node, last node)
    placed = np.zeros((4, len(intervals)), np.int64)
    arena = 0
    for k, (v, start, stop, size) in enumerate(sorted(intervals, key=lambda t: (-t[3], t[1]))):
        o_, s_, a_, b_ = placed[:, :k]
        overlap = ~((b_ < start) | (stop < a_))
        offset = 0
        for o, s in sorted(zip(o_[overlap].tolist(), s_[overlap].tolist())):  # first gap
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed[:, k] = (offset, size, start, stop)
        arena = max(arena, offset + size)
        buffers[v] = Arena(offset)
    for v, src in alias_root.items():
        if src in buffers:
            buffers[v] = buffers[src]
        elif src in names:
            buffers[v] = names[src]

    naive = sum(size for _, _, _, size in intervals)
    live = [0] * (end + 2)   # bytes live at each node: a difference array over the intervals
    for _, a, b, s in intervals:
        live[a] += s
        live[b + 1] -= s
    lower = max(itertools.accumulate(live[:end + 1]), default=0)
    out.meta["arena"] = arena
    out.meta["buffers"] = buffers
    out.meta["memory"] = {"arena_bytes": arena, "intermediates_bytes": naive,
                          "lower_bound_bytes": lower, "buffers": len(intervals),
                          "in_place_updates": sum(1 for v in buffers if v in state_value
                                                  and buffers[v] == state_value[v])}
    return out


def memory_report(g: Graph) -> str:
    """One line: arena bytes vs. no reuse vs. the liveness lower bound."""
    m = g.meta.get("memory")
    if not m:
        return "no memory plan (run the plan-memory pass)"
    return (f"arena {m['arena_bytes']} B for {m['buffers']} intermediates "
            f"(sum without reuse {m['intermediates_bytes']} B, liveness lower bound "
            f"{m['lower_bound_bytes']} B); {m['in_place_updates']} state updates in place")
