"""Eager graphc.Tensor vs NumPy (always) and PyTorch (where installed)."""
import math

import numpy as np
import pytest

import graphc
from graphc import nn

RNG = np.random.default_rng(1234)


def f32(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def check(got, want, tol=1e-6):
    """`got` (a graphc Tensor) equals `want` (ndarray) in shape, dtype and value."""
    assert isinstance(got, graphc.Tensor), type(got)
    g = got.numpy()
    want = np.asarray(want)
    assert g.shape == want.shape, (g.shape, want.shape)
    assert g.dtype == want.dtype, (g.dtype, want.dtype)
    if g.dtype.kind == "f":
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(g, want)


# ---- operators vs NumPy --------------------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4))])
def test_binary_operators_match_numpy(name, shapes):
    a, b = f32(*shapes[0]), f32(*shapes[1], low=0.5, high=2.0)
    fn = BINARY[name]
    check(fn(graphc.tensor(a), graphc.tensor(b)), fn(a, b))


def test_pow_neg_and_matmul_operators():
    a, b = f32(3, 4, low=0.1, high=2.0), f32(4, 5)
    ta, tb = graphc.tensor(a), graphc.tensor(b)
    check(ta ** 2, a ** 2)
    check(ta ** 0.5, a ** np.float32(0.5))
    check(ta ** graphc.tensor(a), a ** a, tol=1e-5)
    check(-ta, -a)
    check(ta @ tb, a @ b, tol=1e-5)
    check(abs(graphc.tensor(b)), np.abs(b))


@pytest.mark.parametrize("name", list(BINARY))
def test_reflected_operators_with_python_scalars(name):
    a = f32(3, 4, low=0.5, high=2.0)
    fn = BINARY[name]
    t = graphc.tensor(a)
    check(fn(t, 3), fn(a, np.float32(3)))
    check(fn(3, t), fn(np.float32(3), a))
    check(fn(2.5, t), fn(np.float32(2.5), a))
    check(fn(t, 2.5), fn(a, np.float32(2.5)))


@pytest.mark.parametrize("name", list(BINARY) + ["matmul"])
def test_reflected_operators_with_ndarrays(name):
    a, b = f32(3, 3, low=0.5, high=2.0), f32(3, 3, low=0.5, high=2.0)
    fn = BINARY.get(name, lambda x, y: x @ y)
    got = fn(a, graphc.tensor(b))             # ndarray <op> Tensor -> Tensor.__rop__
    assert isinstance(got, graphc.Tensor)
    check(got, fn(a, b), tol=1e-5)
    check(fn(graphc.tensor(a), b), fn(a, b), tol=1e-5)


def test_rpow_with_scalar_base():
    a = f32(5)
    check(2 ** graphc.tensor(a), np.float32(2) ** a, tol=1e-6)


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_match_numpy(op):
    a = RNG.integers(0, 3, (4, 5)).astype(np.float32)
    b = RNG.integers(0, 3, (4, 5)).astype(np.float32)
    fn = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal}[op]
    ta = graphc.tensor(a)
    pyop = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__",
            "ge": "__ge__"}[op]
    check(getattr(ta, pyop)(graphc.tensor(b)), fn(a, b))
    check(getattr(ta, pyop)(1), fn(a, 1))
    check(getattr(ta, pyop)(b), fn(a, b))


def test_logical_operators_on_comparisons():
    a = f32(10)
    t = graphc.tensor(a)
    check((t > -0.5) & (t < 0.5), (a > -0.5) & (a < 0.5))
    check((t < -0.5) | (t > 0.5), (a < -0.5) | (a > 0.5))
    check(~(t > 0), ~(a > 0))


# ---- slicing vs NumPy ----------------------------------------------------------------------------

SLICES = [
    0, -1, (1, 2), (-2, -3, 1),
    slice(1, None), slice(None, None, 2), slice(-3, None), (slice(None), slice(1, 5, 2)),
    (slice(None), slice(None), slice(None, None, 3)), (Ellipsis, 1),
    (Ellipsis, slice(None, None, 2)),
    (0, Ellipsis), (0, Ellipsis, None, 1), None, (None, 1), (slice(None), None, slice(2, 4)),
    (Ellipsis,), (1, slice(0, 0)), (slice(10, 20),), (-1, -1, -1), (1, slice(None), None),
    (slice(1, 3), Ellipsis, slice(None, 2)),
]


