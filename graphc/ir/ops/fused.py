"""`fused`: a kernel made by the fusion pass. Its `body` attribute is a Graph; the node's operands
are the body's inputs and its results the body's outputs. Printing, parsing, verifying and
interpreting recurse into the body."""
from __future__ import annotations

from ...errors import GraphcError
from .registry import Fusion, register, require


def _fused_infer(types, attrs):
    body = attrs["body"]
    require(attrs.get("kind") in KINDS, f"fused kind must be one of {', '.join(KINDS)}")
    require(len(types) == len(body.inputs),
            f"fused kernel takes {len(body.inputs)} operands, got {len(types)}")
    for i, (t, v) in enumerate(zip(types, body.inputs)):
        require(t == v.type, f"operand {i} is {t} but the body expects {v.type}")
    require(not body.state and not body.updates, "a fused body has no state")
    return [v.type for v in body.outputs]


def _fused_ref(*args, body, kind):
    # the IR does not execute graphs: graphc.interpreter.run_node recurses into the body itself
    raise GraphcError("a fused kernel runs through graphc.interpreter (run_node), not its ref")


def _fused_vjp(*args, **kwargs):
    raise GraphcError("cannot differentiate a fused kernel: fusion runs after autodiff")


# elementwise: one loop over the kernel's shape; reduce: that loop accumulates reductions, then
# an epilogue over the reduced shape; matmul: a matrix product with an elementwise epilogue
KINDS = ("elementwise", "reduce", "matmul")

register("fused", "special", _fused_infer, _fused_ref, [], _fused_vjp,
         doc="a kernel: the body graph runs as one unit (made by passes/fuse.py)",
         fusion=Fusion.KERNEL)
