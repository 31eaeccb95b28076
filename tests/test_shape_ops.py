"""Joining, splitting and views (graphc/shape_ops.py) vs PyTorch: values, dtypes and shapes
eagerly, gradients through eager .backward(), and compiled on both backends equal to eager."""
from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")

R = np.random.default_rng(0)


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


def F(lib):
    return lib.nn.functional


# (id, program over (lib, *tensors), input arrays). A program returns a tensor or a tuple.
CASES = [
    ("cat0", lambda L, a, b: L.cat([a, b]), [f32(2, 3), f32(4, 3)]),
    ("cat-neg", lambda L, a, b: L.cat((a, b), dim=-1), [f32(2, 3), f32(2, 1)]),
    ("cat3", lambda L, a, b, c: L.cat([a, b, c], 1), [f32(2, 1, 2), f32(2, 3, 2), f32(2, 2, 2)]),
    ("cat-empty-1d", lambda L, a, b: L.cat([a, L.zeros(0), b], 0), [f32(2, 3), f32(1, 3)]),
    ("cat-empty-dim", lambda L, a, b: L.cat([a, b[:, :0]], 1), [f32(2, 3), f32(2, 2)]),
    ("cat-promote", lambda L, a, b: L.cat([a, (b > 0).long()]), [f32(2), f32(3)]),
    ("pad-const-int", lambda L, a: F(L).pad((a > 0).long(), (1, 1), value=2.7), [f32(2, 3)]),
    ("cat-int", lambda L, a, b: L.cat([(a > 0).long(), (b > 0).int()]), [f32(2), f32(3)]),
    ("concat", lambda L, a, b: L.concat([a, b], 1), [f32(2, 1), f32(2, 2)]),
    ("concatenate", lambda L, a, b: L.concatenate([a, b], -2), [f32(1, 2), f32(2, 2)]),
    ("cat-many", lambda L, *xs: L.cat(xs, 1), [f32(2, k % 3 + 1) for k in range(11)]),
    ("stack-many", lambda L, a: L.stack(list(a.unbind(0)), -1), [f32(9, 2)]),
    ("stack", lambda L, a, b: L.stack([a, b]), [f32(2, 3), f32(2, 3)]),
    ("stack-neg", lambda L, a, b: L.stack([a, b], -1), [f32(2, 3), f32(2, 3)]),
    ("stack-mid", lambda L, a, b, c: L.stack([a, b, c], 1), [f32(2, 3), f32(2, 3), f32(2, 3)]),
    ("hstack1d", lambda L, a, b: L.hstack([a, b]), [f32(2), f32(3)]),
    ("hstack2d", lambda L, a, b: L.hstack([a, b]), [f32(2, 1), f32(2, 3)]),
    ("vstack", lambda L, a, b: L.vstack([a, b]), [f32(3), f32(2, 3)]),
    ("dstack", lambda L, a, b: L.dstack([a, b]), [f32(2, 3), f32(2, 3, 2)]),
    ("column_stack", lambda L, a, b: L.column_stack([a, b]), [f32(3), f32(3, 2)]),
    ("split-int", lambda L, a: L.split(a, 2), [f32(5, 2)]),
    ("split-int-dim", lambda L, a: a.split(3, dim=-1), [f32(2, 7)]),
    ("split-list", lambda L, a: L.split(a, [1, 0, 3], 1), [f32(2, 4)]),
    ("split-big", lambda L, a: L.split(a, 10), [f32(3, 2)]),
    ("chunk", lambda L, a: L.chunk(a, 3), [f32(7, 2)]),
    ("chunk-uneven", lambda L, a: a.chunk(4, -1), [f32(2, 6)]),
    ("chunk-more", lambda L, a: L.chunk(a, 5), [f32(3)]),
    ("tensor_split-n", lambda L, a: L.tensor_split(a, 3), [f32(7, 2)]),
    ("tensor_split-idx", lambda L, a: a.tensor_split([1, 4, 9], dim=1), [f32(2, 6)]),
    ("unbind", lambda L, a: L.unbind(a, 1), [f32(2, 3, 2)]),
    ("unbind-neg", lambda L, a: a.unbind(-1), [f32(3, 2)]),
    ("select", lambda L, a: L.select(a, 1, -1), [f32(2, 3, 2)]),
    ("select-method", lambda L, a: a.select(0, 1), [f32(2, 3)]),
    ("index_select", lambda L, a: L.index_select(a, 1, L.tensor([2, 0, 2, 1])), [f32(2, 3, 2)]),
    ("index_select-0", lambda L, a: a.index_select(0, L.tensor([1, 1])), [f32(3)]),
    ("narrow", lambda L, a: L.narrow(a, 1, 1, 2), [f32(2, 4)]),
    ("narrow-neg", lambda L, a: a.narrow(-1, -3, 2), [f32(2, 4)]),
    ("flip", lambda L, a: L.flip(a, [0, 2]), [f32(3, 2, 4)]),
    ("flip-neg", lambda L, a: a.flip(-1), [f32(2, 5)]),
    ("flip-int", lambda L, a: (a > 0).long().flip(0), [f32(4, 2)]),
    ("flip-size1", lambda L, a: L.flip(a, (0, 1)), [f32(1, 3)]),
    ("flip-long", lambda L, a: L.flip(a, (1,)), [f32(2, 45)]),
    ("flip-long-pow2", lambda L, a: a.flip(0, 1), [f32(64, 3)]),
    ("pad-reflect-long", lambda L, a: F(L).pad(a, (40, 33), mode="reflect"), [f32(1, 2, 50)]),
    ("fliplr", lambda L, a: L.fliplr(a), [f32(3, 4)]),
    ("flipud", lambda L, a: L.flipud(a), [f32(3, 4)]),
    ("roll", lambda L, a: L.roll(a, 2, 1), [f32(2, 5)]),
    ("roll-neg", lambda L, a: a.roll(-1, -2), [f32(3, 2)]),
    ("roll-multi", lambda L, a: L.roll(a, (1, -2), (0, 1)), [f32(3, 4)]),
    ("roll-flat", lambda L, a: L.roll(a, 3), [f32(2, 4)]),
    ("roll-big", lambda L, a: L.roll(a, 7, 0), [f32(3)]),
    ("repeat", lambda L, a: a.repeat(2, 3), [f32(2, 3)]),
    ("repeat-lead", lambda L, a: a.repeat(2, 1, 2), [f32(3)]),
    ("repeat-zero", lambda L, a: a.repeat(0, 2), [f32(2, 3)]),
    ("tile", lambda L, a: L.tile(a, (2,)), [f32(2, 3)]),
    ("tile-long", lambda L, a: a.tile((2, 1, 2)), [f32(2, 3)]),
    ("repeat_interleave", lambda L, a: L.repeat_interleave(a, 2, 1), [f32(2, 3)]),
    ("repeat_interleave-flat", lambda L, a: a.repeat_interleave(3), [f32(2, 2)]),
    ("repeat_interleave-counts", lambda L, a: L.repeat_interleave(a, L.tensor([1, 0, 2]), 0),
     [f32(3, 2)]),
    ("movedim", lambda L, a: L.movedim(a, 0, -1), [f32(2, 3, 4)]),
    ("movedim-seq", lambda L, a: L.movedim(a, (0, 1), (2, 0)), [f32(2, 3, 4)]),
    ("moveaxis", lambda L, a: a.moveaxis(-1, 0), [f32(2, 3, 4)]),
    ("swapaxes", lambda L, a: L.swapaxes(a, 0, 2), [f32(2, 3, 4)]),
    ("swapdims", lambda L, a: a.swapdims(-1, 1), [f32(2, 3, 4)]),
    ("t", lambda L, a: a.t(), [f32(2, 3)]),
    ("t-1d", lambda L, a: L.t(a), [f32(3)]),
    ("T", lambda L, a: a.T, [f32(2, 3)]),
    ("mT", lambda L, a: a.mT, [f32(4, 2, 3)]),
    ("diagonal", lambda L, a: L.diagonal(a), [f32(3, 4)]),
    ("diagonal-off", lambda L, a: a.diagonal(1), [f32(3, 4)]),
    ("diagonal-neg-off", lambda L, a: a.diagonal(-2), [f32(4, 3)]),
    ("diagonal-dims", lambda L, a: L.diagonal(a, 1, -1, 0), [f32(3, 2, 4)]),
    ("diagonal-empty", lambda L, a: a.diagonal(5), [f32(3, 4)]),
    ("diag-vec", lambda L, a: L.diag(a), [f32(3)]),
    ("diag-vec-off", lambda L, a: L.diag(a, 2), [f32(3)]),
    ("diag-vec-neg", lambda L, a: a.diag(-1), [f32(2)]),
    ("diag-mat", lambda L, a: L.diag(a, -1), [f32(3, 4)]),
    ("tril", lambda L, a: L.tril(a), [f32(3, 4)]),
    ("tril-k", lambda L, a: a.tril(-1), [f32(2, 3, 3)]),
    ("triu", lambda L, a: L.triu(a, 1), [f32(4, 3)]),
    ("triu-int", lambda L, a: (a > 0).long().triu(), [f32(3, 3)]),
    ("pad-const", lambda L, a: F(L).pad(a, (1, 2)), [f32(2, 3)]),
    ("pad-const-2d", lambda L, a: F(L).pad(a, (1, 0, 0, 2), value=1.5), [f32(2, 3)]),
    ("pad-const-crop", lambda L, a: F(L).pad(a, (-1, 2, 1, -1)), [f32(3, 4)]),
    ("pad-reflect", lambda L, a: F(L).pad(a, (2, 1), mode="reflect"), [f32(2, 3, 4)]),
    ("pad-reflect-2d", lambda L, a: F(L).pad(a, (1, 2, 2, 1), mode="reflect"), [f32(1, 3, 4)]),
    ("pad-replicate", lambda L, a: F(L).pad(a, (2, 1), mode="replicate"), [f32(2, 3, 4)]),
    ("pad-replicate-2d", lambda L, a: F(L).pad(a, (0, 3, 1, 1), mode="replicate"),
     [f32(1, 2, 3, 2)]),
    ("pad-circular", lambda L, a: F(L).pad(a, (2, 3), mode="circular"), [f32(1, 2, 4)]),
    ("pad-circular-2d", lambda L, a: F(L).pad(a, (1, 1, 2, 0), mode="circular"),
     [f32(1, 2, 3, 3)]),
    ("squeeze-tuple", lambda L, a: a.squeeze((0, 2)), [f32(1, 3, 1, 1)]),
    ("squeeze-neg", lambda L, a: L.squeeze(a, -1), [f32(1, 3, 1)]),
    ("squeeze-keep", lambda L, a: L.squeeze(a, (1,)), [f32(1, 3, 1)]),
    ("flatten", lambda L, a: a.flatten(1, 2), [f32(2, 3, 4, 1)]),
    ("unflatten", lambda L, a: a.unflatten(1, (2, -1)), [f32(3, 6)]),
    ("unflatten-neg", lambda L, a: L.unflatten(a, -1, (3, 2)), [f32(3, 6)]),
    ("edge-cat-one", lambda L, a: L.cat([a], -1), [f32(2, 3)]),
    ("edge-stack-0d", lambda L, a: L.stack([a.sum(), a.mean()]), [f32(3)]),
    ("edge-squeeze-0d", lambda L, a: a.sum().squeeze(0), [f32(3)]),
    ("edge-split-empty", lambda L, a: L.split(a[:, :0], 2, 1), [f32(2, 3)]),
    ("edge-chunk-empty", lambda L, a: L.chunk(a[:0], 3), [f32(2, 3)]),
    ("edge-tensor_split-many", lambda L, a: L.tensor_split(a, 5), [f32(3)]),
    ("edge-tensor_split-neg", lambda L, a: L.tensor_split(a, [-2, 1]), [f32(4)]),
    ("edge-diag-1", lambda L, a: L.diag(a, -1), [f32(1)]),
    ("edge-roll-size1", lambda L, a: L.roll(a, 3, 0), [f32(1, 3)]),
    ("edge-repeat-0d", lambda L, a: a.sum().repeat(3), [f32(2)]),
    ("edge-meshgrid-0d", lambda L, a, b: L.meshgrid(a.sum(), b, indexing="ij"), [f32(2), f32(3)]),
    ("edge-diagonal-3d-off", lambda L, a: a.diagonal(-1, 2, 0), [f32(4, 2, 3)]),
    ("edge-tril-big-k", lambda L, a: a.tril(5) + a.triu(-5), [f32(2, 3)]),
    ("edge-pad-zero", lambda L, a: F(L).pad(a, (0, 0, 0, 0), mode="reflect"), [f32(1, 2, 3)]),
    ("edge-repeat_interleave-0", lambda L, a: a.repeat_interleave(0, 0), [f32(2, 3)]),
    ("expand_as", lambda L, a, b: a.expand_as(b), [f32(3, 1), f32(2, 3, 4)]),
    ("view_as", lambda L, a, b: a.view_as(b), [f32(6), f32(2, 3)]),
    ("reshape_as", lambda L, a, b: a.reshape_as(b), [f32(6), f32(3, 2)]),
    ("contiguous", lambda L, a: a.t().contiguous(), [f32(2, 3)]),
    ("meshgrid-ij", lambda L, a, b: L.meshgrid(a, b, indexing="ij"), [f32(3), f32(2)]),
    ("meshgrid-xy", lambda L, a, b, c: L.meshgrid([a, b, c], indexing="xy"),
     [f32(3), f32(2), f32(4)]),
    ("broadcast_tensors", lambda L, a, b: L.broadcast_tensors(a, b), [f32(3, 1), f32(2, 1, 4)]),
    ("atleast_1d", lambda L, a: L.atleast_1d(a.sum()), [f32(3)]),
    ("atleast_2d", lambda L, a, b: L.atleast_2d(a, b), [f32(3), f32(2, 2)]),
    ("atleast_3d", lambda L, a, b: L.atleast_3d((a, b)), [f32(3), f32(2, 2)]),
]
IDS = [c[0] for c in CASES]


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _run(lib, prog, arrays, grad=False):
    xs = [lib.tensor(a.copy(), requires_grad=grad) for a in arrays]
    return xs, _outs(prog(lib, *xs))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eager_matches_torch(case):
    _, prog, arrays = case
    want = _run(torch, prog, arrays)[1]
    got = _run(graphc, prog, arrays)[1]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        assert repr(g.dtype).split(".")[-1] == str(w.dtype).split(".")[-1], (g.dtype, w.dtype)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def _weights(shape, k):
    n = int(np.prod(shape))
    return np.cos(np.arange(n, dtype=np.float32) * 0.7 + k).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_torch(case):
    _, prog, arrays = case
    grads = []
    for lib in (torch, graphc):
        xs, outs = _run(lib, prog, arrays, grad=True)
        loss = None
        for k, o in enumerate(outs):
            if not o.dtype.is_floating_point if lib is torch else not o.dtype.is_float:
                continue
            term = (o * lib.tensor(_weights(tuple(o.shape), k))).sum()
            loss = term if loss is None else loss + term
        if loss is None or not loss.requires_grad:
            pytest.skip("no float output depends on the inputs")
        loss.backward()
        grads.append([None if x.grad is None else np.asarray(x.grad.numpy()) for x in xs])
    for w, g in zip(*grads):
        assert (w is None) == (g is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compiled_matches_eager(case, backend):
    _, prog, arrays = case
    want = [o.numpy() for o in _run(graphc, prog, arrays)[1]]
    got = graphc.compile(lambda *xs: prog(graphc, *xs), backend=backend)(*arrays)
    got = _outs(got)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g.numpy() if isinstance(g, graphc.Tensor) else g)
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_cat_keeps_negative_zero_and_nan():
    a = np.array([-0.0, np.nan], np.float32)
    b = np.array([np.inf, -0.0], np.float32)
    want = torch.cat([torch.tensor(a), torch.tensor(b)]).numpy()
    for got in (graphc.cat([graphc.tensor(a), graphc.tensor(b)]).numpy(),
                graphc.compile(lambda x, y: graphc.cat([x, y]), backend="llvm")(a, b)):
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got, want)


