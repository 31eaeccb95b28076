"""The trigonometric/hyperbolic family, atan2, erfc, copysign, sinc, logaddexp(2), xlogy,
deg2rad/rad2deg, bitwise ops and shifts, integer pow and clamp's gradients against PyTorch: edge
values (+-0, inf, NaN, domain errors, huge arguments) counted in ulps, eagerly and compiled on
both backends (libmvec's vector variants and the scalar libm fallback), gradients eagerly
(float64) and compiled (float32), and the Tensor methods, aliases, in-place forms and operators."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.backend.llvm.kernels import elementwise as lowering

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")
BACKENDS = ["llvm", "interpreter"]

# name: (torch name, operand range for the random part, edge values)
_BIG = [1e4, -1e4, 1e6, 1e10, -1e20, 1e30, 3e38, -3e38, 16777217.0, 31415926.0]
_COMMON = [0.0, -0.0, 1e-30, -1e-38, 1e-7, 0.5, -0.5, 1.0, -1.0, 2.0, NAN, INF, -INF]
UNARY = {
    "sin": ("sin", 20, _BIG), "cos": ("cos", 20, _BIG), "tan": ("tan", 20, _BIG + [1.5707964]),
    "asin": ("asin", 1, [1.5, -1.0000001, 0.9999999]), "acos": ("acos", 1, [1.5, -2.0]),
    "atan": ("atan", 50, _BIG), "sinh": ("sinh", 10, [88.0, 89.5, -89.5, 1e-4, 710.0]),
    "cosh": ("cosh", 10, [88.0, 89.5, -89.5, 1e-4]), "asinh": ("asinh", 100, _BIG),
    "acosh": ("acosh", 100, [1.0000001, 0.5, 3e38]), "atanh": ("atanh", 1, [0.9999999, 1.5]),
    "erfc": ("erfc", 5, [9.0, 10.0, 10.05, -10.0, 30.0, -6.0]),
    "arcsin": ("arcsin", 1, []), "arccos": ("arccos", 1, []), "arctan": ("arctan", 5, []),
    "arcsinh": ("arcsinh", 5, []), "arccosh": ("arccosh", 5, []), "arctanh": ("arctanh", 1, []),
    "deg2rad": ("deg2rad", 400, [180.0, 1e38]), "rad2deg": ("rad2deg", 7, [3.1415927, 1e37]),
    "sinc": ("sinc", 10, [1e-20, 1e6, 1e10]),
}


def _inputs(name, dtype, seed=0):
    _, scale, extra = UNARY[name]
    x = np.random.default_rng(seed).uniform(-scale, scale, 120)
    if name in ("acosh", "arccosh"):
        x = np.abs(x) + 1.0
    return np.concatenate([x, _COMMON, extra]).astype(dtype)


def ulps(got, want, floor: float = 0.0) -> float:
    """Largest distance in units of the float32/float64 spacing at the torch value (at least
    the spacing at `floor`); NaN must be NaN, infinities equal, zeros of the same sign (a
    mismatch counts as inf)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    nan = np.isnan(want)
    bad = (np.isnan(got) != nan) | (np.isinf(want) & (got != want))
    bad |= (want == 0) & (got == 0) & (np.signbit(got) != np.signbit(want))
    if bad.any():
        return float("inf")
    ok = ~nan & ~np.isinf(want)
    tiny = np.maximum(np.finfo(want.dtype).tiny, np.asarray(floor, want.dtype))
    d = np.abs(got[ok].astype(np.float64) - want[ok]) / np.maximum(np.spacing(np.abs(want[ok])),
                                                                  np.spacing(tiny))
    return float(d.max(initial=0.0))


