"""Fake quantization, observers, FakeQuantize modules and QConfigs against torch 2.13.

Oracle: torch (CPU), compared bit for bit (array_equal on values, dtype and shape): the fake-quant
functions' forward and straight-through gradient on random, half-way (fl(x * 1/s) exactly
k + 0.5), saturating and non-finite inputs; observer statistics and calculate_qparams over 20
steps; FakeQuantize modules (forward, gradient, every buffer) over steps with the observer and
fake quantization toggled. Eagerly and compiled on the interpreter and the LLVM backend (one
compiled function per backend serves many cases); toggling the flags does not retrace.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import graphc
import graphc.ao.quantization as gq
from graphc.errors import GraphcError, InputError, NotSupportedError

torch = pytest.importorskip("torch")
tq = torch.ao.quantization

BACKENDS = ["interpreter", "llvm"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # reduce_range deprecation, unobserved qparams
        yield


def same(a, b) -> bool:
    """Equal bits, dtype and shape (a: graphc Tensor or array, b: torch tensor or array)."""
    a = np.asarray(a.numpy() if isinstance(a, graphc.Tensor) else a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def halfway(scale: float, n: int = 300) -> np.ndarray:
    """float32 x with fl(x * fl(1 / scale)) == k + 0.5 exactly (ties for the rounding)."""
    inv = np.float32(1) / np.float32(scale)
    out = []
    for k in range(-n // 2, n // 2):
        x0 = np.float32((k + 0.5) / float(inv))
        for c in (x0, np.nextafter(x0, np.float32(np.inf)), np.nextafter(x0, np.float32(-np.inf))):
            if np.float32(c * inv) == np.float32(k + 0.5):
                out.append(c)
                break
    return np.array(out, np.float32)


def inputs(scale: float, rng, n_rows: int = 4) -> np.ndarray:
    """Random, half-way, saturating and non-finite values, shaped (n_rows, -1)."""
    x = np.concatenate([(rng.standard_normal(1500) * 2).astype(np.float32), halfway(scale),
                        np.float32(scale) * np.arange(-300, 300, dtype=np.float32),
                        np.array([np.inf, -np.inf, np.nan, 1e20, -1e20, 3e9, 0.0, -0.0],
                                 np.float32)])
    return x[: len(x) // n_rows * n_rows].reshape(n_rows, -1)


# (scale, zero_point, quant_min, quant_max): quint8, qint8, 7-bit quint8 (reduce_range)
PER_TENSOR = [(0.0173, 3, 0, 255), (0.05, 0, -128, 127), (0.25, 64, 0, 127)]


def _per_channel_args(c: int, qmin: int, qmax: int):
    sc = np.array([0.0173, 0.02, 0.25, 0.5, 0.011, 1.0][:c], np.float32)
    zp = np.array([qmin, qmax, (qmin + qmax) // 2, 0 if qmin < 0 else 3, 1, qmax - 2][:c],
                  np.int32)
    return sc, zp


def test_per_tensor_matches_torch_forward_and_gradient(rng):
    for s, z, lo, hi in PER_TENSOR:
        x = inputs(s, rng).ravel()
        gx, tx = graphc.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
        w = rng.standard_normal(x.shape).astype(np.float32)
        y = graphc.fake_quantize_per_tensor_affine(gx, s, z, lo, hi)
        ty = torch.fake_quantize_per_tensor_affine(tx, s, z, lo, hi)
        assert same(y, ty), (s, z, lo, hi)
        (y * graphc.tensor(w)).sum().backward()
        (ty * torch.from_numpy(w)).sum().backward()
        assert same(gx.grad, tx.grad)
        # the tensor-qparams overload (what FakeQuantize calls)
        y2 = graphc.fake_quantize_per_tensor_affine(
            graphc.tensor(x), graphc.tensor(np.array([s], np.float32)),
            graphc.tensor(np.array([z], np.int32)), lo, hi)
        assert same(y2, ty)


@pytest.mark.parametrize("axis", [0, 1])
def test_per_channel_matches_torch_forward_and_gradient(rng, axis):
    for _, _, lo, hi in PER_TENSOR:
        x = inputs(0.0173, rng, 6)
        x = x if axis == 0 else np.ascontiguousarray(x.T)
        c = x.shape[axis]
        sc, zp = _per_channel_args(c, lo, hi)
        gx, tx = graphc.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
        y = graphc.fake_quantize_per_channel_affine(gx, graphc.tensor(sc), graphc.tensor(zp),
                                                    axis, lo, hi)
        ty = torch.fake_quantize_per_channel_affine(tx, torch.from_numpy(sc),
                                                    torch.from_numpy(zp), axis, lo, hi)
        assert same(y, ty)          # +inf and huge values give quant_min here, as torch's
        y.sum().backward()
        ty.sum().backward()
        assert same(gx.grad, tx.grad)


@pytest.mark.parametrize("backend", [None, "llvm"])
def test_per_channel_float_zero_point_as_torch(backend, rng):
    """torch's per_channel_affine_float_qparams kernel: nearbyint(zp + x * inv)."""
    x = inputs(0.0173, rng, 6)
    sc = np.array([0.0173, 0.02, 0.25, 0.5, 0.011, 1.0], np.float32)
    zp = np.array([3.3, 0.5, 127.5, -2.25, 1.0, 250.7], np.float32)

    def fq(a):
        return graphc.fake_quantize_per_channel_affine(a, graphc.tensor(sc), graphc.tensor(zp),
                                                       0, 0, 255)
    gx = graphc.tensor(x, requires_grad=True)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.fake_quantize_per_channel_affine(tx, torch.from_numpy(sc), torch.from_numpy(zp),
                                                0, 0, 255)
    if backend:
        assert same(graphc.compile(fq, backend=backend)(x), ty)
        return
    y = fq(gx)
    assert same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert same(gx.grad, tx.grad)


