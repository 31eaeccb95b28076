"""Compiled training vs PyTorch: whole models, every optimizer, custom optimizers, gradient
accumulation, multi-task heads, lr changes without retracing, checkpoint/resume, and errors.

Tolerances. Forward and gradients are float32 and agree with torch to ~1e-7 relative; we assert
parameters with rtol=1e-5 and an atol tied to the step size:
- SGD-style updates are linear in the gradient, so atol=1e-6 suffices;
- Adam/AdamW/RMSprop divide by sqrt(second moment): for an element whose gradient is tiny
  (~1e-7, e.g. a weight on a nearly dead unit), float32 noise of the gradient's own size changes
  m/sqrt(v) by O(1), so its update may differ by up to `lr` per step however correct the
  compiler is. We allow 2e-3 * lr of such drift (2e-6 at lr=1e-3), see `adaptive_atol`.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim

torch = pytest.importorskip("torch")
tF = torch.nn.functional

SGD_ATOL = 1e-6


def adaptive_atol(lr: float) -> float:
    """Absolute tolerance for parameters updated by an adaptive optimizer with step size lr."""
    return 2e-3 * lr


# ---- helpers ------------------------------------------------------------------------------------

def load_into_torch(tmodule, net) -> None:
    """Copy graphc parameters into a torch module with the same parameter names."""
    sd = net.state_dict()
    tsd = tmodule.state_dict()
    assert list(sd) == list(tsd), f"parameter names differ: {list(sd)} vs {list(tsd)}"
    tmodule.load_state_dict({k: torch.tensor(np.array(v)) for k, v in sd.items()})


def assert_params_match(net, tmodule, atol: float, rtol: float = 1e-5) -> None:
    tsd = tmodule.state_dict()
    for k, v in net.state_dict().items():
        np.testing.assert_allclose(v, tsd[k].numpy(), rtol=rtol, atol=atol, err_msg=k)


def assert_params_moved(net, before: dict) -> None:
    """Guard against a vacuous comparison: training must have changed every parameter."""
    for k, v in net.state_dict().items():
        assert not np.array_equal(v, before[k]), f"{k} did not change"


def snapshot(net) -> dict:
    return {k: np.array(v) for k, v in net.state_dict().items()}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


ACTS = {"tanh": (nn.Tanh, torch.nn.Tanh), "sigmoid": (nn.Sigmoid, torch.nn.Sigmoid),
        "gelu": (nn.GELU, torch.nn.GELU), "relu": (nn.ReLU, torch.nn.ReLU)}


def mlp_pair(act: str, sizes=(6, 16, 12, 3), seed: int = 0):
    """A graphc MLP and a torch MLP with identical weights (both nn.Sequential: same names)."""
    graphc.manual_seed(seed)
    gl, tl = [], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        gl.append(nn.Linear(a, b))
        tl.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            gl.append(ACTS[act][0]())
            tl.append(ACTS[act][1]())
    net, tnet = nn.Sequential(*gl), torch.nn.Sequential(*tl)
    load_into_torch(tnet, net)
    return net, tnet


def regression_batches(n: int, seed: int = 1, shape=(8, 6), out: int = 3):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32),
             rng.standard_normal((shape[0], out)).astype(np.float32)) for _ in range(n)]


def torch_train(tnet, topt, loss_fn, batches) -> list[float]:
    losses = []
    for x, y in batches:
        topt.zero_grad()
        loss = loss_fn(tnet(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        topt.step()
        losses.append(loss.item())
    return losses


# ---- 1. the seed model, exactly as the README shows it ----------------------------------------

def test_seed_net_adam_matches_torch():
    graphc.manual_seed(0)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=0.001)

    @graphc.compile
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    tnet = TorchNet()
    load_into_torch(tnet, net)
    topt = torch.optim.Adam(tnet.parameters(), lr=0.001)
    rng = np.random.default_rng(0)
    batches = [(rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64))
               for _ in range(5)]
    before = snapshot(net)
    losses = [train_step(x, y) for x, y in batches]
    tlosses = torch_train(tnet, topt, tF.cross_entropy, batches)
    assert all(isinstance(v, (float, np.floating)) for v in losses)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5)
    assert_params_moved(net, before)
    assert_params_match(net, tnet, atol=adaptive_atol(1e-3))
    assert len(train_step._cache) == 2   # lazily created Adam state changes the guard once


# ---- 2. MLPs x optimizers ------------------------------------------------------------------------

OPTIMIZERS = {  # name: (graphc factory, torch factory, adaptive?, lr)
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1), False, 0.1),
    "sgd-momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), False, 0.1),
    "sgd-nesterov": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), False, 0.1),
    "sgd-weight_decay": (lambda p: optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.1),
                         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.1),
                         False, 0.1),
    "sgd-dampening": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
                      lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
                      False, 0.1),
    "adam": (lambda p: optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2), True, 1e-2),
    "adam-amsgrad": (lambda p: optim.Adam(p, lr=1e-2, amsgrad=True),
                     lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True), True, 1e-2),
    "adam-weight_decay": (lambda p: optim.Adam(p, lr=1e-2, weight_decay=0.1),
                          lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1), True, 1e-2),
    "adamw": (lambda p: optim.AdamW(p, lr=1e-2, betas=(0.8, 0.99)),
              lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.8, 0.99)), True, 1e-2),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=1e-2), lambda p: torch.optim.RMSprop(p, lr=1e-2),
                True, 1e-2),
    "rmsprop-momentum": (lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.9, weight_decay=0.01),
                         lambda p: torch.optim.RMSprop(p, lr=1e-2, momentum=0.9,
                                                       weight_decay=0.01), True, 1e-2),
    "rmsprop-centered": (lambda p: optim.RMSprop(p, lr=1e-2, centered=True, alpha=0.9),
                         lambda p: torch.optim.RMSprop(p, lr=1e-2, centered=True, alpha=0.9),
                         True, 1e-2),
    "rmsprop-centered-momentum": (
        lambda p: optim.RMSprop(p, lr=1e-2, centered=True, momentum=0.5),
        lambda p: torch.optim.RMSprop(p, lr=1e-2, centered=True, momentum=0.5), True, 1e-2),
    "sgd-maximize": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, maximize=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, maximize=True),
                     False, 0.05),
    "adam-maximize": (lambda p: optim.Adam(p, lr=1e-2, maximize=True),
                      lambda p: torch.optim.Adam(p, lr=1e-2, maximize=True), True, 1e-2),
}

CASES = [("tanh", o) for o in OPTIMIZERS] + [("sigmoid", "sgd-momentum"), ("gelu", "adam"),
                                             ("sigmoid", "rmsprop"), ("gelu", "sgd-nesterov")]


@pytest.mark.parametrize("act, opt_name", CASES)
def test_mlp_mse_training_matches_torch(act, opt_name):
    make, tmake, adaptive, lr = OPTIMIZERS[opt_name]
    net, tnet = mlp_pair(act)
    opt, topt = make(net.parameters()), tmake(tnet.parameters())
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = regression_batches(5)
    before = snapshot(net)
    losses = [step(x, y) for x, y in batches]
    tlosses = torch_train(tnet, topt, tF.mse_loss, batches)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5)
    assert_params_moved(net, before)
    assert_params_match(net, tnet, atol=adaptive_atol(lr) if adaptive else SGD_ATOL)


def test_param_groups_with_their_own_hyperparameters():
    net, tnet = mlp_pair("tanh", seed=21)
    groups = lambda m: [{"params": m[0].parameters(), "lr": 0.2},  # noqa: E731
                        {"params": m[2].parameters(), "momentum": 0.5},
                        {"params": m[4].parameters()}]
    opt = optim.SGD(groups(net), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(groups(tnet), lr=0.05, momentum=0.9)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = regression_batches(4, seed=22)
    losses = [step(x, y) for x, y in batches]
    np.testing.assert_allclose(losses, torch_train(tnet, topt, tF.mse_loss, batches), rtol=1e-5)
    assert_params_match(net, tnet, atol=SGD_ATOL)
    opt.param_groups[1]["lr"] = 0.01         # each group's lr is its own runtime input
    for g, tg in zip(opt.param_groups, topt.param_groups):
        tg["lr"] = g["lr"]
    n = len(step._cache)
    step(*batches[0])
    torch_train(tnet, topt, tF.mse_loss, batches[:1])
    assert len(step._cache) == n
    assert_params_match(net, tnet, atol=SGD_ATOL)


F64_OPTIMIZERS = {  # lr exactly representable in float32 (see the xfail below for other lrs)
    "sgd-nesterov": (lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
                     lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True), 2**-4),
    "adam-amsgrad": (lambda p, lr: optim.Adam(p, lr=lr, amsgrad=True, weight_decay=0.01),
                     lambda p, lr: torch.optim.Adam(p, lr=lr, amsgrad=True, weight_decay=0.01),
                     2**-7),
    "adamw": (lambda p, lr: optim.AdamW(p, lr=lr), lambda p, lr: torch.optim.AdamW(p, lr=lr),
              2**-7),
    "rmsprop-centered": (lambda p, lr: optim.RMSprop(p, lr=lr, centered=True, momentum=0.5),
                         lambda p, lr: torch.optim.RMSprop(p, lr=lr, centered=True, momentum=0.5),
                         2**-7),
}


def train_float64(opt_name, lr=None):
    make, tmake, default_lr = F64_OPTIMIZERS[opt_name]
    lr = default_lr if lr is None else lr
    net, tnet = mlp_pair("tanh", seed=29)
    net.double()
    tnet.double()
    opt, topt = make(net.parameters(), lr), tmake(tnet.parameters(), lr)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = [(x.astype(np.float64), y.astype(np.float64))
               for x, y in regression_batches(4, seed=30)]
    losses = [step(x, y) for x, y in batches]
    tlosses = torch_train(tnet, topt, tF.mse_loss, batches)
    return net, tnet, losses, tlosses


@pytest.mark.parametrize("opt_name", list(F64_OPTIMIZERS))
def test_float64_training_matches_torch_to_double_precision(opt_name):
    """In float64 the update rules must be PyTorch's to ~1e-15 (no float32 on the way)."""
    net, tnet, losses, tlosses = train_float64(opt_name)
    assert all(v.dtype == graphc.float64 for v in net.state_dict().values())
    np.testing.assert_allclose(losses, tlosses, rtol=1e-12)
    assert_params_match(net, tnet, rtol=1e-12, atol=1e-14)


