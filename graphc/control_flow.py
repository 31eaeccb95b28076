"""graphc.scan: a loop over the first axis of its sequences, traced once (JAX's lax.scan).

    def step(h, x):                        # carry, one entry of each sequence
        h = torch.tanh(x + h @ w_hh.T)
        return h, h                        # new carry, this step's result
    h_n, hs = graphc.scan(step, h0, xs)    # hs: every step's h, stacked

Eagerly it is the Python loop it stands for (same numbers, autograd as usual). Inside
graphc.compile the body is traced once into a `scan` node whose body is a graph, so the graph,
the passes and the compile take the same time for 10 steps or 10 000; the gradient is a reverse
scan, and the native code is a loop around the body's kernels. Carries and results may be a
tensor, None, or (nested) tuples and lists of tensors; a carry keeps its shape and dtype.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import shape_ops as SO
from .autograd import is_grad_enabled
from .driver import tracing
from .errors import GraphcError
from .ir.graph import tensor_type
from .ir.ops import OPS, Fusion
from .tensor import Tensor, lift

__all__ = ["scan"]


def _flatten(tree, what: str) -> tuple[list, Any]:
    """The tensors of a tensor / None / nested tuple-or-list, and the structure to rebuild it."""
    if tree is None:
        return [], None
    if isinstance(tree, Tensor):
        return [tree], "T"
    if isinstance(tree, (tuple, list)):
        leaves, shape = [], []
        for x in tree:
            lv, sh = _flatten(x, what)
            leaves += lv
            shape.append(sh)
        return leaves, (type(tree), tuple(shape))
    raise GraphcError(f"graphc.scan: the {what} must be tensors, None or tuples/lists of them, "
                      f"not {type(tree).__name__} (at {tracing.user_where()})")


def _unflatten(shape, leaves: list):
    it = iter(leaves)

    def build(sh):
        if sh is None:
            return None
        if sh == "T":
            return next(it)
        kind, parts = sh
        return kind(build(p) for p in parts)
    return build(shape)


def _step_result(out, where: str):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise GraphcError(f"graphc.scan: the body must return (carry, y), got "
                          f"{type(out).__name__} (at {where})")
    return out


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False):
    """Run `carry, y = f(carry, x)` over the first axis of `xs`; returns (final carry, the y's
    stacked along a new first axis). `xs` may be None with `length` given; `reverse=True` walks
    from the last entry to the first and still stacks the y's in sequence order."""
    where = tracing.user_where()
    carry_leaves, carry_shape = _flatten(init, "initial carry")
    x_leaves, x_shape = _flatten(xs, "sequences")
    lengths = {int(x.shape[0]) if x.ndim else None for x in x_leaves}
    if None in lengths:
        raise GraphcError(f"graphc.scan: a sequence must have a first axis to scan over, got a "
                          f"0-d tensor (at {where})")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise GraphcError(f"graphc.scan: the sequences' first axes and `length` disagree: "
                          f"{sorted(lengths) if lengths else 'no sequence and no length'} "
                          f"(at {where})")
    (T,) = lengths
    tr = tracing.current()
    if tr is None or T == 0:
        return _eager_scan(f, init, xs, x_shape, x_leaves, T, reverse, where)
    return _traced_scan(tr, f, carry_leaves, carry_shape, x_leaves, x_shape, T, reverse, where)


def _eager_scan(f, carry, xs, x_shape, x_leaves, T, reverse, where):
    """The loop itself, op by op (also a compiled scan of length 0: no step runs)."""
    ys: list = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        x = _unflatten(x_shape, [x[t] for x in x_leaves])
        carry, ys[t] = _step_result(f(carry, x), where)
    if T == 0:
        return carry, None
    flat = [_flatten(y, "per-step results") for y in ys]
    stacked = [SO.stack(list(leaves)) for leaves in zip(*[f[0] for f in flat])]
    return carry, _unflatten(flat[0][1], stacked)


def _traced_scan(tr, f, carry_leaves, carry_shape, x_leaves, x_shape, T, reverse, where):
    grad_on = is_grad_enabled()
    c_vals = [lift(tr, c, grad_on) for c in carry_leaves]
    x_vals = [lift(tr, x, grad_on) for x in x_leaves]
    body = tracing.BodyTrace(tr, "body")

    def symbolic(v):
        return Tensor._symbolic(v, body, requires_grad=grad_on and v.dtype.is_float)
    c_in = [symbolic(body.input(f"c{i}", v.type)) for i, v in enumerate(c_vals)]
    x_in = [symbolic(body.input(f"x{i}", tensor_type(v.shape[1:], v.dtype)))
            for i, v in enumerate(x_vals)]
    with tracing.tracing(body):
        new_carry, y = _step_result(f(_unflatten(carry_shape, c_in), _unflatten(x_shape, x_in)),
                                    where)
        nc_leaves, nc_shape = _flatten(new_carry, "carry the body returns")
        y_leaves, y_shape = _flatten(y, "per-step results")
        if nc_shape != carry_shape:
            raise GraphcError(f"graphc.scan: the body returns a carry of another structure than "
                              f"the initial carry (at {where})")
        outs = [lift(body, t, grad_on) for t in nc_leaves + y_leaves]
    for i, (a, b) in enumerate(zip(c_vals, outs)):
        if a.type != b.type:
            raise GraphcError(f"graphc.scan: carry {i} enters the loop as {a.type} but the body "
                              f"returns {b.type}: a carry keeps its shape and dtype (at {where})")
    for n in body.graph.nodes:
        if OPS[n.op].fusion is Fusion.MARKER:
            raise GraphcError(f"graphc.scan: {n.op} (e.g. backward()) inside a loop body at "
                              f"{n.loc or where}: call it on the scan's results, after the loop")
    body.graph.outputs = outs
    node = tr.builder.emit_node("scan", *c_vals, *x_vals, *body.captured, body=body.graph,
                                length=T, n_carry=len(c_vals), n_xs=len(x_vals),
                                reverse=bool(reverse), loc=tracing.user_loc())
    # the results may carry a gradient if an operand does (a captured float value conservatively)
    needs = grad_on and (any(t.requires_grad for t in carry_leaves + x_leaves)
                         or any(v.dtype.is_float for v in body.captured))
    res = [Tensor._symbolic(v, tr, requires_grad=needs and v.dtype.is_float)
           for v in node.outputs]
    k = len(c_vals)
    return _unflatten(carry_shape, res[:k]), _unflatten(y_shape, res[k:])

