"""Indexing beyond basic slicing, against torch: x[...] with integer tensors, lists, ranges, NumPy
arrays and masks (reading and assignment), gather / scatter / index_* / masked_* / nonzero,
eagerly (values, dtypes, shapes, gradients) and compiled on both backends; the errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(17)
X4 = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
X2 = RNG.standard_normal((4, 6)).astype(np.float32)
BACKENDS = ["llvm", "interpreter"]


def _lib_index(lib, ix):
    """ix with NumPy arrays as lib's tensors (torch takes no NumPy bool arrays as masks)."""
    items = ix if isinstance(ix, tuple) else (ix,)
    conv = tuple(lib.tensor(i) if isinstance(i, np.ndarray) else i for i in items)
    return conv if isinstance(ix, tuple) else conv[0]


def _same(got, want, exact=True):
    got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    want = want.detach().numpy()
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- x[index]: torch's placement rules ---------------------------------------------------------

READS = [
    ([0, 1, -1],), (slice(None), [1, 1, 0]), (0, slice(None), [0, 1]), (slice(None), 0, [0, -1]),
    ([0, 1], slice(None), 0), (None, [0, 1], [1, 2]), ([0, 1], None, [1, 2]),
    (slice(None), [[0], [1]], [1, 2]), (Ellipsis, [1, 2]), ([0, 1], Ellipsis, [1, 2]),
    (0, [0, 1], slice(None), 0), ([0, 1], 0, [1, 2]), ([1, -2], slice(None), [1, 2]),
    (slice(None), [0, 1], None, [1, 2]), (0, slice(None), [0, -1], [1, 2]),
    (slice(None), 1, slice(None), [0, 1]), (np.array([1, 0]),), ([[1, 0], [0, 0]],),
    (range(2), slice(1, 3)), (True,), (False,), (X4[:, :, 0, 0] > 0,),
    (slice(None), X4[0, :, :, 0] > 0), (np.array(1), slice(None), [2, 0]), ([],),
]


