"""The losses of graphc.nn.functional / graphc.nn beyond cross-entropy against PyTorch: every option
combination forward and gradient (float64, every differentiable argument), eagerly and compiled
(the interpreter; one LLVM graph holding all of them), torch's argument checks and warnings, the
module signatures, attributes, state_dicts and reprs, and 20 SGD steps of a small model per loss
from the same weights."""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.errors import ExecutionError, GraphcError, GraphcWarning, NotSupportedError
from graphc.nn import functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")   # kl_div's note

R = np.random.default_rng(7)
N, C = 5, 4


def rn(*shape, lo=None, hi=None):
    if lo is not None:
        return R.uniform(lo, hi, shape)
    return R.standard_normal(shape)


def sign(*shape):
    return np.where(R.uniform(size=shape) > 0.5, 1.0, -1.0)


def labels(n=N, c=C):
    return R.integers(0, c, n)


# Inputs, fixed once (float64; the targets of some losses hold ties and zeros on purpose).
X, Y = rn(N, C), rn(N, C)
Y3 = rn(C)                                    # broadcast against (N, C), with torch's warning
P = rn(N, C, lo=0.02, hi=0.98)
P_EDGE = P.copy()
P_EDGE[0, :3] = [0.0, 1.0, 1e-14]              # torch's gradient (x - y) / max(x(1-x), 1e-12)
SOFT, BIN = rn(N, C, lo=0, hi=1), (rn(N, C, lo=0, hi=1) > 0.5).astype(np.float64)
EW, PW = rn(N, C, lo=0.1, hi=2), rn(C, lo=0.5, hi=3)
LOGP = np.log(R.dirichlet(np.ones(C), N))
TP = R.dirichlet(np.ones(C), N)
TP[0, 1] = 0.0                                # 0 log 0 = 0
COUNTS = R.poisson(2.0, (N, C)).astype(np.float64)   # 0, 1 and > 1: Stirling's mask
VAR = rn(N, C, lo=0.2, hi=2)
VAR[0, 0] = 1e-9                              # below eps: clamped, gradient passed through
PM1 = sign(N)
PM0 = np.array([1.0, -1.0, 0.0, 1.0, -1.0])   # a 0 target: both hinge terms / neither cosine one
A, B, NEG = rn(N, 6), rn(N, 6), rn(N, 6)
B_ZERO = B.copy()
B_ZERO[1] = 0.0                               # cosine_similarity: a zero vector (eps clamp)
T = labels()
ML = np.array([[0, 2, -1, 1], [3, -1, 0, 0], [1, 1, 2, -1], [-1, 0, 0, 0], [0, 1, 2, 3]])
CW = rn(C, lo=0.5, hi=2)
WROW = rn(N, 1, lo=0.5, hi=2)


def cos_dist(x, y):
    """A custom distance_function written with the library's own ops (1 - cosine)."""
    lib = F if isinstance(x, graphc.Tensor) else tF
    return 1.0 - lib.cosine_similarity(x, y)