def test_float64_training_with_an_lr_not_representable_in_float32():
    """A float64 model's lr input is float64 (1e-2 stays PyTorch's double, not 0.009999999776)."""
    net, tnet, losses, tlosses = train_float64("adam-amsgrad", lr=1e-2)
    assert_params_match(net, tnet, rtol=1e-12, atol=1e-14)


def test_comparison_detects_a_wrong_hyperparameter():
    """The harness can fail: momentum 0.9 vs torch's 0.8 must not pass."""
    net, tnet = mlp_pair("tanh")
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.8)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    batches = regression_batches(3)
    for x, y in batches:
        step(x, y)
    torch_train(tnet, topt, tF.mse_loss, batches)
    with pytest.raises(AssertionError):
        assert_params_match(net, tnet, atol=SGD_ATOL)


# ---- 3. custom optimizers written the PyTorch way -----------------------------------------------

def momentum_optimizer(base, zeros_like, no_grad):
    class Momentum(base):
        def __init__(self, params, lr=0.05, beta=0.9):
            super().__init__(params, dict(lr=lr, beta=beta))

        @no_grad()
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if "buf" not in state:
                        state["buf"] = zeros_like(p)
                    buf = state["buf"]
                    buf.mul_(group["beta"]).add_(p.grad)
                    p.add_(buf, alpha=-group["lr"])
    return Momentum