@pytest.mark.parametrize("ix", READS, ids=repr)
def test_eager_read_and_gradient_match_torch(ix):
    x, tx = graphc.tensor(X4, requires_grad=True), torch.tensor(X4, requires_grad=True)
    got, want = x[_lib_index(graphc, ix)], tx[_lib_index(torch, ix)]
    _same(got, want)
    w = RNG.standard_normal(want.shape).astype(np.float32)
    (got * graphc.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    _same(x.grad, tx.grad, exact=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_reads_with_traced_indices_and_their_gradients(backend):
    x0 = X4.copy()
    i = np.array([1, -1, 0])
    j = np.array([[3], [-5]])
    t = np.array([5, 0, -1, 2])

    def reads(lib, x, y, i, j, t):
        return (x[i], x[:, i], x[0, :, i], x[:, 1, :, j], x[i[:2], :, i[1:]], x[..., j],
                y[range(4), t], y[t % 4], x[i[0], i[1]], y[i, t[:3]])

    ins = [i, j, t]
    xp = nn.Parameter(graphc.tensor(x0))
    yp = nn.Parameter(graphc.tensor(X2))

    @graphc.compile(backend=backend)
    def step(i, j, t):
        outs = reads(graphc, xp, yp, i, j, t)
        sum(((o * o).sum() * (k + 1) for k, o in enumerate(outs))).backward()
        return outs

    got = step(*[graphc.tensor(a) for a in ins])
    tx, ty = torch.tensor(x0, requires_grad=True), torch.tensor(X2, requires_grad=True)
    want = reads(torch, tx, ty, *[torch.tensor(a) for a in ins])
    for g, w in zip(got, want):
        _same(g, w)
    sum(((o * o).sum() * (k + 1) for k, o in enumerate(want))).backward()
    _same(xp.grad, tx.grad, exact=False)
    _same(yp.grad, ty.grad, exact=False)


def test_row_pick_is_one_gather_of_the_label_per_row():
    f = graphc.compile(lambda y, t: y[range(4), t], backend="interpreter")
    f(X2, np.array([0, 5, -1, 2]))
    assert "gather" in f.ir("traced") and "take" not in f.ir("traced")


# ---- x[index] = v, index_put ------------------------------------------------------------------

WRITES = [
    ([1, 0], 5.0), ((slice(None), [1, -1]), "row"), ((slice(None), [0, 0, 2]), "dup"),
    (([0, 1], [2, 2]), 7.0), (([0, 1], slice(None), [1, -1]), "bcast"),
    ((X4[:, :, 0, 0] > 0,), -2.0), ((X4[..., 0] > 0,), "nnz"), ((0, [1, 2], 3), 4.0),
]


def _write_value(kind, shape):
    if not isinstance(kind, str):
        return kind
    return RNG.standard_normal(shape).astype(np.float32) if kind != "bcast" else \
        RNG.standard_normal(shape[-1:]).astype(np.float32)


@pytest.mark.parametrize("ix, kind", WRITES, ids=repr)
def test_eager_assignment_and_index_put_match_torch(ix, kind):
    shape = torch.tensor(X4)[_lib_index(torch, ix)].shape
    v = _write_value(kind, tuple(shape))
    outs = []
    for lib in (graphc, torch):
        x = lib.tensor(X4.copy())
        x[_lib_index(lib, ix)] = lib.tensor(v) if isinstance(v, np.ndarray) else v
        outs.append(x)
    _same(*outs)
    if isinstance(v, np.ndarray) and all(not isinstance(i, np.ndarray) for i in ix):
        idx = tuple(i if isinstance(i, slice) or i is Ellipsis else
                    graphc.tensor(np.asarray(i)) for i in ix)
        tidx = tuple(i if isinstance(i, slice) or i is Ellipsis else
                     torch.tensor(np.asarray(i)) for i in ix)
        if all(isinstance(i, graphc.Tensor) for i in idx):
            got = graphc.tensor(X4).index_put(idx, graphc.tensor(v), accumulate=True)
            _same(got, torch.tensor(X4).index_put(tidx, torch.tensor(v), accumulate=True), False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_assignments_with_traced_indices_and_masks(backend):
    def program(lib, w, i, m, v):
        y = w * 1.0
        y[i] = v[0]                          # whole rows
        y[:, i] = y[:, i] * 2.0              # a read and a write of columns
        y[m] = 0.5                           # a traced mask: where
        y[i[:2], i[1:3]] += v[1, :2]         # pairs, accumulating
        y.index_put_((i,), v[:3], accumulate=True)
        return y

    w0 = X2[:, :4].copy()
    w = nn.Parameter(graphc.tensor(w0))
    i, m = np.array([2, 0, -1]), X2[:, 4] > 0.3
    v = RNG.standard_normal((3, 4)).astype(np.float32)

    @graphc.compile(backend=backend)
    def step(i, m, v):
        y = program(graphc, w, i, m, v)
        (y * y).sum().backward()
        return y

    got = step(graphc.tensor(i), graphc.tensor(m), graphc.tensor(v))
    tw = torch.tensor(w0, requires_grad=True)
    want = program(torch, tw, torch.tensor(i), torch.tensor(m), torch.tensor(v))
    _same(got, want, exact=False)
    (want * want).sum().backward()
    _same(w.grad, tw.grad, exact=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_mask_assignment_of_one_row_per_true(backend):
    def f(lib, x, m, v):
        y = x * 1.0
        y[m] = v
        return y
    m = np.array([True, False, True, True])
    v = RNG.standard_normal((3, 6)).astype(np.float32)
    got = graphc.compile(lambda x, m, v: f(graphc, x, m, v), backend=backend)(
        graphc.tensor(X2), graphc.tensor(m), graphc.tensor(v))
    _same(got, f(torch, torch.tensor(X2), torch.tensor(m), torch.tensor(v)))


def test_repeated_indices_last_write_wins_and_its_gradient_is_the_true_one():
    x = graphc.zeros(5)
    x[graphc.tensor([3, 3, 1, 3])] = graphc.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.tolist() == [0.0, 3.0, 0.0, 4.0, 0.0]   # torch CPU's result too
    v = graphc.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = graphc.zeros(5) * 1.0
    y[graphc.tensor([3, 3, 1, 3])] = v
    (y * graphc.arange(5.0)).sum().backward()
    assert v.grad.tolist() == [0.0, 0.0, 1.0, 3.0]   # only the written entries move y


# ---- gather / scatter family -----------------------------------------------------------------

IDX = np.array([[0, 2], [1, 1], [3, 0], [2, 2]])
SRC = RNG.standard_normal((4, 3)).astype(np.float32)


def _family(lib, x, s):
    i = lib.tensor(IDX)
    t = lib.tensor(np.array([2, 0, 2]))
    return [
        lib.gather(x, 1, i), x.gather(0, i[:3, :1]), lib.take_along_dim(x, i - 3, 1),
        lib.take_along_dim(x, lib.tensor([[1], [0]]), 0), lib.take_along_dim(x, t),
        x.scatter(1, lib.tensor([[0, 2], [1, 3], [3, 0], [2, 1]]), s[:, :2]),   # no repeats
        x.scatter(1, i, 2.5), x.scatter_add(1, i, s[:, :2]),
        *[x.scatter_reduce(0, i, s[:, :2], r, include_self=inc)
          for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)],
        x.index_add(0, t, s[:3].repeat(1, 2), alpha=0.5), x.index_copy(1, lib.tensor([4, 1]),
                                                                       s[:, :2]),
        x.index_fill(1, lib.tensor([0, -1]), -1.0), lib.take(x, i - 10),
        x.masked_fill(x > 0.5, 0.25), x.masked_fill(x < 0, lib.tensor(-3.0)),
        x.masked_scatter(x > 0, lib.arange(24.0).reshape(4, 6)), lib.index_select(x, 1, t),
    ]


def _no_torch_grad(lib, x, s):   # torch has no derivative for scatter(reduce=...)
    i = lib.tensor(IDX)
    return [x.scatter(0, i[:2], s[:2], reduce="add"), x.scatter(0, i, s, reduce="multiply"),
            x.scatter_add(1, i, s), x.scatter_reduce(0, i, s, "mean")]   # src beyond the index


def test_gradient_of_a_source_larger_than_the_index_by_finite_differences():
    i = graphc.tensor(IDX)
    w = RNG.standard_normal((4, 6))
    s0 = RNG.standard_normal((4, 3))

    def f(s):
        x = graphc.tensor(X2.astype(np.float64))
        return float(((x.scatter_add(1, i, graphc.tensor(s)) ** 2) * w).sum())
    s = graphc.tensor(s0, requires_grad=True)
    ((graphc.tensor(X2.astype(np.float64)).scatter_add(1, i, s) ** 2) * graphc.tensor(w)) \
        .sum().backward()
    fd = np.zeros_like(s0)
    for p in np.ndindex(s0.shape):
        e = np.zeros_like(s0)
        e[p] = 1e-6
        fd[p] = (f(s0 + e) - f(s0 - e)) / 2e-6
    np.testing.assert_allclose(s.grad.numpy(), fd, rtol=1e-6, atol=1e-8)
    assert (s.grad.numpy()[:, 2] == 0).all()


def test_family_eager_values_and_gradients_match_torch():
    for g, w in zip(_no_torch_grad(graphc, graphc.tensor(X2), graphc.tensor(SRC)),
                    _no_torch_grad(torch, torch.tensor(X2), torch.tensor(SRC))):
        _same(g, w, exact=False)
    x, tx = graphc.tensor(X2, requires_grad=True), torch.tensor(X2, requires_grad=True)
    s, ts = graphc.tensor(SRC, requires_grad=True), torch.tensor(SRC, requires_grad=True)
    got, want = _family(graphc, x, s), _family(torch, tx, ts)
    for k, (g, w) in enumerate(zip(got, want)):
        _same(g, w, exact=False)
    wts = [RNG.standard_normal(w.shape).astype(np.float32) for w in want]
    sum((g * graphc.tensor(c)).sum() for g, c in zip(got, wts)).backward()
    sum((w * torch.tensor(c)).sum() for w, c in zip(want, wts)).backward()
    _same(x.grad, tx.grad, exact=False)
    _same(s.grad, ts.grad, exact=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_family_compiled_matches_torch(backend):
    got = graphc.compile(lambda x, s: _family(graphc, x, s), backend=backend)(X2, SRC)
    want = _family(torch, torch.tensor(X2), torch.tensor(SRC))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-6)


def test_integer_family_and_dtypes_match_torch():
    xi = np.arange(12).reshape(3, 4) - 5
    for lib in (graphc, torch):
        x, i = lib.tensor(xi), lib.tensor([[0, 0, 1]])
        out = [x.scatter_reduce(0, i, lib.tensor([[7, -3, 2]]), "mean"),
               x.scatter_reduce(0, i, lib.tensor([[7, -3, 2]]), "amin", include_self=False),
               x.masked_fill(x > 0, 1.7), x.index_fill(0, lib.tensor([1]), 2),
               x.scatter(1, i, 9), x[lib.tensor([[True, False, True, False]] * 3)]]
        if lib is graphc:
            got = out
        else:
            for g, w in zip(got, out):
                _same(g, w)


def test_scatter_add_is_the_same_bits_natively_and_in_numpy():
    idx = RNG.integers(0, 3, (1, 4000))
    src = (RNG.standard_normal((1, 4000)) * 1e4).astype(np.float32)

    def f(x, i, s):
        return x.scatter_add(1, i, s)
    base = np.zeros((1, 3), np.float32)
    native = graphc.compile(f, backend="llvm")(base, idx, src)
    interp = graphc.compile(f, backend="interpreter")(base, idx, src)
    assert native.tobytes() == interp.tobytes()
    np.testing.assert_allclose(native, torch.zeros(1, 3).scatter_add(
        1, torch.tensor(idx), torch.tensor(src)).numpy(), rtol=1e-5)


def test_masks_nonzero_and_where_cond_eagerly():
    m = X2 > 0
    for got, want in [(graphc.masked_select(graphc.tensor(X2), graphc.tensor(m[0])),
                       torch.masked_select(torch.tensor(X2), torch.tensor(m[0]))),
                      (graphc.nonzero(graphc.tensor(m)), torch.nonzero(torch.tensor(m))),
                      (graphc.argwhere(graphc.tensor(X2 > 1)), torch.argwhere(torch.tensor(X2 > 1))),
                      (graphc.nonzero(graphc.tensor(3.0)), torch.nonzero(torch.tensor(3.0)))]:
        _same(got, want)
    for g, w in zip(graphc.where(graphc.tensor(m)), torch.where(torch.tensor(m))):
        _same(g, w)
    for g, w in zip(graphc.tensor(m).nonzero(as_tuple=True), torch.tensor(m).nonzero(as_tuple=True)):
        _same(g, w)


# ---- errors --------------------------------------------------------------------------------

def test_out_of_range_indices_are_execution_errors_naming_the_line():
    x = graphc.tensor(X2)
    for bad in (lambda: x[graphc.tensor([0, 4])], lambda: x[[0, 1], [2, 6]],
                lambda: x[:, [-7]], lambda: graphc.gather(x, 1, graphc.tensor([[6]])),
                lambda: x.index_select(0, graphc.tensor([-1])),
                lambda: x.scatter_add(0, graphc.tensor([[4]]), graphc.ones(1, 1)),
                lambda: x.index_add(0, graphc.tensor([9]), graphc.ones(1, 6))):
        with pytest.raises(graphc.ExecutionError, match="test_indexing.py"):
            bad()


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_in_a_compiled_step_names_the_op_and_leaves_state_untouched(backend):
    net = nn.Linear(6, 3)

    @graphc.compile(backend=backend)
    def step(x, i, j):
        out = net(x)
        loss = out[i].sum() + out[range(4), j].sum() + out[i % 7].sum()   # the last: computed
        loss.backward()
        with graphc.no_grad():
            for p in net.parameters():
                p -= 0.1 * p.grad
                p.grad = None
        return loss

    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    step(X2, np.array([0, 3]), np.array([0, 1, 2, -1]))
    after = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    for i, j in [([0, 5], [0, 1, 2, 0]), ([0, 1], [0, 3, 0, 0]), ([6, 0], [0, 0, 0, 0])]:
        with pytest.raises(graphc.ExecutionError, match=r"(take|gather) at test_indexing.py"):
            step(X2, np.array(i), np.array(j))
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), after[k])


def test_data_dependent_shapes_raise_trace_errors_inside_compile():
    m = X2 > 0
    for f, hint in [(lambda x, m: x[m], "where"), (lambda x, m: x.masked_select(m), "masked_fill"),
                    (lambda x, m: graphc.nonzero(m), "where"), (lambda x, m: graphc.where(m), "where"),
                    (lambda x, m: graphc.argwhere(m), "where")]:
        with pytest.raises(graphc.TraceError, match=hint):
            graphc.compile(f, backend="interpreter")(X2, m)
    # a mask known at trace time (a constant) has a known shape: it compiles
    f = graphc.compile(lambda x: x[graphc.tensor(m)] * 2, backend="interpreter")
    np.testing.assert_array_equal(f(X2), X2[m] * 2)


def test_bad_indices_name_the_problem():
    x = graphc.tensor(X2)
    with pytest.raises(graphc.ShapeError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(graphc.ShapeError, match="long, int, byte or bool"):
        x[graphc.tensor([0.0])]
    with pytest.raises(graphc.ShapeError, match="shape of the mask"):
        x[graphc.tensor([True, False])]
    with pytest.raises(graphc.ShapeError, match="could not be broadcast"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(graphc.ShapeError, match="too many indices"):
        x[0, 0, [0]]
    with pytest.raises(graphc.ShapeError, match="no larger"):
        graphc.gather(x, 0, graphc.tensor([[0] * 7]))
    with pytest.raises(graphc.ShapeError, match="same number of dimensions"):
        graphc.gather(x, 0, graphc.tensor([[[0]]]))