# name -> (fn(L, *tensors, r) with L = graphc's F or torch's F, arrays (the first `ndiff`
# differentiable), ndiff, reductions). r is passed as reduction= where the loss takes one.
RED = ("mean", "sum", "none")
CASES = {
    "mse": (lambda L, x, y, r: L.mse_loss(x, y, reduction=r), (X, Y), 2, RED),
    "mse-weight": (lambda L, x, y, w, r: L.mse_loss(x, y, reduction=r, weight=w), (X, Y, EW), 2,
                   RED),
    "mse-broadcast": (lambda L, x, y, r: L.mse_loss(x, y, reduction=r), (X, Y3), 2, RED),
    "l1": (lambda L, x, y, r: L.l1_loss(x, y, reduction=r), (X, Y), 2, RED),
    "l1-weight": (lambda L, x, y, w, r: L.l1_loss(x, y, reduction=r, weight=w), (X, Y, EW), 2, RED),
    "bce": (lambda L, x, y, r: L.binary_cross_entropy(x, y, reduction=r), (P, SOFT), 2, RED),
    "bce-edges": (lambda L, x, y, r: L.binary_cross_entropy(x, y, reduction=r), (P_EDGE, BIN), 1,
                  RED),
    "bce-weight-row": (lambda L, x, y, w, r: L.binary_cross_entropy(x, y, w, reduction=r),
                       (P, BIN, WROW), 2, RED),
    "bce-logits": (lambda L, x, y, r: L.binary_cross_entropy_with_logits(x, y, reduction=r),
                   (X * 3, SOFT), 2, RED),
    "bce-logits-weight-pos": (lambda L, x, y, w, pw, r: L.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=pw, reduction=r), (X * 3, BIN, EW, PW), 2, RED),
    "smooth-l1": (lambda L, x, y, r: L.smooth_l1_loss(x, y, reduction=r, beta=0.7), (X, Y), 2, RED),
    "smooth-l1-beta0": (lambda L, x, y, r: L.smooth_l1_loss(x, y, reduction=r, beta=0.0), (X, Y),
                        2, RED),
    "smooth-l1-broadcast": (lambda L, x, y, r: L.smooth_l1_loss(x, y, reduction=r), (X, Y3), 2,
                            RED),
    "huber": (lambda L, x, y, r: L.huber_loss(x, y, reduction=r, delta=0.6), (X, Y), 2, RED),
    "huber-weight": (lambda L, x, y, w, r: L.huber_loss(x, y, reduction=r, delta=1.5, weight=w),
                     (X, Y, EW), 2, RED),
    "kl": (lambda L, x, t, r: L.kl_div(x, t, reduction=r), (LOGP, TP), 1, RED + ("batchmean",)),
    "kl-log-target": (lambda L, x, t, r: L.kl_div(x, t, reduction=r, log_target=True),
                      (LOGP, LOGP[::-1].copy()), 2, RED + ("batchmean",)),
    "soft-margin": (lambda L, x, y, r: L.soft_margin_loss(x, y, reduction=r), (X * 2, sign(N, C)),
                    1, RED),
    "soft-margin-broadcast": (lambda L, x, y, r: L.soft_margin_loss(x, y, reduction=r),
                              (X, sign(C)), 1, RED),
    "poisson": (lambda L, x, t, r: L.poisson_nll_loss(x, t, reduction=r), (X, COUNTS), 1, RED),
    "poisson-full": (lambda L, x, t, r: L.poisson_nll_loss(x, t, full=True, reduction=r),
                     (X, COUNTS), 1, RED),
    "poisson-rate": (lambda L, x, t, r: L.poisson_nll_loss(x, t, log_input=False, reduction=r,
                                                           eps=1e-3), (P * 3, COUNTS), 1, RED),
    "poisson-rate-full": (lambda L, x, t, r: L.poisson_nll_loss(x, t, False, True, reduction=r),
                          (P * 3, COUNTS), 1, RED),
    "gaussian": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, reduction=r), (X, Y, VAR), 3,
                 RED),
    "gaussian-full-eps": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, full=True, eps=0.3,
                                                                    reduction=r), (X, Y, VAR), 3,
                          RED),
    "gaussian-var-row": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, reduction=r),
                         (X, Y, VAR[:, 0].copy()), 3, RED),
    "gaussian-var-col1": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, reduction=r),
                          (X, Y, VAR[:, :1].copy()), 3, RED),
    "gaussian-var-1c": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, reduction=r),
                        (X, Y, VAR[:1].copy()), 3, RED),
    "gaussian-var-float": (lambda L, x, t, r: L.gaussian_nll_loss(x, t, 0.7, reduction=r),
                           (X, Y), 2, RED),
    "gaussian-target-broadcast": (lambda L, x, t, v, r: L.gaussian_nll_loss(x, t, v, reduction=r),
                                  (X, Y3, VAR), 3, RED),
    "cosine-embedding": (lambda L, a, b, y, r: L.cosine_embedding_loss(a, b, y, reduction=r),
                         (A, B, PM0), 2, RED),
    "cosine-embedding-margin": (lambda L, a, b, y, r: L.cosine_embedding_loss(
        a, b, y, margin=0.2, reduction=r), (A, B, PM1), 2, RED),
    "cosine-embedding-1d": (lambda L, a, b, y, r: L.cosine_embedding_loss(a, b, y, 0.1,
                                                                          reduction=r),
                            (A[0], B[0], np.array(-1.0)), 2, RED),
    "margin-ranking": (lambda L, a, b, y, r: L.margin_ranking_loss(a, b, y, reduction=r),
                       (X[:, 0].copy(), Y[:, 0].copy(), PM1), 2, RED),
    "margin-ranking-margin": (lambda L, a, b, y, r: L.margin_ranking_loss(a, b, y, 0.5,
                                                                          reduction=r),
                              (X[:, 0].copy(), Y[:, 0].copy(), PM1), 2, RED),
    "hinge-embedding": (lambda L, x, y, r: L.hinge_embedding_loss(x, y, reduction=r),
                        (X, np.where(BIN > 0, 1.0, -1.0)), 1, RED),
    "hinge-embedding-margin-0": (lambda L, x, y, r: L.hinge_embedding_loss(x, y, 0.4,
                                                                           reduction=r),
                                 (X[:, 0].copy(), PM0), 1, RED),
    "triplet": (lambda L, a, p, n, r: L.triplet_margin_loss(a, p, n, reduction=r), (A, B, NEG), 3,
                RED),
    "triplet-p1-swap": (lambda L, a, p, n, r: L.triplet_margin_loss(a, p, n, margin=2.0, p=1,
                                                                    swap=True, reduction=r),
                        (A, B, NEG), 3, RED),
    "triplet-p3-eps": (lambda L, a, p, n, r: L.triplet_margin_loss(a, p, n, p=3, eps=1e-3,
                                                                   reduction=r), (A, B, NEG), 3,
                       RED),
    "triplet-distance": (lambda L, a, p, n, r: L.triplet_margin_with_distance_loss(
        a, p, n, reduction=r), (A, B, NEG), 3, RED),
    "triplet-distance-custom-swap": (lambda L, a, p, n, r: L.triplet_margin_with_distance_loss(
        a, p, n, distance_function=cos_dist, margin=0.5, swap=True, reduction=r), (A, B, NEG), 3,
        RED),
    "multi-margin": (lambda L, x, t, r: L.multi_margin_loss(x, t, reduction=r), (X, T), 1, RED),
    "multi-margin-p2-weight": (lambda L, x, t, w, r: L.multi_margin_loss(x, t, p=2, margin=0.7,
                                                                         weight=w, reduction=r),
                               (X, T, CW), 1, RED),
    "multi-margin-1d": (lambda L, x, t, r: L.multi_margin_loss(x, t, reduction=r),
                        (X[0], T[:1].copy()), 1, RED),
    "multilabel-margin": (lambda L, x, t, r: L.multilabel_margin_loss(x, t, reduction=r), (X, ML),
                          1, RED),
    "multilabel-margin-1d": (lambda L, x, t, r: L.multilabel_margin_loss(x, t, reduction=r),
                             (X[0], ML[0]), 1, RED),
    "multilabel-soft-margin": (lambda L, x, y, r: L.multilabel_soft_margin_loss(x, y, reduction=r),
                               (X * 2, BIN), 2, RED),
    "multilabel-soft-margin-weight": (lambda L, x, y, w, r: L.multilabel_soft_margin_loss(
        x, y, weight=w, reduction=r), (X * 2, SOFT, CW), 2, RED),
    "cosine-similarity": (lambda L, a, b, r: L.cosine_similarity(a, b), (A, B_ZERO), 2, (None,)),
    "cosine-similarity-dim0-broadcast": (lambda L, a, b, r: L.cosine_similarity(a, b, 0, 1e-3),
                                         (A, B[:1].copy()), 2, (None,)),
    "cosine-similarity-small": (lambda L, a, b, r: L.cosine_similarity(a * 1e-10, b, eps=1e-8),
                                (A, B), 2, (None,)),
    "pairwise-distance-keepdim": (lambda L, a, b, r: L.pairwise_distance(a, b, keepdim=True),
                                  (A, B), 2, (None,)),
    "pairwise-distance-broadcast": (lambda L, a, b, r: L.pairwise_distance(a, b, 1.0), (A, B[0]),
                                    2, (None,)),
}
for _p in (0, 0.5, 1.5, 3, math.inf, -math.inf, -1):
    CASES[f"pairwise-distance-p{_p}"] = (lambda L, a, b, r, p=_p: L.pairwise_distance(a, b, p),
                                         (A, B), 2, (None,))
