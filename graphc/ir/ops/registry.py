"""The op registry: one OpDef per primitive with its rules side by side.

- `infer(types, attrs) -> TensorType | list[TensorType]`: shape/dtype rule, raises ShapeError
- `ref(*arrays, **attrs) -> ndarray | list[ndarray]`: NumPy semantics (the interpreter runs these)
- `vjp(b, g, *inputs, out=..., **attrs) -> tuple`: gradient rule, emits nodes through builder `b`;
  one cotangent (or None) per input; shapes may still be broadcast (autodiff un-broadcasts)
- `fusion`: how the compiler treats the op (a `Fusion` member, declared as data): the fuser, the
  memory planner and the backends decide from it, never from op names
- `samples`: example operands and attrs; the per-op tests are generated from them

`kind` names the op's family (elementwise, reduce, shape, linalg, index, source, quant, special);
the generated tests group ops by it. Backends keep their own tables of kernels keyed by op name
or fusion class, filled next to each kernel's code (graphc/backend/llvm/kernels.py).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ... import dtypes
from ...dtypes import DType
from ...errors import ShapeError
from ..graph import TensorType, tensor_type

class Fusion(enum.Enum):
    """How the fuser, the memory planner and the backends treat an op (TVM's OpPatternKind).

    The loop classes (ELEMENTWISE, BROADCAST, GATHER) compute one result element from operand
    elements at the same (or a broadcast/indexed) position, so they join loop kernels and the
    epilogues of matmul kernels; REDUCE accumulates inside a loop kernel; PACK ops run inside the
    matmul kernel that alone reads them; the rest get no kernel (VIEW, SOURCE), their own
    (MATMUL, OPAQUE), never reach a backend (MARKER, KERNEL), or run a body graph in a loop
    (SCAN).
    """

    ELEMENTWISE = "elementwise"  # pointwise: out[i] = f(in[i], ...); operands may broadcast
    BROADCAST = "broadcast"      # reads its operand with broadcast strides; inside a kernel only
    #                              from a kernel input or a scalar
    GATHER = "gather"            # pointwise, plus one indexed read of a table that must be a
    #                              kernel input (the table is read from memory)
    REDUCE = "reduce"            # accumulates over `axis` inside a loop kernel (sum, max)
    MATMUL = "matmul"            # starts a matmul kernel; elementwise ops join its epilogue
    VIEW = "view"                # no kernel: the result aliases the operand's memory (reshape)
    SOURCE = "source"            # no kernel: a literal array (constant)
    OPAQUE = "opaque"            # a kernel of its own, never fused (transpose, one_hot, qlinear)
    PACK = "pack"                # a kernel of its own, or, where a matmul's B operand is its only
    #                              reader, computed by that matmul kernel as it packs B's panels
    #                              (unfold: the implicit-GEMM convolution)
    MARKER = "marker"            # recorded for a pass to expand; never reaches a backend
    KERNEL = "kernel"            # a kernel the fuser made (`fused`): its body says what it does
    SCAN = "scan"                # a loop over a body graph (`scan`): the passes recurse into the
    #                              body, autodiff makes a reverse scan, codegen a native loop


# op groups, each named once (tinygrad's GroupOp): what the fuser and backends ask about
LOOP = frozenset({Fusion.ELEMENTWISE, Fusion.BROADCAST, Fusion.GATHER})  # per-element ops
FUSIBLE = LOOP | {Fusion.REDUCE}       # ops that join elementwise/reduce loop kernels
NO_KERNEL = frozenset({Fusion.VIEW, Fusion.SOURCE})  # ops that emit no code of their own


NONDIFF = "nondiff"  # vjp marker: the op carries no gradient (integer, boolean or piecewise-constant)


@dataclass
class Sample:
    """One test case for an op: operand specs and attrs.

    An operand spec is an ndarray (used as is) or a (dtype, shape, domain) triple from which the
    tests draw random data; domain is "any", "pos" (> 0), "unit" (-1, 1), "int:N" (0 <= i < N).
    """

    args: list[Any]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpDef:
    """Everything graphc knows about one primitive."""

    name: str
    kind: str  # family: elementwise | reduce | shape | linalg | index | source | quant | special
    infer: Callable[..., Any]
    ref: Callable[..., Any]
    samples: list[Sample]
    vjp: Any = None      # callable, NONDIFF, or None while not yet written
    doc: str = ""
    fusion: Fusion = Fusion.OPAQUE
    # ops that read an integer index operand: node -> (operand position, exclusive bound); the
    # driver checks such indices on graph inputs before any native code runs
    indices: Callable[..., tuple[int, int]] | None = None
    # ops whose integer result lies in a range by construction: node -> (lowest, exclusive
    # highest) (max_pool_index: a flat position in its operand's plane); an index op reading
    # such a result within its bound needs no check at run time
    index_range: Callable[..., tuple[int, int]] | None = None

    def result_types(self, types: list[TensorType], attrs: dict[str, Any]) -> list[TensorType]:
        """This op's result types for operands of `types`; a wrong operand count is a ShapeError."""
        try:
            out = self.infer(types, attrs)
        except ShapeError:
            raise
        except ValueError as e:  # e.g. `(t,) = types` with the wrong number of operands
            raise ShapeError(f"{len(types)} operand(s) do not fit {self.name}: {e}") from None
        return list(out) if isinstance(out, (list, tuple)) else [out]


OPS: dict[str, OpDef] = {}


def register(name: str, kind: str, infer, ref, samples, vjp=None, doc: str = "",
             fusion: Fusion | None = None, indices=None, index_range=None) -> OpDef:
    """Add one primitive to the registry (each op is defined exactly once).

    `fusion` defaults to ELEMENTWISE for the elementwise family and to OPAQUE (a kernel of its
    own, never fused) otherwise; every other class is declared by the op's block."""
    if name in OPS:
        raise ValueError(f"op {name!r} registered twice")
    if fusion is None:
        fusion = Fusion.ELEMENTWISE if kind == "elementwise" else Fusion.OPAQUE
    samples = [s if isinstance(s, Sample) else Sample(*s) for s in samples]
    OPS[name] = op = OpDef(name, kind, infer, ref, samples, vjp, doc, fusion, indices,
                           index_range)
    return op


def fusion_of(node) -> Fusion:
    """The fusion class of a node's op."""
    return OPS[node.op].fusion


def defvjp(name: str, rule) -> None:
    """Fill the gradient slot of an op (a callable or NONDIFF)."""
    OPS[name].vjp = rule


# ---- helpers shared by the shape rules -------------------------------------------------------

def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast of `shapes`, or a ShapeError naming them."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError("shapes " + ", ".join(str(list(s)) for s in shapes)
                         + " cannot be broadcast together") from None


