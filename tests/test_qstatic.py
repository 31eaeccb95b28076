"""Static int8 (quantized tensors, nnq / nniq modules, QFunctional, convert) against torch's own
quantized modules built from the same int8 weights and qparams: 0 ulp (identical integers);
interpreter == LLVM, 1 == 2 threads.

Also the independent oracles of the static int8 ops (`NUMPY`, `torch_table`) for the generated
per-op tests (tests/test_ops.py imports them as test_conv's).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
import graphc.ao.nn.intrinsic.quantized as gqi
import graphc.ao.nn.quantized as gq
import graphc.ao.nn.quantized.functional as gqF

F32 = np.float32


# ---- independent oracles of the ops (plain Python / NumPy, element by element where cheap) -------

def _np_quantize(x, scale, zero_point, dtype):
    import graphc.dtypes as D
    lo, hi = {"u8": (0, 255), "i8": (-128, 127), "i32": (-(1 << 31), (1 << 31) - 1)}[
        D.as_dtype(dtype).name]
    inv = F32(1) / F32(scale)
    out = np.empty(x.shape, D.as_dtype(dtype).np)
    for i, v in np.ndenumerate(x):   # exact x * inv + zp in float64, then one float32 rounding
        # (float64 holds x*inv exactly; adding zp may round there, so fall back to fractions)
        from fractions import Fraction
        t = Fraction(float(v)) * Fraction(float(inv)) + zero_point
        f = F32(float(t))
        if Fraction(float(f)) != t:    # pick the float32 nearest to t (ties to even)
            lo_f = np.nextafter(f, F32(-np.inf)) if Fraction(float(f)) > t else f
            hi_f = np.nextafter(lo_f, F32(np.inf))
            dl, dh = t - Fraction(float(lo_f)), Fraction(float(hi_f)) - t
            f = lo_f if dl < dh or (dl == dh and int(lo_f.view(np.int32)) % 2 == 0) else hi_f
        out[i] = min(max(int(np.rint(f)), lo), hi)
    return out


def _np_qgemm(a, w, col_off, w_zp, bias_div, mult, a_zp, out_zp, relu=False, rows_per_image=0,
              w_asym=True):
    m, n = a.shape[0], w.shape[0]
    out = np.empty((m, n), np.uint8)
    for i in range(m):
        rs = int(a[i].astype(np.int64).sum())
        for j in range(n):
            raw = int(np.dot(a[i].astype(np.int64), w[j].astype(np.int64)))
            raw -= a_zp * int(col_off[j]) + int(w_zp[j]) * rs
            y = F32(F32(F32(raw) + F32(bias_div[j])) * F32(mult[j]))
            out[i, j] = min(max(int(np.rint(y)) + out_zp, out_zp if relu else 0), 255)
    if rows_per_image:
        return np.stack([out[k:k + rows_per_image].T for k in range(0, m, rows_per_image)])
    return out


def _np_qbinary(a, b, binop, a_scale, a_zp, b_scale, b_zp, scale, zero_point, relu=False,
                block=64):
    from graphc.ir.ops.quant import fma_f32
    qa, qb = a.reshape(-1).astype(np.int64), b.reshape(-1).astype(np.int64)
    inv = F32(F32(1) / F32(scale))
    out = np.empty(qa.size, np.uint8)
    nv = qa.size - qa.size % block
    for i in range(qa.size):
        if binop == "mul":
            m = F32(F32(F32(a_scale) * F32(b_scale)) * inv)
            r = int(np.rint(F32(F32((qa[i] - a_zp) * (qb[i] - b_zp)) * m))) + zero_point
            out[i] = min(max(r, zero_point if relu else 0), 255)
            continue
        if i < nv:
            da = fma_f32(F32(qa[i]), F32(a_scale), F32(F32(a_scale) * F32(-a_zp)))
            db = fma_f32(F32(qb[i]), F32(b_scale), F32(F32(b_scale) * F32(-b_zp)))
            c = F32(da + db)
            c = max(c, F32(0)) if relu else c
            out[i] = min(max(int(np.rint(F32(c * inv))) + zero_point, 0), 255)
        else:
            c = F32(F32(F32(a_scale) * F32(qa[i] - a_zp)) + F32(F32(b_scale) * F32(qb[i] - b_zp)))
            c = max(c, F32(0)) if relu else c
            out[i] = min(max(int(np.rint(F32(F32(c * inv) + F32(zero_point)))), 0), 255)
    return out.reshape(a.shape)


def _np_qim2col(x, kernel, stride, padding, dilation, pad_value):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n * ho * wo, c * kh * kw), np.uint8)
    for b in range(n):
        for oh in range(ho):
            for ow in range(wo):
                for ch in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            ih, iw = oh * sh + i * dh - ph, ow * sw + j * dw - pw
                            inside = 0 <= ih < h and 0 <= iw < w
                            out[(b * ho + oh) * wo + ow, (ch * kh + i) * kw + j] = \
                                x[b, ch, ih, iw] if inside else pad_value
    return out


NUMPY = {
    "qim2col": _np_qim2col,
    "quantize": _np_quantize,
    "dequantize": lambda q, scale, zero_point: (F32(scale) * (q.astype(np.int64) - zero_point)
                                                .astype(np.int32).astype(F32)).astype(F32),
    "qgemm": _np_qgemm,
    "qbinary": _np_qbinary,
}


def torch_table(torch):
    """torch's own kernels for the ops that map onto torch calls (tests/test_ops.py)."""
    import torch.nn.functional as F
    tdt = {"u8": torch.quint8, "i8": torch.qint8, "i32": torch.qint32}

    def quiet(fn):
        def run(*args, **kwargs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(*args, **kwargs)
        return run

    @quiet
    def quantize(x, scale, zero_point, dtype):
        return torch.quantize_per_tensor(x, scale, zero_point,
                                         tdt[graphc.dtypes.as_dtype(dtype).name]).int_repr()

    @quiet
    def dequantize(q, scale, zero_point):
        return torch._make_per_tensor_quantized_tensor(q, scale, zero_point).dequantize()

    @quiet
    def qbinary(a, b, binop, a_scale, a_zp, b_scale, b_zp, scale, zero_point, relu=False,
                block=64):
        qa = torch._make_per_tensor_quantized_tensor(a, a_scale, a_zp)
        qb = torch._make_per_tensor_quantized_tensor(b, b_scale, b_zp)
        fn = {("add", False): torch.ops.quantized.add, ("add", True): torch.ops.quantized.add_relu,
              ("mul", False): torch.ops.quantized.mul,
              ("mul", True): torch.ops.quantized.mul_relu}[(binop, relu)]
        return fn(qa, qb, scale, zero_point).int_repr()

    def qim2col(x, kernel, stride, padding, dilation, pad_value):
        (ph, pw), ck = padding, x.shape[1] * kernel[0] * kernel[1]
        xp = F.pad(x.double(), (pw, pw, ph, ph), value=float(pad_value))
        cols = F.unfold(xp, kernel, dilation=dilation, stride=stride)      # [N, CK, L]
        return cols.transpose(1, 2).reshape(-1, ck).to(torch.uint8)
    return {"quantize": quantize, "dequantize": dequantize, "qbinary": qbinary,
            "qim2col": qim2col}


TORCH_LACKS = {"qgemm": "its operands are derived from torch's (fl(bias / (s_x s_w)), "
                        "fl(s_x s_w / s_out)); tests/test_qstatic.py compares nnq.Linear and "
                        "nnq.Conv2d, which run it, with torch's quantized modules"}


# ---- helpers -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    t = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", message=".*quantiz.*deprecated.*")
    old = t.backends.quantized.engine
    t.backends.quantized.engine = "fbgemm"   # see docs/static_int8.md: x86 runs oneDNN conv on VNNI CPUs
    yield t
    t.backends.quantized.engine = old


def g_q(t):
    """The graphc quantized tensor with a torch quantized tensor's integers and qparams."""
    import torch
    if t.qscheme() == torch.per_channel_affine:
        return graphc._make_per_channel_quantized_tensor(
            t.int_repr().numpy(), t.q_per_channel_scales().numpy(),
            t.q_per_channel_zero_points().numpy(), t.q_per_channel_axis())
    return graphc._make_per_tensor_quantized_tensor(t.int_repr().numpy(), t.q_scale(),
                                                    t.q_zero_point())


def same_ints(gt, tt, what=""):
    a, b = gt.int_repr().numpy(), tt.int_repr().numpy()
    assert a.shape == tuple(b.shape), what
    bad = int((a.astype(np.int64) != b.astype(np.int64)).sum())
    assert bad == 0, f"{what}: {bad} of {a.size} integers differ from torch"


# ---- 1. quantize / dequantize -----------------------------------------------------------------

def _halfway(rng, n, scale):
    """Values whose x / scale is (near) k + 0.5, plus a few random and saturating ones."""
    x = ((rng.integers(-300, 300, n) + 0.5) * F32(scale)).astype(F32)
    x[::5] = (rng.standard_normal(len(x[::5])) * 100 * scale).astype(F32)
    x[:3] = np.array([3e38, -3e38, 1e30], F32)[:len(x[:3])]
    return x


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_tensor_is_torch(torch, dtype):
    rng = np.random.default_rng(1)
    for n in (1, 7, 64, 65, 1000):
        s = float(rng.uniform(1e-3, 1))
        zp = {"quint8": 130, "qint8": -5, "qint32": 1000}[dtype]
        x = _halfway(rng, n, s)
        q = graphc.quantize_per_tensor(x, s, zp, getattr(graphc, dtype))
        t = torch.quantize_per_tensor(torch.from_numpy(x), s, zp, getattr(torch, dtype))
        same_ints(q, t, f"{dtype} n={n}")
        assert np.array_equal(q.dequantize().numpy(), t.dequantize().numpy())
        assert q.q_scale() == t.q_scale() and q.q_zero_point() == t.q_zero_point()


def test_quantize_special_values_and_metadata(torch):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 12.75, -12.75], F32)
    q = graphc.quantize_per_tensor(x, 0.1, 10, graphc.quint8)
    same_ints(q, torch.quantize_per_tensor(torch.from_numpy(x), 0.1, 10, torch.quint8))
    assert q.dtype is graphc.quint8 and q.qscheme() is graphc.per_tensor_affine
    assert q.is_quantized and not graphc.tensor([1.0]).is_quantized
    r = repr(graphc.quantize_per_tensor(np.array([1.0, 2.07], F32), 0.1, 10, graphc.quint8))
    assert "size=(2,), dtype=graphc.quint8" in r and \
        "quantization_scheme=graphc.per_tensor_affine, scale=0.1, zero_point=10)" in r
    with pytest.raises(graphc.GraphcError, match="dequantize"):
        np.asarray(q)          # a float op never computes on the integers
    with pytest.raises(graphc.GraphcError):
        graphc.exp(q)          # no quantized form: refused, never computed on the integers
    with pytest.raises(graphc.GraphcError, match="zero_point"):
        graphc.quantize_per_tensor(x, 0.1, 300, graphc.quint8)


