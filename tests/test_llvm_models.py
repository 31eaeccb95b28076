"""Whole models on the LLVM backend: graphc.compile(..., backend="llvm") against the same program on
the interpreter backend (the oracle), started from the same seed, and against PyTorch where
installed. Every comparison covers the loss of every step, every parameter and every optimizer
state buffer.

Tolerances (float32 everywhere):
- forward outputs and losses: rtol 1e-5 (atol 1e-6 for logits near zero). Both backends compute
  each matmul with a different summation order (the interpreter calls OpenBLAS), so results are
  equal to a few ulps of the K-term dot products, not bitwise;
- parameters after SGD-style steps (linear in the gradient): rtol 1e-5, atol 1e-6;
- parameters after Adam/AdamW/RMSprop steps: rtol 1e-5, atol 2e-3 * lr. These divide by
  sqrt(second moment): for an element whose gradient is tiny (a nearly dead unit), rounding noise
  of the gradient's own size changes m / sqrt(v) by O(1), so its update may differ by up to lr
  per step however correct both backends are (the same rule tests/test_training.py uses);
- optimizer state buffers: rtol 1e-5 and atol 2e-6 times the buffer's largest magnitude
  (the buffers are gradients or their squares, whose scale varies by orders of magnitude; the
  worst case measured is a bias gradient through two 1024-wide layers, at 0.64e-6 of its max).
Every test also checks that training moved the parameters, so a comparison is never vacuous.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
from graphc import nn, optim

try:
    import torch
except ImportError:  # torch is an optional second oracle
    torch = None

BACKENDS = ("llvm", "interpreter")
SGD_ATOL = 1e-6


# ---- helpers ------------------------------------------------------------------------------------

class Net(nn.Module):
    """The seed model (the README's quick start: 784-128-10 MLP, Adam)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def snapshot(net) -> dict:
    return {k: np.array(v, copy=True) for k, v in net.state_dict().items()}


def opt_state(net, opt) -> dict:
    out = {}
    for (name, p) in net.named_parameters():
        for key, v in opt.state[p].items():
            out[f"{name}.{key}"] = np.array(v.numpy() if hasattr(v, "numpy") else v, copy=True)
    return out


def assert_params_close(got: dict, want: dict, atol: float, what: str = ""):
    assert list(got) == list(want)
    for k, w in want.items():
        np.testing.assert_allclose(got[k], w, rtol=1e-5, atol=atol, err_msg=f"{what} {k}")


def assert_state_close(got: dict, want: dict, what: str = ""):
    assert list(got) == list(want) and want, f"{what}: optimizer state keys {list(got)}"
    for k, w in want.items():
        w = np.asarray(w)
        atol = 2e-6 * float(np.max(np.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(got[k], w, rtol=1e-5, atol=atol, err_msg=f"{what} {k}")


def assert_moved(net, before: dict):
    for k, v in net.state_dict().items():
        assert not np.array_equal(v, before[k]), f"{k} did not change: a vacuous comparison"


def make_trainer(backend, seed, model_fn, opt_fn, loss_fn):
    graphc.manual_seed(seed)
    net = model_fn()
    opt = opt_fn(net.parameters())

    @graphc.compile(backend=backend)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def train_on_both(seed, model_fn, opt_fn, loss_fn, batches):
    """{backend: (net, opt, step, losses)} after training on `batches` from the same init."""
    runs = {}
    for backend in BACKENDS:
        net, opt, step = make_trainer(backend, seed, model_fn, opt_fn, loss_fn)
        before = snapshot(net)
        losses = [float(step(x, y)) for x, y in batches]
        assert_moved(net, before)
        runs[backend] = (net, opt, step, losses)
    return runs


def assert_runs_match(runs, lr: float, adaptive: bool):
    (net, opt, _, losses), (rnet, ropt, _, rlosses) = runs["llvm"], runs["interpreter"]
    np.testing.assert_allclose(losses, rlosses, rtol=1e-5)
    assert_params_close(snapshot(net), snapshot(rnet), 2e-3 * lr if adaptive else SGD_ATOL)
    assert_state_close(opt_state(net, opt), opt_state(rnet, ropt))


def regression_batches(n, seed=1, shape=(8, 6), out=3):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32),
             rng.standard_normal((shape[0], out)).astype(np.float32)) for _ in range(n)]


