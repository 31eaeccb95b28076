"""graphc.scan and the `scan` IR node: eager (the Python loop) against compiled (interpreter and
LLVM), gradients (a reverse scan) against eager autograd and PyTorch's own loop, carries of every
structure, reverse scans, nested loops, captured values, the errors, thread-count independence,
and a graph (and compile) whose size does not depend on the number of steps."""
from __future__ import annotations

import numpy as np
import pytest
from thread_runs import outputs_per_thread_count

import graphc
from graphc import nn
from graphc.ir import parse, print_graph, verify

BACKENDS = ["interpreter", "llvm"]


def _rnn(W, U, b):
    """A tanh RNN over xs with carries (h, (step count, running sum)) and two per-step results."""
    def f(h0, xs):
        def step(carry, x):
            h, (n, acc) = carry
            h = graphc.tanh(x @ W.T + h @ U.T + b)
            return (h, (n + 1, acc + h.sum())), (h, h * h)
        (h, (n, acc)), (hs, sq) = graphc.scan(step, (h0, (graphc.zeros((), dtype=graphc.int64),
                                                          graphc.zeros(()))), xs)
        return h, n, acc, hs, sq
    return f


def _params(dtype=np.float32, n_in=3, n_h=4, seed=0):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(graphc.tensor(rng.standard_normal(s).astype(dtype) * 0.4))
            for s in ((n_h, n_in), (n_h, n_h), (n_h,))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_matches_the_python_loop(backend):
    W, U, b = _params()
    f = _rnn(W, U, b)
    rng = np.random.default_rng(1)
    h0 = rng.standard_normal((2, 4)).astype(np.float32)
    xs = rng.standard_normal((6, 2, 3)).astype(np.float32)
    want = [t.numpy() for t in f(graphc.tensor(h0), graphc.tensor(xs))]
    got = graphc.compile(f, backend=backend)(h0, xs)
    assert got[1] == 6 and got[1].dtype == np.int64
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_match_torch(backend, reverse):
    torch = pytest.importorskip("torch")
    W, U, b = _params(np.float64)
    rng = np.random.default_rng(2)
    h0 = rng.standard_normal((2, 4))
    xs = rng.standard_normal((5, 2, 3))

    def step(h, x):
        h = graphc.tanh(x @ W.T + h @ U.T + b)
        return h, graphc.sigmoid(h) * x.sum()

    def loss_fn(h0, xs):
        h, ys = graphc.scan(step, h0, xs, reverse=reverse)
        loss = (ys * ys).sum() + (h * 3).sum()
        loss.backward()
        return loss, h0.grad, xs.grad

    tW, tU, tb = (torch.tensor(p.numpy(), requires_grad=True) for p in (W, U, b))
    th0, txs = (torch.tensor(a, requires_grad=True) for a in (h0, xs))
    h, ys = th0, [None] * 5
    for t in (range(4, -1, -1) if reverse else range(5)):
        h = torch.tanh(txs[t] @ tW.T + h @ tU.T + tb)
        ys[t] = torch.sigmoid(h) * txs[t].sum()
    tloss = (torch.stack(ys) ** 2).sum() + (h * 3).sum()
    tloss.backward()

    f = graphc.compile(loss_fn, backend=backend)
    gh0, gxs = graphc.tensor(h0, requires_grad=True), graphc.tensor(xs, requires_grad=True)
    loss, g_h0, g_xs = f(gh0, gxs)
    np.testing.assert_allclose(float(loss), tloss.item(), rtol=1e-12)
    for got, want in [(g_h0, th0.grad), (g_xs, txs.grad), (W.grad, tW.grad), (U.grad, tU.grad),
                      (b.grad, tb.grad)]:
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_match_eager_autograd_through_nested_loops(backend):
    """A scan inside a scan body: the inner loop's gradient is a reverse scan inside the outer
    loop's reverse body."""
    W, U, b = _params(np.float64)

    def f(h0, xs):
        def outer(h, x):
            def inner(g, _):
                return graphc.tanh(g @ U.T + b), None
            g, _ = graphc.scan(inner, graphc.tanh(x @ W.T) + h, None, length=3)
            return g, g.sum(dim=1)
        h, ys = graphc.scan(outer, h0, xs)
        loss = (ys ** 2).sum() + h.mean()
        loss.backward()
        return loss

    rng = np.random.default_rng(3)
    h0, xs = rng.standard_normal((2, 4)), rng.standard_normal((4, 2, 3))
    want = float(f(graphc.tensor(h0), graphc.tensor(xs)))
    grads = [p.grad.numpy().copy() for p in (W, U, b)]
    for p in (W, U, b):
        p.grad = None
    got = float(graphc.compile(f, backend=backend)(h0, xs))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for p, g in zip((W, U, b), grads):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-10, atol=1e-12)


