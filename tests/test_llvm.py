"""The LLVM backend against the reference interpreter (the oracle), with NumPy as a second one.

Every test here runs native code whatever GRAPHC_BACKEND says: graphs go through
`passes.plan_memory` + `graphc.backend.llvm.compile_graph`, functions through
`graphc.compile(..., backend="llvm")`. An LLVM compile costs 0.1-1 s, so most tests build ONE
graph holding many independent cases (each case its own output) and compare every output.

Tolerances (float32 unless said):
- integer, bool, data movement, comparisons, and single IEEE-exact float ops (add, mul, div,
  sqrt, floor, where, cast, ...): bit-for-bit, NaN equal to NaN. Only maximum/minimum may differ
  in the sign of a zero result (max(0.0, -0.0)): NumPy's own answer depends on its SIMD path;
- exp/log/log1p/tanh/erf/pow (glibc libmvec, <= 3e-7 relative): rtol 2e-6;
- sums (vector accumulators, a different association than NumPy's pairwise sum):
  |got - want| <= 1e-6 * sum(|x|) over the reduced elements;
- matmul: |got - want| <= 1e-6 * (|A| @ |B|) (float64: 1e-14); integers exact;
- fused kernels may contract a*b+c into an FMA: rtol 1e-6 for otherwise exact ops.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import re

import numpy as np
import pytest
from conftest import build_single_op_graph, make_operand, op_cases

import graphc
import passes
from graphc import dtypes, nn, optim
from graphc.ir import interpreter
from graphc.backend.llvm import cache as llvm_cache
from graphc.backend.llvm import compile_graph, target
from graphc.backend.llvm.kernels import elementwise as lowering  # the elementwise rules (RULES)
from graphc.backend.llvm.kernels import BODY_KERNELS, KERNELS, kernel_for
from graphc.ir import OPS, Builder, Fusion, Graph, Node, print_graph, tensor_type
from graphc.ir.ops import NO_KERNEL
from graphc.ir.ops.fused import KINDS

TRANSCENDENTAL = {"exp", "log", "log1p", "tanh", "erf", "pow", "sin", "cos", "tan", "asin", "acos",
                  "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erfc", "atan2",
                  "lse", "xent", "xent_grad"}  # the loss ops: libmvec exp, vector sums
SIGNED_ZERO_OK = {"maximum", "minimum"}
EXACT = None


# ---- helpers ------------------------------------------------------------------------------------

def run_llvm(g: Graph, inputs, state=None, fuse: bool = False):
    """(llvm outputs, llvm state after the call, interpreter outputs, interpreter updates)."""
    state = state or {}
    if fuse:
        g = passes.fuse(g)
    pg = passes.plan_memory(g)
    exe = compile_graph(pg)
    native_state = {k: np.array(v, copy=True) for k, v in state.items()}
    got = exe.run(list(inputs), [native_state[k] for k in pg.state])
    want, updates = interpreter.run(pg, list(inputs), state)
    return got, native_state, want, updates


def assert_close(got, want, what, tol=EXACT, zero_sign: bool = True):
    """NaN-aware comparison. tol: EXACT (bitwise), (rtol, atol), or an array of atol."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.dtype.kind != "f":
        bad = got != want
    else:
        gn, wn = np.isnan(got), np.isnan(want)
        if tol is EXACT:
            bad = (gn != wn) | (~wn & (got != want))
            if zero_sign:
                bad |= ~wn & (np.signbit(got) != np.signbit(want))
        else:
            rtol, atol = tol if isinstance(tol, tuple) else (0.0, tol)
            with np.errstate(invalid="ignore", over="ignore"):
                diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
                inf = np.isinf(want) | np.isinf(got)
                close = diff <= atol + rtol * np.abs(want.astype(np.float64))
            bad = (gn != wn) | (~wn & ~inf & ~close) | (inf & (got != want))
    if np.any(bad):
        idx = np.argwhere(np.atleast_1d(bad))[:5]
        g1, w1 = np.atleast_1d(got), np.atleast_1d(want)
        pairs = [(tuple(int(i) for i in ix), g1[tuple(ix)], w1[tuple(ix)]) for ix in idx]
        raise AssertionError(f"{what}: {int(np.sum(bad))} of {want.size} elements differ "
                             f"(tol {tol}); first (index, llvm, reference): {pairs}")


class Cases:
    """One graph holding many independent cases; each output remembers how to compare it."""

    def __init__(self, name: str):
        self.g = Graph(name)
        self.b = Builder(self.g)
        self.inputs: list[np.ndarray] = []
        self.checks: list = []

    def input(self, a) -> object:
        a = np.ascontiguousarray(a)
        v = self.g.add_input(f"x{len(self.inputs)}", tensor_type(a.shape, dtypes.from_numpy(a.dtype)))
        self.inputs.append(a)
        return v

    def out(self, v, what, tol=EXACT, zero_sign: bool = True):
        self.g.outputs.append(v)
        self.checks.append((what, tol, zero_sign))

    def emit(self, op, *args, what=None, tol=EXACT, **attrs):
        v = self.b.emit(op, *args, **attrs)
        self.out(v, what or op, tol, op not in SIGNED_ZERO_OK)
        return v

    def index(self, what) -> int:
        return [w for w, _, _ in self.checks].index(what)

    def check(self, fuse: bool = False, loosen: bool = False):
        got, _, want, _ = run_llvm(self.g, self.inputs, fuse=fuse)
        assert len(got) == len(self.checks)
        failures = []
        for (what, tol, zs), a, b in zip(self.checks, got, want):
            if loosen and tol is EXACT and np.asarray(b).dtype.kind == "f":
                tol = (1e-6, 0.0)  # a fused kernel may contract mul+add into an FMA
            try:
                assert_close(a, b, what, tol, zs)
            except AssertionError as e:
                failures.append(str(e))
        assert not failures, "\n".join(failures)
        return got, want


def sum_tol(x: np.ndarray, axis=None, keepdims=False):
    """atol for a float sum of x: 1e-6 of the sum of magnitudes (association-independent)."""
    scale = np.sum(np.abs(x.astype(np.float64)), axis=axis, keepdims=keepdims)
    eps = 1e-6 if x.dtype == np.float32 else 1e-14
    return eps * scale + 1e-30


def rand(rng, dt: str, shape, scale: float = 3.0) -> np.ndarray:
    np_dt = dtypes.from_name(dt).np
    if dt == "bool":
        return rng.random(shape) < 0.5
    if dt == "u8":
        return rng.integers(0, 256, shape).astype(np_dt)
    if dt == "i8":
        return rng.integers(-128, 128, shape).astype(np_dt)
    if dt in ("i32", "i64"):
        return rng.integers(-1000, 1000, shape).astype(np_dt)
    return (rng.standard_normal(shape) * scale).astype(np_dt)


# ---- 1. per-op tests generated from the registry -------------------------------------------------

LOWERED_OPS = {name: op for name, op in OPS.items() if op.kind != "special"}


def test_every_op_has_samples_and_every_elementwise_op_a_lowering_rule():
    missing = [n for n, op in LOWERED_OPS.items() if not op.samples]
    assert not missing, f"ops without samples (so without LLVM tests): {missing}"
    no_rule = [n for n, op in OPS.items()
               if op.fusion is Fusion.ELEMENTWISE and n not in lowering.RULES]
    assert not no_rule, f"elementwise ops without an LLVM rule in elementwise.RULES: {no_rule}"
    stale = [n for n in lowering.RULES if n not in OPS]
    assert not stale, f"elementwise.RULES has rules for ops that do not exist: {stale}"