def test_quantize_per_channel_is_torch(torch):
    rng = np.random.default_rng(2)
    for axis, shape in ((0, (5, 40)), (1, (3, 6, 7)), (1, (64, 3))):
        c = shape[axis]
        s = rng.uniform(1e-3, 1, c)
        z = rng.integers(-20, 20, c)
        x = ((rng.integers(-300, 300, shape) + 0.5) * 0.01).astype(F32)
        x = (x * np.expand_dims(s, tuple(i for i in range(len(shape)) if i != axis)) * 100
             ).astype(F32)
        q = graphc.quantize_per_channel(x, s, z, axis, graphc.qint8)
        t = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(s),
                                       torch.from_numpy(z), axis, torch.qint8)
        same_ints(q, t, f"axis {axis}")
        assert np.array_equal(q.dequantize().numpy(), t.dequantize().numpy())
        assert np.array_equal(q.q_per_channel_scales().numpy(), t.q_per_channel_scales().numpy())


# ---- 2. modules vs torch's modules on the same int8 weights ------------------------------------

def _pair(torch, tcls, gcls, args, w, bias, per_channel, rng, kwargs=None):
    """torch's module and graphc's, with the same int8 weight, bias and output qparams."""
    kwargs = kwargs or {}
    n = w.shape[0]
    if per_channel:
        qw = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(
            rng.uniform(1e-3, 4e-3, n)), torch.zeros(n, dtype=torch.long), 0, torch.qint8)
    else:
        qw = torch.quantize_per_tensor(torch.from_numpy(w), float(rng.uniform(1e-3, 4e-3)), 0,
                                       torch.qint8)
    so, zo = float(rng.uniform(0.02, 0.2)), int(rng.integers(0, 256))
    t, g = tcls(*args, **kwargs), gcls(*args, **kwargs)
    t.set_weight_bias(qw, None if bias is None else torch.from_numpy(bias))
    g.set_weight_bias(g_q(qw), bias)
    t.scale = g.scale = so
    t.zero_point = g.zero_point = zo
    return t, g