CASES["pairwise-distance-zero-rows"] = (   # x1 - x2 + eps == 0 in row 0: the norm's gradient at 0
    lambda L, a, b, r: L.pairwise_distance(a, b, 2.0, 0.0), (np.vstack([B[:1], A[1:]]), B), 2,
    (None,))

PARAMS = [(k, r) for k, (_, _, _, reds) in CASES.items() for r in reds]


def _lib_tensors(lib, arrays, ndiff):
    if lib is F:
        return [graphc.tensor(a, requires_grad=i < ndiff) for i, a in enumerate(arrays)]
    return [torch.tensor(a, requires_grad=i < ndiff) for i, a in enumerate(arrays)]


def _torch_side(name, r):
    fn, arrays, ndiff, _ = CASES[name]
    ts = _lib_tensors(tF, arrays, ndiff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(tF, *ts, r)
    w = np.random.default_rng(3).uniform(0.5, 1.5, tuple(out.shape))
    (out * torch.tensor(w)).sum().backward()
    grads = [t.grad.numpy() if t.grad is not None else np.zeros(t.shape) for t in ts[:ndiff]]
    return out.detach().numpy(), grads, w


def _close(got, want, rtol=1e-10, atol=1e-12, what=""):
    got = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    assert got.shape == np.shape(want), (what, got.shape, np.shape(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("name,r", PARAMS)
def test_loss_forward_and_gradient_match_torch_eager(name, r):
    fn, arrays, ndiff, _ = CASES[name]
    want, tgrads, w = _torch_side(name, r)
    ts = _lib_tensors(F, arrays, ndiff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(F, *ts, r)
    _close(out, want, what="value")
    (out * graphc.tensor(w)).sum().backward()
    for i, (t, g) in enumerate(zip(ts, tgrads)):
        got = np.zeros(t.shape) if t.grad is None else t.grad
        _close(got, g, rtol=1e-9, atol=1e-10, what=f"grad of argument {i}")
    assert any(np.abs(g).max() > 0 for g in tgrads) or name == "pairwise-distance-p0"


@pytest.mark.parametrize("name,r", [(k, r) for k, r in PARAMS
                                    if r in ("mean", "none", "batchmean", None)])
def test_loss_forward_and_gradient_match_torch_compiled(name, r):
    fn, arrays, ndiff, _ = CASES[name]
    want, tgrads, w = _torch_side(name, r)

    def step(wt, *ts):
        for t in ts[:ndiff]:
            t.requires_grad_(True)
        out = fn(F, *ts, r)
        (out * wt).sum().backward()
        return (out,) + tuple(t.grad for t in ts[:ndiff])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = graphc.compile(step)(graphc.tensor(w), *(graphc.tensor(a) for a in arrays))
    _close(res[0], want, what="value")
    for i, (g, tg) in enumerate(zip(res[1:], tgrads)):
        _close(g, tg, rtol=1e-9, atol=1e-10, what=f"grad of argument {i}")


def test_every_loss_in_one_llvm_graph_equals_eager():
    """All the cases (reduction 'none' or none at all) in one compiled float32 function on the
    LLVM backend, each value and its input gradient against graphc's eager result."""
    names = [k for k, (_, _, _, reds) in CASES.items() if reds[-1] in ("none", None)
             and k not in ("bce-edges", "pairwise-distance-p0")]

    def run(*flat):
        outs, k = [], 0
        for name in names:
            fn, arrays, _, reds = CASES[name]
            ts = list(flat[k:k + len(arrays)])
            k += len(arrays)
            ts[0].requires_grad_(True)
            out = fn(F, *ts, reds[-1])
            (out * out).sum().backward()
            outs += [out, ts[0].grad]
        return tuple(outs)

    flat = [a.astype(np.float32) if a.dtype == np.float64 else a
            for name in names for a in CASES[name][1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = graphc.compile(run, backend="llvm")(*(graphc.tensor(a) for a in flat))
        want = run(*(graphc.tensor(a) for a in flat))
    for i, (g, e) in enumerate(zip(got, want)):
        np.testing.assert_allclose(np.asarray(g), e.numpy(), rtol=2e-5, atol=2e-6,
                                   err_msg=f"{names[i // 2]} {'grad' if i % 2 else 'value'}")


# ---- torch's legacy reduction arguments, warnings and argument checks ---------------------------

LEGACY = [(None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, True, "sum"),
          (True, False, "none")]


@pytest.mark.parametrize("size_average,reduce,expect", LEGACY)
def test_legacy_size_average_and_reduce(size_average, reduce, expect):
    x, y = graphc.tensor(X), graphc.tensor(Y)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    calls = [
        ("mse_loss", (x, y), (tx, ty)), ("l1_loss", (x, y), (tx, ty)),
        ("smooth_l1_loss", (x, y), (tx, ty)), ("soft_margin_loss", (x, graphc.tensor(BIN)),
                                               (tx, torch.tensor(BIN))),
        ("binary_cross_entropy", (graphc.tensor(P), graphc.tensor(BIN)),
         (torch.tensor(P), torch.tensor(BIN))),
        ("binary_cross_entropy_with_logits", (x, graphc.tensor(BIN)), (tx, torch.tensor(BIN))),
        ("kl_div", (graphc.tensor(LOGP), graphc.tensor(TP)), (torch.tensor(LOGP),
                                                              torch.tensor(TP))),
        ("poisson_nll_loss", (x, graphc.tensor(COUNTS)), (tx, torch.tensor(COUNTS))),
        ("hinge_embedding_loss", (x, graphc.tensor(BIN)), (tx, torch.tensor(BIN))),
        ("multilabel_soft_margin_loss", (x, graphc.tensor(BIN)), (tx, torch.tensor(BIN))),
        ("multi_margin_loss", (x, graphc.tensor(T)), (tx, torch.tensor(T))),
        ("multilabel_margin_loss", (x, graphc.tensor(ML)), (tx, torch.tensor(ML))),
        ("margin_ranking_loss", (x[:, 0], y[:, 0], graphc.tensor(PM1)),
         (tx[:, 0], ty[:, 0], torch.tensor(PM1))),
        ("cosine_embedding_loss", (x, y, graphc.tensor(PM1)), (tx, ty, torch.tensor(PM1))),
        ("triplet_margin_loss", (x, y, x * 0.5), (tx, ty, tx * 0.5)),
    ]
    for name, ours, theirs in calls:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            got = getattr(F, name)(*ours, size_average=size_average, reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = getattr(tF, name)(*theirs, size_average=size_average, reduce=reduce)
        _close(got, want.numpy(), what=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert getattr(F, name)(*ours, reduction=expect).shape == got.shape
    with pytest.warns(UserWarning, match="size_average and reduce"):
        m = nn.MSELoss(size_average, reduce)
    assert m.reduction == torch.nn.MSELoss(size_average, reduce).reduction == expect


def test_target_size_warnings_as_torch():
    x, y3 = graphc.tensor(X), graphc.tensor(Y3)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        with pytest.warns(GraphcWarning, match=r"Using a target size \(\[4\]\) that is different "
                                               r"to the input size \(\[5, 4\]\)") as rec:
            getattr(F, name)(x, y3)
        assert rec[0].filename == __file__           # reported at the caller's line
        with pytest.warns(UserWarning, match="Using a target size"):
            getattr(tF, name)(torch.tensor(X), torch.tensor(Y3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            getattr(F, name)(x, graphc.tensor(Y))   # same shapes: no warning
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss"):
        F.kl_div(graphc.tensor(LOGP), graphc.tensor(TP))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(graphc.tensor(LOGP), graphc.tensor(TP), reduction="batchmean")


def _raises_like_torch(ours, theirs, cls, match):
    with pytest.raises(cls, match=match):
        ours()
    with pytest.raises((RuntimeError, ValueError, TypeError, IndexError)):
        theirs()


ERRORS = {
    "reduction": (lambda L, c: L.mse_loss(c(X), c(Y), reduction="foo"), "not a valid value"),
    "reduction-batchmean-mse": (lambda L, c: L.l1_loss(c(X), c(Y), reduction="batchmean"),
                                "not a valid value"),
    "mse-not-broadcastable": (lambda L, c: L.mse_loss(c(X), c(rn(3))), "do not broadcast"),
    "mse-weight-shape": (lambda L, c: L.mse_loss(c(X), c(Y), weight=c(CW)), "same size"),
    "huber-weight-shape": (lambda L, c: L.huber_loss(c(X), c(Y), weight=c(CW)), "same size"),
    "smooth-l1-negative-beta": (lambda L, c: L.smooth_l1_loss(c(X), c(Y), beta=-1.0),
                                "negative values for beta"),
    "huber-delta-0": (lambda L, c: L.huber_loss(c(X), c(Y), delta=0.0), "non-positive"),
    "bce-size": (lambda L, c: L.binary_cross_entropy(c(P), c(P[0])), "different to the input size"),
    "bce-weight-grows": (lambda L, c: L.binary_cross_entropy(c(P), c(P), c(rn(2, N, C))),
                         "does not broadcast"),
    "bce-logits-size": (lambda L, c: L.binary_cross_entropy_with_logits(c(X), c(P[0])),
                        "must be the same as input size"),
    "bce-logits-pos-weight-grows": (lambda L, c: L.binary_cross_entropy_with_logits(
        c(X), c(P), pos_weight=c(rn(2, N, C))), "does not broadcast"),
    "soft-margin-target-grows": (lambda L, c: L.soft_margin_loss(c(X[0]), c(X)),
                                 "does not broadcast"),
    "cosine-similarity-int": (lambda L, c: L.cosine_similarity(c(T), c(T), 0),
                              "floating point"),
    "cosine-similarity-shapes": (lambda L, c: L.cosine_similarity(c(A), c(B[:, :3])),
                                 "do not broadcast"),
    "gaussian-negative-float": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), -0.5),
                                "negative entry"),
    "gaussian-negative-tensor": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), c(-VAR)),
                                 "negative entry"),
    "gaussian-var-size-c": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), c(VAR[0])),
                            "incorrect size"),
    "gaussian-var-size-11": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), c(VAR[:1, :1])),
                             "incorrect size"),
    "gaussian-var-0d": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), c(np.float64(1.0))),
                        "incorrect size"),
    "gaussian-reduction": (lambda L, c: L.gaussian_nll_loss(c(X), c(Y), c(VAR), reduction="x"),
                           "not valid"),
    "margin-ranking-ndim": (lambda L, c: L.margin_ranking_loss(c(X[0]), c(X[0]), c(X[:1])),
                            "same dimension"),
    "cosine-embedding-target-2d": (lambda L, c: L.cosine_embedding_loss(c(A), c(B), c(X)),
                                   "0D or 1D target"),
    "cosine-embedding-input-ndim": (lambda L, c: L.cosine_embedding_loss(c(A), c(B[0]), c(PM1)),
                                    "1D target tensor expects 2D input"),
    "cosine-embedding-batch": (lambda L, c: L.cosine_embedding_loss(c(A), c(B), c(PM1[:3])),
                               "do not broadcast"),
    "triplet-margin-0": (lambda L, c: L.triplet_margin_loss(c(A), c(B), c(NEG), margin=0),
                         "greater than 0"),
    "triplet-ndim": (lambda L, c: L.triplet_margin_loss(c(A), c(B[0]), c(NEG)),
                     "same number of dimensions"),
    "triplet-distance-ndim": (lambda L, c: L.triplet_margin_with_distance_loss(
        c(A), c(B), c(NEG[0])), "same number of dimensions"),
    "triplet-distance-reduction": (lambda L, c: L.triplet_margin_with_distance_loss(
        c(A), c(B), c(NEG), reduction="avg"), "not a valid value"),
    "multi-margin-p3": (lambda L, c: L.multi_margin_loss(c(X), c(T), p=3),
                        "only p == 1 and p == 2"),
    "multi-margin-weight-2d": (lambda L, c: L.multi_margin_loss(c(X), c(T), weight=c(X)),
                               "one-dimensional"),
    "multi-margin-weight-size": (lambda L, c: L.multi_margin_loss(c(X), c(T), weight=c(CW[:2])),
                                 "inconsistent weight size"),
    "multi-margin-target-size": (lambda L, c: L.multi_margin_loss(c(X), c(T[:3])),
                                 "Expected target size"),
    "multi-margin-3d": (lambda L, c: L.multi_margin_loss(c(rn(2, 3, 4)), c(T[:2])),
                        "non-empty vector or matrix"),
    "multi-margin-float-target": (lambda L, c: L.multi_margin_loss(c(X), c(X[:, 0])), "int64"),
    "multilabel-margin-size": (lambda L, c: L.multilabel_margin_loss(c(X), c(ML[:, :2])),
                               "inconsistent target size"),
    "multilabel-soft-margin-0d": (lambda L, c: L.multilabel_soft_margin_loss(
        c(np.float64(1.0)), c(np.float64(1.0))), "class dimension"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_argument_errors_as_torch(name):
    fn, match = ERRORS[name]
    _raises_like_torch(lambda: fn(F, graphc.tensor), lambda: fn(tF, torch.tensor), GraphcError,
                       match)


def test_data_dependent_errors_eager_and_what_compiled_does():
    bad = P.copy()
    bad[0, 0] = 1.5
    with pytest.raises(ExecutionError, match="between 0 and 1"):
        F.binary_cross_entropy(graphc.tensor(bad), graphc.tensor(BIN))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        tF.binary_cross_entropy(torch.tensor(bad), torch.tensor(BIN))
    out = graphc.compile(lambda x, y: F.binary_cross_entropy(x, y, reduction="none"))(
        graphc.tensor(bad), graphc.tensor(BIN)).numpy()
    assert np.isnan(out[0, 0]) and np.isfinite(out[1:]).all()     # compiled: NaN, never a number
    with pytest.raises(ExecutionError, match="target out of range"):
        F.multi_margin_loss(graphc.tensor(X), graphc.tensor(np.array([0, 1, 4, 0, 0])))
    with pytest.raises(ExecutionError, match="out of range"):
        F.multilabel_margin_loss(graphc.tensor(X), graphc.tensor(ML - 1))
    with pytest.raises(GraphcError):   # the gather's index check, compiled
        graphc.compile(lambda x, y: F.multi_margin_loss(x, y))(
            graphc.tensor(X), graphc.tensor(np.array([0, 1, 4, 0, 0])))
    neg = VAR.copy()
    neg[1, 1] = -1.0
    f = graphc.compile(lambda x, y, v: F.gaussian_nll_loss(x, y, v, reduction="none"))
    out = f(graphc.tensor(X), graphc.tensor(Y), graphc.tensor(neg)).numpy()
    assert np.isnan(out[1, 1]) and np.isfinite(np.delete(out.ravel(), 1 * C + 1)).all()


def test_ctc_loss_is_a_clear_not_supported_error():
    for get in (lambda: nn.CTCLoss, lambda: F.ctc_loss):
        with pytest.raises(NotSupportedError, match="not supported"):
            get()


def test_cosine_similarity_gradient_of_a_zero_vector_is_torchs_not_nan():
    b = graphc.tensor(B_ZERO, requires_grad=True)
    F.cosine_similarity(graphc.tensor(A), b).sum().backward()
    tb = torch.tensor(B_ZERO, requires_grad=True)
    tF.cosine_similarity(torch.tensor(A), tb).sum().backward()
    assert np.isfinite(b.grad.numpy()).all() and np.abs(b.grad.numpy()[1]).max() > 1e3
    _close(b.grad, tb.grad.numpy(), rtol=1e-9)


def test_margin_ties_take_torchs_gradient():
    """At a hinge's kink torch's clamp_min passes the gradient (v >= 0) while the multi-class
    margin kernels test v > 0; graphc follows each."""
    x1 = np.array([1.0, 2.0, 0.5])
    x2 = np.array([1.0, 1.5, 0.5])
    y = np.array([1.0, 1.0, -1.0])
    for fn in (lambda L, a, b: L.margin_ranking_loss(a, b, torch.tensor(y) if L is tF else
                                                     graphc.tensor(y), reduction="sum"),
               lambda L, a, b: L.hinge_embedding_loss(a - b, torch.tensor(-y) if L is tF else
                                                      graphc.tensor(-y), 0.0, reduction="sum"),
               lambda L, a, b: L.triplet_margin_loss(a[None], b[None], b[None] * 0, margin=1.0,
                                                     p=1, eps=0.0),
               lambda L, a, b: L.multi_margin_loss((a - b)[None] * 2, (torch.tensor if L is tF
                                                                       else graphc.tensor)([1])),
               lambda L, a, b: L.multilabel_margin_loss(
                   (a - b)[None] * 2, (torch.tensor if L is tF else graphc.tensor)([[1, -1, 0]]))):
        ga, gb = (graphc.tensor(v, requires_grad=True) for v in (x1, x2))
        fn(F, ga, gb).backward()
        ta, tb = (torch.tensor(v, requires_grad=True) for v in (x1, x2))
        fn(tF, ta, tb).backward()
        _close(ga.grad, ta.grad.numpy())
        _close(gb.grad, tb.grad.numpy())


# ---- modules: signatures, attributes, buffers, reprs, forward ----------------------------------

MODULES = ["L1Loss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss", "HuberLoss",
           "KLDivLoss", "SoftMarginLoss", "CosineSimilarity", "PairwiseDistance", "PoissonNLLLoss",
           "GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "HingeEmbeddingLoss",
           "TripletMarginLoss", "TripletMarginWithDistanceLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", MODULES)
def test_module_signature_defaults_and_repr_match_torch(name):
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    ps = [(p.name, p.kind, p.default) for p in inspect.signature(ours.__init__).parameters.values()]
    tps = [(p.name, p.kind, p.default)
           for p in inspect.signature(theirs.__init__).parameters.values()]
    assert ps == tps
    assert repr(ours()) == repr(theirs())
    for attr in ("reduction", "margin", "p", "eps", "swap", "full", "log_input", "log_target",
                 "beta", "delta", "ignore_index", "label_smoothing", "dim", "norm", "keepdim"):
        if hasattr(theirs(), attr):
            assert getattr(ours(), attr) == getattr(theirs(), attr), attr


def test_module_weights_are_buffers_in_state_dict():
    for name, kw in [("BCELoss", ["weight"]), ("BCEWithLogitsLoss", ["weight", "pos_weight"]),
                     ("MultiMarginLoss", ["weight"]), ("MultiLabelSoftMarginLoss", ["weight"]),
                     ("CrossEntropyLoss", ["weight"]), ("NLLLoss", ["weight"])]:
        w = rn(C, lo=0.5, hi=2)
        ours = getattr(nn, name)(**{k: graphc.tensor(w) for k in kw})
        theirs = getattr(torch.nn, name)(**{k: torch.tensor(w) for k in kw})
        assert list(ours.state_dict()) == list(theirs.state_dict()) == kw
        assert list(getattr(nn, name)().state_dict()) == []
        np.testing.assert_array_equal(np.asarray(ours.state_dict()["weight"]), w)


def test_module_argument_checks_as_torch():
    for make in (lambda m: m.TripletMarginLoss(margin=0.0),
                 lambda m: m.TripletMarginWithDistanceLoss(margin=-1.0),
                 lambda m: m.MultiMarginLoss(p=3),
                 lambda m: m.MultiMarginLoss(weight=(graphc if m is nn else torch).ones(2, 2)),
                 lambda m: m.HuberLoss(delta="1")):
        with pytest.raises(GraphcError):
            make(nn)
        with pytest.raises((ValueError, TypeError)):
            make(torch.nn)
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)          # keyword-only, as torch's
    m = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1.0))
    assert dict(m.named_children()).keys() == {"distance_function"}