def test_every_op_reaching_the_backend_has_a_kernel():
    """OPAQUE and PACK ops by name in the kernel table; the others through their fusion class's kernel;
    every fused kind has a body kernel."""
    no_kernel = [n for n, op in OPS.items()
                 if op.fusion in (Fusion.OPAQUE, Fusion.PACK) and op.samples
                 and n not in KERNELS]
    assert not no_kernel, f"OPAQUE/PACK ops without a kernel in kernels.KERNELS: {no_kernel}"
    for name, op in OPS.items():
        if op.samples and op.fusion not in NO_KERNEL:
            node = Node(name, [], {}, [])
            assert kernel_for(node) is not None, name
    for kind in KINDS:
        assert kind in BODY_KERNELS, f"fused kind {kind!r} has no body kernel"
    assert {Fusion.ELEMENTWISE, Fusion.BROADCAST, Fusion.GATHER, Fusion.REDUCE,
            Fusion.MATMUL} <= set(BODY_KERNELS)


def _tol_for(op: str, dtype) -> object:
    if np.dtype(dtype).kind != "f":
        return EXACT
    if op in TRANSCENDENTAL:
        return (2e-6, 1e-7) if dtype == np.float32 else (1e-13, 1e-300)
    if op == "matmul":
        return (1e-5, 1e-6)
    if op == "sum":
        return (1e-6, 1e-6)
    return EXACT


@pytest.mark.parametrize("op, i", op_cases(LOWERED_OPS))
def test_op_sample_matches_interpreter(op, i):
    sample = OPS[op].samples[i]
    rng = np.random.default_rng(1000 + i)
    arrays = [make_operand(a, rng) for a in sample.args]
    g = build_single_op_graph(op, arrays, sample.attrs)
    variants = [False]
    if print_graph(passes.fuse(g)) != print_graph(g):
        variants.append(True)   # fusion wraps the op in a kernel: check that lowering too
    for fuse in variants:
        got, _, want, _ = run_llvm(g, arrays, fuse=fuse)
        assert len(got) == len(want) == len(g.outputs)
        for k, (a, b) in enumerate(zip(got, want)):
            tol = _tol_for(op, np.asarray(b).dtype)
            if fuse and tol is EXACT and np.asarray(b).dtype.kind == "f":
                tol = (1e-6, 0.0)
            assert_close(a, b, f"{op} sample {i} output {k} (fused={fuse})", tol,
                         op not in SIGNED_ZERO_OK)


def test_elementwise_ops_on_every_float_dtype_and_special_values():
    """Every float elementwise op on NaN, +-Inf, +-0, denormals and overflow-range values."""
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30,
                         88.0, 89.0, -104.0, 1e30, 1e-40], np.float64)
    c = Cases("specials")
    for dt in (np.float32, np.float64):
        xa = np.repeat(specials, len(specials)).astype(dt)   # every (x, y) pair: 256 lanes
        ya = np.tile(specials, len(specials)).astype(dt)
        x, y = c.input(xa), c.input(ya)
        for op in ("neg", "exp", "log", "log1p", "tanh", "erf", "sqrt", "rsqrt", "floor", "abs",
                   "sign"):
            c.emit(op, x, what=f"{op} {dt.__name__}", tol=_tol_for(op, dt))
        for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt",
                   "le", "gt", "ge"):
            c.emit(op, x, y, what=f"{op} {dt.__name__}", tol=_tol_for(op, dt))
        z = c.b.const(0.0, dtypes.from_numpy(dt))
        c.emit("where", c.b.emit("le", x, z), z, x, what=f"relu-by-where {dt.__name__}")
        c.emit("maximum", x, z, what=f"relu-by-maximum {dt.__name__}")
        for to in ("bool", "f32", "f64"):
            c.emit("cast", x, dtype=dtypes.from_name(to), what=f"cast {dt.__name__}->{to}")
    got, _ = c.check()
    # and NumPy's semantics directly, not only through the interpreter
    x32 = c.inputs[0]
    exp, log = got[c.index("exp float32")], got[c.index("log float32")]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.isnan(exp), np.isnan(np.exp(x32)))
    assert exp[np.isposinf(x32)].tolist() == [np.inf] * 16          # exp(inf) = inf
    assert exp[np.isneginf(x32)].tolist() == [0.0] * 16             # exp(-inf) = 0
    assert np.all(np.isnan(log[x32 == -1.0]))                       # log(-1) = nan
    assert np.all(log[x32 == 0.0] == -np.inf)                       # log(0) = -inf
    for relu in ("relu-by-where float32", "relu-by-maximum float32"):
        assert np.all(np.isnan(got[c.index(relu)][np.isnan(x32)])), f"{relu}(nan) must be nan"
    mx = got[c.index("maximum float32")]
    assert np.all(np.isnan(mx[np.isnan(x32) | np.isnan(c.inputs[1])])), "maximum with nan"


