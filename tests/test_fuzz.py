"""Fuzzing beyond float32: the random graphs of test_passes.fuzz_cases in float64, random integer
graphs, and gradients of random float64 graphs against finite differences.

Each fuzzed graph is checked for all five properties of issue 8: the verifier accepts it;
print -> parse -> print round-trips (before and after the pipeline); every pass keeps the
interpreter's results; the LLVM backend equals the interpreter; and (float64, differentiable
graphs) the gradient graph equals central finite differences along a random direction.
Random models written with the public API (graphc functions and Tensor methods) are checked
the same way: LLVM == interpreter == eager for the loss, LLVM == interpreter for the gradient,
and the float64 gradient against finite differences.
The float32 graphs themselves are fuzzed in tests/test_passes.py (passes) and
tests/test_fuzz_llvm.py (LLVM). GRAPHC_FUZZ_LONG=1 turns all of them into a long run.
"""
from __future__ import annotations

import os

import numpy as np
from golden_util import assert_close, random_args, roundtrip
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_passes import SHAPES, _broadcastable, _can_bc, fuzz_cases

import graphc
from graphc.backend.llvm import compile_graph
from graphc.ir.interpreter import run
from graphc.ir import Builder, Graph, parse, print_graph, tensor_type, verify
from passes.autodiff import autodiff
from passes.manager import DEFAULT_PIPELINE, PASSES, run_pipeline

LONG = os.environ.get("GRAPHC_FUZZ_LONG") == "1"


