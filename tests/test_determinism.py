"""Determinism: the same inputs give the same bits across calls, runs and thread counts; and how far
the LLVM backend's fast-math results are from NumPy's (the magnitudes the README quotes).

Thread counts are set with GRAPHC_NUM_THREADS in fresh subprocesses (the native pool is started
once per process). The oracle for "same" is the bytes of every result; for accuracy, float64.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc

SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    import graphc
    from graphc import nn, optim
    from graphc.backend.llvm import pool

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(784, 128), nn.Linear(128, 10)
        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))

    def run():
        graphc.manual_seed(0)
        net, crit = Net(), nn.CrossEntropyLoss()
        opt = optim.Adam(net.parameters(), lr=1e-3)
        @graphc.compile(backend="llvm")
        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss
        rng = np.random.default_rng(0)
        h = hashlib.sha256()
        for i in range(12):
            x = rng.random((64, 784), dtype=np.float32)
            h.update(np.asarray(step(x, rng.integers(0, 10, 64))).tobytes())
        for p in net.parameters():
            h.update(p.numpy().tobytes())
        big = rng.standard_normal((1024, 784)).astype(np.float32)  # split over the pool
        h.update(graphc.compile(net, backend="llvm")(big).tobytes())
        h.update(graphc.compile(lambda a: graphc.exp(a).sum(1), backend="llvm")(big).tobytes())
        return h.hexdigest()

    first, second = run(), run()
    print(json.dumps({"first": first, "second": second, "workers": pool.workers()}))
    """)


def _run(threads: int) -> dict:
    env = {**os.environ, "GRAPHC_NUM_THREADS": str(threads)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_same_bits_across_runs_and_thread_counts():
    one, two = _run(1), _run(2)
    assert one["workers"] == 0 and two["workers"] == 1
    assert one["first"] == one["second"], "two runs in one process differ"
    assert two["first"] == two["second"], "two runs in one process differ (2 threads)"
    assert one["first"] == two["first"], "1 thread and 2 threads differ"


def test_repeated_calls_give_the_same_bits():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((257, 300)).astype(np.float32)
    w = rng.standard_normal((300, 129)).astype(np.float32)
    f = graphc.compile(lambda a, b: graphc.softmax(graphc.tanh(a @ b), 1).sum(0), backend="llvm")
    first = f(x, w).tobytes()
    assert all(f(x, w).tobytes() == first for _ in range(5))
    g = graphc.compile(lambda a, b: graphc.softmax(graphc.tanh(a @ b), 1).sum(0), backend="llvm")
    assert g(x, w).tobytes() == first  # a second compile of the same function


# ---- fast math against NumPy ------------------------------------------------------------------
# Measured on the project's machine (AVX2 + libmvec), 1e5 float32 values; bounds are what the
# README documents. ulp = units in the last place of the float32 result, against float64.

def _ulps(got: np.ndarray, exact: np.ndarray) -> float:
    spacing = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - exact) / spacing))


RNG = np.random.default_rng(0)
WIDE = RNG.uniform(-10, 10, 100_000).astype(np.float32)
POS = RNG.uniform(1e-3, 100, 100_000).astype(np.float32)
UNARY = {  # name: (graphc function, inputs, float64 reference, max ulp for LLVM and for NumPy)
    "exp": (graphc.exp, WIDE, np.exp, 4),
    "log": (graphc.log, POS, np.log, 4),
    "tanh": (graphc.tanh, WIDE, np.tanh, 4),
    "sigmoid": (graphc.sigmoid, WIDE, lambda a: 1 / (1 + np.exp(-a)), 4),
    "sqrt": (graphc.sqrt, POS, np.sqrt, 0.5),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_transcendentals_within_a_few_ulp_of_float64_like_numpy(name):
    fn, x, ref, bound = UNARY[name]
    exact = ref(x.astype(np.float64))
    got = graphc.compile(fn, backend="llvm")(x)
    numpy_f32 = graphc.compile(fn, backend="interpreter")(x)
    assert _ulps(got, exact) <= bound
    assert _ulps(numpy_f32, exact) <= bound


def test_long_sums_differ_from_numpys_pairwise_sum_within_documented_bounds():
    """LLVM sums with vector accumulators in order (reassoc), NumPy pairwise: for n = 1e5 the
    native relative error is a few 1e-6 of the sum of |x| (NumPy's ~1e-7); both far below
    sqrt(n) * eps."""
    a = np.random.default_rng(2).standard_normal((16, 100_000)).astype(np.float32)
    exact = a.astype(np.float64).sum(1)
    scale = np.abs(a).astype(np.float64).sum(1)
    got = graphc.compile(lambda t: t.sum(1), backend="llvm")(a)
    err = np.max(np.abs(got - exact) / scale)
    assert err < 2e-6, err
    assert np.max(np.abs(a.sum(1) - exact) / scale) < 2e-7


def test_matmul_within_float32_rounding_of_float64():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 784)).astype(np.float32)
    b = rng.standard_normal((784, 128)).astype(np.float32)
    exact = a.astype(np.float64) @ b
    scale = np.abs(a).astype(np.float64) @ np.abs(b)
    got = graphc.compile(lambda p, q: p @ q, backend="llvm")(a, b)
    assert np.max(np.abs(got - exact) / scale) < 784 * np.finfo(np.float32).eps / 8



@pytest.mark.parametrize("value,want", [("1", 1), ("2", 2), ("0", None), ("-3", None),
                                        ("abc", None), ("", None)])
def test_thread_count_variable(monkeypatch, value, want):
    """GRAPHC_NUM_THREADS: a positive count is used as is; anything else means every core."""
    from graphc.backend.llvm import pool
    monkeypatch.setenv("GRAPHC_NUM_THREADS", value)
    assert pool.num_threads() == (want or os.cpu_count() or 1)
