"""torch.cumsum through the public API: eager, compiled on both backends, and trained through.

The op itself (shape rule, reference, gradient, native kernel) is covered by the registry-generated
suites (test_ops, test_autodiff, test_llvm); this checks what a PyTorch program does with it.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim

BACKENDS = ["llvm", "interpreter"]


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_eager_cumsum_matches_torch(dim):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    got = graphc.cumsum(graphc.tensor(x), dim).numpy()
    want = torch.cumsum(torch.tensor(x), dim).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(graphc.tensor(x).cumsum(dim).numpy(), got)


def test_integer_and_bool_cumsum_give_int64_as_torch():
    torch = pytest.importorskip("torch")
    for arr in (np.array([[1, 2], [3, 4]], np.int32), np.array([True, False, True])):
        got = graphc.cumsum(graphc.tensor(arr), 0)
        want = torch.cumsum(torch.tensor(arr), 0)
        assert got.dtype == graphc.int64 and str(want.dtype) == "torch.int64"
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    got = graphc.cumsum(graphc.tensor([1, 2, 3]), 0, dtype=graphc.float32)
    assert got.dtype == graphc.float32
    t = graphc.tensor([1.0, 2.0, 4.0])
    t.cumsum_(0)
    np.testing.assert_array_equal(t.numpy(), [1.0, 3.0, 7.0])


def test_long_float32_axis_accumulates_like_torch():
    # torch's CPU kernel sums float32 in float64: 10^5 values of 0.1 stay exact to float32
    torch = pytest.importorskip("torch")
    x = np.full(100_000, 0.1, np.float32)
    got = graphc.cumsum(graphc.tensor(x), 0).numpy()
    np.testing.assert_array_equal(got, torch.cumsum(torch.tensor(x), 0).numpy())


def test_out_of_range_dim_names_the_line():
    with pytest.raises(graphc.ShapeError, match="dim 2 is out of range.*test_cumsum.py"):
        graphc.cumsum(graphc.ones(3, 4), 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_cumsum_matches_eager(backend):
    x = np.random.default_rng(1).standard_normal((4, 3, 6)).astype(np.float32)
    f = graphc.compile(lambda t: graphc.cumsum(t, 1) * 2 + graphc.cumsum(t, -1), backend=backend)
    want = (graphc.cumsum(graphc.tensor(x), 1) * 2 + graphc.cumsum(graphc.tensor(x), -1)).numpy()
    np.testing.assert_array_equal(f(x), want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_through_cumsum_matches_torch(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((4, 6)).astype(np.float32) * 0.3
    xs = [rng.standard_normal((8, 6)).astype(np.float32) for _ in range(3)]

    lin = nn.Linear(6, 4, bias=False)
    lin.weight.data[...] = w0
    opt = optim.SGD(lin.parameters(), lr=0.1)

    @graphc.compile(backend=backend)
    def step(x):
        opt.zero_grad()
        loss = (graphc.cumsum(lin(x), 0) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1)
    for x in xs:
        loss = float(step(x))
        topt.zero_grad()
        tloss = (torch.cumsum(torch.tensor(x) @ tw.T, 0) ** 2).mean()
        tloss.backward()
        topt.step()
        assert loss == pytest.approx(tloss.item(), rel=2e-6)
    np.testing.assert_allclose(lin.weight.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
