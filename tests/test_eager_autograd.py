"""Eager autograd: backward() outside graphc.compile differentiates the recorded tape with the same
gradient rules as compiled code, so eager and compiled gradients agree.

- every differentiable registry op: eager gradients == compiled (interpreter) gradients == central
  finite differences (float64);
- eager training (SGD momentum, Adam, AdamW, RMSprop) == PyTorch's losses and the compiled step's;
- retain_graph, non-scalar backward(gradient), accumulation, autograd.grad, is_leaf, grad_fn,
  detach, requires_grad_, no_grad updates, in-place rules;
- plain requires-grad tensors (PyTorch's polynomial tutorial) eagerly and compiled;
- `.data` is detached for non-state tensors (a focal loss with `logpt.data.exp()`);
- custom autograd.Function eagerly.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import dtypes, nn, optim
from graphc.tensor import apply
from test_autodiff import GRAD_CASES, away_from_kinks, make_operand

torch = pytest.importorskip("torch")


def _attrs64(sample):
    return {k: (dtypes.float64 if k == "dtype" and dtypes.as_dtype(v).is_float else v)
            for k, v in sample.attrs.items()}


# ---- 1. every op: eager == compiled == finite differences -----------------------------------------

@pytest.mark.parametrize("name, sample", GRAD_CASES)
def test_eager_op_gradient_matches_compiled_and_finite_differences(name, sample):
    rng = np.random.default_rng(sum(map(ord, name)) + 7)
    arrays = away_from_kinks(name, [make_operand(a, rng, np.float64) for a in sample.args])
    attrs = _attrs64(sample)
    float_idx = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    xs = [graphc.Tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    y = apply(name, *xs, **attrs)
    assert y.requires_grad and y.grad_fn is not None and not y.is_leaf
    ct = rng.standard_normal(y.shape).astype(y.dtype.np)
    y.backward(graphc.tensor(ct))
    eager = [xs[i].grad.numpy() for i in float_idx]

    def step(args, ct):
        args = list(args)
        for i in float_idx:
            args[i].requires_grad_()
        out = apply(name, *args, **attrs)
        out.backward(ct)
        return tuple(args[i].grad for i in float_idx)

    compiled = graphc.compile(step, backend="interpreter")([a.copy() for a in arrays], ct)
    for i, e, c in zip(float_idx, eager, compiled):
        assert e.shape == arrays[i].shape and e.dtype == arrays[i].dtype
        np.testing.assert_allclose(e, c, rtol=1e-10, atol=1e-12, err_msg=f"{name} operand {i}")

    def f(args):
        with graphc.no_grad():
            out = apply(name, *[graphc.Tensor(a) for a in args], **attrs)
        return float(np.sum(out.numpy() * ct))

    eps = 1e-6
    for i, e in zip(float_idx, eager):
        v = rng.standard_normal(arrays[i].shape)
        plus, minus = list(arrays), list(arrays)
        plus[i], minus[i] = arrays[i] + eps * v, arrays[i] - eps * v
        fd = (f(plus) - f(minus)) / (2 * eps)
        assert float(np.sum(e * v)) == pytest.approx(fd, rel=1e-6, abs=1e-8), f"{name}: {i}"


def test_the_op_comparison_can_fail(monkeypatch):
    # a wrong rule changes eager gradients (eager really uses the registry's vjp rules)
    from graphc.ir import OPS
    x = graphc.tensor(np.array([0.5, 1.0], np.float64), requires_grad=True)
    graphc.exp(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.0]))
    monkeypatch.setattr(OPS["exp"], "vjp", lambda b, g, x, out: (b.mul(g, x),))
    x2 = graphc.tensor(np.array([0.5, 1.0], np.float64), requires_grad=True)
    graphc.exp(x2).sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), [0.5, 1.0])


# ---- 2. training small models: eager == torch == compiled -----------------------------------------

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 5)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def _torch_mlp(net):
    t = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    with torch.no_grad():
        for tp, p in zip(t.parameters(), net.parameters()):
            tp.copy_(torch.from_numpy(np.array(p.numpy())))
    return t


OPTIMIZERS = {
    "sgd_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "sgd_nesterov_wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                            weight_decay=1e-2),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                  weight_decay=1e-2)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
                lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)),
}


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_eager_training_matches_torch_and_compiled(opt_name):
    mk, tmk = OPTIMIZERS[opt_name]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((32, 12)).astype(np.float32)
    Y = rng.integers(0, 5, 32)
    graphc.manual_seed(0)
    net, net_c = MLP(), MLP()
    net_c.load_state_dict(net.state_dict())
    tnet = _torch_mlp(net)
    opt, opt_c, topt = mk(net.parameters()), mk(net_c.parameters()), tmk(tnet.parameters())
    crit = nn.CrossEntropyLoss()

    @graphc.compile(backend="interpreter")
    def step(x, y):
        opt_c.zero_grad()
        loss = crit(net_c(x), y)
        loss.backward()
        opt_c.step()
        return loss

    before = {k: np.array(v) for k, v in net.state_dict().items()}
    for _ in range(5):
        opt.zero_grad()
        loss = crit(net(graphc.tensor(X)), graphc.tensor(Y))
        loss.backward()
        opt.step()
        lc = float(step(X, Y))
        topt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(X)), torch.from_numpy(Y))
        tl.backward()
        topt.step()
        assert float(loss) == pytest.approx(tl.item(), rel=2e-6), opt_name
        assert float(loss) == pytest.approx(lc, rel=2e-6), opt_name
    for (k, v), tp in zip(net.state_dict().items(), tnet.parameters()):
        assert not np.array_equal(v, before[k]), f"{k} did not move"
        np.testing.assert_allclose(v, tp.detach().numpy(), rtol=1e-5, atol=2e-5, err_msg=k)
        np.testing.assert_allclose(v, net_c.state_dict()[k], rtol=1e-5, atol=2e-5, err_msg=k)


# ---- 3. autograd semantics --------------------------------------------------------------------------

def _pair(a):
    return (graphc.tensor(np.array(a, np.float32), requires_grad=True),
            torch.tensor(np.array(a, np.float32), requires_grad=True))


def test_second_backward_raises_and_retain_graph_accumulates():
    x, tx = _pair([1.0, -2.0, 3.0])
    y = (x * x * 3.0).sum()
    y.backward()
    with pytest.raises(graphc.GraphcError, match="retain_graph=True"):
        y.backward()
    x2, _ = _pair([1.0, -2.0, 3.0])
    y2 = (x2 * x2 * 3.0).sum()
    y2.backward(retain_graph=True)
    y2.backward()                      # the second one frees the graph
    ty = (tx * tx * 3.0).sum()
    ty.backward(retain_graph=True)
    ty.backward()
    np.testing.assert_allclose(x2.grad.numpy(), tx.grad.numpy())
    with pytest.raises(graphc.GraphcError, match="second time"):
        y2.backward()


def test_non_scalar_backward_with_gradient():
    x, tx = _pair([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    (graphc.tanh(x) * x).backward(graphc.tensor(g))
    (torch.tanh(tx) * tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    with pytest.raises(graphc.GraphcError, match="gradient="):
        (x * 2.0).backward()


def test_gradient_accumulates_across_backward_calls_and_zero_():
    x, tx = _pair([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    grad_obj = x.grad
    graphc.exp(x).sum().backward()
    (tx * tx).sum().backward()
    torch.exp(tx).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert x.grad is grad_obj          # accumulated in place, as torch
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    (x * 4.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 4.0)


def test_leaf_grad_fn_detach_requires_grad_():
    x = graphc.tensor(np.ones(3, np.float32), requires_grad=True)
    c = graphc.tensor(np.ones(3, np.float32))
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None and c.is_leaf
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert "Backward" in y.grad_fn.name()
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.numpy())
    with graphc.no_grad():
        z = x * 2.0
    assert not z.requires_grad and z.grad_fn is None
    assert not (c * 2.0).requires_grad
    c.requires_grad_()
    (c * y.detach()).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), 2.0)
    assert x.grad is None              # cut by detach()
    with pytest.raises(graphc.GraphcError, match="does not require grad"):
        d.sum().backward()


def test_autograd_grad():
    x, tx = _pair([0.5, 1.5])
    w, tw = _pair([2.0, -1.0])
    y = (graphc.sigmoid(x * w) * x).sum()
    gx, gw = graphc.autograd.grad(y, [x, w])
    ty = (torch.sigmoid(tx * tw) * tx).sum()
    tgx, tgw = torch.autograd.grad(ty, [tx, tw])
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), rtol=1e-6)
    assert x.grad is None and w.grad is None   # grad() fills no .grad


def test_no_grad_updates_copy_and_in_place_rules():
    w = graphc.zeros(3, requires_grad=True)
    tw = torch.zeros(3, requires_grad=True)
    for _ in range(3):
        (graphc.exp(w) * w).sum().backward()
        (torch.exp(tw) * tw).sum().backward()
        with graphc.no_grad():
            w -= w.grad * 0.1
        with torch.no_grad():
            tw -= tw.grad * 0.1
        w.grad.zero_()
        tw.grad.zero_()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-6)
    assert w.is_leaf and w.requires_grad
    with graphc.no_grad():
        w.copy_(graphc.ones(3))
    np.testing.assert_array_equal(w.numpy(), 1.0)
    with pytest.raises(graphc.GraphcError, match="no_grad"):
        w.add_(1.0)                    # a leaf requiring grad, in place with grad on: torch raises
    h = w * 2.0                        # in place on a non-leaf is recorded
    h.mul_(w)
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 4.0)   # d(2 w^2)/dw at w = 1 (grad was zeroed)


def test_custom_function_eagerly():
    class Cube(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3.0 * x * x

    class TCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3.0 * x * x

    x, tx = _pair([0.5, -1.0, 2.0])
    y = Cube.apply(x)
    assert y.requires_grad
    (graphc.sin(y) if hasattr(graphc, "sin") else graphc.tanh(y)).sum().backward()
    ty = TCube.apply(tx)
    (torch.sin(ty) if hasattr(graphc, "sin") else torch.tanh(ty)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


# ---- 4. plain requires-grad tensors: PyTorch's polynomial tutorial -----------------------------------

def _poly_data():
    x = np.linspace(-math.pi, math.pi, 200, dtype=np.float32)
    return x, np.sin(x).astype(np.float32)


def _poly_init(lib):
    g = np.random.default_rng(3).standard_normal(4).astype(np.float32)
    return [lib.tensor(g[i], requires_grad=True) for i in range(4)]


def _torch_poly(steps, lr):
    x, y = map(torch.from_numpy, _poly_data())
    a, b, c, d = _poly_init(torch)
    losses = []
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
    return losses, [p.item() for p in (a, b, c, d)]


def test_polynomial_tutorial_eager():
    lr = 1e-6
    x, y = _poly_data()
    x, y = graphc.tensor(x), graphc.tensor(y)
    a, b, c, d = _poly_init(graphc)
    assert a.shape == () and a.requires_grad and a.is_leaf
    losses = []
    for _ in range(5):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with graphc.no_grad():
            a -= lr * a.grad
            b -= lr * b.grad
            c -= lr * c.grad
            d -= lr * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    tl, tp = _torch_poly(5, lr)
    np.testing.assert_allclose(losses, tl, rtol=2e-6)
    np.testing.assert_allclose([float(p) for p in (a, b, c, d)], tp, rtol=2e-6)


def test_polynomial_tutorial_compiled():
    lr = 1e-6
    a, b, c, d = _poly_init(graphc)
    params = [a, b, c, d]

    @graphc.compile(backend="interpreter")
    def step(x, y):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with graphc.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    x, y = _poly_data()
    losses = [float(step(x, y)) for _ in range(5)]
    tl, tp = _torch_poly(5, lr)
    np.testing.assert_allclose(losses, tl, rtol=2e-6)
    np.testing.assert_allclose([float(p) for p in params], tp, rtol=2e-6)
    assert all(p.grad is None for p in params)


def test_plain_tensors_with_an_optimizer_compiled_and_eager():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 3)).astype(np.float32)
    Y = rng.standard_normal((8, 2)).astype(np.float32)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    w_e, w_c = graphc.tensor(w0, requires_grad=True), graphc.tensor(w0, requires_grad=True)
    b_c = graphc.zeros(2, requires_grad=True)
    b_e = graphc.zeros(2, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt_e, opt_c = optim.Adam([w_e, b_e], lr=0.05), optim.Adam([w_c, b_c], lr=0.05)
    topt = torch.optim.Adam([tw, tb], lr=0.05)

    @graphc.compile(backend="interpreter")
    def step(x, y):
        opt_c.zero_grad()
        loss = F.mse_loss(x @ w_c + b_c, y)
        loss.backward()
        opt_c.step()
        return loss

    for _ in range(4):
        opt_e.zero_grad()
        le = F.mse_loss(graphc.tensor(X) @ w_e + b_e, graphc.tensor(Y))
        le.backward()
        opt_e.step()
        lc = float(step(X, Y))
        topt.zero_grad()
        tl = torch.nn.functional.mse_loss(torch.from_numpy(X) @ tw + tb, torch.from_numpy(Y))
        tl.backward()
        topt.step()
        assert float(le) == pytest.approx(tl.item(), rel=2e-6)
        assert lc == pytest.approx(tl.item(), rel=2e-6)
    np.testing.assert_allclose(w_c.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_e.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- 5. `.data` is detached (a focal loss as written in the wild) -------------------------------------

def _focal(lib_F, logits, target, gamma=2.0):
    logpt = lib_F.log_softmax(logits, dim=1).gather(1, target.view(-1, 1)).view(-1)
    pt = logpt.data.exp()          # the .data makes pt a constant: no gradient through it
    return (-1 * (1 - pt) ** gamma * logpt).mean()


def _focal_case():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((16, 6)).astype(np.float32)
    Y = rng.integers(0, 4, 16)
    w0 = (rng.standard_normal((6, 4)) * 0.5).astype(np.float32)
    tw = torch.tensor(w0, requires_grad=True)
    _focal(torch.nn.functional, torch.from_numpy(X) @ tw, torch.from_numpy(Y)).backward()
    return X, Y, w0, tw.grad.numpy()


def test_data_is_detached_focal_loss_eager():
    X, Y, w0, tgrad = _focal_case()
    we = graphc.tensor(w0, requires_grad=True)
    _focal(F, graphc.tensor(X) @ we, graphc.tensor(Y)).backward()
    np.testing.assert_allclose(we.grad.numpy(), tgrad, rtol=1e-5, atol=1e-7)


def test_data_is_detached_focal_loss_compiled():
    X, Y, w0, tgrad = _focal_case()
    wp = nn.Parameter(w0.copy())

    @graphc.compile(backend="interpreter")
    def step(x, y):
        wp.grad = None
        loss = _focal(F, x @ wp, y)
        loss.backward()
        return loss, wp.grad

    _, g = step(X, Y)
    np.testing.assert_allclose(g, tgrad, rtol=1e-5, atol=1e-7)


def test_data_shares_memory_but_parameter_data_updates_in_place():
    t = graphc.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    d = t.data
    assert not d.requires_grad and np.shares_memory(d.numpy(), t.numpy())
    d.mul_(3.0)                        # writes through, as torch
    np.testing.assert_array_equal(t.numpy(), [3.0, 6.0])
    t.data = graphc.tensor(np.array([5.0, 5.0], np.float32))
    np.testing.assert_array_equal(t.numpy(), [5.0, 5.0])
    assert t.requires_grad
    # a Parameter's .data inside a trace is the parameter: p.data.mul_() updates it
    p = nn.Parameter(np.array([1.0, 2.0], np.float32))

    @graphc.compile(backend="interpreter")
    def shrink():
        p.data.mul_(0.5)
        return p.sum()

    shrink()
    np.testing.assert_array_equal(p.numpy(), [0.5, 1.0])


# ---- 6. eager op path: same errors and dtype rules as the interpreter --------------------------------

def test_eager_ops_keep_shape_errors_and_weak_typing():
    a = graphc.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(graphc.ShapeError, match="add"):
        a + graphc.tensor(np.ones((4,), np.float32))
    assert (a * 2.5).dtype == graphc.float32
    i = graphc.tensor(np.array([1, 2], np.int64))
    assert (i * 2.5).dtype == graphc.float32 and (i + 1).dtype == graphc.int64
    assert (i / 2).dtype == graphc.float32
    np.testing.assert_array_equal((i * 2.5).numpy(), [2.5, 5.0])


def test_eager_steps_then_compiled_steps_share_optimizer_state():
    # Adam state and .grad made by eager steps become graph state of a compiled step
    rng = np.random.default_rng(4)
    X = rng.standard_normal((8, 5)).astype(np.float32)
    Y = rng.integers(0, 3, 8)
    graphc.manual_seed(0)
    net, ref = nn.Linear(5, 3), nn.Linear(5, 3)
    ref.load_state_dict(net.state_dict())
    opt, opt_ref = optim.Adam(net.parameters(), lr=0.01), optim.Adam(ref.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()

    def step(model, o, x, y):
        o.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        o.step()
        return loss

    compiled = graphc.compile(lambda x, y: step(net, opt, x, y), backend="interpreter")
    losses = [float(step(net, opt, graphc.tensor(X), graphc.tensor(Y)))]
    losses += [float(compiled(X, Y)) for _ in range(3)]
    losses.append(float(step(net, opt, graphc.tensor(X), graphc.tensor(Y))))
    expect = [float(step(ref, opt_ref, graphc.tensor(X), graphc.tensor(Y))) for _ in range(5)]
    np.testing.assert_allclose(losses, expect, rtol=2e-6)
    assert float(opt.state[net.weight]["step"]) == 5.0


def test_autograd_grad_unused_inputs_and_non_leaf_inputs():
    x, tx = _pair([0.5, 1.5])
    u, _ = _pair([1.0, 1.0])
    h = x * 3.0
    y = (h * h).sum()
    with pytest.raises(graphc.GraphcError, match="allow_unused"):
        graphc.autograd.grad(y, [x, u], retain_graph=True)
    gh, gu = graphc.autograd.grad(y, [h, u], allow_unused=True)
    th = tx * 3.0
    (tgh,) = torch.autograd.grad((th * th).sum(), [th])
    np.testing.assert_allclose(gh.numpy(), tgh.numpy(), rtol=1e-6)
    assert gu is None


def test_requires_grad_tensor_arguments_are_trained_in_place_compiled():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((8, 3)).astype(np.float32)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)

    @graphc.compile(backend="interpreter")
    def step(w, x):
        loss = (graphc.tanh(x @ w) ** 2).sum()
        loss.backward()
        with graphc.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
        return loss

    w, w2 = graphc.tensor(w0, requires_grad=True), graphc.tensor(w0 * 2, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    for _ in range(3):
        loss = float(step(w, X))
        tl = (torch.tanh(torch.from_numpy(X) @ tw) ** 2).sum()
        tl.backward()
        with torch.no_grad():
            tw -= 0.1 * tw.grad
        tw.grad = None
        assert loss == pytest.approx(tl.item(), rel=2e-6)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert w.grad is None
    step(w2, X)                        # another tensor: its own state, w is left alone
    assert not np.array_equal(w2.numpy(), w0 * 2)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    # a tensor that does not require grad stays data
    c = graphc.tensor(w0)

    @graphc.compile(backend="interpreter")
    def f(c, x):
        return (x @ c).sum()

    assert float(f(c, X)) == pytest.approx(float((X @ w0).sum()), rel=1e-6)


def test_in_place_change_of_a_used_tensor_before_backward_raises():
    w = graphc.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    x = graphc.tensor(np.array([3.0, 4.0], np.float32))
    loss = (w * x).sum()
    x.mul_(2.0)                        # d loss / d w would read the changed x
    with pytest.raises(graphc.GraphcError, match="in-place"):
        loss.backward()
    loss = (w * x).sum()
    loss.backward()
    with graphc.no_grad():
        w.sub_(w.grad * 0.1)           # after backward: fine, as in torch
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.6, 2.0 - 0.8], rtol=1e-6)
