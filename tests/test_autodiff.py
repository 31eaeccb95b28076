"""Symbolic autodiff: every op's gradient rule vs central finite differences (float64) and
PyTorch (float32), un-broadcasting, fan-out, gradient cuts, Tensor.backward() inside
graphc.compile for composite functions, custom autograd.Functions, and backward() errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import dtypes, nn
from graphc.ir.interpreter import run
from graphc.ir import NONDIFF, OPS, Builder, Graph, Sample, tensor_type, verify
from passes import autodiff, gradients
import loss_oracles  # lse, take_class
import test_conv as conv_oracles  # unfold, fold
import pool_oracles  # max_pool

import index_oracles

# ---- operands and one-op graphs -----------------------------------------------------------------

TIE_OPS = {"max", "maximum", "minimum", "abs"}   # non-differentiable where values tie / at 0


def make_operand(spec, rng: np.random.Generator, float_dtype) -> np.ndarray:
    """A sample operand spec as an array; float operands become `float_dtype` (f32 -> f64)."""
    if isinstance(spec, np.ndarray):
        a = spec
    else:
        dt, shape, domain = spec
        np_dt = dtypes.from_name(dt).np
        if domain == "bool":
            return rng.random(shape) < 0.5
        if domain.startswith("int:"):
            return rng.integers(0, int(domain[4:]), shape).astype(np_dt)
        if domain == "pos":
            a = rng.uniform(0.5, 2.0, shape)
        elif domain == "unit":
            a = rng.uniform(-0.9, 0.9, shape)
        else:
            assert domain == "any", f"unknown domain {domain!r}"
            a = rng.standard_normal(shape)
        a = a.astype(np_dt)
    return a.astype(float_dtype) if a.dtype.kind == "f" else a.copy()


def away_from_kinks(op: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Move operands off the points where `op` is not differentiable (ties, |x| = 0)."""
    arrays = [a.copy() for a in arrays]
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if op == "max":
        for i in floats:   # order-preserving spread: distinct values at least 1e-3 apart
            a = arrays[i]
            arrays[i] = a + np.argsort(np.argsort(a, axis=None)).reshape(a.shape) * 1e-3
    if op == "abs":
        for i in floats:
            a = arrays[i]
            arrays[i] = np.where(np.abs(a) < 0.05, np.where(a < 0, a - 0.1, a + 0.1), a)
    if op in ("maximum", "minimum"):
        x, y = arrays
        while (np.abs(x - y) < 1e-2).any():   # shift one operand until no pair is near a tie
            y = y + 0.0371
        arrays[1] = y
    return arrays


def one_op_graph(op: str, arrays, attrs):
    g = Graph(f"{op}_grad")
    ins = [g.add_input(f"a{i}", tensor_type(a.shape, dtypes.from_numpy(a.dtype)))
           for i, a in enumerate(arrays)]
    y = Builder(g, "test").emit(op, *ins, **attrs)
    return g, ins, y


# ---- gradient cases: every sample of every differentiable op, plus edge cases -------------------

EXTRA = {   # cases the registry samples do not reach (odd axes, batch broadcasting, strides...)
    "matmul": [Sample([("f32", (3, 4), "any"), ("f32", (2, 4, 5), "any")]),
               Sample([("f32", (2, 1, 3, 4), "any"), ("f32", (3, 4, 5), "any")]),
               Sample([("f32", (2, 4, 3), "any"), ("f32", (2, 5, 4), "any")],
                      {"transpose_a": True, "transpose_b": True})],
    "gather": [Sample([("f32", (2, 3, 4), "any"), ("i64", (2, 4), "int:3")], {"axis": 1}),
               Sample([("f32", (2, 3, 4), "any"), ("i64", (3, 4), "int:2")], {"axis": 0})],
    "slice": [Sample([("f32", (4, 7), "any")], {"start": (1, 2), "stop": (4, 7), "step": (2, 3)}),
              Sample([("f32", (3, 4), "any")], {"start": (1, 0), "stop": (1, 4), "step": (1, 1)})],
    "pad": [Sample([("f32", (2, 3, 1), "any")], {"lo": (0, 2, 1), "hi": (1, 0, 0),
                                                 "interior": (2, 1, 3)})],
    "max": [Sample([("f32", (2, 3, 4), "any")], {"axis": (1,), "keepdims": True})],
    "sum": [Sample([("f32", (2, 3, 4), "any")], {"axis": (0, 2), "keepdims": True})],
    "broadcast": [Sample([("f32", (4,), "any")], {"shape": (2, 3, 4)})],
    "where": [Sample([("bool", (2, 1, 4), "bool"), ("f32", (3, 1), "any"),
                      ("f32", (1, 4), "any")])],
    "pow": [Sample([("f32", (3, 4), "pos"), ("f32", (), "pos")])],
    "cast": [Sample([("f32", (3, 4), "any")], {"dtype": dtypes.float32})],
}

# ops with a callable vjp slot that no one-op sample can exercise, and why
SPECIAL = {
    "grad": "expanded by the autodiff pass; its vjp refuses higher-order gradients",
    "custom_vjp": "runs a user Function's backward(); tested through backward() below",
    "fused": "made by fusion after autodiff; its vjp refuses by design",
    "scan": "differentiated by the autodiff pass (a reverse scan); tests/test_scan.py checks "
            "its gradients against finite differences and torch",
}


# ops whose vjp rule exists only to refuse (tested in test_quantization.py), and why
INFERENCE_ONLY = {"qlinear": "int8 inference kernel; its vjp raises 'inference-only'"}


def differentiable_ops() -> list[str]:
    return [n for n, op in OPS.items()
            if callable(op.vjp) and n not in SPECIAL and n not in INFERENCE_ONLY]


def has_float_in_and_out(op: str, sample: Sample) -> bool:
    rng = np.random.default_rng(0)
    arrays = [make_operand(a, rng, np.float64) for a in sample.args]
    if not any(a.dtype.kind == "f" for a in arrays):
        return False
    _, _, y = one_op_graph(op, arrays, sample.attrs)
    return y.dtype.is_float


