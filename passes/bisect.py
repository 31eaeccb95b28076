"""Pass bisection: run the pipeline one pass at a time and name the first pass that changes results.

Each stage's graph runs on the given inputs and a copy of the state; its outputs and state updates
are compared with the unoptimised graph's (the graph right after autodiff, the first executable
one) on the interpreter. `run` can be any backend's runner, so a miscompiling backend is caught the
same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from graphc.ir.interpreter import run as interpret
from graphc.ir import Graph, verify

from .autodiff import autodiff
from .manager import PASSES, pipeline as compose


@dataclass
class StageCheck:
    """One stage compared with the unoptimised graph: worst errors and whether within tolerance."""

    name: str
    max_abs: float
    max_rel: float
    ok: bool
    worst: str = ""


@dataclass
class BisectResult:
    """The check of every stage and the first pass that changed results (None if none)."""

    stages: list[StageCheck] = field(default_factory=list)
    first_bad: str | None = None

    def __str__(self) -> str:
        lines = ["pass bisection (each stage vs the unoptimised graph on the interpreter):"]
        for s in self.stages:
            flag = "ok " if s.ok else "BAD"
            lines.append(f"  {flag} {s.name:16s} max abs err {s.max_abs:.3g}  max rel err "
                         f"{s.max_rel:.3g}{'  ' + s.worst if s.worst and not s.ok else ''}")
        lines.append(f"first pass that changes results: {self.first_bad}" if self.first_bad
                     else "no pass changes results beyond tolerance")
        return "\n".join(lines)


def _compare(ref: dict, got: dict, rtol: float, atol: float) -> tuple[float, float, bool, str]:
    max_abs = max_rel = 0.0
    ok, worst = True, ""
    for k, a in ref.items():
        b = got[k]
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.shape != b64.shape:
            return np.inf, np.inf, False, f"{k}: shape {a64.shape} vs {b64.shape}"
        same_nan = np.isnan(a64) == np.isnan(b64)
        with np.errstate(invalid="ignore"):  # inf - inf: equal infinities are no error
            diff = np.where((np.isnan(a64) & np.isnan(b64)) | (a64 == b64), 0.0,
                            np.abs(a64 - b64))
        if diff.size:
            err = float(np.nanmax(diff)) if np.all(same_nan) else np.inf
            rel = float(np.nanmax(diff / np.maximum(np.abs(a64), 1e-30)))
            max_abs, max_rel = max(max_abs, err), max(max_rel, rel)
            close = (diff == 0) | (diff <= atol + rtol * np.abs(a64))  # NaN bounds: diff == 0
            if not np.all(same_nan) or not np.all(close):
                if ok:
                    worst = f"worst at {k}"
                ok = False
    return max_abs, max_rel, ok, worst


def bisect(graph: Graph, inputs: Sequence[np.ndarray], state: dict[str, np.ndarray] | None = None,
           pipeline: list[str] | None = None, rtol: float = 1e-4, atol: float = 1e-5,
           run: Callable = interpret) -> BisectResult:
    """Run `pipeline` pass by pass over `graph`; report each stage's error and the first bad pass."""
    state = state or {}
    # the pipeline as passes/manager.py composes it; autodiff runs first, before the reference
    names = [p for p in compose(pipeline) if p != "autodiff"]

    def execute(g: Graph, runner) -> dict:
        outs, ups = runner(g, list(inputs), {k: np.array(v) for k, v in state.items()})
        res = {f"output {i}": o for i, o in enumerate(outs)}
        res.update({f"update %{k}": v for k, v in ups.items()})
        return res

    g = autodiff(graph)
    ref = execute(g, interpret)
    result = BisectResult()
    for name in names:
        g = PASSES[name](g)
        verify(g)
        got = execute(g, run)
        max_abs, max_rel, ok, worst = _compare(ref, got, rtol, atol)
        result.stages.append(StageCheck(name, max_abs, max_rel, ok, worst))
        if not ok and result.first_bad is None:
            result.first_bad = name
    return result