def _torch_fn(name):
    return getattr(torch, UNARY[name][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_match_torch_within_ulps(name, dtype):
    x = _inputs(name, dtype)
    with np.errstate(all="ignore"):
        want = _torch_fn(name)(torch.tensor(x)).numpy()
    got = getattr(graphc, name)(graphc.tensor(x))
    assert got.dtype.np == want.dtype
    # eagerly float32 is NumPy's (<= 1.4 ulp) or rounded from float64 (0.5); torch's SLEEF <= 1
    assert ulps(got.numpy(), want) <= (3 if dtype == np.float32 else 4), name
    assert ulps(getattr(graphc.tensor(x), name)().numpy(), want) <= 4, f"Tensor.{name}"


@pytest.mark.parametrize("vector", ["libmvec", "scalar-libm"])
def test_compiled_unary_edges_match_torch_within_ulps(vector, monkeypatch):
    """Native code on every edge value: glibc's vector variants (<= 3.2 ulp from the correctly
    rounded value, measured) and, with them hidden, the scalar libm path lane by lane."""
    if vector == "scalar-libm":
        monkeypatch.setattr(lowering, "has_vector_variant", lambda symbol: False)
    names = sorted(UNARY)
    xs = {n: _inputs(n, np.float32, seed=1) for n in names}
    f = graphc.compile(lambda *v: tuple(getattr(graphc, n)(t) for n, t in zip(names, v)),
                       backend="llvm")
    outs = f(*[graphc.tensor(xs[n]) for n in names])
    for n, o in zip(names, outs):
        with np.errstate(all="ignore"):
            want = _torch_fn(n)(torch.tensor(xs[n])).numpy()
        assert ulps(np.asarray(o), want) <= 4, n
    llvm_ir = f.ir("llvm")
    if vector == "scalar-libm":
        assert "_ZGVdN8v_" not in llvm_ir and "@sinf(" in llvm_ir
    elif lowering.has_vector_variant("_ZGVdN8v_sinf"):   # glibc >= 2.35 on an AVX2 machine
        assert "_ZGVdN8v_sinf" in llvm_ir and "_ZGVdN8v_atanhf" in llvm_ir


BINARY_EDGES = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-30, 1e30, NAN, INF, -INF], np.float32)


def _pairs(dtype):
    a = np.repeat(BINARY_EDGES, len(BINARY_EDGES))
    b = np.tile(BINARY_EDGES, len(BINARY_EDGES))
    rng = np.random.default_rng(4)
    a = np.concatenate([a, rng.standard_normal(60) * 4]).astype(dtype)
    b = np.concatenate([b, rng.standard_normal(60) * 4]).astype(dtype)
    return a, b