def data_optimizer(base):
    class DataSGD(base):
        def __init__(self, params, lr=0.05):
            super().__init__(params, dict(lr=lr))

        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.data = p.data - group["lr"] * p.grad
    return DataSGD


@pytest.mark.parametrize("kind", ["buffer", "data"])
def test_custom_optimizer_matches_the_same_optimizer_in_torch(kind):
    if kind == "buffer":
        G = momentum_optimizer(optim.Optimizer, graphc.zeros_like, graphc.no_grad)
        T = momentum_optimizer(torch.optim.Optimizer, torch.zeros_like, torch.no_grad)
    else:
        G, T = data_optimizer(optim.Optimizer), data_optimizer(torch.optim.Optimizer)
    net, tnet = mlp_pair("tanh", seed=2)
    opt, topt = G(net.parameters()), T(tnet.parameters())
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = regression_batches(5, seed=3)
    before = snapshot(net)
    losses = [step(x, y) for x, y in batches]
    tlosses = torch_train(tnet, topt, tF.mse_loss, batches)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-5)
    assert_params_moved(net, before)
    assert_params_match(net, tnet, atol=SGD_ATOL)
    assert len(step._cache) == 2
    if kind == "buffer":
        for p, tp in zip(net.parameters(), tnet.parameters()):
            buf = opt.state[p]["buf"]
            assert isinstance(buf, graphc.Tensor) and not buf.is_traced
            np.testing.assert_allclose(buf.numpy(), topt.state[tp]["buf"].numpy(), rtol=1e-5,
                                       atol=1e-6)