def test_flip_of_inf_is_exact():
    a = np.array([[np.inf, 1.0, -np.inf]], np.float32)
    np.testing.assert_array_equal(graphc.flip(graphc.tensor(a), 1).numpy(),
                                  torch.flip(torch.tensor(a), [1]).numpy())


def test_unflatten_module_and_flatten_module_match_torch():
    x = f32(2, 12)
    m = graphc.nn.Sequential(graphc.nn.Unflatten(1, (3, 4)), graphc.nn.Flatten(0, 1))
    tm = torch.nn.Sequential(torch.nn.Unflatten(1, (3, 4)), torch.nn.Flatten(0, 1))
    np.testing.assert_array_equal(m(graphc.tensor(x)).numpy(), tm(torch.tensor(x)).numpy())
    assert "unflattened_size=(3, 4)" in repr(graphc.nn.Unflatten(1, (3, 4)))


@pytest.mark.parametrize("prog,match", [
    (lambda: graphc.cat([graphc.zeros(2, 3), graphc.zeros(3, 2)]),
     r"cat: sizes of tensors must match.*\[2, 3\], \[3, 2\].*test_shape_ops.py"),
    (lambda: graphc.stack([graphc.zeros(2), graphc.zeros(3)]), r"stack: .*\[2\], \[3\]"),
    (lambda: graphc.split(graphc.zeros(4), [1, 2]), r"split: .*sum exactly to 4"),
    (lambda: graphc.narrow(graphc.zeros(4), 0, 2, 3), r"narrow: .*exceeds"),
    (lambda: graphc.zeros(2, 3).repeat(2), r"repeat: .*\[2, 3\]"),
    (lambda: graphc.nn.functional.pad(graphc.zeros(1, 3), (3, 0), mode="reflect"),
     r"pad: padding size should be less"),
    (lambda: graphc.zeros(2).tril(), r"tril: .*\[2\]"),
    (lambda: graphc.zeros(2, 3).unflatten(1, (2, 2)), r"unflatten: .*\[2, 3\]"),
    (lambda: graphc.cat([graphc.zeros(2)], dim=1), r"dim 1 is out of range"),
])
def test_errors_name_the_op_shapes_and_line(prog, match):
    with pytest.raises(graphc.ShapeError, match=match):
        prog()


