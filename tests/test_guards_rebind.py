"""Rebinding a global or closure variable that a compiled step reads retraces (as torch.compile's
guards do): PyTorch's nn tutorial does `model, opt = get_model()` four times, and each section
must train its own new model, never silently the old one."""
import numpy as np
import pytest

import graphc
from graphc import nn, optim


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6), dtype=np.float32), rng.integers(0, 3, n)


def get_model():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, optim.SGD(model.parameters(), lr=0.1)


loss_func = nn.CrossEntropyLoss()
model, opt = get_model()


@graphc.compile
def train_step(xb, yb):
    loss = loss_func(model(xb), yb)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def _snap(m):
    return {k: np.array(v) for k, v in m.state_dict().items()}


def test_tutorial_get_model_twice_trains_the_new_model():
    global model, opt
    x, y = _data()
    for _ in range(3):
        train_step(x, y)
    old_model = model
    old = _snap(old_model)
    model, opt = get_model()             # the tutorial's second section
    fresh = _snap(model)
    for _ in range(3):
        train_step(x, y)
    # the old model is untouched, the new one trained
    for k, v in _snap(old_model).items():
        np.testing.assert_array_equal(v, old[k])
    assert any(not np.array_equal(v, fresh[k]) for k, v in _snap(model).items())


def test_rebound_model_matches_a_fresh_compile():
    global model, opt
    x, y = _data(seed=1)
    model, opt = get_model()
    train_step(x, y)
    model, opt = get_model()
    start = _snap(model)
    losses = [float(train_step(x, y)) for _ in range(3)]

    ref, ref_opt = get_model()
    ref.load_state_dict({k: v.copy() for k, v in start.items()})

    @graphc.compile
    def ref_step(xb, yb):
        loss = loss_func(ref(xb), yb)
        loss.backward()
        ref_opt.step()
        ref_opt.zero_grad()
        return loss
    ref_losses = [float(ref_step(x, y)) for _ in range(3)]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for k, v in _snap(ref).items():
        np.testing.assert_allclose(_snap(model)[k], v, rtol=1e-6)


def test_rebinding_only_the_optimizer_retraces():
    global model, opt
    x, y = _data(seed=2)
    model, opt = get_model()
    train_step(x, y)
    opt = optim.SGD(model.parameters(), lr=0.0)   # a new optimizer on the same model
    before = _snap(model)
    train_step(x, y)
    train_step(x, y)
    for k, v in _snap(model).items():
        np.testing.assert_array_equal(v, before[k])


def test_closure_rebind_retraces():
    def main():
        net = nn.Linear(4, 2)
        step = graphc.compile(lambda x: net(x))
        x = np.ones((1, 4), np.float32)
        a = step(x)
        net = nn.Linear(4, 2)            # rebinds the cell the lambda reads
        np.testing.assert_allclose(step(x), net(x).numpy(), rtol=1e-6)
        assert not np.allclose(a, step(x))
    main()


def test_global_tensor_rebind_retraces():
    g = {"graphc": graphc}
    exec("W = graphc.tensor([[1.0, 2.0]])\ndef f(x):\n    return x * W\n", g)
    f = graphc.compile(g["f"])
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(f(x), [[1, 2]])
    g["W"] = graphc.tensor([[3.0, 4.0]])
    np.testing.assert_allclose(f(x), [[3, 4]])


def test_model_defined_after_compile():
    g = {"graphc": graphc, "nn": nn}
    exec("def f(x):\n    return net(x)\n", g)
    f = graphc.compile(g["f"])
    g["net"] = nn.Linear(3, 2)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(f(x), g["net"](x).numpy(), rtol=1e-6)
    g["net"] = nn.Linear(3, 2)
    np.testing.assert_allclose(f(x), g["net"](x).numpy(), rtol=1e-6)


def test_unrelated_globals_do_not_retrace(monkeypatch):
    x, y = _data(seed=3)
    train_step(x, y); train_step(x, y)  # noqa: E702
    n = len(train_step._cache)
    global _unrelated
    _unrelated = object()
    train_step(x, y)
    assert len(train_step._cache) == n


def test_global_holding_a_foreign_object_at_compile_time():
    # compiled while `net` still held something else (a torch model from an earlier section)
    g = {"graphc": graphc}
    exec("def f(x):\n    return net(x)\n", g)
    g["net"] = object()
    f = graphc.compile(g["f"])
    g["net"] = nn.Linear(3, 2)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(f(x), g["net"](x).numpy(), rtol=1e-6)
    g["net"] = nn.Linear(3, 2)
    np.testing.assert_allclose(f(x), g["net"](x).numpy(), rtol=1e-6)


def test_rebinding_every_call_warns_once():
    g = {"graphc": graphc}
    exec("def f(x):\n    return x * W\n", g)
    f = graphc.compile(g["f"], backend="interpreter")
    x = np.ones(2, np.float32)
    with pytest.warns(graphc.GraphcWarning, match="retraced 8 times") as rec:
        for i in range(10):
            g["W"] = graphc.tensor([float(i), 1.0])
            np.testing.assert_allclose(f(x), [i, 1.0])
    assert sum("retraced" in str(r.message) for r in rec) == 1


def test_changing_a_module_setting_retraces_instead_of_running_the_old_value():
    drop = graphc.nn.Dropout(0.0)
    f = graphc.compile(lambda x: drop(x))
    x = graphc.ones(2000)
    assert int((f(x) == 0).sum()) == 0
    drop.p = 0.9                                   # read by the traced forward: a retrace
    zeros = int((f(x) == 0).sum())
    assert 1600 < zeros < 2000
    drop.p = 0.9                                   # the same value again: no retrace needed
    assert 1600 < int((f(x) == 0).sum()) < 2000


class _Trainer:
    """The step is a function defined in a method, closing over `self` (not a method itself):
    the optimizer it steps is found through `self`, and rebinding `self.opt` retraces."""

    def __init__(self, lr=0.1):
        self.model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        self.opt = optim.Adam(self.model.parameters(), lr=lr)

        def step(xb, yb):
            self.opt.zero_grad()
            loss = loss_func(self.model(xb), yb)
            loss.backward()
            self.opt.step()
            return loss
        self.step, self.eager = graphc.compile(step), step


def test_optimizer_held_by_a_closed_over_object_is_the_steps_own():
    x, y = _data()
    graphc.manual_seed(0)
    t = _Trainer()
    graphc.manual_seed(0)
    ref = _Trainer()
    for _ in range(3):
        np.testing.assert_allclose(float(t.step(x, y)), float(ref.eager(x, y)), rtol=1e-5)
    for k, v in _snap(t.model).items():
        np.testing.assert_allclose(v, _snap(ref.model)[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert all(len(s) == 3 for s in t.opt.state.values())     # Adam's state lives on the optimizer
    before = _snap(t.model)
    t.opt = optim.SGD(t.model.parameters(), lr=0.0)          # rebinding retraces: lr 0 moves nothing
    t.step(x, y)
    for k, v in _snap(t.model).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
