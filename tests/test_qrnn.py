"""Dynamic int8 LSTM / GRU / cells (graphc.ao.nn.quantized.dynamic) against torch's quantize_dynamic.

Oracles, from the exact to the practical:
1. a NumPy model of torch's algorithm (int8 linears: graphc's qlinear reference, bit-exact with
   fbgemm; gates: torch.sigmoid / torch.tanh) reproduces torch to 0 ulp: the semantics (one input
   projection over the whole sequence, a per-step hidden projection, b_ih / b_hh placement, gate
   float order) are torch's;
2. the same model with NumPy's sigmoid and tanh reproduces graphc eager to 0 ulp;
3. graphc vs torch therefore differs only where NumPy's exp/tanh round differently from SLEEF's
   (an ulp on some elements); over these short sequences that stays below 1e-6 absolute
   (measured max 1.8e-7). A longer sequence can carry one flipped int8 activation (about 1e-3,
   see modules/rnn.py), which these cases do not hit.
Compiled on the interpreter equals eager bit for bit; LLVM (vectorised exp/tanh) is within 1e-6
of eager and gives the same bits with 1 and 2 threads.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ao.nn.quantized import dynamic as nnqd
from graphc.ir.ops.quant import qlinear_int8, quantize_weight
from graphc.quantization import layer_report, quantize_dynamic

torch = pytest.importorskip("torch")
warnings.filterwarnings("ignore", category=DeprecationWarning)   # torch.ao.quantization's notice
F32 = np.float32
TOL = 1e-6


def _twins(kind, *args, **kw):
    """The same fp32 layer in torch and graphc (torch's init, copied)."""
    tm = getattr(torch.nn, kind)(*args, **kw)
    gm = getattr(nn, kind)(*args, **kw)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, gm


def _torch_q(tm, per_channel=False):
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig
    from torch.ao.quantization import quantize_dynamic as tq
    qc = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    return tq(torch.nn.Sequential(tm), {type(tm): qc})[0]   # torch swaps children only


def tq_weights(tm, per_channel):
    return _torch_q(tm, per_channel).get_weight()


def _flat(out):
    if isinstance(out, (tuple, list)):
        return np.concatenate([_flat(t) for t in out])
    return np.asarray(out.detach().numpy() if hasattr(out, "detach") else
                      out.numpy() if hasattr(out, "numpy") else out, F32).reshape(-1)


def _np_sig(v):
    return (F32(1) / (F32(1) + np.exp(-v))).astype(F32)


def _t_sig(v):
    # on the same strided view as torch's gate chunk: torch's sigmoid rounds differently on its
    # scalar path (a chunk row shorter than two vectors) and its vectorised one
    return torch.sigmoid(torch.from_numpy(v)).numpy()


def _t_tanh(v):
    return torch.tanh(torch.from_numpy(v)).numpy()


def _np_model(gm, x, hx, per_channel, sig, tanh):
    """torch's quantized LSTM/GRU in NumPy, from graphc fp32 module `gm`; x (T, N, K)."""
    kind, H, dirs = type(gm).__name__, gm.hidden_size, 2 if gm.bidirectional else 1
    if gm.batch_first:
        x = x.transpose(1, 0, 2)
    T, N = x.shape[:2]
    P = lambda n: getattr(gm, n).numpy()
    h0 = np.zeros((gm.num_layers * dirs, N, H), F32) if hx is None else \
        (hx[0] if kind == "LSTM" else hx)
    c0 = None if kind != "LSTM" else (np.zeros_like(h0) if hx is None else hx[1])
    hs, cs = [], []
    for layer in range(gm.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}{'_reverse' if d else ''}"
            qi, qh = (quantize_weight(P(f"weight_{s}{sfx}"), per_channel) for s in ("ih", "hh"))
            gi = qlinear_int8(x.reshape(T * N, -1), *qi, P(f"bias_ih{sfx}")).reshape(T, N, -1)
            k = layer * dirs + d
            h, c = h0[k], (None if c0 is None else c0[k])
            ys = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                gh = qlinear_int8(h, *qh, P(f"bias_hh{sfx}"))
                if kind == "LSTM":
                    g = gh + gi[t]
                    i, f = sig(g[:, :H]), sig(g[:, H:2 * H])
                    gg, o = tanh(g[:, 2 * H:3 * H]), sig(g[:, 3 * H:])
                    c = f * c + i * gg
                    h = o * tanh(c)
                else:
                    s = gh.copy()                  # torch adds the r, z chunks in place
                    s[:, :2 * H] += gi[t][:, :2 * H]
                    r, z = sig(s[:, :H]), sig(s[:, H:2 * H])
                    n = tanh(gi[t][:, 2 * H:] + gh[:, 2 * H:] * r)
                    h = (h - n) * z + n
                ys[t] = h
            outs.append(np.stack(ys))
            hs.append(h)
            cs.append(c)
        x = np.concatenate(outs, -1)
    out = x.transpose(1, 0, 2) if gm.batch_first else x
    return (out, (np.stack(hs), np.stack(cs))) if kind == "LSTM" else (out, np.stack(hs))


# (kind, input, hidden, layers, bidirectional, batch_first, initial state, per channel)
CASES = [
    ("LSTM", 12, 16, 1, False, False, False, False),
    ("LSTM", 12, 16, 2, True, False, True, False),
    ("LSTM", 12, 16, 1, False, True, True, True),
    ("GRU", 12, 16, 1, False, False, True, False),
    ("GRU", 12, 16, 2, True, True, False, True),
]


def _case(case, T=6, N=3, seed=0):
    kind, I, H, L, bi, bf, init, pc = case
    torch.manual_seed(seed)
    tm, gm = _twins(kind, I, H, L, bidirectional=bi, batch_first=bf)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(F32)
    hx = None
    if init:
        shape = (L * (2 if bi else 1), N, H)
        hx = tuple(rng.standard_normal(shape).astype(F32) for _ in range(2 if kind == "LSTM" else 1))
        hx = hx if kind == "LSTM" else hx[0]
    return tm, gm, x, hx, pc


def _torch_hx(hx):
    if hx is None:
        return None
    return tuple(torch.from_numpy(h) for h in hx) if isinstance(hx, tuple) else torch.from_numpy(hx)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_layers_against_torch(case):
    tm, gm, x, hx, pc = _case(case)
    with torch.no_grad():
        want = _flat(_torch_q(tm, pc)(torch.from_numpy(x), _torch_hx(hx)))
    # 1. torch's algorithm with torch's sigmoid/tanh is torch, to the bit
    exact = _flat(_np_model(gm, x, hx, pc, _t_sig, _t_tanh))
    np.testing.assert_array_equal(exact, want)
    # 2. graphc eager is the same algorithm with NumPy's sigmoid/tanh, to the bit
    q = getattr(nnqd, case[0]).from_float(gm, per_channel=pc)
    got = _flat(q(x, hx))
    np.testing.assert_array_equal(got, _flat(_np_model(gm, x, hx, pc, _np_sig, np.tanh)))
    # 3. so graphc vs torch: within a few ulp (sigmoid/tanh rounding only)
    assert np.abs(got - want).max() <= TOL
    tw, gw = tq_weights(tm, pc), q.get_weight()
    assert list(gw) == list(tw)
    for name, w in tw.items():
        np.testing.assert_array_equal(gw[name].int_repr().numpy(), w.int_repr().numpy())
        assert str(gw[name].qscheme()).split(".")[-1] == str(w.qscheme()).split(".")[-1]


CELLS = [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
         ("RNNCell", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("kind,kw", CELLS, ids=[c[0] + "".join(c[1].values()) for c in CELLS])
def test_cells_against_torch(kind, kw):
    torch.manual_seed(1)
    tm, gm = _twins(kind, 10, 8, **kw)
    tq = _torch_q(tm)
    q = getattr(nnqd, kind).from_float(gm)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 10)).astype(F32)
    states = [None, tuple(rng.standard_normal((5, 8)).astype(F32) for _ in range(2))]
    for hx in states:
        if kind != "LSTMCell" and hx is not None:
            hx = hx[0]
        with torch.no_grad():
            want = _flat(tq(torch.from_numpy(x), _torch_hx(hx)))
        got = _flat(q(x, hx))
        assert np.abs(got - want).max() <= TOL, (kind, hx is None)
    assert repr(q) == repr(tq)
    for name, w in tq.get_weight().items():
        g = q.get_weight()[name]
        assert np.array_equal(g.int_repr().numpy(), w.int_repr().numpy()) and \
            g.q_scale() == w.q_scale() and str(g.qscheme())[7:] == str(w.qscheme())[6:]
        np.testing.assert_array_equal(q.get_bias()[name.replace("weight", "bias")].numpy(),
                                      tq.get_bias()[name.replace("weight", "bias")].detach().numpy())


def test_no_bias_equals_torch_with_zero_biases():
    """torch refuses bias=False; graphc quantizes it, the same numbers as zero biases."""
    torch.manual_seed(2)
    tm = _twins("LSTM", 6, 8)[0]
    for n, p in tm.named_parameters():
        if n.startswith("bias"):
            torch.nn.init.zeros_(p)
    gm = nn.LSTM(6, 8, bias=False)
    for n in ("weight_ih_l0", "weight_hh_l0"):
        getattr(gm, n).data = getattr(tm, n).detach().numpy().copy()
    x = np.random.default_rng(2).standard_normal((4, 2, 6)).astype(F32)
    with torch.no_grad():
        want = _flat(_torch_q(tm)(torch.from_numpy(x)))
    q = nnqd.LSTM.from_float(gm)
    assert "bias=False" in repr(q)
    assert np.abs(_flat(q(x)) - want).max() <= TOL


class Tagger(nn.Module):
    """Every recurrent kind plus a head: quantize_dynamic's default spec swaps them all."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 12, num_layers=2, bidirectional=True)
        self.gru = nn.GRU(24, 10, batch_first=False)
        self.cell = nn.GRUCell(10, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        return self.head(graphc.relu(self.cell(y[-1])))


def test_quantize_dynamic_default_spec_repr_summary_and_original_untouched():
    graphc.manual_seed(0)
    net = Tagger()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    qnet = quantize_dynamic(net)
    for k, v in net.state_dict().items():
        assert np.array_equal(v.numpy(), before[k]), k
    assert type(net.lstm) is nn.LSTM and type(qnet.lstm) is nnqd.LSTM
    assert type(qnet.gru) is nnqd.GRU and type(qnet.cell) is nnqd.GRUCell
    assert type(qnet.head) is nnqd.Linear
    assert repr(qnet) == ("Tagger(\n"
                          "  (lstm): DynamicQuantizedLSTM(8, 12, num_layers=2, bidirectional=True)\n"
                          "  (gru): DynamicQuantizedGRU(24, 10)\n"
                          "  (cell): DynamicQuantizedGRUCell(10, 6)\n"
                          "  (head): DynamicQuantizedLinear(in_features=6, out_features=3, "
                          "dtype=graphc.qint8, qscheme=graphc.per_tensor_affine)\n)")
    text = qnet.quantization_summary()
    assert "4 Linear/GRU/GRUCell/LSTM layer(s): 4 int8, 0 kept fp32" in text
    assert "lstm" in text and "8 weights" in text
    only = quantize_dynamic(net, {nn.LSTM, "head", "cell"}, keep_fp32={"head"})
    recs = {r.name: r for r in only.quantization_summary.records}
    assert recs["lstm"].quantized and recs["lstm"].kind == "LSTM" and recs["cell"].quantized
    assert not recs["gru"].quantized and "not selected" in recs["gru"].detail
    assert "keep_fp32" in recs["head"].detail and type(only.head) is nn.Linear
    from graphc.ao.quantization import default_dynamic_qconfig as qc
    none = quantize_dynamic(net, {nn.LSTM: qc, nn.Linear: qc, "head": None})   # None: fp32
    recs = {r.name: r for r in none.quantization_summary.records}
    assert recs["lstm"].quantized and not recs["head"].quantized and "None" in recs["head"].detail
    inner = quantize_dynamic(net, {"": None, nn.GRU: qc})    # the own type beats the model's None
    assert type(inner.gru) is nnqd.GRU and type(inner.lstm) is nn.LSTM
    x = np.random.default_rng(0).standard_normal((5, 2, 8)).astype(F32)
    assert np.abs(qnet(x).numpy() - net(x).numpy()).max() < 0.05
    same = quantize_dynamic(net, {nn.GRUCell}, inplace=True)        # torch's inplace=True
    assert same is net and type(net.cell) is nnqd.GRUCell and type(net.gru) is nn.GRU


def test_per_channel_from_a_qconfig_dict_and_the_option():
    from graphc.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig
    graphc.manual_seed(1)
    net = Tagger()
    q = quantize_dynamic(net, {nn.LSTM: per_channel_dynamic_qconfig,
                               nn.GRU: default_dynamic_qconfig})
    assert q.lstm.per_channel and not q.gru.per_channel and type(q.head) is nn.Linear
    assert q.lstm._all_weight_values[3].param.hh.w_scale.shape == (48,)
    assert quantize_dynamic(net, per_channel=True).cell._packed_weight_ih.w_scale.shape == (18,)
    net.gru.qconfig = per_channel_dynamic_qconfig         # from_float reads mod.qconfig
    assert nnqd.GRU.from_float(net.gru).per_channel


def test_state_dict_round_trip():
    graphc.manual_seed(2)
    a = nnqd.GRU.from_float(nn.GRU(5, 4, num_layers=2))
    graphc.manual_seed(3)
    b = nnqd.GRU.from_float(nn.GRU(5, 4, num_layers=2))
    sd = a.state_dict()
    assert list(sd)[:2] == ["_all_weight_values.0.param.ih.weight_q",
                            "_all_weight_values.0.param.ih.w_scale"]
    assert sd["_all_weight_values.1.param.hh.weight_q"].dtype == graphc.int8
    x = np.random.default_rng(0).standard_normal((3, 2, 5)).astype(F32)
    assert not np.array_equal(_flat(a(x)), _flat(b(x)))
    b.load_state_dict(sd)
    np.testing.assert_array_equal(_flat(a(x)), _flat(b(x)))
    cell = nnqd.LSTMCell.from_float(nn.LSTMCell(3, 2))
    assert "_packed_weight_ih.weight_q" in cell.state_dict()
    assert cell.bias_hh.shape == (8,)


def test_errors_and_kept_layers():
    with pytest.raises(graphc.NotSupportedError, match="proj_size"):
        nnqd.LSTM.from_float(nn.LSTM(4, 6, proj_size=3))
    seq = nn.Sequential(nn.LSTM(4, 6, proj_size=3))
    rec = quantize_dynamic(seq).quantization_summary.records[0]
    assert not rec.quantized and "projections" in rec.detail
    q = nnqd.LSTM.from_float(nn.LSTM(4, 6))
    with pytest.raises(graphc.GraphcError, match="3 dimensions"):
        q(np.zeros((5, 4), F32))                                    # unbatched, as torch
    with pytest.raises(graphc.GraphcError, match="Expected hidden\\[0\\] size"):
        q(np.zeros((5, 2, 4), F32), (np.zeros((1, 3, 6), F32), np.zeros((1, 3, 6), F32)))
    with pytest.raises(graphc.GraphcError, match="float32"):
        q(np.zeros((5, 2, 4)))
    with pytest.raises(graphc.GraphcError, match="recurrent"):
        quantize_dynamic(seq, {nn.RNN})
    with pytest.raises(graphc.NotSupportedError, match="qint8"):
        nnqd.GRU(4, 6, dtype=graphc.float32)
    with pytest.raises(graphc.GraphcError, match="inconsistent input_size"):
        nnqd.GRUCell.from_float(nn.GRUCell(4, 6))(np.zeros((2, 5), F32))


def test_layer_report_lists_recurrent_layers():
    graphc.manual_seed(4)
    net = Tagger()
    qnet = quantize_dynamic(net)
    x = np.random.default_rng(4).standard_normal((6, 2, 8)).astype(F32)
    rep = layer_report(net, qnet, x)
    assert [(r["layer"], r["kind"]) for r in rep.rows] == [
        ("lstm", "LSTM"), ("gru", "GRU"), ("cell", "GRUCell"), ("head", "Linear")]
    for r in rep.rows:
        assert 0 < r["rel"] < 0.05 and not r["fallback"] and r["layer"] in rep.text
    assert rep.rows[0]["rows"] == 12 and rep.rows[2]["rows"] == 2


_THREADS = """
import sys, numpy as np, graphc
from graphc import nn
from graphc.ao.nn.quantized import dynamic as nnqd
graphc.manual_seed(5)
q = nnqd.LSTM.from_float(nn.LSTM(12, 16, bidirectional=True))
x = np.random.default_rng(5).standard_normal((4, 3, 12)).astype(np.float32)
np.save(sys.argv[1], np.concatenate([a.reshape(-1) for a in
        (lambda r: (r[0], r[1][0], r[1][1]))(graphc.compile(q, backend="llvm")(x))]))
"""


def test_compiled_interpreter_and_llvm_and_threads(tmp_path):
    graphc.manual_seed(5)
    q = nnqd.LSTM.from_float(nn.LSTM(12, 16, bidirectional=True))
    x = np.random.default_rng(5).standard_normal((4, 3, 12)).astype(F32)
    eager = _flat(q(x))
    np.testing.assert_array_equal(_flat(graphc.compile(q, backend="interpreter")(x)), eager)
    native = _flat(graphc.compile(q, backend="llvm")(x))
    assert np.abs(native - eager).max() <= TOL
    # 1 vs 2 threads, the same bits: a child process with the other thread count than ours
    from graphc.backend.llvm import pool
    other = "2" if pool.started_threads() == 1 else "1"
    script = tmp_path / "t.py"
    script.write_text(_THREADS)
    subprocess.run([sys.executable, str(script), str(tmp_path / "y.npy")], check=True,
                   env=dict(os.environ, GRAPHC_NUM_THREADS=other), timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), native)


def test_compiled_gru_and_cell_on_llvm():
    graphc.manual_seed(6)
    g = nnqd.GRU.from_float(nn.GRU(12, 16, batch_first=True), per_channel=True)
    x = np.random.default_rng(6).standard_normal((3, 5, 12)).astype(F32)
    h0 = np.random.default_rng(7).standard_normal((1, 3, 16)).astype(F32)
    native = graphc.compile(g, backend="llvm")
    assert np.abs(_flat(native(x, h0)) - _flat(g(x, h0))).max() <= TOL
    cell = nnqd.LSTMCell.from_float(nn.LSTMCell(12, 16))
    xs = x[:, 0]
    native = graphc.compile(cell, backend="llvm")
    assert np.abs(_flat(native(xs)) - _flat(cell(xs))).max() <= TOL


def test_dropout_between_layers_only_in_training_mode():
    graphc.manual_seed(8)
    q = quantize_dynamic(nn.Sequential(nn.LSTM(4, 6, num_layers=2, dropout=0.5)))[0]
    assert not q.training and "dropout=0.5" in repr(q)
    x = np.random.default_rng(8).standard_normal((3, 2, 4)).astype(F32)
    ref = nnqd.LSTM.from_float(nn.LSTM(4, 6, num_layers=2))
    ref.load_state_dict(q.state_dict())
    np.testing.assert_array_equal(_flat(q(x)), _flat(ref(x)))       # eval: no dropout
    q.train()
    assert not np.array_equal(_flat(q(x)), _flat(ref(x)))