@pytest.mark.parametrize("index", SLICES, ids=[repr(s) for s in SLICES])
def test_basic_slicing_matches_numpy(index):
    a = np.arange(3 * 5 * 6, dtype=np.float32).reshape(3, 5, 6)
    check(graphc.tensor(a)[index], a[index])


def test_int_slicing_keeps_integer_dtype():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    check(graphc.tensor(a)[1:, ::3], a[1:, ::3])


def test_iteration_and_len_follow_first_axis():
    a = f32(3, 2)
    t = graphc.tensor(a)
    assert len(t) == 3
    for row, want in zip(t, a):
        check(row, want)


# ---- methods and functions vs PyTorch ------------------------------------------------------------

UNARY_METHODS = ["relu", "sigmoid", "tanh", "exp", "abs", "neg", "square"]


@pytest.mark.parametrize("name", UNARY_METHODS + ["log", "sqrt"])
def test_unary_methods_match_torch(name):
    torch = pytest.importorskip("torch")
    a = f32(4, 5, low=0.1, high=3.0) if name in ("log", "sqrt") else f32(4, 5)
    want = getattr(torch.from_numpy(a), name)().numpy()
    check(getattr(graphc.tensor(a), name)(), want)
    check(getattr(graphc, name)(graphc.tensor(a)), want)   # graphc.relu(x), graphc.log(x), ...
    check(getattr(graphc, name)(a), want)                  # ... also on a plain ndarray


def test_relu_of_nan_and_negative_zero_like_torch():
    torch = pytest.importorskip("torch")
    a = np.array([np.nan, -0.0, 0.0, -1.0, 2.0], np.float32)
    got = graphc.relu(graphc.tensor(a)).numpy()
    want = torch.relu(torch.from_numpy(a)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[1:], want[1:])


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False),
                                         ((0, 2), False), ((0, 2), True)])
def test_reductions_match_torch(name, dim, keepdim):
    torch = pytest.importorskip("torch")
    a = f32(3, 4, 5)
    ta = torch.from_numpy(a)
    if dim is None:
        want = getattr(ta, name)()
        got = getattr(graphc.tensor(a), name)()
    else:
        want = getattr(ta, name)(dim=dim, keepdim=keepdim)
        got = getattr(graphc.tensor(a), name)(dim=dim, keepdim=keepdim)
    check(got, want.numpy(), tol=1e-5)


def test_sum_of_int_tensor_is_int64_like_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    check(graphc.tensor(a).sum(1), torch.from_numpy(a).sum(1).numpy())
    check(graphc.tensor(a).mean(), np.float32(a.mean()))


@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
def test_max_with_dim_returns_values_and_indices(dim, keepdim):
    torch = pytest.importorskip("torch")
    a = RNG.permutation(24).astype(np.float32).reshape(2, 3, 4)   # no ties
    tv, ti = torch.from_numpy(a).max(dim, keepdim=keepdim)
    gv, gi = graphc.tensor(a).max(dim, keepdim=keepdim)
    check(gv, tv.numpy())
    check(gi, ti.numpy())
    mv, mi = graphc.tensor(a).min(dim, keepdim=keepdim)
    tmv, tmi = torch.from_numpy(a).min(dim, keepdim=keepdim)
    check(mv, tmv.numpy())
    check(mi, tmi.numpy())
    check(graphc.tensor(a).argmax(dim, keepdim=keepdim),
          torch.from_numpy(a).argmax(dim, keepdim=keepdim).numpy())
    check(graphc.tensor(a).argmin(dim=dim), torch.from_numpy(a).argmin(dim=dim).numpy())


def test_max_and_argmax_without_dim():
    torch = pytest.importorskip("torch")
    a = RNG.permutation(12).astype(np.float32).reshape(3, 4)
    check(graphc.tensor(a).max(), torch.from_numpy(a).max().numpy())
    check(graphc.tensor(a).argmax(), torch.from_numpy(a).argmax().numpy())
    check(graphc.argmax(graphc.tensor(a)), np.int64(np.argmax(a)))
    check(graphc.max(graphc.tensor(a), graphc.tensor(a.T.copy().T - 1)), a)  # max(a, b) = maximum


@pytest.mark.parametrize("shape", [(4, -1), (-1,), (2, -1, 3), (24,), (1, 24, 1)])
def test_reshape_and_view_with_minus_one(shape):
    torch = pytest.importorskip("torch")
    a = f32(2, 3, 4)
    want = torch.from_numpy(a).reshape(shape).numpy()
    check(graphc.tensor(a).reshape(shape), want)
    check(graphc.tensor(a).reshape(*shape), want)
    check(graphc.tensor(a).view(*shape), want)


