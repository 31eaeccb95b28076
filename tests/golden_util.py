"""Helpers shared by test_passes.py and test_fusion.py: golden IR files, random inputs for a
graph, NaN-aware comparison of two graphs on the interpreter, and the seed MNIST train step.

Golden files live in tests/golden/: `<name>.in.ir` is written by hand, `<name>.out.ir` is the
expected text after one pass. `GRAPHC_BLESS=1 pytest tests/test_passes.py` rewrites the .out.ir
files from the current passes instead of comparing (review the diff before committing it).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphc.ir.interpreter import run
from graphc.ir import Graph, parse, print_graph, verify

GOLDEN = Path(__file__).parent / "golden"
BLESS = os.environ.get("GRAPHC_BLESS") == "1"


def golden_names(prefix: str = "") -> list[str]:
    """The golden cases (file stems without .in.ir) whose name starts with `prefix`."""
    return sorted(p.name[:-len(".in.ir")] for p in GOLDEN.glob(f"{prefix}*.in.ir"))


def read_golden_input(name: str) -> Graph:
    g = parse((GOLDEN / f"{name}.in.ir").read_text())
    return verify(g)


def check_golden_text(name: str, got: str) -> None:
    """Compare `got` with <name>.out.ir (or write it when GRAPHC_BLESS=1)."""
    path = GOLDEN / f"{name}.out.ir"
    if BLESS:
        path.write_text(got)
        return
    assert path.exists(), f"{path} is missing: run with GRAPHC_BLESS=1 to create it, then review it"
    want = path.read_text()
    if got != want:
        import difflib
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            fromfile=f"{name}.out.ir (expected)",
                                            tofile="pass output"))
        raise AssertionError(f"golden IR {name} differs (GRAPHC_BLESS=1 re-blesses):\n{diff}")


# ---- random inputs and NaN-aware comparison -----------------------------------------------------


def random_array(t, rng: np.random.Generator, int_high: int = 3) -> np.ndarray:
    """Standard normal floats, bools, or integers in [0, int_high) (valid class indices)."""
    dt = t.dtype.np
    if t.dtype.is_bool:
        return rng.random(t.shape) < 0.5
    if t.dtype.is_int:
        return rng.integers(0, int_high, t.shape).astype(dt)
    return rng.standard_normal(t.shape).astype(dt)


def random_args(g: Graph, rng: np.random.Generator, int_high: int = 3):
    """Random arrays for g's inputs and state: (inputs, state dict)."""
    inputs = [random_array(v.type, rng, int_high) for v in g.inputs]
    state = {k: random_array(v.type, rng, int_high) for k, v in g.state.items()}
    return inputs, state


def assert_close(want, got, rtol: float, atol: float = 0.0, what: str = "") -> None:
    """Same shape and dtype; NaNs and infinities (with sign) where the reference has them; the
    finite values within atol + rtol * |want|."""
    want, got = np.asarray(want), np.asarray(got)
    assert want.shape == got.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert want.dtype == got.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind != "f":
        assert np.array_equal(want, got), f"{what}: values differ\n{want}\n{got}"
        return
    nan_w, nan_g = np.isnan(want), np.isnan(got)
    assert np.array_equal(nan_w, nan_g), f"{what}: NaNs differ\nwant {want}\ngot  {got}"
    inf_w = np.isinf(want)
    assert np.array_equal(inf_w, np.isinf(got)) and np.array_equal(want[inf_w], got[inf_w]), \
        f"{what}: infinities differ\nwant {want}\ngot  {got}"
    fin = ~(nan_w | inf_w)
    w64, g64 = want[fin].astype(np.float64), got[fin].astype(np.float64)
    bad = np.abs(w64 - g64) > atol + rtol * np.abs(w64)
    assert not bad.any(), (f"{what}: {int(bad.sum())} values differ beyond rtol={rtol}: "
                           f"want {w64[bad][:5]} got {g64[bad][:5]}")


def assert_same_results(before: Graph, after: Graph, inputs, state=None, rtol: float = 1e-6,
                        atol: float = 0.0) -> None:
    """Both graphs on the interpreter: the same outputs and the same state updates."""
    o1, u1 = run(before, inputs, state)
    o2, u2 = run(after, inputs, state)
    assert len(o1) == len(o2), f"{len(o2)} outputs, expected {len(o1)}"
    assert u1.keys() == u2.keys(), f"updates {sorted(u2)} != {sorted(u1)}"
    for j, (a, b) in enumerate(zip(o1, o2)):
        assert_close(a, b, rtol, atol, f"output {j}")
    for k in u1:
        assert_close(u1[k], u2[k], rtol, atol, f"update %{k}")


def roundtrip(g: Graph) -> Graph:
    """print -> parse -> print gives the same text; the parsed graph verifies."""
    text = print_graph(g)
    g2 = parse(text)
    assert print_graph(g2) == text, "print(parse(print(g))) != print(g)"
    return verify(g2)


# ---- the seed train step ------------------------------------------------------------------------


def make_seed_step(passes=None, seed: int = 0):
    """The seed MNIST step (784-128-10, CrossEntropyLoss, Adam lr=1e-3): (step, net, opt)."""
    import graphc
    from graphc import nn, optim

    graphc.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(graphc.relu(self.fc1(x)))

    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=0.001)

    @graphc.compile(backend="interpreter", passes=passes)
    def train_step(data, target):
        optimizer.zero_grad()
        loss = criterion(net(data), target)
        loss.backward()
        optimizer.step()
        return loss

    return train_step, net, optimizer


def seed_batch(i: int = 0):
    rng = np.random.default_rng(1000 + i)
    return rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