def test_finite_differences_of_a_value_computed_before_the_loop():
    """A tensor computed inside the compiled function before the loop is captured by the body;
    its gradient (through every step) agrees with central differences."""
    rng = np.random.default_rng(4)
    a0 = rng.standard_normal((3,))
    xs = rng.standard_normal((4, 3))

    def loss_of(a):
        def step(c, x):
            return c * graphc.tanh(x + scale), None
        scale = a * 2.0
        c, _ = graphc.scan(step, graphc.ones(3, dtype=graphc.float64), graphc.tensor(xs))
        return c.sum()

    def f(a):
        loss = loss_of(a)
        loss.backward()
        return loss, a.grad
    _, grad = graphc.compile(f, backend="llvm")(graphc.tensor(a0, requires_grad=True))
    eps = 1e-6
    fd = [(float(loss_of(graphc.tensor(a0 + eps * e)))
           - float(loss_of(graphc.tensor(a0 - eps * e)))) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(np.asarray(grad), fd, rtol=1e-6, atol=1e-8)


def test_lstm_graph_does_not_grow_with_the_sequence_length():
    """The compiled train step of an LSTM holds one loop per direction and one per gradient,
    with the same nodes for 10 and 100 steps (the issue's `compile time flat in T`)."""
    def build(T):
        graphc.manual_seed(0)
        lstm, fc = nn.LSTM(8, 16, batch_first=True, bidirectional=True), nn.Linear(32, 2)
        opt = graphc.optim.Adam(list(lstm.parameters()) + list(fc.parameters()))

        def step(x, y):
            opt.zero_grad()
            out, _ = lstm(x)
            loss = nn.functional.cross_entropy(fc(out[:, -1]), y)
            loss.backward()
            opt.step()
            return loss
        f = graphc.compile(step, backend="llvm")
        rng = np.random.default_rng(0)
        loss = f(rng.standard_normal((4, T, 8)).astype(np.float32), np.array([0, 1, 1, 0]))
        assert np.isfinite(loss)
        return f.graph

    def shape(g):
        ops = [n.op for n in g.nodes]
        bodies = [[m.op for m in n.attrs["body"].nodes] for n in g.nodes if n.op == "scan"]
        return ops, bodies
    g10, g100 = build(10), build(100)
    assert shape(g10) == shape(g100)
    assert sum(n.op == "scan" for n in g10.nodes) == 4   # 2 directions, forward and backward
    assert len(g10.nodes) < 120


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_trains_like_the_eager_loop(backend):
    """20 Adam steps of an LSTM classifier, compiled, against the same steps eagerly."""
    def run(compiled):
        graphc.manual_seed(0)
        lstm, fc = nn.LSTM(5, 6, num_layers=2), nn.Linear(6, 3)
        opt = graphc.optim.Adam(list(lstm.parameters()) + list(fc.parameters()), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            out, (_, c) = lstm(x)
            loss = nn.functional.cross_entropy(fc(out[-1]), y) + 0.1 * c.square().mean()
            loss.backward()
            opt.step()
            return loss
        f = graphc.compile(step, backend=backend) if compiled else step
        rng = np.random.default_rng(0)
        x = rng.standard_normal((7, 4, 5)).astype(np.float32)
        y = np.array([0, 2, 1, 2])
        losses = [float(f(x, y)) if compiled else float(f(graphc.tensor(x), graphc.tensor(y)))
                  for _ in range(20)]
        return losses, lstm.weight_hh_l1.numpy().copy()
    (le, we), (lc, wc) = run(False), run(True)
    np.testing.assert_allclose(lc, le, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(wc, we, rtol=1e-4, atol=1e-5)


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    script = (
        "import numpy as np, graphc, sys\n"
        "from graphc import nn\n"
        "graphc.manual_seed(0)\n"
        "lstm = nn.LSTM(16, 64)\n"
        "def f(x):\n"
        "    out, _ = lstm(x)\n"
        "    loss = out.square().mean()\n"
        "    loss.backward()\n"
        "    return loss, lstm.weight_hh_l0.grad\n"
        "x = np.random.default_rng(0).standard_normal((12, 32, 16)).astype(np.float32)\n"
        "loss, g = graphc.compile(f)(x)\n"
        "np.save(sys.argv[1], np.concatenate([np.ravel(loss), np.ravel(g)]))\n")
    np.testing.assert_array_equal(*outputs_per_thread_count(script, tmp_path))


def test_scan_ir_prints_parses_and_verifies():
    W, U, b = _params()
    f = graphc.compile(_rnn(W, U, b), backend="interpreter")
    f(np.zeros((2, 4), np.float32), np.zeros((3, 2, 3), np.float32))
    traced = f.ir("traced")
    g = parse(traced)
    verify(g)
    assert print_graph(g) == traced
    assert "= scan[length=3, n_carry=3, n_xs=1, reverse=false]" in traced


def test_eager_scan_is_the_python_loop_with_autograd():
    W, U, b = _params()
    xs = graphc.randn(4, 2, 3)
    h, hs = graphc.scan(lambda h, x: (graphc.tanh(x @ W.T + h @ U.T + b),) * 2,
                        graphc.zeros(2, 4), xs)
    hs.sum().backward()
    assert hs.shape == (4, 2, 4) and W.grad is not None and W.grad.shape == (4, 3)
    np.testing.assert_array_equal(hs[-1].numpy(), h.numpy())


@pytest.mark.parametrize("make, match", [
    (lambda: (lambda c, x: (c.double(), None)), "carry 0 enters the loop as f32"),
    (lambda: (lambda c, x: (nn.functional.dropout(c, 0.5, training=True), None)),
     "in-place update of state inside a graphc.scan body"),
    (lambda: (lambda c, x: c), "must return \\(carry, y\\)"),
    (lambda: (lambda c, x: ((c, c), None)), "another structure"),
])
def test_bad_bodies_are_graphc_errors(make, match):
    body = make()

    def f(xs):
        return graphc.scan(body, graphc.zeros(2), xs)[0]
    with pytest.raises(graphc.GraphcError, match=match):
        graphc.compile(f, backend="interpreter")(np.ones((3, 2), np.float32))


def test_backward_inside_a_body_and_mismatched_lengths_are_refused():
    w = nn.Parameter(graphc.ones(2))

    def bad_backward(xs):
        def step(c, x):
            (c * w).sum().backward()
            return c, None
        return graphc.scan(step, graphc.zeros(2), xs)[0]
    with pytest.raises(graphc.GraphcError, match="inside a loop body"):
        graphc.compile(bad_backward, backend="interpreter")(np.ones((3, 2), np.float32))
    with pytest.raises(graphc.GraphcError, match="disagree"):
        graphc.scan(lambda c, x: (c, None), graphc.zeros(2), (graphc.ones(3, 2), graphc.ones(4, 2)))
    with pytest.raises(graphc.GraphcError, match="disagree"):
        graphc.scan(lambda c, x: (c, None), graphc.zeros(2), graphc.ones(3, 2), length=5)
