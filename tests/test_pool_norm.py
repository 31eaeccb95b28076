"""Pooling, normalisation and resampling layers vs PyTorch: forward, backward, indices, running
statistics, reprs and errors, eagerly and compiled (graphc/nn/pooling.py, normalization.py,
upsampling.py)."""
import itertools

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def _relu_ties(shape, dt, seed=0):
    """Inputs with many equal values (zeros after a ReLU, values rounded to 0.5) and batch 1
    somewhere in the grid: torch's first-maximum gradient rule shows only with ties."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.maximum(np.round(x * 2) / 2, 0).astype(dt)


def _check(gfn, tfn, x, dt, compiled=False, **kw):
    """gfn(x, **kw) == tfn(x, **kw) in value (and indices) and input gradient; a keyword given
    as a (graphc tensor, torch tensor) pair passes each side its own."""
    gkw = {k: v[0] if isinstance(v, tuple) and isinstance(v[0], graphc.Tensor) else v
           for k, v in kw.items()}
    kw = {k: v[1] if isinstance(v, tuple) and isinstance(v[0], graphc.Tensor) else v
          for k, v in kw.items()}
    xt = torch.tensor(x, requires_grad=True)
    yt = tfn(xt, **kw)
    idx_t = None
    if isinstance(yt, tuple):
        yt, idx_t = yt
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(dt)
    (yt * torch.tensor(g)).sum().backward()
    xg = graphc.tensor(x, requires_grad=True)

    def run(xin, gin):
        y = gfn(xin, **gkw)
        idx = None
        if isinstance(y, tuple):
            y, idx = y
        (y * gin).sum().backward()
        return (y, idx) if idx is not None else (y,)

    out = (graphc.compile(run) if compiled else run)(xg, graphc.tensor(g))
    tol = TOL[dt]
    np.testing.assert_allclose(np.asarray(out[0].detach().numpy()), yt.detach().numpy(),
                               err_msg=f"{kw}", **tol)
    if idx_t is not None:
        np.testing.assert_array_equal(np.asarray(out[1].numpy()), idx_t.numpy(), err_msg=f"{kw}")
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), err_msg=f"grad {kw}", **tol)


# ---- pooling -------------------------------------------------------------------------------------

_POOL2D = [{"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": c}
           for k, s, p, d, c in itertools.product([1, 2, 3, (2, 3)], [None, 1, (2, 1)], [0, 1],
                                                  [1, 2], [False, True])
           if p <= ((min(k if isinstance(k, tuple) else (k,)) - 1) * d + 1) // 2]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_max_pool2d_grid(dt):
    x = _relu_ties((2, 2, 7, 6), dt)
    for kw in _POOL2D:
        _check(F.max_pool2d, TF.max_pool2d, x, dt, return_indices=True, **kw)
        _check(F.max_pool2d, TF.max_pool2d, x[0], dt, **kw)   # unbatched


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_max_pool1d_grid(dt):
    x = _relu_ties((1, 3, 9), dt)
    for k, s, p, d, c in itertools.product([1, 2, 3], [None, 1, 2], [0, 1], [1, 2],
                                           [False, True]):
        if p <= ((k - 1) * d + 1) // 2:
            _check(F.max_pool1d, TF.max_pool1d, x, dt, kernel_size=k, stride=s, padding=p,
                   dilation=d, ceil_mode=c, return_indices=True)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_avg_pool_grid(dt):
    x = np.random.default_rng(2).standard_normal((1, 2, 7, 6)).astype(dt)
    for kw in _POOL2D:
        kw = dict(kw)
        if kw.pop("dilation") != 1:
            continue
        for cip in (True, False):
            _check(F.avg_pool2d, TF.avg_pool2d, x, dt, count_include_pad=cip, **kw)
        _check(F.avg_pool2d, TF.avg_pool2d, x, dt, divisor_override=4, **kw)
        k, s = kw["kernel_size"], kw["stride"]
        k, s = (k[0] if isinstance(k, tuple) else k), (s[0] if isinstance(s, tuple) else s)
        if kw["padding"] <= k // 2:
            _check(F.avg_pool1d, TF.avg_pool1d, x[0], dt, kernel_size=k, stride=s,
                   padding=kw["padding"], ceil_mode=kw["ceil_mode"], count_include_pad=False)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_adaptive_pools(dt):
    x = _relu_ties((2, 3, 7, 6), dt, seed=3)
    for o in [1, 2, 3, 4, 5, 7, 9, (2, None), (None, 4), (3, 5)]:
        _check(F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, x, dt, output_size=o)
        _check(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, dt, output_size=o,
               return_indices=True)
        if not isinstance(o, tuple):
            _check(F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d, x[0], dt, output_size=o)
            _check(F.adaptive_max_pool1d, TF.adaptive_max_pool1d, x[0], dt, output_size=o,
                   return_indices=True)


def test_lp_pool():
    x = np.abs(np.random.default_rng(4).standard_normal((2, 2, 6, 5))) + 0.1
    for p, k, s, c in [(2, 2, None, False), (3, (2, 3), 1, True), (1.5, 3, 2, False)]:
        _check(F.lp_pool2d, TF.lp_pool2d, x, np.float64, norm_type=p, kernel_size=k, stride=s,
               ceil_mode=c)
        _check(F.lp_pool1d, TF.lp_pool1d, x[0], np.float64, norm_type=p,
               kernel_size=k if isinstance(k, int) else k[0], stride=s, ceil_mode=c)


def test_max_pool_nan_inf_and_ties():
    x = _relu_ties((1, 2, 6, 6), np.float32, seed=5)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = np.nan    # two NaNs in one window: the last one wins
    x[0, 1, 2, 3] = np.inf
    x[0, 1, 4:, 4:] = -np.inf                 # an all -inf window: the first element's index
    for kw in [{"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 2},
               {"kernel_size": 3, "stride": 1, "ceil_mode": True}]:
        _check(F.max_pool2d, TF.max_pool2d, x, np.float32, return_indices=True, **kw)
    _check(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, np.float32, output_size=(4, 3),
           return_indices=True)


def test_integer_pools():
    x = np.random.default_rng(6).integers(-9, 9, (1, 2, 5, 5))
    for kw in [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}]:
        v, i = F.max_pool2d(graphc.tensor(x), return_indices=True, **kw)
        vt, it = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
        np.testing.assert_array_equal(v.numpy(), vt.numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
        np.testing.assert_array_equal(F.avg_pool2d(graphc.tensor(x), **kw).numpy(),
                                      TF.avg_pool2d(torch.tensor(x), **kw).numpy())


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pools_compiled(dt):
    """One compiled step per dtype exercising every pool, forward and backward."""
    x = _relu_ties((2, 3, 7, 6), dt, seed=7)
    x[1, 2, 3, 3] = np.nan

    def pools(F_, x):
        v, i = F_.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
        a = F_.avg_pool2d(x, (2, 3), 1, 1, ceil_mode=True, count_include_pad=False)
        b, j = F_.adaptive_max_pool2d(x, (3, 4), return_indices=True)
        c = F_.adaptive_avg_pool2d(x, (5, None))
        d = F_.max_pool1d(x[0], 2, 1, 1, dilation=2)
        return (v.sum() * 2 + (a * a).sum() + (b * 3).sum() + c.sum() + d.sum()), (i, j)

    xt = torch.tensor(x, requires_grad=True)
    lt, it = pools(TF, xt)
    lt.backward()

    @graphc.compile
    def step(x):
        loss, idx = pools(F, x)
        loss.backward()
        return loss, idx

    xg = graphc.tensor(x, requires_grad=True)
    loss, idx = step(xg)
    np.testing.assert_allclose(float(loss), lt.item(), **TOL[dt])
    for a, b in zip(idx, it):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), **TOL[dt])


def test_pool_modules_and_errors():
    for g, t in [(nn.MaxPool2d(2), tnn.MaxPool2d(2)),
                 (nn.MaxPool2d((2, 3), 1, 1, return_indices=True, ceil_mode=True),
                  tnn.MaxPool2d((2, 3), 1, 1, return_indices=True, ceil_mode=True)),
                 (nn.MaxPool1d(3, 2, 1, 2), tnn.MaxPool1d(3, 2, 1, 2)),
                 (nn.AvgPool2d(3, divisor_override=2), tnn.AvgPool2d(3, divisor_override=2)),
                 (nn.AvgPool1d(2), tnn.AvgPool1d(2)), (nn.LPPool2d(2, 3), tnn.LPPool2d(2, 3)),
                 (nn.AdaptiveAvgPool2d((2, None)), tnn.AdaptiveAvgPool2d((2, None))),
                 (nn.AdaptiveMaxPool2d(3, True), tnn.AdaptiveMaxPool2d(3, True)),
                 (nn.AdaptiveAvgPool1d(3), tnn.AdaptiveAvgPool1d(3))]:
        assert repr(g) == repr(t)
        x = np.random.default_rng(8).standard_normal((1, 2, 6, 6) if "2d" in repr(g)
                                                     else (2, 6)).astype(np.float32)
        yg, yt = g(graphc.tensor(x)), t(torch.tensor(x))
        if isinstance(yt, tuple):
            np.testing.assert_array_equal(yg[1].numpy(), yt[1].numpy())
            yg, yt = yg[0], yt[0]
        np.testing.assert_allclose(yg.numpy(), yt.numpy(), rtol=1e-6)
    x = graphc.randn(1, 1, 5, 5)
    bad = [lambda: F.max_pool2d(x, 3, padding=2), lambda: F.max_pool2d(x, 6),
           lambda: F.max_pool2d(x, 2, stride=0), lambda: F.max_pool2d(x, 2, dilation=0),
           lambda: F.max_pool2d(graphc.randn(5, 5), 2), lambda: F.avg_pool2d(x, 6),
           lambda: F.avg_pool2d(x, 2, divisor_override=0), lambda: F.max_pool2d(x, (2, 2, 2)),
           lambda: F.max_pool2d(x, 2.0), lambda: F.adaptive_avg_pool2d(x, -1),
           lambda: F.adaptive_max_pool2d(x, (1, 2, 3))]
    for fn in bad:
        with pytest.raises(graphc.GraphcError):
            fn()
    with pytest.raises(graphc.GraphcError, match="Output size is too small"):
        F.max_pool2d(x, 6)
    with pytest.raises(graphc.GraphcError, match="at most half of effective kernel size"):
        F.avg_pool2d(x, 3, padding=2)


# ---- normalisation -------------------------------------------------------------------------------

def _copy_weights(g, t):
    with torch.no_grad():
        for k, v in g.state_dict().items():
            t.state_dict()[k].copy_(torch.tensor(v.numpy()))


def _same_state(g, t, tol):
    gs, ts = g.state_dict(), t.state_dict()
    assert sorted(gs) == sorted(ts)   # graphc lists all parameters before all buffers
    for k in gs:
        np.testing.assert_allclose(gs[k].numpy(), ts[k].numpy(), err_msg=k, **tol)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("dt,bn_kw", [(np.float32, {}), (np.float32, {"momentum": None}),
                                      (np.float64, {"affine": False, "eps": 1e-3}),
                                      (np.float32, {"track_running_stats": False})])
def test_batchnorm_training_trajectory(compiled, dt, bn_kw):
    """Linear -> BatchNorm1d -> ReLU -> Linear with SGD(momentum) for 10 steps, an eval-mode
    forward every 4th: losses, parameters, running statistics and num_batches_tracked as
    torch's."""
    rng = np.random.default_rng(9)
    g = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, **bn_kw), nn.ReLU(), nn.Linear(4, 3))
    t = tnn.Sequential(tnn.Linear(5, 4), tnn.BatchNorm1d(4, **bn_kw), tnn.ReLU(),
                       tnn.Linear(4, 3))
    if dt == np.float64:
        g.double(), t.double()
    _copy_weights(g, t)
    # lr and momentum exact in float32: compiled steps take lr as a float32 runtime input
    og = optim.SGD(g.parameters(), lr=0.125, momentum=0.875)
    ot = torch.optim.SGD(t.parameters(), lr=0.125, momentum=0.875)

    def step(x, y):
        og.zero_grad()
        loss = F.cross_entropy(g(x), y)
        loss.backward()
        og.step()
        return loss

    def infer(x):
        return g(x)

    if compiled:
        step, infer = graphc.compile(step), graphc.compile(infer)
    tol = {"rtol": 2e-5, "atol": 1e-6} if dt == np.float32 else TOL[dt]
    for i in range(10):
        x, y = rng.standard_normal((8, 5)).astype(dt), rng.integers(0, 3, 8)
        if i % 4 == 3:
            g.eval(), t.eval()
            np.testing.assert_allclose(np.asarray(infer(graphc.tensor(x))),
                                       t(torch.tensor(x)).detach().numpy(), **tol)
            g.train(), t.train()
        loss = step(graphc.tensor(x), graphc.tensor(y))
        ot.zero_grad()
        lt = TF.cross_entropy(t(torch.tensor(x)), torch.tensor(y))
        lt.backward()
        ot.step()
        np.testing.assert_allclose(float(loss), lt.item(), **tol)
    _same_state(g, t, tol)
    if g[1].track_running_stats:
        assert int(g[1].num_batches_tracked) == 10


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_batchnorm2d_and_functional(dt):
    rng = np.random.default_rng(10)
    for kw in [{}, {"momentum": None, "bias": False}, {"affine": False}]:
        g, t = nn.BatchNorm2d(3, **kw), tnn.BatchNorm2d(3, **kw)
        assert repr(g) == repr(t)
        if dt == np.float64:
            g.double(), t.double()
        for train in (True, True, False):
            g.train(train), t.train(train)
            x = (rng.standard_normal((2, 3, 4, 5)) * 3 + 1).astype(dt)
            _check(g, t, x, dt)
            _same_state(g, t, TOL[dt])
    rm, rv = rng.standard_normal(3).astype(dt), rng.random(3).astype(dt) + 0.5
    w, b = rng.standard_normal(3).astype(dt), rng.standard_normal(3).astype(dt)
    x = rng.standard_normal((4, 3, 2)).astype(dt)
    for training in (False, True):
        grm, grv, trm, trv = (graphc.tensor(rm.copy()), graphc.tensor(rv.copy()),
                              torch.tensor(rm.copy()), torch.tensor(rv.copy()))
        _check(F.batch_norm, TF.batch_norm, x, dt, running_mean=(grm, trm),
               running_var=(grv, trv), weight=(graphc.tensor(w), torch.tensor(w)),
               bias=(graphc.tensor(b), torch.tensor(b)), training=training, momentum=0.2,
               eps=1e-3)
        np.testing.assert_allclose(grm.numpy(), trm.numpy(), **TOL[dt])
        np.testing.assert_allclose(grv.numpy(), trv.numpy(), **TOL[dt])


