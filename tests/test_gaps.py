"""torch names real programs use that graphc lacked: the axis=/keepdims= aliases (graphc/aliases.py),
F.one_hot's num_classes=-1, finfo/iinfo, the legacy tensor types, unique/unique_consecutive,
Tensor.multinomial and Tensor.retain_grad (graphc/misc_ops.py); each against torch."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc
import graphc.nn.functional as GF
from graphc import aliases

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


def _np(v):
    if isinstance(v, (tuple, list)):
        return [_np(u) for u in v]
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return v.numpy() if isinstance(v, graphc.Tensor) else np.asarray(v)


def _same(g, t, rtol=1e-6):
    g, t = _np(g), _np(t)
    if isinstance(t, list):
        assert len(g) == len(t)
        for a, b in zip(g, t):
            _same(a, b, rtol)
        return
    assert g.shape == t.shape and g.dtype == t.dtype, (g.shape, g.dtype, t.shape, t.dtype)
    np.testing.assert_allclose(g, t, rtol=rtol, atol=1e-6)


# ---- axis= / keepdims= ---------------------------------------------------------------------------

def test_aliases_only_where_torch_has_them():
    """A name is wrapped iff torch's version is native (its parser takes axis=/keepdims=)."""
    for name in aliases.WRAPPED["graphc"]:
        assert not inspect.isfunction(getattr(torch, name)), name
    for name in aliases.WRAPPED["graphc.linalg"]:
        assert not inspect.isfunction(getattr(torch.linalg, name)), name
    for name in aliases.WRAPPED["Tensor"]:
        assert not inspect.isfunction(getattr(torch.Tensor, name)), name
    for name in aliases.PYTHON_IN_TORCH:
        assert inspect.isfunction(getattr(torch, name)), name
    for name in aliases.PYTHON_IN_TORCH_METHODS:
        assert inspect.isfunction(getattr(torch.Tensor, name)), name
    assert {"sum", "mean", "amax", "std", "var", "prod", "logsumexp", "all", "any", "median",
            "nansum", "argmax", "max", "min", "cumsum", "softmax"} <= set(aliases.WRAPPED["Tensor"])