MODULE_CALLS = [
    ("PoissonNLLLoss", {"log_input": False, "full": True, "eps": 1e-4}, (P * 3, COUNTS)),
    ("GaussianNLLLoss", {"full": True, "eps": 1e-3, "reduction": "sum"}, (X, Y, VAR)),
    ("CosineEmbeddingLoss", {"margin": 0.3, "reduction": "none"}, (A, B, PM1)),
    ("MarginRankingLoss", {"margin": 0.2}, (X[:, 0].copy(), Y[:, 0].copy(), PM1)),
    ("HingeEmbeddingLoss", {"margin": 0.5, "reduction": "sum"}, (X, np.where(BIN > 0, 1.0, -1.0))),
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, (A, B, NEG)),
    ("TripletMarginWithDistanceLoss", {"swap": True, "reduction": "none"}, (A, B, NEG)),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": CW}, (X, T)),
    ("MultiLabelMarginLoss", {"reduction": "none"}, (X, ML)),
    ("MultiLabelSoftMarginLoss", {"weight": CW, "reduction": "sum"}, (X, BIN)),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, (LOGP, LOGP[::-1].copy())),
    ("HuberLoss", {"delta": 0.3}, (X, Y)),
    ("SmoothL1Loss", {"beta": 0.0, "reduction": "sum"}, (X, Y)),
    ("BCEWithLogitsLoss", {"weight": EW, "pos_weight": PW}, (X, BIN)),
    ("PairwiseDistance", {"p": 3.0, "eps": 1e-3, "keepdim": True}, (A, B)),
    ("CosineSimilarity", {"dim": 0, "eps": 1e-4}, (A, B)),
]