def test_norm_modules():
    rng = np.random.default_rng(11)
    cases = [(nn.InstanceNorm1d(3), tnn.InstanceNorm1d(3), (4, 3, 5)),
             (nn.InstanceNorm1d(3, affine=True), tnn.InstanceNorm1d(3, affine=True), (3, 5)),
             (nn.InstanceNorm2d(3, track_running_stats=True, affine=True),
              tnn.InstanceNorm2d(3, track_running_stats=True, affine=True), (2, 3, 4, 5)),
             (nn.InstanceNorm2d(3, momentum=None, track_running_stats=True),
              tnn.InstanceNorm2d(3, momentum=None, track_running_stats=True), (3, 4, 5)),
             (nn.GroupNorm(2, 4), tnn.GroupNorm(2, 4), (2, 4, 5)),
             (nn.GroupNorm(3, 6, affine=False), tnn.GroupNorm(3, 6, affine=False), (2, 6, 2, 3)),
             (nn.GroupNorm(1, 4, eps=1e-2, bias=False), tnn.GroupNorm(1, 4, eps=1e-2, bias=False),
              (1, 4)),
             (nn.LocalResponseNorm(2), tnn.LocalResponseNorm(2), (2, 5, 3)),
             (nn.LocalResponseNorm(3, 0.1, 0.5, 2.0), tnn.LocalResponseNorm(3, 0.1, 0.5, 2.0),
              (2, 5, 3, 2))]
    for g, t, shape in cases:
        assert repr(g) == repr(t)
        if getattr(g, "weight", None) is not None:
            w = rng.standard_normal(g.weight.shape)
            g.weight.data, t.weight.data = w.astype(np.float32), torch.tensor(w).float()
        for train in (True, False):
            g.train(train), t.train(train)
            _check(g, t, rng.standard_normal(shape).astype(np.float32), np.float32)
            _same_state(g, t, TOL[np.float32])


