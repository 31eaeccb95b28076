"""Small programs in the idioms of PyTorch's tutorials and examples (written for these tests, not
copies), each run three ways: with torch, with graphc eagerly, and with graphc with its training
step compiled. Only the module differs (`torch` or `graphc`), as when a user swaps the import;
the compiled run also puts `compile` on the step. Losses must agree within float32 rounding.

Every program starts from the same weights (set from NumPy), so the runs are comparable.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc

RTOL = 2e-5   # float32 rounding over a few steps (different summation orders)


def _identity(fn=None, **kwargs):
    return fn if fn is not None else (lambda f: f)


def _set_linear(torch, layer, rng):
    w = rng.standard_normal(tuple(layer.weight.shape)).astype(np.float32) * 0.3
    b = rng.standard_normal(tuple(layer.bias.shape)).astype(np.float32) * 0.1
    layer.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})


def _data(n=64, d=20, c=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, c, n).astype(np.int64)
    return x, y


# ---- the programs ----------------------------------------------------------------------------

def polynomial_autograd(torch, compile):
    """'Tensors and autograd': a cubic fitted with plain requires-grad scalars and manual SGD."""
    x = torch.linspace(-1.0, 1.0, 200)
    y = torch.tanh(2 * x)
    a = torch.full((), 0.1, requires_grad=True)
    b = torch.full((), -0.2, requires_grad=True)
    c = torch.full((), 0.3, requires_grad=True)
    d = torch.full((), 0.05, requires_grad=True)
    learning_rate = 1e-3

    @compile
    def step():
        nonlocal a, b, c, d  # `a -= ...` is in place (__isub__), as at a script's top level
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
        return loss

    losses = [step().item() for _ in range(30)]
    return losses + [a.item(), b.item(), c.item(), d.item()]


def quickstart_mlp(torch, compile):
    """The quickstart's loop: DataLoader batches, Sequential MLP, CrossEntropyLoss, SGD momentum,
    `(pred.argmax(1) == y).type(torch.float).sum().item()` accuracy, f"{loss:>7f}"."""
    nn = torch.nn
    x, y = _data()
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    device = ("cuda" if torch.cuda.is_available()
              else "mps" if torch.backends.mps.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    rng = np.random.default_rng(1)
    _set_linear(torch, model[0], rng)
    _set_linear(torch, model[2], rng)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @compile
    def train_step(X, y):
        pred = model(X)
        loss = loss_fn(pred, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    out, shown = [], []
    for epoch in range(2):
        model.train()
        for X, t in loader:
            X, t = X.to(device), t.to(device)
            loss = train_step(X, t)
            out.append(loss.item())
            shown.append(f"loss: {loss:>7f}")
        model.eval()
        correct = 0
        with torch.no_grad():
            for X, t in loader:
                pred = model(X)
                correct += (pred.argmax(1) == t).type(torch.float).sum().item()
        out.append(correct / len(loader.dataset))
    assert all(s.startswith("loss: ") and len(s) >= 14 for s in shown)
    return out


def module_adam_nll(torch, compile):
    """pytorch/examples' MNIST idiom: an nn.Module with F.relu / F.log_softmax, nll_loss, Adam."""
    nn = torch.nn
    F = torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(20, 16)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x):
            x = F.relu(self.fc1(x))
            return F.log_softmax(self.fc2(x), dim=1)

    model = Net()
    rng = np.random.default_rng(2)
    _set_linear(torch, model.fc1, rng)
    _set_linear(torch, model.fc2, rng)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = _data(seed=3)

    @compile
    def train(data, target):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        return loss

    losses = []
    for i in range(0, 64, 16):
        losses.append(train(torch.tensor(x[i:i + 16]), torch.tensor(y[i:i + 16])).item())
    model.eval()
    with torch.no_grad():
        test_loss = F.nll_loss(model(torch.tensor(x)), torch.tensor(y), reduction="sum").item()
    return losses + [test_loss]


def focal_loss_with_data(torch, compile):
    """A focal loss written the old way: the modulating factor from `logpt.data.exp()` carries no
    gradient (it must be detached, as in PyTorch)."""
    nn = torch.nn
    F = torch.nn.functional
    model = nn.Linear(20, 4)
    _set_linear(torch, model, np.random.default_rng(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = _data(seed=5)
    X, T = torch.tensor(x), torch.tensor(y)

    @compile
    def step():
        logpt = F.log_softmax(model(X), dim=1).gather(1, T.view(-1, 1)).view(-1)
        pt = logpt.data.exp()
        loss = (-1 * (1 - pt) ** 2 * logpt).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return [step().item() for _ in range(5)]


# the nn tutorial keeps its model and optimizer in module globals and rebinds them per section
model = opt = X_g = T_g = F_g = None


def _global_step():
    loss = F_g.cross_entropy(model(X_g), T_g)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def rebound_model(torch, compile):
    """The nn tutorial's habit: `model, opt = get_model()` again before the next section. The
    compiled step reads them as globals and must train the new objects."""
    global model, opt, X_g, T_g, F_g
    nn = torch.nn
    x, y = _data(seed=6)
    X_g, T_g, F_g = torch.tensor(x), torch.tensor(y), torch.nn.functional

    def get_model(seed):
        m = nn.Linear(20, 4)
        _set_linear(torch, m, np.random.default_rng(seed))
        return m, torch.optim.SGD(m.parameters(), lr=0.5)

    step = compile(_global_step)
    out = []
    for seed in (7, 8):
        model, opt = get_model(seed)
        out += [step().item() for _ in range(3)]
    return out


def legendre_function(torch, compile):
    """'Defining new autograd functions': P3 as a torch.autograd.Function with its own backward."""

    class LegendrePolynomial3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    x = torch.linspace(-1.0, 1.0, 100)
    y = torch.tanh(3 * x)
    a = torch.full((), 0.0, requires_grad=True)
    b = torch.full((), -1.0, requires_grad=True)
    c = torch.full((), 0.0, requires_grad=True)
    d = torch.full((), 0.3, requires_grad=True)

    @compile
    def step():
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 5e-4 * p.grad
                p.grad = None
        return loss

    return [step().item() for _ in range(20)]


class _ScaledSGD:
    """A custom optimizer written the PyTorch way (subclassing torch.optim.Optimizer)."""

    @staticmethod
    def make(torch):
        class ScaledSGD(torch.optim.Optimizer):
            def __init__(self, params, lr=0.1, scale=0.5):
                super().__init__(params, dict(lr=lr, scale=scale))

            @torch.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.add_(p.grad, alpha=-group["lr"] * group["scale"])
        return ScaledSGD


def custom_optimizer(torch, compile):
    """A user's Optimizer subclass with @torch.no_grad() step, on an MSE regression."""
    nn = torch.nn
    model = nn.Linear(20, 1)
    _set_linear(torch, model, np.random.default_rng(9))
    opt = _ScaledSGD.make(torch)(model.parameters(), lr=0.2)
    x, _ = _data(seed=10)
    X = torch.tensor(x)
    Y = torch.tensor(np.tanh(x[:, :1] * 2).astype(np.float32))
    loss_fn = nn.MSELoss()

    @compile
    def step():
        opt.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        return loss

    return [step().item() for _ in range(6)]


PROGRAMS = [polynomial_autograd, quickstart_mlp, module_adam_nll, focal_loss_with_data,
            rebound_model, legendre_function, custom_optimizer]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_program_matches_torch(program, mode):
    torch = pytest.importorskip("torch")
    want = program(torch, _identity)
    got = program(graphc, _identity if mode == "eager" else graphc.compile)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)