CALLS = {
    "sum": lambda m, x: m.sum(x, axis=1, keepdims=True),
    "mean": lambda m, x: x.mean(axis=0, keepdims=True),
    "amax": lambda m, x: x.amax(axis=1, keepdims=True),
    "amin": lambda m, x: m.amin(x, axis=(0, 1)),
    "argmax": lambda m, x: x.argmax(axis=1, keepdims=True),
    "argmin": lambda m, x: m.argmin(x, axis=0),
    "max": lambda m, x: tuple(x.max(axis=1, keepdims=True)),
    "min": lambda m, x: tuple(m.min(x, axis=0)),
    "std": lambda m, x: x.std(axis=0, keepdims=True),
    "var": lambda m, x: m.var(x, 1, keepdims=True),
    "prod": lambda m, x: x.prod(axis=1, keepdims=True),
    "logsumexp": lambda m, x: x.logsumexp(axis=1, keepdims=True),
    "all": lambda m, x: (x > -1).all(axis=1, keepdims=True),
    "any": lambda m, x: m.any(x > 1, axis=0),
    "nansum": lambda m, x: x.nansum(axis=1, keepdims=True),
    "cumsum": lambda m, x: x.cumsum(axis=1),
    "softmax": lambda m, x: x.softmax(axis=1),
    "log_softmax": lambda m, x: m.log_softmax(x, axis=0),
    "cat": lambda m, x: m.cat([x, x], axis=1),
    "unsqueeze": lambda m, x: x.unsqueeze(axis=0),
    "vector_norm": lambda m, x: m.linalg.vector_norm(x, axis=1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_alias_values(name):
    call = CALLS[name]
    want = call(torch, torch.tensor(X))
    _same(call(graphc, graphc.tensor(X)), want, rtol=1e-5)
    _same(graphc.compile(lambda x: call(graphc, x))(graphc.tensor(X)), want, rtol=1e-5)


def test_median_alias():
    vals, idx = graphc.tensor(X).median(axis=1, keepdims=True)
    t = torch.tensor(X).median(axis=1, keepdims=True)
    _same(vals, t.values)
    _same(idx, t.indices)


def test_alias_errors():
    x, t = graphc.tensor(X), torch.tensor(X)
    for call in (lambda m, a: m.sum(a, dim=1, axis=1), lambda m, a: a.sum(1, axis=1),
                 lambda m, a: a.amax(1, keepdim=True, keepdims=True)):
        with pytest.raises(TypeError):
            call(torch, t)
        with pytest.raises(graphc.InputError, match="alias"):
            call(graphc, x)
    for call in (lambda m, a: a.sum(1, foo=1), lambda m, a: m.split(a, 2, axis=1),
                 lambda m, a: a.norm(dim=1, keepdims=True), lambda m, a: m.unique(a, axis=0)):
        with pytest.raises(TypeError):
            call(torch, t)
        with pytest.raises(TypeError):
            call(graphc, x)
    with pytest.raises(TypeError):
        torch.nn.functional.softmax(t, axis=1)
    with pytest.raises(TypeError):
        GF.softmax(x, axis=1)


def test_alias_in_place_method():
    idx = np.zeros((3, 1), np.int64)
    g = graphc.tensor(X).scatter_(axis=1, index=graphc.tensor(idx), value=2.0)
    t = torch.tensor(X).scatter_(axis=1, index=torch.tensor(idx), value=2.0)
    _same(g, t)


# ---- one_hot -------------------------------------------------------------------------------------

def test_one_hot_infers_classes():
    y = np.array([[0, 3], [2, 1]])
    _same(GF.one_hot(graphc.tensor(y)), torch.nn.functional.one_hot(torch.tensor(y)))
    _same(graphc.one_hot(graphc.tensor(y), -1), torch.nn.functional.one_hot(torch.tensor(y), -1))
    with pytest.raises(RuntimeError):
        torch.nn.functional.one_hot(torch.tensor([], dtype=torch.long))
    with pytest.raises(graphc.ShapeError, match="empty"):
        GF.one_hot(graphc.tensor(np.zeros(0, np.int64)))
    f = graphc.compile(lambda y: GF.one_hot(y).sum())
    with pytest.raises(graphc.TraceError, match="num_classes="):
        f(graphc.tensor(y))
    _same(graphc.compile(lambda y: GF.one_hot(y, num_classes=5))(graphc.tensor(y)),
          torch.nn.functional.one_hot(torch.tensor(y), num_classes=5))


# ---- finfo / iinfo ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["float32", "float64"])
def test_finfo(name):
    g, t = graphc.finfo(getattr(graphc, name)), torch.finfo(getattr(torch, name))
    for a in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(g, a) == getattr(t, a) and type(getattr(g, a)) is type(getattr(t, a)), a
    assert repr(g) == repr(t)
    assert graphc.finfo().dtype == torch.finfo().dtype == "float32"


@pytest.mark.parametrize("name", ["int64", "int32", "int8", "uint8"])
def test_iinfo(name):
    g, t = graphc.iinfo(getattr(graphc, name)), torch.iinfo(getattr(torch, name))
    for a in ("bits", "max", "min", "dtype"):
        assert getattr(g, a) == getattr(t, a) and type(getattr(g, a)) is type(getattr(t, a)), a
    assert repr(g) == repr(t)


def test_info_errors():
    for bad in (lambda m: m.finfo(m.int32), lambda m: m.iinfo(m.float32),
                lambda m: m.iinfo(m.bool)):
        with pytest.raises(TypeError):
            bad(torch)
        with pytest.raises(graphc.InputError):
            bad(graphc)


# ---- legacy tensor types -------------------------------------------------------------------------

LEGACY = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_types(name):
    G, T = getattr(graphc, name), getattr(torch, name)
    data = [[1.7, 0.0], [-2.5, 3.0]] if name not in ("ByteTensor",) else [[1, 0], [2, 3]]
    _same(G(data), T(data))
    assert G(2, 3).shape == tuple(T(2, 3).shape)
    assert G(2, 3).dtype.torch_name == str(T(2, 3).dtype).split(".")[1]
    _same(G(), T())
    for other in LEGACY:
        assert isinstance(G([1]), getattr(graphc, other)) == isinstance(T([1]),
                                                                         getattr(torch, other))
    assert G.dtype.torch_name == str(T.dtype).split(".")[1]


def test_legacy_types_errors():
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.tensor([1, 2]))
    with pytest.raises(graphc.InputError):
        graphc.FloatTensor(graphc.tensor([1, 2]))
    x = graphc.tensor([1.0, 2.0])
    assert graphc.FloatTensor(x) is x
    with pytest.raises(TypeError):
        torch.FloatTensor(2.5)
    with pytest.raises(graphc.InputError):
        graphc.FloatTensor(2.5)
    with pytest.raises(RuntimeError):
        torch.LongTensor(2, -1)
    with pytest.raises(graphc.ShapeError):
        graphc.LongTensor(2, -1)
    with pytest.raises(RuntimeError):
        torch.ByteTensor([1, 300])
    with pytest.raises(graphc.InputError):
        graphc.ByteTensor([1, 300])
    assert isinstance(graphc.ones(2, requires_grad=True) * 2, graphc.FloatTensor)


# ---- unique / unique_consecutive -------------------------------------------------------------------

UNIQUE_INPUTS = [np.array([3, 1, 2, 3, 1, 5]), np.array([[3, 1], [2, 3]]),
                 np.array([[1, 2], [0, 5], [1, 2], [0, 1]]), np.array(3.0),
                 np.array([np.nan, 1.0, np.nan]), np.array([True, False, True]),
                 np.zeros(0, np.int64), np.array([1, 1, 2, 2, 3, 1, 1, 2]),
                 np.array([[1.0, 1.0, 2.0], [1.0, 1.0, 0.0]], np.float32)]


@pytest.mark.parametrize("i", range(len(UNIQUE_INPUTS)))
def test_unique(i):
    a = UNIQUE_INPUTS[i]
    # NaN slices along a dim: torch's order depends on its sort (NaN compares false); not matched
    dims = [None] + (list(range(-a.ndim, a.ndim)) if not np.isnan(a.astype(float)).any() else [])
    for dim in dims:
        for inv in (False, True):
            for cnt in (False, True):
                kw = {"return_inverse": inv, "return_counts": cnt, "dim": dim}
                _same(graphc.unique(graphc.tensor(a), **kw), torch.unique(torch.tensor(a), **kw))
                _same(graphc.tensor(a).unique(**kw), torch.tensor(a).unique(**kw))
                _same(graphc.unique_consecutive(graphc.tensor(a), **kw),
                      torch.unique_consecutive(torch.tensor(a), **kw))
                _same(graphc.tensor(a).unique_consecutive(**kw),
                      torch.tensor(a).unique_consecutive(**kw))


def test_unique_errors():
    m = np.array([[1, 2], [0, 5]])
    with pytest.raises(IndexError):
        torch.unique(torch.tensor(m), dim=2)
    with pytest.raises(graphc.ShapeError):
        graphc.unique(graphc.tensor(m), dim=2)
    for fn in (graphc.unique, graphc.unique_consecutive, lambda x: x.unique()):
        with pytest.raises(graphc.TraceError, match="inside graphc.compile"):
            graphc.compile(lambda x, fn=fn: fn(x).sum())(graphc.tensor(m))


# ---- multinomial / retain_grad -------------------------------------------------------------------

def test_multinomial_method():
    p = graphc.tensor([[0.1, 0.0, 0.9], [0.5, 0.5, 0.0]])
    graphc.manual_seed(3)
    a = p.multinomial(2)
    graphc.manual_seed(3)
    b = graphc.multinomial(p, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == graphc.int64 and a.shape == (2, 2)
    draws = p.multinomial(4, replacement=True).numpy()    # zero weight: never drawn
    assert (draws[0] != 1).all() and (draws[1] != 2).all()


def test_retain_grad():
    def run(m):
        x = m.tensor([1.0, -2.0, 3.0], requires_grad=True)
        h = x * 2
        h.retain_grad()
        h.retain_grad()
        z = (h * h).tanh()
        flags = (h.retains_grad, x.retains_grad, z.retains_grad)
        z.sum().backward(retain_graph=True)
        first = h.grad.clone()
        z.sum().backward()
        return flags, first, h.grad, x.grad
    g, t = run(graphc), run(torch)
    assert g[0] == t[0] == (True, False, False)
    for a, b in zip(g[1:], t[1:]):
        _same(a, b, rtol=1e-5)
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    x.retain_grad()                      # a leaf: nothing changes
    assert not x.retains_grad
    with pytest.raises(RuntimeError):
        torch.tensor([1.0]).retain_grad()
    with pytest.raises(graphc.InputError):
        graphc.tensor([1.0]).retain_grad()
    w = graphc.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        h = x * w
        h.retain_grad()
        h.sum().backward()
    with pytest.raises(graphc.TraceError, match="retain_grad"):
        graphc.compile(step)(graphc.tensor([1.0, 1.0]))