def test_compiled_error_names_the_line():
    f = graphc.compile(lambda x, y: graphc.cat([x, y], 1), backend="interpreter")
    with pytest.raises(graphc.ShapeError, match=r"cat: .*test_shape_ops.py"):
        f(np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32))


def _two_branch(lib, seed_w):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Linear(3, 4)
            self.b = lib.nn.Linear(3, 4)
            self.head = lib.nn.Linear(6, 2)

        def forward(self, x):
            h = lib.cat([lib.tanh(self.a(x)), self.b(x).relu()], dim=-1)   # (n, 8)
            left, right = lib.split(h, [6, 2], dim=1)
            return self.head(left) * right.sum(-1, keepdim=True)
    net = Net()
    with lib.no_grad():
        for p, w in zip(net.parameters(), seed_w):
            p.copy_(lib.tensor(w)) if hasattr(p, "copy_") else p._assign(lib.tensor(w))
    return net


def _train_three_steps(lib, ws, xs, ys):
    net = _two_branch(lib, ws)
    opt = lib.optim.SGD(net.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    if lib is graphc:
        step = graphc.compile(step, backend="llvm")
        return [float(np.asarray(step(xs, ys))) for _ in range(3)]
    return [float(step(torch.tensor(xs), torch.tensor(ys)).detach()) for _ in range(3)]


def test_compiled_two_branch_training_matches_torch():
    shapes = [(4, 3), (4,), (4, 3), (4,), (2, 6), (2,)]
    ws = [(0.3 * R.standard_normal(s)).astype(np.float32) for s in shapes]
    xs = f32(5, 3)
    ys = f32(5, 2)
    want = _train_three_steps(torch, ws, xs, ys)
    got = _train_three_steps(graphc, ws, xs, ys)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[2] < got[0]


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_index_select_with_a_traced_index_matches_torch(backend):
    x = f32(3, 4)
    idx = np.array([3, 0, 0, 2, 1], np.int64)
    want = torch.index_select(torch.tensor(x), 1, torch.tensor(idx)).numpy()
    got = graphc.compile(lambda a, i: graphc.index_select(a, 1, i), backend=backend)(x, idx)
    np.testing.assert_array_equal(got, want)


def test_repeat_interleave_with_traced_repeats_says_why():
    f = graphc.compile(lambda a, r: graphc.repeat_interleave(a, r, 0), backend="interpreter")
    with pytest.raises(graphc.ShapeError, match=r"repeat_interleave: .*known values"):
        f(f32(3), np.array([1, 2, 0], np.int64))
