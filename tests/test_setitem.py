"""Item and slice assignment (`x[:, 0] = v`), `p.data` as a Tensor, and torch's tensor printing."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn

INDICES = [(slice(None), 0), 1, (0, slice(1, 3)), (Ellipsis, -1), (slice(None, None, 2), 1),
           (None, 2), (slice(2, 2),)]


def _program(lib, index, value):
    x = lib.arange(12, dtype=lib.float32).reshape(3, 4)
    x[index] = value
    return x


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_eager_assignment_matches_torch(index):
    torch = pytest.importorskip("torch")
    for value in (5.0, -1.5, 2):
        want = _program(torch, index, value).numpy()
        np.testing.assert_array_equal(_program(graphc, index, value).numpy(), want)
    row = np.array([9.0, 8.0, 7.0, 6.0], np.float32)
    np.testing.assert_array_equal(_program(graphc, 1, graphc.tensor(row)).numpy(),
                                  _program(torch, 1, torch.tensor(row)).numpy())


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_compiled_assignment_matches_eager(backend):
    def f(x, v):
        y = x * 2
        y[:, 0] = v
        y[1, 1:3] = -1.0
        return y
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    v = np.array([10.0, 20.0, 30.0], np.float32)
    want = f(graphc.tensor(x), graphc.tensor(v)).numpy()
    np.testing.assert_array_equal(graphc.compile(f, backend=backend)(x, v), want)


def test_gradient_flows_around_and_through_an_assignment_as_in_torch():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (torch, graphc):
        w = lib.ones(4, requires_grad=True)
        v = lib.full((2,), 3.0, requires_grad=True)
        y = w * 2
        y[1:3] = v * v
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        grads.append((np.asarray(w.grad.numpy()), np.asarray(v.grad.numpy())))
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_assigning_the_wrong_shape_names_it():
    x = graphc.zeros(3, 4)
    with pytest.raises(graphc.ShapeError, match=r"shape \[2\].*test_setitem.py"):
        x[:, 0] = graphc.ones(2)


def test_parameter_data_is_a_tensor_sharing_the_parameter():
    lin = nn.Linear(3, 2)
    d = lin.weight.data
    assert isinstance(d, graphc.Tensor) and not d.requires_grad
    assert d.view(-1).size(0) == 6
    d.mul_(0.0)
    lin.weight.data[0] = 1.0
    np.testing.assert_array_equal(lin.weight.numpy(), [[1, 1, 1], [0, 0, 0]])
    sd = lin.state_dict()
    assert isinstance(sd["weight"], graphc.Tensor)
    assert np.shares_memory(np.asarray(sd["weight"]), lin.weight.numpy())


def test_tensors_print_as_torch():
    torch = pytest.importorskip("torch")
    for make in (lambda L: L.tensor([1.0, 2.0]), lambda L: L.tensor([1, 2]),
                 lambda L: L.tensor(True), lambda L: L.ones(2, requires_grad=True)):
        assert repr(make(graphc)) == repr(make(torch))
    assert repr(graphc.tensor([1.0], dtype=graphc.float64)) == "tensor([1.], dtype=graphc.float64)"


@pytest.mark.parametrize("backend", [None, "llvm", "interpreter"])
def test_where_with_a_python_float_beside_int_tensors_is_float32_as_torch(backend):
    m = np.array([True, False, True])
    x = np.array([1, 2, 3])
    if backend is None:
        got = graphc.where(graphc.tensor(m), graphc.tensor(x), 2.7)
        assert got.dtype == graphc.float32
        got = got.numpy()
    else:
        got = graphc.compile(lambda c, t: graphc.where(c, t, 2.7), backend=backend)(m, x)
    np.testing.assert_array_equal(got, np.array([1.0, 2.7, 3.0], np.float32))
