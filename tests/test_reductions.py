"""Torch's reductions (graphc/reduce_ops.py, max/min with dim) vs PyTorch: values, dtypes and
shapes eagerly, gradients through eager .backward(), and compiled on both backends (forward and
gradient in one compiled function) equal to eager.

The primitives themselves (cumprod, argsort: shape rule, reference, gradient, kernel) are covered
by the registry-generated suites (test_ops, test_autodiff, test_llvm)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")
# torch warns about var/std with N - correction <= 0 (graphc returns the same inf/nan silently)
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")

R = np.random.default_rng(0)
NAN, INF = float("nan"), float("inf")


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


def distinct(*shape, dtype=np.float32):
    """Values without ties (so every index torch returns is unique), shuffled."""
    n = int(np.prod(shape))
    scale = 0.37 if np.dtype(dtype).kind == "f" else 1
    return ((R.permutation(n) - n // 2) * scale).reshape(shape).astype(dtype)


def ints(*shape, hi=5, dtype=np.int64):
    return R.integers(-hi, hi, shape).astype(dtype)


def arr(rows, dtype=np.float32):
    return np.array(rows, dtype)


ZEROS = arr([[1.5, 0.0, 2.0, -1.0], [0.0, 2.0, 0.0, 3.0], [2.0, 1.0, -0.5, 3.0]])
WITH_NAN = arr([[3.0, NAN, 1.0, -2.0, 0.5], [NAN, NAN, 0.25, -1.0, 4.0],
                [1.0, 2.0, -3.0, 0.0, 5.0], [NAN, NAN, NAN, NAN, NAN]])
TIES = arr([[3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 0.0, -1.0, 4.0, 4.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
INFS = arr([[-INF, -INF, -INF], [INF, 1.0, 2.0], [INF, -INF, 0.0], [1.0, 2.0, 3.0]])
U8 = np.array([[0, 3, 255, 7], [9, 0, 1, 200]], np.uint8)
BOOLS = np.array([[True, False, True], [True, True, True], [False, False, False]])

# (id, program over (lib, *tensors), input arrays). A program returns a tensor or a tuple.
CASES = [
    # products
    ("prod", lambda L, a: L.prod(a), [f32(3, 4)]),
    ("prod-dim", lambda L, a: L.prod(a, 1), [f32(3, 4)]),
    ("prod-keepdim-neg", lambda L, a: a.prod(-2, keepdim=True), [f32(3, 4, 2)]),
    ("prod-zeros", lambda L, a: L.prod(a, 1), [ZEROS]),
    ("prod-zeros-all", lambda L, a: a.prod(), [ZEROS[:1]]),
    ("prod-zeros-dim0", lambda L, a: a.prod(0), [ZEROS]),
    ("prod-int", lambda L, a: L.prod(a, 0), [ints(4, 3)]),
    ("prod-int32-all", lambda L, a: a.prod(), [ints(5, dtype=np.int32)]),
    ("prod-bool", lambda L, a: L.prod(a > 0, 1), [f32(3, 4)]),
    ("prod-dtype", lambda L, a: L.prod(a, 0, dtype=L.float64), [f32(3, 2)]),
    ("prod-int-to-float", lambda L, a: a.prod(dtype=L.float32), [ints(2, 3)]),
    ("prod-empty", lambda L, a: a[:, :0].prod(1), [f32(3, 4)]),
    ("prod-empty-all", lambda L, a: a[:0].prod(), [f32(3, 4)]),
    ("prod-0d", lambda L, a: a.sum().prod(0), [f32(3)]),
    ("cumprod", lambda L, a: L.cumprod(a, 1), [f32(3, 5)]),
    ("cumprod-neg", lambda L, a: a.cumprod(-3), [f32(4, 2, 3)]),
    ("cumprod-zeros", lambda L, a: a.cumprod(1), [ZEROS]),
    ("cumprod-zeros-dim0", lambda L, a: a.cumprod(0), [ZEROS]),
    ("cumprod-int", lambda L, a: L.cumprod(a, 0), [ints(4, 3, dtype=np.int32)]),
    ("cumprod-dtype", lambda L, a: L.cumprod(a, 1, dtype=L.float64), [ints(2, 4)]),
    ("cumprod_", lambda L, a: (a * 1).cumprod_(0), [f32(4, 2)]),
    # logsumexp
    ("logsumexp", lambda L, a: L.logsumexp(a, 1), [f32(3, 5) * 30]),
    ("logsumexp-dims", lambda L, a: a.logsumexp((0, -1), keepdim=True), [f32(2, 3, 4)]),
    ("logsumexp-infs", lambda L, a: L.logsumexp(a, 1), [INFS]),
    ("logsumexp-nan", lambda L, a: L.logsumexp(a, 1), [WITH_NAN]),
    ("logsumexp-int", lambda L, a: L.logsumexp(a, 0), [ints(3, 2)]),
    ("logsumexp-empty", lambda L, a: L.logsumexp(a[:, :0], 1), [f32(2, 3)]),
    # var, std
    ("var", lambda L, a: L.var(a), [f32(3, 4)]),
    ("var-dim", lambda L, a: a.var(1), [f32(3, 4)]),
    ("var-dims-keepdim", lambda L, a: L.var(a, (0, 2), keepdim=True), [f32(2, 3, 4)]),
    ("var-unbiased-false", lambda L, a: L.var(a, 1, unbiased=False), [f32(3, 4)]),
    ("var-unbiased-positional", lambda L, a: L.var(a, 0, False, True), [f32(3, 4)]),
    ("var-bool-positional", lambda L, a: a.var(False), [f32(3, 4)]),
    ("var-correction", lambda L, a: L.var(a, -1, correction=2), [f32(3, 4)]),
    ("var-correction-float", lambda L, a: a.var(0, correction=0.5), [f32(3, 4)]),
    ("var-one", lambda L, a: L.var(a, 1), [f32(3, 1)]),
    ("var-correction-big", lambda L, a: L.var(a, 1, correction=5), [f32(2, 3)]),
    ("var-f64", lambda L, a: L.var(a, 0), [f32(5, 2).astype(np.float64)]),
    # torch's var_backward takes x - mean in float32 (graphc: in float64), 1e-6 off here
    ("var-large-offset", lambda L, a: L.var(a + 1000.0, 1), [f32(2, 50)], {"grad_atol": 3e-6}),
    ("std", lambda L, a: L.std(a), [f32(3, 4)]),
    ("std-dim", lambda L, a: a.std(0, keepdim=True), [f32(3, 4)]),
    ("std-correction", lambda L, a: L.std(a, 1, correction=0), [f32(3, 4)]),
    ("std-constant", lambda L, a: L.std(a * 0 + 2, 1), [f32(2, 3)]),
    ("std-one", lambda L, a: L.std(a, 1), [f32(2, 1)]),
    ("var_mean", lambda L, a: L.var_mean(a, 1), [f32(3, 4)]),
    ("var_mean-all", lambda L, a: L.var_mean(a, correction=0), [f32(3, 4)]),
    ("std_mean", lambda L, a: L.std_mean(a, (0,), keepdim=True), [f32(3, 4)]),
    # logical and NaN-aware
    ("all", lambda L, a: L.all(a), [ZEROS]),
    ("all-dim", lambda L, a: a.all(1), [ZEROS]),
    ("all-dims-keepdim", lambda L, a: L.all(a > -1, (0, 2), keepdim=True), [f32(2, 3, 4)]),
    ("all-nan", lambda L, a: a.all(0), [WITH_NAN]),
    ("all-u8", lambda L, a: L.all(a, 1), [U8]),
    ("all-bool", lambda L, a: L.all(a, 0), [BOOLS]),
    ("all-empty", lambda L, a: a[:, :0].all(1), [f32(2, 3)]),
    ("all-no-dims", lambda L, a: L.all(a, ()), [ZEROS]),        # reduces nothing, as torch
    ("any-no-dims", lambda L, a: a.any([]), [U8]),
    ("any", lambda L, a: L.any(a), [ZEROS]),
    ("any-dim-neg", lambda L, a: a.any(-1, keepdim=True), [ZEROS * 0]),
    ("any-u8", lambda L, a: a.any(), [U8]),
    ("any-bool", lambda L, a: L.any(a, 1), [BOOLS]),
    ("any-empty", lambda L, a: L.any(a[:0]), [f32(2, 3)]),
    ("count_nonzero", lambda L, a: L.count_nonzero(a), [ZEROS]),
    ("count_nonzero-dims", lambda L, a: a.count_nonzero((0, 1)), [ZEROS]),
    ("count_nonzero-dim", lambda L, a: L.count_nonzero(a, -1), [WITH_NAN]),
    ("nansum", lambda L, a: L.nansum(a), [WITH_NAN]),
    ("nansum-dim", lambda L, a: a.nansum(1, keepdim=True), [WITH_NAN]),
    ("nansum-int", lambda L, a: L.nansum(a, 0), [ints(3, 2, dtype=np.int32)]),
    ("nansum-dtype", lambda L, a: L.nansum(a, 1, dtype=L.float64), [WITH_NAN]),
    ("nanmean", lambda L, a: L.nanmean(a, 1), [WITH_NAN[:3]]),
    ("nanmean-all-nan", lambda L, a: L.nanmean(a, 1), [WITH_NAN], {"grad": False}),
    #                            (an all-NaN row's gradient: 0 here, 0 * inf = nan in torch)
    ("nanmean-all", lambda L, a: a.nanmean(), [WITH_NAN]),
    ("nanmean-plain", lambda L, a: L.nanmean(a, (0, 1), keepdim=True), [f32(2, 3)]),
    ("aminmax", lambda L, a: L.aminmax(a), [f32(3, 4)]),
    ("aminmax-dim", lambda L, a: a.aminmax(dim=1, keepdim=True), [TIES]),
    ("aminmax-int", lambda L, a: L.aminmax(a, dim=0), [ints(3, 4)]),
    ("aminmax-nan", lambda L, a: L.aminmax(a, dim=1), [WITH_NAN]),
    # max / min with a dim: values at the first index of the extremum; the gradient goes there
    ("max-dim", lambda L, a: L.max(a, 1), [f32(3, 4)]),
    ("max-ties", lambda L, a: a.max(1), [TIES]),
    ("max-ties-keepdim", lambda L, a: L.max(a, 0, keepdim=True), [TIES]),
    ("max-nan", lambda L, a: a.max(1), [WITH_NAN]),
    ("max-int", lambda L, a: L.max(a, 0), [ints(4, 3)]),
    ("max-bool", lambda L, a: L.max(a, 1), [BOOLS]),
    ("max-0d", lambda L, a: L.max(a.sum(), 0), [f32(3)]),
    ("min-dim", lambda L, a: L.min(a, -1), [f32(3, 4)]),
    ("min-ties", lambda L, a: a.min(1), [TIES]),
    ("min-nan", lambda L, a: L.min(a, 1), [WITH_NAN]),
    ("min-u8", lambda L, a: L.min(a, 1), [U8]),
    ("min-int-extremes", lambda L, a: L.min(a, 0),
     [np.array([[np.iinfo(np.int64).min, 0], [5, np.iinfo(np.int64).max]])]),
    ("min-bool", lambda L, a: a.min(0), [BOOLS]),
    ("amin-u8", lambda L, a: L.amin(a, 1), [U8]),
    ("argmin-u8", lambda L, a: L.argmin(a, 1), [U8]),
    # sorting
    ("sort", lambda L, a: L.sort(a), [distinct(3, 6)]),
    ("sort-desc", lambda L, a: a.sort(0, descending=True), [distinct(5, 3)]),
    ("sort-stable-ties", lambda L, a: L.sort(a, stable=True, dim=1), [TIES]),
    ("sort-stable-ties-desc", lambda L, a: L.sort(a, stable=True, dim=1, descending=True),
     [TIES]),
    ("sort-nan", lambda L, a: L.sort(a, stable=True, dim=1), [WITH_NAN]),
    ("sort-nan-desc", lambda L, a: L.sort(a, stable=True, dim=-1, descending=True), [WITH_NAN]),
    ("sort-int", lambda L, a: L.sort(a, stable=True, dim=0), [ints(6, 3)]),
    ("sort-u8", lambda L, a: L.sort(a, stable=True, dim=1, descending=True), [U8]),
    ("sort-bool", lambda L, a: L.sort(a, stable=True, dim=1), [BOOLS]),
    ("sort-long", lambda L, a: L.sort(a, 1, True), [distinct(2, 300)]),
    ("sort-0d", lambda L, a: L.sort(a.sum()), [f32(3)]),
    ("sort-empty", lambda L, a: L.sort(a[:, :0]), [f32(2, 3)]),
    ("argsort", lambda L, a: L.argsort(a), [distinct(3, 6)]),
    ("argsort-desc", lambda L, a: a.argsort(0, descending=True), [distinct(4, 3)]),
    ("argsort-stable", lambda L, a: L.argsort(a, dim=1, stable=True), [TIES]),
    ("msort", lambda L, a: L.msort(a), [distinct(4, 3)]),
    ("topk", lambda L, a: L.topk(a, 2), [distinct(3, 5)]),
    ("topk-smallest", lambda L, a: a.topk(3, 0, largest=False), [distinct(5, 2)]),
    ("topk-nan", lambda L, a: L.topk(a[::2], 2), [WITH_NAN[:3]]),   # one NaN a row (NaN ties:
    #                                                   torch's order is unspecified)
    ("topk-all", lambda L, a: L.topk(a, 4, dim=1), [distinct(2, 4)]),
    ("topk-0", lambda L, a: L.topk(a, 0), [distinct(2, 4)]),
    ("topk-int", lambda L, a: L.topk(a, 2, -1), [distinct(3, 4, dtype=np.int64)]),
    ("kthvalue", lambda L, a: L.kthvalue(a, 2), [distinct(3, 5)]),
    ("kthvalue-keepdim", lambda L, a: a.kthvalue(4, 0, keepdim=True), [distinct(5, 2)]),
    ("median", lambda L, a: L.median(a), [distinct(3, 5)]),
    ("median-even", lambda L, a: a.median(), [distinct(2, 4)]),
    ("median-dim", lambda L, a: L.median(a, 1), [distinct(3, 4)]),
    ("median-dim0-keepdim", lambda L, a: a.median(0, keepdim=True), [distinct(5, 3)]),
    ("median-nan", lambda L, a: L.median(a, 1), [WITH_NAN]),
    ("median-nan-all", lambda L, a: L.median(a), [WITH_NAN]),
    ("median-int", lambda L, a: L.median(a, 1), [distinct(3, 4, dtype=np.int64)]),
    ("median-0d", lambda L, a: L.median(a.sum(), 0), [f32(3)]),
    ("median-empty", lambda L, a: L.median(a[:0]), [f32(2, 3)]),
    ("nanmedian", lambda L, a: L.nanmedian(a, 1), [WITH_NAN[:3]]),
    ("nanmedian-all-nan", lambda L, a: L.nanmedian(a, 1).values, [WITH_NAN], {"grad": False}),
    #                                  (the index of an all-NaN row is a tie, unspecified in torch)
    ("nanmedian-all", lambda L, a: a.nanmedian(), [WITH_NAN]),
    ("nanmedian-plain", lambda L, a: L.nanmedian(a, 0), [distinct(4, 3)]),
    ("quantile", lambda L, a: L.quantile(a, 0.3), [distinct(3, 5)]),
    ("quantile-dim", lambda L, a: a.quantile(0.75, 1), [distinct(3, 5)]),
    ("quantile-vec", lambda L, a: L.quantile(a, L.tensor([0.0, 0.25, 0.5, 1.0]), 0,
                                             keepdim=True), [distinct(5, 3)]),
    ("quantile-vec-all", lambda L, a: L.quantile(a, L.tensor([0.1, 0.9])), [distinct(2, 3)]),
    ("quantile-keepdim-all", lambda L, a: L.quantile(a, 0.5, keepdim=True), [distinct(2, 3)]),
    ("quantile-nan", lambda L, a: L.quantile(a, 0.4, 1), [WITH_NAN]),
    ("quantile-f64", lambda L, a: L.quantile(a, L.tensor([0.2, 0.7], dtype=L.float64), -1),
     [distinct(2, 7, dtype=np.float64)]),
    ("mode", lambda L, a: L.mode(a), [ints(3, 9, hi=2).astype(np.float32)]),
    ("mode-dim0-keepdim", lambda L, a: a.mode(0, keepdim=True), [ints(7, 3, hi=2)]),
    ("mode-ties", lambda L, a: L.mode(a, 1), [TIES]),
    ("mode-nan", lambda L, a: L.mode(a, 1).values, [WITH_NAN], {"grad": False}),  # (NaN index:
    #                                                          torch's is not the last NaN's)
    ("mode-one", lambda L, a: L.mode(a, 1), [f32(3, 1)]),
    ("nanquantile", lambda L, a: L.nanquantile(a, 0.4, 1), [WITH_NAN]),
    ("nanquantile-vec", lambda L, a: a.nanquantile(L.tensor([0.1, 0.6]), dim=-1), [WITH_NAN]),
    *[(f"quantile-{m}", lambda L, a, m=m: L.quantile(a, L.tensor([0.1, 0.375, 0.5, 0.625, 0.9]),
                                                       1, interpolation=m), [distinct(2, 5)])
      for m in ("linear", "lower", "higher", "midpoint", "nearest")],
]
CASES = [c if len(c) == 4 else (*c, {}) for c in CASES]   # (id, program, arrays, options)
IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS)


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _run(lib, prog, arrays, grad=False):
    xs = [lib.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return xs, _outs(prog(lib, *xs))


def _close(got, want, what, atol=1e-6):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eager_matches_torch(case):
    _, prog, arrays, _ = case
    want = _run(torch, prog, arrays)[1]
    got = _run(graphc, prog, arrays)[1]
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert tuple(g.shape) == tuple(w.shape), k
        assert repr(g.dtype).split(".")[-1] == str(w.dtype).split(".")[-1], (k, g.dtype, w.dtype)
        _close(g.numpy(), w.numpy(), f"output {k}")


def _weights(shape, k):
    n = int(np.prod(shape))
    return np.cos(np.arange(n, dtype=np.float32) * 0.7 + k).reshape(shape).astype(np.float32)


def _loss(lib, outs):
    """sum_k <out_k, w_k> over the float outputs (None if there is none)."""
    loss = None
    for k, o in enumerate(outs):
        if not (o.dtype.is_floating_point if lib is torch else o.dtype.is_float):
            continue
        term = (o * lib.tensor(_weights(tuple(o.shape), k)).to(o.dtype)).sum()
        loss = term if loss is None else loss + term
    return loss


GRAD_CASES = [c for c in CASES if any(a.dtype.kind == "f" for a in c[2]) and
              c[3].get("grad", True)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_torch(case):
    _, prog, arrays, opts = case
    grads = []
    for lib in (torch, graphc):
        xs, outs = _run(lib, prog, arrays, grad=True)
        loss = _loss(lib, outs)
        if loss is None or not loss.requires_grad:
            pytest.skip("no float output depends on the inputs")
        loss.backward()
        grads.append([None if x.grad is None else np.asarray(x.grad.numpy()) for x in xs])
    for w, g in zip(*grads):
        assert (w is None) == (g is None)
        if w is not None:
            _close(g, w, "gradient", opts.get("grad_atol", 1e-6))


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compiled_matches_eager(case, backend):
    """Forward outputs and, where a float output depends on a float input, its gradient: one
    compiled function against eager graphc."""
    _, prog, arrays, opts = case
    xs, eager = _run(graphc, prog, arrays, grad=True)
    loss = _loss(graphc, eager)
    wants = [o.detach().numpy() for o in eager]
    with_grad = loss is not None and loss.requires_grad and opts.get("grad", True)
    if with_grad:
        loss.backward()
        wants += [x.grad.numpy() for x in xs if x.requires_grad]

    def step(*ts):
        if with_grad:
            for t in ts:
                if t.dtype.is_float:
                    t.requires_grad_()
        outs = _outs(prog(graphc, *ts))
        if with_grad:
            _loss(graphc, outs).backward()
            outs += [t.grad for t in ts if t.dtype.is_float]
        return tuple(outs)

    got = graphc.compile(step, backend=backend)(*[a.copy() for a in arrays])
    got = _outs(got)
    assert len(got) == len(wants)
    for k, (g, w) in enumerate(zip(got, wants)):
        g = np.asarray(g.numpy() if isinstance(g, graphc.Tensor) else g)
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        _close(g, w, f"result {k}")


# ---- ties, NaN and gradients: torch's rules, spelled out ------------------------------------------

def test_prod_gradient_with_zeros_is_torchs():
    for row, want in [([1.0, 2.0, 0.0, 3.0], [0.0, 0.0, 6.0, 0.0]),
                      ([0.0, 2.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]),
                      ([1.0, 2.0, 4.0, 3.0], [24.0, 12.0, 6.0, 8.0])]:
        x = graphc.tensor(row, requires_grad=True)
        x.prod().backward()
        np.testing.assert_array_equal(x.grad.numpy(), want)


def test_cumprod_gradient_with_zeros_is_torchs():
    a = np.array([1.0, 2.0, 0.0, 3.0, 0.0, 2.0], np.float32)
    g = np.arange(1.0, 7.0, dtype=np.float32)
    x = graphc.tensor(a, requires_grad=True)
    x.cumprod(0).backward(graphc.tensor(g))
    tx = torch.tensor(a, requires_grad=True)
    tx.cumprod(0).backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())   # [5, 2, 30, 0, 0, 0]


def test_max_with_dim_sends_the_gradient_to_the_first_maximum_only():
    x = graphc.tensor([3.0, 1.0, 3.0, 2.0], requires_grad=True)
    v, i = graphc.max(x, 0)
    v.backward()
    assert int(i) == 0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0, 0.0])
    y = graphc.tensor([3.0, 1.0, 3.0, 2.0], requires_grad=True)
    graphc.amax(y).backward()   # amax (and max without dim) share it between ties
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 0.0, 0.5, 0.0])


def test_sort_is_stable_and_orders_nan_like_torch():
    x = np.array([3.0, NAN, 1.0, -0.0, 0.0, NAN, 1.0, -2.0, 3.0], np.float32)
    for desc in (False, True):
        g = graphc.sort(graphc.tensor(x), descending=desc)
        t = torch.sort(torch.tensor(x), descending=desc, stable=True)
        np.testing.assert_array_equal(g.indices.numpy(), t.indices.numpy())
        np.testing.assert_array_equal(np.signbit(g.values.numpy()), np.signbit(t.values.numpy()))


def test_result_types_have_torchs_field_names():
    x = graphc.tensor(distinct(3, 4))
    assert graphc.sort(x).values is not None and graphc.sort(x).indices is not None
    assert type(graphc.topk(x, 2)).__name__ == "topk"
    mm = graphc.aminmax(x)
    assert mm.min.item() == float(x.numpy().min()) and mm.max.item() == float(x.numpy().max())
    v, i = graphc.median(x, 1)
    assert v.shape == i.shape == (3,)


def test_sorting_50000_elements_compiles_and_matches_numpy():
    x = R.standard_normal(50_000).astype(np.float32)
    x[::997] = np.nan
    f = graphc.compile(lambda t: graphc.sort(t, descending=True), backend="llvm")
    values, indices = f(x)
    want = _argsort_desc(x)
    np.testing.assert_array_equal(indices, want)
    np.testing.assert_array_equal(values, x[want])


def _argsort_desc(x):
    n = len(x)
    return (n - 1 - np.argsort(x[::-1], kind="stable"))[::-1]


def test_sort_results_do_not_depend_on_the_thread_count():
    """Many rows split over the pool: the same indices with 1 thread and with 2."""
    code = ("import hashlib, numpy as np, graphc\n"
            "x = np.random.default_rng(3).integers(0, 50, (64, 3000)).astype(np.float32)\n"
            "f = graphc.compile(lambda t: graphc.argsort(t, 1), backend='llvm')\n"
            "print(int(np.abs(f(x) - np.argsort(x, 1, kind='stable')).sum()), "
            "hashlib.sha1(f(x).tobytes()).hexdigest())\n")
    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=n, GRAPHC_CACHE="0")
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        outs.append(res.stdout.split())
    assert outs[0][0] == outs[1][0] == "0"
    assert outs[0][1] == outs[1][1]


def test_training_through_sort_topk_and_median_matches_torch():
    """A loss over topk values, a median and a std trains the same as torch (3 SGD steps)."""
    w0 = R.standard_normal((6, 8)).astype(np.float32) * 0.3
    xs = [R.standard_normal((5, 6)).astype(np.float32) for _ in range(3)]

    def loss_of(L, h):
        return (L.topk(h, 3, 1).values.sum() + h.median(1).values.pow(2).sum()
                + L.std(h, 0).sum() + L.logsumexp(h, 1).mean() + h.prod(1).abs().sum() * 0.01)

    w = graphc.tensor(w0.copy(), requires_grad=True)
    opt = graphc.optim.SGD([w], lr=0.05)

    @graphc.compile
    def step(x):
        opt.zero_grad()
        loss = loss_of(graphc, x @ w)
        loss.backward()
        opt.step()
        return loss

    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.05)
    for x in xs:
        got = float(step(x))
        topt.zero_grad()
        tl = loss_of(torch, torch.tensor(x) @ tw)
        tl.backward()
        topt.step()
        assert got == pytest.approx(float(tl.detach()), rel=1e-5)
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prog,match", [
    (lambda: graphc.var(graphc.tensor([1, 2, 3])), r"var\(\) only supports floating-point"),
    (lambda: graphc.var(graphc.ones(3), unbiased=True, correction=0), r"not both"),
    (lambda: graphc.nanmean(graphc.tensor([1, 2])), r"nanmean\(\) needs a floating-point"),
    (lambda: graphc.topk(graphc.ones(3), 4), r"topk\(\): k=4 is out of range"),
    (lambda: graphc.kthvalue(graphc.ones(3), 0), r"kthvalue\(\): k=0 is out of range"),
    (lambda: graphc.median(graphc.ones(2, 0), 1), r"median\(\): dim 1 .* is empty"),
    (lambda: graphc.aminmax(graphc.ones(0)), r"aminmax\(\): cannot compute"),
    (lambda: graphc.quantile(graphc.ones(3), 1.5), r"q values must be in the range"),
    (lambda: graphc.quantile(graphc.tensor([1, 2]), 0.5), r"must be either float or double"),
    (lambda: graphc.quantile(graphc.ones(3), 0.5, interpolation="cubic"), r"interpolation"),
    (lambda: graphc.prod(graphc.ones(2, 3), (0, 1)), r"prod\(\) takes one int dim"),
    (lambda: graphc.sort(graphc.ones(2, 3), 2), r"dim 2 is out of range"),
    (lambda: graphc.var(graphc.ones(2, 3), (0, 0)), r"more than once"),
])
def test_errors_name_the_function_and_line(prog, match):
    with pytest.raises(graphc.ShapeError, match=match + ".*test_reductions.py"):
        prog()
