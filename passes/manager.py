"""The pass manager: run a named pipeline, verify after each pass, record each stage's IR and time."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from graphc.errors import GraphcError
from graphc.ir import Graph, print_graph, verify

from .allreduce import allreduce
from .autodiff import autodiff
from .dce import dce
from .fuse import fuse
from .memory import plan_memory
from .quantize import quantize_fuse
from .simplify import algebraic, cse, fold_constants

# name -> Graph -> Graph; every pass is reachable by its kebab-case name
PASSES = {
    "autodiff": autodiff,
    "algebraic": algebraic,
    "fold-constants": fold_constants,
    "cse": cse,
    "dce": dce,
    "quantize-fuse": quantize_fuse,
    "fuse": fuse,
    "plan-memory": plan_memory,
    "allreduce": allreduce,   # data_parallel=True only: runs first, before autodiff
}

# passes that must run for a graph to be executable at all (they lower recorded ops)
REQUIRED = ("autodiff",)
DEFAULT_PIPELINE = ["autodiff", "algebraic", "fold-constants", "cse", "dce", "quantize-fuse",
                    "fuse", "plan-memory"]


def dump_level() -> int:
    """GRAPHC_DUMP_LEVEL: 1 (default) dumps each stage; 2 also says why kernels were not fused."""
    try:
        return int(os.environ.get("GRAPHC_DUMP_LEVEL", "1"))
    except ValueError:
        return 1


class PassError(GraphcError):
    """A pass failed or produced an invalid graph; the message names it and the passes before it."""


@dataclass
class PipelineResult:
    """The final graph, the IR text after each stage, and the seconds each pass took."""

    graph: Graph
    stages: dict[str, str] = field(default_factory=dict)   # stage name -> IR text
    seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(g: Graph, names: list[str] | None = None, check: bool = True) -> PipelineResult:
    """Run `names` (default: DEFAULT_PIPELINE) over `g`, always including the REQUIRED lowerings."""
    names = list(DEFAULT_PIPELINE if names is None else names)
    for n in names:
        if n not in PASSES:
            raise PassError(f"unknown pass {n!r}; known passes: {', '.join(PASSES)}")
    for req in REQUIRED[::-1]:
        if req not in names:
            names.insert(0, req)
    res = PipelineResult(g)
    done: list[str] = []
    for name in names:
        t0 = time.perf_counter()
        g_in = res.graph
        try:
            new = PASSES[name](res.graph)
            if check:
                verify(new)
        except Exception as e:  # noqa: BLE001 - a crash inside a pass is named like any failure
            before = ", ".join(done) or "none"
            raise PassError(f"pass {name!r} failed (passes run before it: {before}): {e}") from e
        res.seconds[name] = time.perf_counter() - t0
        res.graph = new
        stage = name if name not in res.stages else f"{name}#{done.count(name) + 1}"
        if name == "fuse" and dump_level() >= 2:  # why each kernel boundary exists
            from .fuse import fusion_report
            res.stages["fuse-report"] = fusion_report(g_in)
        res.stages[stage] = print_graph(new)
        done.append(name)
    return res
