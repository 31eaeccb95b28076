"""graphc.nn modules and losses vs PyTorch with identical weights, eager and compiled."""
from collections import OrderedDict

import numpy as np
import pytest

import graphc
from graphc import nn
import graphc.nn.functional as F

try:  # PyTorch is the oracle where installed; the torch-free tests still run without it
    import torch
    tnn = torch.nn
except ImportError:
    torch = tnn = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

RNG = np.random.default_rng(2024)
TOL = 1e-5


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def copy_to_torch(gmodel, tmodel):
    """graphc -> torch: torch.from_numpy over graphc's state_dict, strict load."""
    sd = {k: torch.from_numpy(v.numpy().copy()) for k, v in gmodel.state_dict().items()}
    tmodel.load_state_dict(sd, strict=True)
    return tmodel


def run_both(gmodel, x):
    """Eager and compiled (interpreter) outputs of a graphc model, as NumPy."""
    eager = gmodel(x)
    compiled = graphc.compile(gmodel, backend="interpreter")(x)
    return _np(eager), compiled


def _np(out):
    if isinstance(out, (tuple, list)):
        return type(out)(_np(o) for o in out)
    return out.numpy() if isinstance(out, graphc.Tensor) else out


def assert_close(got, want, tol=TOL):
    if torch is not None and isinstance(want, torch.Tensor):
        want = want.detach().numpy()
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ---- the seed Net --------------------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def TorchNet():  # noqa: N802  (stands for the torch twin of Net)
    class TorchNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(784, 128)
            self.fc2 = tnn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))
    return TorchNet()


@needs_torch
def test_seed_net_matches_torch_eager_and_compiled():
    net = Net()
    tnet = copy_to_torch(net, TorchNet())
    x = RNG.random((16, 784), dtype=np.float32)
    eager, compiled = run_both(net, x)
    want = tnet(torch.from_numpy(x))
    assert_close(eager, want)
    assert_close(compiled, want)


def test_state_dict_keys_shapes_and_sharing():
    net = Net()
    sd = net.state_dict()
    shapes = {"fc1.weight": (128, 784), "fc1.bias": (128,), "fc2.weight": (10, 128),
              "fc2.bias": (10,)}                      # torch's keys, order and shapes
    assert list(sd) == list(shapes)
    for k in sd:
        assert sd[k].shape == shapes[k] and sd[k].dtype == graphc.float32
    assert sd["fc1.weight"].numpy() is net.fc1.weight.numpy()   # the live arrays compiled code updates


@needs_torch
def test_state_dict_from_torch_loads_into_graphc():
    tnet = TorchNet()
    net = Net()
    missing, unexpected = net.load_state_dict(tnet.state_dict())   # torch tensors accepted
    assert missing == [] and unexpected == []
    for k, v in tnet.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k], v.numpy())
    x = randn(3, 784)
    eager, compiled = run_both(net, x)
    assert_close(eager, tnet(torch.from_numpy(x)))
    assert_close(compiled, tnet(torch.from_numpy(x)))


@needs_torch
def test_load_state_dict_updates_in_place_so_compiled_code_sees_it():
    net = Net()
    w = net.fc1.weight.numpy()
    infer = graphc.compile(net, backend="interpreter")
    x = randn(2, 784)
    infer(x)
    tnet = TorchNet()
    net.load_state_dict(tnet.state_dict())
    assert net.fc1.weight.numpy() is w
    assert_close(infer(x), tnet(torch.from_numpy(x)))
    assert len(infer._cache) == 1


@needs_torch
def test_state_dict_round_trip_graphc_torch_graphc():
    a, b = Net(), Net()
    b.load_state_dict(copy_to_torch(a, TorchNet()).state_dict())
    for k in a.state_dict():
        np.testing.assert_array_equal(a.state_dict()[k], b.state_dict()[k])


@needs_torch
def test_load_state_dict_rejects_bad_keys_and_shapes_without_writing():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = dict(TorchNet().state_dict())
    del sd["fc2.bias"]
    with pytest.raises(graphc.GraphcError, match="fc2.bias"):
        net.load_state_dict(sd)
    sd = dict(TorchNet().state_dict())
    sd["fc2.bias"] = torch.zeros(11)
    with pytest.raises(graphc.GraphcError, match="fc2.bias"):
        net.load_state_dict(sd)
    for k, v in net.state_dict().items():        # nothing written by a failed load
        np.testing.assert_array_equal(v, before[k])


