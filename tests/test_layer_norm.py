"""LayerNorm, RMSNorm and F.normalize vs PyTorch: forward and the gradients of input, weight and
bias over a grid of shapes, affine settings, dtypes and eps, eagerly and compiled on both
backends; SGD trajectories of a small model; reprs, state and torch's errors
(graphc/nn/normalization.py)."""
import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}
MODES = ["eager", "interpreter", "llvm"]


def _compiled(fn, mode):
    return fn if mode == "eager" else graphc.compile(fn, backend=mode)


def _inputs(shape, dt, rng):
    """x of `shape` with a non-zero mean, its first row constant and its second zero along the
    last dim (var 0 and x = 0: eps decides the result and the gradient there)."""
    x = rng.standard_normal(shape) * 2 + 0.5
    if len(shape) >= 2:
        x[(0,) * (len(shape) - 1)] = 1.5
        x[(1,) + (0,) * (len(shape) - 2)] = 0.0
    return x.astype(dt)


def _differential(gfn, tfn, cases, dt, mode, seed=0):
    """Each case (x shape, normalized_shape, has weight, has bias, eps) through gfn and tfn:
    the outputs and the gradients of sum(y * g) for x, weight and bias agree; a compiled mode
    runs every case in one graph."""
    rng = np.random.default_rng(seed)
    data = []
    for shape, ns, has_w, has_b, eps in cases:
        nsh = list(ns)
        x = _inputs(shape, dt, rng)
        w = (rng.standard_normal(nsh) + 1).astype(dt) if has_w else None
        b = rng.standard_normal(nsh).astype(dt) if has_b else None
        data.append((x, w, b, rng.standard_normal(shape).astype(dt)))
    leaves_t, leaves_g, ys_t = [], [], []
    loss_t = 0
    for (shape, ns, _, _, eps), (x, w, b, g) in zip(cases, data):
        xt, wt, bt = (None if v is None else torch.tensor(v, requires_grad=True)
                      for v in (x, w, b))
        y = tfn(xt, list(ns), wt, bt, eps)
        loss_t = loss_t + (y * torch.tensor(g)).sum()
        ys_t.append(y.detach().numpy())
        leaves_t.append((xt, wt, bt))
        leaves_g.append(tuple(None if v is None else graphc.tensor(v, requires_grad=True)
                              for v in (x, w, b)))
    loss_t.backward()
    gs = [graphc.tensor(d[3]) for d in data]

    def run(*gin):
        ys, loss = [], 0
        for (_, ns, _, _, eps), (xg, wg, bg), g in zip(cases, leaves_g, gin):
            y = gfn(xg, list(ns), wg, bg, eps)
            loss = loss + (y * g).sum()
            ys.append(y)
        loss.backward()
        return tuple(ys)

    ys_g = _compiled(run, mode)(*gs)
    tol = TOL[dt]
    for case, yg, yt, lg, lt in zip(cases, ys_g, ys_t, leaves_g, leaves_t):
        assert yg.dtype.np == dt
        np.testing.assert_allclose(np.asarray(yg.detach().numpy()), yt, err_msg=f"{case}", **tol)
        for name, a, b in zip("xwb", lg, lt):
            if a is not None:
                nd = b.ndim
                axes = tuple(range(nd - len(case[1]), nd)) if name == "x" else ()
                _close_rows(a.grad.numpy(), b.grad.numpy(), axes, tol, f"grad {name} {case}")


def _close_rows(a, b, axes, tol, msg):
    """a == b within tol, atol scaled by the largest |b| of each vector over `axes` (the
    normalised ones): a normalisation's input gradient is a difference of terms the size of its
    vector's largest, scaled by 1 / norm (rstd = eps ** -0.5 for a constant row), so it rounds
    at that scale."""
    a2, b2 = (np.moveaxis(v, axes, tuple(range(-len(axes), 0))) for v in (a, b))
    scale = np.abs(b2).max(axis=tuple(range(-len(axes), 0)), keepdims=True, initial=0) if \
        axes else np.abs(b2)
    ok = np.abs(a2 - b2) <= tol["atol"] * np.maximum(1.0, scale) + tol["rtol"] * np.abs(b2)
    if not ok.all():
        np.testing.assert_allclose(a, b, err_msg=msg, **tol)