def test_shape_methods_match_torch():
    torch = pytest.importorskip("torch")
    a = f32(2, 3, 4)
    t, ta = graphc.tensor(a), torch.from_numpy(a)
    check(t.transpose(0, 2), ta.transpose(0, 2).numpy())
    check(t.transpose(-1, -2), ta.transpose(-1, -2).numpy())
    check(t.permute(2, 0, 1), ta.permute(2, 0, 1).numpy())
    check(t.permute((1, 2, 0)), ta.permute((1, 2, 0)).numpy())
    check(graphc.tensor(a[0]).T, ta[0].T.numpy())
    check(t.unsqueeze(0), ta.unsqueeze(0).numpy())
    check(t.unsqueeze(-1), ta.unsqueeze(-1).numpy())
    check(t.unsqueeze(1), ta.unsqueeze(1).numpy())
    b = f32(1, 3, 1, 4)
    check(graphc.tensor(b).squeeze(), torch.from_numpy(b).squeeze().numpy())
    check(graphc.tensor(b).squeeze(2), torch.from_numpy(b).squeeze(2).numpy())
    check(graphc.tensor(b).squeeze(1), torch.from_numpy(b).squeeze(1).numpy())  # size 3: no-op
    check(t.flatten(), ta.flatten().numpy())
    check(t.flatten(1), ta.flatten(1).numpy())
    check(t.flatten(0, 1), ta.flatten(0, 1).numpy())
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_match_torch(dim):
    torch = pytest.importorskip("torch")
    a = f32(3, 4, 5, low=-10, high=10)
    ta = torch.from_numpy(a)
    check(graphc.tensor(a).softmax(dim), ta.softmax(dim).numpy())
    check(graphc.tensor(a).log_softmax(dim), ta.log_softmax(dim).numpy(), tol=1e-5)
    check(graphc.softmax(a, dim), ta.softmax(dim).numpy())
    check(graphc.log_softmax(a, dim=dim), ta.log_softmax(dim).numpy(), tol=1e-5)


def test_softmax_is_stable_for_large_logits():
    torch = pytest.importorskip("torch")
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    check(graphc.tensor(a).softmax(-1), torch.from_numpy(a).softmax(-1).numpy())
    check(graphc.tensor(a).log_softmax(-1), torch.from_numpy(a).log_softmax(-1).numpy())


def test_float_and_long_casts_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([-2.7, -0.5, 0.0, 0.5, 2.7], np.float32)
    check(graphc.tensor(a).long(), torch.from_numpy(a).long().numpy())     # truncates toward 0
    i = np.arange(5, dtype=np.int64)
    check(graphc.tensor(i).float(), torch.from_numpy(i).float().numpy())
    assert graphc.tensor(i).float().dtype is graphc.float32
    assert graphc.tensor(a).long().dtype is graphc.int64


# ---- top-level functions -------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((3, 4), (4, 5)),
                                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,))])
def test_matmul_matches_numpy_and_torch(sa, sb):
    a, b = f32(*sa), f32(*sb)
    want = np.matmul(a, b)
    check(graphc.matmul(graphc.tensor(a), graphc.tensor(b)), want, tol=1e-5)
    check(graphc.matmul(a, b), want, tol=1e-5)
    torch = pytest.importorskip("torch")
    check(graphc.tensor(a) @ graphc.tensor(b),
          torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy(), tol=1e-5)


def test_maximum_and_where_match_torch():
    torch = pytest.importorskip("torch")
    a, b = f32(3, 4), f32(4)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    check(graphc.maximum(graphc.tensor(a), graphc.tensor(b)), torch.maximum(ta, tb).numpy())
    check(graphc.where(graphc.tensor(a) > 0, graphc.tensor(a), graphc.tensor(b)),
          torch.where(ta > 0, ta, tb).numpy())
    check(graphc.where(graphc.tensor(a) > 0, graphc.tensor(a), 0.0),
          torch.where(ta > 0, ta, 0.0).numpy())


