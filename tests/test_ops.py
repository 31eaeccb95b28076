"""Per-op tests generated from the registry: rules present, shape rule == reference, reference ==
an independent NumPy/Python oracle and == PyTorch, promotion/broadcasting, shape-rule errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import graphc
from graphc import dtypes
from graphc.ir.interpreter import run
from graphc.ir import NONDIFF, OPS, Builder, Graph, OpDef, Sample, tensor_type, verify

from conftest import (assert_bitwise_equal, build_single_op_graph, op_cases, sample_arrays,
                      type_of)
import index_oracles
import quant_model
import loss_oracles  # lse, take_class
import test_conv as conv_oracles  # unfold, fold
import pool_oracles  # max_pool_index
import test_qstatic as qstatic_oracles  # quantize, dequantize, qgemm, qbinary, qim2col
from test_random import np_philox  # a pure-Python Philox 4x32-10, element by element

KINDS = {"elementwise", "reduce", "shape", "linalg", "index", "source", "special", "quant"}

# The only ops allowed to register without samples: frontend placeholders whose semantics need a
# trace (they get hand-written tests below instead). Any other op without samples fails.
UNSAMPLED = {
    "grad": "placeholder the autodiff pass expands; its ref raises by design",
    "custom_vjp": "its vjp runs user code registered by graphc.autograd at trace time",
    "fused": "its operands are fixed by a body graph; EXTRA_CASES and test_ir build kernels",
    "scan": "a loop over a body graph: tests/test_scan.py traces, differentiates and runs them",
    "allreduce": "a mean over MPI ranks: tests/test_distributed.py runs it under mpiexec",
}

# ---- 1. registry completeness -------------------------------------------------------------------


def registry_problems(op: OpDef) -> list[str]:
    """What a registered op lacks; empty when it has every rule and at least one test case."""
    problems = []
    if not callable(op.infer):
        problems.append("no shape rule (infer)")
    if not callable(op.ref):
        problems.append("no NumPy reference (ref)")
    if not op.samples and op.name not in UNSAMPLED:
        problems.append("no samples")
    elif not all(isinstance(s, Sample) for s in op.samples):
        problems.append("a sample is not a Sample")
    if not op.kind or op.kind not in KINDS:
        problems.append(f"kind {op.kind!r} is not one of {sorted(KINDS)}")
    if not (callable(op.vjp) or op.vjp is NONDIFF):
        problems.append(f"gradient slot is {op.vjp!r}: write a vjp rule or mark it NONDIFF")
    return problems


@pytest.mark.parametrize("name", list(OPS))
def test_registry_entry_is_complete(name):
    op = OPS[name]
    assert op.name == name
    assert registry_problems(op) == []


def test_registry_check_catches_incomplete_ops():
    ident = lambda types, attrs: types[0]  # noqa: E731
    ok = OpDef("probe", "elementwise", ident, lambda x: x, [Sample([("f32", (2,), "any")])],
               NONDIFF)
    assert registry_problems(ok) == []
    broken = {
        "no gradient slot": OpDef("p", "elementwise", ident, lambda x: x, ok.samples, None),
        "no samples": OpDef("p", "elementwise", ident, lambda x: x, [], NONDIFF),
        "no ref": OpDef("p", "elementwise", ident, None, ok.samples, NONDIFF),
        "no infer": OpDef("p", "elementwise", None, lambda x: x, ok.samples, NONDIFF),
        "empty kind": OpDef("p", "", ident, lambda x: x, ok.samples, NONDIFF),
        "vjp is a typo string": OpDef("p", "reduce", ident, lambda x: x, ok.samples, "nondif"),
    }
    for why, op in broken.items():
        assert registry_problems(op), why


def test_unsampled_exemptions_are_special_and_current():
    for name in UNSAMPLED:
        assert name in OPS, f"stale UNSAMPLED entry {name!r}"
        assert OPS[name].kind == "special", name
        assert not OPS[name].samples, f"{name} has samples now: drop it from UNSAMPLED"


def test_grad_placeholder_types_and_refuses_to_run():
    g = Graph("g")
    x = g.add_input("x", tensor_type((3,), "f32"))
    w = g.add_input("w", tensor_type((2, 3), "f64"))
    b = Builder(g)
    y = b.sum(b.mul(x, x), axis=None)
    outs = b.emit_node("grad", y, b.const(1.0, "f32"), x, w).outputs
    assert [v.type for v in outs] == [x.type, w.type]
    verify(g)
    g.outputs.extend(outs)
    with pytest.raises(graphc.ExecutionError, match="autodiff"):
        run(g, [np.ones(3, np.float32), np.ones((2, 3))])
    with pytest.raises(graphc.ShapeError, match="seed"):
        b.emit_node("grad", y, b.const(1.0, "f64"), x)
    with pytest.raises(graphc.ShapeError, match="at least one"):
        b.emit_node("grad", y, b.const(1.0, "f32"))


def test_registry_has_the_primitives_the_design_names():
    for name in ("add", "mul", "exp", "log", "tanh", "where", "sum", "max", "argmax", "reshape",
                 "broadcast", "transpose", "matmul", "constant", "cast", "gather", "one_hot"):
        assert name in OPS, name


def test_register_twice_is_refused():
    from graphc.ir.ops import register
    with pytest.raises(ValueError, match="registered twice"):
        register("add", "elementwise", None, None, [])


# ---- 2. shape rule vs reference -----------------------------------------------------------------


@pytest.mark.parametrize("name, i", op_cases())
def test_shape_rule_matches_reference(name, i, rng):
    op = OPS[name]
    sample = op.samples[i]
    arrays = sample_arrays(sample, rng)
    want = op.result_types([type_of(a) for a in arrays], sample.attrs)

    # the raw reference, before the interpreter casts anything
    raw = op.ref(*[a.copy() for a in arrays], **sample.attrs)
    raw = [np.asarray(r) for r in (raw if isinstance(raw, (list, tuple)) else [raw])]
    assert [(r.shape, r.dtype) for r in raw] == [(t.shape, t.dtype.np) for t in want]

    g = verify(build_single_op_graph(name, arrays, sample.attrs))
    assert [v.type for v in g.outputs] == want
    outs, updates = run(g, arrays)
    assert updates == {}
    assert len(outs) == len(want)
    for o, r, t in zip(outs, raw, want):
        assert (o.shape, o.dtype) == (t.shape, t.dtype.np)
        assert_bitwise_equal(o, r, f"{name}: interpreter vs ref")


@pytest.mark.parametrize("name, i", op_cases())
def test_reference_does_not_mutate_operands(name, i, rng):
    sample = OPS[name].samples[i]
    arrays = sample_arrays(sample, rng)
    before = [a.copy() for a in arrays]
    run(build_single_op_graph(name, arrays, sample.attrs), arrays)
    for a, b in zip(arrays, before):
        assert_bitwise_equal(a, b, f"{name} operand")


# ---- 3. reference vs an independent NumPy / Python oracle ---------------------------------------


def _py_map(fn):
    """Apply a Python scalar function element by element, in float64."""
    def apply(x):
        flat = [fn(float(v)) for v in np.asarray(x).ravel()]
        return np.array(flat, dtype=np.float64).reshape(np.shape(x))
    return apply


def _py_map2(fn):
    """Apply a binary Python scalar function element by element (broadcast), in float64."""
    def apply(a, b):
        a, b = np.broadcast_arrays(a, b)
        flat = [fn(float(u), float(v)) for u, v in zip(a.ravel(), b.ravel())]
        return np.array(flat, dtype=np.float64).reshape(a.shape)
    return apply


def _py_bits(fn):
    """A binary function of Python ints fn(x, y, bit width) element by element, wrapped to the
    operands' promoted integer dtype (two's complement)."""
    def apply(a, b):
        dt = np.result_type(a, b)
        a, b = np.broadcast_arrays(a, b)
        n = 8 * dt.itemsize
        out = []
        for u, v in zip(a.ravel(), b.ravel()):
            r = fn(int(u), int(v), n) % (1 << n)
            out.append(r - (1 << n) if dt.kind == "i" and r >= 1 << (n - 1) else r)
        return np.array(out, dtype=dt).reshape(a.shape)
    return apply


def _erf_as(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): independent of math.erf used by the ref
    x = np.asarray(x, np.float64)
    s, a = np.sign(x), np.abs(x)
    t = 1 / (1 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    return s * (1 - poly * np.exp(-a * a))


def _reduce_rows(x, axis, keepdims, row_fn, otype):
    """Reduce `x` over `axis` (None or a tuple) by calling `row_fn` on each flattened row."""
    x = np.asarray(x)
    axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
    keep = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, keep + list(axes))
    kept_shape = tuple(x.shape[a] for a in keep)
    rows = moved.reshape(int(np.prod(kept_shape, dtype=np.int64)), -1)
    out = np.array([row_fn(list(r)) for r in rows], dtype=otype).reshape(kept_shape)
    if keepdims:
        out = out.reshape(tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    return out


def _np_sum(x, axis=None, keepdims=False):
    if x.dtype.kind == "f":
        return _reduce_rows(x, axis, keepdims, math.fsum, x.dtype)
    return _reduce_rows(x, axis, keepdims, lambda r: sum(int(v) for v in r), np.int64)


def _np_max(x, axis=None, keepdims=False):
    return _reduce_rows(x, axis, keepdims, max, x.dtype)


def _np_argmax(x, axis=None, keepdims=False):
    first_max = lambda r: r.index(max(r))  # noqa: E731  (first occurrence, as NumPy and torch)
    if axis is None:
        out = np.array(first_max(list(np.asarray(x).ravel())), np.int64)
        return out.reshape((1,) * x.ndim) if keepdims else out
    return _reduce_rows(x, (axis,), keepdims, first_max, np.int64)


def _np_transpose(x, perm):
    out = np.empty(tuple(x.shape[p] for p in perm), x.dtype)
    for i in np.ndindex(out.shape):
        out[i] = x[tuple(i[list(perm).index(k)] for k in range(x.ndim))]
    return out


def _np_slice(x, start, stop, step):
    shape = tuple(len(range(a, b, c)) for a, b, c in zip(start, stop, step))
    out = np.empty(shape, x.dtype)
    for i in np.ndindex(shape):
        out[i] = x[tuple(s + k * st for s, k, st in zip(start, i, step))]
    return out


def _np_pad(x, lo, hi, interior):
    if not any(interior):
        return np.pad(x, list(zip(lo, hi)))
    shape = tuple(l + d + max(d - 1, 0) * k + h for l, d, k, h in zip(lo, x.shape, interior, hi))
    out = np.zeros(shape, x.dtype)
    for i in np.ndindex(x.shape):
        out[tuple(l + j * (k + 1) for l, j, k in zip(lo, i, interior))] = x[i]
    return out


def _np_concat(*xs, axis):
    """Each operand written into its place of a zero array (no np.concatenate)."""
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out, off = np.zeros(shape, xs[0].dtype), 0
    for x in xs:
        index = [slice(None)] * x.ndim
        index[axis] = slice(off, off + x.shape[axis])
        out[tuple(index)] = x
        off += x.shape[axis]
    return out


def _np_matmul(a, b, transpose_a=False, transpose_b=False):
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    return np.einsum("...ij,...jk->...ik", a.astype(np.float64), b.astype(np.float64))


def _np_where(c, a, b):
    c, a, b = np.broadcast_arrays(c, a, b)
    dt = np.result_type(a.dtype, b.dtype)
    return np.array([x if k else y for k, x, y in zip(c.ravel(), a.ravel(), b.ravel())],
                    dt).reshape(c.shape)


def _np_cast(x, dtype):
    dt = dtypes.as_dtype(dtype).np
    conv = {"f": float, "i": int, "u": int, "b": bool}[dt.kind]
    return np.array([conv(v) for v in x.ravel()], dt).reshape(x.shape)


# op -> an independent expression of its semantics (float64 or exact Python where it matters)
def _np_cumsum(x, axis, reverse=False):
    """Running sums by an explicit loop over the axis (float64 / int64 accumulators)."""
    out_dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
    if x.ndim == 0:
        return x.astype(out_dt)
    xs = np.moveaxis(x.astype(np.float64 if x.dtype.kind == "f" else np.int64), axis, 0)
    acc, res = np.zeros(xs.shape[1:], xs.dtype), np.empty_like(xs)
    for k in (reversed(range(len(xs))) if reverse else range(len(xs))):
        acc = acc + xs[k]
        res[k] = acc
    return np.moveaxis(res, 0, axis).astype(out_dt)


def _np_cumprod(x, axis, reverse=False):
    """Running products by an explicit loop over the axis (float64 / int64 accumulators)."""
    out_dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
    if x.ndim == 0:
        return x.astype(out_dt)
    xs = np.moveaxis(x.astype(np.float64 if x.dtype.kind == "f" else np.int64), axis, 0)
    acc, res = np.ones(xs.shape[1:], xs.dtype), np.empty_like(xs)
    for k in (reversed(range(len(xs))) if reverse else range(len(xs))):
        acc = acc * xs[k]
        res[k] = acc
    return np.moveaxis(res, 0, axis).astype(out_dt)


def _np_argsort(x, axis, descending=False):
    """Each row's indices sorted by Python's stable sort on (NaN last, value) keys."""
    if x.ndim == 0:
        return np.zeros((), np.int64)

    def order(row):
        key = [(math.isnan(v), v) if isinstance(v, float) else (False, v) for v in row]
        if descending:   # NaN first, larger first, ties still by index
            key = [(not nan, -v if not nan else 0) for nan, v in key]
        return sorted(range(len(row)), key=lambda k: key[k])
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(math.prod(moved.shape[:-1]), x.shape[axis])
    out = np.array([order(r.tolist()) for r in rows], np.int64).reshape(moved.shape)
    return np.moveaxis(out, -1, axis)


NUMPY_ORACLE = {
    "neg": lambda x: 0 - x,
    "exp": _py_map(math.exp),
    "log": _py_map(math.log),
    "log1p": _py_map(math.log1p),
    "sqrt": _py_map(lambda v: v ** 0.5),
    "rsqrt": _py_map(lambda v: v ** -0.5),
    "tanh": _py_map(lambda v: (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1)),
    "erf": _erf_as,
    "abs": lambda x: np.where(x < 0, 0 - x, x),
    "sign": lambda x: (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype),
    "floor": _py_map(math.floor),
    "not": lambda x: x == False,  # noqa: E712
    "stop_gradient": lambda x: x,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a.astype(np.float64) / b,
    "pow": lambda a, b: a.astype(np.float64) ** b,
    "maximum": lambda a, b: np.where(a >= b, a, b),
    "minimum": lambda a, b: np.where(a <= b, a, b),
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    **{op: _py_map(getattr(math, op)) for op in ("sin", "cos", "tan", "asin", "acos", "atan",
                                                 "sinh", "cosh", "asinh", "acosh", "atanh")},
    "erfc": _py_map(lambda v: 1 - math.erf(v)),
    "atan2": lambda y, x: _py_map2(math.atan2)(y, x),
    "copysign": _py_map2(math.copysign),
    "bitwise_and": lambda a, b: _py_bits(lambda x, y, n: x & y)(a, b),
    "bitwise_or": lambda a, b: _py_bits(lambda x, y, n: x | y)(a, b),
    "bitwise_xor": lambda a, b: _py_bits(lambda x, y, n: x ^ y)(a, b),
    "bitwise_not": lambda a: _py_bits(lambda x, y, n: ~x)(a, a),
    "shift_left": _py_bits(lambda x, y, n: x << y if 0 <= y < n else 0),
    "shift_right": _py_bits(lambda x, y, n: x >> y if 0 <= y < n else (-1 if x < 0 else 0)),
    "where": _np_where,
    "cast": _np_cast,
    "sum": _np_sum,
    "max": _np_max,
    "argmax": _np_argmax,
    "cumsum": _np_cumsum,
    "cumprod": _np_cumprod,
    "argsort": _np_argsort,
    "reshape": lambda x, shape: np.array(list(x.ravel()), x.dtype).reshape(shape),
    "broadcast": lambda x, shape: x + np.zeros(shape, x.dtype),
    "transpose": _np_transpose,
    "slice": _np_slice,
    "pad": _np_pad,
    "concat": _np_concat,
    "matmul": _np_matmul,
    **index_oracles.NUMPY,   # gather, scatter, take, put
    "one_hot": lambda idx, num_classes, dtype: np.eye(num_classes,
                                                      dtype=dtypes.as_dtype(dtype).np)[idx],
    **loss_oracles.NUMPY,    # lse, take_class
    **conv_oracles.NUMPY,    # unfold, fold
    **pool_oracles.NUMPY,    # max_pool_index
    **qstatic_oracles.NUMPY,  # static int8
    "constant": lambda value: value,
    "custom_vjp": lambda out, *inputs, fn: out,
    "qlinear": lambda x, q, s, cs, b, w, relu=False, has_bias=True:
        quant_model.qlinear(x, q, s, cs, b if has_bias else None, w, relu),
    "philox": lambda state, shape, dtype=dtypes.float32, dist="uniform":
        np_philox(state, shape, dtype, dist),
}
NO_ORACLE = {"grad": UNSAMPLED["grad"], "allreduce": UNSAMPLED["allreduce"]}


def _np_fused(*args, body, kind):
    """Evaluate a kernel's body node by node with the oracles above (not the interpreter)."""
    assert kind in ("elementwise", "reduce", "matmul")
    env = dict(zip(body.inputs, args))
    for node in body.nodes:
        out = NUMPY_ORACLE[node.op](*[env[v] for v in node.inputs], **node.attrs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        for v, r in zip(node.outputs, outs):
            env[v] = np.asarray(r).astype(v.dtype.np)
    return [env[v] for v in body.outputs]


NUMPY_ORACLE["fused"] = _np_fused


def _np_scan(*args, body, length, n_carry, n_xs, reverse):
    """A scan as the Python loop it stands for, each step's body through the oracles above."""
    k, m = n_carry, n_xs
    carry, xs, consts = list(args[:k]), args[k:k + m], list(args[k + m:])
    ys = [[None] * length for _ in body.outputs[n_carry:]]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = _np_fused(*carry, *[x[t] for x in xs], *consts, body=body, kind="elementwise")
        carry = outs[:n_carry]
        for y, o in zip(ys, outs[n_carry:]):
            y[t] = o
    return carry + [np.stack(y) for y in ys]


NUMPY_ORACLE["scan"] = _np_scan


def _kernel(kind="elementwise"):
    """exp(a) * b + 1 (and, for a reduce kernel, also sum(a, axis 1))."""
    body = Graph("kernel")
    a = body.add_input("a", tensor_type((2, 3), "f32"))
    c = body.add_input("b", tensor_type((3,), "f32"))
    b = Builder(body)
    body.outputs = [b.add(b.mul(b.exp(a), c), 1.0)]
    if kind == "reduce":
        body.outputs.append(b.sum(a, axis=(1,), keepdims=False))
    return body

# edge cases beyond the registry's samples, checked against the same oracle
EXTRA_CASES = [
    ("pad", Sample([("f32", (0, 2), "any")], {"lo": (0, 1), "hi": (2, 0), "interior": (1, 0)})),
    ("pad", Sample([("f32", (2, 3), "any")], {"lo": (1, 0), "hi": (0, 2), "interior": (0, 0)})),
    ("pad", Sample([("i64", (3,), "int:9")], {"lo": (0,), "hi": (0,), "interior": (2,)})),
    ("slice", Sample([("f32", (5, 6), "any")], {"start": (3, 0), "stop": (3, 6), "step": (1, 4)})),
    ("slice", Sample([("f32", (7,), "any")], {"start": (1,), "stop": (7,), "step": (3,)})),
    ("sum", Sample([("f32", (0, 3), "any")], {"axis": (0,), "keepdims": False})),
    ("sum", Sample([("f32", (2, 3), "any")], {"axis": (), "keepdims": False})),
    ("sum", Sample([("bool", (2, 5), "bool")], {"axis": (1,), "keepdims": True})),
    ("max", Sample([("i64", (2, 3, 4), "int:100")], {"axis": (1, 2), "keepdims": True})),
    ("argmax", Sample([np.array([[1, 5, 5], [7, 7, 0]], np.int64)], {"axis": 1})),
    ("argmax", Sample([("f32", (2, 3, 4), "any")], {"axis": None, "keepdims": True})),
    ("cumsum", Sample([("f32", (0, 3), "any")], {"axis": 0})),
    ("cumsum", Sample([("f32", (3, 4000), "any")], {"axis": 1, "reverse": True})),
    ("cumsum", Sample([("u8", (2, 9, 3), "int:200")], {"axis": 1})),
    ("cumprod", Sample([("f32", (0, 3), "any")], {"axis": 0})),
    ("cumprod", Sample([("f32", (3, 37), "unit")], {"axis": 1, "reverse": True})),
    ("cumprod", Sample([("u8", (2, 9, 3), "int:200")], {"axis": 1})),
    ("cumprod", Sample([np.array([[2, -3, 5], [7, 0, -1]], np.int8)], {"axis": 1})),
    ("argsort", Sample([("f32", (0, 3), "any")], {"axis": 0})),
    ("argsort", Sample([("f32", (2, 3000), "any")], {"axis": 1, "descending": True})),
    ("argsort", Sample([("i64", (3, 500, 2), "int:40")], {"axis": 1})),
    ("argsort", Sample([("i8", (33,), "int:3")], {"axis": 0, "descending": True})),
    ("reshape", Sample([("f32", (0, 4), "any")], {"shape": (2, 0)})),
    ("transpose", Sample([("i64", (2, 1, 3, 2), "int:50")], {"perm": (3, 1, 0, 2)})),
    ("matmul", Sample([("i64", (2, 3), "int:5"), ("i64", (3, 2), "int:5")])),
    ("matmul", Sample([("f64", (2, 1, 3, 4), "any"), ("f64", (5, 4, 2), "any")])),
    ("gather", Sample([("f32", (2, 3, 4), "any"), np.array([[2, 0, 2, 1], [0, 1, 2, 1]])],
                      {"axis": 1})),
    ("where", Sample([("bool", (2, 1, 1), "bool"), ("f32", (3, 1), "any"), ("f64", (4,), "any")])),
    ("cast", Sample([np.array([-1.7, -0.2, 0.0, 0.5, 2.9], np.float32)], {"dtype": dtypes.int64})),
    ("cast", Sample([np.array([0.0, -0.0, 0.3, np.inf, np.nan], np.float64)],
                    {"dtype": dtypes.bool_})),
    ("cast", Sample([np.array([True, False])], {"dtype": dtypes.int64})),
    ("add", Sample([("i64", (3,), "int:5"), ("f32", (2, 1), "any")])),
    ("ge", Sample([("i64", (3, 1), "int:5"), ("f64", (4,), "any")])),
    ("abs", Sample([("i64", (6,), "any")])),
    ("sign", Sample([np.array([-2.0, -0.0, 0.0, 3.0], np.float32)])),
    ("neg", Sample([("i32", (4,), "any")])),
    ("one_hot", Sample([("i64", (2, 3), "int:4")], {"num_classes": 4, "dtype": dtypes.int64})),
    ("constant", Sample([], {"value": np.array([[True], [False]])})),
    ("fused", Sample([("f32", (2, 3), "any"), ("f32", (3,), "any")],
                     {"body": _kernel(), "kind": "elementwise"})),
    ("fused", Sample([("f32", (2, 3), "any"), ("f32", (3,), "any")],
                     {"body": _kernel("reduce"), "kind": "reduce"})),
    ("custom_vjp", Sample([("f32", (2, 3), "any"), ("f32", (3,), "any"), ("i64", (2,), "int:3")],
                          {"fn": "probe"})),
]


def _oracle_cases():
    cases = op_cases()
    cases += [pytest.param(n, s, id=f"{n}-extra{k}") for k, (n, s) in enumerate(EXTRA_CASES)]
    return cases


def test_numpy_oracle_covers_every_op():
    missing = sorted(set(OPS) - set(NUMPY_ORACLE) - set(NO_ORACLE))
    assert not missing, f"add an independent NumPy expression for {missing} to NUMPY_ORACLE"


@pytest.mark.parametrize("name, case", _oracle_cases())
def test_reference_matches_numpy_oracle(name, case, rng):
    if name not in NUMPY_ORACLE:
        pytest.fail(f"no oracle for {name}")
    sample = OPS[name].samples[case] if isinstance(case, int) else case
    arrays = sample_arrays(sample, rng)
    g = verify(build_single_op_graph(name, arrays, sample.attrs))
    outs, _ = run(g, arrays)
    wants = NUMPY_ORACLE[name](*[a.copy() for a in arrays], **sample.attrs)
    wants = wants if isinstance(wants, list) else [wants]
    assert len(outs) == len(wants) == len(g.outputs)
    for got, want, v in zip(outs, map(np.asarray, wants), g.outputs):
        assert got.shape == want.shape
        assert got.dtype == v.dtype.np
        if got.dtype.kind == "f":
            tol = 1e-12 if got.dtype == np.float64 else 2e-6
            np.testing.assert_allclose(got, want, rtol=tol * 5, atol=tol)
        else:
            np.testing.assert_array_equal(got, want.astype(got.dtype))


# ---- 4. reference vs PyTorch --------------------------------------------------------------------


def _torch_table(torch):
    F = torch.nn.functional

    def dims(x, axis):
        return tuple(range(x.ndim)) if axis is None else tuple(axis)

    def matmul(a, b, transpose_a=False, transpose_b=False):
        a = a.transpose(-1, -2) if transpose_a else a
        b = b.transpose(-1, -2) if transpose_b else b
        return torch.matmul(a, b)

    def argmax(x, axis=None, keepdims=False):
        if axis is None:
            out = torch.argmax(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return torch.argmax(x, dim=axis, keepdim=keepdims)

    def tdtype(d):
        return getattr(torch, dtypes.as_dtype(d).torch_name)

    return {
        "neg": torch.neg, "exp": torch.exp, "log": torch.log, "log1p": torch.log1p,
        "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "tanh": torch.tanh, "erf": torch.erf,
        "abs": torch.abs, "sign": torch.sign, "floor": torch.floor, "not": torch.logical_not,
        "stop_gradient": lambda x: x.detach(),
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
        "maximum": torch.maximum, "minimum": torch.minimum,
        "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt,
        "ge": torch.ge, "and": torch.logical_and, "or": torch.logical_or,
        "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin,
        "acos": torch.acos, "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh,
        "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh, "erfc": torch.erfc,
        "atan2": torch.atan2, "copysign": torch.copysign, "bitwise_and": torch.bitwise_and,
        "bitwise_or": torch.bitwise_or, "bitwise_xor": torch.bitwise_xor,
        "bitwise_not": torch.bitwise_not, "shift_left": torch.bitwise_left_shift,
        "shift_right": torch.bitwise_right_shift,
        "where": torch.where,
        "cast": lambda x, dtype: x.to(tdtype(dtype)),
        "sum": lambda x, axis=None, keepdims=False: torch.sum(x, dim=dims(x, axis),
                                                              keepdim=keepdims),
        "max": lambda x, axis=None, keepdims=False: torch.amax(x, dim=dims(x, axis),
                                                               keepdim=keepdims),
        "argmax": argmax,
        "cumsum": lambda x, axis, reverse=False: (torch.cumsum(x.flip(axis), axis).flip(axis)
                                                  if reverse else torch.cumsum(x, axis)),
        "cumprod": lambda x, axis, reverse=False: (torch.cumprod(x.flip(axis), axis).flip(axis)
                                                   if reverse else torch.cumprod(x, axis)),
        "argsort": lambda x, axis, descending=False: torch.sort(x, dim=axis, descending=descending,
                                                                stable=True).indices,
        "reshape": torch.reshape,
        "broadcast": lambda x, shape: torch.broadcast_to(x, shape),
        "transpose": lambda x, perm: torch.permute(x, perm),
        "slice": lambda x, start, stop, step: x[tuple(slice(*z) for z in zip(start, stop, step))],
        "concat": lambda *xs, axis: torch.cat(xs, axis),
        "matmul": matmul,
        **index_oracles.torch_table(torch),   # gather, scatter, take, put
        "one_hot": lambda idx, num_classes, dtype: F.one_hot(idx, num_classes).to(tdtype(dtype)),
        **loss_oracles.torch_table(torch),    # lse, take_class
        **conv_oracles.torch_table(torch),    # unfold, fold
        **pool_oracles.torch_table(torch),    # max_pool_index
        **qstatic_oracles.torch_table(torch),  # static int8
        "constant": lambda value: torch.from_numpy(value.copy()),
        "custom_vjp": lambda out, *inputs, fn: out,
        "qlinear": lambda *a, **k: _torch_qlinear(torch, *a, **k),
    }


def _torch_qlinear(torch, x, q, s, cs, b, w, relu=False, has_bias=True):
    """quantized::linear_dynamic (reduce_range, as quantize_dynamic) on graphc's int8 weights."""
    import warnings
    with warnings.catch_warnings():  # torch deprecates its quantized tensors; still the oracle
        warnings.simplefilter("ignore")
        if s.ndim:
            qw = torch._make_per_channel_quantized_tensor(q, s.double(), cs.long() * 0, 0)
        else:
            qw = torch._make_per_tensor_quantized_tensor(q, float(s), 0)
    packed = torch.ops.quantized.linear_prepack(qw, b if has_bias else None)
    fn = torch.ops.quantized.linear_relu_dynamic if relu else torch.ops.quantized.linear_dynamic
    return fn(x.reshape(-1, x.shape[-1]), packed, True).reshape(*x.shape[:-1], q.shape[0])


TORCH_LACKS = {"pad": "torch has no interior (dilated) padding",
               "fused": "a graphc kernel; its body ops are each compared with torch",
               "scan": "a graphc loop; tests/test_scan.py compares scans with torch's loops",
               "philox": "torch's CPU generator is a Mersenne Twister, not Philox: different "
                         "streams (distributions are checked in tests/test_random.py)",
               **qstatic_oracles.TORCH_LACKS,
               **NO_ORACLE}


def test_torch_table_covers_every_op():
    torch = pytest.importorskip("torch")
    table = _torch_table(torch)
    missing = sorted(set(OPS) - set(table) - set(TORCH_LACKS))
    assert not missing, f"add {missing} to the PyTorch table or to TORCH_LACKS with a reason"


@pytest.mark.parametrize("name, i", op_cases())
def test_reference_matches_torch(name, i, rng):
    torch = pytest.importorskip("torch")
    if name in TORCH_LACKS:
        pytest.skip(TORCH_LACKS[name])
    sample = OPS[name].samples[i]
    arrays = sample_arrays(sample, rng)
    (got,), _ = run(build_single_op_graph(name, arrays, sample.attrs), arrays)
    want = _torch_table(torch)[name](*[torch.from_numpy(a.copy()) for a in arrays],
                                     **sample.attrs)
    want = want.numpy()
    assert got.shape == want.shape
    assert got.dtype == want.dtype, "graphc and torch disagree on the result dtype"
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


# ---- 5. broadcasting and type promotion ---------------------------------------------------------

PROMOTING = ("add", "sub", "mul", "maximum", "minimum")
COMPARING = ("eq", "ne", "lt", "le", "gt", "ge")
NUMERIC = [d for d in dtypes.ALL if not d.is_bool]


def _one_op_types(op, types, **attrs):
    g = Graph("t")
    vals = [g.add_input(f"a{i}", t) for i, t in enumerate(types)]
    return Builder(g).emit(op, *vals, **attrs).type


def _torch_promotion(*dts):
    """torch.promote_types of graphc dtypes (None where torch's result has no graphc dtype)."""
    torch = pytest.importorskip("torch")
    tt = {d: getattr(torch, {"f32": "float32", "f64": "float64", "i64": "int64", "i32": "int32",
                             "i8": "int8", "u8": "uint8", "bool": "bool"}[d.name]) for d in dts}
    out = tt[dts[0]]
    for d in dts[1:]:
        out = torch.promote_types(out, tt[d])
    back = {v: k for k, v in tt.items()}
    return back.get(out)


@pytest.mark.parametrize("op", PROMOTING + COMPARING)
@pytest.mark.parametrize("da", dtypes.ALL, ids=str)
@pytest.mark.parametrize("db", dtypes.ALL, ids=str)
def test_binary_promotion_follows_torch(op, da, db, rng):
    want = _torch_promotion(da, db)
    ta, tb = tensor_type((2, 1), da), tensor_type((3,), db)
    if op == "sub" and da.is_bool and db.is_bool:  # torch refuses bool - bool
        with pytest.raises(graphc.ShapeError, match="bool"):
            _one_op_types(op, [ta, tb])
        return
    if want is None:
        with pytest.raises(graphc.ShapeError, match="cast explicitly"):
            _one_op_types(op, [ta, tb])
        return
    got = _one_op_types(op, [ta, tb])
    assert got == tensor_type((2, 3), dtypes.bool_ if op in COMPARING else want)
    # the reference computes in that dtype (operands converted first, as torch)
    a = (rng.integers(0, 3, (2, 1)) > 0).astype(da.np)
    b = (rng.integers(0, 3, (3,)) > 0).astype(db.np)
    assert np.asarray(OPS[op].ref(a, b)).dtype == got.dtype.np


ZERO_DIM = [  # (dimensioned, 0-d) -> torch.result_type: a 0-d tensor counts when of a higher kind
    ("f32", "f64"), ("i64", "f64"), ("i32", "i64"), ("bool", "i64"), ("i64", "f32"),
    ("u8", "i64"), ("f64", "f32"), ("bool", "f32"),
]


@pytest.mark.parametrize("dim_dt, zero_dt", ZERO_DIM)
def test_zero_dim_operands_promote_as_torch(dim_dt, zero_dt):
    torch = pytest.importorskip("torch")
    names = {"f32": "float32", "f64": "float64", "i64": "int64", "i32": "int32", "u8": "uint8",
             "bool": "bool"}
    want = (torch.ones(3, dtype=getattr(torch, names[dim_dt]))
            + torch.ones((), dtype=getattr(torch, names[zero_dt]))).dtype
    a = graphc.ones(3, dtype=getattr(graphc, names[dim_dt]))
    b = graphc.ones((), dtype=getattr(graphc, names[zero_dt]))
    for got in (a + b, graphc.compile(lambda a, b: a + b)(a, b), graphc.where(a > 0, a, b)):
        assert str(got.dtype.np) == str(want).replace("torch.", "")
    assert graphc.compile(lambda a, b: a < b)(a, b).dtype is graphc.bool


@pytest.mark.parametrize("da", NUMERIC, ids=str)
@pytest.mark.parametrize("db", NUMERIC, ids=str)
def test_float_only_binaries_promote_or_refuse(da, db):
    want = _torch_promotion(da, db)
    for op in ("div", "pow"):
        if want is not None and want.is_float:
            assert _one_op_types(op, [tensor_type((2,), da), tensor_type((2,), db)]).dtype is want
        else:
            with pytest.raises(graphc.ShapeError):
                _one_op_types(op, [tensor_type((2,), da), tensor_type((2,), db)])


def test_promotion_examples():
    f32, f64, i64, b = dtypes.float32, dtypes.float64, dtypes.int64, dtypes.bool_
    assert _one_op_types("add", [tensor_type((3,), i64), tensor_type((3,), f32)]) == \
        tensor_type((3,), f32)                                   # torch: the float kind wins
    assert _one_op_types("mul", [tensor_type((3,), b), tensor_type((3,), f32)]).dtype is f32
    assert _one_op_types("lt", [tensor_type((3,), i64), tensor_type((3,), f32)]).dtype is b
    assert _one_op_types("where", [tensor_type((3,), b), tensor_type((3,), i64),
                                   tensor_type((3,), f32)]).dtype is f32
    for dt in (dtypes.int64, dtypes.int32, dtypes.int8, dtypes.uint8, dtypes.bool_):
        assert _one_op_types("sum", [tensor_type((3, 4), dt)], axis=(1,)) == tensor_type((3,), i64)
    assert _one_op_types("sum", [tensor_type((3, 4), f32)], axis=None) == tensor_type((), f32)
    assert _one_op_types("max", [tensor_type((3, 4), dtypes.int8)], axis=(0,),
                         keepdims=True) == tensor_type((1, 4), dtypes.int8)
    for dt in (f32, i64, dtypes.uint8):
        assert _one_op_types("argmax", [tensor_type((3, 4), dt)], axis=1) == tensor_type((3,), i64)
    assert _one_op_types("matmul", [tensor_type((2, 3), i64), tensor_type((3, 5), i64)]) == \
        tensor_type((2, 5), i64)


@given(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=3))
@settings(max_examples=60, deadline=None)
def test_broadcast_shapes_follow_numpy(shapes):
    (sa, sb, sc), want = shapes.input_shapes, shapes.result_shape
    f32 = dtypes.float32
    got = _one_op_types("add", [tensor_type(sa, f32), tensor_type(sb, f32)])
    assert got.shape == np.broadcast_shapes(sa, sb)
    got = _one_op_types("where", [tensor_type(sa, dtypes.bool_), tensor_type(sb, f32),
                                  tensor_type(sc, f32)])
    assert got.shape == want
    rng = np.random.default_rng(1)
    arrays = [rng.random(sa) < 0.5, rng.random(sb).astype(np.float32),
              rng.random(sc).astype(np.float32)]
    (out,), _ = run(build_single_op_graph("where", arrays, {}), arrays)
    assert out.shape == want


# ---- 6. shape-rule errors -----------------------------------------------------------------------

f32, f64, i64, b8 = "f32", "f64", "i64", "bool"

# (op, operand types as (dtype, shape), attrs, a fragment the message must contain)
BAD_OPERANDS = [
    ("add", [(f32, (3, 4)), (f32, (5,))], {}, "cannot be broadcast"),
    ("mul", [(f32, (2, 3)), (f32, (3, 2))], {}, "cannot be broadcast"),
    ("add", [("i8", (3,)), ("u8", (3,))], {}, "cast explicitly"),
    ("eq", [(f32, (2,)), (f32, (3,))], {}, "cannot be broadcast"),
    ("matmul", [(f32, (3, 4)), (f32, (5, 6))], {}, "inner dimensions"),
    ("matmul", [(f32, (3, 4)), (f32, (3, 4))], {"transpose_b": False}, "inner dimensions"),
    ("matmul", [(f32, (3, 4)), (f32, (4, 5))], {"transpose_a": True}, "inner dimensions"),
    ("matmul", [(f32, (4,)), (f32, (4, 5))], {}, "rank >= 2"),
    ("matmul", [(f32, (3, 4)), (f64, (4, 5))], {}, "same dtype"),
    ("matmul", [(b8, (3, 4)), (b8, (4, 5))], {}, "bool"),
    ("matmul", [(f32, (2, 3, 4)), (f32, (5, 4, 6))], {}, "cannot be broadcast"),
    ("reshape", [(f32, (3, 4))], {"shape": (5,)}, "cannot reshape"),
    ("reshape", [(f32, (3, 4))], {"shape": (-1, 4)}, "negative"),
    ("reshape", [(f32, (3, 4))], {}, "attribute"),
    ("reshape", [(f32, (3, 4))], {"shape": (2.0, 6.0)}, "tuple of ints"),
    ("broadcast", [(f32, (3,))], {"shape": (2, True, 3)}, "tuple of ints"),
    ("slice", [(f32, (5,))], {"start": (0.5,), "stop": (5,), "step": (1,)}, "tuple of ints"),
    ("pad", [(f32, (3,))], {"lo": (1.0,), "hi": (0,), "interior": (0,)}, "tuple of ints"),
    ("transpose", [(f32, (3, 4))], {"perm": (1.0, 0.0)}, "tuple of ints"),
    ("transpose", [(f32, (3, 4))], {"perm": (0, 0)}, "not a permutation"),
    ("transpose", [(f32, (3, 4))], {"perm": (1, 0, 2)}, "not a permutation"),
    ("broadcast", [(f32, (3, 4))], {"shape": (4,)}, "cannot broadcast"),
    ("broadcast", [(f32, (3, 4))], {"shape": (3, 5)}, "cannot broadcast"),
    ("gather", [(f32, (4, 5)), (i64, (5,))], {"axis": 1}, "must have shape [4]"),
    ("gather", [(f32, (4, 5)), (f32, (4,))], {"axis": 1}, "integers"),
    ("gather", [(f32, (4, 5)), (i64, (4,))], {"axis": 2}, "out of range"),
    ("one_hot", [(f32, (4,))], {"num_classes": 3, "dtype": dtypes.float32}, "integer"),
    ("one_hot", [(i64, (4,))], {"num_classes": 0, "dtype": dtypes.float32}, "positive"),
    ("exp", [(i64, (3,))], {}, "float"),
    ("log", [(b8, (3,))], {}, "float"),
    ("tanh", [("i32", (3,))], {}, "float"),
    ("floor", [(i64, ())], {}, "float"),
    ("div", [(i64, (3,)), (i64, (3,))], {}, "float"),
    ("pow", [(i64, (3,)), (i64, (3,))], {}, "float"),
    ("neg", [(b8, (3,))], {}, "bool"),
    ("not", [(f32, (3,))], {}, "bool"),
    ("and", [(f32, (3,)), (b8, (3,))], {}, "bool"),
    ("where", [(f32, (3,)), (f32, (3,)), (f32, (3,))], {}, "condition must be bool"),
    ("where", [(b8, (2,)), (f32, (3,)), (f32, (3,))], {}, "cannot be broadcast"),
    ("sum", [(f32, (3, 4))], {"axis": (2,)}, "out of range"),
    ("sum", [(f32, (3, 4))], {"axis": (1, 0)}, "sorted tuple"),
    ("sum", [(f32, (3, 4))], {"axis": (-1,)}, "non-negative"),
    ("sum", [(f32, (3, 4))], {"axis": (1, 1)}, "repeated"),
    ("sum", [(f32, (3, 4))], {"axis": 1}, "tuple"),
    ("sum", [(f32, ())], {"axis": (0,)}, "out of range"),
    ("max", [(f32, (0, 3))], {"axis": (0,)}, "empty"),
    ("argmax", [(f32, (3, 4))], {"axis": -1}, "non-negative"),
    ("argmax", [(f32, (3, 4))], {"axis": (0, 1)}, "int"),
    ("argmax", [(f32, ())], {"axis": 0}, "out of range"),
    ("argmax", [(f32, (0,))], {"axis": None}, "empty"),
    ("slice", [(f32, (5,))], {"start": (0,), "stop": (6,), "step": (1,)}, "invalid"),
    ("slice", [(f32, (5,))], {"start": (0,), "stop": (5,), "step": (0,)}, "invalid"),
    ("slice", [(f32, (5, 2))], {"start": (0,), "stop": (5,), "step": (1,)}, "all 2 axes"),
    ("pad", [(f32, (3,))], {"lo": (-1,), "hi": (0,), "interior": (0,)}, "non-negative"),
    ("pad", [(f32, (3,))], {"lo": (1, 1), "hi": (0,), "interior": (0,)}, "axes"),
    ("cast", [(f32, (3,))], {"dtype": "complex64"}, "attribute"),
    ("constant", [(f32, (3,))], {"value": np.zeros(3, np.float32)}, "no operands"),
]


@pytest.mark.parametrize("op, operands, attrs, fragment", BAD_OPERANDS,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(BAD_OPERANDS)])
def test_shape_rule_rejects_bad_operands(op, operands, attrs, fragment):
    g = Graph("bad")
    vals = [g.add_input(f"a{i}", tensor_type(s, d)) for i, (d, s) in enumerate(operands)]
    with pytest.raises(graphc.ShapeError) as info:
        Builder(g, loc="model.py:42").emit(op, *vals, **attrs)
    err = info.value
    assert isinstance(err, graphc.GraphcError)
    msg = str(err)
    assert msg.startswith(f"{op}: "), msg
    for v in vals:
        assert str(v.type) in msg, msg
    assert fragment in msg, msg
    assert "model.py:42" in msg
    assert g.nodes == []  # nothing half-built was appended


