"""Eager overhead: µs per small op, and the seed MLP's eager training step against the same step
compiled for the interpreter and for LLVM (best of several rounds; noisy shared VMs: read ratios).

    python scripts/eager_bench.py
"""
from __future__ import annotations

import timeit

import numpy as np

import graphc
from graphc import nn, optim


def per_call_us(fn, number=2000, repeat=5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    a, b = graphc.ones(3), graphc.ones(3)
    x, w = graphc.ones(2, 3), graphc.ones(3, 4)
    wg = graphc.ones(3, 4, requires_grad=True)
    for name, fn in [("a + b", lambda: a + b), ("a * 2.0", lambda: a * 2.0),
                     ("x @ w", lambda: x @ w), ("relu(a) (2 ops)", lambda: graphc.relu(a)),
                     ("x @ w, w requires grad", lambda: x @ wg)]:
        print(f"eager {name:24s} {per_call_us(fn):7.2f} us")

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64)
    for mode in ("eager", "interpreter", "llvm"):
        graphc.manual_seed(0)
        net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = optim.Adam(net.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def step(xb, yb):
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            return loss
        f = step if mode == "eager" else graphc.compile(step, backend=mode)
        X, Y = graphc.tensor(xs), graphc.tensor(ys)
        for _ in range(3):
            f(X, Y)
        print(f"seed step b64 {mode:12s} {per_call_us(lambda: f(X, Y), number=20):9.1f} us")


if __name__ == "__main__":
    main()
