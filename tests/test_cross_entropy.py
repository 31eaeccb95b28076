"""cross_entropy and nll_loss against torch: class indices and probabilities, (C,), (N, C) and
(N, C, d1, d2) inputs, weight=, ignore_index= (the default -100 and one inside [0, C)),
label_smoothing= and every reduction together; values and input gradients eagerly (float64, to
1e-10), and compiled on both backends (float32), where ignored targets are masked as in torch.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

torch = pytest.importorskip("torch")
tF = torch.nn.functional

SHAPES = {"2d": ((6, 5), (6,)), "kd": ((3, 5, 2, 3), (3, 2, 3)), "1d": ((5,), ())}
REDUCTIONS = ("mean", "sum", "none")
CW = np.array([0.5, 2.0, 1.0, 0.1, 3.0])


def _targets(tshape, ignore, seed=0):
    """Class indices in [0, 5) with about a third of them equal to `ignore`."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, tshape).astype(np.int64)
    drop = rng.random(tshape) < 0.35
    if t.ndim:
        drop.flat[0] = True   # at least one ignored, one kept
        drop.flat[-1] = False
    return np.where(drop, ignore, t) if t.ndim else np.asarray(ignore if ignore >= 0 else 3)


def _logits(shape, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _probs(shape, seed=2):
    p = np.random.default_rng(seed).uniform(0.05, 1.0, shape)
    return p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)


def _ours(fn, x, *rest, **kw):
    xt = graphc.tensor(x, requires_grad=True)
    out = fn(xt, *[graphc.tensor(a) if isinstance(a, np.ndarray) else a for a in rest], **kw)
    (out.sum() if out.ndim else out).backward()
    return out.detach().numpy(), xt.grad.numpy()


def _torch(fn, x, *rest, **kw):
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in rest], **kw)
    (out.sum() if out.ndim else out).backward()
    return out.detach().numpy(), xt.grad.numpy()


def _close(got, want, tol):
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


INDEX_CASES = list(itertools.product(SHAPES, (False, True), (-100, 1), (0.0, 0.2), REDUCTIONS))


@pytest.mark.parametrize("shape, weighted, ignore, smoothing, reduction", INDEX_CASES)
def test_cross_entropy_class_indices_eager_matches_torch(shape, weighted, ignore, smoothing,
                                                         reduction):
    xs, ts = SHAPES[shape]
    x, t = _logits(xs), _targets(ts, ignore)
    kw = dict(ignore_index=ignore, label_smoothing=smoothing, reduction=reduction)
    got = _ours(F.cross_entropy, x, t, **kw, **({"weight": graphc.tensor(CW)} if weighted else {}))
    want = _torch(tF.cross_entropy, x, t, **kw,
                  **({"weight": torch.tensor(CW)} if weighted else {}))
    _close(got, want, 1e-10)


@pytest.mark.parametrize("shape, weighted, smoothing, reduction",
                         list(itertools.product(SHAPES, (False, True), (0.0, 0.3), REDUCTIONS)))
def test_cross_entropy_probabilities_eager_matches_torch(shape, weighted, smoothing, reduction):
    xs, _ = SHAPES[shape]
    x, p = _logits(xs), _probs(xs)
    kw = dict(label_smoothing=smoothing, reduction=reduction)
    got = _ours(F.cross_entropy, x, p, **kw, **({"weight": graphc.tensor(CW)} if weighted else {}))
    want = _torch(tF.cross_entropy, x, p, **kw, **({"weight": torch.tensor(CW)} if weighted else {}))
    _close(got, want, 1e-10)


@pytest.mark.parametrize("shape, weighted, ignore, reduction",
                         list(itertools.product(SHAPES, (False, True), (-100, 4), REDUCTIONS)))
def test_nll_loss_eager_matches_torch(shape, weighted, ignore, reduction):
    xs, ts = SHAPES[shape]
    x, t = _logits(xs), _targets(ts, ignore, seed=3)
    kw = dict(ignore_index=ignore, reduction=reduction)
    got = _ours(F.nll_loss, x, t, **kw, **({"weight": graphc.tensor(CW)} if weighted else {}))
    want = _torch(tF.nll_loss, x, t, **kw, **({"weight": torch.tensor(CW)} if weighted else {}))
    _close(got, want, 1e-10)


# ---- compiled: one graph computes every option combination's loss and input gradient ----------

COMBOS = [c for c in itertools.product((False, True), (-100, 1), (0.0, 0.2), REDUCTIONS)]