# ---- 4. gradient accumulation and multi-task ----------------------------------------------------

def test_gradient_accumulation_over_two_backward_calls():
    net, tnet = mlp_pair("tanh", seed=4)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x1, y1, x2, y2):
        opt.zero_grad()
        l1 = crit(net(x1), y1) * 0.5
        l1.backward()
        l2 = crit(net(x2), y2) * 0.5
        l2.backward()
        opt.step()
        return l1 + l2, net[0].weight.grad

    batches = regression_batches(6, seed=5)
    for i in range(3):
        (x1, y1), (x2, y2) = batches[2 * i], batches[2 * i + 1]
        loss, g0 = step(x1, y1, x2, y2)
        topt.zero_grad()
        tl = tF.mse_loss(tnet(torch.tensor(x1)), torch.tensor(y1)) * 0.5
        tl.backward()
        tl2 = tF.mse_loss(tnet(torch.tensor(x2)), torch.tensor(y2)) * 0.5
        tl2.backward()
        np.testing.assert_allclose(g0, tnet[0].weight.grad.numpy(), rtol=1e-5, atol=1e-7)
        topt.step()
        np.testing.assert_allclose(loss, (tl + tl2).item(), rtol=1e-5)
    assert_params_match(net, tnet, atol=SGD_ATOL)


def test_two_optimizer_steps_in_one_compiled_call():
    """Python loops unroll: two full iterations per call, the second reading updated params."""
    net, tnet = mlp_pair("tanh", seed=31)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    crit = nn.MSELoss()

    @graphc.compile
    def two_steps(x1, y1, x2, y2):
        losses = []
        for x, y in ((x1, y1), (x2, y2)):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss)
        return losses

    batches = regression_batches(6, seed=32)
    for i in range(0, 6, 2):
        losses = two_steps(*batches[i], *batches[i + 1])
        np.testing.assert_allclose(losses, torch_train(tnet, topt, tF.mse_loss,
                                                       batches[i:i + 2]), rtol=1e-5)
    assert_params_match(net, tnet, atol=adaptive_atol(1e-2))


def test_frozen_layer_gets_no_gradient_and_does_not_move():
    net, tnet = mlp_pair("tanh", seed=33)
    net[0].requires_grad_(False)
    tnet[0].requires_grad_(False)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    frozen = np.array(net[0].weight.data)
    batches = regression_batches(3, seed=34)
    for x, y in batches:
        step(x, y)
    torch_train(tnet, topt, tF.mse_loss, batches)
    np.testing.assert_array_equal(net[0].weight.data, frozen)
    assert net[0].weight.grad is None and net[0].weight not in opt.state
    assert_params_match(net, tnet, atol=adaptive_atol(1e-2))


def test_tied_weights_accumulate_both_uses():
    graphc.manual_seed(35)
    lin, tlin = nn.Linear(4, 4), torch.nn.Linear(4, 4)
    load_into_torch(tlin, lin)
    opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tlin.parameters(), lr=0.1, momentum=0.9)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(lin(graphc.tanh(lin(x))), y).backward()    # the same layer twice
        opt.step()

    batches = regression_batches(3, seed=36, shape=(5, 4), out=4)
    for x, y in batches:
        step(x, y)
    torch_train(lambda t: tlin(torch.tanh(tlin(t))), topt, tF.mse_loss, batches)
    assert_params_match(lin, tlin, atol=SGD_ATOL)


def test_optimizer_state_is_shared_between_input_signatures():
    """Batch sizes 8 and 5 trace twice, but both graphs update the same state arrays."""
    net, tnet = mlp_pair("tanh", seed=37)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    big, small = regression_batches(2, seed=38), regression_batches(2, seed=39, shape=(5, 6))
    batches = [big[0], small[0], big[1], small[1], big[0]]
    for x, y in batches:
        step(x, y)
    torch_train(tnet, topt, tF.mse_loss, batches)
    assert_params_match(net, tnet, atol=adaptive_atol(1e-2))
    assert float(opt.state[net[0].weight]["step"].numpy()) == 5.0


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh())
        self.heads = nn.ModuleList([nn.Linear(16, 4), nn.Linear(16, 2)])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h) for head in self.heads]