def test_nan_in_reductions_and_argmax_propagate_like_numpy():
    c = Cases("nanred")
    for dt in (np.float32, np.float64):
        m = np.array([[1, np.nan, 3, 2, 5, 0, 1, 1, 9, 2, 2],
                      [np.inf, -np.inf, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                      [-np.inf] * 11,
                      [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, np.nan],      # nan in the scalar tail
                      [7, 7, 1, 7, 0, 0, 0, 0, 0, 0, 7]], dt)        # ties: first index
        x = c.input(m)
        for ax in (None, (0,), (1,)):
            c.emit("max", x, axis=ax, what=f"max {ax} {dt.__name__}")
            c.emit("sum", x, axis=ax, what=f"sum {ax} {dt.__name__}", tol=(1e-6, 1e-6))
        for ax in (None, 0, 1):
            c.emit("argmax", x, axis=ax, what=f"argmax {ax} {dt.__name__}")
    got, _ = c.check()
    assert np.isnan(got[c.index("max None float32")])
    assert got[c.index("max (1,) float32")][2] == -np.inf
    assert got[c.index("argmax 1 float32")].tolist() == [1, 0, 0, 10, 0]   # first nan, first tie
    assert got[c.index("argmax None float32")] == 1


# ---- 2. dtypes -----------------------------------------------------------------------------------

DTYPES = ("f32", "f64", "i64", "i32", "i8", "u8", "bool")


@pytest.mark.parametrize("dt", DTYPES)
def test_dtype_through_arithmetic_comparisons_where_and_reductions(dt):
    rng = np.random.default_rng(DTYPES.index(dt))
    c = Cases(f"dtype_{dt}")
    for shape in ((17,), (3, 9)):
        x, y = c.input(rand(rng, dt, shape)), c.input(rand(rng, dt, shape))
        ops = ["add", "mul", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"]
        ops += ["and", "or"] if dt == "bool" else ["sub"]
        for op in ops:
            c.emit(op, x, y, what=f"{op} {dt}{list(shape)}")
        for op in (["not"] if dt == "bool" else ["neg", "abs", "sign"]):
            c.emit(op, x, what=f"{op} {dt}{list(shape)}")
        cond = c.input(rng.random(shape) < 0.5)
        c.emit("where", cond, x, y, what=f"where {dt}{list(shape)}")
        for ax in (None, (0,), (len(shape) - 1,)):
            fx = c.inputs[-3]
            tol = EXACT if dt[0] != "f" else sum_tol(fx, None if ax is None else ax)
            c.emit("sum", x, axis=ax, what=f"sum {ax} {dt}{list(shape)}", tol=tol)
            c.emit("max", x, axis=ax, what=f"max {ax} {dt}{list(shape)}")
        c.emit("argmax", x, axis=0, what=f"argmax 0 {dt}{list(shape)}")
        c.emit("argmax", x, what=f"argmax all {dt}{list(shape)}")
    c.check()
    c.check(fuse=True, loosen=True)


def _cast_sources(dt: str, to: str, rng) -> np.ndarray:
    """Values whose conversion is defined in C (NumPy) and LLVM alike: float->int in range."""
    np_dt = dtypes.from_name(dt).np
    if dt == "bool":
        return rng.random(37) < 0.5
    if dt in ("f32", "f64"):
        to_np = dtypes.from_name(to).np
        if to_np.kind in "iu":
            hi = float(np.iinfo(to_np).max) if to != "i64" else 2.0 ** 40
            lo = 0.0 if to_np.kind == "u" else -hi
            v = rng.uniform(lo, min(hi, 1e6), 37)
            v[:4] = [0.0, -0.0, 0.75, min(hi, 100.25)]
            return v.astype(np_dt)
        v = (rng.standard_normal(37) * 100).astype(np_dt)
        v[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30]
        if dt == "f64":
            v[6:8] = [1e300, 1e-300]                                       # f64->f32: inf, 0
        return v
    info = np.iinfo(np_dt)
    v = rng.integers(info.min, info.max, 37, dtype=np_dt, endpoint=True)
    v[:4] = [0, 1, info.max, info.min]
    return v.astype(np_dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_cast_between_all_dtype_pairs(dt):
    rng = np.random.default_rng(7 + DTYPES.index(dt))
    c = Cases(f"cast_from_{dt}")
    for to in DTYPES:
        x = c.input(_cast_sources(dt, to, rng))
        c.emit("cast", x, dtype=dtypes.from_name(to), what=f"cast {dt}->{to}")
    got, _ = c.check()
    for k, to in enumerate(DTYPES):   # NumPy directly, for the defined conversions
        with np.errstate(all="ignore"):
            direct = c.inputs[k].astype(dtypes.from_name(to).np)
        assert_close(got[k], direct, f"{dt}->{to} vs NumPy")


# ---- 3. shapes: vector tails, collapsing, broadcasting, reductions, empty tensors ---------------

SIZES = (1, 7, 8, 9, 15, 16, 17, 33, 1000)


@pytest.mark.parametrize("dt", ["f32", "f64", "i32"])
def test_vector_tails_for_every_size(dt):
    rng = np.random.default_rng(3)
    c = Cases(f"tails_{dt}")
    for n in SIZES:
        xa, ya = rand(rng, dt, (n,)), rand(rng, dt, (n,))
        x, y = c.input(xa), c.input(ya)
        c.emit("add", x, y, what=f"add n={n}")
        c.emit("mul", c.b.emit("sub", x, y), x, what=f"(x-y)*x n={n}")
        if dt != "i32":
            c.emit("exp", c.b.emit("mul", x, 0.25), what=f"exp n={n}", tol=(2e-6, 1e-7))
        c.emit("sum", x, axis=(0,), what=f"sum n={n}",
               tol=sum_tol(xa) if dt != "i32" else EXACT)
        c.emit("max", x, axis=(0,), what=f"max n={n}")
        c.emit("argmax", x, axis=0, what=f"argmax n={n}")
        ma = rand(rng, dt, (3, n))
        m = c.input(ma)
        for ax in ((0,), (1,)):
            c.emit("sum", m, axis=ax, what=f"sum{ax} [3,{n}]",
                   tol=sum_tol(ma, ax) if dt != "i32" else EXACT)
            c.emit("max", m, axis=ax, what=f"max{ax} [3,{n}]")
    c.check()
    c.check(fuse=True, loosen=True)


@pytest.mark.parametrize("dt", ["f32", "i64"])
def test_reductions_over_every_axis_set_with_and_without_keepdims(dt):
    rng = np.random.default_rng(5)
    c = Cases(f"reduce_{dt}")
    for shape in ((2, 9, 5), (4, 1, 17)):
        xa = rand(rng, dt, shape)
        x = c.input(xa)
        for ax in ((0,), (1,), (2,), (0, 1), (0, 2), (1, 2), None):
            for kd in (False, True):
                tol = sum_tol(xa, ax, kd) if dt == "f32" else EXACT
                c.emit("sum", x, axis=ax, keepdims=kd, what=f"sum {shape} {ax} kd={kd}", tol=tol)
                c.emit("max", x, axis=ax, keepdims=kd, what=f"max {shape} {ax} kd={kd}")
        for ax in (0, 1, 2, None):
            c.emit("argmax", x, axis=ax, keepdims=True, what=f"argmax {shape} {ax}")
    c.check()


def test_reduce_kernels_with_prologue_and_epilogue():
    """softmax, log-softmax, mean and norms: reduce kernels after fusion, over several axes."""
    rng = np.random.default_rng(6)
    c = Cases("reduce_fused")
    b = c.b
    for shape, ax in (((5, 17), (1,)), ((5, 17), (0,)), ((4, 9, 6), (1,)), ((4, 9, 6), (0, 2)),
                      ((33,), (0,)), ((3, 1000), (1,))):
        x = c.input(rng.standard_normal(shape).astype(np.float32))
        m = b.emit("max", x, axis=ax, keepdims=True)
        e = b.emit("exp", b.emit("sub", x, m))
        s = b.emit("sum", e, axis=ax, keepdims=True)
        tol = (1e-5, 1e-7)
        c.out(b.emit("div", e, s), f"softmax {shape} {ax}", tol)
        c.out(b.emit("sub", b.emit("sub", x, m), b.emit("log", s)), f"log_softmax {shape}", tol)
        n = int(np.prod([shape[a] for a in ax]))
        c.out(b.emit("mul", b.emit("sum", x, axis=ax), 1.0 / n), f"mean {shape} {ax}", (1e-5, 1e-6))
        c.out(b.emit("sqrt", b.emit("sum", b.emit("mul", x, x), axis=ax)), f"norm {shape}", tol)
        c.out(b.emit("add", b.emit("sum", x, axis=ax), b.emit("max", x, axis=ax)),
              f"sum+max {shape} {ax}", (1e-5, 1e-5))
    fused = passes.fuse(c.g)
    assert any(n.op == "fused" and n.attrs["kind"] == "reduce" for n in fused.nodes)
    c.check()
    c.check(fuse=True)


@pytest.mark.parametrize("dt", ["f32", "f64", "i32"])
def test_broadcasting(dt):
    rng = np.random.default_rng(8)
    c = Cases(f"bcast_{dt}")
    b = c.b
    a31, a14 = c.input(rand(rng, dt, (3, 1))), c.input(rand(rng, dt, (1, 4)))
    c.emit("add", a31, a14, what="(3,1)+(1,4)")
    c.emit("mul", a14, a31, what="(1,4)*(3,1)")
    a234, a4 = c.input(rand(rng, dt, (2, 3, 4))), c.input(rand(rng, dt, (4,)))
    c.emit("sub", a234, a4, what="(2,3,4)-(4,)")
    c.emit("sub", a4, a234, what="(4,)-(2,3,4)")
    s = c.input(rand(rng, dt, ()))
    c.emit("mul", s, a234, what="scalar*tensor")
    c.emit("maximum", a234, s, what="maximum(tensor, scalar)")
    c.emit("add", s, s, what="scalar+scalar")
    c.emit("add", a234, 3, what="tensor+python int")
    a214, a131 = c.input(rand(rng, dt, (2, 1, 4))), c.input(rand(rng, dt, (1, 3, 1)))
    c.emit("add", a214, a131, what="(2,1,4)+(1,3,1)")
    c.emit("broadcast", a131, shape=(5, 2, 3, 7), what="broadcast to (5,2,3,7)")
    cond = c.input(rng.random((3, 1)) < 0.5)
    c.emit("where", cond, a14, a131, what="where (3,1),(1,4),(1,3,1)")
    big, row = c.input(rand(rng, dt, (9, 33))), c.input(rand(rng, dt, (33,)))
    col = c.input(rand(rng, dt, (9, 1)))
    c.emit("add", b.emit("mul", big, row), col, what="(9,33)*(33,)+(9,1)")
    c.check()
    c.check(fuse=True, loosen=True)


def test_empty_tensors_are_supported():
    c = Cases("empty")
    f = np.float32
    for sa, sb in (((3, 0), (0, 4)), ((0, 5), (5, 4)), ((3, 5), (5, 0)), ((2, 0, 3), (3, 4))):
        c.emit("matmul", c.input(np.ones(sa, f)), c.input(np.ones(sb, f)), what=f"mm {sa}@{sb}")
    x = c.input(np.ones((0, 4), f))
    c.emit("exp", x, what="exp (0,4)")
    c.emit("add", x, c.input(np.ones((4,), f)), what="(0,4)+(4,)")
    c.emit("transpose", x, perm=(1, 0))
    c.emit("reshape", x, shape=(4, 0))
    for ax in ((0,), (1,), None):
        c.emit("sum", x, axis=ax, what=f"sum {ax} of (0,4)")
    c.emit("max", x, axis=(1,), what="max over the non-empty axis")
    c.emit("argmax", c.input(np.ones((0, 3), f)), axis=1)
    c.emit("one_hot", c.input(np.zeros((0,), np.int64)), num_classes=3, dtype=dtypes.float32)
    c.emit("gather", c.input(np.ones((0, 3), f)), c.input(np.zeros((0,), np.int64)), axis=1)
    got, _ = c.check()
    assert got[0].tolist() == [[0.0] * 4] * 3     # K = 0: a sum of nothing
    c.check(fuse=True)
    with pytest.raises(graphc.ShapeError, match="empty"):
        c.b.emit("max", x, axis=(0,))
    with pytest.raises(graphc.ShapeError, match="empty"):
        c.b.emit("argmax", x, axis=0)

    infer = graphc.compile(lambda x: graphc.relu(x * 2.0).sum(1), backend="llvm")
    assert infer(np.zeros((0, 5), np.float32)).shape == (0,)


def test_data_movement_ops_on_every_dtype():
    rng = np.random.default_rng(9)
    c = Cases("movement")
    for dt in DTYPES:
        x = c.input(rand(rng, dt, (2, 3, 5)))
        c.emit("transpose", x, perm=(2, 0, 1), what=f"transpose201 {dt}")
        c.emit("transpose", x, perm=(1, 0, 2), what=f"transpose102 {dt}")
        c.emit("slice", x, start=(0, 1, 0), stop=(2, 3, 5), step=(1, 1, 2), what=f"slice {dt}")
        c.emit("slice", x, start=(1, 0, 4), stop=(2, 3, 5), step=(1, 2, 1), what=f"slice2 {dt}")
        c.emit("pad", x, lo=(1, 0, 2), hi=(0, 2, 1), interior=(1, 0, 2), what=f"pad {dt}")
        c.emit("reshape", x, shape=(6, 5), what=f"reshape {dt}")
        first = c.b.emit("slice", x, start=(0, 0, 0), stop=(1, 3, 5), step=(1, 1, 1))
        c.emit("broadcast", first, shape=(4, 3, 5), what=f"broadcast {dt}")
        for axis, ishape, idt in ((2, (2, 3), np.int32), (0, (3, 5), np.int64), (1, (2, 5), np.int8)):
            i = c.input(rng.integers(0, (2, 3, 5)[axis], ishape).astype(idt))
            c.emit("gather", x, i, axis=axis, what=f"gather axis {axis} {dt} by {idt.__name__}")
        for ax in (0, 1, 2, None):
            c.emit("argmax", x, axis=ax, keepdims=ax == 1, what=f"argmax {ax} {dt}")
        hot = c.input(rng.integers(0, 6, (2, 3)))
        c.emit("one_hot", hot, num_classes=6, dtype=dtypes.from_name(dt), what=f"one_hot {dt}")
    c.check()
    c.check(fuse=True)


def test_outputs_and_updates_that_alias_inputs_state_constants_or_each_other():
    rng = np.random.default_rng(10)
    g = Graph("aliases")
    b = Builder(g)
    x = g.add_input("x", tensor_type((3, 4), "f32"))
    s1, s2 = (g.add_state(k, tensor_type((3, 4), "f32")) for k in ("s1", "s2"))
    s3, s4 = g.add_state("s3", tensor_type((12,), "f32")), g.add_state("s4", tensor_type((3, 4), "f32"))
    y = b.emit("add", x, s1)
    g.outputs += [x, x, b.const(np.arange(12, dtype=np.float32).reshape(3, 4), "f32"),
                  b.emit("reshape", x, shape=(12,)), y, y, s1, b.emit("reshape", s3, shape=(3, 4)),
                  b.const(2.0, "f32")]
    g.updates.update({"s1": s2, "s2": s1,                        # a swap
                      "s3": b.emit("reshape", b.emit("exp", y), shape=(12,)),
                      "s4": b.emit("mul", s4, 2.0)})             # in place
    state = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in g.state.items()}
    xa = rng.standard_normal((3, 4)).astype(np.float32)
    for fuse in (False, True):
        got, native_state, want, updates = run_llvm(g, [xa], state, fuse=fuse)
        for k, (a, b2) in enumerate(zip(got, want)):
            assert_close(a, b2, f"output {k}")
        assert set(updates) == set(state)
        for k in updates:
            assert_close(native_state[k], updates[k], f"state {k}", (2e-6, 0.0))


def test_reshape_of_a_returned_value_used_later():
    def f(x):
        h = x * 2.0 + 1.0
        return h, graphc.exp(h.reshape(12)).sum()

    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    want = graphc.compile(f, backend="interpreter")(x)
    got = graphc.compile(f, backend="llvm")(x)
    assert_close(got[0], want[0], "h")
    assert_close(got[1], want[1], "sum", (1e-6, 0.0))


# ---- 4. matmul -----------------------------------------------------------------------------------

def _matmul_case(c: Cases, rng, shape_a, shape_b, ta, tb, dt="f32"):
    np_dt = dtypes.from_name(dt).np
    if dt[0] == "f":
        A, B = (rng.standard_normal(s).astype(np_dt) for s in (shape_a, shape_b))
    else:
        A, B = (rng.integers(-50, 50, s).astype(np_dt) for s in (shape_a, shape_b))
    a64, b64 = np.abs(A.astype(np.float64)), np.abs(B.astype(np.float64))
    if ta:
        a64 = np.swapaxes(a64, -1, -2)
    if tb:
        b64 = np.swapaxes(b64, -1, -2)
    eps = {"f32": 1e-6, "f64": 1e-14}.get(dt)
    tol = EXACT if eps is None else eps * (a64 @ b64) + 1e-30
    c.emit("matmul", c.input(A), c.input(B), transpose_a=ta, transpose_b=tb, tol=tol,
           what=f"{dt} {shape_a}{'^T' if ta else ''} @ {shape_b}{'^T' if tb else ''}")


def _mk(m, k, ta):
    return (k, m) if ta else (m, k)


def _assert_near_float64(c: Cases, got, ta, tb):
    """Each matmul case (inputs in pairs) within float32 rounding of float64 NumPy."""
    for j, out in enumerate(got):
        A, B = (x.astype(np.float64) for x in c.inputs[2 * j: 2 * j + 2])
        A, B = (A.T if ta else A), (B.T if tb else B)
        assert np.all(np.abs(out - A @ B) <= 1e-6 * (np.abs(A) @ np.abs(B)) + 1e-30), j


MM_SHAPES = [(1, 784, 128), (64, 784, 128), (10, 64, 10), (5, 7, 3), (13, 17, 19), (7, 9, 17),
             (6, 8, 16), (12, 33, 40), (2, 3, 1), (1, 1, 1), (19, 15, 23), (4, 100, 33)]


@pytest.mark.parametrize("ta, tb", [(False, False), (False, True), (True, False), (True, True)])
def test_matmul_f32_shapes_and_transposes(ta, tb):
    """M not a multiple of 6/3, N not of 8/16, K not of 8: every tail of both micro-kernels."""
    rng = np.random.default_rng(11)
    c = Cases(f"mm_{ta}_{tb}")
    for m, k, n in MM_SHAPES:
        _matmul_case(c, rng, _mk(m, k, ta), _mk(k, n, tb), ta, tb)
    got, _ = c.check()
    _assert_near_float64(c, got, ta, tb)   # not only the interpreter's float32 matmul


BIG_MM_SHAPES = [(300, 129, 301), (97, 1000, 50), (256, 784, 10), (12, 2048, 33), (1025, 64, 47),
                 (16, 64, 8), (17, 71, 40), (64, 784, 128), (15, 700, 130),  # x @ W^T's forms
                 (40, 5000, 33), (5, 9000, 6)]   # a 640 KB panel; too long to pack


@pytest.mark.parametrize("avx512", ["0", "1"])
@pytest.mark.parametrize("ta, tb", [(False, False), (False, True), (True, False), (True, True)])
def test_large_matmuls_split_over_tasks(monkeypatch, avx512, ta, tb):
    """Shapes big enough for the task grid (column panels x row blocks), with remainder columns
    and rows in several tasks' shares, on the 512-bit and the 256-bit tile: within float32
    rounding of float64, and the same bits on both tiles (the form never depends on them)."""
    monkeypatch.setenv("GRAPHC_AVX512", avx512)
    rng = np.random.default_rng(15)
    c = Cases(f"mm_big_{ta}_{tb}_{avx512}")
    for m, k, n in BIG_MM_SHAPES:
        _matmul_case(c, rng, _mk(m, k, ta), _mk(k, n, tb), ta, tb)
    got, _ = c.check()
    _assert_near_float64(c, got, ta, tb)
    monkeypatch.setenv("GRAPHC_AVX512", "1" if avx512 == "0" else "0")
    other, _ = c.check()
    for j, shape in enumerate(BIG_MM_SHAPES):
        assert got[j].tobytes() == other[j].tobytes(), shape


K_BLOCKED_SHAPES = [(37, 1000, 70), (300, 777, 301), (13, 2049, 40), (100, 513, 7),
                    (64, 1024, 128), (1024, 200, 40), (512, 300, 33),
                    (40, 9000, 37)]   # x @ W^T's panel beyond PACK_BYTES: swept on either tile


@pytest.mark.parametrize("avx512", ["0", "1"])
@pytest.mark.parametrize("ta, tb", [(False, False), (False, True), (True, False), (True, True)])
def test_k_blocked_matmuls_have_the_bits_of_one_sweep(monkeypatch, avx512, ta, tb):
    """Long panels of the 6 x 16 tile, and A^T with power-of-two rows on either tile, are swept
    one k block at a time (A's rows copied per block, the sums kept in the arena between
    blocks): odd shapes in tasks, remainder rows and columns, float64, a batch; the same bits
    as one pass over all k, and near float64."""
    from graphc.backend.llvm.kernels import matmul as mmk
    monkeypatch.setenv("GRAPHC_AVX512", avx512)
    monkeypatch.setattr(mmk, "l1_data_bytes", lambda: 32 * 1024)   # Zen 3's L1: any host
    rng = np.random.default_rng(16)
    c = Cases(f"mm_kblocked_{ta}_{tb}_{avx512}")
    for m, k, n in K_BLOCKED_SHAPES:
        if avx512 == "0" and (k > 384 or ta):
            assert mmk.sweep(m, k, ta, 64, 4) is not None, (m, k, n)
        _matmul_case(c, rng, _mk(m, k, ta), _mk(k, n, tb), ta, tb)
    got, _ = c.check()
    _assert_near_float64(c, got, ta, tb)
    _matmul_case(c, rng, _mk(29, 700, ta), _mk(700, 45, tb), ta, tb, "f64")
    _matmul_case(c, rng, (3,) + _mk(64, 700, ta), _mk(700, 40, tb), ta, tb)   # batched
    got, _ = c.check()
    monkeypatch.setattr(mmk, "sweep", lambda *a: None)   # one pass over all k
    other, _ = c.check()
    for j, out in enumerate(got):
        assert out.tobytes() == other[j].tobytes(), j


@pytest.mark.parametrize("avx512", ["0", "1"])
def test_padded_last_panel_has_the_bits_of_narrow_columns(monkeypatch, avx512):
    """The last columns of a packed panel (x @ W^T with 10 outputs, odd N) run as one tile of
    whole vectors over a zero-padded panel: the same bits as vectors of halving width and
    single columns, with a short and a long (row-loop) fused epilogue, every transpose."""
    from graphc.backend.llvm.kernels import matmul as mmk
    monkeypatch.setenv("GRAPHC_AVX512", avx512)
    rng = np.random.default_rng(17)
    c = Cases(f"mm_padded_{avx512}")
    b = c.b

    def f(*s):
        return rng.standard_normal(s).astype(np.float32)
    for (m, k, n), ta, tb in (((300, 64, 10), False, True), ((257, 70, 37), False, False),
                              ((64, 300, 17), True, False), ((40, 129, 41), True, True),
                              ((1024, 128, 10), False, True)):
        xa, wa = f(*_mk(m, k, ta)), f(*_mk(k, n, tb))
        A, B = (xa.T if ta else xa), (wa.T if tb else wa)
        tol = 2e-6 * (np.abs(A) @ np.abs(B)) + 1e-6
        y = b.emit("matmul", c.input(xa), c.input(wa), transpose_a=ta, transpose_b=tb)
        c.out(y, f"C {m}x{k}x{n}", tol)
        p = c.input(f(m, n))   # a parameter update: 4 ops, the epilogue's row loop
        c.out(b.emit("sub", p, b.emit("mul", b.emit("add", b.emit("mul", y, 0.5), p), 0.1)),
              f"update {m}x{k}x{n}", 0.05 * tol + 1e-6)
        c.out(b.emit("maximum", b.emit("add", y, 1.0), 0.0), f"relu(C + 1) {m}x{k}x{n}", tol)
    got, _ = c.check(fuse=True)
    monkeypatch.setattr(mmk, "PAD_REST", False)
    other, _ = c.check(fuse=True)
    for j, out in enumerate(got):
        assert out.tobytes() == other[j].tobytes(), c.checks[j][0]


K_BLOCKED_THREADS_SCRIPT = r"""
import sys, numpy as np, graphc
rng = np.random.default_rng(0)
outs = {}
for m, k, n in ((300, 777, 301), (1024, 1024, 64), (97, 1000, 50), (64, 9000, 40)):
    a, b = (rng.standard_normal(s).astype(np.float32) for s in ((m, k), (k, n)))
    for name, f in (("nn", lambda p, q: p @ q), ("tn", lambda p, q: p.T @ q),
                    ("nt", lambda p, q: p @ q.T)):
        p = a.T.copy() if name == "tn" else a
        q = b.T.copy() if name == "nt" else b
        outs[f"{name}{m}x{k}x{n}"] = graphc.compile(f)(p, q)
np.savez(sys.argv[1], **outs)
"""


def test_k_blocked_matmuls_do_not_depend_on_the_thread_count(tmp_path):
    """The 6 x 16 tile's K-blocked tasks (and x @ W^T's long-K sweep): the same bits with 1
    and 2 threads."""
    outs = {}
    for threads in ("1", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=threads, GRAPHC_AVX512="0")
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", K_BLOCKED_THREADS_SCRIPT, str(path)], env=env,
                       check=True, timeout=120)
        outs[threads] = dict(np.load(path))
    for k in outs["1"]:
        assert outs["1"][k].tobytes() == outs["2"][k].tobytes(), k


def test_matmul_plan_does_not_depend_on_the_vector_width(monkeypatch):
    """Form and packing follow from the shapes alone (their sums are ordered differently); the
    task grid covers at most 8 tasks."""
    from graphc.backend.llvm.kernels.matmul import plan
    for ta in (False, True):
        for tb in (False, True):
            for m in (1, 15, 16, 255, 256, 1000):
                for k in (8, 63, 64, 4096, 8192, 8193):
                    g = Graph("p")
                    b = Builder(g)
                    x = g.add_input("x", tensor_type(_mk(m, k, ta), "f32"))
                    w = g.add_input("w", tensor_type(_mk(k, 40, tb), "f32"))
                    mm = b.emit("matmul", x, w, transpose_a=ta, transpose_b=tb).producer
                    plans = []
                    for wide in ("1", "0"):
                        monkeypatch.setenv("GRAPHC_AVX512", wide)
                        plans.append(plan(mm, 8))
                    assert plans[0].form == plans[1].form, (m, k, ta, tb, plans)
                    assert all(1 <= p.tasks <= 8 for p in plans)
                    if k <= 8192 or not tb:
                        assert plans[0].form != "naive", (m, k, ta, tb)


def test_matmul_batched_broadcast_f64_and_integer():
    rng = np.random.default_rng(12)
    c = Cases("mm_batched")
    _matmul_case(c, rng, (2, 3, 4, 5), (5, 6), False, False)
    _matmul_case(c, rng, (2, 1, 4, 5), (3, 5, 6), False, False)          # broadcast batch
    _matmul_case(c, rng, (4, 5), (2, 3, 5, 6), False, False)
    _matmul_case(c, rng, (2, 3, 5, 4), (3, 6, 5), True, True)
    _matmul_case(c, rng, (2, 3, 4, 5), (2, 3, 6, 5), False, True)
    _matmul_case(c, rng, (3, 5, 4), (5, 6), True, False)
    for ta in (False, True):
        for tb in (False, True):
            for m, k, n in ((13, 17, 19), (6, 8, 16), (1, 9, 5), (7, 33, 9)):
                _matmul_case(c, rng, _mk(m, k, ta), _mk(k, n, tb), ta, tb, "f64")
            for dt in ("i64", "i32"):
                _matmul_case(c, rng, _mk(5, 7, ta), _mk(7, 3, tb), ta, tb, dt)
    _matmul_case(c, rng, (2, 3, 4), (1, 4, 5), False, False, "f64")
    _matmul_case(c, rng, (3, 2, 5, 4), (4, 6), False, False, "i64")
    c.check()


def test_matmul_fused_epilogues():
    """bias, ReLU as where(le(x, 0), 0, x) with its mask as a second output, tanh, an update."""
    rng = np.random.default_rng(13)
    c = Cases("mm_epilogue")
    b = c.b

    def f(*s):
        return rng.standard_normal(s).astype(np.float32)

    def scale(A, B):
        return 2e-6 * (np.abs(A) @ np.abs(B)) + 1e-6

    z = b.const(0.0, "f32")
    for (m, k, n) in ((13, 17, 19), (64, 784, 128), (1, 784, 128), (7, 9, 5)):
        xa, wa, ba = f(m, k), f(n, k), f(n)
        y = b.emit("add", b.emit("matmul", c.input(xa), c.input(wa), transpose_b=True),
                   c.input(ba))
        mask = b.emit("le", y, z)
        tol = scale(xa, wa.T)
        c.out(b.emit("where", mask, z, y), f"relu(x W^T + b) {m}x{k}x{n}", tol)
        c.out(y, f"pre-activation {m}x{k}x{n}", tol)          # a multi-output epilogue
        c.out(mask, f"relu mask {m}x{k}x{n}")
    xa, wa, ba = f(7, 9), f(9, 21), f(21)
    y = b.emit("matmul", c.input(xa), c.input(wa))
    c.out(b.emit("tanh", b.emit("add", y, c.input(ba))), "tanh(x W + b)", scale(xa, wa) + 1e-6)
    c.out(b.emit("mul", y, 2.0), "2 x W", 2 * scale(xa, wa))
    ga, xa2, wa2 = f(10, 6), f(10, 11), f(6, 11)
    gw = b.emit("matmul", c.input(ga), c.input(xa2), transpose_a=True)
    c.out(b.emit("sub", c.input(wa2), b.emit("mul", gw, 0.1)), "W - 0.1 g^T x",
          0.1 * scale(ga.T, xa2) + 1e-6)
    ia, iw = rng.integers(-5, 5, (5, 7)), rng.integers(-5, 5, (7, 3))
    c.out(b.emit("add", b.emit("matmul", c.input(ia), c.input(iw)), 1), "int64 x W + 1")
    fused = passes.fuse(c.g)
    kernels = [n for n in fused.nodes if n.op == "fused" and n.attrs["kind"] == "matmul"]
    assert len(kernels) >= 7 and all(len(n.attrs["body"].nodes) > 1 for n in kernels)
    c.check(fuse=True)
    c.check(fuse=False)


def test_large_matmul_is_deterministic_across_calls():
    """Split over the thread pool, yet every call (and any thread count) gives the same bits."""
    rng = np.random.default_rng(14)
    g = Graph("mm_big")
    b = Builder(g)
    x = g.add_input("x", tensor_type((256, 300), "f32"))
    w = g.add_input("w", tensor_type((300, 200), "f32"))
    g.outputs.append(b.emit("matmul", x, w))
    g.outputs.append(b.emit("matmul", w, x, transpose_a=True, transpose_b=True))
    exe = compile_graph(passes.plan_memory(g))
    xa, wa = rng.standard_normal((256, 300)).astype(np.float32), \
        rng.standard_normal((300, 200)).astype(np.float32)
    first = exe.run([xa, wa], [])
    for _ in range(5):
        again = exe.run([xa, wa], [])
        for a, b2 in zip(first, again):
            assert a.tobytes() == b2.tobytes()
    assert_close(first[0], xa @ wa, "x @ w", 1e-6 * (np.abs(xa) @ np.abs(wa)))
    assert_close(first[1], (xa @ wa).T, "w^T @ x^T", 1e-6 * (np.abs(xa) @ np.abs(wa)).T)


SUBPROCESS_SCRIPT = r"""
import sys, numpy as np, graphc
from graphc import nn, optim
graphc.manual_seed(0)
net = nn.Sequential(nn.Linear(300, 256), nn.ReLU(), nn.Linear(256, 10))
opt = optim.Adam(net.parameters(), lr=1e-3)
crit = nn.CrossEntropyLoss()
@graphc.compile(backend="llvm")
def step(x, y):
    opt.zero_grad(); loss = crit(net(x), y); loss.backward(); opt.step(); return loss
rng = np.random.default_rng(0)
x = rng.standard_normal((128, 300)).astype(np.float32); y = rng.integers(0, 10, 128)
losses = [step(x, y) for _ in range(2)]
np.savez(sys.argv[1], losses=np.array(losses), **net.state_dict())
"""


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    outs = {}
    for threads in ("1", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=threads)
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", SUBPROCESS_SCRIPT, str(path)], env=env,
                       check=True, timeout=120)
        outs[threads] = dict(np.load(path))
    for k in outs["1"]:
        assert outs["1"][k].tobytes() == outs["2"][k].tobytes(), k


