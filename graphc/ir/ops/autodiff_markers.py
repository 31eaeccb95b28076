"""Ops the frontend records for passes to expand: `grad` (autodiff) and `custom_vjp` (user rules)."""
from __future__ import annotations

from ...errors import ExecutionError, GraphcError
from .registry import Fusion, register, require


def _grad_infer(types, attrs):
    require(len(types) >= 3, "grad takes the output, its cotangent seed, and at least one value")
    y, seed, *wrt = types
    require(y.dtype.is_float, f"cannot differentiate a {y.dtype} value")
    require(seed == y, f"the gradient seed {seed} must match the output {y}")
    return list(wrt)


def _grad_ref(*args):
    raise ExecutionError("a `grad` node reached the interpreter: the autodiff pass must expand it "
                         "(it always runs in graphc.compile's pipeline)")


def _grad_vjp(*args, **kwargs):
    raise GraphcError("higher-order gradients (backward through a gradient) are not supported")


# grad(y, seed, *wrt) -> d<y, seed>/d wrt: one result per wrt value; passes/autodiff.py expands it
register("grad", "special", _grad_infer, _grad_ref, [], _grad_vjp,
         doc="placeholder for dy/dwrt recorded by Tensor.backward(); expanded by the autodiff pass",
         fusion=Fusion.MARKER)


def _custom_infer(types, attrs):
    require(len(types) >= 1, "custom_vjp needs the forward result")
    require(isinstance(attrs.get("fn"), str), "custom_vjp needs a string attr fn")
    return types[0]


# custom_vjp[fn](out, *inputs) = out, whose gradient w.r.t. inputs is the user's backward();
# the rule is installed by graphc.autograd (it needs the frontend to run user code)
register("custom_vjp", "special", _custom_infer, lambda out, *inputs, fn: out, [], None,
         doc="identity on the forward result of a graphc.autograd.Function; carries its backward",
         fusion=Fusion.MARKER)