BINARY = ["atan2", "arctan2", "copysign", "logaddexp", "logaddexp2", "xlogy"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_values_match_torch_eager_and_compiled(dtype):
    a, b = _pairs(dtype)
    ta, tb = torch.tensor(a), torch.tensor(b)
    f = {bk: graphc.compile(lambda x, y: tuple(getattr(graphc, n)(x, y) for n in BINARY),
                            backend=bk) for bk in BACKENDS}
    compiled = {bk: fn(graphc.tensor(a), graphc.tensor(b)) for bk, fn in f.items()}
    for k, n in enumerate(BINARY):
        want = getattr(torch, n)(ta, tb).numpy()
        got = getattr(graphc, n)(graphc.tensor(a), graphc.tensor(b)).numpy()
        # logaddexp's m + log1p(exp(-d)) rounds four times, as torch's (which fuses an FMA):
        # counted in ulps of 1 where the sum cancels to about 0 (logaddexp2(-1, -1) = 0)
        tol, floor = (2, 0.0) if n in ("atan2", "arctan2", "copysign") else (4, 1.0)
        assert ulps(got, want, floor) <= tol, n
        assert ulps(getattr(graphc.tensor(a), n)(graphc.tensor(b)).numpy(), want, floor) <= tol
        for bk in BACKENDS:
            assert ulps(np.asarray(compiled[bk][k]), want, floor) <= tol + 3, (n, bk)


def test_integer_and_mixed_operands_promote_as_torch():
    i = np.array([-3, 0, 1, 2, 7])
    for n in sorted(UNARY):
        want = _torch_fn(n)(torch.tensor(i))
        got = getattr(graphc, n)(graphc.tensor(i))
        assert got.dtype == graphc.float32 and want.dtype == torch.float32, n
        assert ulps(got.numpy(), want.numpy()) <= 2, n
    f = np.array([0.5, -1.0, 2.0, 3.0, -0.0], np.float32)
    for n in ("atan2", "copysign", "xlogy"):
        for a, b in ((i, i), (f, i), (f.astype(np.float64), i), (f, f.astype(np.float64))):
            want = getattr(torch, n)(torch.tensor(a), torch.tensor(b))
            got = getattr(graphc, n)(graphc.tensor(a), graphc.tensor(b))
            assert got.dtype.torch_name == str(want.dtype).split(".")[1], (n, a.dtype, b.dtype)
            assert ulps(got.numpy(), want.numpy()) <= 2, n
    assert graphc.xlogy(2.0, graphc.tensor(f)).dtype == graphc.float32
    np.testing.assert_array_equal(graphc.xlogy(0.0, graphc.tensor(f)).numpy(),
                                  torch.xlogy(0.0, torch.tensor(f)).numpy())


# ---- gradients -----------------------------------------------------------------------------------

GRADS = {  # name: (graphc fn, torch fn, operand range)
    **{n: (getattr(graphc, n), _torch_fn(n), r) for n, r in [
        ("sin", 6), ("cos", 6), ("tan", 1.4), ("asin", 0.95), ("acos", 0.95), ("atan", 5),
        ("sinh", 4), ("cosh", 4), ("asinh", 5), ("atanh", 0.95), ("erfc", 3), ("deg2rad", 90),
        ("rad2deg", 3), ("sinc", 3)]},
    "acosh": (lambda x: graphc.acosh(x * x + 1.1), lambda x: torch.acosh(x * x + 1.1), 3),
    "sinc0": (lambda x: graphc.sinc(x * 0), lambda x: torch.sinc(x * 0), 1),
    "atan2": (lambda x: graphc.atan2(x, x * 0.5 - 1.0), lambda x: torch.atan2(x, x * 0.5 - 1), 3),
    "copysign": (lambda x: graphc.copysign(x * x + 0.5, x),
                 lambda x: torch.copysign(x * x + 0.5, x), 3),
    "logaddexp": (lambda x: graphc.logaddexp(x, 1.0 - x), lambda x: torch.logaddexp(x, 1.0 - x), 9),
    "logaddexp2": (lambda x: graphc.logaddexp2(x, x * x), lambda x: torch.logaddexp2(x, x * x), 3),
    "xlogy": (lambda x: graphc.xlogy(x, x * x + 0.1), lambda x: torch.xlogy(x, x * x + 0.1), 3),
    "pow": (lambda x: graphc.pow(x * x + 0.2, x), lambda x: torch.pow(x * x + 0.2, x), 2),
    "pow_neg_base": (lambda x: x ** 3.0 + (x - 1.0) ** 2.0, lambda x: x ** 3.0 + (x - 1) ** 2.0, 3),
}


def _grad_x(dtype, r):
    return np.random.default_rng(5).uniform(-r, r, 40).astype(dtype)


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_torch_eagerly_and_compiled(name):
    g, t, r = GRADS[name]
    x = _grad_x(np.float64, r)
    gx = graphc.tensor(x, requires_grad=True)
    g(gx).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    t(tx).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)

    x32 = x.astype(np.float32)
    tx = torch.tensor(x32, requires_grad=True)
    t(tx).sum().backward()
    for backend in BACKENDS:
        def step(v):
            v.requires_grad_(True)
            g(v).sum().backward()
            return v.grad
        gr = graphc.compile(step, backend=backend)(graphc.tensor(x32))
        np.testing.assert_allclose(np.asarray(gr), tx.grad.numpy(), rtol=2e-5, atol=1e-5,
                                   err_msg=f"{name} {backend}")


def test_pow_gradients_at_zero_base_and_zero_exponent_follow_torch():
    base = np.array([0.0, 0.0, 0.0, 2.0, -2.0, 0.0, 3.0], np.float64)
    expo = np.array([0.0, 2.0, 0.5, 0.0, 3.0, -1.0, 1.5], np.float64)
    grads = []
    for lib, mk in ((graphc, lambda a: graphc.tensor(a, requires_grad=True)),
                    (torch, lambda a: torch.tensor(a, requires_grad=True))):
        a, b = mk(base), mk(expo)
        (a ** b).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    (ga, gb), (ta, tb) = grads
    np.testing.assert_array_equal(ga, ta)          # incl. 0 at 0**0, inf at 0**-1
    np.testing.assert_array_equal(gb, tb)          # incl. 0 at 0**y (y >= 0), nan at (-2)**3
    # scalar exponent 0: gradient 0 everywhere (torch's pow_backward)
    x = graphc.tensor(base, requires_grad=True)
    (x ** 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(base))