def mnist_batches(n, batch=64, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch))
            for _ in range(n)]


def to_torch(tmodule, net):
    tmodule.load_state_dict({k: torch.tensor(np.array(v)) for k, v in net.state_dict().items()})
    return tmodule


def torch_seed_net():
    return _TorchNet()


if torch is not None:
    class _TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 128)
            self.fc2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))


# ---- 1. the seed Net: inference ------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 64, 1024])
def test_seed_net_inference_matches_interpreter_and_torch(batch):
    graphc.manual_seed(0)
    net = Net()
    x = np.random.default_rng(batch).random((batch, 784), dtype=np.float32)
    infer = graphc.compile(net, backend="llvm")
    got = infer(x)
    want = graphc.compile(net, backend="interpreter")(x)
    assert got.shape == (batch, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(got[0], np.zeros(10))
    np.testing.assert_array_equal(infer(x), got)           # a second call: the same bits
    if torch is not None:
        tnet = to_torch(torch_seed_net(), net)
        with torch.no_grad():
            np.testing.assert_allclose(got, tnet(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


# ---- 2. the seed train step: CrossEntropyLoss + Adam ----------------------------------------------

def test_seed_train_step_matches_interpreter_and_torch():
    batches = mnist_batches(5)
    runs = train_on_both(0, Net, lambda p: optim.Adam(p, lr=1e-3), nn.CrossEntropyLoss(), batches)
    assert_runs_match(runs, lr=1e-3, adaptive=True)
    net, opt, step, losses = runs["llvm"]
    assert len(step._cache) == 2       # lazily created Adam state: one retrace, then reuse
    assert all(n.op != "grad" for n in step.graph.nodes)
    if torch is not None:
        graphc.manual_seed(0)
        init = Net()
        tnet = to_torch(torch_seed_net(), init)
        topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
        tlosses = []
        for x, y in batches:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            topt.step()
            tlosses.append(loss.item())
        np.testing.assert_allclose(losses, tlosses, rtol=1e-5)
        tsd = {k: v.numpy() for k, v in tnet.state_dict().items()}
        assert_params_close(snapshot(net), tsd, 2e-3 * 1e-3, "vs torch")
        for (name, p), tp in zip(net.named_parameters(), tnet.parameters()):
            st, tst = opt.state[p], topt.state[tp]
            assert float(st["step"].numpy()) == float(tst["step"]) == 5.0
            for key in ("exp_avg", "exp_avg_sq"):
                w = tst[key].numpy()
                np.testing.assert_allclose(st[key].numpy(), w, rtol=1e-5,
                                           atol=1e-6 * np.abs(w).max(), err_msg=f"{name}.{key}")


# ---- 3. MLPs x activations x optimizers -----------------------------------------------------------

ACTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
        "gelu-tanh": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}

OPTIMIZERS = {  # name: (factory, lr, adaptive)
    "sgd-momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), 0.1, False),
    "sgd-nesterov": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), 0.1, False),
    "sgd-weight_decay": (lambda p: optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.1), 0.1,
                         False),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=1e-2), 1e-2, True),
    "rmsprop-centered-momentum": (lambda p: optim.RMSprop(p, lr=1e-2, centered=True,
                                                          momentum=0.5), 1e-2, True),
    "adamw": (lambda p: optim.AdamW(p, lr=1e-2, betas=(0.8, 0.99)), 1e-2, True),
    "adam-amsgrad": (lambda p: optim.Adam(p, lr=1e-2, amsgrad=True), 1e-2, True),
}

MLP_CASES = [("tanh", "sgd-nesterov"), ("sigmoid", "sgd-momentum"), ("gelu", "sgd-weight_decay"),
             ("gelu-tanh", "rmsprop"), ("tanh", "rmsprop-centered-momentum"), ("gelu", "adamw"),
             ("sigmoid", "adam-amsgrad")]


