"""The reference interpreter: run a Graph by applying each op's NumPy rule in order. Nothing more."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ExecutionError, GraphcError, InputError
from .graph import Graph, Node, Value
from .ops import OPS, Fusion


def run_node(node: Node, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Apply one node's NumPy reference; results are cast to the node's declared types."""
    if OPS[node.op].fusion is Fusion.KERNEL:  # a kernel: run its body graph like any other graph
        outs, _ = run(node.attrs["body"], list(args))
        return outs
    if OPS[node.op].fusion is Fusion.SCAN:
        return run_scan(node, args)
    try:
        with np.errstate(all="ignore"):  # NaN/Inf propagate as in NumPy, silently
            out = OPS[node.op].ref(*args, **node.attrs)
    except GraphcError:
        raise
    except Exception as e:  # noqa: BLE001 - any NumPy failure becomes a named error
        types = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
        where = f" at {node.loc}" if node.loc else ""
        raise ExecutionError(f"{node.op}{where} failed on operands ({types}): {e}") from None
    outs = out if isinstance(out, (list, tuple)) else [out]
    results = []
    for v, r in zip(node.outputs, outs):
        r = np.asarray(r)
        if r.dtype != v.dtype.np:
            r = r.astype(v.dtype.np)
        if r.shape != v.shape:
            raise ExecutionError(f"internal error: {node.op} returned shape {r.shape}, "
                                 f"its rule promised {v.type}")
        results.append(r)
    return results


def run_scan(node: Node, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A scan: the body runs `length` times; carries pass from step to step, step t reads entry t
    of each sequence (length-1-t when reversed) and writes entry t of each stacked result."""
    body, T = node.attrs["body"], node.attrs["length"]
    k, m = node.attrs["n_carry"], node.attrs["n_xs"]
    carry, xs, consts = list(args[:k]), args[k:k + m], list(args[k + m:])
    ys = [np.empty(v.shape, v.dtype.np) for v in node.outputs[k:]]
    for step in range(T):
        t = T - 1 - step if node.attrs.get("reverse", False) else step
        outs, _ = run(body, carry + [x[t] for x in xs] + consts)
        carry = outs[:k]
        for y, o in zip(ys, outs[k:]):
            y[t] = o
    return [np.array(c, copy=True) for c in carry] + ys


def run(g: Graph, inputs: Sequence[np.ndarray], state: dict[str, np.ndarray] | None = None
        ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Run `g` on input arrays and state arrays; return (outputs, new values of updated state).

    State arrays are only read; the caller decides whether to write updates back.
    """
    state = state or {}
    env: dict[Value, np.ndarray] = dict(zip(g.inputs, inputs))
    if len(inputs) != len(g.inputs):
        raise ExecutionError(f"graph @{g.name} takes {len(g.inputs)} inputs, got {len(inputs)}")
    for name, v in g.state.items():
        if name not in state:
            raise ExecutionError(f"graph @{g.name}: no array given for state %{name}")
        env[v] = state[name]
    for v, a in env.items():  # typed IR: an array of another shape or dtype is refused
        if getattr(a, "shape", None) != v.shape or getattr(a, "dtype", None) != v.dtype.np:
            got = f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
            raise InputError(f"graph @{g.name}: %{v.name or '?'} is {v.type} but got {got}")
    for node in g.nodes:
        for v, r in zip(node.outputs, run_node(node, [env[x] for x in node.inputs])):
            env[v] = r
    # refs like reshape/transpose/slice return views: hand back arrays that share no memory with
    # the caller's inputs and state, so writing updates back (or mutating an output) is safe
    given = list(inputs) + [state[k] for k in g.state]

    def own(a: np.ndarray) -> np.ndarray:
        return a.copy() if any(np.may_share_memory(a, x) for x in given) else a
    return [own(env[v]) for v in g.outputs], {k: own(env[v]) for k, v in g.updates.items()}