def _qin(torch, rng, shape):
    return torch.quantize_per_tensor(torch.randn(*shape), float(rng.uniform(0.01, 0.05)),
                                     int(rng.integers(0, 128)), torch.quint8)


@pytest.mark.parametrize("relu", [False, True])
def test_linear_is_torch(torch, relu):
    import torch.ao.nn.intrinsic.quantized as tqi
    import torch.ao.nn.quantized as tq
    rng = np.random.default_rng(3 + relu)
    for k, n, lead, pc, has_bias in ((37, 13, (5,), True, True), (64, 8, (2, 3), False, True),
                                     (5, 3, (1,), True, False), (100, 30, (70,), False, True)):
        w = (rng.standard_normal((n, k)) * 0.1).astype(F32)
        b = (rng.standard_normal(n) * 0.3).astype(F32) if has_bias else None
        t, g = _pair(torch, tqi.LinearReLU if relu else tq.Linear,
                     gqi.LinearReLU if relu else gq.Linear, (k, n), w, b, pc, rng)
        x = _qin(torch, rng, lead + (k,))
        same_ints(g(g_q(x)), t(x), f"Linear {k}->{n} {lead}")
    assert repr(g) == repr(t).replace("torch.", "graphc.")
    assert g.weight().int_repr().numpy().tolist() == t.weight().int_repr().numpy().tolist()