def _all_losses(lib, xs, t, w):
    """[loss of each COMBO] with `lib` graphc's F or torch's, combo k reading input xs[k]."""
    out = []
    for x, (weighted, ignore, smoothing, reduction) in zip(xs, COMBOS):
        tt = t if ignore == -100 else _where(lib, t == -100, 1, t)
        out.append(lib.cross_entropy(x, tt, weight=w if weighted else None, ignore_index=ignore,
                                     label_smoothing=smoothing, reduction=reduction))
    return out


def _where(lib, cond, a, b):
    return graphc.where(cond, a, b) if lib is F else torch.where(cond, a, b)


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_compiled_every_option_combination_matches_torch(shape, backend):
    """One compiled step holds all 24 combinations (each with its own input copy, so that one
    backward gives every combination's gradient)."""
    xs, ts = SHAPES[shape]
    x0, t = _logits(xs, np.float32), _targets(ts, -100)
    xps = [graphc.tensor(x0.copy(), requires_grad=True) for _ in COMBOS]
    w = graphc.tensor(CW.astype(np.float32))

    @graphc.compile(backend=backend)
    def step(t):
        for xp in xps:
            xp.grad = None
        losses = _all_losses(F, xps, t, w)
        graphc.stack([ls.sum() for ls in losses]).sum().backward()
        return losses, [xp.grad for xp in xps]

    for tt in (t, np.where(t == -100, 2, -100)):   # a second call: other targets ignored
        losses, grads = step(tt)
        xts = [torch.tensor(x0, requires_grad=True) for _ in COMBOS]
        want = _all_losses(tF, xts, torch.tensor(tt), torch.tensor(CW.astype(np.float32)))
        torch.stack([ls.sum() for ls in want]).sum().backward()
        for k, (got, g, ref, xt) in enumerate(zip(losses, grads, want, xts)):
            np.testing.assert_allclose(np.asarray(got), ref.detach().numpy(), rtol=2e-5,
                                       atol=1e-6, err_msg=str(COMBOS[k]))
            np.testing.assert_allclose(np.asarray(g), xt.grad.numpy(), rtol=2e-5, atol=1e-6,
                                       err_msg=str(COMBOS[k]))