ODD_TRAINING_SCRIPT = r"""
import sys, numpy as np, graphc
from graphc import nn, optim
graphc.manual_seed(0)
net = nn.Sequential(nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 37))
opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
crit = nn.CrossEntropyLoss()
@graphc.compile(backend=sys.argv[2])
def step(x, y):
    opt.zero_grad(); loss = crit(net(x), y); loss.backward(); opt.step(); return loss
rng = np.random.default_rng(0)
losses = []
for batch in (300, 50, 300):   # the broadcast form with packed W^T panels; the dot form
    x = rng.standard_normal((batch, 300)).astype(np.float32); y = rng.integers(0, 37, batch)
    losses.append(step(x, y))
np.savez(sys.argv[1], losses=np.array(losses), **net.state_dict())
"""


def test_fused_updates_on_the_task_grid_match_the_interpreter(tmp_path):
    """Odd layer sizes: the weight gradient 100 x 300 has 10 column panels for 8 tasks, so some
    tasks have an empty share; a fused in-place update applied twice (or skipped) anywhere would
    show. Same bits for 1 and 2 threads and for both tiles; the interpreter within rounding."""
    outs = {}
    for threads, avx512 in (("1", "1"), ("2", "1"), ("2", "0")):
        env = dict(os.environ, GRAPHC_NUM_THREADS=threads, GRAPHC_AVX512=avx512)
        path = tmp_path / f"t{threads}{avx512}.npz"
        subprocess.run([sys.executable, "-c", ODD_TRAINING_SCRIPT, str(path), "llvm"], env=env,
                       check=True, timeout=120)
        outs[threads, avx512] = dict(np.load(path))
    path = tmp_path / "interp.npz"
    subprocess.run([sys.executable, "-c", ODD_TRAINING_SCRIPT, str(path), "interpreter"],
                   check=True, timeout=120)
    want = dict(np.load(path))
    ref = outs["1", "1"]
    for key, got in outs.items():
        for k in ref:
            assert got[k].tobytes() == ref[k].tobytes(), (key, k)
    for k in ref:
        np.testing.assert_allclose(ref[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)


# ---- 5. index errors: an error, never a crash or corrupted parameters ---------------------------

def test_out_of_range_indices_make_the_native_call_fail():
    g = Graph("idx")
    b = Builder(g)
    x = g.add_input("x", tensor_type((4, 5), "f32"))
    i = g.add_input("i", tensor_type((4,), "i64"))
    g.outputs.append(b.emit("gather", x, i, axis=1))
    g.outputs.append(b.emit("one_hot", i, num_classes=5, dtype=dtypes.float32))
    xa = np.arange(20, dtype=np.float32).reshape(4, 5)
    for fuse in (False, True):
        exe = compile_graph(passes.plan_memory(passes.fuse(g) if fuse else g))
        got = exe.run([xa, np.array([0, 4, 2, 3])], [])
        assert got[0].tolist() == [0.0, 9.0, 12.0, 18.0]
        for bad in ([0, 1, 5, 2], [0, -1, 2, 3], [2**40, 0, 0, 0]):
            with pytest.raises(graphc.ExecutionError, match="out of range"):
                exe.run([xa, np.array(bad)], [])
        assert exe.run([xa, np.array([4, 3, 2, 1])], [])[0].tolist() == [4.0, 8.0, 12.0, 16.0]


def test_out_of_range_gather_through_compile_is_an_execution_error():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    direct = graphc.compile(lambda x, i: graphc.gather(x, 1, i) * 2.0, backend="llvm")
    # an index computed in the graph is checked by the native code, not before the call
    computed = graphc.compile(lambda x, i: graphc.gather(x, 1, i.reshape(-1, 1) + 0) * 2.0,
                              backend="llvm")
    np.testing.assert_array_equal(direct(x, np.array([3, 0, 1])), [6.0, 8.0, 18.0])
    np.testing.assert_array_equal(computed(x, np.array([3, 0, 1])), [[6.0], [8.0], [18.0]])
    for f in (direct, computed):
        for bad in ([0, 4, 1], [-5, 0, 0]):
            with pytest.raises(graphc.ExecutionError, match="out of range"):
                f(x, np.array(bad))
        assert f(x, np.array([0, 0, 0])).ravel().tolist() == [0.0, 8.0, 16.0]
    hot = graphc.compile(lambda i: graphc.one_hot(i, 3) * 1, backend="llvm")
    with pytest.raises(graphc.ExecutionError):
        hot(np.array([0, 3]))


def _ce_adam_step(label_transform=lambda y: y):
    graphc.manual_seed(19)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    opt = optim.Adam(net.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()

    @graphc.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), label_transform(y))
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def _everything(net, opt) -> dict:
    out = {k: np.array(v, copy=True) for k, v in net.state_dict().items()}
    for i, p in enumerate(net.parameters()):
        for s, v in opt.state[p].items():
            out[f"{i}.{s}"] = np.array(v.numpy(), copy=True)
    return out