def grad_cases() -> list:
    out = []
    for name in differentiable_ops():
        samples = [(f"s{i}", s) for i, s in enumerate(OPS[name].samples)]
        samples += [(f"x{i}", s) for i, s in enumerate(EXTRA.get(name, []))]
        for tag, s in samples:
            if has_float_in_and_out(name, s):
                out.append(pytest.param(name, s, id=f"{name}-{tag}"))
    return out


GRAD_CASES = grad_cases()


def test_gradient_exemptions_are_special_ops():
    for name in SPECIAL:
        if name in OPS:
            assert OPS[name].kind == "special" and not OPS[name].samples, name
    assert {"grad", "custom_vjp"} <= set(OPS)


def test_every_differentiable_op_has_a_gradient_case():
    covered = {p.values[0] for p in GRAD_CASES}
    missing = sorted(set(differentiable_ops()) - covered)
    assert not missing, f"differentiable ops without a float-in/float-out gradient case: {missing}"
    for name, op in OPS.items():  # each op is differentiable (a rule) or explicitly NONDIFF
        assert callable(op.vjp) or op.vjp is NONDIFF, f"{name}: vjp slot is {op.vjp!r}"


def test_the_coverage_check_can_fail():
    assert "argmax" not in differentiable_ops() and "exp" in differentiable_ops()
    assert not has_float_in_and_out("cast", Sample([("f32", (2,), "any")], {"dtype": "i64"}))
    assert not has_float_in_and_out("cast", Sample([("i64", (2,), "int:3")], {"dtype": "f32"}))


# ---- 1. gradient vs central finite differences in float64 ---------------------------------------

def grad_graph(op: str, arrays, attrs, via_pass: bool):
    """Graph (a..., ct) -> (y, d<y, ct>/d a_float...), via a `grad` node + the autodiff pass or
    by calling passes.autodiff.gradients directly."""
    g, ins, y = one_op_graph(op, arrays, attrs)
    ct = g.add_input("ct", y.type)
    wrt = [v for v in ins if v.dtype.is_float]
    if via_pass:
        node = Builder(g, "test").emit_node("grad", y, ct, *wrt)
        g.outputs = [y, *node.outputs]
        verify(g)
        g2 = autodiff(g)
        assert g2 is not g and any(n.op == "grad" for n in g.nodes), "input graph was modified"
        assert not any(n.op == "grad" for n in g2.nodes)
        g = g2
    else:
        g.outputs = [y, *gradients(g, y, ct, wrt)]
    verify(g)
    return g, [ins.index(w) for w in wrt]


@pytest.mark.parametrize("name, sample", GRAD_CASES)
def test_gradient_matches_finite_differences(name, sample):
    rng = np.random.default_rng(sum(map(ord, name)))
    arrays = away_from_kinks(name, [make_operand(a, rng, np.float64) for a in sample.args])
    attrs = {k: (dtypes.float64 if k == "dtype" and dtypes.as_dtype(v).is_float else v)
             for k, v in sample.attrs.items()}   # f32 results would drown the differences
    g, float_idx = grad_graph(name, arrays, attrs, via_pass=True)
    ct = rng.standard_normal(g.outputs[0].shape)

    def f(args):
        (y, *_), _ = run(g, list(args) + [ct])
        return float(np.sum(y * ct))

    (y, *grads), _ = run(g, arrays + [ct])
    assert len(grads) == len(float_idx)
    eps = 1e-6
    for i, gi in zip(float_idx, grads):
        assert gi.shape == arrays[i].shape and gi.dtype == arrays[i].dtype
        v = rng.standard_normal(arrays[i].shape)
        plus, minus = list(arrays), list(arrays)
        plus[i], minus[i] = arrays[i] + eps * v, arrays[i] - eps * v
        fd = (f(plus) - f(minus)) / (2 * eps)
        an = float(np.sum(gi * v))
        assert an == pytest.approx(fd, rel=1e-6, abs=1e-8), f"{name}: operand {i}"


def test_finite_difference_check_catches_a_wrong_rule(monkeypatch):
    """The harness must fail for a broken rule: tanh with derivative 1 - tanh (not 1 - tanh^2)."""
    monkeypatch.setattr(OPS["tanh"], "vjp", lambda b, g, x, out: (b.mul(g, b.sub(1, out)),))
    with pytest.raises(AssertionError):
        test_gradient_matches_finite_differences("tanh", OPS["tanh"].samples[0])


@pytest.mark.parametrize("via_pass", [True, False])
def test_gradients_direct_and_via_pass_agree(via_pass):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    ct = rng.standard_normal((3, 5))
    g, _ = grad_graph("matmul", [a, b], {}, via_pass)
    (_, ga, gb), _ = run(g, [a, b, ct])
    np.testing.assert_allclose(ga, ct @ b.T, rtol=1e-12)
    np.testing.assert_allclose(gb, a.T @ ct, rtol=1e-12)


# ---- 2. gradient vs torch.autograd in float32 ---------------------------------------------------

