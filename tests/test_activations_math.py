"""Activations (graphc.nn.functional, graphc.nn modules) and elementwise math compositions
(graphc.math_ops) against PyTorch: values with edge cases, float32/float64 (and ints where torch
takes them), gradients eagerly, compiled on both backends equal to eager, module reprs."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as GF

torch = pytest.importorskip("torch")
TF = torch.nn.functional

BACKENDS = ["llvm", "interpreter"]
DTYPES = [np.float32, np.float64]
NAN, INF = float("nan"), float("inf")

EDGES = [0.0, -0.0, 1e-7, -1e-7, 1e-30, 0.5, -0.5, 1.5, -2.5, 3.0, -3.0, 6.0, 20.0, -20.0,
         25.0, -30.0, 100.0, -100.0, 1e4, -1e4, NAN, INF, -INF]


def _inputs(dtype, seed=0, edges=True):
    x = np.random.default_rng(seed).standard_normal(64) * 4
    if edges:
        x = np.concatenate([x, EDGES])
    return x.astype(dtype)


def _close(got, want, dtype, rtol=None, atol=None):
    got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if rtol is None:
        rtol = 2e-6 if dtype == np.float32 else 1e-12
    if atol is None:
        atol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)


# name -> (graphc fn, torch fn, whether its gradient is checked eagerly and compiled)
ACTS = {
    "leaky_relu": (GF.leaky_relu, TF.leaky_relu),
    "leaky_relu_0.2": (lambda x: GF.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "elu": (GF.elu, TF.elu),
    "elu_2": (lambda x: GF.elu(x, alpha=2.0), lambda x: TF.elu(x, alpha=2.0)),
    "selu": (GF.selu, TF.selu),
    "celu": (GF.celu, TF.celu),
    "celu_0.5": (lambda x: GF.celu(x, alpha=0.5), lambda x: TF.celu(x, alpha=0.5)),
    "silu": (GF.silu, TF.silu),
    "mish": (GF.mish, TF.mish),
    "softplus": (GF.softplus, TF.softplus),
    "softplus_b2_t5": (lambda x: GF.softplus(x, beta=2.0, threshold=5.0),
                       lambda x: TF.softplus(x, beta=2.0, threshold=5.0)),
    "softsign": (GF.softsign, TF.softsign),
    "hardtanh": (GF.hardtanh, TF.hardtanh),
    "hardtanh_-2_3": (lambda x: GF.hardtanh(x, -2.0, 3.0), lambda x: TF.hardtanh(x, -2.0, 3.0)),
    "relu6": (GF.relu6, TF.relu6),
    "hardsigmoid": (GF.hardsigmoid, TF.hardsigmoid),
    "hardswish": (GF.hardswish, TF.hardswish),
    "logsigmoid": (GF.logsigmoid, TF.logsigmoid),
    "tanhshrink": (GF.tanhshrink, TF.tanhshrink),
    "gelu_tanh": (lambda x: GF.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "gelu": (GF.gelu, TF.gelu),
    "hardshrink": (GF.hardshrink, TF.hardshrink),
    "softshrink": (GF.softshrink, TF.softshrink),
    "threshold": (lambda x: GF.threshold(x, 0.3, -2.0), lambda x: TF.threshold(x, 0.3, -2.0)),
    "softmin": (lambda x: GF.softmin(x.reshape(8, -1), dim=1),
                lambda x: TF.softmin(x.reshape(8, -1), dim=1)),
    "glu": (lambda x: GF.glu(x.reshape(4, -1), dim=-1), lambda x: TF.glu(x.reshape(4, -1), dim=-1)),
    "glu_0": (lambda x: GF.glu(x.reshape(4, -1), dim=0), lambda x: TF.glu(x.reshape(4, -1), dim=0)),
}

# inputs where torch's own formula is inf * 0 or similar and our composition may differ
_NO_EDGES = {"softmin", "glu", "glu_0", "gelu", "gelu_tanh", "mish", "silu", "tanhshrink"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_values_match_torch(name, dtype):
    g, t = ACTS[name]
    x = _inputs(dtype, edges=name not in _NO_EDGES)
    if name in _NO_EDGES:  # finite edges only
        x = np.concatenate([x, np.array([e for e in EDGES if np.isfinite(e)][:16], dtype)])[:80]
    got = g(graphc.tensor(x))
    want = t(torch.tensor(x))
    assert got.dtype.np == want.numpy().dtype
    _close(got, want, dtype)


def _away_from_kinks(dtype, seed=1):
    x = np.random.default_rng(seed).uniform(-8, 8, 64)
    for k in (-3.0, 0.0, 3.0, 6.0, -1.0, 1.0, 0.5, -0.5, 0.3, -2.0):  # no ties at kinks
        x = np.where(np.abs(x - k) < 1e-3, x + 0.01, x)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_gradients_match_torch(name, dtype):
    g, t = ACTS[name]
    x = _away_from_kinks(dtype)
    w = np.random.default_rng(2).standard_normal(64).astype(dtype)
    gx = graphc.tensor(x, requires_grad=True)
    gy = g(gx).reshape(-1)
    (gy * graphc.tensor(w[:gy.shape[0]])).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    (t(tx).reshape(-1) * torch.tensor(w[:gy.shape[0]])).sum().backward()
    # torch's float64 hardsigmoid backward multiplies by a float32 1/6 (off by 3e-8)
    tol = 1e-5 if dtype == np.float32 else (1e-7 if name == "hardsigmoid" else 1e-10)
    _close(gx.grad, tx.grad, dtype, rtol=tol, atol=tol)


def test_activation_gradients_at_kinks_match_torch():
    x = np.array([-3.0, 0.0, 3.0, 6.0, -1.0, 1.0, 20.0, -20.0, 100.0, -100.0], np.float32)
    for name in ("leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid",
                 "hardswish", "logsigmoid", "softplus", "silu", "softsign"):
        g, t = ACTS[name]
        gx = graphc.tensor(x, requires_grad=True)
        g(gx).sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        t(tx).sum().backward()
        _close(gx.grad, tx.grad, np.float32, rtol=1e-5, atol=1e-6), name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(ACTS))
def test_compiled_activation_and_gradient_equal_eager(name, backend):
    g, _ = ACTS[name]
    x = _away_from_kinks(np.float32, seed=3)

    def step(t):
        t.requires_grad_(True)
        y = g(t)
        (y * y).sum().backward()
        return y, t.grad

    f = graphc.compile(step, backend=backend)
    y, gr = f(graphc.tensor(x))
    ex = graphc.tensor(x, requires_grad=True)
    ey = g(ex)
    (ey * ey).sum().backward()
    np.testing.assert_allclose(np.asarray(y), ey.detach().numpy(), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(gr), ex.grad.numpy(), rtol=2e-5, atol=1e-5)


def test_inplace_activations_write_into_their_input():
    x = _inputs(np.float32, edges=False)
    for gname, args in [("leaky_relu", (0.1,)), ("elu", (1.0,)), ("selu", ()), ("celu", (1.0,)),
                        ("silu", ()), ("mish", ()), ("hardtanh", (-1.0, 1.0)), ("relu6", ()),
                        ("hardsigmoid", ()), ("hardswish", ())]:
        gx = graphc.tensor(x.copy())
        out = getattr(GF, gname)(gx, *args, inplace=True)
        assert out is gx, gname
        _close(gx, getattr(TF, gname)(torch.tensor(x), *args), np.float32)
    gx = graphc.tensor(x.copy())
    m = graphc.nn.LeakyReLU(0.3, inplace=True)
    assert m(gx) is gx
    _close(gx, TF.leaky_relu(torch.tensor(x), 0.3), np.float32)


def test_prelu_function_and_module_match_torch_with_gradients():
    x = np.random.default_rng(4).standard_normal((3, 4, 5)).astype(np.float32)
    for n in (1, 4):
        gm, tm = graphc.nn.PReLU(n), torch.nn.PReLU(n)
        np.testing.assert_array_equal(gm.weight.numpy(), tm.weight.detach().numpy())
        assert [k for k, _ in gm.named_parameters()] == [k for k, _ in tm.named_parameters()]
        gx = graphc.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        gy, ty = gm(gx), tm(tx)
        _close(gy, ty, np.float32)
        (gy * gy).sum().backward()
        (ty * ty).sum().backward()
        _close(gx.grad, tx.grad, np.float32, rtol=1e-5, atol=1e-5)
        _close(gm.weight.grad, tm.weight.grad, np.float32, rtol=1e-5, atol=1e-4)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    _close(GF.prelu(graphc.tensor(x), graphc.tensor(w)), TF.prelu(torch.tensor(x), torch.tensor(w)),
           np.float32)
    m = graphc.nn.PReLU(2, init=0.1)
    assert m.weight.numpy().tolist() == pytest.approx([0.1, 0.1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_prelu_trains_compiled(backend):
    m = graphc.nn.PReLU(4)
    opt = graphc.optim.SGD(m.parameters(), lr=0.1)
    x = graphc.tensor(-np.ones((2, 4, 3), np.float32))

    @graphc.compile(backend=backend)
    def step(x):
        opt.zero_grad()
        loss = m(x).sum()
        loss.backward()
        opt.step()
        return loss

    step(x)
    # d loss / d a = sum(x) over the 6 values of each channel = -6: a = 0.25 + 0.6
    np.testing.assert_allclose(m.weight.numpy(), [0.85] * 4, rtol=1e-6)


# ---- modules: defaults and repr vs torch -------------------------------------------------------

MODULES = [
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {"inplace": True}), ("ELU", (), {}),
    ("ELU", (0.5, True), {}), ("CELU", (), {}), ("CELU", (2.0,), {}), ("SELU", (), {}),
    ("SELU", (True,), {}), ("SiLU", (), {}), ("SiLU", (), {"inplace": True}), ("Mish", (), {}),
    ("Softplus", (), {}), ("Softplus", (2, 10), {}), ("Softsign", (), {}), ("Hardtanh", (), {}),
    ("Hardtanh", (-2.0, 2.0, True), {}), ("ReLU6", (), {}), ("ReLU6", (True,), {}),
    ("Hardsigmoid", (), {}), ("Hardsigmoid", (True,), {}), ("Hardswish", (), {}),
    ("LogSigmoid", (), {}), ("GLU", (), {}), ("GLU", (0,), {}), ("Tanhshrink", (), {}),
    ("Softmin", (), {}), ("Softmin", (1,), {}), ("PReLU", (), {}), ("PReLU", (3,), {}),
    ("GELU", (), {}), ("GELU", ("tanh",), {}), ("Hardshrink", (), {}), ("Softshrink", (0.3,), {}),
    ("Threshold", (0.1, 20.0), {}), ("ReLU", (), {}), ("ReLU", (True,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", MODULES)
def test_module_repr_and_forward_match_torch(name, args, kwargs):
    gm = getattr(graphc.nn, name)(*args, **kwargs)
    tm = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(gm) == repr(tm)
    for attr in ("negative_slope", "alpha", "inplace", "beta", "threshold", "min_val", "max_val",
                 "dim", "num_parameters", "lambd", "value"):
        if hasattr(tm, attr):
            assert getattr(gm, attr) == getattr(tm, attr), attr
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    gx, tx = graphc.tensor(x.copy()), torch.tensor(x.copy())
    if name == "PReLU" and args == (3,):
        x = x[:, :3].copy()
        gx, tx = graphc.tensor(x.copy()), torch.tensor(x.copy())
    with torch.no_grad():
        want = tm(tx)
    _close(gm(gx), want, np.float32)


def test_hardtanh_rejects_max_below_min_as_torch():
    with pytest.raises(AssertionError):
        torch.nn.Hardtanh(1.0, -1.0)
    with pytest.raises(AssertionError):
        graphc.nn.Hardtanh(1.0, -1.0)


def test_glu_odd_dim_is_an_error():
    with pytest.raises(graphc.GraphcError, match="even"):
        GF.glu(graphc.ones(3, 5))


def test_softmin_implicit_dim_as_torch():
    x = np.random.default_rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = TF.softmin(torch.tensor(x))
    _close(GF.softmin(graphc.tensor(x)), want, np.float32)
    _close(graphc.nn.Softmin(dim=-1)(graphc.tensor(x)), TF.softmin(torch.tensor(x), -1), np.float32)


# ---- math compositions ---------------------------------------------------------------------------

UNARY = ["exp2", "log2", "log10", "expm1", "ceil", "floor", "trunc", "frac", "round", "isnan",
         "isinf", "isfinite", "isposinf", "isneginf", "nan_to_num", "sgn", "sign", "signbit",
         "reciprocal", "square", "rsqrt", "fix", "logical_not"]

MATH_EDGES = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 1e-8, -1e-8,
              1e-30, 3.7, -3.7, 1e5 + 0.5, 2.0 ** 24 + 2, 1e30, -1e30, NAN, INF, -INF]


def _math_inputs(dtype, positive=False):
    x = np.concatenate([np.random.default_rng(7).standard_normal(40) * 5, MATH_EDGES,
                        np.random.default_rng(8).standard_normal(10) * 1e-4]).astype(dtype)
    return np.abs(x) if positive else x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_unary_math_matches_torch(name, dtype):
    x = _math_inputs(dtype, positive=name in ("log2", "log10", "rsqrt"))
    got = getattr(graphc, name)(graphc.tensor(x))
    want = getattr(torch, name)(torch.tensor(x))
    assert got.dtype.np == want.numpy().dtype, (got.dtype, want.dtype)
    _close(got, want, dtype, rtol=4e-7 if dtype == np.float32 else 1e-15, atol=0)
    # and as a Tensor method
    _close(getattr(graphc.tensor(x), name)(), want, dtype, rtol=4e-7 if dtype == np.float32
           else 1e-15, atol=0)


@pytest.mark.parametrize("name", ["ceil", "floor", "trunc", "round", "sgn", "sign", "isnan", "isinf",
                                  "isfinite", "isposinf", "isneginf", "signbit", "nan_to_num",
                                  "logical_not", "square", "frac", "fix"])
def test_unary_math_on_integers_matches_torch(name):
    x = np.array([-7, -1, 0, 1, 5, 100], np.int64)
    try:
        want = getattr(torch, name)(torch.tensor(x))
    except RuntimeError:
        pytest.skip(f"torch.{name} takes no integer tensor")
    got = getattr(graphc, name)(graphc.tensor(x))
    assert got.dtype.np == want.numpy().dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_expm1_is_accurate_near_zero():
    x = np.array([1e-10, -1e-10, 1e-6, -1e-6, 1e-3, 0.3, -0.7, 0.99, -0.99, 1.01], np.float32)
    got = graphc.expm1(graphc.tensor(x)).numpy()
    want = np.expm1(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=3e-7)  # exp(x) - 1 would be off by 100% at 1e-10


@pytest.mark.parametrize("decimals", [1, 2, -1, -2])
def test_round_decimals_matches_torch(decimals):
    x = (np.random.default_rng(9).standard_normal(50) * 300).astype(np.float64)
    _close(graphc.round(graphc.tensor(x), decimals=decimals),
           torch.round(torch.tensor(x), decimals=decimals), np.float64, rtol=1e-15, atol=1e-12)


def test_round_is_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 4.5], np.float32)
    np.testing.assert_array_equal(graphc.round(graphc.tensor(x)).numpy(),
                                  [0, 2, 2, -0.0, -2, -2, 4, 4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_fmod_and_remainder_sign_rules_match_torch(dtype):
    a = np.array([7, -7, 7, -7, 5, 0, 13, -13, 9], dtype)
    b = np.array([3, 3, -3, -3, 5, 3, 4, 4, -2], dtype)
    if np.issubdtype(dtype, np.floating):
        a = a + np.array([0.5, -0.25, 0.75, 0, 0, 0, 0.1, 0.3, 0.9], dtype)
    for name in ("fmod", "remainder"):
        got = getattr(graphc, name)(graphc.tensor(a), graphc.tensor(b))
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        assert got.dtype.np == want.numpy().dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
        got = getattr(graphc.tensor(a), name)(3)
        want = getattr(torch.tensor(a), name)(3)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_math_matches_torch(dtype):
    rng = np.random.default_rng(10)
    a = (rng.standard_normal((5, 6)) * 3).astype(dtype)
    b = (rng.standard_normal((6,)) * 3).astype(dtype)
    ga, gb, ta, tb = graphc.tensor(a), graphc.tensor(b), torch.tensor(a), torch.tensor(b)
    _close(graphc.hypot(ga, gb), torch.hypot(ta, tb), dtype)
    big = np.array([1e30, 3e-30, 0.0, 1e20, INF, NAN, -INF, NAN, 2.0],
                   dtype if dtype == np.float64 else np.float32)
    _close(graphc.hypot(graphc.tensor(big), graphc.tensor(big[::-1].copy())),
           torch.hypot(torch.tensor(big), torch.tensor(big[::-1].copy())), big.dtype.type)
    _close(graphc.lerp(ga, gb, 0.3), torch.lerp(ta, tb, 0.3), dtype)
    _close(graphc.lerp(ga, gb, 0.8), torch.lerp(ta, tb, 0.8), dtype)
    w = rng.uniform(0, 1, (5, 6)).astype(dtype)
    _close(graphc.lerp(ga, gb, graphc.tensor(w)), torch.lerp(ta, tb, torch.tensor(w)), dtype)
    _close(graphc.clamp(ga, gb, gb + 1), torch.clamp(ta, tb, tb + 1), dtype)
    _close(graphc.clip(ga, min=-1.0), torch.clip(ta, min=-1.0), dtype)
    _close(ga.clip(max=gb), ta.clip(max=tb), dtype)
    _close(graphc.pow(graphc.abs(ga), gb), torch.pow(torch.abs(ta), tb), dtype, rtol=1e-5)
    _close(graphc.abs(ga) ** gb, torch.abs(ta) ** tb, dtype, rtol=1e-5)
    _close(graphc.pow(2.0, gb), torch.pow(2.0, tb), dtype, rtol=1e-6)
    fp = graphc.float_power(ga, 2)
    assert fp.dtype == graphc.float64
    _close(fp, torch.float_power(ta, 2), np.float64)
    _close(graphc.float_power(graphc.abs(ga), gb), torch.float_power(torch.abs(ta), tb), np.float64)
    for name in ("logical_and", "logical_or", "logical_xor"):
        a0 = np.where(a > 0, a, 0).astype(dtype)
        got = getattr(graphc, name)(graphc.tensor(a0), gb)
        want = getattr(torch, name)(torch.tensor(a0), tb)
        assert got.dtype == graphc.bool
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_nan_to_num_defaults_and_arguments_match_torch():
    for dtype in DTYPES:
        x = np.array([NAN, INF, -INF, 1.0, -2.0], dtype)
        _close(graphc.nan_to_num(graphc.tensor(x)), torch.nan_to_num(torch.tensor(x)), dtype, 0, 0)
        _close(graphc.nan_to_num(graphc.tensor(x), nan=1.5, posinf=9.0, neginf=-9.0),
               torch.nan_to_num(torch.tensor(x), nan=1.5, posinf=9.0, neginf=-9.0), dtype, 0, 0)


def test_signbit_sees_negative_zero():
    x = graphc.tensor(np.array([-0.0, 0.0, -1.0, 2.0], np.float32))
    np.testing.assert_array_equal(graphc.signbit(x).numpy(), [True, False, True, False])


GRAD_MATH = {
    "exp2": (graphc.exp2, torch.exp2, False), "log2": (graphc.log2, torch.log2, True),
    "log10": (graphc.log10, torch.log10, True), "expm1": (graphc.expm1, torch.expm1, False),
    "frac": (graphc.frac, torch.frac, False), "ceil": (graphc.ceil, torch.ceil, False),
    "trunc": (graphc.trunc, torch.trunc, False), "round": (graphc.round, torch.round, False),
    "reciprocal": (graphc.reciprocal, torch.reciprocal, True),
    "nan_to_num": (graphc.nan_to_num, torch.nan_to_num, False),
    "hypot": (lambda x: graphc.hypot(x, x * 0.5 + 1.0), lambda x: torch.hypot(x, x * 0.5 + 1.0), False),
    "lerp": (lambda x: graphc.lerp(x, x * x, 0.7), lambda x: torch.lerp(x, x * x, 0.7), False),
    "lerp_t": (lambda x: graphc.lerp(x, -x, graphc.sigmoid(x)),
               lambda x: torch.lerp(x, -x, torch.sigmoid(x)), False),
    "fmod": (lambda x: graphc.fmod(x, 1.3), lambda x: torch.fmod(x, 1.3), False),
    "remainder": (lambda x: graphc.remainder(x, 1.3), lambda x: torch.remainder(x, 1.3), False),
    "clamp_t": (lambda x: graphc.clamp(x, x * 0 - 1.0, x * 0 + 2.0),
                lambda x: torch.clamp(x, x * 0 - 1.0, x * 0 + 2.0), False),
    "float_power": (lambda x: graphc.float_power(x, 3), lambda x: torch.float_power(x, 3), False),
    "floor": (graphc.floor, torch.floor, False),
    "sgn": (lambda x: graphc.sgn(x) * x, lambda x: torch.sgn(x) * x, False),
}


@pytest.mark.parametrize("name", sorted(GRAD_MATH))
def test_math_gradients_match_torch_and_compile(name):
    g, t, positive = GRAD_MATH[name]
    x = np.random.default_rng(11).uniform(-4, 4, 30)
    x = np.where(np.abs(x - np.round(x * 2) / 2) < 1e-3, x + 0.01, x)  # off the steps
    x = np.abs(x) + 0.1 if positive else x
    x = x.astype(np.float64)
    gx = graphc.tensor(x, requires_grad=True)
    g(gx).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    t(tx).sum().backward()
    _close(gx.grad, tx.grad, np.float64, rtol=1e-9, atol=1e-9)
    x32 = x.astype(np.float32)
    for backend in BACKENDS:
        def step(v):
            v.requires_grad_(True)
            y = g(v)
            y.sum().backward()
            return y, v.grad
        y, gr = graphc.compile(step, backend=backend)(graphc.tensor(x32))
        ex = graphc.tensor(x32, requires_grad=True)
        ey = g(ex)
        ey.sum().backward()
        np.testing.assert_allclose(np.asarray(y), ey.detach().numpy(), rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(gr), ex.grad.numpy(), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_math_equals_eager_with_edges(backend):
    x = _math_inputs(np.float32)
    names = ["exp2", "expm1", "ceil", "floor", "trunc", "frac", "round", "isnan", "isinf",
             "isfinite", "nan_to_num", "sgn", "signbit"]
    f = graphc.compile(lambda v: tuple(getattr(graphc, n)(v) for n in names), backend=backend)
    outs = f(graphc.tensor(x))
    for n, o in zip(names, outs):
        want = getattr(graphc, n)(graphc.tensor(x)).numpy()
        np.testing.assert_allclose(np.asarray(o).astype(np.float64), want.astype(np.float64),
                                   rtol=2e-6, atol=0, equal_nan=True, err_msg=n)


INPLACE = ["sign_", "relu_", "sigmoid_", "tanh_", "exp_", "log_", "sqrt_", "abs_", "neg_",
           "floor_", "ceil_", "round_", "trunc_", "reciprocal_", "square_", "exp2_", "expm1_",
           "log2_", "log10_", "frac_", "sgn_", "rsqrt_", "log1p_"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_methods_match_torch(name):
    x = _math_inputs(np.float32, positive=name in ("log_", "sqrt_", "log2_", "log10_", "rsqrt_",
                                                    "log1p_"))
    gx, tx = graphc.tensor(x.copy()), torch.tensor(x.copy())
    out = getattr(gx, name)()
    getattr(tx, name)()
    assert out is gx
    _close(gx, tx, np.float32, rtol=2e-6, atol=0)


def test_inplace_methods_with_arguments_match_torch():
    x = _math_inputs(np.float32)
    for name, args, kwargs in [("clamp_", (-1.0, 2.0), {}), ("pow_", (2,), {}), ("pow_", (3,), {}),
                               ("round_", (), {"decimals": 1}), ("clip_", (), {"min": 0.0}),
                               ("nan_to_num_", (), {}), ("fmod_", (2.0,), {}),
                               ("remainder_", (2.0,), {})]:
        gx, tx = graphc.tensor(x.copy()), torch.tensor(x.copy())
        assert getattr(gx, name)(*args, **kwargs) is gx
        getattr(tx, name)(*args, **kwargs)
        _close(gx, tx, np.float32, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_methods_inside_compile(backend):
    x = np.random.default_rng(12).standard_normal(20).astype(np.float32)

    def f(v):
        w = v * 1.0
        w.exp_()
        w.round_()
        w.clamp_(0.0, 3.0)
        w.square_()
        return w

    got = graphc.compile(f, backend=backend)(graphc.tensor(x))
    np.testing.assert_allclose(np.asarray(got), f(graphc.tensor(x)).numpy())
    np.testing.assert_allclose(np.asarray(got), f(torch.tensor(x)).numpy())


def test_torch_namespace_activations_and_methods_match_torch():
    x = _inputs(np.float32)
    gx, tx = graphc.tensor(x), torch.tensor(x)
    _close(graphc.selu(gx), torch.selu(tx), np.float32)
    _close(graphc.celu(gx, 0.7), torch.celu(tx, 0.7), np.float32)
    _close(graphc.hardshrink(gx, 0.4), torch.hardshrink(tx, 0.4), np.float32)
    _close(gx.hardshrink(0.4), tx.hardshrink(0.4), np.float32)
    _close(graphc.threshold(gx, 0.5, 3.0), torch.threshold(tx, 0.5, 3.0), np.float32)
    w = np.array([0.3], np.float32)
    _close(graphc.prelu(gx, graphc.tensor(w)), torch.prelu(tx, torch.tensor(w)), np.float32)
    _close(gx.prelu(graphc.tensor(w)), tx.prelu(torch.tensor(w)), np.float32)
    b = np.linspace(-2, 2, x.size).astype(np.float32)
    _close(graphc.clamp_min(gx, 0.5), torch.clamp_min(tx, 0.5), np.float32)
    _close(gx.clamp_max(graphc.tensor(b)), tx.clamp_max(torch.tensor(b)), np.float32)
    for name in ("selu_", "celu_", "relu_"):
        g2, t2 = graphc.tensor(x.copy()), torch.tensor(x.copy())
        assert getattr(graphc, name)(g2) is g2
        getattr(torch, name)(t2)
        _close(g2, t2, np.float32)
    g2, t2 = graphc.tensor(x.copy()), torch.tensor(x.copy())
    assert GF.relu(g2, inplace=True) is g2
    _close(g2, TF.relu(t2), np.float32)
    g2 = graphc.tensor(x.copy())
    assert graphc.nn.ReLU(inplace=True)(g2) is g2
    _close(g2, TF.relu(torch.tensor(x)), np.float32)


def test_float32_fmod_and_remainder_are_exact_as_torch():
    rng = np.random.default_rng(13)
    a = (rng.standard_normal(20000) * 1000).astype(np.float32)
    b = rng.standard_normal(20000).astype(np.float32)
    ga, gb, ta, tb = graphc.tensor(a), graphc.tensor(b), torch.tensor(a), torch.tensor(b)
    np.testing.assert_array_equal(graphc.fmod(ga, gb).numpy(), torch.fmod(ta, tb).numpy())
    np.testing.assert_array_equal(graphc.remainder(ga, gb).numpy(), torch.remainder(ta, tb).numpy())
    np.testing.assert_array_equal((ga % gb).numpy(), (ta % tb).numpy())
    np.testing.assert_array_equal((2.5 % gb).numpy(), (2.5 % tb).numpy())
    for backend in BACKENDS:
        f = graphc.compile(lambda x, y: (graphc.fmod(x, y), x % y), backend=backend)
        r1, r2 = f(ga, gb)
        np.testing.assert_array_equal(np.asarray(r1), torch.fmod(ta, tb).numpy())
        np.testing.assert_array_equal(np.asarray(r2), torch.remainder(ta, tb).numpy())


@pytest.mark.parametrize("name", ["exp2", "log2", "log10", "expm1", "reciprocal", "sqrt", "exp",
                                  "sigmoid", "tanh"])
def test_float_math_of_integers_gives_float32_as_torch(name):
    x = np.array([-7, -1, 0, 1, 5, 100], np.int64)
    want = getattr(torch, name)(torch.tensor(x))
    got = getattr(graphc, name)(graphc.tensor(x))
    assert got.dtype == graphc.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, equal_nan=True)


def test_prelu_float64_parameter():
    m = graphc.nn.PReLU(2, dtype=graphc.float64)
    assert m.weight.dtype == graphc.float64
    assert m.weight.requires_grad and len(list(m.parameters())) == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_floor_divide_equals_torch_exactly(dtype):
    rng = np.random.default_rng(14)
    a = (rng.standard_normal(20000) * 1000).astype(dtype)
    b = rng.standard_normal(20000).astype(dtype)
    a[:6], b[:6] = [0.0, -0.0, 1.0, -1.0, 5.0, NAN], [-1.0, 2.0, 0.0, 0.0, -5.0, 1.0]
    ga, gb, ta, tb = graphc.tensor(a), graphc.tensor(b), torch.tensor(a), torch.tensor(b)
    want = (ta // tb).numpy()
    for got in ((ga // gb).numpy(), graphc.floor_divide(ga, gb).numpy(), ga.floor_divide(gb).numpy()):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(want[:2]))
    np.testing.assert_array_equal((2.5 // gb).numpy(), (2.5 // tb).numpy())
    np.testing.assert_array_equal((ga // 3).numpy(), (ta // 3).numpy())
    for backend in BACKENDS:
        got = graphc.compile(lambda x, y: x // y, backend=backend)(ga, gb)
        np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal((graphc.tensor([7, -7]) // 2).numpy(), [3, -4])


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_modes_match_torch(mode):
    rng = np.random.default_rng(15)
    for dtype in (np.float32, np.float64, np.int64):
        a = (rng.standard_normal(200) * 50).astype(dtype)
        b = (rng.standard_normal(200) * 5).astype(dtype)
        b[b == 0] = 3
        ga, gb, ta, tb = graphc.tensor(a), graphc.tensor(b), torch.tensor(a), torch.tensor(b)
        want = torch.div(ta, tb, rounding_mode=mode)
        for got in (graphc.div(ga, gb, rounding_mode=mode), ga.div(gb, rounding_mode=mode),
                    graphc.divide(ga, gb, rounding_mode=mode)):
            assert got.dtype.np == want.numpy().dtype
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(graphc.GraphcError, match="rounding_mode"):
        graphc.div(graphc.ones(2), 2, rounding_mode="round")


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_activations_equal_eager_on_edge_values(backend):
    names = sorted(n for n in ACTS if n not in _NO_EDGES)
    x = _inputs(np.float32)
    f = graphc.compile(lambda v: tuple(ACTS[n][0](v) for n in names), backend=backend)
    for n, o in zip(names, f(graphc.tensor(x))):
        want = ACTS[n][1](torch.tensor(x)).numpy()
        np.testing.assert_allclose(np.asarray(o).astype(np.float64), want.astype(np.float64),
                                   rtol=2e-6, atol=1e-6, equal_nan=True, err_msg=n)