def _bad_label_leaves_state_untouched(label_transform, offset):
    net, opt, step = _ce_adam_step(label_transform)
    rng = np.random.default_rng(20)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = rng.integers(0, 4, 5) + offset
    step(x, y)
    step(x, y)                                   # optimizer state exists now
    before = _everything(net, opt)
    bad = y.copy()
    bad[3] = 4 + offset
    with pytest.raises(graphc.ExecutionError):
        step(x, bad)
    after = _everything(net, opt)
    assert set(after) == set(before)
    for k in before:
        assert before[k].tobytes() == after[k].tobytes(), f"{k} changed by the failed call"
    step(x, y)                                   # and training goes on
    assert not np.array_equal(net.state_dict()["0.weight"], before["0.weight"])


def test_bad_class_label_raises_before_any_parameter_changes():
    _bad_label_leaves_state_untouched(lambda y: y, 0)


def test_bad_computed_class_label_leaves_parameters_untouched():
    _bad_label_leaves_state_untouched(lambda y: y - 1, 1)


# ---- 6. the object cache -------------------------------------------------------------------------

def _cache_graph(tag: float) -> tuple[Graph, list]:
    """A small graph whose IR is unique to `tag` (so no other test shares its cache entry)."""
    g = Graph("cached")
    b = Builder(g)
    x = g.add_input("x", tensor_type((5, 9), "f32"))
    g.outputs.append(b.emit("sum", b.emit("exp", b.emit("mul", x, tag)), axis=(1,)))
    return passes.plan_memory(g), [np.linspace(-1, 1, 45, dtype=np.float32).reshape(5, 9)]


