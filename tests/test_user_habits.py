"""Habits of real PyTorch programs that once computed something else or failed (found by porting
word_language_model, makemore, the BiLSTM-CRF and char-RNN tutorials): numbers a compiled
step reads through a global, a closure cell or an object attribute are guarded by value; ops
torch defines as copies never return (a view of) their operand; a tuple of tensors can be
reassigned to a module attribute; backward() works on any one-element tensor; a concrete causal
mask compiles in a TransformerEncoder."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import functional as F

X = np.ones((3, 2), np.float32)


LR = 1.0


def test_a_global_number_the_step_reads_retraces_when_it_changes():
    global LR
    graphc.manual_seed(0)
    lin = nn.Linear(2, 1)

    @graphc.compile
    def step():
        lin.zero_grad()
        lin(X).sum().backward()
        for p in lin.parameters():
            p.data.add_(p.grad, alpha=-LR)
    moves = []
    for lr in (1.0, 1.0, 0.25):   # word_language_model: lr /= 4 between epochs
        LR = lr
        b = lin.bias.item()
        step()
        moves.append(lin.bias.item() - b)
    LR = 1.0
    np.testing.assert_allclose(moves, [-3.0, -3.0, -0.75], rtol=1e-6)


def test_closure_and_attribute_numbers_are_guarded_by_value():
    graphc.manual_seed(0)
    lin = nn.Linear(2, 1)
    args = argparse.Namespace(lr=1.0)
    rate = 1.0

    def step():
        lin.zero_grad()
        lin(X).sum().backward()
        for p in lin.parameters():
            p.data.add_(p.grad, alpha=-args.lr * rate)
    f = graphc.compile(step)
    moves = []
    for a, r in ((1.0, 1.0), (1.0, 1.0), (0.5, 1.0), (0.5, 0.5)):
        args.lr, rate = a, r
        b = lin.bias.item()
        f()
        moves.append(lin.bias.item() - b)
    np.testing.assert_allclose(moves, [-3.0, -3.0, -1.5, -0.75], rtol=1e-6)


COPIES = {
    "roll by 0": lambda t: t.roll(1, 1), "flip of a size-1 dim": lambda t: t.flip(1),
    "cat of one": lambda t: graphc.cat([t]), "stack of one": lambda t: graphc.stack([t])[0],
    "tile by 1": lambda t: t.tile((1, 1)), "repeat by 1": lambda t: t.repeat(1, 1),
    "repeat_interleave by 1": lambda t: t.repeat_interleave(1, dim=1),
    "pad by 0": lambda t: F.pad(t, (0, 0)), "nan_to_num of ints": graphc.nan_to_num,
    "trunc of ints": graphc.trunc, "round of ints": graphc.round,
}


@pytest.mark.parametrize("name", COPIES)
def test_ops_torch_defines_as_copies_never_alias_their_operand(name):
    x = graphc.zeros(2, 1, dtype=graphc.long)
    r = COPIES[name](x)
    r[0, 0] = 27
    assert x.tolist() == [[0], [0]], f"{name} returned its operand (or a view of it)"


def test_a_copy_keeps_the_gradient():
    a = graphc.ones(3, requires_grad=True)
    (graphc.cat([a]) * 2).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2, 2, 2])


def test_a_tuple_of_tensors_is_reassigned_to_a_module_attribute():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = (graphc.zeros(1, 1, 3), graphc.zeros(1, 1, 3))
    m = Tagger()
    m.hidden = (graphc.ones(1, 1, 3), graphc.zeros(1, 1, 3))   # BiLSTM-CRF's init_hidden()
    assert m.hidden[0].sum().item() == 3


def test_backward_of_a_one_element_tensor_eagerly_and_compiled():
    w = graphc.ones(3, requires_grad=True)
    (graphc.zeros(1) + (w * w).sum()).backward()           # a (1,)-shaped loss, as torch allows
    np.testing.assert_array_equal(w.grad.numpy(), [2, 2, 2])
    v = graphc.ones(3, requires_grad=True)
    opt = graphc.optim.SGD([v], lr=0.1)

    def step():
        opt.zero_grad()
        loss = (graphc.zeros(1, 1) + (v * v).sum())
        loss.backward()
        opt.step()
        return loss
    graphc.compile(step)()
    np.testing.assert_allclose(v.numpy(), [0.8, 0.8, 0.8], rtol=1e-6)
    with pytest.raises(graphc.GraphcError, match="non-scalar"):
        (graphc.zeros(2) + w.sum()).backward()


def test_a_concrete_causal_mask_compiles_in_a_transformer_encoder():
    torch = pytest.importorskip("torch")
    graphc.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0), 1,
                                enable_nested_tensor=False)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    x = np.random.default_rng(0).standard_normal((5, 2, 8)).astype(np.float32)
    f = graphc.compile(lambda t: enc(t, mask=mask))
    f(x)
    out = f(x)
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 1,
                                       enable_nested_tensor=False)
    tenc.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in enc.state_dict().items()})
    ref = tenc(torch.from_numpy(x), mask=torch.nn.Transformer.generate_square_subsequent_mask(5))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_the_legacy_tensor_constructor_is_torchs():
    torch = pytest.importorskip("torch")
    for args in ([[0]], [5], [4, 3], [], [(1, 2)], [[1.5, 2]]):
        g, t = graphc.Tensor(*args), torch.Tensor(*args)
        assert g.shape == tuple(t.shape) and g.dtype.torch_name == str(t.dtype).split(".")[1], args
    p = nn.Parameter(graphc.Tensor(4, 3))   # the classic nn.Parameter(torch.Tensor(out, in))
    assert p.shape == (4, 3) and p.dtype == graphc.float32
    assert graphc.Tensor(np.arange(3)).dtype == graphc.int64


def test_mixed_precision_helpers_are_disabled_as_torch_disables_them_without_cuda():
    """nanoGPT's header: a dtype table naming bfloat16/float16, GradScaler(enabled=True) on a
    machine without CUDA (torch warns and disables it), autocast disabled."""
    table = {"float32": graphc.float32, "bfloat16": graphc.bfloat16, "float16": graphc.float16}
    with pytest.warns(UserWarning, match="disabled"):
        scaler = graphc.cuda.amp.GradScaler(enabled=True)
    w = graphc.ones(2, requires_grad=True)
    opt = graphc.optim.SGD([w], lr=0.1)
    with graphc.amp.autocast(device_type="cpu", dtype=table["bfloat16"], enabled=False):
        loss = (w * w).sum()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), [0.8, 0.8], rtol=1e-6)
    assert scaler.get_scale() == 1.0 and not scaler.is_enabled()
    with pytest.raises(graphc.GraphcError, match="bfloat16"):
        graphc.zeros(2, dtype=graphc.bfloat16)
    with pytest.raises(graphc.GraphcError, match="autocast"):
        graphc.autocast("cpu", dtype=graphc.bfloat16)


def test_in_place_shape_methods_and_detach_():
    torch = pytest.importorskip("torch")
    w, tw = graphc.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for lib, v in ((graphc, w), (torch, tw)):
        h = v * 3
        h.unsqueeze_(0)                 # char-RNN generation: input.unsqueeze_(0)
        h.t_()
        h.transpose_(0, 1)
        h.squeeze_(0)
        (h * h).sum().backward()
        d = v * 2
        d.detach_()                     # truncated backpropagation's hidden.detach_()
        assert not d.requires_grad and d.shape == (3,)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())
    with pytest.raises(graphc.GraphcError, match="leaf"):
        w.unsqueeze_(0)


def test_backward_of_a_compiled_models_output_names_the_cause():
    model = graphc.compile(nn.Linear(2, 1))
    with pytest.raises(graphc.GraphcError, match="compile the whole training step"):
        model(graphc.tensor(X)).sum().backward()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_is_torchs_and_saves_only_its_input(approximate):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 5))
    g, t = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (F.gelu(g, approximate=approximate) * 3).sum().backward()
    (torch.nn.functional.gelu(t, approximate=approximate) * 3).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=1e-15)
    graphc.manual_seed(0)
    fc, out = nn.Linear(8, 16), nn.Linear(16, 2)   # a transformer's MLP: fc, GELU, projection
    opt = graphc.optim.SGD(list(fc.parameters()) + list(out.parameters()), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = out(F.gelu(fc(x), approximate=approximate)).square().sum()
        loss.backward()
        opt.step()
        return loss
    f = graphc.compile(step)
    f(np.ones((4, 8), np.float32))
    mm = next(n for n in f.graph.nodes if n.op == "fused" and n.attrs["kind"] == "matmul"
              and n.outputs[0].shape == (4, 16))
    assert len(mm.outputs) == 2, "the fc + GELU kernel keeps x and gelu(x) only"


def test_eager_clone_keeps_the_gradient():
    """A residual `identity = h.clone()` (H1's CNN audit: conv weight gradients were wrong)."""
    torch = pytest.importorskip("torch")
    w, tw = graphc.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for v in (w, tw):
        h = v * 2
        ident = h.clone()
        (h * ident * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
    assert nn.Parameter(graphc.ones(2)).clone().requires_grad


COUNT = 0


def test_a_counter_the_step_rebinds_retraces_every_call():
    global COUNT
    COUNT = 0
    graphc.manual_seed(0)
    lin = nn.Linear(2, 1)

    @graphc.compile
    def step(x):
        global COUNT
        COUNT += 1
        return lin(x).sum() * COUNT
    base = float(lin(graphc.tensor(X[:1])).sum())
    with pytest.warns(UserWarning, match="retraced"):
        outs = [float(step(X[:1])) for _ in range(9)]
    np.testing.assert_allclose(outs, [base * k for k in range(1, 10)], rtol=1e-5)
    assert COUNT == 9


def test_grad_mode_helpers_and_load_state_dict_result():
    w = graphc.ones(3, requires_grad=True)

    @graphc.no_grad
    def doubled(x):
        return x * 2
    assert not doubled(w).requires_grad
    with graphc.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad
    r = nn.Linear(2, 2).load_state_dict({"weight": graphc.zeros(2, 2)}, strict=False)
    assert r.missing_keys == ["bias"] and r.unexpected_keys == [] and list(r) == [["bias"], []]


def test_eval_called_inside_a_compiled_function_stays_in_effect():
    """`def evaluate(x): model.eval(); return model(x)` compiled, alternating with training: the
    flags the traced call left are set again after every cached call, as the Python ran."""
    torch = pytest.importorskip("torch")
    graphc.manual_seed(0)
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    tm = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    opt, topt = graphc.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)

    def train(x):
        opt.zero_grad()
        loss = m(x).square().sum()
        loss.backward()
        opt.step()
        return loss

    def evaluate(x):
        m.eval()
        return m(x)
    tr, ev = graphc.compile(train), graphc.compile(evaluate)
    tx = torch.from_numpy(x)
    for _ in range(3):
        m.train()
        tr(x)
        ev(x)
        tm.train()
        topt.zero_grad()
        tm(tx).square().sum().backward()
        topt.step()
        tm.eval()
    assert not m.training and not m[1].training
    np.testing.assert_allclose(m(graphc.tensor(x)).numpy(), tm(tx).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


def test_a_number_in_a_dict_the_step_reads_is_guarded():
    graphc.manual_seed(0)
    lin = nn.Linear(2, 1)
    state = {"it": 0, "warm": 2.0}

    @graphc.compile
    def step(x):
        state["it"] += 1    # a hand-written warmup kept in a dict
        return lin(x).sum() * min(1.0, state["it"] / state["warm"])
    base = float(lin(graphc.tensor(X[:1])).sum())
    outs = [float(step(X[:1])) for _ in range(4)]
    np.testing.assert_allclose(outs, [base * 0.5, base, base, base], rtol=1e-5)
    assert state["it"] == 4


def test_size_is_a_tuple_with_numel():
    s = graphc.ones(2, 3).size()
    assert s == (2, 3) and s.numel() == 6 and isinstance(s, graphc.Size)


def test_module_lookups_and_missing_hooks():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2)))
    assert m.get_submodule("1.0") is m[1][0]
    assert m.get_parameter("0.weight") is m[0].weight
    assert m.get_buffer("1.0.running_mean") is m[1][0].running_mean
    with pytest.raises(graphc.GraphcError, match="register_forward_hook"):
        m.register_forward_hook(lambda *a: None)
    assert not hasattr(m, "register_forward_hook")