def mlp(act: str, sizes=(6, 16, 12, 3)):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTS[act]())
    return nn.Sequential(*layers)


@pytest.mark.parametrize("act, opt_name", MLP_CASES)
def test_mlp_mse_training_matches_interpreter(act, opt_name):
    make_opt, lr, adaptive = OPTIMIZERS[opt_name]
    runs = train_on_both(3, lambda: mlp(act), make_opt, nn.MSELoss(), regression_batches(4))
    assert_runs_match(runs, lr, adaptive)


# ---- 4. multi-task heads, gradient accumulation, lr schedules ---------------------------------

class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh())
        self.heads = nn.ModuleList([nn.Linear(16, 4), nn.Linear(16, 2)])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h) for head in self.heads]


def _multi_task_trainer(backend):
    graphc.manual_seed(6)
    net = MultiTask()
    opt = optim.Adam(net.parameters(), lr=1e-2)
    ce, mse = nn.CrossEntropyLoss(), nn.MSELoss()

    @graphc.compile(backend=backend)
    def step(x, y_cls, y_reg):
        opt.zero_grad()
        logits, reg = net(x)
        loss = 0.7 * ce(logits, y_cls) + 0.3 * mse(reg, y_reg)
        loss.backward()
        opt.step()
        return loss, logits
    return net, opt, step


def test_multi_task_heads_match_interpreter():
    rng = np.random.default_rng(7)
    data = [(rng.standard_normal((10, 6)).astype(np.float32), rng.integers(0, 4, 10),
             rng.standard_normal((10, 2)).astype(np.float32)) for _ in range(3)]
    runs = {}
    for backend in BACKENDS:
        net, opt, step = _multi_task_trainer(backend)
        before = snapshot(net)
        outs = [step(*d) for d in data]
        assert_moved(net, before)
        runs[backend] = (net, opt, step, outs)
    (net, opt, _, outs), (rnet, ropt, _, routs) = runs["llvm"], runs["interpreter"]
    for (loss, logits), (rloss, rlogits) in zip(outs, routs):
        np.testing.assert_allclose(loss, rloss, rtol=1e-5)
        np.testing.assert_allclose(logits, rlogits, rtol=1e-5, atol=1e-6)
    assert_params_close(snapshot(net), snapshot(rnet), 2e-3 * 1e-2)
    assert_state_close(opt_state(net, opt), opt_state(rnet, ropt))
    for (k, p), rp in zip(net.named_parameters(), rnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), rp.grad.numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=f"{k}.grad")


def _accumulating_trainer(backend):
    graphc.manual_seed(4)
    net = mlp("tanh")
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    crit = nn.MSELoss()

    @graphc.compile(backend=backend)
    def step(x1, y1, x2, y2):
        opt.zero_grad()
        l1 = crit(net(x1), y1) * 0.5
        l1.backward()
        l2 = crit(net(x2), y2) * 0.5
        l2.backward()
        opt.step()
        return l1 + l2, net[0].weight.grad
    return net, opt, step


def test_gradient_accumulation_over_two_backward_calls_matches_interpreter():
    batches = regression_batches(6, seed=5)
    runs = {}
    for backend in BACKENDS:
        net, opt, step = _accumulating_trainer(backend)
        outs = [step(*batches[2 * i], *batches[2 * i + 1]) for i in range(3)]
        runs[backend] = (net, opt, outs)
    (net, opt, outs), (rnet, ropt, routs) = runs["llvm"], runs["interpreter"]
    for (loss, g0), (rloss, rg0) in zip(outs, routs):
        np.testing.assert_allclose(loss, rloss, rtol=1e-5)
        np.testing.assert_allclose(g0, rg0, rtol=1e-5, atol=1e-7)
    assert_params_close(snapshot(net), snapshot(rnet), SGD_ATOL)
    assert_state_close(opt_state(net, opt), opt_state(rnet, ropt))


