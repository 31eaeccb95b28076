"""`scan`: a structured loop whose body is a graph (JAX's lax.scan, in the IR).

    %h, %c, %ys = scan[length=50, n_carry=2, n_xs=1, reverse=false] %h0, %c0, %gi, %w_hh {
      graph @body(%c0: f32[32,128], %c1: f32[32,128], %x0: f32[32,512], %k0: f32[512,128]) {...}
    }

Operands: `n_carry` initial carries, `n_xs` sequences (their first axis has `length` entries)
and then the loop-invariant operands the body reads (weights). The body's inputs are the
carries, one entry of each sequence and the invariants, in that order; its outputs are the new
carries (same types as the carries) and then one entry of each per-step result. The node's
results are the final carries and the per-step results stacked along a new first axis.

Step t reads entry t of each sequence (entry length-1-t when `reverse`) and writes entry t (or
length-1-t) of each stacked result, so a reverse scan stacks its results in sequence order, as
lax.scan(reverse=True) does. The graph holds the body once, whatever the length: printing,
passes, code generation and compile time do not grow with the number of steps.
"""
from __future__ import annotations

from ...errors import GraphcError
from ..graph import tensor_type
from .registry import Fusion, register, require


def scan_parts(node) -> tuple[list, list, list]:
    """(carries, sequences, invariants): a scan node's operands split by role."""
    k, m = node.attrs["n_carry"], node.attrs["n_xs"]
    return node.inputs[:k], node.inputs[k:k + m], node.inputs[k + m:]


def _scan_infer(types, attrs):
    body, T = attrs["body"], attrs["length"]
    k, m = attrs["n_carry"], attrs["n_xs"]
    require(isinstance(T, int) and not isinstance(T, bool) and T >= 1,
            f"scan length must be a positive int, got {T!r}")
    require(isinstance(attrs.get("reverse", False), bool), "scan reverse must be a bool")
    require(0 <= k and 0 <= m and k + m <= len(types), f"scan has {len(types)} operands, fewer "
            f"than its {k} carries and {m} sequences")
    require(len(types) == len(body.inputs),
            f"scan takes {len(body.inputs)} operands (its body's inputs), got {len(types)}")
    require(not body.state and not body.updates, "a scan body has no state")
    require(len(body.outputs) >= k, f"scan body returns {len(body.outputs)} values, fewer than "
                                    f"its {k} carries")
    for i, (t, v) in enumerate(zip(types, body.inputs)):
        if k <= i < k + m:
            require(t.ndim >= 1 and t.shape[0] == T,
                    f"sequence operand {i - k} is {t}: its first axis must have the length {T}")
            want = tensor_type(t.shape[1:], t.dtype)
        else:
            want = t
        require(want == v.type, f"scan operand {i} is {t}, so the body's input {i} must be "
                                f"{want}, not {v.type}")
    for i in range(k):
        require(body.outputs[i].type == body.inputs[i].type,
                f"scan carry {i}: the body returns {body.outputs[i].type} for a carry of type "
                f"{body.inputs[i].type} (a carry keeps its shape and dtype)")
    return [v.type for v in body.outputs[:k]] + \
        [tensor_type((T, *v.shape), v.dtype) for v in body.outputs[k:]]


def _scan_ref(*args, **attrs):
    # the IR does not execute graphs: graphc.ir.interpreter.run_node loops over the body itself
    raise GraphcError("a scan runs through graphc.ir.interpreter (run_node), not its ref")


def _scan_vjp(*args, **kwargs):
    # a scan has several results and needs its body differentiated: not a per-op rule
    raise GraphcError("a scan is differentiated by the autodiff pass itself (a reverse scan, "
                      "passes/scan_grad.py), not by a vjp rule")


register("scan", "special", _scan_infer, _scan_ref, [], _scan_vjp,
         doc="a loop: the body graph runs `length` times, carrying values from step to step "
             "(its gradient is a reverse scan, built by passes/autodiff.py)",
         fusion=Fusion.SCAN)
