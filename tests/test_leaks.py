"""Memory stays bounded: many compiles of different graphs and many training steps in one process.

RSS comes from /proc/self/status (VmRSS). The counts here are small; scripts/long_run.py runs
1000 compiles and 100 000 training steps and prints the numbers. Bounds are generous multiples
of what a healthy build grows by (measured: ~15 KB per compile, ~0 per step) and well below what
the leaks fixed here cost (~110 KB per compile).
"""
from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.backend.llvm import cache, target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from long_run import rss_mib

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _compile_many(n: int, offset: int) -> None:
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 12)
    for i in range(n):
        c = 1.0 + (offset + i) / 4096  # a new constant: a new graph and LLVM module each time
        f = graphc.compile(lambda a, c=c: graphc.tanh(a * c).sum(1), backend="llvm")
        np.testing.assert_allclose(f(x), np.tanh(x * np.float32(c)).sum(1), rtol=1e-5)


def test_optimising_modules_does_not_leak_pass_managers():
    """Regression: llvmlite 0.50 never frees a ModulePassManager (~55 KB per optimised module
    before target.optimize freed it itself)."""
    ir = "define double @f(double %x) {\n  %y = fmul double %x, %x\n  ret double %y\n}\n"
    for _ in range(30):
        target.optimize(ir)
    gc.collect()
    before = rss_mib()
    for _ in range(300):
        target.optimize(ir)
    gc.collect()
    assert rss_mib() - before < 4.0  # was ~16 MiB


def test_many_compiles_keep_rss_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    _compile_many(20, 0)
    gc.collect()
    before = rss_mib()
    _compile_many(120, 1000)
    gc.collect()
    grown = rss_mib() - before
    assert grown < 8.0, f"RSS grew {grown:.1f} MiB over 120 compiles"  # was ~13 MiB


def test_dropped_compiled_functions_are_freed():
    x = np.ones((2, 3), np.float32)
    f = graphc.compile(lambda a: a * 3.0 + 1.0, backend="llvm")
    f(x)
    refs = [weakref.ref(f), weakref.ref(f._last), weakref.ref(f._last.exe)]
    del f
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_in_memory_object_cache_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "MEMORY_BYTES", 3000)
    cache.clear_memory()
    try:
        for i in range(10):
            cache.put(f"{i:02d}" * 32, bytes([i]) * 1000)
        assert len(cache._memory) == 3 and cache._memory_bytes == 3000
        assert cache.get("09" * 32) == bytes([9]) * 1000
        assert cache.get("00" * 32) == bytes([0]) * 1000  # dropped from memory, read from disk
        assert len(cache._memory) == 3
    finally:
        cache.clear_memory()


def test_many_training_steps_keep_rss_bounded():
    graphc.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(784, 128), nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))

    net, criterion = Net(), nn.CrossEntropyLoss()
    opt = optim.Adam(net.parameters(), lr=1e-3)

    @graphc.compile(backend="llvm")
    def step(x, y):
        opt.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    xs, ys = rng.random((4, 64, 784), dtype=np.float32), rng.integers(0, 10, (4, 64))
    for i in range(300):
        step(xs[i % 4], ys[i % 4])
    gc.collect()
    before = rss_mib()
    for i in range(1500):
        loss = step(xs[i % 4], ys[i % 4])
    gc.collect()
    assert np.isfinite(loss)
    grown = rss_mib() - before
    assert grown < 4.0, f"RSS grew {grown:.1f} MiB over 1500 steps"