@pytest.mark.parametrize("name,kw,arrays", MODULE_CALLS, ids=[c[0] for c in MODULE_CALLS])
def test_module_forward_matches_torch(name, kw, arrays):
    ours = getattr(nn, name)(**{k: graphc.tensor(v) if isinstance(v, np.ndarray) else v
                                for k, v in kw.items()})
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kw.items()})
    got = ours(*(graphc.tensor(a) for a in arrays))
    _close(got, theirs(*(torch.tensor(a) for a in arrays)).numpy(), what=name)


# ---- training: 20 SGD steps of a small model per loss, from the same weights -------------------

def _nets(out):
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, out))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, out))
    tnet.load_state_dict({k: torch.tensor(np.array(v)) for k, v in net.state_dict().items()})
    return net, tnet


def _batch(step, k=3):
    rng = np.random.default_rng(100 + step)
    xs = [rng.standard_normal((6, 4)).astype(np.float32) for _ in range(k)]
    y = {
        "reg": rng.standard_normal((6, 3)).astype(np.float32),
        "prob": rng.uniform(0, 1, (6, 3)).astype(np.float32),
        "bin": (rng.uniform(size=(6, 3)) > 0.5).astype(np.float32),
        "pm": np.where(rng.uniform(size=6) > 0.5, 1.0, -1.0).astype(np.float32),
        "pm3": np.where(rng.uniform(size=(6, 3)) > 0.5, 1.0, -1.0).astype(np.float32),
        "cls": rng.integers(0, 3, 6),
        "counts": rng.poisson(1.5, (6, 3)).astype(np.float32),
        "ml": np.array([[0, -1, 0], [1, 2, -1], [2, 0, 1], [-1, 0, 0], [1, -1, 2], [0, 2, -1]]),
        "dist": rng.dirichlet(np.ones(3), 6).astype(np.float32),
    }
    return xs, y


