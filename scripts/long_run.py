"""Long runs for leaks: many compiles of different graphs, then many training steps, with RSS.

    python scripts/long_run.py                            # 1000 compiles + 100 000 steps (LLVM)
    python scripts/long_run.py --compiles 100 --steps 5000   # a quick look

Phase 1 compiles `--compiles` different inference graphs (a constant baked into each one makes
every LLVM module new; the disk cache is a fresh temporary directory, so each one really goes
through LLVM) and drops each compiled function after one call. Phase 2 trains the seed Net
(784-128-10 MLP, Adam, CrossEntropyLoss, batch 64) for `--steps` steps on random data. RSS is
read from /proc/self/status (VmRSS) before and after each phase and at checkpoints in between.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux: VmRSS in /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def compile_phase(n: int, report_every: int) -> list[tuple[int, float]]:
    """Compile and run `n` different small graphs; returns (count, RSS MiB) checkpoints."""
    import graphc

    x = np.linspace(-1, 1, 48, dtype=np.float32).reshape(4, 12)
    points = []
    for i in range(n):
        c = 1.0 + i / 1024  # baked in: a different graph (and LLVM module) every time

        def fn(a, c=c):
            return graphc.tanh(graphc.relu(a * c) - 0.5).sum(1) * c

        f = graphc.compile(fn, backend="llvm")
        out = f(x)
        want = (np.tanh(np.maximum(x * np.float32(c), 0) - np.float32(0.5)).sum(1)
                * np.float32(c))
        if not np.allclose(out, want, rtol=1e-5, atol=1e-5):
            raise AssertionError(f"compile {i}: wrong result {out} != {want}")
        del f, fn
        if (i + 1) % report_every == 0 or i + 1 == n:
            gc.collect()
            points.append((i + 1, rss_mib()))
    return points


def train_phase(steps: int, report_every: int) -> tuple[list[tuple[int, float]], float, float]:
    """Train the seed Net for `steps` steps; (checkpoints, first loss, last loss)."""
    import graphc
    from graphc import nn, optim

    graphc.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))

    net, criterion = Net(), nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend="llvm")
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    xs = rng.random((16, 64, 784), dtype=np.float32)  # 16 batches, reused round robin
    ys = rng.integers(0, 10, (16, 64))
    points, first, loss = [], None, None
    for i in range(steps):
        loss = float(train_step(xs[i % 16], ys[i % 16]))
        if first is None:
            first = loss
        if (i + 1) % report_every == 0 or i + 1 == steps:
            points.append((i + 1, rss_mib()))
    if not np.isfinite(loss):
        raise AssertionError(f"loss is {loss} after {steps} steps")
    return points, first, loss


def main(argv=None) -> int:
    """Run both phases and print RSS before, during and after each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compiles", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100_000)
    args = ap.parse_args(argv)
    os.environ.setdefault("GRAPHC_CACHE_DIR", tempfile.mkdtemp(prefix="graphc-long-run-"))
    import graphc  # noqa: F401  (imported before the first measurement: its cost is not a leak)
    from graphc.backend.llvm import pool
    pool.workers()
    start = rss_mib()
    print(f"RSS at start (graphc imported, thread pool up): {start:.1f} MiB", flush=True)

    t0 = time.perf_counter()
    pts = compile_phase(args.compiles, max(args.compiles // 10, 1))
    t1 = time.perf_counter()
    print(f"phase 1: {args.compiles} compiles of different graphs in {t1 - t0:.1f} s")
    for n, r in pts:
        print(f"  after {n:6d} compiles: RSS {r:7.1f} MiB")
    after_compiles = pts[-1][1] if pts else start
    first_tenth = pts[0][1] if pts else start
    print(f"  growth: {after_compiles - start:+.1f} MiB in total, "
          f"{after_compiles - first_tenth:+.1f} MiB after the first tenth", flush=True)

    t2 = time.perf_counter()
    pts, first, last = train_phase(args.steps, max(args.steps // 10, 1))
    t3 = time.perf_counter()
    print(f"phase 2: {args.steps} training steps (seed Net, Adam, batch 64) in {t3 - t2:.1f} s "
          f"({1e6 * (t3 - t2) / max(args.steps, 1):.0f} us/step); loss {first:.4f} -> {last:.4f}")
    for n, r in pts:
        print(f"  after {n:7d} steps:    RSS {r:7.1f} MiB")
    if pts:
        print(f"  growth: {pts[-1][1] - after_compiles:+.1f} MiB in total, "
              f"{pts[-1][1] - pts[0][1]:+.1f} MiB after the first tenth")
    print(f"RSS at end: {rss_mib():.1f} MiB (start {start:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