@pytest.mark.parametrize("per_channel", [False, True])
def test_learnable_fake_quant_as_torch(per_channel, rng):
    """torch's LSQ functions: forward and x gradient bit for bit; the scale and zero-point
    gradients are sums over elements (torch adds in its own order): to 1e-6 relative."""
    x = inputs(0.0173, rng, 6)
    w = rng.standard_normal(x.shape).astype(np.float32)
    if per_channel:
        s0 = np.array([0.0173, 0.02, 0.25, 0.5, 0.011, 1.0], np.float32)
        z0 = np.array([3.3, 0.5, 127.5, -2.5, 1.0, 250.7], np.float32)
    else:
        s0, z0 = np.array([0.0173], np.float32), np.array([2.5], np.float32)
    outs = []
    for lib, wrap in ((graphc, lambda a: graphc.tensor(a.copy(), requires_grad=True)),
                      (torch, lambda a: torch.from_numpy(a.copy()).requires_grad_())):
        xx, s, z = wrap(x), wrap(s0), wrap(z0)
        y = (lib._fake_quantize_learnable_per_channel_affine(xx, s, z, 0, 0, 255, 0.5)
             if per_channel else
             lib._fake_quantize_learnable_per_tensor_affine(xx, s, z, 0, 255, 0.5))
        (y * (graphc.tensor(w) if lib is graphc else torch.from_numpy(w))).sum().backward()
        outs.append((y, xx.grad, s.grad, z.grad))
    (y, gx, gs, gz), (ty, tx, ts, tz) = outs
    assert same(y, ty) and same(gx, tx)
    for a, b in ((gs, ts), (gz, tz)):
        a, b = a.numpy(), b.numpy()
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())


def test_float64_input_as_torch(rng):
    x = (rng.standard_normal(500) * 3).astype(np.float64)
    y = graphc.fake_quantize_per_tensor_affine(graphc.tensor(x), 0.1, 2, 0, 255)
    assert same(y, torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), 0.1, 2, 0, 255))
    x2 = x.reshape(5, -1)
    sc, zp = _per_channel_args(5, 0, 255)
    y = graphc.fake_quantize_per_channel_affine(graphc.tensor(x2), graphc.tensor(sc),
                                                graphc.tensor(zp), 0, 0, 255)
    assert same(y, torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x2), torch.from_numpy(sc), torch.from_numpy(zp), 0, 0, 255))


