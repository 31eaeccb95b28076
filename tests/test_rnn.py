"""Recurrent layers against PyTorch: RNN/LSTM/GRU (every option, initial states, unbatched,
float64), their cells, pad_sequence, eagerly and compiled on both backends, and a 2-layer
bidirectional LSTM trained 20 steps from the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")


def rnd(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def twin(cls, *args, dtype=np.float32, **kw):
    graphc.manual_seed(0)
    g = getattr(nn, cls)(*args, **kw)
    t = getattr(torch.nn, cls)(*args, **kw)
    if dtype == np.float64:
        g, t = g.double(), t.double()
    assert list(g.state_dict()) == list(t.state_dict())
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    return g, t


def close(a, b, dtype=np.float32, what=""):
    tol = dict(rtol=1e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a, b.detach().numpy() if hasattr(b, "detach") else b, **tol,
                               err_msg=what)


CASES = {
    "lstm": ("LSTM", {}),
    "lstm-2-bi": ("LSTM", dict(num_layers=2, bidirectional=True)),
    "lstm-proj-bf": ("LSTM", dict(proj_size=3, batch_first=True)),
    "gru-2-bf": ("GRU", dict(num_layers=2, batch_first=True)),
    "gru-bi-nobias": ("GRU", dict(bidirectional=True, bias=False)),
    "rnn-tanh": ("RNN", {}),
    "rnn-relu-2": ("RNN", dict(nonlinearity="relu", num_layers=2)),
}


def _flatten(out):
    """(output, h_n) or (output, (h_n, c_n)) as a flat tuple."""
    y, h = out
    return (y,) + (tuple(h) if isinstance(h, tuple) else (h,))


@pytest.mark.parametrize("backend", ["eager", "interpreter", "llvm"])
@pytest.mark.parametrize("init_state", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_recurrent_layers_match_torch(name, init_state, backend):
    cls, kw = CASES[name]
    g, t = twin(cls, 5, 7, **kw)
    bf = kw.get("batch_first", False)
    x = rnd(3, 4, 5, seed=1) if bf else rnd(4, 3, 5, seed=1)
    dirs, layers = (2 if kw.get("bidirectional") else 1), kw.get("num_layers", 1)
    hsize = kw.get("proj_size", 0) or 7
    h0 = rnd(dirs * layers, 3, hsize, seed=2)
    c0 = rnd(dirs * layers, 3, 7, seed=3)

    def f(x, h0, c0):
        x.requires_grad_()
        hx = None if not init_state else ((h0, c0) if cls == "LSTM" else h0)
        outs = _flatten(g(x, hx))
        sum(((o * o).sum() for o in outs), graphc.tensor(0.0)).backward()
        return outs + (x.grad,) + tuple(p.grad for p in g.parameters())
    if backend != "eager":
        f = graphc.compile(f, backend=backend)
    got = f(*(graphc.tensor(a) for a in (x, h0, c0)))
    tx = torch.tensor(x, requires_grad=True)
    thx = None if not init_state else ((torch.tensor(h0), torch.tensor(c0)) if cls == "LSTM"
                                       else torch.tensor(h0))
    touts = _flatten(t(tx, thx))
    sum((o * o).sum() for o in touts).backward()
    ref = touts + (tx.grad,) + tuple(p.grad for p in t.parameters())
    assert len(got) == len(ref)
    for i, (a, b) in enumerate(zip(got, ref)):
        close(a.numpy(), b, what=f"{name} output {i}")


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_unbatched_float64_and_repr(cls):
    g, t = twin(cls, 4, 6, num_layers=2, bidirectional=True, dtype=np.float64)
    x = rnd(5, 4, seed=4, dtype=np.float64)
    for a, b in zip(_flatten(g(graphc.tensor(x))), _flatten(t(torch.tensor(x)))):
        close(a.numpy(), b, np.float64)
    assert repr(g) == repr(t)
    assert repr(nn.RNN(3, 4, nonlinearity="relu", dropout=0.5, num_layers=2)) == \
        repr(torch.nn.RNN(3, 4, nonlinearity="relu", dropout=0.5, num_layers=2))


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("backend", ["eager", "llvm"])
def test_cells_match_torch(cls, backend):
    g, t = twin(cls, 5, 6)
    x, h, c = rnd(3, 5, seed=1), rnd(3, 6, seed=2), rnd(3, 6, seed=3)
    lstm = cls == "LSTMCell"

    def f(x, h, c):
        out = g(x, (h, c) if lstm else h)
        outs = out if lstm else (out,)
        sum(((o * o).sum() for o in outs), graphc.tensor(0.0)).backward()
        return tuple(outs) + tuple(p.grad for p in g.parameters())
    if backend != "eager":
        f = graphc.compile(f, backend=backend)
    got = f(*(graphc.tensor(a) for a in (x, h, c)))
    tout = t(torch.tensor(x), (torch.tensor(h), torch.tensor(c)) if lstm else torch.tensor(h))
    touts = tout if lstm else (tout,)
    sum((o * o).sum() for o in touts).backward()
    for a, b in zip(got, tuple(touts) + tuple(p.grad for p in t.parameters())):
        close(a.numpy(), b)
    # no state, unbatched
    for a, b in zip(_as_tuple(g(graphc.tensor(x[0]))), _as_tuple(t(torch.tensor(x[0])))):
        close(a.numpy(), b)
    assert repr(g) == repr(t)


def _as_tuple(o):
    return tuple(o) if isinstance(o, tuple) else (o,)


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_two_layer_bidirectional_lstm_trains_like_torch_for_20_steps(backend):
    class Net:
        def __init__(self, lib):
            self.lstm = lib.nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
            self.head = lib.nn.Linear(16, 3)

        def params(self):
            return list(self.lstm.parameters()) + list(self.head.parameters())

        def __call__(self, x):
            y, _ = self.lstm(x)
            return self.head(y[:, -1])
    graphc.manual_seed(1)
    g, t = Net(graphc), Net(torch)
    for gm, tm in ((g.lstm, t.lstm), (g.head, t.head)):
        tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in gm.state_dict().items()})
    gopt = optim.SGD(g.params(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(t.params(), lr=0.1, momentum=0.9)

    @graphc.compile(backend=backend)
    def step(x, y):
        gopt.zero_grad()
        loss = F.cross_entropy(g(x), y)
        loss.backward()
        gopt.step()
        return loss
    rng = np.random.default_rng(7)
    for i in range(20):
        x, y = rnd(4, 5, 6, seed=20 + i), rng.integers(0, 3, 4)
        loss = float(step(x, y))
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(t(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        assert loss == pytest.approx(tl.item(), rel=1e-4, abs=1e-6), i
    for a, b in zip(g.params(), t.params()):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-3, atol=1e-5)


def test_dropout_between_layers_only_in_training():
    graphc.manual_seed(0)
    m = nn.GRU(4, 5, num_layers=2, dropout=0.5)
    x = graphc.tensor(rnd(3, 2, 4))
    m.eval()
    a, b = m(x)[0].numpy(), m(x)[0].numpy()
    assert np.array_equal(a, b)
    m.train()
    assert not np.array_equal(m(x)[0].numpy(), a)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_bad_inputs_are_graphc_errors():
    m = nn.LSTM(4, 5)
    with pytest.raises(graphc.GraphcError, match="input_size"):
        m(graphc.tensor(rnd(3, 2, 6)))
    with pytest.raises(graphc.GraphcError, match="hidden size"):
        m(graphc.tensor(rnd(3, 2, 4)), (graphc.zeros(1, 3, 5), graphc.zeros(1, 3, 5)))
    with pytest.raises(graphc.GraphcError, match="proj_size"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(graphc.NotSupportedError, match="packed"):
        nn.utils.rnn.pack_padded_sequence(graphc.zeros(3, 2, 4), [3, 2])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    seqs = [rnd(n, 3, seed=n) for n in (4, 1, 3)]
    g = nn.utils.rnn.pad_sequence([graphc.tensor(s) for s in seqs], batch_first=batch_first,
                                  padding_value=-2.0, padding_side=side)
    t = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first,
                                        padding_value=-2.0, padding_side=side)
    np.testing.assert_array_equal(g.numpy(), t.numpy())