# ---- edge cases ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", [None, "interpreter", "llvm"])
def test_all_targets_ignored_mean_is_nan_with_zero_gradient(backend):
    x0 = _logits((4, 3), np.float32)
    t = np.full(4, -100, np.int64)
    xp = graphc.tensor(x0.copy(), requires_grad=True)

    def f(t):
        xp.grad = None
        loss = F.cross_entropy(xp, t, label_smoothing=0.1)
        loss.backward()
        return loss, xp.grad
    loss, g = f(graphc.tensor(t)) if backend is None else graphc.compile(f, backend=backend)(t)
    assert np.isnan(float(np.asarray(loss)))
    np.testing.assert_array_equal(np.asarray(g), np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
@pytest.mark.parametrize("bad", [5, -1, -99])
def test_out_of_range_target_raises_and_leaves_the_model_untouched(backend, bad):
    graphc.manual_seed(0)
    net = nn.Linear(4, 5)
    opt = optim.Adam(net.parameters(), lr=0.1)
    before = [p.numpy().copy() for p in net.parameters()]

    @graphc.compile(backend=backend)
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss
    x = np.ones((3, 4), np.float32)
    with pytest.raises(graphc.errors.ExecutionError, match=f"{bad}"):
        step(x, np.array([0, bad, -100]))
    for p, b in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    with pytest.raises(graphc.GraphcError, match=f"{bad}"):
        F.cross_entropy(graphc.tensor(x), graphc.tensor(np.array([0, bad, -100])))


def test_train_step_with_ignored_labels_matches_torch_over_steps():
    """An LM-head-like step (Linear, default CrossEntropyLoss, Adam) with padded (-100) targets:
    compiled graphc follows torch for 4 steps, on both backends."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.integers(0, 7, 16)
    y[::3] = -100
    graphc.manual_seed(1)
    ref = nn.Linear(8, 7)
    for backend in ("interpreter", "llvm"):
        net = nn.Linear(8, 7)
        net.load_state_dict(ref.state_dict())
        opt = optim.Adam(net.parameters(), lr=0.01)
        crit = nn.CrossEntropyLoss()

        @graphc.compile(backend=backend)
        def step(x, y):
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            return loss
        tnet = torch.nn.Linear(8, 7)
        with torch.no_grad():
            tnet.weight.copy_(torch.tensor(ref.weight.numpy()))
            tnet.bias.copy_(torch.tensor(ref.bias.numpy()))
        topt = torch.optim.Adam(tnet.parameters(), lr=0.01)
        for _ in range(4):
            topt.zero_grad()
            tl = torch.nn.CrossEntropyLoss()(tnet(torch.tensor(x)), torch.tensor(y))
            tl.backward()
            topt.step()
            assert float(step(x, y)) == pytest.approx(tl.item(), rel=1e-5)
        np.testing.assert_allclose(net.weight.numpy(), tnet.weight.detach().numpy(), atol=1e-5)


def test_large_vocabulary_llvm_equals_interpreter():
    """A 2000-class row split over the thread pool (lse), ignored targets, gradients."""
    rng = np.random.default_rng(7)
    x0 = (3 * rng.standard_normal((40, 2000))).astype(np.float32)
    t = rng.integers(0, 2000, 40)
    t[::4] = -100
    outs = []
    for backend in ("interpreter", "llvm"):
        xp = graphc.tensor(x0.copy(), requires_grad=True)

        def f(t):
            xp.grad = None
            loss = F.cross_entropy(xp, t)
            loss.backward()
            return loss, xp.grad
        outs.append(graphc.compile(f, backend=backend)(t))
    xt = torch.tensor(x0, requires_grad=True)
    tl = tF.cross_entropy(xt, torch.tensor(t))
    tl.backward()
    for loss, g in outs:
        assert float(loss) == pytest.approx(tl.item(), rel=1e-5)
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-4, atol=1e-8)


def test_lse_extremes_match_torch_logsumexp():
    inf, nan = np.inf, np.nan
    x0 = np.array([[1e30, 1e30, 0.0], [-inf, -inf, -inf], [inf, 1.0, 2.0], [nan, 1.0, 2.0],
                   [-1e4, -1e4 + 1, -1e4 + 2], [88.0, 89.0, 90.0]], np.float32)
    want = torch.logsumexp(torch.tensor(x0), -1).numpy()
    eager = graphc.tensor(x0)
    from graphc.tensor import apply
    np.testing.assert_allclose(apply("lse", eager).numpy(), want, rtol=1e-6)
    got = graphc.compile(lambda x: apply("lse", x))(x0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: F.cross_entropy(graphc.zeros(3, 4), graphc.tensor(np.zeros(2, np.int64))),
     "batch_size"),
    (lambda: F.cross_entropy(graphc.zeros(3, 4, 2), graphc.tensor(np.zeros((3, 4), np.int64))),
     r"Expected target size \[3, 2\]"),
    (lambda: F.nll_loss(graphc.zeros(3, 4), graphc.zeros(3)), "integer class indices"),
    (lambda: F.cross_entropy(graphc.zeros(3, 4), graphc.tensor(np.zeros(3, np.int64)),
                             weight=graphc.ones(3)), "weight tensor should be defined"),
    (lambda: F.cross_entropy(graphc.zeros(3, 4), graphc.tensor(np.zeros(3, np.int64)),
                             label_smoothing=1.5), "label_smoothing must be between"),
    (lambda: F.cross_entropy(graphc.zeros(3, 4), graphc.zeros(3, 5)), "probabilities"),
    (lambda: F.cross_entropy(graphc.zeros(3, 4), graphc.tensor(np.zeros(3, np.int64)),
                             reduction="avg"), "reduction"),
])
def test_bad_arguments_raise_shape_errors(call, match):
    with pytest.raises(graphc.GraphcError, match=match):
        call()


def test_legacy_reduce_and_size_average_as_torch():
    x, t = _logits((4, 5)), _targets((4,), -100)
    for kw in ({"reduce": False}, {"size_average": False}):
        with pytest.warns(UserWarning):
            got = F.cross_entropy(graphc.tensor(x), graphc.tensor(t), **kw).numpy()
        with pytest.warns(UserWarning):
            want = tF.cross_entropy(torch.tensor(x), torch.tensor(t), **kw).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_kernels_for_every_tail_length_equal_the_interpreter(dtype):
    """The native rows sweep 16 (f64: 8) lanes a step, then one 8 (4) lane step, then a padded
    tail: these C cover every combination of the three for both widths, forward (xent, lse)
    and backward."""
    rng = np.random.default_rng(3)
    for c in (1, 3, 4, 5, 7, 8, 9, 10, 12, 13, 15, 16, 17, 23, 24, 25, 33, 65):
        x0 = rng.standard_normal((5, c)).astype(dtype) * 4
        t = rng.integers(0, c, 5)
        t[1] = -100
        res = []
        for backend in ("interpreter", "llvm"):
            xp = graphc.tensor(x0.copy(), requires_grad=True)

            def f(t):
                xp.grad = None
                loss = F.cross_entropy(xp, t, reduction="sum")
                loss.backward()
                return loss, xp.grad, F.cross_entropy(xp.detach(), t, label_smoothing=0.1)
            res.append([np.asarray(r) for r in graphc.compile(f, backend=backend)(t)])
        tol = 2e-6 if dtype == np.float32 else 1e-13
        for a, b in zip(*res):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"C={c}")