def test_matmul_error_message_names_op_and_types():
    g = Graph("m")
    a = g.add_input("a", tensor_type((3, 4), "f32"))
    b = g.add_input("b", tensor_type((5, 6), "f32"))
    with pytest.raises(graphc.ShapeError) as info:
        Builder(g).matmul(a, b)
    assert "matmul" in str(info.value) and "f32[3,4]" in str(info.value) \
        and "f32[5,6]" in str(info.value)


def test_builder_rejects_unknown_op_and_bad_operands():
    g = Graph("u")
    x = g.add_input("x", tensor_type((2,), "f32"))
    b = Builder(g)
    with pytest.raises(graphc.ShapeError, match="unknown op 'frobnicate'"):
        b.emit("frobnicate", x)
    with pytest.raises(AttributeError):
        b.frobnicate(x)
    with pytest.raises(graphc.ShapeError, match="neither a Value"):
        b.add(x, "1")
    with pytest.raises(graphc.ShapeError, match="at least one tensor"):
        b.add(1, 2)


# tensor dtype + Python scalar -> result dtype, as PyTorch does (a float scalar makes int tensors
# f32, the default float dtype; otherwise the tensor's dtype wins within its category)
WEAK_SCALARS = [
    (2, "f32", "f32"), (2.5, "f32", "f32"), (2.5, "i64", "f32"), (2, "i64", "i64"),
    (True, "f32", "f32"), (2, "bool", "i64"), (2.5, "f64", "f64"), (3, "u8", "u8"),
    (2.5, "bool", "f32"), (True, "i64", "i64"), (True, "bool", "bool"), (2.5, "i32", "f32"),
    (7, "i8", "i8"), (2, "f64", "f64"),
]


@pytest.mark.parametrize("scalar, dt, want", WEAK_SCALARS)
def test_python_scalars_are_weakly_typed(scalar, dt, want, rng):
    g = Graph("w")
    x = g.add_input("x", tensor_type((2,), dt))
    out = Builder(g).add(x, scalar)
    assert out.dtype is dtypes.from_name(want)
    g.outputs = [out]
    arr = np.array([1, 0]).astype(dtypes.from_name(dt).np)
    (got,), _ = run(verify(g), [arr])
    want_np = (np.asarray(arr, np.float64) + scalar).astype(dtypes.from_name(want).np)
    np.testing.assert_array_equal(got, want_np)


@pytest.mark.parametrize("scalar, dt, want", WEAK_SCALARS)
def test_weak_scalar_table_agrees_with_torch(scalar, dt, want):
    torch = pytest.importorskip("torch")
    t = torch.zeros(2, dtype=getattr(torch, dtypes.from_name(dt).torch_name))
    assert (t + scalar).dtype == getattr(torch, dtypes.from_name(want).torch_name)