def test_norm_compiled_in_a_step():
    """GroupNorm, InstanceNorm2d (running stats) and BatchNorm2d in one compiled step."""
    rng = np.random.default_rng(12)
    mods = [(nn.GroupNorm(2, 4), tnn.GroupNorm(2, 4)),
            (nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
             tnn.InstanceNorm2d(4, affine=True, track_running_stats=True)),
            (nn.BatchNorm2d(4, momentum=None), tnn.BatchNorm2d(4, momentum=None))]
    # a tanh between them: a norm right after another one's per-channel affine is invariant to
    # its scale (a zero gradient up to rounding, nothing to compare)
    g = nn.Sequential(*[x for m, _ in mods for x in (m, nn.Tanh())])
    t = tnn.Sequential(*[x for _, m in mods for x in (m, tnn.Tanh())])

    @graphc.compile
    def step(x):
        loss = (g(x) ** 2 * graphc.arange(4.0).reshape(1, 4, 1, 1)).sum()
        loss.backward()
        return loss

    for _ in range(3):
        x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
        loss = step(graphc.tensor(x))
        xt = torch.tensor(x)
        lt = (t(xt) ** 2 * torch.arange(4.0).reshape(1, 4, 1, 1)).sum()
        lt.backward()
        np.testing.assert_allclose(float(loss), lt.item(), rtol=1e-5)
    _same_state(g, t, {"rtol": 1e-5, "atol": 1e-6})
    for (k, p), (_, q) in zip(g.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=k)