# (input shape, normalized_shape): 2-D/3-D/4-D inputs, 1-, 2- and 3-dim normalized shapes
_SHAPES = [((4, 6), (6,)), ((3, 2, 5), (5,)), ((2, 3, 4, 5), (4, 5)), ((3, 4, 2, 3), (4, 2, 3))]
_AFFINE = [(False, False), (True, False), (True, True), (False, True)]


def _layer_norm_g(x, ns, w, b, eps):
    return F.layer_norm(x, ns, w, b, eps)


def _layer_norm_t(x, ns, w, b, eps):
    return TF.layer_norm(x, ns, w, b, eps)


def _rms_norm_g(x, ns, w, b, eps):
    return F.rms_norm(x, ns, w, eps)


def _rms_norm_t(x, ns, w, b, eps):
    return TF.rms_norm(x, ns, w, eps)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_layer_norm_grid_eager(dt):
    cases = [(s, ns, aw, ab, eps) for s, ns in _SHAPES for aw, ab in _AFFINE
             for eps in (1e-5, 0.25)]
    _differential(_layer_norm_g, _layer_norm_t, cases, dt, "eager")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_rms_norm_grid_eager(dt):
    cases = [(s, ns, aw, False, eps) for s, ns in _SHAPES for aw in (False, True)
             for eps in (None, 1e-6, 0.25)]
    _differential(_rms_norm_g, _rms_norm_t, cases, dt, "eager")


