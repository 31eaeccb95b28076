"""Attention and transformers against PyTorch: F.scaled_dot_product_attention (masks of every
kind, causal, scale, GQA, fully masked rows), nn.MultiheadAttention (every option, weights,
gradients), the Transformer layers and stacks (forward, gradients, a 20-step training run of a
2-layer TransformerEncoder from the same weights), eagerly and compiled on both backends."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")
tF = torch.nn.functional

BACKENDS = ["eager", "interpreter", "llvm"]


def rnd(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run(backend, fn, *args):
    """fn(*args) eagerly, or compiled on `backend`; NumPy results."""
    if backend != "eager":
        fn = graphc.compile(fn, backend=backend)
    out = fn(*(graphc.tensor(a) for a in args))
    return [o.numpy() for o in out] if isinstance(out, tuple) else out.numpy()


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


# ---- scaled_dot_product_attention ---------------------------------------------------------------

def _masks(L, S):
    rng = np.random.default_rng(3)
    keep = rng.random((L, S)) > 0.3
    keep[1] = False                                           # a fully masked query row
    return {
        "none": None,
        "bool": keep,
        "bool-batched": rng.random((2, 1, L, S)) > 0.4,
        "float": np.where(keep, rng.standard_normal((L, S)), -np.inf),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mask", ["none", "bool", "bool-batched", "float"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_forward_and_gradients_match_torch(backend, mask, dtype):
    L, S = 4, 6
    q, k, v = rnd(2, 3, L, 8, seed=1, dtype=dtype), rnd(2, 3, S, 8, seed=2, dtype=dtype), \
        rnd(2, 3, S, 5, seed=3, dtype=dtype)
    m = _masks(L, S)[mask]
    if m is not None and m.dtype != bool:
        m = m.astype(dtype)
    w = rnd(2, 3, L, 5, seed=4, dtype=dtype)

    def f(q, k, v, w, *mm):
        for t in (q, k, v):
            t.requires_grad_()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mm[0] if mm else None)
        (out * w).sum().backward()
        return out, q.grad, k.grad, v.grad
    got = run(backend, f, q, k, v, w, *([] if m is None else [m]))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ref = tF.scaled_dot_product_attention(tq, tk, tv, attn_mask=None if m is None
                                          else torch.tensor(m))
    (ref * torch.tensor(w)).sum().backward()
    for g, r in zip(got, (ref, tq.grad, tk.grad, tv.grad)):
        np.testing.assert_allclose(g, r.detach().numpy(), **tol(dtype))
    if mask == "bool":
        assert np.all(got[0][:, :, 1] == 0) and np.all(got[1][:, :, 1] == 0)   # safe softmax


@pytest.mark.parametrize("L,S", [(5, 5), (3, 6), (6, 3)])
@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_sdpa_causal_scale_and_gqa(L, S, backend):
    q, k, v = rnd(2, 4, L, 8, seed=1), rnd(2, 2, S, 8, seed=2), rnd(2, 2, S, 8, seed=3)
    got = run(backend, lambda q, k, v: (
        F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7, enable_gqa=True),
        F.scaled_dot_product_attention(q[:, :2], k, v, scale=0.3)), q, k, v)
    t = [torch.tensor(a) for a in (q, k, v)]
    ref = (tF.scaled_dot_product_attention(*t, is_causal=True, scale=0.7, enable_gqa=True),
           tF.scaled_dot_product_attention(t[0][:, :2], t[1], t[2], scale=0.3))
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-5, atol=1e-6)


def test_sdpa_dropout_and_bad_arguments():
    q = graphc.tensor(rnd(1, 2, 4, 8))
    assert np.all(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy() == 0)
    graphc.manual_seed(5)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    graphc.manual_seed(5)
    assert np.array_equal(a, F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy())
    with pytest.raises(graphc.GraphcError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=graphc.ones(4, 4, dtype=graphc.bool),
                                       is_causal=True)
    with pytest.raises(graphc.GraphcError, match="last dim"):
        F.scaled_dot_product_attention(q, graphc.tensor(rnd(1, 2, 4, 7)), q)


# ---- MultiheadAttention --------------------------------------------------------------------------

def twin_mha(**kw):
    graphc.manual_seed(0)
    g = nn.MultiheadAttention(**kw)
    t = torch.nn.MultiheadAttention(**kw)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    return g, t


MHA_CASES = {
    "default": dict(kw={}, call={}),
    "batch_first": dict(kw=dict(batch_first=True), call={}),
    "no-weights": dict(kw={}, call=dict(need_weights=False)),
    "per-head": dict(kw={}, call=dict(average_attn_weights=False)),
    "kdim-vdim": dict(kw=dict(kdim=6, vdim=5), call={}),
    "no-bias": dict(kw=dict(bias=False), call={}),
    "bias-kv-zero-attn": dict(kw=dict(add_bias_kv=True, add_zero_attn=True), call={}),
    "padding-mask": dict(kw={}, call=dict(key_padding_mask="kpm")),
    "causal-2d": dict(kw={}, call=dict(attn_mask="causal", need_weights=False, is_causal=True)),
    "float-3d-mask": dict(kw={}, call=dict(attn_mask="float3d")),
    "both-masks": dict(kw={}, call=dict(attn_mask="causal", key_padding_mask="kpm")),
}


def _mha_inputs(case, batch_first, L=5, N=3, E=8):
    x = rnd(N, L, E, seed=1) if batch_first else rnd(L, N, E, seed=1)
    kdim, vdim = case["kw"].get("kdim", E), case["kw"].get("vdim", E)
    shape = (lambda d: (N, L + 1, d)) if batch_first else (lambda d: (L + 1, N, d))
    same = kdim == E and vdim == E
    key = x if same else rnd(*shape(kdim), seed=2)
    value = x if same else rnd(*shape(vdim), seed=3)
    S = L if same else L + 1
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    masks = {"kpm": kpm, "causal": np.triu(np.ones((L, S), bool), 1),
             "float3d": rnd(N * 2, L, S, seed=4)}
    call = {k: masks[v] if isinstance(v, str) else v for k, v in case["call"].items()}
    return x, key, value, call


@pytest.mark.parametrize("backend", ["eager", "llvm"])
@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multihead_attention_matches_torch(name, backend):
    case = MHA_CASES[name]
    g, t = twin_mha(embed_dim=8, num_heads=2, **case["kw"])
    x, key, value, call = _mha_inputs(case, case["kw"].get("batch_first", False))
    tensors = {k: v for k, v in call.items() if isinstance(v, np.ndarray)}
    flags = {k: v for k, v in call.items() if not isinstance(v, np.ndarray)}
    same = key is x
    names = list(tensors)

    def f(x, key, value, *ms):
        kw = dict(zip(names, ms), **flags)
        out, w = g(x, x, x, **kw) if same else g(x, key, value, **kw)
        loss = (out * out).sum() + (0 if w is None else (w * w).sum())
        loss.backward()
        return (out,) + (() if w is None else (w,)) + tuple(p.grad for p in g.parameters())
    for p in g.parameters():
        p.grad = None
    got = run(backend, f, x, key, value, *tensors.values())
    tx, tkey, tval = (torch.tensor(a) for a in (x, key, value))
    tkw = {k: torch.tensor(v) for k, v in tensors.items()} | flags
    out, w = t(tx, tx, tx, **tkw) if same else t(tx, tkey, tval, **tkw)
    ((out * out).sum() + (0 if w is None else (w * w).sum())).backward()
    ref = (out,) + (() if w is None else (w,)) + tuple(p.grad for p in t.parameters())
    assert len(got) == len(ref)
    for i, (a, b) in enumerate(zip(got, ref)):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=str(i))


def test_multihead_attention_unbatched_names_and_repr():
    g, t = twin_mha(embed_dim=8, num_heads=4)
    x = rnd(5, 8)
    out, w = g(graphc.tensor(x), graphc.tensor(x), graphc.tensor(x))
    tout, tw = t(torch.tensor(x), torch.tensor(x), torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert list(g.state_dict()) == list(t.state_dict())
    assert repr(g) == repr(t)
    g2, t2 = twin_mha(embed_dim=8, num_heads=2, kdim=4, vdim=6, add_bias_kv=True)
    assert list(g2.state_dict()) == list(t2.state_dict())
    with pytest.raises(graphc.GraphcError, match="divisible"):
        nn.MultiheadAttention(10, 3)


def test_mha_out_proj_is_left_in_float_by_quantize_dynamic():
    m = nn.Sequential(nn.Linear(8, 8))
    m.add_module("attn", nn.MultiheadAttention(8, 2))
    q = graphc.quantization.quantize_dynamic(m, {nn.Linear}, dtype=graphc.qint8)
    assert type(q.attn.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(q[0], graphc.ao.nn.quantized.dynamic.Linear)


# ---- Transformer layers -------------------------------------------------------------------------

def twin(make, tmake):
    graphc.manual_seed(0)
    g = make(nn)
    t = tmake(torch.nn)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    return g.eval(), t.eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_forward_and_gradients(norm_first, batch_first, activation):
    def make(m):
        return m.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0,
                                         activation=activation, batch_first=batch_first,
                                         norm_first=norm_first)
    g, t = twin(make, make)
    x = rnd(3, 5, 16) if batch_first else rnd(5, 3, 16)     # N = 3, S = 5
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    gx = graphc.tensor(x, requires_grad=True)
    out = g(gx, src_mask=mask, src_key_padding_mask=graphc.tensor(kpm))
    (out * out).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tout = t(tx, src_mask=torch.nn.Transformer.generate_square_subsequent_mask(5),
             src_key_padding_mask=torch.tensor(kpm))
    (tout * tout).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (n, p), tp in zip(g.named_parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=n)


def test_square_subsequent_mask_and_causal_detection():
    m = nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(m, torch.nn.Transformer.generate_square_subsequent_mask(4))
    from graphc.nn.transformer import _detect_is_causal_mask
    assert _detect_is_causal_mask(graphc.tensor(m), None, 4)
    assert not _detect_is_causal_mask(graphc.tensor(np.zeros((4, 4), np.float32)), None, 4)


def test_decoder_and_full_transformer_match_torch():
    def make(m):
        return m.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                             dim_feedforward=24, dropout=0.0, batch_first=True)
    g, t = twin(make, make)
    src, tgt = rnd(2, 6, 16, seed=1), rnd(2, 4, 16, seed=2)
    tmask = nn.Transformer.generate_square_subsequent_mask(4)
    out = g(graphc.tensor(src), graphc.tensor(tgt), tgt_mask=tmask)
    ref = t(torch.tensor(src), torch.tensor(tgt),
            tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(4))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert list(g.state_dict()) == list(t.state_dict())


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_two_layer_encoder_trains_like_torch_for_20_steps(backend):
    def make(m):
        layer = m.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0,
                                          batch_first=True)
        return m.Sequential(m.Linear(8, 16), m.TransformerEncoder(layer, 2,
                                                                  enable_nested_tensor=False))
    g, t = twin(make, make)
    g.train(), t.train()
    gopt, topt = optim.Adam(g.parameters(), lr=1e-3), torch.optim.Adam(t.parameters(), lr=1e-3)
    mask = np.triu(np.full((6, 6), -np.inf, np.float32), 1)

    @graphc.compile(backend=backend)
    def step(x, y, mask):
        gopt.zero_grad()
        loss = F.mse_loss(g[1](g[0](x), mask=mask), y)
        loss.backward()
        gopt.step()
        return loss
    for i in range(20):
        x, y = rnd(4, 6, 8, seed=10 + i), rnd(4, 6, 16, seed=100 + i)
        loss = float(step(x, y, mask))
        topt.zero_grad()
        tl = tF.mse_loss(t[1](t[0](torch.tensor(x)), mask=torch.tensor(mask)), torch.tensor(y))
        tl.backward()
        topt.step()
        assert loss == pytest.approx(tl.item(), rel=1e-4), i
    for (n, p), tp in zip(g.named_parameters(), t.parameters()):
        a, b = p.numpy(), tp.detach().numpy()
        if n.endswith("in_proj_bias"):
            # the key bias adds q . b_k to every score of a query: softmax cancels it, so its
            # gradient is rounding noise, which Adam turns into lr-sized steps of either sign
            a, b = np.delete(a, np.s_[16:32]), np.delete(b, np.s_[16:32])
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=n)