@pytest.mark.parametrize("opt_name", ["sgd-momentum", "adamw"])
def test_lr_change_between_steps_without_retrace_matches_interpreter(opt_name):
    make_opt, lr, adaptive = OPTIMIZERS[opt_name]
    schedule = [lr, lr * 0.5, lr * 0.1, lr * 3.0, 0.0]
    batches = regression_batches(len(schedule), seed=9)
    runs = {}
    for backend in BACKENDS:
        net, opt, step = make_trainer(backend, 8, lambda: mlp("tanh"), make_opt, nn.MSELoss())
        traces, params = [], []
        for new_lr, (x, y) in zip(schedule, batches):
            opt.param_groups[0]["lr"] = new_lr
            step(x, y)
            traces.append(len(step._cache))
            params.append(snapshot(net))
        assert traces[1:] == [traces[1]] * (len(schedule) - 1), f"an lr change retraced: {traces}"
        runs[backend] = (net, opt, params)
    (net, opt, params), (rnet, ropt, rparams) = runs["llvm"], runs["interpreter"]
    for p, rp in zip(params, rparams):
        assert_params_close(p, rp, 2e-3 * lr if adaptive else SGD_ATOL)
    assert_state_close(opt_state(net, opt), opt_state(rnet, ropt))
    if opt_name.startswith("sgd"):   # lr = 0 in the last step: SGD parameters must not move
        for k in params[-1]:
            np.testing.assert_array_equal(params[-1][k], params[-2][k], err_msg=k)
    assert any(not np.array_equal(params[-2][k], params[-3][k]) for k in params[-2])


# ---- 5. a deeper MLP ----------------------------------------------------------------------------

def test_deep_mlp_one_train_step_matches_interpreter():
    def model():
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 10))
    batches = mnist_batches(1, batch=32, seed=3)
    runs = train_on_both(11, model, lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                         nn.CrossEntropyLoss(), batches)
    assert_runs_match(runs, lr=0.05, adaptive=False)


# ---- 6. user extensions: a custom autograd.Function and a custom optimizer ----------------------

class SwishFunction(graphc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * graphc.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = graphc.sigmoid(x)
        return grad_output * (s + x * s * (1 - s))


class Swish(nn.Module):
    def forward(self, x):
        return SwishFunction.apply(x)


class Momentum(optim.Optimizer):
    """A user optimizer written the PyTorch way, with its own state buffer."""

    def __init__(self, params, lr=0.05, beta=0.9):
        super().__init__(params, {"lr": lr, "beta": beta})

    @graphc.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = graphc.zeros_like(p)
                buf = state["buf"]
                buf.mul_(group["beta"]).add_(p.grad)
                p.add_(buf, alpha=-group["lr"])


def test_custom_function_and_custom_optimizer_match_interpreter():
    def model():
        return nn.Sequential(nn.Linear(6, 16), Swish(), nn.Linear(16, 3))
    runs = train_on_both(21, model, lambda p: Momentum(p), nn.MSELoss(), regression_batches(4))
    assert_runs_match(runs, lr=0.05, adaptive=False)
    net, opt, step, _ = runs["llvm"]
    assert all(isinstance(opt.state[p]["buf"], graphc.Tensor) for p in net.parameters())
    assert "custom_vjp" in step.ir("traced"), "the user's backward was not recorded"
    # the hand-written backward gives the composed function's autodiff gradient
    x, y = regression_batches(1, seed=22)[0]
    grads = [_gradients(model, x, y), _gradients(
        lambda: nn.Sequential(nn.Linear(6, 16), _ComposedSwish(), nn.Linear(16, 3)), x, y)]
    for g1, g2 in zip(*grads):
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)


class _ComposedSwish(nn.Module):
    def forward(self, x):
        return x * graphc.sigmoid(x)


def _gradients(model_fn, x, y) -> list:
    graphc.manual_seed(21)
    m = model_fn()
    crit = nn.MSELoss()

    @graphc.compile(backend="llvm")
    def grads(x, y):
        loss = crit(m(x), y)
        loss.backward()
        return [p.grad for p in m.parameters()]
    return grads(x, y)