@pytest.mark.parametrize("mode", ["interpreter", "llvm"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_norms_compiled(mode, dt):
    """One compiled graph per function holding every shape with and without affine."""
    ln = [(s, ns, aw, ab, 1e-5) for s, ns in _SHAPES for aw, ab in _AFFINE[1:3]]
    _differential(_layer_norm_g, _layer_norm_t, ln + [(_SHAPES[1] + (False, False, 0.25))],
                  dt, mode)
    rms = [(s, ns, aw, False, eps) for (s, ns), aw, eps in
           zip(_SHAPES, (True, False, True, True), (None, 1e-6, None, 0.25))]
    _differential(_rms_norm_g, _rms_norm_t, rms, dt, mode)


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")
def test_rms_norm_dtypes():
    """eps None is finfo(x.dtype).eps (a zero row shows it); the result has x's dtype when
    weight has another, as torch."""
    x = np.zeros((2, 3))
    x[1] = [1, -2, 0.5]
    for dt in (np.float32, np.float64):
        np.testing.assert_allclose(F.rms_norm(graphc.tensor(x.astype(dt)), [3]).numpy(),
                                   TF.rms_norm(torch.tensor(x.astype(dt)), [3]).numpy(),
                                   **TOL[dt])
    w = np.array([0.5, 2.0, -1.0])
    for xdt, wdt in ((np.float32, np.float64), (np.float64, np.float32)):
        y = F.rms_norm(graphc.tensor(x.astype(xdt)), [3], graphc.tensor(w.astype(wdt)))
        yt = TF.rms_norm(torch.tensor(x.astype(xdt)), [3], torch.tensor(w.astype(wdt)))
        assert y.dtype.np == xdt and str(yt.dtype) == f"torch.{np.dtype(xdt).name}"
        np.testing.assert_allclose(y.numpy(), yt.numpy(), **TOL[np.float32])


def test_layer_norm_edge_values():
    """Empty batches and empty normalized dims give empty results; eps = 0 on a constant row is
    NaN, as torch."""
    for shape, ns in (((0, 4), [4]), ((2, 0), [0])):
        for fn, tfn in ((F.layer_norm, TF.layer_norm), (F.rms_norm, TF.rms_norm)):
            assert fn(graphc.zeros(shape), ns).shape == tuple(tfn(torch.zeros(shape), ns).shape)
    assert np.isnan(F.layer_norm(graphc.ones(2, 4), [4], eps=0.0).numpy()).all()
    np.testing.assert_array_equal(F.layer_norm(graphc.ones(2, 4), [4]).numpy(), 0)
    x = np.array([4.0], np.float32)   # a 1-D input is one row
    assert float(F.layer_norm(graphc.tensor(x), [1])[0]) == 0


# ---- modules ----------------------------------------------------------------------------------

def _copy_weights(g, t):
    with torch.no_grad():
        for k, v in g.state_dict().items():
            t.state_dict()[k].copy_(torch.tensor(v.numpy()))


_MODELS = [("LayerNorm", 8, {}), ("LayerNorm", (3, 8), {"bias": False}),
           ("LayerNorm", [8], {"eps": 1e-3, "elementwise_affine": False}),
           ("RMSNorm", 8, {}), ("RMSNorm", (3, 8), {"eps": 1e-6})]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,ns,kw", _MODELS)
def test_model_sgd_trajectory(name, ns, kw, mode):
    """Linear -> norm -> Linear on (4, 3, 6) inputs, 5 SGD(momentum) steps from the same weights:
    losses and parameters follow torch's."""
    rng = np.random.default_rng(3)
    g = nn.Sequential(nn.Linear(6, 8), getattr(nn, name)(ns, **kw), nn.Linear(8, 2))
    t = tnn.Sequential(tnn.Linear(6, 8), getattr(tnn, name)(ns, **kw), tnn.Linear(8, 2))
    assert repr(g) == repr(t)
    if getattr(g[1], "weight", None) is not None:   # a weight away from 1 (and a bias from 0)
        for p in g[1].parameters():
            p.data = (rng.standard_normal(p.shape) * 0.5 + 1).astype(np.float32)
    _copy_weights(g, t)
    # lr and momentum exact in float32: compiled steps take lr as a float32 runtime input
    og = optim.SGD(g.parameters(), lr=0.125, momentum=0.875)
    ot = torch.optim.SGD(t.parameters(), lr=0.125, momentum=0.875)

    def step(x, y):
        og.zero_grad()
        loss = ((g(x) - y) ** 2).mean()
        loss.backward()
        og.step()
        return loss

    step = _compiled(step, mode)
    tol = {"rtol": 2e-5, "atol": 1e-6}
    for _ in range(5):
        x = rng.standard_normal((4, 3, 6)).astype(np.float32)
        y = rng.standard_normal((4, 3, 2)).astype(np.float32)
        loss = step(graphc.tensor(x), graphc.tensor(y))
        ot.zero_grad()
        lt = ((t(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        lt.backward()
        ot.step()
        np.testing.assert_allclose(float(loss), lt.item(), **tol)
    gs, ts = g.state_dict(), t.state_dict()
    assert list(gs) == list(ts)
    for k in gs:
        np.testing.assert_allclose(gs[k].numpy(), ts[k].numpy(), err_msg=k, **tol)


def test_module_reprs_and_state():
    cases = [("LayerNorm", (4,), {}), ("LayerNorm", ([3, 4],), {"bias": False}),
             ("LayerNorm", ((4,), 1e-6, False), {}), ("LayerNorm", (0,), {}),
             ("LayerNorm", ((2, 3),), {"elementwise_affine": False, "eps": 0.1}),
             ("RMSNorm", (4,), {}), ("RMSNorm", ([2, 3],), {"eps": 1e-6}),
             ("RMSNorm", (5, None, False), {})]
    for name, args, kw in cases:
        g, t = getattr(nn, name)(*args, **kw), getattr(tnn, name)(*args, **kw)
        assert repr(g) == repr(t)
        assert g.normalized_shape == t.normalized_shape and type(g.normalized_shape) is tuple
        assert (g.eps, g.elementwise_affine) == (t.eps, t.elementwise_affine)
        assert list(g.state_dict()) == list(t.state_dict())
        for k, v in g.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), t.state_dict()[k].numpy())
        assert (g.weight is None) == (t.weight is None)
        assert hasattr(g, "bias") == hasattr(t, "bias")
        if hasattr(t, "bias"):
            assert (g.bias is None) == (t.bias is None)
    m = nn.LayerNorm((2, 3), dtype=graphc.float64)
    assert m.weight.dtype == graphc.float64 and m.weight.shape == (2, 3)
    with graphc.no_grad():
        m.weight.mul_(3.0), m.bias.add_(2.0)
    m.reset_parameters()
    np.testing.assert_array_equal(m.weight.numpy(), 1), np.testing.assert_array_equal(
        m.bias.numpy(), 0)
    r = nn.RMSNorm(3)
    with graphc.no_grad():
        r.weight.mul_(3.0)
    r.reset_parameters()
    np.testing.assert_array_equal(r.weight.numpy(), 1)


def test_changed_eps_retraces():
    m = nn.LayerNorm(4, elementwise_affine=False)
    f = graphc.compile(lambda x: m(x))
    x = np.array([[0.0, 0.0, 0.0, 1.0]], np.float32)
    a = f(graphc.tensor(x)).numpy().copy()
    m.eps = 10.0
    b = f(graphc.tensor(x)).numpy()
    np.testing.assert_allclose(b, TF.layer_norm(torch.tensor(x), [4], eps=10.0).numpy(),
                               **TOL[np.float32])
    assert not np.allclose(a, b)


def test_layer_norm_fuses():
    """A compiled LayerNorm inference is three kernels: the mean, the variance with rsqrt, and
    the normalise-scale-shift."""
    m = nn.LayerNorm(16)
    f = graphc.compile(lambda x: m(x))
    f(graphc.randn(8, 16))
    assert f.ir().count("fused[") <= 3, f.ir()


# ---- normalize --------------------------------------------------------------------------------

_PS = (1, 2, 3, math.inf, 2.0, 0.5)
_DIMS = (1, 0, -1, (1, 2))


def _normalize_input(dt):
    """(3, 4, 5) with a zero vector along dim 1 and along dim -1, and a tiny one (clamped by a
    larger eps)."""
    x = np.random.default_rng(5).standard_normal((3, 4, 5))
    x[0, :, 2] = 0
    x[1, 2, :] = 0
    x[2, 1, :] = 1e-3
    return x.astype(dt)


def _normalize_cases():
    return [(p, d, 1e-12) for p in _PS for d in _DIMS] + [
        (2, -1, 0.01), (1, 1, 0.5), (math.inf, -1, 0.01)]


def _check_normalize(dt, mode):
    x = _normalize_input(dt)
    cases = _normalize_cases()
    g = np.random.default_rng(6).standard_normal(x.shape).astype(dt)
    xt = torch.tensor(x, requires_grad=True)
    ys_t = [TF.normalize(xt, p, d, eps) for p, d, eps in cases]
    grads_t = [torch.autograd.grad((y * torch.tensor(g)).sum(), xt)[0].numpy() for y in ys_t]
    xs = [graphc.tensor(x, requires_grad=True) for _ in cases]   # one leaf per case

    def run(gin):
        ys = [F.normalize(xg, p, d, eps) for xg, (p, d, eps) in zip(xs, cases)]
        sum((y * gin).sum() for y in ys).backward()
        return tuple(ys)

    ys = _compiled(run, mode)(graphc.tensor(g))
    for case, y, yt, xg, gt in zip(cases, ys, ys_t, xs, grads_t):
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), err_msg=f"{case}",
                                   **TOL[dt])
        axes = tuple(sorted(a % x.ndim for a in (case[1] if isinstance(case[1], tuple)
                                                  else (case[1],))))
        _close_rows(xg.grad.numpy(), gt, axes, TOL[dt], f"grad {case}")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_normalize_eager(dt):
    _check_normalize(dt, "eager")
    for shape, kw in (((5,), {"dim": 0}), ((5,), {"dim": -1, "p": 1}), ((2, 3), {}),
                      ((2, 0), {}), ((3, 0), {"dim": 0})):
        x = np.random.default_rng(7).standard_normal(shape).astype(dt)
        np.testing.assert_allclose(F.normalize(graphc.tensor(x), **kw).numpy(),
                                   TF.normalize(torch.tensor(x), **kw).numpy(), **TOL[dt])


@pytest.mark.parametrize("mode", ["interpreter", "llvm"])
def test_normalize_compiled(mode):
    _check_normalize(np.float32, mode)


def test_normalize_zero_vector_gradient():
    """A zero vector's gradient is g / eps: the clamp cuts the norm's path, as torch."""
    for p in (1, 2, 3, math.inf):
        x = graphc.zeros(2, 3, requires_grad=True)
        F.normalize(x, p, eps=0.5).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), 2.0)


