"""Thread safety: concurrent inference gives correct results; a training step entered from two
Python threads at once is serialised (the result equals the same steps run one after another).

The oracle for inference is the same compiled function called from one thread (and the
interpreter); for training, the same number of steps on one thread (every call gets the same batch,
so the order the threads take turns in does not matter).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import graphc
from graphc import nn, optim


class MLP(nn.Module):
    def __init__(self, n_in=784, hidden=128, n_out=10):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.fc2(graphc.relu(self.fc1(x)))


def _run_threads(n: int, target) -> list:
    """Run target(i) on n threads started together; re-raise the first exception."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def body(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as e:  # noqa: BLE001  (reported to the test thread below)
            errors.append(e)
    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("batch", [8, 512])  # 512 rows: the matmul is split over the thread pool
def test_two_threads_calling_one_compiled_inference_function(batch):
    graphc.manual_seed(1)
    net = MLP()
    infer = graphc.compile(net, backend="llvm")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, 784)).astype(np.float32) for _ in range(2)]
    want = [infer(x) for x in xs]  # one thread
    ref = graphc.compile(net, backend="interpreter")
    for x, w in zip(xs, want):
        np.testing.assert_allclose(w, ref(x), rtol=1e-4, atol=1e-5)

    def work(i):
        bad = 0
        for _ in range(40):
            out = infer(xs[i])
            bad += not np.array_equal(out, want[i])
        return bad
    assert _run_threads(2, work) == [0, 0]


def test_concurrent_inference_with_different_shapes_traces_each_once():
    graphc.manual_seed(2)
    net = MLP(16, 8, 4)
    infer = graphc.compile(net, backend="llvm")
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((b, 16)).astype(np.float32) for b in (3, 5, 3, 5)]
    outs = _run_threads(4, lambda i: [infer(xs[i]) for _ in range(10)])
    ref = graphc.compile(net, backend="interpreter")
    for x, out in zip(xs, outs):
        for o in out:
            np.testing.assert_allclose(o, ref(x), rtol=1e-5, atol=1e-6)
    assert len(infer._cache) == 2


def _train_setup(backend: str):
    graphc.manual_seed(3)
    net, criterion = MLP(32, 16, 4), nn.CrossEntropyLoss()
    opt = optim.Adam(net.parameters(), lr=1e-2)

    @graphc.compile(backend=backend)
    def step(x, y):
        opt.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return net, opt, step


def _opt_state(opt) -> dict:
    return {f"{i}.{k}": np.array(v) for i, s in enumerate(opt.state.values())
            for k, v in s.items()}


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "first-call"])
def test_training_step_entered_from_two_threads_is_serialised(backend, warm):
    """"first-call": both threads make the very first call (the lazily created Adam state makes the
    first step a different graph from the later ones): exactly one thread may run the first-step
    graph."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 32)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    per_thread = 15

    net_a, opt_a, step_a = _train_setup(backend)
    for _ in range(2 * per_thread + (2 if warm else 0)):
        step_a(x, y)

    net_b, opt_b, step_b = _train_setup(backend)
    if warm:
        step_b(x, y)
        step_b(x, y)
    losses = _run_threads(2, lambda i: [float(step_b(x, y)) for _ in range(per_thread)])
    for (name, a), b in zip(net_a.state_dict().items(), net_b.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    sa, sb = _opt_state(opt_a), _opt_state(opt_b)
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    assert all(np.isfinite(v) for run in losses for v in run)


def test_two_threads_compiling_different_graphs_at_once(tmp_path, monkeypatch):
    """LLVM work from two threads at once (each module has its own LLVM context; the JIT is
    shared under a lock): every function computes its own result."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))  # really compile, do not load
    x = np.linspace(-2, 2, 40, dtype=np.float32).reshape(4, 10)

    def work(i):
        bad = 0
        for j in range(12):
            c = 1.0 + (100 * i + j) / 512
            f = graphc.compile(lambda a, c=c: graphc.tanh(a * c).sum(1), backend="llvm")
            bad += not np.allclose(f(x), np.tanh(x * np.float32(c)).sum(1), rtol=1e-5)
        return bad
    assert _run_threads(2, work) == [0, 0]


def _bounds_graph(i: int):
    """A graph of many small unfused kernels (loops, reductions, a matmul, data movement),
    different for each i, and its inputs."""
    import passes
    from graphc.ir import Builder, Graph, tensor_type
    rng = np.random.default_rng(i)
    g = Graph(f"bounds{i}")
    b = Builder(g)
    m, n = 5 + 2 * i, 17 + 8 * i
    xa = rng.standard_normal((m, n)).astype(np.float32)
    wa = rng.standard_normal((n, 9)).astype(np.float32)
    x, w = g.add_input("x", tensor_type(xa.shape, "f32")), g.add_input("w", tensor_type(wa.shape,
                                                                                        "f32"))
    for k in range(6):
        mx = b.emit("max", x, axis=(1,), keepdims=True)
        e = b.emit("exp", b.emit("sub", x, mx))
        g.outputs.append(b.emit("div", e, b.emit("sum", e, axis=(1,), keepdims=True)))
        g.outputs.append(b.emit("transpose", b.emit("mul", x, 1.0 + k), perm=(1, 0)))
        g.outputs.append(b.emit("tanh", b.emit("matmul", x, w)))
        g.outputs.append(b.emit("argmax", x, axis=1))
    return passes.plan_memory(g), [xa, wa]


def test_two_threads_building_bounds_checked_kernels_at_once(monkeypatch):
    """GRAPHC_BOUNDS_CHECK=1: each build checks the pointers of the kernel it is emitting, not
    another thread's (the table was once one global dict, which a concurrent build cleared):
    builds from two threads at once give the same LLVM IR as each build alone, and results
    equal the interpreter's."""
    from graphc.backend.llvm import compile_graph
    from graphc.ir import interpreter
    monkeypatch.setenv("GRAPHC_BOUNDS_CHECK", "1")
    cases = [_bounds_graph(i) for i in range(2)]
    alone = [compile_graph(g).llvm_ir for g, _ in cases]
    assert all("store i32 2" in text for text in alone)  # the checks are there
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over often: the builds interleave finely
    try:
        exes = _run_threads(2, lambda i: [compile_graph(cases[i][0]) for _ in range(3)])
    finally:
        sys.setswitchinterval(switch)
    for (g, inputs), want_ir, runs in zip(cases, alone, exes):
        want, _ = interpreter.run(g, inputs, {})
        for exe in runs:
            assert exe.llvm_ir == want_ir, f"@{g.name}: a concurrent build lost or gained checks"
            for got, ref in zip(exe.run(inputs, []), want):
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


SMALL_STACK = r"""
import threading, numpy as np, graphc
a, b = np.ones((300, 8000), np.float32), np.ones((64, 8000), np.float32)
c = graphc.compile(lambda p, q: p @ q.T, backend="llvm")   # W^T panels: 8000 x 32 floats
out = {}
threading.stack_size(256 * 1024)
t = threading.Thread(target=lambda: out.update(r=c(a, b)))
t.start(); t.join()
assert out["r"].shape == (300, 64) and float(out["r"].min()) == float(out["r"].max()) == 8000.0
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_thread_with_a_small_stack_runs_large_matmuls(threads):
    """Packed panels live in the arena, not on the calling thread's stack (a 1 MB panel on a
    256 KB stack was a segfault)."""
    subprocess.run([sys.executable, "-c", SMALL_STACK], check=True, timeout=120,
                   env=dict(os.environ, GRAPHC_NUM_THREADS=threads))