CONV_CASES = [  # kernel, stride, padding, groups, dilation
    (3, 1, 0, 1, 1), (3, 2, 1, 1, 1), (3, 1, 1, 2, 1), (1, 1, 0, 1, 1), (5, 2, 2, 4, 2)]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_is_torch(torch, case):
    import torch.ao.nn.intrinsic.quantized as tqi
    import torch.ao.nn.quantized as tq
    k, s, p, gr, d = CONV_CASES[case]
    rng = np.random.default_rng(10 + case)
    relu = case % 2 == 1
    ic, oc = 4 * (1 + case % 2), 8
    w = (rng.standard_normal((oc, ic // gr, k, k)) * 0.1).astype(F32)
    b = (rng.standard_normal(oc) * 0.3).astype(F32)
    t, g = _pair(torch, tqi.ConvReLU2d if relu else tq.Conv2d,
                 gqi.ConvReLU2d if relu else gq.Conv2d, (ic, oc, k), w, b, case % 3 != 0, rng,
                 {"stride": s, "padding": p, "groups": gr, "dilation": d})
    x = _qin(torch, rng, (2, ic, 9, 8))
    same_ints(g(g_q(x)), t(x), f"Conv2d case {case}")
    assert repr(g) == repr(t).replace("torch.", "graphc.")


def test_qfunctional_pooling_and_shape_ops_are_torch(torch):
    import torch.ao.nn.quantized as tq
    rng = np.random.default_rng(20)
    tf, gf = tq.QFunctional(), gq.QFunctional()
    tf.scale = gf.scale = 0.07
    tf.zero_point = gf.zero_point = 90
    for n in (5, 64, 100, 1000):       # the vector block, its tail, and both
        a, b = _qin(torch, rng, (n,)), _qin(torch, rng, (n,))
        for op in ("add", "add_relu", "mul"):
            same_ints(getattr(gf, op)(g_q(a), g_q(b)), getattr(tf, op)(a, b), f"{op} n={n}")
        same_ints(gf.cat([g_q(a), g_q(b)], 0), tf.cat([a, b], 0), "cat")
        same_ints(gf.mul_scalar(g_q(a), -0.7), tf.mul_scalar(a, -0.7), "mul_scalar")
    x = _qin(torch, rng, (2, 3, 9, 9))
    F = torch.nn.functional
    same_ints(gqF.max_pool2d(g_q(x), 2), F.max_pool2d(x, 2), "max_pool2d")
    same_ints(gqF.max_pool2d(g_q(x), 3, 2, 1), F.max_pool2d(x, 3, 2, 1), "max_pool2d pad")
    for size in (1, (2, 3), (4, 4)):
        same_ints(gqF.adaptive_avg_pool2d(g_q(x), size), F.adaptive_avg_pool2d(x, size),
                  f"adaptive_avg_pool2d {size}")
    same_ints(gq.ReLU6()(g_q(x)), tq.ReLU6()(x), "relu6")
    same_ints(g_q(x).relu(), torch.relu(x), "relu")
    same_ints(g_q(x).flatten(1), torch.flatten(x, 1), "flatten")
    same_ints(g_q(x).reshape(6, -1), x.reshape(6, -1), "reshape")
    same_ints(g_q(x)[1, :, 2:], x[1, :, 2:], "indexing")
    assert g_q(x).flatten(1).q_scale() == torch.flatten(x, 1).q_scale()


# ---- 3. convert of a prepared, calibrated model vs torch's convert of the same model -------------

def _net(nn, Q, nnq):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = Q.QuantStub()
            self.conv1, self.relu1 = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.ff = nnq.FloatFunctional()
            self.conv3 = nn.Conv2d(4, 8, 3, stride=2)
            self.fc1, self.relu2 = nn.Linear(8 * 3 * 3, 16), nn.ReLU()
            self.fc2 = nn.Linear(16, 10)
            self.dequant = Q.DeQuantStub()

        def forward(self, x):
            x = self.quant(x)
            y = self.relu1(self.conv1(x))
            x = self.ff.add(y, self.conv2(y))
            x = self.conv3(x).flatten(1)
            return self.dequant(self.fc2(self.relu2(self.fc1(x))))
    return Net()


def _prepared(T, nn, Q, nnq, state, per_channel, batches):
    net = _net(nn, Q, nnq)
    net.load_state_dict(state)
    net.eval()
    net.qconfig = Q.QConfig(activation=Q.MinMaxObserver.with_args(reduce_range=True),
                            weight=Q.default_per_channel_weight_observer if per_channel
                            else Q.default_weight_observer)
    p = Q.prepare(Q.fuse_modules(net, [["conv1", "relu1"], ["fc1", "relu2"]]))
    for xb in batches:
        p(T.from_numpy(xb.copy()) if T.__name__ == "torch" else T.tensor(xb))
    return p


@pytest.fixture(scope="module")
def converted(torch):
    rng = np.random.default_rng(30)
    tnet = _net(torch.nn, torch.ao.quantization, torch.ao.nn.quantized)
    state = {k: v.detach().numpy().copy() for k, v in tnet.state_dict().items()}
    batches = [rng.standard_normal((8, 1, 7, 7)).astype(F32) for _ in range(3)]
    out = {}
    for pc in (True, False):
        tp = _prepared(torch, torch.nn, torch.ao.quantization, torch.ao.nn.quantized,
                       {k: torch.from_numpy(v) for k, v in state.items()}, pc, batches)
        gp = _prepared(graphc, graphc.nn, graphc.ao.quantization, graphc.ao.nn.quantized, state,
                       pc, batches)
        # graphc's own calibration: the float layers' outputs differ from torch's by float
        # rounding, so the observed ranges (and qparams) agree to ~1e-6, not bit for bit
        ts, gs = tp.state_dict(), gp.state_dict()
        obs = [k for k in ts if k.endswith(("min_val", "max_val"))]
        assert obs and all(np.allclose(gs[k].numpy(), ts[k].numpy(), rtol=1e-5, atol=1e-6)
                           for k in obs)
        # ... so for the int8 comparison both convert the same observer statistics
        gp.load_state_dict({k: v.detach().numpy().copy() for k, v in ts.items()})
        out[pc] = (torch.ao.quantization.convert(tp), graphc.ao.quantization.convert(gp), gp)
    return out, rng.standard_normal((5, 1, 7, 7)).astype(F32)


@pytest.mark.parametrize("per_channel", [True, False])
def test_convert_is_torch(torch, converted, per_channel):
    models, x = converted
    tc, gc, gp = models[per_channel]
    want = tc(torch.from_numpy(x)).numpy()
    got = gc(graphc.tensor(x)).numpy()
    assert np.array_equal(got, want), f"max diff {np.abs(got - want).max()}"
    assert np.array_equal(graphc.compile(gc, backend="interpreter")(x), want)
    assert repr(gc.fc1) == repr(tc.fc1).replace("torch.", "graphc.")
    assert not hasattr(gc.conv2, "qconfig") and not hasattr(gp.conv2, "weight_scale")


def test_static_layer_report_and_fp32_fallback(torch, converted):
    models, x = converted
    _tc, gc, gp = models[True]
    rep = graphc.ao.quantization.static_layer_report(gp, gc, graphc.tensor(x))
    assert [r["layer"] for r in rep.rows] == ["quant", "conv1", "conv2", "conv3", "fc1", "fc2"]
    assert all(r["rel"] < 0.1 for r in rep.rows) and "max |int8 - fp32|" in str(rep)
    kept = graphc.ao.quantization.convert(gp, keep_fp32=["conv3"])
    assert type(kept.conv3).__name__ == "Fp32Fallback"
    y, y8 = kept(graphc.tensor(x)).numpy(), gc(graphc.tensor(x)).numpy()
    yf = gp(graphc.tensor(x)).numpy()
    assert np.abs(y - yf).max() <= np.abs(y8 - yf).max() * 1.5 + 1e-2
    with pytest.raises(graphc.GraphcError, match="keep_fp32"):
        graphc.ao.quantization.convert(gp, keep_fp32=["nope"])


# ---- 4. native code: LLVM == interpreter == torch; both int8 instruction paths; threads -------

@pytest.mark.parametrize("vnni", ["1", "0"])
def test_converted_model_compiles_to_torchs_numbers(torch, converted, monkeypatch, vnni):
    """The whole converted network in one native call (AVX-512 VNNI's vpdpbusd where the CPU
    has it, AVX2's pmaddubsw with GRAPHC_INT8_VNNI=0)."""
    monkeypatch.setenv("GRAPHC_INT8_VNNI", vnni)
    models, x = converted
    tc, gc, _ = models[vnni == "1"]
    native = graphc.compile(gc, backend="llvm")
    xb = np.concatenate([x] * 8)             # 40 rows: several pool tasks per GEMM
    assert np.array_equal(native(xb), tc(torch.from_numpy(xb)).numpy())


def _saturating_gemm():
    """8-bit activations of 255 against weights of -128 (what pmaddubsw would saturate)."""
    rng = np.random.default_rng(40)
    a = rng.integers(200, 256, (20, 70)).astype(np.uint8)
    w = np.full((9, 70), -128, np.int8)
    w[::2, ::3] = 127
    col = w.astype(np.int64).sum(1).astype(np.int32)
    return a, w, col


@pytest.mark.parametrize("vnni", ["1", "0"])
def test_qgemm_is_exact_with_8bit_activations(monkeypatch, vnni):
    monkeypatch.setenv("GRAPHC_INT8_VNNI", vnni)
    a, w, col = _saturating_gemm()
    n = w.shape[0]
    args = (w, col, np.zeros(n, np.int32), np.zeros(n, F32), np.full(n, F32(1e-4)))

    def f(x):
        return _apply("qgemm", x, *args, a_zp=3, out_zp=7, relu=False)
    got = graphc.compile(f, backend="llvm")(a)
    want = graphc.compile(f, backend="interpreter")(a)
    assert np.array_equal(got, want) and np.array_equal(want, NUMPY["qgemm"](
        a, *args, a_zp=3, out_zp=7))


def _apply(op, *args, **attrs):
    from graphc.tensor import apply
    return apply(op, *args, **attrs)


_THREADS = """
import sys, numpy as np, graphc
import graphc.ao.nn.quantized as gq, graphc.ao.nn.intrinsic.quantized as gqi
rng = np.random.default_rng(0)
conv = gqi.ConvReLU2d(3, 8, 3, padding=1)
conv.set_weight_bias(graphc.quantize_per_channel(rng.standard_normal((8, 3, 3, 3)).astype(
    np.float32) * 0.2, rng.uniform(1e-3, 3e-3, 8), np.zeros(8, np.int64), 0, graphc.qint8),
    rng.standard_normal(8).astype(np.float32))
conv.scale, conv.zero_point = 0.05, 0
fc = gq.Linear(8 * 36, 10)
fc.set_weight_bias(graphc.quantize_per_tensor(rng.standard_normal((10, 288)).astype(
    np.float32) * 0.1, 0.002, 0, graphc.qint8), None)
fc.scale, fc.zero_point = 0.1, 128
def f(x):
    q = graphc.quantize_per_tensor(x, 0.03, 60, graphc.quint8)
    return fc(conv(q).flatten(1)).int_repr()
x = rng.standard_normal((64, 3, 6, 6)).astype(np.float32)
np.save(sys.argv[1], graphc.compile(f, backend="llvm")(x))
"""


def test_one_and_two_threads_give_the_same_bits(tmp_path):
    import os
    import subprocess
    import sys
    script = tmp_path / "threads.py"
    script.write_text(_THREADS)
    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=n, GRAPHC_CACHE_DIR=str(tmp_path / "c"))
        subprocess.run([sys.executable, str(script), str(tmp_path / f"o{n}.npy")], check=True,
                       env=env, timeout=300)
        outs.append(np.load(tmp_path / f"o{n}.npy"))
    assert outs[0].shape == (64, 10) and np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_op_references_match_the_independent_oracles(name):
    """What tests/test_ops.py's generated oracle check does for these ops (it imports NUMPY)."""
    from conftest import sample_arrays

    from graphc.ir import OPS
    rng = np.random.default_rng(50)
    for sample in OPS[name].samples:
        arrays = sample_arrays(sample, rng)
        got = OPS[name].ref(*[a.copy() for a in arrays], **sample.attrs)
        want = NUMPY[name](*[a.copy() for a in arrays], **sample.attrs)
        assert got.dtype == want.dtype and np.array_equal(got, want), name


def test_dynamic_qat_convert_equals_quantize_dynamic():
    """After dynamic QAT, convert with torch's dynamic mapping gives quantize_dynamic's model of
    the trained weights (the same int8 weights and outputs)."""
    import graphc.ao.nn.qat.dynamic as nnqatd
    import graphc.ao.quantization as Q
    from graphc import nn
    graphc.manual_seed(0)
    m = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    m.qconfig = Q.default_dynamic_qat_qconfig
    p = Q.prepare_qat(m.train(), mapping={nn.Linear: nnqatd.Linear})
    opt = graphc.optim.SGD(p.parameters(), lr=0.1)
    x = graphc.randn(32, 20)
    for _ in range(3):
        opt.zero_grad()
        p(x).pow(2).mean().backward()
        opt.step()
    c = Q.convert(p.eval(), mapping=Q.get_default_dynamic_quant_module_mappings())
    trained = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    trained.load_state_dict({k: v for k, v in p.state_dict().items()
                             if "fake_quant" not in k and "post_process" not in k})
    d = Q.quantize_dynamic(trained, {nn.Linear}, dtype=graphc.qint8)
    xs = graphc.randn(5, 20)
    assert np.array_equal(c(xs).numpy(), d(xs).numpy())
    wc, wd = c[0].state_dict(), d[0].state_dict()
    assert all(np.array_equal(wc[k].numpy(), wd[k].numpy()) for k in wd)