# ---- Sequential MLPs with every activation -------------------------------------------------------

ACTIVATIONS = [
    ("ReLU", lambda: nn.ReLU(), lambda: tnn.ReLU()),
    ("GELU", lambda: nn.GELU(), lambda: tnn.GELU()),
    ("GELU-tanh", lambda: nn.GELU(approximate="tanh"), lambda: tnn.GELU(approximate="tanh")),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda: tnn.Sigmoid()),
    ("Tanh", lambda: nn.Tanh(), lambda: tnn.Tanh()),
    ("Identity", lambda: nn.Identity(), lambda: tnn.Identity()),
    ("Dropout", lambda: nn.Dropout(0.3), lambda: tnn.Dropout(0.3)),
]


@needs_torch
@pytest.mark.parametrize("name,gact,tact", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_sequential_mlp_matches_torch(name, gact, tact):
    g = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), gact(), nn.Linear(16, 8), gact(),
                      nn.Linear(8, 5)).eval()
    t = tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 16), tact(), tnn.Linear(16, 8), tact(),
                       tnn.Linear(8, 5)).eval()
    copy_to_torch(g, t)
    x = randn(6, 3, 4)
    eager, compiled = run_both(g, x)
    want = t(torch.from_numpy(x))
    assert_close(eager, want)
    assert_close(compiled, want)


@needs_torch
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_on_a_wide_range_matches_torch(approximate):
    x = np.linspace(-8, 8, 401, dtype=np.float32)
    want = tnn.GELU(approximate=approximate)(torch.from_numpy(x))
    eager, compiled = run_both(nn.GELU(approximate=approximate), x)
    assert_close(eager, want)
    assert_close(compiled, want)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax"])
def test_softmax_modules_match_torch(cls, dim):
    x = randn(4, 6) * 5
    want = getattr(tnn, cls)(dim=dim)(torch.from_numpy(x))
    eager, compiled = run_both(getattr(nn, cls)(dim=dim), x)
    assert_close(eager, want)
    assert_close(compiled, want)


@needs_torch
def test_sequential_with_ordered_dict_and_indexing():
    g = nn.Sequential(OrderedDict([("lin", nn.Linear(4, 3)), ("act", nn.Tanh()),
                                   ("out", nn.Linear(3, 2)), ("lsm", nn.LogSoftmax(dim=1))]))
    t = tnn.Sequential(OrderedDict([("lin", tnn.Linear(4, 3)), ("act", tnn.Tanh()),
                                    ("out", tnn.Linear(3, 2)), ("lsm", tnn.LogSoftmax(dim=1))]))
    copy_to_torch(g, t)
    assert list(g.state_dict()) == ["lin.weight", "lin.bias", "out.weight", "out.bias"]
    assert len(g) == 4 and isinstance(g[1], nn.Tanh)
    x = randn(5, 4)
    eager, compiled = run_both(g, x)
    assert_close(eager, t(torch.from_numpy(x)))
    assert_close(compiled, t(torch.from_numpy(x)))
    assert_close(_np(g[:2](x)), t[:2](torch.from_numpy(x)))


# ---- ModuleList heads over a shared trunk, and nested naming -------------------------------------

class MultiHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh())
        self.heads = nn.ModuleList([nn.Linear(16, 3), nn.Linear(16, 2), nn.Linear(16, 1)])

    def forward(self, x):
        h = self.trunk(x)
        return tuple(head(h) for head in self.heads)


