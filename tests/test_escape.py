"""A compiled step that rebinds a tensor it computed to a global, a closure variable, an attribute
or a dict item: after every call the variable holds the value torch gives (eager vs compiled,
interpreter and LLVM), and what graphc cannot keep is a TraceError at the first call."""
import numpy as np
import pytest

import graphc
from graphc import nn

BACKENDS = ["interpreter", "llvm"]
X = [np.random.default_rng(i).standard_normal((4, 3)).astype(np.float32) for i in range(3)]

running = None


def _global_step(x):
    global running
    with graphc.no_grad():
        running = 0.9 * running + 0.1 * x.mean(0)
    return x.sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_global_rebound_each_call(backend):
    global running
    want = np.zeros(3, np.float32)
    running = graphc.zeros(3)
    step = graphc.compile(_global_step, backend=backend)
    seen = []
    for x in X:
        step(graphc.tensor(x))
        want = 0.9 * want + 0.1 * x.mean(0)
        seen.append(running)
        np.testing.assert_allclose(running.numpy(), want, rtol=1e-6)
    assert seen[0] is not seen[1]       # a fresh tensor each call: the old one keeps its values
    np.testing.assert_allclose(seen[0].numpy(), 0.1 * X[0].mean(0), rtol=1e-6)
    running = graphc.ones(3)            # rebound by the user: the next call reads it
    step(graphc.tensor(X[0]))
    np.testing.assert_allclose(running.numpy(), 0.9 + 0.1 * X[0].mean(0), rtol=1e-6)
    assert len(step._cache) == 1 and step._rebinds == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_closure_and_plain_objects(backend):
    class BatchNormByHand:            # makemore part 3: plain objects held in a list
        def __init__(self):
            self.running_mean = graphc.zeros(3)

        def __call__(self, x):
            self.out = x - x.mean(0, keepdim=True)
            with graphc.no_grad():
                self.running_mean = 0.5 * self.running_mean + 0.5 * x.mean(0)
            return self.out

    layers = [BatchNormByHand()]
    total = graphc.zeros(())
    stats = {"max": graphc.zeros(())}

    def step(x):
        nonlocal total
        h = layers[0](x)
        total = total + h.abs().sum()
        stats["max"] = h.max()
        return h.sum()

    step = graphc.compile(step, backend=backend)
    want_rm, want_total = np.zeros(3, np.float32), 0.0
    for x in X:
        step(graphc.tensor(x))
        h = x - x.mean(0, keepdims=True)
        want_rm = 0.5 * want_rm + 0.5 * x.mean(0)
        want_total += np.abs(h).sum()
        np.testing.assert_allclose(layers[0].out.numpy(), h, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(layers[0].running_mean.numpy(), want_rm, rtol=1e-6)
        np.testing.assert_allclose(total.numpy(), want_total, rtol=1e-5)
        np.testing.assert_allclose(stats["max"].numpy(), h.max(), rtol=1e-6)
    assert len(step._cache) == 1


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("running_mean", graphc.zeros(2))

    def forward(self, x):
        self.hidden = self.fc(x)      # read after the step, as makemore's `layer.out`
        with graphc.no_grad():
            self.running_mean = 0.9 * self.running_mean + 0.1 * self.hidden.mean(0)
        return self.hidden.sum()


def _train(net, backend, compiled):
    opt = graphc.optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = net(x)
        loss.backward()
        opt.step()
        return loss
    step = graphc.compile(step, backend=backend) if compiled else step
    out = []
    for x in X:
        loss = step(graphc.tensor(x))
        out.append((float(loss), net.hidden.detach().numpy().copy(), net.running_mean.numpy().copy()))
    return out, step


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_buffer_and_attribute(backend):
    graphc.manual_seed(0)
    eager_net = Net()
    graphc.manual_seed(0)
    net = Net()
    buf = net.running_mean
    want, _ = _train(eager_net, backend, False)
    got, step = _train(net, backend, True)
    for (la, ha, ra), (lb, hb, rb) in zip(got, want):
        assert la == pytest.approx(lb, rel=1e-5)
        np.testing.assert_allclose(ha, hb, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ra, rb, rtol=1e-5, atol=1e-6)
    assert net.running_mean is buf and list(dict(net.named_buffers())) == ["running_mean"]
    assert len(step._cache) <= 2   # the first step has no .grad yet: one retrace, as always


def test_matches_torch():
    torch = pytest.importorskip("torch")

    def program(t):
        class BN:
            def __init__(self):
                self.running = t.zeros(3)

            def __call__(self, x):
                with t.no_grad():
                    self.running = 0.9 * self.running + 0.1 * x.var(0)
                self.out = t.tanh(x)
                return self.out
        return BN()

    bn_t, bn_g = program(torch), program(graphc)
    step = graphc.compile(lambda x: bn_g(x).sum())
    for x in X:
        bn_t(torch.tensor(x))
        step(graphc.tensor(x))
        np.testing.assert_allclose(bn_g.running.numpy(), bn_t.running.numpy(), rtol=1e-5)
        np.testing.assert_allclose(bn_g.out.numpy(), bn_t.out.numpy(), rtol=1e-5)


def test_refused_with_the_variable_named():
    log = []
    w = graphc.ones(3, requires_grad=True)

    def appends(x):
        log.append(x.sum())
        return x.sum()

    def rebinds_trainable(x):
        nonlocal w
        with graphc.no_grad():
            w = w - 0.1 * x.mean(0)
        return x.sum()

    for fn, name in ((appends, "log[0]"), (rebinds_trainable, "w")):
        with pytest.raises(graphc.TraceError, match=name.replace("[", r"\[")):
            graphc.compile(fn)(graphc.tensor(X[0]))
    assert log == []                  # restored: no dead traced tensor left behind
    assert not w.is_traced and w.requires_grad