# ---- integer pow ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["eager"] + BACKENDS)
def test_integer_powers_stay_integer_as_torch(backend):
    a = np.array([-3, -1, 0, 1, 2, 5, 3], np.int64)
    e = np.array([3, 4, 0, -2, -1, 2, 41], np.int64)
    cases = {
        "x**3": (lambda x, y: x ** 3, None), "x**0": (lambda x, y: x ** 0, None),
        "x**1": (lambda x, y: x ** 1, None), "2**y": (lambda x, y: 2 ** graphc.abs(y), None),
        "x**y": (lambda x, y: x ** y, None), "pow": (lambda x, y: graphc.pow(x, graphc.abs(y)),
                                                     None),
        "x**41": (lambda x, y: x ** 41, None), "bool**2": (lambda x, y: (x > 0) ** 2, None),
        "x**2.5": (lambda x, y: graphc.abs(x) ** 2.5, None),
        "i32**y32": (lambda x, y: x.to(graphc.int32) ** graphc.abs(y).to(graphc.int32), None),
    }
    tcases = {
        "x**3": lambda x, y: x ** 3, "x**0": lambda x, y: x ** 0, "x**1": lambda x, y: x ** 1,
        "2**y": lambda x, y: 2 ** torch.abs(y), "x**y": lambda x, y: x ** y,
        "pow": lambda x, y: torch.pow(x, torch.abs(y)), "x**41": lambda x, y: x ** 41,
        "bool**2": lambda x, y: (x > 0) ** 2, "x**2.5": lambda x, y: torch.abs(x) ** 2.5,
        "i32**y32": lambda x, y: x.to(torch.int32) ** torch.abs(y).to(torch.int32),
    }
    names = sorted(cases)

    def f(x, y):
        return tuple(cases[n][0](x, y) for n in names)

    run = f if backend == "eager" else graphc.compile(f, backend=backend)
    outs = run(graphc.tensor(a), graphc.tensor(e))
    for n, o in zip(names, outs):
        want = tcases[n](torch.tensor(a), torch.tensor(e)).numpy()
        got = np.asarray(o)
        assert got.dtype == want.dtype, (n, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=n)
    with pytest.raises(graphc.GraphcError, match="negative integer powers"):
        graphc.tensor(a) ** -1
    x = graphc.tensor(a)
    assert (x ** 1) is not x


# ---- clamp with tensor bounds --------------------------------------------------------------------