def torch_fns(torch):
    def dims(x, axis):
        return tuple(range(x.ndim)) if axis is None else tuple(axis)

    def matmul(a, b, transpose_a=False, transpose_b=False):
        return torch.matmul(a.transpose(-1, -2) if transpose_a else a,
                            b.transpose(-1, -2) if transpose_b else b)

    def pad(x, lo, hi, interior):
        shape = [l + d + max(d - 1, 0) * i + h for l, d, i, h in zip(lo, x.shape, interior, hi)]
        out = torch.zeros(shape, dtype=x.dtype)
        out[tuple(slice(l, l + max(d - 1, 0) * (i + 1) + 1, i + 1)
                  for l, d, i in zip(lo, x.shape, interior))] = x
        return out

    return {
        "neg": torch.neg, "exp": torch.exp, "log": torch.log, "log1p": torch.log1p,
        "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "tanh": torch.tanh, "erf": torch.erf,
        "abs": torch.abs, "add": torch.add, "sub": torch.sub, "mul": torch.mul,
        "div": torch.div, "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum,
        "where": torch.where,
        "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin,
        "acos": torch.acos, "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh,
        "asinh": torch.asinh, "acosh": torch.acosh, "atanh": torch.atanh, "erfc": torch.erfc,
        "atan2": torch.atan2, "copysign": torch.copysign,
        "cast": lambda x, dtype: x.to(getattr(torch, dtypes.as_dtype(dtype).torch_name)),
        "sum": lambda x, axis=None, keepdims=False: torch.sum(x, dim=dims(x, axis),
                                                              keepdim=keepdims),
        "max": lambda x, axis=None, keepdims=False: torch.amax(x, dim=dims(x, axis),
                                                               keepdim=keepdims),
        "cumsum": lambda x, axis, reverse=False: (torch.cumsum(x.flip(axis), axis).flip(axis)
                                                  if reverse else torch.cumsum(x, axis)),
        "cumprod": lambda x, axis, reverse=False: (torch.cumprod(x.flip(axis), axis).flip(axis)
                                                   if reverse else torch.cumprod(x, axis)),
        "reshape": torch.reshape,
        "broadcast": lambda x, shape: torch.broadcast_to(x, shape),
        "transpose": lambda x, perm: torch.permute(x, perm),
        "slice": lambda x, start, stop, step: x[tuple(slice(*z) for z in zip(start, stop, step))],
        "pad": pad,
        "concat": lambda *xs, axis: torch.cat(xs, axis),
        "matmul": matmul,
        **loss_oracles.torch_table(torch),    # lse, take_class
        **conv_oracles.torch_table(torch),    # unfold, fold
        "max_pool": pool_oracles.torch_table(torch)["max_pool"],
        **index_oracles.torch_table(torch),   # gather, scatter, take, put
    }


def test_torch_gradient_table_covers_every_differentiable_op():
    torch = pytest.importorskip("torch")
    missing = sorted(set(differentiable_ops()) - set(torch_fns(torch)))
    assert not missing, f"add {missing} to torch_fns"


def graphc_grads(name, arrays, attrs, ct):
    g, ins, y = one_op_graph(name, arrays, attrs)
    seed = g.add_input("ct", y.type)
    wrt = [v for v in ins if v.dtype.is_float]
    g.outputs = [y, *gradients(g, y, seed, wrt)]
    (y, *grads), _ = run(verify(g), arrays + [ct.astype(y.dtype.np)])
    return y, grads


def torch_grads(torch, name, arrays, attrs, ct):
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    y = torch_fns(torch)[name](*ts, **attrs)
    (y * torch.tensor(ct, dtype=y.dtype)).sum().backward()
    return y.detach().numpy(), [t.grad.numpy() for t in ts if t.requires_grad]


@pytest.mark.parametrize("name, sample", GRAD_CASES)
def test_gradient_matches_torch(name, sample):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    arrays = [make_operand(a, rng, np.float64) for a in sample.args]
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a
              for a in away_from_kinks(name, arrays)]
    y_shape = one_op_graph(name, arrays, sample.attrs)[2].shape
    ct = rng.standard_normal(y_shape)
    y, grads = graphc_grads(name, arrays, sample.attrs, ct)
    ty, tgrads = torch_grads(torch, name, arrays, sample.attrs, ct)
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-6)
    assert len(grads) == len(tgrads)
    for gr, tg in zip(grads, tgrads):
        assert gr.dtype == tg.dtype and gr.shape == tg.shape
        np.testing.assert_allclose(gr, tg, rtol=1e-5, atol=1e-6)


# ---- ties and kinks: torch's conventions ---------------------------------------------------------

def test_max_ties_split_the_gradient_evenly_like_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0]], np.float32)
    ct = np.array([1.0, 3.0, 2.0])
    _, (gx,) = graphc_grads("max", [x], {"axis": (1,), "keepdims": False}, ct)
    want = np.array([[0, 0.5, 0.5], [1, 1, 1], [0, 0, 2]], np.float32)
    np.testing.assert_array_equal(gx, want)
    torch = pytest.importorskip("torch")
    _, (tg,) = torch_grads(torch, "max", [x], {"axis": (1,), "keepdims": False}, ct)
    np.testing.assert_array_equal(gx, tg)


def test_full_max_ties_split_evenly():
    x = np.array([[4.0, 1.0], [4.0, 4.0]], np.float32)
    _, (gx,) = graphc_grads("max", [x], {"axis": None, "keepdims": False}, np.array(6.0))
    np.testing.assert_array_equal(gx, [[2, 0], [2, 2]])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_evenly_like_torch(name):
    x = np.array([1.0, 2.0, 3.0, -1.0], np.float32)
    y = np.array([1.0, 5.0, 0.0, -1.0], np.float32)
    ct = np.array([2.0, 1.0, 1.0, 4.0])
    _, (gx, gy) = graphc_grads(name, [x, y], {}, ct)
    first = (x > y) if name == "maximum" else (x < y)
    second = (y > x) if name == "maximum" else (y < x)
    tie = x == y
    np.testing.assert_array_equal(gx, np.where(first, ct, np.where(tie, ct / 2, 0)))
    np.testing.assert_array_equal(gy, np.where(second, ct, np.where(tie, ct / 2, 0)))
    torch = pytest.importorskip("torch")
    _, (tx, ty) = torch_grads(torch, name, [x, y], {}, ct)
    np.testing.assert_array_equal(gx, tx)
    np.testing.assert_array_equal(gy, ty)


