"""Autograd's user side: no_grad, Tensor.backward() inside a trace, and custom Functions.

backward() does not differentiate anything itself: it records a `grad` node, which the autodiff
pass (passes/autodiff.py) expands symbolically using each op's gradient rule. This module
installs `Tensor.backward` (graphc.tensor does not import it: that would be a circle); the grad
mode (no_grad, enable_grad, is_grad_enabled) lives in graphc/grad_mode.py and is re-exported.
"""
from __future__ import annotations

import itertools

from .driver import tracing
from .errors import GraphcError
from .grad_mode import enable_grad, is_grad_enabled, no_grad  # noqa: F401  (re-exported)
from .ir.builder import Builder
from .ir.graph import Value
from .ir.ops import OPS, defvjp
from .tensor import Tensor, apply, lift
from .driver.tracing import user_loc, user_where

def _leaf_value(tr, t: Tensor) -> Value:
    return tr.current(t) if not t.is_traced else t._value


def _ancestors(v: Value) -> set[Value]:
    """Values v depends on through ops that pass gradients (stop_gradient and NONDIFF ops cut)."""
    from .ir.ops import NONDIFF
    seen, stack = set(), [v]
    while stack:
        x = stack.pop()
        if x not in seen:
            seen.add(x)
            p = x.producer
            if p is not None and OPS[p.op].vjp is not NONDIFF:
                stack.extend(p.inputs)
    return seen


def backward(y: Tensor, gradient=None) -> None:
    """Record d(y)/d(leaf) for every leaf requiring grad that y depends on; accumulate into .grad."""
    if not y.is_traced:
        raise GraphcError(f"backward() at {user_where()} runs only inside a graphc.compile'd function "
                          "(graphc derives the backward graph symbolically when tracing)")
    tr = y._trace
    if not y.requires_grad:
        raise GraphcError(f"backward() on a tensor {y.type} that depends on no parameter requiring "
                          f"grad (at {user_where()}); was it computed under no_grad or from detach()?")
    if gradient is None:
        if y.shape != ():
            raise GraphcError(f"backward() on a non-scalar tensor {y.type} needs gradient= of the "
                              f"same shape (at {user_where()}); or call it on a scalar, e.g. .sum()")
        seed = tr.builder.const(1.0, y.dtype, user_loc())
    else:
        g = gradient if isinstance(gradient, Tensor) else Tensor(gradient)
        if g.shape != y.shape:
            raise GraphcError(f"backward(): gradient {g.type} must have the shape of the output "
                              f"{y.type} (at {user_where()})")
        seed = lift(tr, g if g.dtype == y.dtype else g.to(y.dtype))
    reach = _ancestors(y._value)
    leaves = [t for t in tr.grad_leaves if t.requires_grad and _leaf_value(tr, t) in reach]
    if not leaves:
        raise GraphcError(f"backward() on {y.type} at {user_where()}: it depends on no tensor that "
                          "requires grad")
    node = tr.builder.emit_node("grad", y._value, seed, *[_leaf_value(tr, t) for t in leaves],
                                loc=user_loc())
    with no_grad():
        for t, v in zip(leaves, node.outputs):
            g = Tensor._symbolic(v, tr)
            t.grad = g if t.grad is None else t.grad + g


def _tensor_backward(self, gradient=None) -> None:
    """Fill `.grad` of every parameter this tensor depends on (inside graphc.compile)."""
    backward(self, gradient)


Tensor.backward = _tensor_backward   # installed here: graphc.tensor cannot import autograd


# ---- custom Functions with their own backward ---------------------------------------------------

class FunctionCtx:
    """The `ctx` of a custom Function: save tensors in forward, read them in backward."""

    def __init__(self):
        self._saved: tuple = ()
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors for backward; read them back there as `ctx.saved_tensors`."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to save_for_backward, in order."""
        return self._saved


_FUNCTIONS: dict[str, tuple[type, FunctionCtx, int]] = {}
_counter = itertools.count(1)


class Function:
    """A custom op with its own gradient, as torch.autograd.Function:

        class Square(graphc.autograd.Function):
            @staticmethod
            def forward(ctx, x): ctx.save_for_backward(x); return x * x
            @staticmethod
            def backward(ctx, g): (x,) = ctx.saved_tensors; return 2 * x * g
        y = Square.apply(x)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output from the inputs (runs under no_grad); subclasses override it."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        """Map the output's gradient to one gradient (or None) per forward input."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        """Run forward on `args`; inside a trace, record backward as the result's gradient rule."""
        ctx = FunctionCtx()
        tensors = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        tr = tracing.current()
        if tr is None or not any(t.requires_grad for t in tensors) or not is_grad_enabled():
            return out
        if not isinstance(out, Tensor):
            raise GraphcError(f"{cls.__name__}.forward must return one Tensor (got "
                              f"{type(out).__name__}); tuples of outputs are not supported yet")
        saved = [s for s in ctx._saved if isinstance(s, Tensor)]
        key = f"{cls.__name__}.{next(_counter)}"
        _FUNCTIONS[key] = (cls, ctx, args)
        return apply("custom_vjp", out, *tensors, *saved, fn=key)


def _custom_vjp_rule(b: Builder, g: Value, out: Value, *rest, fn: str):
    cls, ctx, args = _FUNCTIONS[fn]
    rest = rest[:-1]  # the last positional argument is the node's own result
    n_in = sum(isinstance(a, Tensor) for a in args)
    saved_vals = rest[n_in:]  # rest[:n_in] are the forward inputs
    tr = tracing.Trace.on(b.graph)
    with tracing.tracing(tr), no_grad():
        saved_iter = iter(saved_vals)
        ctx._saved = tuple(Tensor._symbolic(next(saved_iter), tr) if isinstance(s, Tensor) else s
                           for s in ctx._saved)
        grads = cls.backward(ctx, Tensor._symbolic(g, tr))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(args):
            raise GraphcError(f"{cls.__name__}.backward returned {len(grads)} gradients for "
                              f"{len(args)} forward inputs")
        cts = [None]  # the forward result itself gets no gradient through this node
        for a, gr in zip(args, grads):
            if isinstance(a, Tensor):
                cts.append(None if gr is None else lift(tr, gr if isinstance(gr, Tensor) else
                                                        Tensor(gr)))
    cts += [None] * len(saved_vals)
    return tuple(cts)


defvjp("custom_vjp", _custom_vjp_rule)