def test_norm_errors():
    bad = [lambda: nn.BatchNorm1d(3)(graphc.randn(1, 3)),
           lambda: nn.BatchNorm1d(3)(graphc.randn(2, 3, 4, 5)),
           lambda: nn.BatchNorm2d(3)(graphc.randn(2, 3, 4)),
           lambda: nn.BatchNorm1d(3)(graphc.randn(2, 4)),
           lambda: nn.GroupNorm(3, 4), lambda: F.group_norm(graphc.randn(2, 4, 3), 3),
           lambda: nn.InstanceNorm1d(3, affine=True)(graphc.randn(2, 4, 5)),
           lambda: nn.InstanceNorm1d(3)(graphc.randn(2, 3, 1)),
           lambda: F.batch_norm(graphc.randn(2, 3), None, None)]
    for fn in bad:
        with pytest.raises(graphc.GraphcError):
            fn()
    with pytest.raises(graphc.GraphcError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(3)(graphc.randn(1, 3))
    b = nn.BatchNorm1d(3, track_running_stats=False)
    assert b.running_mean is None and list(b.state_dict()) == ["weight", "bias"]
    assert list(nn.BatchNorm1d(3, bias=False).state_dict()) == [
        "weight", "running_mean", "running_var", "num_batches_tracked"]


# ---- resampling and padding ----------------------------------------------------------------------

_SIZES = [{"size": 1}, {"size": 3}, {"size": 8}, {"scale_factor": 2},
          {"scale_factor": 1.7}, {"scale_factor": 0.5},
          {"scale_factor": 1.7, "recompute_scale_factor": True}]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_interpolate_grid(dt):
    rng = np.random.default_rng(13)
    for shape, lin in [((1, 2, 5), "linear"), ((2, 1, 4, 7), "bilinear"),
                       ((1, 1, 3, 4, 5), "trilinear")]:
        x = rng.standard_normal(shape).astype(dt)
        dim = len(shape) - 2
        sizes = _SIZES + [{"size": tuple(range(3, 3 + dim))},
                          {"scale_factor": tuple([2.5, 0.7, 1.3][:dim])}]
        for mode in ["nearest", "nearest-exact", lin] + (["area"] if dim < 3 else []):
            for sz in sizes:
                for ac in ([None] if mode != lin else [False, True]):
                    _check(F.interpolate, TF.interpolate, x, dt, mode=mode, align_corners=ac,
                           **sz)


def test_interpolate_compiled_and_modules():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    _check(F.interpolate, TF.interpolate, x, np.float32, compiled=True, scale_factor=1.5,
           mode="bilinear", align_corners=False)
    _check(F.interpolate, TF.interpolate, x, np.float32, compiled=True, size=(7, 3))
    _check(F.pixel_shuffle, TF.pixel_shuffle, rng.standard_normal((2, 8, 3, 2)).astype(
        np.float32), np.float32, compiled=True, upscale_factor=2)
    _check(F.pixel_unshuffle, TF.pixel_unshuffle, rng.standard_normal((1, 2, 3, 4, 6)).astype(
        np.float32), np.float32, downscale_factor=2)
    mods = [("Upsample", {"scale_factor": 2}),
            ("Upsample", {"size": (3, 4), "mode": "bilinear", "align_corners": True}),
            ("Upsample", {"scale_factor": (2, 3)}), ("UpsamplingNearest2d", {"scale_factor": 2}),
            ("UpsamplingBilinear2d", {"size": 3}), ("PixelShuffle", {"upscale_factor": 2}),
            ("PixelUnshuffle", {"downscale_factor": 2})]
    for n in (1, 2, 3):
        for p in ["Zero", "Constant", "Reflection", "Replication", "Circular"]:
            for pad in [1, tuple(range(1, 2 * n + 1))]:
                mods.append((f"{p}Pad{n}d", {"padding": pad, "value": 2.5} if p == "Constant"
                             else {"padding": pad}))
    shapes = {1: (2, 4, 7), 2: (2, 4, 6, 8), 3: (1, 2, 7, 6, 8)}
    for name, kw in mods:
        g, t = getattr(nn, name)(**kw), getattr(tnn, name)(**kw)
        assert repr(g) == repr(t)
        n = int(name[-2]) if "Pad" in name else 2
        _check(g, t, rng.standard_normal(shapes[n]).astype(np.float32), np.float32)


def test_interpolate_errors():
    x = graphc.randn(1, 1, 5, 5)
    bad = [lambda: F.interpolate(x), lambda: F.interpolate(x, size=2, scale_factor=2),
           lambda: F.interpolate(x, size=2, recompute_scale_factor=True),
           lambda: F.interpolate(x, scale_factor=0.1), lambda: F.interpolate(x, size=(2, 3, 4)),
           lambda: F.interpolate(x, scale_factor=2, mode="linear"),
           lambda: F.interpolate(x, scale_factor=2, align_corners=True),
           lambda: F.interpolate(x, scale_factor=2, mode="foo"),
           lambda: F.interpolate(x, scale_factor=2, mode="bicubic"),
           lambda: F.pixel_shuffle(graphc.randn(1, 5, 2, 2), 2),
           lambda: F.pixel_unshuffle(graphc.randn(1, 1, 3, 3), 2),
           lambda: nn.ReflectionPad2d(1)(graphc.randn(3, 3))]
    for fn in bad:
        with pytest.raises(graphc.GraphcError):
            fn()


def test_changed_hyperparameters_retrace():
    """momentum or a kernel size assigned after compiling is not a stale baked-in value."""
    b = nn.BatchNorm1d(2)
    f = graphc.compile(lambda x: b(x))
    x = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    f(graphc.tensor(x))
    b.momentum = 0.5
    f(graphc.tensor(x))
    np.testing.assert_allclose(b.running_mean.numpy(), [0.5 * 0.3 + 0.5 * 3, 0.5 * 0.4 + 0.5 * 4],
                               rtol=1e-6)
    p = nn.MaxPool2d(2)
    g = graphc.compile(lambda x: p(x))
    assert g(graphc.randn(1, 1, 4, 4)).shape == (1, 1, 2, 2)
    p.kernel_size = p.stride = 1
    assert g(graphc.randn(1, 1, 4, 4)).shape == (1, 1, 4, 4)


def test_inference_max_pool_keeps_values_training_keeps_the_index():
    """An inference graph reads each window's value with one max_pool kernel (the index and the
    gather folded away); a training graph keeps the index its backward scatters at. Both give
    the interpreter's (and PyTorch's rule's) numbers, NaN windows included."""
    import passes
    graphc.manual_seed(0)
    conv = graphc.nn.Conv2d(2, 3, 3)
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 9)).astype(np.float32)
    x[0, 0, :3, :3] = np.nan

    def infer(x):
        return graphc.nn.functional.max_pool2d(graphc.relu(conv(x)), 2, ceil_mode=True)
    native = graphc.compile(infer)
    got = native(x)
    ops = {n.op for n in next(iter(native._cache.values())).graph.nodes}
    assert "max_pool" in ops and "max_pool_index" not in ops
    want = graphc.compile(infer, backend="interpreter")(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    g = passes.algebraic(next(iter(native._cache.values())).graph)
    assert "max_pool" in {n.op for n in g.nodes}

    def train(x):
        out = infer(x)
        out.nansum().backward()
        return out
    t = graphc.compile(train)
    t(x)
    ops = {n.op for n in next(iter(t._cache.values())).graph.nodes}
    assert "max_pool_index" in ops and "max_pool" not in ops