def test_abs_and_relu_have_zero_gradient_at_zero_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    _, (ga,) = graphc_grads("abs", [x], {}, np.ones(3))
    np.testing.assert_array_equal(ga, [-1, 0, 1])

    @graphc.compile
    def relu_grad(x):
        x.requires_grad_()
        graphc.relu(x).sum().backward()
        return x.grad

    t = torch.tensor(x, requires_grad=True)
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(relu_grad(x), t.grad.numpy())
    np.testing.assert_array_equal(relu_grad(x), [0, 0, 1])


# ---- 3. un-broadcasting, fan-out, paths without gradient, cuts -----------------------------------

def test_unbroadcasting_3x1_plus_1x4():
    rng = np.random.default_rng(2)
    a, b, ct = rng.standard_normal((3, 1)), rng.standard_normal((1, 4)), rng.standard_normal((3, 4))
    _, (ga, gb) = graphc_grads("add", [a, b], {}, ct)
    np.testing.assert_allclose(ga, ct.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(gb, ct.sum(0, keepdims=True), rtol=1e-12)
    _, (ga, gb) = graphc_grads("mul", [a, b], {}, ct)
    np.testing.assert_allclose(ga, (ct * b).sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(gb, (ct * a).sum(0, keepdims=True), rtol=1e-12)


def test_unbroadcasting_rank_3_plus_rank_1():
    rng = np.random.default_rng(3)
    a, b, ct = (rng.standard_normal(s) for s in [(2, 3, 4), (4,), (2, 3, 4)])
    _, (ga, gb) = graphc_grads("add", [a, b], {}, ct)
    np.testing.assert_allclose(ga, ct, rtol=1e-12)
    assert gb.shape == (4,)
    np.testing.assert_allclose(gb, ct.sum((0, 1)), rtol=1e-12)


class _Holder(nn.Module):
    def __init__(self, **arrays):
        super().__init__()
        for k, a in arrays.items():
            setattr(self, k, nn.Parameter(a))


def test_unbroadcasting_of_python_scalars_and_compiled_inputs():
    """Compiled: input x (3,1) and parameter y (1,4) both get gradients; a Python scalar joins."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 1)).astype(np.float32)
    y = rng.standard_normal((1, 4)).astype(np.float32)
    m = _Holder(y=y.copy())

    @graphc.compile
    def grads(x):
        x.requires_grad_()
        ((x + m.y) * (x - 2.0) * m.y).sum().backward()
        return x.grad, m.y.grad

    gx, gy = grads(x)
    s = x + y
    assert gx.shape == (3, 1) and gy.shape == (1, 4)
    np.testing.assert_allclose(gx, ((x - 2) * y + s * y).sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(gy, ((x - 2) * y + s * (x - 2)).sum(0, keepdims=True), rtol=1e-5)


_TWO_LEAVES_BUG = ("graphc/tensor.py requires_grad_ tests `self not in trace.grad_leaves`, which "
                   "calls Tensor.__eq__ (an `eq` node) and then bool() of a traced tensor")


def test_requires_grad_on_two_inputs():
    @graphc.compile
    def grads(x, y):
        x.requires_grad_()
        y.requires_grad_()
        (x * y).sum().backward()
        return x.grad, y.grad

    x, y = np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32)
    gx, gy = grads(x, y)
    np.testing.assert_array_equal(gx, y)
    np.testing.assert_array_equal(gy, x)


def test_fan_out_cotangents_add_up():
    g = Graph("fanout")
    x = g.add_input("x", tensor_type((5,), "f64"))
    b = Builder(g)
    y = b.sum(b.add(b.mul(b.mul(x, x), x), b.exp(x)), axis=None)   # x used 4 times
    g.outputs = gradients(g, y, b.const(1.0, "f64"), [x])
    xv = np.linspace(-1, 1, 5)
    (gx,), _ = run(g, [xv])
    np.testing.assert_allclose(gx, 3 * xv ** 2 + np.exp(xv), rtol=1e-12)


def test_fan_out_in_a_compiled_function():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        a = x * 2.0
        (a * x + graphc.tanh(x) + x).sum().backward()   # x used by 4 ops
        return x.grad

    xv = np.array([0.5, -1.0, 2.0], np.float32)
    np.testing.assert_allclose(f(xv), 4 * xv + (1 - np.tanh(xv) ** 2) + 1, rtol=1e-6)


def test_wrt_value_not_reached_gets_zeros():
    g = Graph("z")
    x = g.add_input("x", tensor_type((2,), "f32"))
    w = g.add_input("w", tensor_type((3, 2), "f32"))
    b = Builder(g)
    y = b.sum(b.mul(x, x), axis=None)
    g.outputs = gradients(g, y, b.const(1.0, "f32"), [x, w])
    (gx, gw), _ = run(g, [np.array([1.0, 2.0], np.float32), np.ones((3, 2), np.float32)])
    np.testing.assert_array_equal(gx, [2, 4])
    np.testing.assert_array_equal(gw, np.zeros((3, 2), np.float32))


def test_integer_and_bool_paths_carry_no_gradient():
    """y = x * float(int(x)) + argmax(x) + (x > 0): only the first factor x carries grad."""
    g = Graph("ints")
    x = g.add_input("x", tensor_type((4,), "f64"))
    b = Builder(g)
    xi = b.cast(b.cast(x, dtype=dtypes.int64), dtype=dtypes.float64)
    am = b.cast(b.argmax(x, axis=None, keepdims=False), dtype=dtypes.float64)
    pos = b.cast(b.gt(x, 0.0), dtype=dtypes.float64)
    y = b.sum(b.add(b.add(b.mul(x, xi), am), pos), axis=None)
    g.outputs = gradients(g, y, b.const(1.0, "f64"), [x])
    xv = np.array([1.7, -2.2, 0.3, 3.9])
    (gx,), _ = run(verify(g), [xv])
    np.testing.assert_array_equal(gx, np.trunc(xv))


def test_gradient_through_a_cast_to_int_alone_is_zero():
    g = Graph("cut")
    x = g.add_input("x", tensor_type((3,), "f32"))
    b = Builder(g)
    y = b.sum(b.cast(b.cast(x, dtype=dtypes.int32), dtype=dtypes.float32), axis=None)
    g.outputs = gradients(g, y, b.const(1.0, "f32"), [x])
    (gx,), _ = run(g, [np.array([1.5, 2.5, 3.5], np.float32)])
    np.testing.assert_array_equal(gx, np.zeros(3, np.float32))


def test_cast_gradient_returns_to_the_operand_dtype():
    g = Graph("mixed")
    x = g.add_input("x", tensor_type((3,), "f32"))
    b = Builder(g)
    y = b.sum(b.mul(b.cast(x, dtype=dtypes.float64), 1.5), axis=None)   # f64 loss of an f32 input
    (gx,) = g.outputs = gradients(g, y, b.const(1.0, "f64"), [x])
    assert gx.type == x.type
    (gxv,), _ = run(verify(g), [np.zeros(3, np.float32)])
    assert gxv.dtype == np.float32
    np.testing.assert_array_equal(gxv, [1.5, 1.5, 1.5])


def test_where_condition_from_a_comparison_carries_no_gradient():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        graphc.where(x > 0.5, x * x, -3.0 * x).sum().backward()
        return x.grad

    xv = np.array([1.0, 0.0, 2.0, -1.0], np.float32)
    np.testing.assert_array_equal(f(xv), np.where(xv > 0.5, 2 * xv, -3.0))


def test_stop_gradient_op_cuts():
    g = Graph("sg")
    x = g.add_input("x", tensor_type((3,), "f64"))
    b = Builder(g)
    y = b.sum(b.mul(b.stop_gradient(x), x), axis=None)   # d/dx = stop(x), not 2x
    g.outputs = gradients(g, y, b.const(1.0, "f64"), [x])
    (gx,), _ = run(g, [np.array([1.0, -2.0, 3.0])])
    np.testing.assert_array_equal(gx, [1.0, -2.0, 3.0])


def test_detach_and_single_op_no_grad_cut_gradients():
    @graphc.compile
    def grads(x):
        x.requires_grad_()
        d = (x.detach() * x).sum()          # grad x.detach()
        with graphc.no_grad():
            z = x * 3.0                      # no gradient through z
        (d + (z * x).sum()).backward()
        return x.grad

    xv = np.array([1.0, -2.0, 0.5], np.float32)
    np.testing.assert_allclose(grads(xv), xv + 3 * xv, rtol=1e-6)


_NO_GRAD_BUG = ("graphc/tensor.py apply() marks a no_grad result as cut (_stop) only when an "
                "operand requires grad; the second op under no_grad sees requires_grad=False "
                "operands, so its result is not cut and gradients leak through it")


def test_no_grad_cuts_multi_op_expressions():
    torch = pytest.importorskip("torch")
    xv = np.array([1.0, -2.0, 0.5], np.float32)

    @graphc.compile
    def grads(x):
        x.requires_grad_()
        with graphc.no_grad():
            z = (x * 3.0) + 1.0
        (z * x).sum().backward()
        return x.grad

    t = torch.tensor(xv, requires_grad=True)
    with torch.no_grad():
        tz = t * 3.0 + 1.0
    (tz * t).sum().backward()
    np.testing.assert_allclose(grads(xv), t.grad.numpy(), rtol=1e-6)


def test_no_grad_layer_output_carries_no_gradient():
    lin = nn.Linear(3, 2)

    @graphc.compile
    def grads(x):
        x.requires_grad_()
        with graphc.no_grad():
            frozen = lin(x)                  # matmul, add, reshape: none may pass gradient
        (frozen.sum() + (x * x).sum()).backward()
        return x.grad

    xv = np.array([1.0, -2.0, 0.5], np.float32)
    np.testing.assert_allclose(grads(xv), 2 * xv, rtol=1e-6)
    assert lin.weight.grad is None


def test_detached_parameter_is_not_a_leaf():
    lin = nn.Linear(2, 1)

    @graphc.compile
    def f(x):
        (lin(x) + (x @ lin.weight.detach().T) * 0.0).sum().backward()
        return lin.weight.grad, lin.bias.grad

    xv = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    gw, gb = f(xv)
    np.testing.assert_allclose(gw, xv.sum(0, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(gb, [2.0])


def test_gradient_nodes_carry_the_forward_source_line():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        y = graphc.tanh(x)  # THE-TANH-LINE
        y.sum().backward()
        return x.grad

    f(np.ones(3, np.float32))
    import inspect
    lines, start = inspect.getsourcelines(f.fn)
    line = start + next(i for i, s in enumerate(lines) if "THE-TANH-LINE" in s)
    traced = [ln for ln in f.ir("traced").splitlines() if ln.rstrip().endswith(f".py:{line}")]
    after = [ln for ln in f.ir("autodiff").splitlines() if ln.rstrip().endswith(f".py:{line}")]
    assert len(traced) == 1 and " tanh " in traced[0]
    # tanh's rule emits g * (1 - out * out): those nodes point at the tanh line too
    assert sum(" mul " in ln for ln in after) >= 2 and any(" sub " in ln for ln in after), after


# ---- 4. Tensor.backward through graphc.compile for composite functions, vs torch --------------

def _compiled_grad(fn):
    """graphc.compile(x, *rest -> (value, dvalue/dx)) for a scalar-valued fn(x, *rest)."""
    @graphc.compile
    def run_fn(x, *rest):
        x.requires_grad_()
        v = fn(x, *rest)
        v.backward()
        return v, x.grad
    return run_fn


def _torch_grad(torch, fn, x, *rest):
    t = torch.tensor(x, requires_grad=True)
    v = fn(t, *[torch.tensor(r) for r in rest])
    v.backward()
    return v.detach().numpy(), t.grad.numpy()


R = np.random.default_rng(11)
X = R.standard_normal((4, 5)).astype(np.float32)
CT = R.standard_normal((4, 5)).astype(np.float32)
LABELS = np.array([0, 4, 2, 2], np.int64)
PROBS = R.dirichlet(np.ones(5), 4).astype(np.float32)
BIN = (R.random((4, 5)) < 0.5).astype(np.float32)
A3 = R.standard_normal((2, 3, 4)).astype(np.float32)
B3 = R.standard_normal((2, 4, 5)).astype(np.float32)
POS_W = R.uniform(0.5, 2, 5).astype(np.float32)

COMPOSITES = {  # name: (graphc fn, torch fn (tF = torch.nn.functional), extra args)
    "softmax": (lambda x, c: (graphc.softmax(x, -1) * c).sum(),
                lambda x, c, tF: (tF.softmax(x, -1) * c).sum(), [CT]),
    "softmax-dim0": (lambda x, c: (x.softmax(0) * c).sum(),
                     lambda x, c, tF: (x.softmax(0) * c).sum(), [CT]),
    "log_softmax": (lambda x, c: (F.log_softmax(x, 1) * c).sum(),
                    lambda x, c, tF: (tF.log_softmax(x, 1) * c).sum(), [CT]),
    "gelu": (lambda x, c: (F.gelu(x) * c).sum(), lambda x, c, tF: (tF.gelu(x) * c).sum(), [CT]),
    "gelu-tanh": (lambda x, c: (F.gelu(x, approximate="tanh") * c).sum(),
                  lambda x, c, tF: (tF.gelu(x, approximate="tanh") * c).sum(), [CT]),
    "sigmoid": (lambda x, c: (graphc.sigmoid(x) * c).sum(),
                lambda x, c, tF: (x.sigmoid() * c).sum(), [CT]),
    "tanh": (lambda x, c: (x.tanh() * c).sum(), lambda x, c, tF: (x.tanh() * c).sum(), [CT]),
    "relu-clamp": (lambda x, c: (graphc.relu(x) * c + x.clamp(-0.5, 0.7)).sum(),
                   lambda x, c, tF: (x.relu() * c + x.clamp(-0.5, 0.7)).sum(), [CT]),
    "mse_loss": (lambda x, t: F.mse_loss(x, t), lambda x, t, tF: tF.mse_loss(x, t), [CT]),
    "mse_loss-sum": (lambda x, t: nn.MSELoss(reduction="sum")(x, t),
                     lambda x, t, tF: tF.mse_loss(x, t, reduction="sum"), [CT]),
    "l1_loss": (lambda x, t: F.l1_loss(x, t), lambda x, t, tF: tF.l1_loss(x, t), [CT]),
    "cross_entropy": (lambda x, y: F.cross_entropy(x, y),
                      lambda x, y, tF: tF.cross_entropy(x, y), [LABELS]),
    "cross_entropy-smooth": (lambda x, y: nn.CrossEntropyLoss(label_smoothing=0.1)(x, y),
                             lambda x, y, tF: tF.cross_entropy(x, y, label_smoothing=0.1),
                             [LABELS]),
    "cross_entropy-probs": (lambda x, p: F.cross_entropy(x, p),
                            lambda x, p, tF: tF.cross_entropy(x, p), [PROBS]),
    "nll_loss": (lambda x, y: F.nll_loss(F.log_softmax(x, -1), y),
                 lambda x, y, tF: tF.nll_loss(tF.log_softmax(x, -1), y), [LABELS]),
    "nll_loss-sum": (lambda x, y: nn.NLLLoss(reduction="sum")(x, y),
                     lambda x, y, tF: tF.nll_loss(x, y, reduction="sum"), [LABELS]),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t),
                        lambda x, t, tF: tF.binary_cross_entropy_with_logits(x, t), [BIN]),
    "bce_with_logits-pos_weight": (
        lambda x, t, w: nn.BCEWithLogitsLoss(pos_weight=w)(x, t),
        lambda x, t, w, tF: tF.binary_cross_entropy_with_logits(x, t, pos_weight=w),
        [BIN, POS_W]),
    "slicing": (lambda x, c: (x[1:, ::2] * c[:3, 1:4]).sum() + x[0].sum() * 2 + x[..., -1].sum(),
                lambda x, c, tF: (x[1:, ::2] * c[:3, 1:4]).sum() + x[0].sum() * 2
                + x[..., -1].sum(), [CT]),
    "reshape-permute-transpose": (
        lambda x, c: ((x.reshape(2, 10).T.reshape(5, 2, 2).permute(2, 0, 1).transpose(0, 1)
                       .reshape(4, 5)) * c).sum(),
        lambda x, c, tF: ((x.reshape(2, 10).T.reshape(5, 2, 2).permute(2, 0, 1).transpose(0, 1)
                           .reshape(4, 5)) * c).sum(), [CT]),
    "unsqueeze-expand-flatten": (
        lambda x, c: (x.unsqueeze(0).expand(3, 4, 5).flatten(1) ** 2).sum() * 0.1,
        lambda x, c, tF: (x.unsqueeze(0).expand(3, 4, 5).flatten(1) ** 2).sum() * 0.1, [CT]),
    "reductions": (lambda x, c: x.mean(1).exp().sum() + x.amax(0).sum() + x.amin(1).sum()
                   + graphc.max(x, 1)[0].sum() + x.sum(),
                   lambda x, c, tF: x.mean(1).exp().sum() + x.amax(0).sum() + x.amin(1).sum()
                   + torch_max(x, 1)[0].sum() + x.sum(), [CT]),
    "pow-sqrt-div": (lambda x, c: ((x * x + 1.0).sqrt() / (x.abs() + 2.0) + (x * x + 1) ** 1.5
                                   + (x * x + 1.0).rsqrt() + (x * x).log1p()).sum(),
                     lambda x, c, tF: ((x * x + 1.0).sqrt() / (x.abs() + 2.0)
                                       + (x * x + 1) ** 1.5 + (x * x + 1.0).rsqrt()
                                       + (x * x).log1p()).sum(), [CT]),
    "matmul-batched": (lambda a, b: ((a @ b) ** 2).sum(), lambda a, b, tF: ((a @ b) ** 2).sum(),
                       [B3]),
    "matmul-broadcast": (lambda a, b: graphc.tanh(graphc.matmul(a, b[0])).sum(),
                         lambda a, b, tF: (a @ b[0]).tanh().sum(), [B3]),
    "matmul-vector": (lambda a, b: (a[0] @ b[0][:, 0]).sum() + (a[1, 0] @ b[1]).sum(),
                      lambda a, b, tF: (a[0] @ b[0][:, 0]).sum() + (a[1, 0] @ b[1]).sum(), [B3]),
}


def torch_max(x, dim):
    import torch
    return torch.max(x, dim)


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composite_gradient_matches_torch(name):
    torch = pytest.importorskip("torch")
    gfn, tfn, rest = COMPOSITES[name]
    x = A3 if name.startswith("matmul") else X
    v, gx = _compiled_grad(gfn)(x, *rest)
    tv, tgx = _torch_grad(torch, lambda *a: tfn(*a, torch.nn.functional), x, *rest)
    assert gx.shape == x.shape and gx.dtype == np.float32
    np.testing.assert_allclose(v, tv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, tgx, rtol=1e-5, atol=1e-6)


class _MLP(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.fc1 = nn.Linear(5, 6)
        self.fc2 = nn.Linear(6, 3)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _torch_twin(torch, net, act):
    t = torch.nn.Sequential(torch.nn.Linear(5, 6), act, torch.nn.Linear(6, 3))
    sd = net.state_dict()
    t.load_state_dict({"0.weight": torch.tensor(sd["fc1.weight"].numpy()),
                       "0.bias": torch.tensor(sd["fc1.bias"].numpy()),
                       "2.weight": torch.tensor(sd["fc2.weight"].numpy()),
                       "2.bias": torch.tensor(sd["fc2.bias"].numpy())})
    return t


@pytest.mark.parametrize("act, loss", [("relu", "cross_entropy"), ("gelu", "mse"),
                                       ("tanh", "nll"), ("sigmoid", "bce"),
                                       ("gelu_tanh", "l1")])
def test_parameter_grads_of_a_compiled_step_match_torch(act, loss):
    """loss.backward(); return net.fc1.weight.grad, ... : p.grad values are graph outputs."""
    torch = pytest.importorskip("torch")
    graphc.manual_seed(3)
    acts = {"relu": (nn.ReLU(), torch.nn.ReLU()), "gelu": (nn.GELU(), torch.nn.GELU()),
            "tanh": (nn.Tanh(), torch.nn.Tanh()), "sigmoid": (nn.Sigmoid(), torch.nn.Sigmoid()),
            "gelu_tanh": (nn.GELU("tanh"), torch.nn.GELU("tanh"))}
    net = _MLP(acts[act][0])
    tnet = _torch_twin(torch, net, acts[act][1])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    if loss in ("cross_entropy", "nll"):
        y = rng.integers(0, 3, 7)
    elif loss == "bce":
        y = (rng.random((7, 3)) < 0.5).astype(np.float32)
    else:
        y = rng.standard_normal((7, 3)).astype(np.float32)
    gl = {"cross_entropy": nn.CrossEntropyLoss(), "mse": nn.MSELoss(), "l1": nn.L1Loss(),
          "nll": lambda o, t: F.nll_loss(F.log_softmax(o, 1), t),
          "bce": nn.BCEWithLogitsLoss()}[loss]
    tF = torch.nn.functional
    tl = {"cross_entropy": tF.cross_entropy, "mse": tF.mse_loss, "l1": tF.l1_loss,
          "nll": lambda o, t: tF.nll_loss(tF.log_softmax(o, 1), t),
          "bce": tF.binary_cross_entropy_with_logits}[loss]

    @graphc.compile
    def step(x, y):
        net.zero_grad()
        out = gl(net(x), y)
        out.backward()
        return out, {k: p.grad for k, p in net.named_parameters()}

    got_loss, grads = step(x, y)
    tout = tl(tnet(torch.tensor(x)), torch.tensor(y))
    tout.backward()
    np.testing.assert_allclose(got_loss, tout.item(), rtol=1e-5)
    tgrads = dict(zip(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
                      [p.grad.numpy() for p in tnet.parameters()]))
    assert set(grads) == set(tgrads)
    for k in grads:
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # p.grad now holds the gradient outside the compiled function too
    np.testing.assert_allclose(net.fc1.weight.grad.numpy(), tgrads["fc1.weight"], rtol=1e-5,
                               atol=1e-6)


# ---- 5. gradient= for non-scalar outputs, requires_grad_() on inputs ----------------------------

def test_backward_with_explicit_gradient_on_a_non_scalar():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, gout = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4))
    gout = gout.astype(np.float32)

    @graphc.compile
    def f(x, gout):
        x.requires_grad_()
        y = graphc.sigmoid(x) * x
        y.backward(gradient=gout)
        return x.grad

    t = torch.tensor(x, requires_grad=True)
    (torch.sigmoid(t) * t).backward(gradient=torch.tensor(gout))
    np.testing.assert_allclose(f(x, gout), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_backward_gradient_may_be_a_constant_and_is_cast():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        (x * 2.0).backward(gradient=np.array([1.0, 10.0]))   # float64 seed for an f32 output
        return x.grad

    out = f(np.zeros(2, np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 20.0])


def test_backward_gradient_of_wrong_shape_raises():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        (x * 2.0).backward(gradient=np.ones(5, np.float32))

    with pytest.raises(graphc.GraphcError, match="shape"):
        f(np.zeros(3, np.float32))


def test_requires_grad_on_input_gives_x_grad_and_grads_accumulate():
    @graphc.compile
    def f(x, w):
        x.requires_grad_()
        (x * w).sum().backward()
        (x * x).sum().backward()     # a second backward accumulates into x.grad
        return x.grad

    x, w = np.array([1.0, 2.0, -3.0], np.float32), np.array([0.5, 0.5, 2.0], np.float32)
    np.testing.assert_allclose(f(x, w), w + 2 * x, rtol=1e-6)


def test_input_without_requires_grad_has_no_grad_in_the_graph():
    @graphc.compile
    def f(x, w):
        w.requires_grad_()
        (x * w).sum().backward()
        return w.grad, x.grad is None

    gw, x_has_none = f(np.array([1.0, 2.0], np.float32), np.ones(2, np.float32))
    np.testing.assert_array_equal(gw, [1.0, 2.0])
    assert x_has_none is True


def test_requires_grad_on_an_int_input_is_refused():
    @graphc.compile
    def f(i):
        i.requires_grad_()

    with pytest.raises(graphc.GraphcError, match="floating-point"):
        f(np.arange(3))


# ---- 6. custom autograd.Function -----------------------------------------------------------------

_CUSTOM_BUG = ("graphc/autograd.py _custom_vjp_rule treats the trailing `out` argument that "
               "passes/autodiff.py passes to every rule as a saved tensor, so it returns one "
               "cotangent too many for any custom Function")


class TripleGrad(graphc.autograd.Function):
    """Identity forward, deliberately wrong backward (3 g): proves the user's rule is used."""

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return 3 * g


class Square(graphc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class MyReLU(graphc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return graphc.where(x > 0, x, 0.0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return graphc.where(x > 0, g, 0.0)


class ScaledMul(graphc.autograd.Function):
    """Two inputs and a non-tensor argument: backward returns None for the number."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return a * b * k

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b * ctx.k, g * a * ctx.k, None


def test_custom_function_forward_runs_eagerly_and_traced():
    x = np.array([1.0, -2.0, 3.0], np.float32)
    np.testing.assert_array_equal(Square.apply(graphc.tensor(x)).numpy(), x * x)
    np.testing.assert_array_equal(graphc.compile(lambda x: Square.apply(x))(x), x * x)


def test_custom_function_backward_is_the_users_rule():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        TripleGrad.apply(x).sum().backward()
        return x.grad

    np.testing.assert_array_equal(f(np.array([1.0, 5.0], np.float32)), [3.0, 3.0])


@pytest.mark.parametrize("fn", [Square, MyReLU])
def test_custom_function_matches_torch(fn):
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3)

    @graphc.compile
    def step(x):
        lin.zero_grad()
        (fn.apply(lin(x)) * 0.5).sum().backward()
        return lin.weight.grad, lin.bias.grad

    x = np.random.default_rng(8).standard_normal((5, 4)).astype(np.float32)
    gw, gb = step(x)
    tl = torch.nn.Linear(4, 3)
    tl.load_state_dict({"weight": torch.tensor(lin.weight.numpy()),
                        "bias": torch.tensor(lin.bias.numpy())})
    h = tl(torch.tensor(x))
    ((h * h if fn is Square else torch.relu(h)) * 0.5).sum().backward()
    np.testing.assert_allclose(gw, tl.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb, tl.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_custom_function_with_two_inputs_and_a_number():
    a, b = np.array([1.0, 2.0], np.float32), np.array([3.0, -4.0], np.float32)
    m = _Holder(a=a.copy(), b=b.copy())

    @graphc.compile
    def f():
        m.zero_grad()
        ScaledMul.apply(m.a, m.b, 2.0).sum().backward()
        return m.a.grad, m.b.grad

    ga, gb = f()
    np.testing.assert_array_equal(ga, 2 * b)
    np.testing.assert_array_equal(gb, 2 * a)


# ---- 7. errors ----------------------------------------------------------------------------------

def test_backward_on_non_scalar_without_gradient_raises():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        (x * 2.0).backward()

    with pytest.raises(graphc.GraphcError, match="non-scalar"):
        f(np.ones(3, np.float32))


def test_backward_on_tensor_depending_on_no_parameter_raises():
    lin = nn.Linear(3, 1)

    @graphc.compile
    def plain(x):
        (x * 2.0).sum().backward()

    @graphc.compile
    def frozen(x):
        with graphc.no_grad():
            y = lin(x).sum()
        y.backward()

    for fn in (plain, frozen):
        with pytest.raises(graphc.GraphcError, match="requir"):
            fn(np.ones((2, 3), np.float32))


_DETACH_BUG = ("graphc/tensor.py detach() returns apply('stop_gradient', ...), whose result keeps "
               "requires_grad=True, so backward() on a detached tensor silently yields zeros")


def test_detached_tensor_does_not_require_grad():
    lin = nn.Linear(3, 1)

    @graphc.compile
    def detached(x):
        d = lin(x).sum().detach()
        assert not d.requires_grad          # torch: False
        d.backward()

    with pytest.raises(graphc.GraphcError, match="requir"):
        detached(np.ones((2, 3), np.float32))


def test_backward_outside_compile_runs_eagerly():
    # eager autograd (tests/test_eager_autograd.py has the full story): no longer an error
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    lin = nn.Linear(2, 1)
    lin(np.ones((1, 2), np.float32)).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[1.0, 1.0]])
    np.testing.assert_array_equal(lin.bias.grad.numpy(), [1.0])


def test_backward_of_an_integer_value_raises():
    @graphc.compile
    def f(x):
        x.requires_grad_()
        x.argmax().backward()

    with pytest.raises(graphc.GraphcError):
        f(np.ones(3, np.float32))


def test_a_missing_gradient_rule_is_named(monkeypatch):
    monkeypatch.setattr(OPS["tanh"], "vjp", None)
    g = Graph("no_rule")
    x = g.add_input("x", tensor_type((2,), "f32"))
    b = Builder(g, "model.py:7")
    y = b.sum(b.tanh(x), axis=None)
    with pytest.raises(graphc.GraphcError, match=r"tanh.*model\.py:7"):
        gradients(g, y, b.const(1.0, "f32"), [x])