def test_bad_arguments_raise_and_say_why():
    x = graphc.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(GraphcError, match="zero_point"):
        graphc.fake_quantize_per_tensor_affine(x, 0.1, 300, 0, 255)
    with pytest.raises(GraphcError, match="quant_min"):
        graphc.fake_quantize_per_tensor_affine(x, 0.1, 0, 10, 5)
    with pytest.raises(InputError, match="float"):
        graphc.fake_quantize_per_tensor_affine(graphc.tensor(np.ones(3, np.int32)), 0.1, 0, 0, 9)
    sc, zp = graphc.tensor(np.ones(3, np.float32)), graphc.tensor(np.zeros(3, np.int32))
    with pytest.raises(GraphcError, match="not consistent"):
        graphc.fake_quantize_per_channel_affine(x, sc, zp, 0, 0, 255)
    with pytest.raises(NotSupportedError, match="floating-point zero_point"):
        graphc.fake_quantize_per_channel_affine(graphc.tensor(np.ones((2, 3))), sc,
                                                graphc.tensor(np.zeros(3, np.float32)), 1, 0, 255)
    with pytest.raises(GraphcError, match="float32"):
        graphc._fake_quantize_learnable_per_tensor_affine(x, sc, zp, 0, 255, 1.0)
    obs = gq.HistogramObserver()
    with pytest.raises(NotSupportedError, match="eagerly"):
        graphc.compile(lambda x: obs(x), backend="interpreter")(np.ones(3, np.float32))


def _fq_all(lib, xs, sc, zp, sc1, zp1):
    """Every fake-quant variant, one per input of xs (graphc or torch: lib)."""
    ys = [lib.fake_quantize_per_tensor_affine(x, s, z, lo, hi)
          for x, (s, z, lo, hi) in zip(xs, PER_TENSOR)]
    ys.append(lib.fake_quantize_per_channel_affine(xs[3], sc, zp, 0, 0, 255))
    ys.append(lib.fake_quantize_per_channel_affine(xs[4], sc1, zp1, 1, -128, 127))
    ys.append(lib.fake_quantize_per_tensor_affine(xs[5], sc[:1], zp[:1], 0, 255))
    return ys


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_fake_quant_matches_torch(backend, rng):
    """One compiled step: six fake-quant variants, each on its own leaf tensor, and backward;
    values and gradients (w * mask) equal torch's bit for bit."""
    x0 = inputs(0.0173, rng, 6)
    shapes = [x0, x0, x0, x0, np.ascontiguousarray(x0.T), x0]
    sc, zp = _per_channel_args(6, 0, 255)
    sc1, zp1 = _per_channel_args(6, -128, 127)
    gxs = [graphc.tensor(a.copy(), requires_grad=True) for a in shapes]
    txs = [torch.from_numpy(a.copy()).requires_grad_() for a in shapes]
    ws = [rng.standard_normal(a.shape).astype(np.float32) for a in shapes]

    @graphc.compile(backend=backend)
    def step(*ws):
        ys = _fq_all(graphc, gxs, graphc.tensor(sc), graphc.tensor(zp), graphc.tensor(sc1),
                     graphc.tensor(zp1))
        sum((y * w).sum() for y, w in zip(ys, ws)).backward()
        return ys

    tys = _fq_all(torch, txs, torch.from_numpy(sc), torch.from_numpy(zp), torch.from_numpy(sc1),
                  torch.from_numpy(zp1))
    sum((y * torch.from_numpy(w)).sum() for y, w in zip(tys, ws)).backward()
    for y, ty, gx, tx in zip(step(*ws), tys, gxs, txs):
        assert same(y, ty)
        assert same(gx.grad, tx.grad)


OBSERVERS = [
    ("MinMaxObserver", {}),
    ("MinMaxObserver", {"dtype": "qint8", "qscheme": "per_tensor_symmetric"}),
    ("MinMaxObserver", {"reduce_range": True}),
    ("MinMaxObserver", {"dtype": "quint8", "qscheme": "per_tensor_symmetric"}),
    ("MovingAverageMinMaxObserver", {"averaging_constant": 0.1}),
    ("MovingAverageMinMaxObserver", {"dtype": "qint8", "qscheme": "per_tensor_symmetric",
                                         "reduce_range": True}),
    ("PerChannelMinMaxObserver", {"ch_axis": 1}),
    ("PerChannelMinMaxObserver", {"dtype": "qint8", "qscheme": "per_channel_symmetric"}),
    ("PerChannelMinMaxObserver", {"qscheme": "per_channel_affine_float_qparams"}),
    ("MovingAveragePerChannelMinMaxObserver", {"averaging_constant": 0.3}),
    ("MovingAveragePerChannelMinMaxObserver", {"dtype": "qint8", "ch_axis": 2,
                                                   "qscheme": "per_channel_symmetric"}),
]