class TorchMultiTask(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(),
                                         torch.nn.Linear(16, 16), torch.nn.Tanh())
        self.heads = torch.nn.ModuleList([torch.nn.Linear(16, 4), torch.nn.Linear(16, 2)])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h) for head in self.heads]


def test_multi_task_shared_trunk_two_heads():
    graphc.manual_seed(6)
    net, tnet = MultiTask(), TorchMultiTask()
    load_into_torch(tnet, net)
    opt = optim.Adam(net.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    ce, mse = nn.CrossEntropyLoss(), nn.MSELoss()

    @graphc.compile
    def step(x, y_cls, y_reg):
        opt.zero_grad()
        logits, reg = net(x)
        loss = 0.7 * ce(logits, y_cls) + 0.3 * mse(reg, y_reg)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(7)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    y_cls = rng.integers(0, 4, 10)
    y_reg = rng.standard_normal((10, 2)).astype(np.float32)
    before = snapshot(net)
    loss = step(x, y_cls, y_reg)
    topt.zero_grad()
    tl, tr = tnet(torch.tensor(x))
    tloss = 0.7 * tF.cross_entropy(tl, torch.tensor(y_cls)) + 0.3 * tF.mse_loss(
        tr, torch.tensor(y_reg))
    tloss.backward()
    topt.step()
    np.testing.assert_allclose(loss, tloss.item(), rtol=1e-5)
    for (k, p), tp in zip(net.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=k)
    assert_params_moved(net, before)
    assert_params_match(net, tnet, atol=adaptive_atol(1e-2))


# ---- 5. lr as a runtime input --------------------------------------------------------------------

@pytest.mark.parametrize("opt_name", ["sgd-momentum", "adam"])
def test_lr_change_between_steps_takes_effect_without_retracing(opt_name):
    make, tmake, adaptive, lr = OPTIMIZERS[opt_name]
    net, tnet = mlp_pair("tanh", seed=8)
    opt, topt = make(net.parameters()), tmake(tnet.parameters())
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    schedule = [lr, lr, lr * 0.5, lr * 0.1, lr * 3.0, lr * 0.5]
    batches = regression_batches(len(schedule), seed=9)
    traces = []
    for new_lr, (x, y) in zip(schedule, batches):
        opt.param_groups[0]["lr"] = new_lr
        for g in topt.param_groups:
            g["lr"] = new_lr
        step(x, y)
        torch_train(tnet, topt, tF.mse_loss, [(x, y)])
        traces.append(len(step._cache))
        assert_params_match(net, tnet, atol=adaptive_atol(lr) if adaptive else SGD_ATOL)
    assert traces[0] == 1 and traces[1] == 2      # lazily created optimizer state: one retrace
    assert traces[1:] == [traces[1]] * (len(schedule) - 1), f"lr change retraced: {traces}"
    assert opt.param_groups[0]["lr"] == schedule[-1]   # a Python number again after the call


def test_lr_is_a_runtime_input_not_a_constant():
    """With lr = 0 the parameters must not move, on the very same compiled graph."""
    net, _ = mlp_pair("tanh", seed=10)
    opt = optim.SGD(net.parameters(), lr=0.1)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    (x, y), = regression_batches(1, seed=11)
    step(x, y)
    step(x, y)
    n = len(step._cache)
    opt.param_groups[0]["lr"] = 0.0
    before = snapshot(net)
    step(x, y)
    assert len(step._cache) == n
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_hyperparameter_change_retraces_and_takes_effect():
    """Non-lr hyperparameters are baked into the graph and guarded: a change retraces."""
    net, tnet = mlp_pair("tanh", seed=23)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    batches = regression_batches(4, seed=24)
    for i, (x, y) in enumerate(batches):
        if i == 2:
            for g in opt.param_groups + topt.param_groups:
                g["momentum"], g["weight_decay"] = 0.5, 0.05
            n = len(step._cache)
        step(x, y)
        torch_train(tnet, topt, tF.mse_loss, [(x, y)])
    assert len(step._cache) == n + 1
    assert_params_match(net, tnet, atol=SGD_ATOL)


@pytest.mark.parametrize("opt_name", ["sgd-nesterov", "adam-amsgrad", "rmsprop-centered"])
def test_optimizing_pipeline_trains_like_the_minimal_one(opt_name):
    """The default pipeline (simplify, fuse, plan memory...) must not change what a step does."""
    make, _, adaptive, lr = OPTIMIZERS[opt_name]
    def train(passes):
        net, _ = mlp_pair("gelu", seed=25)
        opt = make(net.parameters())
        crit = nn.MSELoss()

        @graphc.compile(passes=passes)
        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss

        losses = [step(x, y) for x, y in regression_batches(4, seed=26)]
        assert "%lr: f32[]" in step.ir("traced").split("{")[0]   # lr is a runtime input
        return losses, snapshot(net), step

    runs = [train(None), train(["autodiff"])]
    (l1, p1, c1), (l2, p2, c2) = runs
    assert c1.stages != c2.stages
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-6, atol=adaptive_atol(lr) / 10
                                   if adaptive else 1e-7, err_msg=k)