def test_compile_graph_needs_a_memory_plan():
    """The backend runs no passes: an unplanned graph is an error that says what to run."""
    g = Graph("unplanned")
    b = Builder(g)
    g.outputs.append(b.emit("exp", g.add_input("x", tensor_type((4,), "f32"))))
    with pytest.raises(graphc.errors.CompileError, match=r"passes\.plan_memory\(g\)"):
        compile_graph(g)
    (out,) = compile_graph(passes.plan_memory(g)).run([np.zeros(4, np.float32)], [])
    np.testing.assert_array_equal(out, np.ones(4, np.float32))


def _objects(d) -> list:
    return sorted(p for p in d.rglob("*.o"))


def _check_cached(tag, exe, inputs):
    got = exe.run(inputs, [])[0]
    want = np.exp(inputs[0].astype(np.float64) * np.float32(tag)).sum(1)
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    tag = 1.0 + 0.125 * ["flip", "truncate", "empty", "garbage"].index(damage) + 0.0009765625
    g, inputs = _cache_graph(tag)
    llvm_cache.clear_memory()
    exe = compile_graph(g)
    assert "llvm-compile" in exe.seconds
    objs = _objects(tmp_path)          # the entry's object and each kernel's
    assert len(objs) >= 2
    good = [o.read_bytes() for o in objs]
    llvm_cache.clear_memory()
    assert "cache-load" in compile_graph(g).seconds   # intact entries are used
    for obj, ok in zip(objs, good):
        data = bytearray(ok)
        if damage == "flip":
            for k in range(len(data) // 2, len(data) // 2 + 16):
                data[k] ^= 0xFF
        elif damage == "truncate":
            data = data[: len(data) // 3]
        elif damage == "empty":
            data = bytearray()
        else:
            data = bytearray(os.urandom(len(data)))
        obj.write_bytes(bytes(data))
    llvm_cache.clear_memory()
    exe = compile_graph(g)
    assert "llvm-compile" in exe.seconds, "a corrupt entry must be rebuilt, not loaded"
    _check_cached(tag, exe, inputs)
    assert [o.read_bytes() for o in objs] == good     # rewritten intact
    llvm_cache.clear_memory()


def test_cache_disabled_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    g, inputs = _cache_graph(2.0009765625)
    llvm_cache.clear_memory()
    exe = compile_graph(g)
    _check_cached(2.0009765625, exe, inputs)
    assert list(tmp_path.rglob("*")) == []
    llvm_cache.clear_memory()


def _unwritable_cache_still_works(monkeypatch, cache_dir, tag):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    g, inputs = _cache_graph(tag)
    llvm_cache.clear_memory()
    with pytest.warns(RuntimeWarning, match="cache"):
        exe = compile_graph(g)
    _check_cached(tag, exe, inputs)
    llvm_cache.clear_memory()


def test_unwritable_cache_dir_warns_and_still_works(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        if os.access(d, os.W_OK):
            pytest.skip("running as root: chmod does not make the directory unwritable")
        _unwritable_cache_still_works(monkeypatch, d, 3.0009765625)
    finally:
        d.chmod(0o700)


def test_cache_dir_that_cannot_be_created_warns_and_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    _unwritable_cache_still_works(monkeypatch, blocker / "cache", 4.0009765625)


# ---- 7. IR and assembly dumps, and concurrent inference ------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def test_llvm_ir_and_assembly_stages():
    graphc.manual_seed(0)
    infer = graphc.compile(Net(), backend="llvm")
    infer(np.zeros((8, 784), np.float32))
    llvm_ir = infer.ir("llvm")
    assert "define" in llvm_ir and "graphc_main" in llvm_ir
    asm = infer.ir("asm")
    assert "graphc_main" in asm
    if target.host()["avx2"]:
        assert "vfmadd" in asm and "ymm" in asm, "the matmul should use AVX2 FMA on this machine"


def test_concurrent_inference_from_two_threads():
    graphc.manual_seed(1)
    net = Net()
    infer = graphc.compile(net, backend="llvm")
    ref = graphc.compile(net, backend="interpreter")
    rng = np.random.default_rng(15)
    # batch 4: inputs go through per-thread staging buffers; batch 64: the pooled matmul path
    data = {t: [rng.standard_normal((4 if t == 0 else 64, 784)).astype(np.float32)
                for _ in range(5)] for t in range(2)}
    want = {t: [ref(x) for x in data[t]] for t in range(2)}
    for t in range(2):
        infer(data[t][0])                               # compile both signatures first
    errors: list = []

    def worker(t):
        try:
            for k in range(100):
                x = data[t][k % 5]
                y = infer(x)
                w = want[t][k % 5]
                if not np.allclose(y, w, rtol=1e-5, atol=1e-5):
                    errors.append(f"thread {t} call {k}: max diff {np.abs(y - w).max()}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {t}: {e!r}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]

    # two threads on the SAME signature: one executable, per-thread arenas and buffers
    threads = [threading.Thread(target=worker, args=(1,)) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]


def test_bounds_checked_build_finds_no_out_of_bounds_access(monkeypatch):
    """GRAPHC_BOUNDS_CHECK=1 builds check every kernel load/store: tails, epilogues, gathers."""
    monkeypatch.setenv("GRAPHC_BOUNDS_CHECK", "1")
    rng = np.random.default_rng(16)
    c = Cases("bounds")
    b = c.b
    for n in (1, 7, 9, 17, 33):
        xa = rng.standard_normal((3, n)).astype(np.float32)
        x = c.input(xa)
        m = b.emit("max", x, axis=(1,), keepdims=True)
        e = b.emit("exp", b.emit("sub", x, m))
        c.out(b.emit("div", e, b.emit("sum", e, axis=(1,), keepdims=True)), f"softmax n={n}",
              (1e-5, 1e-7))
        c.emit("sum", x, axis=(0,), what=f"sum0 n={n}", tol=sum_tol(xa, (0,)))
        c.emit("argmax", x, axis=1)
        c.emit("transpose", x, perm=(1, 0))
        c.emit("gather", x, c.input(rng.integers(0, n, (3,))), axis=1)
    for m_, k, n in ((7, 9, 17), (13, 17, 19), (1, 33, 5)):
        for ta, tb in ((False, False), (False, True), (True, False)):
            _matmul_case(c, rng, _mk(m_, k, ta), _mk(k, n, tb), ta, tb)
    c.check(fuse=True)   # rc 2 (an out-of-bounds access) would raise ExecutionError
    c.check(fuse=False)


def test_identical_kernels_are_emitted_once():
    """Three layers of the same shapes: each layer's kernels are one function called three
    times (with each layer's buffers), and the step computes what the interpreter does."""
    from graphc.backend.llvm.codegen import build_module
    graphc.manual_seed(0)
    net = graphc.nn.Sequential(*[graphc.nn.Sequential(graphc.nn.Linear(16, 16),
                                                      graphc.nn.Tanh()) for _ in range(3)])
    opt = graphc.optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (net(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    snapshot = [p.numpy().copy() for p in net.parameters()]
    native = graphc.compile(step)
    losses = [float(native(x)) for _ in range(3)]
    for p, a in zip(net.parameters(), snapshot):
        p.data = a
    interp = graphc.compile(step, backend="interpreter")
    np.testing.assert_allclose(losses, [float(interp(x)) for _ in range(3)], rtol=1e-5)
    graph = next(iter(native._cache.values())).graph
    _, kernel_texts, layout = build_module(graph, vector_math=True)
    functions = re.findall(r'^define void @"(gk_\w+?)"', "\n".join(kernel_texts), re.M)
    functions = [f for f in functions if not f.endswith("_task")]
    assert len(layout.kernels) >= 3 * 4
    assert len(functions) <= len(layout.kernels) - 4, (functions, layout.kernels)


def test_kernels_differing_only_in_a_baked_constant_are_not_shared():
    """A loop kernel bakes a one-element constant it reads (here a (1, 1) multiplier of an
    unfused kernel): two such kernels with different constants are two functions, not one
    called twice (the kernel dedupe once missed the constant's value and gave 2x for 3x)."""
    from graphc.ir import Builder, Graph, tensor_type
    from graphc.ir.interpreter import run as interpret
    g = Graph("baked")
    x = g.add_input("x", tensor_type((4, 6), "f32"))
    b = Builder(g)
    outs = []
    for c in (2.0, 3.0):
        k = b.emit("constant", value=np.array([[c]], np.float32))
        outs.append(b.mul(b.emit("max", x, axis=(1,), keepdims=True), k))
    g.outputs = outs
    final = passes.plan_memory(g)     # unfused: each mul is a kernel of its own
    xs = [np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)]
    want, _ = interpret(final, xs, {})
    for w, got in zip(want, compile_graph(final).run(xs, [])):
        np.testing.assert_array_equal(got, w)