def _make_observers(lib, mod):
    return [getattr(mod, name)(**{k: (getattr(lib, v) if k in ("dtype", "qscheme") else v)
                                  for k, v in kw.items()}) for name, kw in OBSERVERS]


def _batch(step: int, rng) -> np.ndarray:
    return (rng.standard_normal((4, 6, 3)) * (1 + step % 5) + step % 3 - 1).astype(np.float32)


@pytest.mark.parametrize("backend", [None, *BACKENDS])
def test_observers_match_torch_over_20_steps(backend, rng):
    gobs, tobs = _make_observers(graphc, gq), _make_observers(torch, tq)
    traces = []

    def observe(x):
        traces.append(1)
        for o in gobs:
            o(x)
        return [o.calculate_qparams() for o in gobs]

    run = observe if backend is None else graphc.compile(observe, backend=backend)
    for step in range(20):
        x = _batch(step, rng)
        got = run(x if backend else graphc.tensor(x))
        for o in tobs:
            o(torch.from_numpy(x))
        for (name, kw), g, t, (s, z) in zip(OBSERVERS, gobs, tobs, got):
            ts, tz = t.calculate_qparams()
            assert same(g.min_val, t.min_val) and same(g.max_val, t.max_val), (name, kw, step)
            assert same(s, ts) and same(z, tz), (name, kw, step)
            gs, gz = g.calculate_qparams()          # eagerly too, after the compiled step
            assert same(gs, ts) and same(gz, tz)
    assert len(traces) == (20 if backend is None else 1)


@pytest.mark.parametrize("kw", [{"reduce_range": True},
                                {"dtype": "qint8", "qscheme": "per_tensor_symmetric", "bins": 256}])
def test_histogram_observer_matches_torch(kw, rng):
    """Eager calibration (torch's post-training default): histogram, range and qparams equal
    torch's after each batch, with the range growing, shrinking-free repeats, an outlier and a
    constant batch."""
    g = gq.HistogramObserver(**{k: getattr(graphc, v) if k in ("dtype", "qscheme") else v
                                for k, v in kw.items()})
    t = tq.HistogramObserver(**{k: getattr(torch, v) if k in ("dtype", "qscheme") else v
                                for k, v in kw.items()})
    assert list(g.state_dict()) == list(t.state_dict())
    for step in range(6):
        x = rng.standard_normal((16, 32)) * rng.uniform(0.2, 3) + rng.uniform(-1, 1)
        x = np.maximum(x, 0) if step == 1 else x
        if step == 2:
            x[0, 0] = 40.0
        if step == 3:
            x[:] = 0.5
        x = x.astype(np.float32)
        g(graphc.tensor(x))
        t(torch.from_numpy(x))
        assert _same_buffers(g, t), step
        (s, z), (ts, tz) = g.calculate_qparams(), t.calculate_qparams()
        assert same(s, ts) and same(z, tz), step


def test_observer_state_dicts_and_defaults_as_torch():
    for g, t in zip(_make_observers(graphc, gq), _make_observers(torch, tq)):
        gsd, tsd = g.state_dict(), t.state_dict()
        assert list(gsd) == list(tsd)
        assert all(same(gsd[k], tsd[k]) for k in tsd)
        assert (g.quant_min, g.quant_max) == (t.quant_min, t.quant_max)
    g, t = gq.MinMaxObserver(), tq.MinMaxObserver()
    s, z = g.calculate_qparams()                      # never observed: torch's defaults
    ts, tz = t.calculate_qparams()
    assert same(s, ts) and same(z, tz)
    for name in ("default_observer", "default_weight_observer",
                 "default_per_channel_weight_observer", "weight_observer_range_neg_127_to_127"):
        g, t = getattr(gq, name)(), getattr(tq, name)()
        assert (type(g).__name__, g.quant_min, g.quant_max, g.dtype.name, g.qscheme.name) == \
            (type(t).__name__, t.quant_min, t.quant_max, str(t.dtype)[6:], str(t.qscheme)[6:])
    from torch.ao.quantization.utils import get_qparam_dict as torch_qparam_dict

    from graphc.ao.quantization.utils import get_qparam_dict
    g, t = gq.default_per_channel_weight_observer(), tq.default_per_channel_weight_observer()
    x = np.linspace(-3, 2, 12, dtype=np.float32).reshape(4, 3)
    g(graphc.tensor(x))
    t(torch.from_numpy(x))
    gd, td = get_qparam_dict(g), torch_qparam_dict(t)
    assert list(gd) == list(td) and str(gd["qscheme"])[7:] == str(td["qscheme"])[6:]
    assert same(gd["scale"], td["scale"]) and same(gd["zero_point"], td["zero_point"])
    d = gq.default_dynamic_quant_observer()
    assert d.is_dynamic and d.dtype is graphc.quint8 and (d.quant_min, d.quant_max) == (0, 255)