def test_clamp_gradients_go_where_torch_sends_them():
    x = np.array([0., 1, 2, 3, 4, 5, 1, 3, NAN, 2, 7], np.float64)
    lo = np.array([1., 1, 1, 1, 4, 6, 2, 2, 1, NAN, 0], np.float64)
    hi = np.array([3., 3, 3, 3, 4, 4, 2, 2, 3, 3, 5], np.float64)
    res = []
    for lib in (graphc, torch):
        ts = [lib.tensor(v, requires_grad=True) for v in (x, lo, hi)]
        y = lib.clamp(*ts)
        (y * lib.tensor(np.arange(1.0, 12.0))).sum().backward()
        res.append([y.detach().numpy()] + [t.grad.numpy() for t in ts])
    for got, want, what in zip(res[0], res[1], ("value", "x", "min", "max")):
        np.testing.assert_array_equal(got, want, err_msg=what)
    # one bound, and number bounds: the tie at the bound passes the gradient to x (not 0.5)
    for kw in ({"min": 1.0}, {"max": 3.0}, {"min": 1.0, "max": 3.0}):
        gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        graphc.clamp(gx, **kw).sum().backward()
        torch.clamp(tx, **kw).sum().backward()
        np.testing.assert_array_equal(gx.grad.numpy(), tx.grad.numpy(), err_msg=str(kw))
    gx, glo = graphc.tensor(x, requires_grad=True), graphc.tensor(lo, requires_grad=True)
    tx, tlo = torch.tensor(x, requires_grad=True), torch.tensor(lo, requires_grad=True)
    graphc.clamp_min(gx, glo).sum().backward()
    torch.clamp_min(tx, tlo).sum().backward()
    np.testing.assert_array_equal(gx.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(glo.grad.numpy(), tlo.grad.numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_clamp_with_tensor_bounds_matches_torch(backend):
    rng = np.random.default_rng(6)
    x = np.round(rng.standard_normal(64) * 2).astype(np.float32)   # many ties with the bounds
    lo = np.round(rng.standard_normal(64)).astype(np.float32)
    hi = lo + np.round(rng.standard_normal(64) * 2).astype(np.float32)   # some hi < lo

    def step(a, b, c):
        for t in (a, b, c):
            t.requires_grad_(True)
        y = graphc.clamp(a, b, c)
        (y * y).sum().backward()
        return y, a.grad, b.grad, c.grad

    got = graphc.compile(step, backend=backend)(*[graphc.tensor(v) for v in (x, lo, hi)])
    ts = [torch.tensor(v, requires_grad=True) for v in (x, lo, hi)]
    y = torch.clamp(*ts)
    (y * y).sum().backward()
    for g, w in zip(got, [y.detach()] + [t.grad for t in ts]):
        np.testing.assert_array_equal(np.asarray(g), w.numpy())


def test_clamp_keeps_signed_zeros_and_nan_bounds_as_torch():
    z = np.array([-0.0, 0.0, 1.0, NAN], np.float32)
    for kw in ({"min": 0.0}, {"max": -0.0}, {"min": NAN}, {"min": 0.0, "max": 0.0}):
        got = graphc.clamp(graphc.tensor(z), **kw).numpy()
        want = torch.clamp(torch.tensor(z), **kw).numpy()
        assert ulps(got, want) == 0, kw
    t = np.array([NAN, 0.0, 5.0, 1.0], np.float32)
    got = graphc.clamp(graphc.tensor(z), graphc.tensor(t), graphc.tensor(t[::-1].copy()))
    want = torch.clamp(torch.tensor(z), torch.tensor(t), torch.tensor(t[::-1].copy()))
    assert ulps(got.numpy(), want.numpy()) == 0
    with pytest.raises(graphc.GraphcError, match="At least one of 'min' or 'max'"):
        graphc.clamp(graphc.tensor(z))


# ---- bitwise ops, shifts and the operators -------------------------------------------------------

INT_DTYPES = ["int64", "int32", "int8", "uint8"]


def _ints(dt, seed):
    info = np.iinfo(dt)
    v = np.random.default_rng(seed).integers(info.min, info.max, 40, dtype=dt, endpoint=True)
    return np.concatenate([v, np.array([0, 1, info.max, info.min], dt)])


@pytest.mark.parametrize("dt", INT_DTYPES)
def test_bitwise_ops_and_shifts_match_torch(dt):
    a, b = _ints(dt, 7), _ints(dt, 8)
    s = (np.arange(a.size) % 80 - 8).astype(dt if dt != "uint8" else "uint8")  # < 0 and >= width
    ta, tb, ts = torch.tensor(a), torch.tensor(b), torch.tensor(s)
    ga, gb, gs = graphc.tensor(a), graphc.tensor(b), graphc.tensor(s)
    pairs = [
        (ga & gb, ta & tb), (ga | gb, ta | tb), (ga ^ gb, ta ^ tb), (~ga, ~ta),
        (ga << gs, ta << ts), (ga >> gs, ta >> ts), (ga & 6, ta & 6), (5 | ga, 5 | ta),
        (ga ^ 3, ta ^ 3), (ga << 3, ta << 3), (ga >> 2, ta >> 2), (2 << (gs & 7), 2 << (ts & 7)),
        (graphc.bitwise_and(ga, gb), torch.bitwise_and(ta, tb)),
        (graphc.bitwise_not(ga), torch.bitwise_not(ta)),
        (graphc.bitwise_left_shift(ga, gs), torch.bitwise_left_shift(ta, ts)),
        (ga.bitwise_right_shift(gs), ta.bitwise_right_shift(ts)),
        (ga.bitwise_xor(gb), ta.bitwise_xor(tb)),
    ]
    for k, (g, t) in enumerate(pairs):
        assert g.dtype.torch_name == str(t.dtype).split(".")[1], k
        np.testing.assert_array_equal(g.numpy(), t.numpy(), err_msg=str(k))


def test_bool_operands_are_logical_and_promote_with_integers_as_torch():
    p = np.array([True, False, True, False])
    q = np.array([True, True, False, False])
    i = np.array([3, -2, 0, 5])
    G, T = graphc.tensor, torch.tensor
    for g, t in [(G(p) & G(q), T(p) & T(q)), (G(p) | G(q), T(p) | T(q)), (G(p) ^ G(q), T(p) ^ T(q)),
                 (~G(p), ~T(p)), (G(p) & True, T(p) & True), (G(p) & 3, T(p) & 3),
                 (G(p) | G(i), T(p) | T(i)), (G(p) << 2, T(p) << 2), (G(i) ^ G(p), T(i) ^ T(p))]:
        assert g.dtype.torch_name == str(t.dtype).split(".")[1]
        np.testing.assert_array_equal(g.numpy(), t.numpy())
    for bad in (lambda: G(np.ones(2, np.float32)) & 1, lambda: ~G(np.ones(2, np.float32)),
                lambda: G(np.ones(2, np.float32)) << 1, lambda: G(i) & 1.5):
        with pytest.raises(graphc.GraphcError, match="integer"):
            bad()


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_bitwise_ops_match_torch(backend):
    outs_t = []
    for dt in INT_DTYPES:
        a, b = _ints(dt, 9), _ints(dt, 10)
        s = (np.arange(a.size) % 80 - 8).astype(dt)
        outs_t.append((a, b, s))

    def f(*args):
        res = []
        for k in range(0, len(args), 3):
            a, b, s = args[k:k + 3]
            res += [a & b, a | b, a ^ b, ~a, a << s, a >> s, (a > 0) & (b > 0), a << 2]
        return tuple(res)

    flat = [graphc.tensor(v) for t in outs_t for v in t]
    got = graphc.compile(f, backend=backend)(*flat)
    want = f(*[torch.tensor(v) for t in outs_t for v in t])
    for k, (g, w) in enumerate(zip(got, want)):
        assert np.asarray(g).dtype == w.numpy().dtype, k
        np.testing.assert_array_equal(np.asarray(g), w.numpy(), err_msg=str(k))


# ---- methods, aliases, in-place forms ------------------------------------------------------------

INPLACE = ["sin_", "cos_", "tan_", "asin_", "arcsin_", "acos_", "arccos_", "atan_", "arctan_",
           "sinh_", "cosh_", "asinh_", "arcsinh_", "acosh_", "arccosh_", "atanh_", "arctanh_",
           "erfc_", "deg2rad_", "rad2deg_", "sinc_"]


def test_inplace_methods_write_into_self_as_torch():
    x = np.random.default_rng(11).uniform(-0.9, 0.9, 30).astype(np.float32)
    for name in INPLACE:
        v = np.abs(x) + 1 if name in ("acosh_", "arccosh_") else x
        g, t = graphc.tensor(v.copy()), torch.tensor(v.copy())
        assert getattr(g, name)() is g, name
        getattr(t, name)()
        assert ulps(g.numpy(), t.numpy()) <= 2, name
    y = x + 0.5
    for name, arg in [("atan2_", y), ("arctan2_", y), ("copysign_", -y), ("xlogy_", y + 1)]:
        g, t = graphc.tensor(x.copy()), torch.tensor(x.copy())
        assert getattr(g, name)(graphc.tensor(arg)) is g
        getattr(t, name)(torch.tensor(arg))
        assert ulps(g.numpy(), t.numpy()) <= 2, name
    a, b = np.array([12, 5, -7]), np.array([10, 3, 2])
    for name, op in [("bitwise_and_", "__iand__"), ("bitwise_or_", "__ior__"),
                     ("bitwise_xor_", "__ixor__"), ("bitwise_left_shift_", "__ilshift__"),
                     ("bitwise_right_shift_", "__irshift__")]:
        for how in (name, op):
            g, t = graphc.tensor(a.copy()), torch.tensor(a.copy())
            r = getattr(g, how)(graphc.tensor(b))
            getattr(t, how)(torch.tensor(b))
            assert r is g
            np.testing.assert_array_equal(g.numpy(), t.numpy(), err_msg=how)
    g = graphc.tensor(a.copy())
    assert g.bitwise_not_() is g
    np.testing.assert_array_equal(g.numpy(), ~a)
    with pytest.raises(graphc.GraphcError, match="can't be cast"):   # as torch: float into int
        graphc.tensor(a.copy()).sin_()


@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_trig_inside_compile(backend):
    x = np.random.default_rng(12).uniform(-2, 2, 20).astype(np.float32)

    def f(v):
        w = v * 1.0
        w.sin_()
        w.atan2_(v)
        w.deg2rad_()
        return w

    got = graphc.compile(f, backend=backend)(graphc.tensor(x))
    assert ulps(np.asarray(got), f(torch.tensor(x)).numpy()) <= 8


def test_sign_of_bool_is_the_tensor_as_torch():
    b = np.array([True, False])
    got = graphc.sign(graphc.tensor(b))
    assert got.dtype == graphc.bool
    np.testing.assert_array_equal(got.numpy(), torch.sign(torch.tensor(b)).numpy())