def norm_axes(axis, ndim: int) -> tuple[int, ...]:
    """Normalise an axis attr (None, int or tuple; negatives allowed) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        # as NumPy: a rank-0 tensor has no axis 0 (the ref rules would fail on one)
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ShapeError(f"axis {a!r} is out of range for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def promote(*dts: DType) -> DType:
    """dtypes.promote, but an unsupported promotion (i8 + u8 -> i16) is a ShapeError."""
    try:
        return dtypes.promote(*dts)
    except KeyError as e:
        raise ShapeError(e.args[0]) from None


def promote_types(*types) -> DType:
    """The dtype elementwise operands of these TensorTypes compute in, as torch.result_type: 0-d
    tensors count only when of a higher category (see dtypes.result_type)."""
    try:
        return dtypes.result_type([t.dtype for t in types if t.shape != ()],
                                  [t.dtype for t in types if t.shape == ()])
    except KeyError as e:
        raise ShapeError(e.args[0]) from None


def int_tuple(attrs: dict[str, Any], key: str) -> tuple[int, ...]:
    """attrs[key] as a tuple of ints; a float or bool in it is a ShapeError (the refs need ints)."""
    v = tuple(attrs[key])
    require(all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in v),
            f"{key} must be a tuple of ints, got {attrs[key]!r}")
    return tuple(int(d) for d in v)


def reduced_shape(shape, axes, keepdims: bool) -> tuple[int, ...]:
    """`shape` with `axes` removed, or kept as size 1 if `keepdims`."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def same_shape_type(t: TensorType, dtype=None) -> TensorType:
    """A TensorType of t's shape and `dtype` (default: t's dtype)."""
    return tensor_type(t.shape, dtype or t.dtype)


def require(cond: bool, msg) -> None:
    """Raise ShapeError(msg) unless `cond`; `msg` may be a function making the message, for one
    that is costly to build (it is called only on failure)."""
    if not cond:
        raise ShapeError(msg() if callable(msg) else msg)