# ---- 6. checkpoints, p.grad and optimizer state --------------------------------------------------

def make_run(seed_params: dict | None = None, opt_state: dict | None = None):
    graphc.manual_seed(12 if seed_params is None else 99)   # the resumed model starts elsewhere
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = optim.Adam(net.parameters(), lr=1e-2, amsgrad=True)
    if seed_params is not None:
        net.load_state_dict(seed_params)
        opt.load_state_dict(opt_state)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def test_state_dict_round_trip_resumes_training_exactly():
    batches = regression_batches(5, seed=13)
    net, opt, step = make_run()
    for x, y in batches[:2]:
        step(x, y)
    saved_params = {k: np.array(v) for k, v in net.state_dict().items()}
    saved_opt = opt.state_dict()
    for x, y in batches[2:]:                     # the uninterrupted run continues
        step(x, y)

    net2, opt2, step2 = make_run(saved_params, saved_opt)
    assert not all(np.array_equal(a, b) for a, b in zip(net2.state_dict().values(),
                                                         net.state_dict().values()))
    for x, y in batches[2:]:
        step2(x, y)
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    for p, p2 in zip(net.parameters(), net2.parameters()):
        for key in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            np.testing.assert_array_equal(opt.state[p][key].numpy(), opt2.state[p2][key].numpy())


def test_torch_optimizer_state_dict_loads_and_training_continues_like_torch():
    net, tnet = mlp_pair("tanh", seed=27)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2, weight_decay=0.01)
    batches = regression_batches(5, seed=28)
    torch_train(tnet, topt, tF.mse_loss, batches[:2])        # torch trains first
    net.load_state_dict(tnet.state_dict())
    opt = optim.Adam(net.parameters(), lr=1e-2, weight_decay=0.01)
    opt.load_state_dict(topt.state_dict())
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    for x, y in batches[2:]:
        step(x, y)
    torch_train(tnet, topt, tF.mse_loss, batches[2:])
    assert_params_match(net, tnet, atol=adaptive_atol(1e-2))
    for p, tp in zip(net.parameters(), tnet.parameters()):
        assert float(opt.state[p]["step"].numpy()) == float(topt.state[tp]["step"]) == 5.0


def test_state_dict_is_a_snapshot():
    net, opt, step = make_run()
    (x, y), = regression_batches(1, seed=14)
    step(x, y)
    sd = opt.state_dict()
    first = {k: np.array(v) for k, v in sd["state"][0].items() if isinstance(v, np.ndarray)}
    step(x, y)
    for k, v in first.items():
        np.testing.assert_array_equal(sd["state"][0][k], v, err_msg=k)
    assert sd["param_groups"][0]["lr"] == 1e-2 and sd["param_groups"][0]["amsgrad"] is True


def test_grads_and_optimizer_state_after_compiled_steps_match_torch():
    net, tnet = mlp_pair("gelu", seed=15)
    opt = optim.Adam(net.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    batches = regression_batches(3, seed=16)
    for x, y in batches:
        step(x, y)
    torch_train(tnet, topt, tF.mse_loss, batches)
    for (k, p), tp in zip(net.named_parameters(), tnet.parameters()):
        assert isinstance(p.grad, graphc.Tensor) and not p.grad.is_traced
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=k)
        st, tst = opt.state[p], topt.state[tp]
        assert set(st) == {"step", "exp_avg", "exp_avg_sq"}
        assert isinstance(st["exp_avg"], graphc.Tensor)
        assert float(st["step"].numpy()) == float(tst["step"]) == 3.0
        np.testing.assert_allclose(st["exp_avg"].numpy(), tst["exp_avg"].numpy(), rtol=1e-5,
                                   atol=1e-8, err_msg=k)
        np.testing.assert_allclose(st["exp_avg_sq"].numpy(), tst["exp_avg_sq"].numpy(),
                                   rtol=1e-5, atol=1e-12, err_msg=k)
    assert_params_match(net, tnet, atol=adaptive_atol(1e-3))