def test_load_observer_state_dict_sizes_empty_per_channel_statistics(rng):
    src = gq.default_per_channel_weight_fake_quant()
    src(graphc.tensor(rng.standard_normal((5, 3)).astype(np.float32)))
    dst = gq.default_per_channel_weight_fake_quant()
    gq.load_observer_state_dict(dst, src.state_dict())
    assert all(same(a, b.numpy()) for a, b in zip(dst.state_dict().values(),
                                                  src.state_dict().values()))


FAKE_QUANTS = ["default_fake_quant", "default_weight_fake_quant",
               "default_per_channel_weight_fake_quant", "default_fused_act_fake_quant",
               "default_fused_wt_fake_quant", "default_fused_per_channel_wt_fake_quant",
               "default_dynamic_fake_quant", "default_fixed_qparams_range_neg1to1_fake_quant",
               "default_embedding_fake_quant"]

TOGGLES = {4: ("disable_observer",), 6: ("disable_fake_quant",), 8: ("enable_fake_quant",),
           10: ("enable_observer",), 12: ("disable_fake_quant", "disable_observer"),
           13: ("enable_fake_quant", "enable_observer")}


def _toggle(step: int, mods_g, mods_t) -> None:
    for fn in TOGGLES.get(step, ()):
        for m in mods_g:
            m.apply(getattr(gq, fn))
        for m in mods_t:
            m.apply(getattr(tq, fn))


def _same_buffers(g, t) -> bool:
    gsd, tsd = g.state_dict(), t.state_dict()
    return list(gsd) == list(tsd) and all(same(gsd[k], tsd[k]) for k in tsd)


def test_fake_quantize_modules_eager_match_torch_with_toggles(rng):
    gm = [getattr(gq, n)() for n in FAKE_QUANTS]
    tm = [getattr(tq, n)() for n in FAKE_QUANTS]
    for step in range(15):
        _toggle(step, gm, tm)
        x = (rng.standard_normal((5, 4, 3)) * (1 + step % 4)).astype(np.float32)
        w = rng.standard_normal(x.shape).astype(np.float32)
        for n, g, t in zip(FAKE_QUANTS, gm, tm):
            gx, tx = graphc.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
            gy, ty = g(gx), t(tx)
            (gy * graphc.tensor(w)).sum().backward()
            (ty * torch.from_numpy(w)).sum().backward()
            assert same(gy, ty) and same(gx.grad, tx.grad), (n, step)
            assert _same_buffers(g, t), (n, step)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_fake_quantize_step_toggles_without_retrace(backend, rng):
    """Activation and weight fake-quant modules (FakeQuantize and the fused kind, per tensor
    and per channel) in one compiled training-style step: outputs, the weight gradient and every
    buffer equal torch's for 20 steps while the flags change between calls; one trace."""
    names = ["default_fake_quant", "default_per_channel_weight_fake_quant",
             "default_fused_act_fake_quant", "default_fused_per_channel_wt_fake_quant",
             "default_weight_fake_quant", "default_fused_wt_fake_quant"]
    gm, tm = [getattr(gq, n)() for n in names], [getattr(tq, n)() for n in names]
    w0 = rng.standard_normal((6, 5)).astype(np.float32)
    gw = graphc.tensor(w0.copy(), requires_grad=True)
    tw = torch.from_numpy(w0.copy()).requires_grad_()
    traces = []

    def body(mods, w, x):
        ys = [m(w * float(i + 1) if i % 2 else x) for i, m in enumerate(mods)]
        sum((y * y).sum() for y in ys).backward()
        return ys

    @graphc.compile(backend=backend)
    def step(x):
        traces.append(1)
        return body(gm, gw, x)

    for it in range(20):
        _toggle(it - 2, gm, tm)
        x = (rng.standard_normal((6, 5)) * (1 + it % 3)).astype(np.float32)
        gw.grad, tw.grad = None, None
        ys, tys = step(x), body(tm, tw, torch.from_numpy(x))
        assert all(same(a, b) for a, b in zip(ys, tys)), it
        assert same(gw.grad, tw.grad), it
        for n, g, t in zip(names, gm, tm):
            assert _same_buffers(g, t), (n, it)
    assert len(traces) == 1