def TorchMultiHead():  # noqa: N802
    class TorchMultiHead(tnn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = tnn.Sequential(tnn.Linear(8, 16), tnn.ReLU(), tnn.Linear(16, 16),
                                        tnn.Tanh())
            self.heads = tnn.ModuleList([tnn.Linear(16, 3), tnn.Linear(16, 2), tnn.Linear(16, 1)])

        def forward(self, x):
            h = self.trunk(x)
            return tuple(head(h) for head in self.heads)
    return TorchMultiHead()


@needs_torch
def test_module_list_heads_match_torch():
    g = MultiHead()
    t = copy_to_torch(g, TorchMultiHead())
    x = randn(7, 8)
    eager, compiled = run_both(g, x)
    want = t(torch.from_numpy(x))
    assert isinstance(compiled, tuple) and len(compiled) == 3
    for e, c, w in zip(eager, compiled, want):
        assert_close(e, w)
        assert_close(c, w)


@needs_torch
def test_nested_names_equal_torch():
    g, t = MultiHead(), TorchMultiHead()
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [tuple(p.shape) for p in g.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert [n for n, _ in g.named_children()] == [n for n, _ in t.named_children()]
    assert [type(m).__name__ for m in g.children()] == [type(m).__name__ for m in t.children()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [type(m).__name__ for m in g.modules()][1:] == \
        [type(m).__name__ for m in t.modules()][1:]             # [0] is the root itself


@needs_torch
def test_shared_module_parameters_are_listed_once_like_torch():
    lin = nn.Linear(3, 3)
    g = nn.Sequential(lin, nn.ReLU(), lin)
    tlin = tnn.Linear(3, 3)
    t = tnn.Sequential(tlin, tnn.ReLU(), tlin)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert len(list(g.parameters())) == 2


def test_train_eval_flags_propagate_like_torch():
    g = MultiHead()
    t = TorchMultiHead() if torch is not None else None
    assert all(m.training for m in g.modules())
    assert g.eval() is g
    assert not any(m.training for m in g.modules())
    if t is not None:
        t.eval()
        assert [m.training for m in g.modules()] == [m.training for m in t.modules()]
    g.train()
    assert all(m.training for m in g.modules())
    g.heads.eval()                      # a sub-tree only
    assert g.training and g.trunk.training and g.trunk[0].training
    assert not g.heads.training and not g.heads[2].training
    if t is not None:
        t.train()
        t.heads.eval()
        assert [m.training for m in g.modules()] == [m.training for m in t.modules()]


# ---- Dropout -------------------------------------------------------------------------------------

def test_dropout_in_train_mode_zeros_and_scales_eagerly():
    d = nn.Dropout(0.5)
    assert d.training
    x = np.abs(randn(30, 40)) + 1
    y = _np(d(x))
    assert ((y == 0) | np.isclose(y, 2 * x)).all() and 0.3 < (y == 0).mean() < 0.7
    with pytest.raises(graphc.InputError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_in_train_mode_when_compiled():
    """Train mode draws a fresh mask per call (tests/test_random.py checks rates and seeding)."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))
    x = randn(3, 4)
    f = graphc.compile(model, backend="interpreter")
    assert not np.array_equal(_np(f(x)), _np(f(x)))
    model.eval()
    x = randn(3, 4)
    assert_close(graphc.compile(model, backend="interpreter")(x), _np(model[0](x)))


def test_dropout_with_p_zero_or_eval_is_identity():
    x = randn(3, 4)
    assert_close(_np(nn.Dropout(0.0)(x)), x)
    assert_close(_np(nn.Dropout(0.9).eval()(x)), x)
    assert_close(F.dropout(graphc.tensor(x), 0.5, training=False).numpy(), x)


# ---- losses --------------------------------------------------------------------------------------

def _class_probs(n, c):
    p = RNG.random((n, c)).astype(np.float32)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


N, C = 8, 5
LOGITS = randn(N, C) * 3
LABELS = RNG.integers(0, C, N).astype(np.int64)
REG_IN, REG_TGT = randn(N, 3), randn(N, 3)
BIN_TGT = (RNG.random((N, 3)) > 0.5).astype(np.float32)
POS_WEIGHT = np.array([0.5, 2.0, 3.0], np.float32)

# (id, loss class, constructor kwargs, input, target)
LOSS_CASES = [
    ("mse", "MSELoss", {}, REG_IN, REG_TGT),
    ("l1", "L1Loss", {}, REG_IN, REG_TGT),
    ("ce", "CrossEntropyLoss", {}, LOGITS, LABELS),
    ("ce-smooth", "CrossEntropyLoss", {"label_smoothing": 0.1}, LOGITS, LABELS),
    ("ce-probs", "CrossEntropyLoss", {}, LOGITS, _class_probs(N, C)),
    ("ce-probs-smooth", "CrossEntropyLoss", {"label_smoothing": 0.2}, LOGITS, _class_probs(N, C)),
    ("nll", "NLLLoss", {}, np.log(_class_probs(N, C)), LABELS),
    ("bce", "BCEWithLogitsLoss", {}, REG_IN * 4, BIN_TGT),
    ("bce-pos-weight", "BCEWithLogitsLoss", {"pos_weight": POS_WEIGHT}, REG_IN * 4, BIN_TGT),
]
LOSSES = [(f"{name}-{red}", cls, {**kw, "reduction": red}, inp, tgt)
          for name, cls, kw, inp, tgt in LOSS_CASES for red in ("mean", "sum", "none")]


@needs_torch
@pytest.mark.parametrize("name,cls,kwargs,inp,tgt", LOSSES, ids=[x[0] for x in LOSSES])
def test_loss_matches_torch_eager_and_compiled(name, cls, kwargs, inp, tgt):
    tkwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
               for k, v in kwargs.items()}
    want = getattr(tnn, cls)(**tkwargs)(torch.from_numpy(inp), torch.from_numpy(tgt))
    g = getattr(nn, cls)(**kwargs)
    eager = g(inp, tgt)
    assert isinstance(eager, graphc.Tensor)
    assert_close(eager.numpy(), want)
    compiled = graphc.compile(g, backend="interpreter")(inp, tgt)
    if want.ndim == 0:
        assert isinstance(compiled, np.float32)    # 0-d result comes back as a NumPy scalar
    assert_close(compiled, want)


@needs_torch
def test_bce_with_logits_is_stable_for_huge_logits():
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
    want = tnn.BCEWithLogitsLoss(reduction="none")(torch.from_numpy(x), torch.from_numpy(y))
    got = nn.BCEWithLogitsLoss(reduction="none")(x, y).numpy()
    assert np.all(np.isfinite(got))
    assert_close(got, want)


@needs_torch
def test_functional_losses_inside_a_compiled_function():
    @graphc.compile(backend="interpreter")
    def losses(x, y, labels):
        return {"mse": F.mse_loss(x, y), "ce": F.cross_entropy(x, labels),
                "nll": F.nll_loss(F.log_softmax(x, dim=1), labels, reduction="sum")}

    x, y = randn(6, 4), randn(6, 4)
    labels = RNG.integers(0, 4, 6).astype(np.int64)
    out = losses(x, y, labels)
    tx, ty, tl = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(labels)
    assert_close(out["mse"], torch.nn.functional.mse_loss(tx, ty))
    assert_close(out["ce"], torch.nn.functional.cross_entropy(tx, tl))
    assert_close(out["nll"], torch.nn.functional.nll_loss(tx.log_softmax(1), tl, reduction="sum"))


@needs_torch
def test_loss_then_model_in_one_compiled_step_matches_torch():
    net = Net()
    tnet = copy_to_torch(net, TorchNet())
    crit = nn.CrossEntropyLoss()

    @graphc.compile(backend="interpreter")
    def evaluate(data, target):
        logits = net(data)
        return crit(logits, target), logits.argmax(1)

    x = RNG.random((10, 784), dtype=np.float32)
    y = RNG.integers(0, 10, 10).astype(np.int64)
    loss, pred = evaluate(x, y)
    tlogits = tnet(torch.from_numpy(x))
    assert_close(loss, tnn.CrossEntropyLoss()(tlogits, torch.from_numpy(y)))
    np.testing.assert_array_equal(pred, tlogits.argmax(1).numpy())


@needs_torch
def test_float64_model_matches_torch_double():
    g = nn.Sequential(nn.Linear(5, 4), nn.GELU(), nn.Linear(4, 2)).double()
    t = tnn.Sequential(tnn.Linear(5, 4), tnn.GELU(), tnn.Linear(4, 2)).double()
    copy_to_torch(g, t)
    assert g[0].weight.dtype == graphc.float64
    x = RNG.standard_normal((3, 5))
    eager, compiled = run_both(g, x)
    want = t(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(eager, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(compiled, want, rtol=1e-12, atol=1e-12)
    assert compiled.dtype == np.float64