@pytest.mark.parametrize("args", [(2, 2, 1), (2, 3, 1), (1, 2, 1), (0, 1, 1), (-1, 2, 2),
                                  (2, 4, 3), (1, 3, 5)])
def test_tensor_unfold_windows_match_torch(args):
    torch = pytest.importorskip("torch")
    x = np.arange(24.0).reshape(2, 3, 4)
    a, b = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ga, tb = a.unfold(*args), b.unfold(*args)
    np.testing.assert_array_equal(ga.numpy(), tb.detach().numpy())
    (ga * ga).sum().backward()
    (tb * tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    f = graphc.compile(lambda t: t.unfold(*args).sum(-1))
    np.testing.assert_array_equal(f(x), tb.detach().sum(-1).numpy())


def test_a_scheduler_stepped_inside_a_compiled_step_says_where_to_call_it():
    lin = nn.Linear(2, 1)
    opt = graphc.optim.SGD(lin.parameters(), lr=0.1)
    sch = graphc.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)

    def step(x):
        opt.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        opt.step()
        sch.step()
        return loss
    with pytest.raises(graphc.TraceError, match="outside"):
        graphc.compile(step)(X)


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_inference_zeroes_padding_as_torchs_nested_path(batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        8, 2, 16, 0.0, batch_first=batch_first), 2, enable_nested_tensor=batch_first).eval()
    g = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=batch_first),
                              2, enable_nested_tensor=batch_first).eval()
    g.load_state_dict({k: graphc.tensor(v.detach().numpy().copy())
                       for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    x = x.astype(np.float32)
    pad = np.zeros((3, 5), bool)
    pad[0, 3:] = pad[1, 4:] = True
    with torch.no_grad():
        ref = t(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(pad)).numpy()
    with graphc.no_grad():
        out = g(graphc.tensor(x), src_key_padding_mask=graphc.tensor(pad)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    assert g.use_nested_tensor == t.use_nested_tensor