def test_creation_functions_match_torch():
    torch = pytest.importorskip("torch")
    check(graphc.zeros(2, 3), torch.zeros(2, 3).numpy())
    check(graphc.zeros((2, 3)), torch.zeros((2, 3)).numpy())
    check(graphc.ones(4), torch.ones(4).numpy())
    check(graphc.ones(2, 2, dtype=graphc.int64), torch.ones(2, 2, dtype=torch.int64).numpy())
    check(graphc.full((2, 3), 1.5), torch.full((2, 3), 1.5).numpy())
    check(graphc.full((2,), 7), torch.full((2,), 7).numpy())
    i = np.arange(6, dtype=np.int64).reshape(2, 3)
    a = f32(2, 3)
    check(graphc.zeros_like(graphc.tensor(a)), torch.zeros_like(torch.from_numpy(a)).numpy())
    check(graphc.ones_like(graphc.tensor(i)), torch.ones_like(torch.from_numpy(i)).numpy())
    check(graphc.arange(5), torch.arange(5).numpy())
    check(graphc.arange(2, 11, 3), torch.arange(2, 11, 3).numpy())
    check(graphc.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25).numpy())


# ---- dtypes and weak typing of Python scalars ----------------------------------------------------

def test_dtypes_exist():
    assert graphc.float32.np == np.float32
    assert graphc.int64.np == np.int64
    assert graphc.float is graphc.float32 and graphc.long is graphc.int64
    assert repr(graphc.qint8) == "graphc.qint8"
    assert graphc.tensor([1.5]).dtype is graphc.float32       # Python floats default to f32
    assert graphc.tensor([1, 2]).dtype is graphc.int64
    assert graphc.tensor(np.zeros(2)).dtype is graphc.float64  # an f64 array keeps its dtype


def test_python_scalar_keeps_float32():
    t = graphc.tensor(np.ones(3, np.float32))
    for r in (t * 2, 2 * t, t + 2.5, t / 3, 1.0 - t, t * np.float64(2.0)):
        assert r.dtype is graphc.float32


def test_int_tensor_times_int_scalar_stays_int64():
    t = graphc.tensor(np.arange(3))
    assert (t * 2).dtype is graphc.int64
    assert (t + 1).dtype is graphc.int64
    check(t * 2, np.arange(3) * 2)


def test_int_tensor_times_float_scalar_is_float32_like_torch():
    t = graphc.tensor(np.arange(3))
    r = t * 2.5
    assert r.dtype is graphc.float32
    check(r, np.arange(3).astype(np.float32) * np.float32(2.5))


def test_int_division_gives_float32_like_torch():
    torch = pytest.importorskip("torch")
    a, b = np.array([1, 7, -7]), np.array([2, 2, 2])
    got = graphc.tensor(a) / graphc.tensor(b)
    want = torch.from_numpy(a) / torch.from_numpy(b)
    assert want.dtype == torch.float32
    check(got, want.numpy())
    check(graphc.tensor(a) / 2, (torch.from_numpy(a) / 2).numpy())


# ---- parameter initialisation --------------------------------------------------------------------

def test_manual_seed_makes_linear_init_reproducible():
    graphc.manual_seed(0)
    a = nn.Linear(20, 30)
    graphc.manual_seed(0)
    b = nn.Linear(20, 30)
    c = nn.Linear(20, 30)          # the generator moved on: different values
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    graphc.manual_seed(1)
    d = nn.Linear(20, 30)
    assert not np.array_equal(a.weight.data, d.weight.data)


@pytest.mark.parametrize("fan_in", [3, 100, 784])
def test_linear_init_bounds_are_one_over_sqrt_fan_in(fan_in):
    graphc.manual_seed(7)
    layer = nn.Linear(fan_in, 200)
    bound = 1.0 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (200, fan_in) and b.shape == (200,)
    assert w.dtype == np.float32 and b.dtype == np.float32
    for p in (w, b):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound       # uniform over the whole range, not narrower
    # U(-b, b) has variance b^2/3
    assert abs(w.var() - bound ** 2 / 3) < 0.1 * bound ** 2 / 3


def test_one_element_tensors_convert_to_python_scalars_as_torch():
    """int/float/bool/index of any one-element tensor (torch allows (1,), (1, 1), ...); more
    elements is an error naming the shape."""
    import operator
    assert int(graphc.tensor([[3]])) == 3 and float(graphc.tensor([2.5])) == 2.5
    assert bool(graphc.tensor([1])) and operator.index(graphc.tensor([4])) == 4
    for f in (int, float, bool):
        with pytest.raises(graphc.GraphcError, match=r"\[2\]"):
            f(graphc.tensor([1, 2]))
    with pytest.raises(graphc.GraphcError, match="no values"):
        bool(graphc.tensor([]))
