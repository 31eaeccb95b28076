"""The pass manager: compose the pipeline, run it, verify after each pass, record each stage's IR
and time.

`pipeline` is the one place the pass list is composed: the user's names (or DEFAULT_PIPELINE)
with the lowerings a graph needs, in their order (`allreduce` before `autodiff`). The driver
gives the facts only it knows as parameters (`world_size`: the ranks the gradients are averaged
over); no pass reads MPI or other process state.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from graphc import config
from graphc.errors import GraphcError
from graphc.ir import Fusion, Graph, Node, fusion_of, print_graph, verify

from .allreduce import allreduce
from .autodiff import autodiff
from .conv_grad import conv_input_grad
from .dce import dce
from .fuse import fuse
from .loops import hoist_invariants
from .memory import plan_memory
from .quantize import quantize_fuse
from .rewrite import copy_graph_header, finish
from .simplify import algebraic, cse, fold_constants

# name -> Graph -> Graph; every pass is reachable by its kebab-case name
PASSES = {
    "autodiff": autodiff,
    "conv-grad": conv_input_grad,
    "hoist-invariants": hoist_invariants,
    "algebraic": algebraic,
    "fold-constants": fold_constants,
    "cse": cse,
    "dce": dce,
    "quantize-fuse": quantize_fuse,
    "fuse": fuse,
    "plan-memory": plan_memory,
    "allreduce": allreduce,   # data_parallel=True: before autodiff; run with world=world_size
}

# passes that must run for a graph to be executable at all (they lower recorded ops)
REQUIRED = ("autodiff",)
DEFAULT_PIPELINE = ["autodiff", "conv-grad", "hoist-invariants", "algebraic", "fold-constants",
                    "cse", "dce", "quantize-fuse", "fuse", "plan-memory"]


class PassError(GraphcError):
    """A pass failed or produced an invalid graph; the message names it and the passes before it."""


@dataclass
class PipelineResult:
    """The final graph, the IR text after each stage, and the seconds each pass took."""

    graph: Graph
    stages: dict[str, str] = field(default_factory=dict)   # stage name -> IR text
    seconds: dict[str, float] = field(default_factory=dict)


def pipeline(names: list[str] | None = None, world_size: int = 1) -> list[str]:
    """The passes to run, in order, for the user's `names` (default: DEFAULT_PIPELINE).

    - every name must be a known pass (PassError otherwise);
    - a REQUIRED lowering missing from `names` runs first (`autodiff`: a recorded `grad` node
      cannot execute unexpanded);
    - `world_size` > 1 (the parameter gradients are averaged over that many ranks:
      compile(data_parallel=True) in an MPI job) requires `allreduce` as well;
    - `allreduce` runs before `autodiff`, since it works on the `grad` nodes autodiff expands: if
      none is listed before it, it goes just before it (one listed after it is moved there).
    """
    names = list(DEFAULT_PIPELINE if names is None else names)
    for n in names:
        if n not in PASSES:
            raise PassError(f"unknown pass {n!r}; known passes: {', '.join(PASSES)}")
    for req in REQUIRED[::-1]:
        if req not in names:
            names.insert(0, req)
    if world_size > 1 or "allreduce" in names:
        at = names.index("autodiff")
        if "allreduce" not in names[:at]:
            names.insert(at, "allreduce")
            at += 1
        names = names[:at] + [n for n in names[at:] if n != "allreduce"]
    return names


def in_loop_bodies(fn, g: Graph) -> Graph:
    """`g` with pass `fn` applied to the body of every loop (`scan`) in it, innermost first; `g`
    itself if it has none. A loop body is a closed graph: the passes transform it as they
    transform any graph (autodiff and allreduce, which expand `grad` nodes, have none to expand
    there)."""
    if not any(fusion_of(n) is Fusion.SCAN for n in g.nodes):
        return g
    out, vmap = copy_graph_header(g)
    for n in g.nodes:
        attrs = n.attrs
        if fusion_of(n) is Fusion.SCAN:
            attrs = dict(attrs, body=fn(in_loop_bodies(fn, attrs["body"])))
        new = out.add_node(Node(n.op, [vmap[v] for v in n.inputs], attrs,
                                [v.type for v in n.outputs], n.loc))
        vmap.update(zip(n.outputs, new.outputs))
    return finish(g, out, vmap)


def run_pipeline(g: Graph, names: list[str] | None = None, check: bool = True,
                 world_size: int = 1) -> PipelineResult:
    """Run `pipeline(names, world_size)` over `g` (default: DEFAULT_PIPELINE with the REQUIRED
    lowerings); `world_size` is the `world` of the `allreduce` pass (1: one process)."""
    names = pipeline(names, world_size)
    res = PipelineResult(g)
    done: list[str] = []
    for name in names:
        t0 = time.perf_counter()
        g_in = res.graph
        try:
            if name == "allreduce":   # the one pass with an option, given by the driver
                new = PASSES[name](res.graph, world=world_size)
            else:
                new = PASSES[name](in_loop_bodies(PASSES[name], res.graph))
            if check:
                verify(new)
        except Exception as e:  # noqa: BLE001 - a crash inside a pass is named like any failure
            before = ", ".join(done) or "none"
            raise PassError(f"pass {name!r} failed (passes run before it: {before}): {e}") from e
        res.seconds[name] = time.perf_counter() - t0
        res.graph = new
        stage = name if name not in res.stages else f"{name}#{done.count(name) + 1}"
        if name == "fuse" and config.dump_level() >= 2:  # why each kernel boundary exists
            from .fuse import fusion_report
            res.stages["fuse-report"] = fusion_report(g_in)
        res.stages[stage] = print_graph(new)
        done.append(name)
    return res