def fuzz_settings(ci: int, long: int = 1000):
    """Hypothesis settings: `ci` derandomized examples, or `long` random ones under the env var."""
    return settings(max_examples=long if LONG else ci, deadline=None, derandomize=not LONG,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def as_f64(g: Graph) -> Graph:
    """The same graph with every float32 replaced by float64 (through its text)."""
    return verify(parse(print_graph(g).replace("f32", "f64")))


def check_graph(g: Graph, inputs, state, rtol: float, atol: float, native: bool = True):
    """Verifier, round trips, every pass and the pipeline on the interpreter, and LLVM."""
    verify(g)
    roundtrip(g)
    ref_graph = autodiff(g)
    want_out, want_up = run(ref_graph, inputs, state)

    def same(graph, got_out, got_up, what):
        for j, (a, b) in enumerate(zip(want_out, got_out)):
            assert_close(a, b, rtol, atol, f"{what}: output {j}")
        for k, v in want_up.items():
            assert_close(v, got_up[k], rtol, atol, f"{what}: update %{k}")

    for name, fn in PASSES.items():
        out = fn(g if name == "autodiff" else ref_graph)
        same(out, *run(roundtrip(out), inputs, state), name)
    final = run_pipeline(g, DEFAULT_PIPELINE).graph
    same(final, *run(roundtrip(final), inputs, state), "pipeline")
    if native:
        arrays = {k: np.array(v) for k, v in state.items()}
        outs = compile_graph(final).run(list(inputs), [arrays[k] for k in final.state])
        same(final, outs, arrays, "llvm")


# ---- float64 ----------------------------------------------------------------------------------

@fuzz_settings(ci=20)
@given(case=fuzz_cases(), seed=st.integers(0, 2**32 - 1))
def test_float64_graphs_through_passes_and_llvm(case, seed):
    g = as_f64(case[0])
    inputs, state = random_args(g, np.random.default_rng(seed))
    check_graph(g, inputs, state, rtol=1e-9, atol=1e-12)


# ---- integer graphs ---------------------------------------------------------------------------

INT_BINARY = ["add", "sub", "mul", "maximum", "minimum"]


@st.composite
def int_cases(draw):
    """(graph, inputs, state): a random i32/i64 graph (arithmetic, comparisons, where, reductions,
    data movement, casts); small values so that nothing overflows."""
    dt = draw(st.sampled_from(["i32", "i64"]))
    g = Graph("ifuzz")
    b = Builder(g, "ifuzz.py:1")
    vals = [g.add_input(f"x{i}", tensor_type(draw(st.sampled_from(SHAPES)), dt))
            for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        vals.append(g.add_state("w", tensor_type(draw(st.sampled_from(SHAPES[1:])), dt)))
    for _ in range(draw(st.integers(1, 8))):
        x = draw(st.sampled_from(vals))
        kind = draw(st.sampled_from(["binary", "binary", "unary", "where", "reduce", "transpose",
                                     "broadcast", "cast"]))
        nd = x.type.ndim
        if kind == "binary":
            ys = [v for v in vals if _broadcastable(v.shape, x.shape)]
            y = draw(st.sampled_from(ys)) if draw(st.booleans()) else \
                b.const(draw(st.integers(-3, 3)), dt)
            v = b.emit(draw(st.sampled_from(INT_BINARY)), x, y)
            if v.type.size and abs(v.type.size) > 10**6:
                continue
        elif kind == "unary":
            v = b.emit(draw(st.sampled_from(["neg", "abs"])), x)
        elif kind == "where":
            ys = [v for v in vals if _broadcastable(v.shape, x.shape)]
            y = draw(st.sampled_from(ys))
            v = b.where(b.emit(draw(st.sampled_from(["gt", "eq", "lt"])), x, y), x, y)
        elif kind == "reduce":
            axes = tuple(sorted(draw(st.sets(st.integers(0, nd - 1), min_size=1)))) \
                if nd and draw(st.booleans()) else None
            v = b.emit(draw(st.sampled_from(["sum", "max"])), x, axis=axes,
                       keepdims=draw(st.booleans()))
        elif kind == "transpose" and nd >= 2:
            v = b.transpose(x, perm=tuple(draw(st.permutations(range(nd)))))
        elif kind == "broadcast":
            shape = tuple(3 if d == 1 else d for d in x.shape)
            if shape == x.shape:
                shape = (2,) + shape
            if not _can_bc(x.shape, shape):
                continue
            v = b.broadcast(x, shape=shape)
        elif kind == "cast":
            other = draw(st.sampled_from(["i32", "i64", "f32", "f64"]))
            v = b.cast(b.cast(x, dtype=other), dtype=dt)
        else:
            continue
        if v.dtype.name != dt:
            continue
        vals.append(v)
    outs = [v for v in vals if v.producer is not None] or [b.neg(vals[0])]
    g.outputs = [outs[-1]] + [v for v in outs[:-1] if draw(st.booleans())][:2]
    if "w" in g.state:
        w = g.state["w"]
        same = [v for v in outs if v.type == w.type]
        g.updates["w"] = draw(st.sampled_from(same)) if same else b.add(w, b.const(1, dt))
    verify(g)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs = [rng.integers(-20, 21, v.shape).astype(v.dtype.np) for v in g.inputs]
    state = {k: rng.integers(-20, 21, v.shape).astype(v.dtype.np) for k, v in g.state.items()}
    return g, inputs, state


@fuzz_settings(ci=30)
@given(case=int_cases())
def test_integer_graphs_through_passes_and_llvm(case):
    g, inputs, state = case
    check_graph(g, inputs, state, rtol=0, atol=0)


# ---- gradients against finite differences ----------------------------------------------------

def _loss_graph(g: Graph, weights: np.ndarray) -> Graph:
    """g with one output: sum(out0 * weights), a scalar."""
    b = Builder(g, "fd.py:1")
    out = g.outputs[0]
    g.outputs = [b.sum(b.mul(out, b.const(weights, "f64")), axis=None, keepdims=False)]
    g.updates = {}
    return verify(g)


def _with_grads(g: Graph) -> tuple[Graph, list[str]]:
    """A copy of the loss graph that also returns d loss / d every float input and state."""
    h = parse(print_graph(g))
    b = Builder(h, "fd.py:2")
    wrt = [v for v in list(h.inputs) + list(h.state.values()) if v.dtype.is_float]
    grads = b.emit_node("grad", h.outputs[0], b.const(1.0, "f64"), *wrt).outputs
    h.outputs = [h.outputs[0], *grads]
    return verify(h), [v.name for v in wrt]


@fuzz_settings(ci=40)
@given(case=fuzz_cases(), seed=st.integers(0, 2**32 - 1))
def test_gradient_graph_equals_finite_differences(case, seed):
    g0 = case[0]
    assume(not any(n.op == "grad" for n in g0.nodes))
    rng = np.random.default_rng(seed)
    g = as_f64(g0)
    weights = rng.standard_normal(g.outputs[0].shape)
    g = _loss_graph(g, weights)
    gg, names = _with_grads(g)
    assume(names)
    inputs, state = random_args(g, rng)
    names_in = [v.name for v in g.inputs]
    direction = {n: rng.standard_normal(v.shape) for n, v in
                 list(zip(names_in, g.inputs)) + list(g.state.items()) if n in names}

    def loss(t: float) -> float:
        ins = [a + t * direction[n] if n in direction else a for n, a in zip(names_in, inputs)]
        sts = {k: a + t * direction[k] if k in direction else a for k, a in state.items()}
        return float(run(g, ins, sts)[0][0])

    h = 1e-6
    l0, lp, lm = loss(0.0), loss(h), loss(-h)
    assume(np.isfinite([l0, lp, lm]).all() and abs(l0) < 1e8)
    fwd, bwd, central = (lp - l0) / h, (l0 - lm) / h, (lp - lm) / (2 * h)
    # a kink (abs, max, relu-like where, floor) within h: the one-sided slopes disagree
    assume(abs(fwd - bwd) <= 1e-4 * (1 + abs(central)))
    final = run_pipeline(gg, DEFAULT_PIPELINE).graph
    outs, _ = run(final, inputs, state)
    assert_close(np.float64(l0), outs[0], 1e-9, 1e-12, "loss")
    grads = dict(zip(names, outs[1:]))
    assume(all(np.isfinite(a).all() for a in grads.values()))
    analytic = sum(float(np.sum(grads[n] * d)) for n, d in direction.items())
    scale = sum(float(np.sum(np.abs(grads[n] * d))) for n, d in direction.items())
    assert abs(analytic - central) <= 1e-5 * (1 + scale), (analytic, central, names)
    # the same gradient graph on the LLVM backend, in float64
    native = compile_graph(final).run(list(inputs), [np.array(state[k]) for k in final.state])
    for n, a in zip(names, native[1:]):
        assert_close(grads[n], a, 1e-9, 1e-12, f"llvm gradient %{n}")


# ---- the public API: random models built from graphc functions and Tensor methods -------------

API_OPS = [  # (name, function of a Tensor, needs ndim >= 2)
    ("relu", lambda t: graphc.relu(t), 0), ("sigmoid", lambda t: t.sigmoid(), 0),
    ("tanh", lambda t: t.tanh(), 0), ("gelu", lambda t: graphc.gelu(t), 0),
    ("abs", lambda t: t.abs(), 0), ("neg", lambda t: -t, 0), ("square", lambda t: t * t, 0),
    ("affine", lambda t: t * 0.5 + 1.5, 0), ("rdiv", lambda t: t / (1 + t.abs()), 0),
    ("clamp", lambda t: t.clamp(-1.0, 1.0), 0), ("leaky", lambda t: graphc.where(t > 0, t, t * 0.1), 0),
    ("maximum", lambda t: graphc.maximum(t, 0.2), 0), ("exp", lambda t: t.clamp(-5.0, 5.0).exp(), 0),
    ("log", lambda t: (t * t + 1).log(), 0), ("sqrt", lambda t: (t * t + 0.5).sqrt(), 0),
    ("softmax", lambda t: t.softmax(-1), 1), ("log_softmax", lambda t: t.log_softmax(-1), 1),
    ("center", lambda t: t - t.mean(-1, keepdim=True), 1),
    ("sum", lambda t: t.sum(-1, keepdim=True) * 0.3, 1), ("amax", lambda t: t.amax(-1, keepdim=True), 1),
    ("mean0", lambda t: t.mean(0), 2), ("transpose", lambda t: t.transpose(-1, -2), 2),
    ("gram", lambda t: t @ t.transpose(-1, -2) * 0.1, 2), ("flatten", lambda t: t.flatten(), 2),
    ("unsqueeze", lambda t: t.unsqueeze(0), 0),
]


@st.composite
def api_models(draw):
    """(ops, shape, seed): a chain of public-API ops applied to parameter * input."""
    shape = draw(st.sampled_from([(3,), (2, 3), (4, 5), (2, 3, 4)]))
    ops, nd = [], len(shape)
    for _ in range(draw(st.integers(1, 6))):
        name, fn, need = draw(st.sampled_from(API_OPS))
        if nd < need or (need and nd == 0):
            continue
        ops.append((name, fn))
        nd = {"mean0": nd - 1, "flatten": 1, "unsqueeze": nd + 1}.get(name, nd)
        if nd == 0:
            break
    return ops, shape, draw(st.integers(0, 2**32 - 1))


def _api_step(ops, shape, backend, dtype, seed):
    from graphc import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(seed)
            self.p = nn.Parameter(rng.standard_normal(shape).astype(np.float32).astype(dtype))

        def forward(self, x):
            t = self.p * x + 0.25
            for _, fn in ops:
                t = fn(t)
            return t

    m = M()

    def step(x, w):
        m.p.grad = None
        out = m(x)
        loss = (out * w).sum()
        loss.backward()
        return loss, m.p.grad
    return m, graphc.compile(step, backend=backend)


@fuzz_settings(ci=25)
@given(model=api_models())
def test_random_api_models_agree_on_both_backends_and_with_finite_differences(model):
    ops, shape, seed = model
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    m32, native = _api_step(ops, shape, "llvm", np.float32, seed)
    out_shape = m32(x).shape
    w = rng.standard_normal(out_shape).astype(np.float32)
    _, interp = _api_step(ops, shape, "interpreter", np.float32, seed)
    (l_n, g_n), (l_i, g_i) = native(x, w), interp(x, w)
    names = [n for n, _ in ops]
    eager = np.float32(np.sum(m32(x).numpy() * w, dtype=np.float32))  # op by op, not traced
    assert_close(l_i, eager, 1e-4, 1e-5, f"eager loss {names}")
    m64, f64 = _api_step(ops, shape, "interpreter", np.float64, seed)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    p0 = np.array(m64.p.data)
    l64, grad = f64(x64, w64)
    # float32 on LLVM must be about as accurate as float32 in NumPy, both against float64 (a
    # chain like tanh(exp(exp(x))) turns one ulp of tanh into a large relative gradient error)
    for what, n, i, exact in (("loss", l_n, l_i, l64), ("grad", g_n, g_i, grad)):
        n, i, exact = (np.asarray(a, np.float64) for a in (n, i, exact))
        np.testing.assert_array_equal(np.isfinite(n), np.isfinite(i), f"{what} {names}")
        ok = np.isfinite(n) & np.isfinite(exact)
        if ok.any():
            scale = np.abs(exact[ok]).max()
            err_n, err_i = np.abs(n - exact)[ok].max(), np.abs(i - exact)[ok].max()
            assert err_n <= 4 * err_i + 1e-5 * scale + 1e-7, (what, names, err_n, err_i, scale)
    d = rng.standard_normal(shape)

    def loss_at(t):
        m64.p.data[...] = p0 + t * d
        return float(np.sum(m64(x64).numpy() * w64))
    h = 1e-6
    l0, lp, lm = loss_at(0.0), loss_at(h), loss_at(-h)
    m64.p.data[...] = p0
    fwd, bwd, central = (lp - l0) / h, (l0 - lm) / h, (lp - lm) / (2 * h)
    assume(np.isfinite([l0, lp, lm]).all() and abs(fwd - bwd) <= 1e-4 * (1 + abs(central)))
    analytic = float(np.sum(np.asarray(grad) * d))
    assert abs(analytic - central) <= 1e-5 * (1 + float(np.sum(np.abs(np.asarray(grad) * d)))), \
        (names, analytic, central)