def test_qconfigs_as_torch():
    def describe(ctr):
        p = ctr.p if hasattr(ctr, "p") else None
        if p is None:
            return getattr(ctr, "__name__", repr(ctr))
        kw = {k: describe(v) if callable(v) else (v if isinstance(v, (int, float, bool, str))
                                                  else str(v).split(".")[-1])
              for k, v in p.keywords.items()}
        return p.func.__name__, kw

    for backend in ("x86", "fbgemm", "qnnpack", "onednn"):
        for version in (0, 1):
            g = gq.get_default_qat_qconfig(backend, version)
            t = tq.get_default_qat_qconfig(backend, version)
            assert describe(g.activation) == describe(t.activation), (backend, version)
            assert describe(g.weight) == describe(t.weight), (backend, version)
        assert describe(gq.get_default_qconfig(backend).weight) == \
            describe(tq.get_default_qconfig(backend).weight)
    for name in ("default_qconfig", "default_qat_qconfig", "default_qat_qconfig_v2",
                 "default_dynamic_qconfig", "per_channel_dynamic_qconfig",
                 "default_dynamic_qat_qconfig", "default_weight_only_qconfig",
                 "default_activation_only_qconfig", "default_per_channel_qconfig"):
        g, t = getattr(gq, name), getattr(tq, name)
        assert describe(g.activation) == describe(t.activation), name
        assert describe(g.weight) == describe(t.weight), name
    assert gq.qconfig._activation_is_memoryless(gq.default_dynamic_qat_qconfig)
    assert gq.qconfig_equals(gq.get_default_qat_qconfig(), gq.get_default_qat_qconfig("x86"))
    with pytest.raises(GraphcError, match="instance"):
        gq.QConfig(activation=gq.MinMaxObserver(), weight=gq.default_weight_observer)
    assert graphc.quantization.FakeQuantize is gq.FakeQuantize
    assert graphc.quantization.fake_quantize is gq.fake_quantize
    assert graphc.backends.quantized.engine in graphc.backends.quantized.supported_engines


_THREADS_SCRIPT = """
import numpy as np, graphc, graphc.ao.quantization as gq
rng = np.random.default_rng(5)
fq, obs = gq.default_fused_per_channel_wt_fake_quant(), gq.default_fake_quant()
w = graphc.tensor(rng.standard_normal((64, 300)).astype(np.float32), requires_grad=True)
@graphc.compile(backend="llvm")
def step(x):
    y = obs(x) @ fq(w).T
    (y * y).sum().backward()
    return y
for _ in range(3):
    y = step(rng.standard_normal((32, 300)).astype(np.float32))
np.save(OUT, np.concatenate([y.ravel(), w.grad.numpy().ravel(), fq.scale.numpy(),
                             obs.scale.numpy()]))
"""


def test_llvm_one_and_two_threads_same_bits(tmp_path):
    outs = []
    for n in (1, 2):
        out = tmp_path / f"t{n}.npy"
        env = dict(os.environ, GRAPHC_NUM_THREADS=str(n))
        subprocess.run([sys.executable, "-c", f"OUT = {str(out)!r}\n" + _THREADS_SCRIPT],
                       env=env, check=True, timeout=300)
        outs.append(np.load(out))
    assert outs[0].view(np.uint32).tolist() == outs[1].view(np.uint32).tolist()