# name -> loss(L, net, xs, y) with L = graphc's F or torch's F, xs three input batches, y targets
TRAIN = {
    "mse": lambda L, n, xs, y: L.mse_loss(n(xs[0]), y["reg"]),
    "l1": lambda L, n, xs, y: L.l1_loss(n(xs[0]), y["reg"], reduction="sum"),
    "mse-weight": lambda L, n, xs, y: L.mse_loss(n(xs[0]), y["reg"], weight=y["prob"]),
    "bce": lambda L, n, xs, y: L.binary_cross_entropy(L.sigmoid(n(xs[0])), y["prob"],
                                                      weight=y["prob"][:1]),
    "bce-logits": lambda L, n, xs, y: L.binary_cross_entropy_with_logits(
        n(xs[0]), y["bin"], weight=y["prob"], pos_weight=y["prob"][0] + 0.5),
    "smooth-l1": lambda L, n, xs, y: L.smooth_l1_loss(n(xs[0]), y["reg"], beta=0.5),
    "huber": lambda L, n, xs, y: L.huber_loss(n(xs[0]), y["reg"], delta=0.5),
    "kl-batchmean": lambda L, n, xs, y: L.kl_div(L.log_softmax(n(xs[0]), 1), y["dist"],
                                                 reduction="batchmean"),
    "kl-log-target": lambda L, n, xs, y: L.kl_div(L.log_softmax(n(xs[0]), 1),
                                                  L.log_softmax(n(xs[1]), 1), reduction="sum",
                                                  log_target=True),
    "soft-margin": lambda L, n, xs, y: L.soft_margin_loss(n(xs[0]), y["pm3"]),
    "poisson": lambda L, n, xs, y: L.poisson_nll_loss(n(xs[0]), y["counts"], full=True),
    "gaussian": lambda L, n, xs, y: L.gaussian_nll_loss(n(xs[0]), y["reg"],
                                                        L.softplus(n(xs[1])), full=True),
    "cosine-embedding": lambda L, n, xs, y: L.cosine_embedding_loss(n(xs[0]), n(xs[1]), y["pm"],
                                                                    margin=0.2),
    "margin-ranking": lambda L, n, xs, y: L.margin_ranking_loss(n(xs[0])[:, 0], n(xs[1])[:, 0],
                                                                y["pm"], margin=0.5),
    "hinge-embedding": lambda L, n, xs, y: L.hinge_embedding_loss(n(xs[0]), y["pm3"]),
    "triplet": lambda L, n, xs, y: L.triplet_margin_loss(n(xs[0]), n(xs[1]), n(xs[2]), swap=True),
    "triplet-distance": lambda L, n, xs, y: L.triplet_margin_with_distance_loss(
        n(xs[0]), n(xs[1]), n(xs[2]), distance_function=cos_dist, margin=0.5),
    "multi-margin": lambda L, n, xs, y: L.multi_margin_loss(n(xs[0]), y["cls"], p=2,
                                                            weight=y["prob"][0]),
    "multilabel-margin": lambda L, n, xs, y: L.multilabel_margin_loss(n(xs[0]), y["ml"]),
    "multilabel-soft-margin": lambda L, n, xs, y: L.multilabel_soft_margin_loss(
        n(xs[0]), y["bin"], weight=y["prob"][0]),
    "cosine-similarity": lambda L, n, xs, y: -L.cosine_similarity(n(xs[0]), n(xs[1])).mean(),
    "pairwise-distance": lambda L, n, xs, y: L.pairwise_distance(n(xs[0]), n(xs[1]), p=1.5).sum(),
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(TRAIN))
def test_twenty_sgd_steps_match_torch(name, compiled):
    loss_fn = TRAIN[name]
    net, tnet = _nets(3)
    before = [np.array(p) for p in net.parameters()]
    opt = graphc.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.05, momentum=0.5)

    keys = list(_batch(0)[1])

    def step(x0, x1, x2, *ys):
        opt.zero_grad()
        loss = loss_fn(F, net, (x0, x1, x2), dict(zip(keys, ys)))
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = graphc.compile(step)
    for i in range(20):
        xs, y = _batch(i)
        loss = step(*(graphc.tensor(x) for x in xs), *(graphc.tensor(y[k]) for k in keys))
        topt.zero_grad()
        tl = loss_fn(tF, tnet, [torch.tensor(x) for x in xs],
                     {k: torch.tensor(v) for k, v in y.items()})
        tl.backward()
        topt.step()
        np.testing.assert_allclose(float(loss), tl.item(), rtol=2e-5, atol=1e-6,
                                   err_msg=f"step {i}")
    moved = False
    for p, tp, b in zip(net.parameters(), tnet.parameters(), before):
        np.testing.assert_allclose(np.array(p), tp.detach().numpy(), rtol=1e-4, atol=1e-5)
        moved |= not np.array_equal(np.array(p), b)
    assert moved
    if compiled:
        assert len(step._cache) <= 2    # the first step also creates the momentum buffers