def test_zero_grad_set_to_none_false_zeroes_in_place_and_accumulates():
    """Without zero_grad, p.grad accumulates across compiled calls, as in torch."""
    net, tnet = mlp_pair("tanh", seed=17)
    crit = nn.MSELoss()

    @graphc.compile
    def accumulate(x, y):
        crit(net(x), y).backward()

    batches = regression_batches(3, seed=18)
    for x, y in batches:
        accumulate(x, y)
        tF.mse_loss(tnet(torch.tensor(x)), torch.tensor(y)).backward()
    for (k, p), tp in zip(net.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=k)


# ---- 7. errors and failure atomicity -------------------------------------------------------------

def test_step_without_any_gradient_raises():
    net, _ = mlp_pair("tanh")
    opt = optim.Adam(net.parameters())

    @graphc.compile
    def step(x):
        opt.zero_grad()
        net(x)
        opt.step()

    before = snapshot(net)
    with pytest.raises(graphc.GraphcError, match="backward"):
        step(np.ones((2, 6), np.float32))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert not opt.state


def test_int_parameters_are_refused():
    with pytest.raises(graphc.GraphcError, match="float"):
        nn.Parameter(np.arange(4))
    p = nn.Parameter(np.arange(4), requires_grad=False)
    with pytest.raises(graphc.GraphcError, match="i64|int"):
        optim.SGD([p], lr=0.1)


def test_python_number_step_counter_is_refused():
    class Counting(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @graphc.no_grad()
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    state["t"] = state.get("t", 0) + 1
                    p.add_(p.grad, alpha=-group["lr"] / state["t"])

    net, _ = mlp_pair("tanh")
    opt = Counting(net.parameters())
    crit = nn.MSELoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        crit(net(x), y).backward()
        opt.step()

    (x, y), = regression_batches(1)
    with pytest.raises(graphc.GraphcError, match="baked"):
        for _ in range(2):    # the counter is first seen changing when the step is re-traced
            step(x, y)


def test_failing_step_leaves_parameters_and_optimizer_state_unchanged():
    graphc.manual_seed(19)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    opt = optim.Adam(net.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(20)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    step(x, y)
    step(x, y)
    n_traces = len(step._cache)
    params = snapshot(net)
    grads = {k: np.array(p.grad.numpy()) for k, p in net.named_parameters()}
    grad_objs = {k: p.grad for k, p in net.named_parameters()}
    state = {(k, s): np.array(v.numpy()) for (k, p) in net.named_parameters()
             for s, v in opt.state[p].items()}
    bad = y.copy()
    bad[3] = 4                      # class index out of range: gather fails at run time
    with pytest.raises(graphc.GraphcError, match="gather|index|bound"):
        step(x, bad)
    assert len(step._cache) == n_traces   # same signature: it ran the compiled step
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, params[k], err_msg=k)
    for k, p in net.named_parameters():
        assert p.grad is grad_objs[k]
        np.testing.assert_array_equal(p.grad.numpy(), grads[k], err_msg=k)
        for s, v in opt.state[p].items():
            np.testing.assert_array_equal(v.numpy(), state[(k, s)], err_msg=f"{k}.{s}")
    before = snapshot(net)
    step(x, y)                       # and training continues normally afterwards
    assert_params_moved(net, before)


def test_optimizer_passed_as_a_default_argument_is_found():
    """`def step(x, y, net=net, opt=opt)` binds them as defaults: lr stays a runtime input, p.grad
    becomes a real array after the call, and two compiled copies of the step agree."""
    graphc.manual_seed(5)
    net = nn.Linear(6, 3)
    opt = optim.SGD(net.parameters(), lr=0.1)

    def step(x, y, net=net, opt=opt):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    first = graphc.compile(step)
    first(x, y)
    assert isinstance(net.weight.grad, graphc.Tensor) and not net.weight.grad.is_traced
    assert "%lr" in first.ir()
    second = graphc.compile(step)
    l1, l2 = first(x, y), second(x, y)
    assert np.isfinite(l1) and np.isfinite(l2) and l2 < l1