def test_normalize_out():
    x = np.random.default_rng(8).standard_normal((2, 3)).astype(np.float32)
    out = graphc.empty(2, 3)
    assert F.normalize(graphc.tensor(x), out=out) is out
    np.testing.assert_allclose(out.numpy(), TF.normalize(torch.tensor(x)).numpy(),
                               **TOL[np.float32])
    with pytest.raises(graphc.GraphcError, match="automatic differentiation"):
        F.normalize(graphc.tensor(x, requires_grad=True), out=out)
    with pytest.raises(graphc.GraphcError):
        F.normalize(graphc.tensor(x), out=graphc.empty(3, 2))


# ---- errors -----------------------------------------------------------------------------------

def _torch_message(fn, *args, **kw) -> str:
    try:
        fn(*args, **kw)
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as e:
        return str(e).splitlines()[0]
    raise AssertionError("torch accepted it")


def test_errors_as_torch():
    """Each bad call raises a GraphcError carrying torch's message (where torch's is specific),
    and the same Python exception class family for type errors."""
    x = np.random.default_rng(9).standard_normal((2, 3, 4)).astype(np.float32)
    ones = np.ones
    bad = [  # (function name, args as numpy, kwargs, compare message)
        ("layer_norm", (x, [3]), {}, True), ("layer_norm", (x, [2, 3, 4, 5]), {}, True),
        ("layer_norm", (x, (3, 5)), {}, True), ("layer_norm", (x, []), {}, True),
        ("layer_norm", (x, [4], ones(3, np.float32)), {}, True),
        ("layer_norm", (x, [4], None, ones(3, np.float32)), {}, True),
        ("layer_norm", (x, [3, 4], ones(12, np.float32)), {}, True),
        ("layer_norm", (x, [4], ones((1, 4), np.float32)), {}, True),
        ("layer_norm", (x.astype(np.float64), [4], ones(4, np.float32)), {}, True),
        ("layer_norm", (x, [4], ones(4)), {}, True),
        ("layer_norm", (np.zeros((), np.float32), [1]), {}, True),
        ("layer_norm", (x, 4), {}, True), ("layer_norm", (x, [4.0]), {}, True),
        ("layer_norm", (x.astype(np.int64), [4]), {}, False),
        ("rms_norm", (x, [3]), {}, True), ("rms_norm", (x, (3, 5)), {}, True),
        ("rms_norm", (x, [2, 3, 4, 5]), {}, True), ("rms_norm", (x, []), {}, True),
        ("rms_norm", (x, [4], ones(3, np.float32)), {}, True), ("rms_norm", (x, 4), {}, True),
        ("rms_norm", (x.astype(np.int64), [4]), {}, False),
        ("normalize", (x,), {"dim": 3}, False), ("normalize", (x.astype(np.int64),), {}, False),
        ("normalize", (np.zeros((2, 0), np.float32),), {"p": math.inf}, False),
    ]
    for name, args, kw, same in bad:
        gargs = [graphc.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        targs = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        msg = _torch_message(getattr(TF, name), *targs, **kw)
        with pytest.raises(graphc.GraphcError) as e:
            getattr(F, name)(*gargs, **kw)
        if same:
            assert msg in str(e.value), (name, args, str(e.value))
    with pytest.raises(TypeError):   # graphc's InputError is a TypeError, as torch's
        F.layer_norm(graphc.tensor(x), 4)
    with pytest.raises(graphc.GraphcError, match="negative dimension"):
        nn.LayerNorm(-1)
    with pytest.raises(graphc.GraphcError, match=r"Given normalized_shape=\[3\]"):
        nn.LayerNorm(3)(graphc.tensor(x))
    with pytest.raises(graphc.GraphcError, match="Given normalized_shape"):
        graphc.compile(lambda a: nn.RMSNorm((2, 4))(a))(graphc.tensor(x))
    with pytest.raises(graphc.GraphcError):
        nn.LayerNorm(4, device="cuda")
