"""Matrix products, einsum, cdist and norms (graphc/linalg_ops.py, graphc/linalg.py) vs PyTorch:
values eagerly in float32 and float64, gradients through eager .backward(), and the same program
compiled (LLVM) with a backward through it; torch's error cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")

R = np.random.default_rng(0)


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


INF = math.inf

# (id, program over (lib, *tensors), input arrays); every program's output is float
CASES = [
    ("mm", lambda L, a, b: L.mm(a, b), [f32(3, 4), f32(4, 5)]),
    ("mm-method", lambda L, a, b: a.mm(b.t()), [f32(3, 4), f32(5, 4)]),
    ("bmm", lambda L, a, b: L.bmm(a, b), [f32(2, 3, 4), f32(2, 4, 5)]),
    ("mv", lambda L, a, v: L.mv(a, v), [f32(3, 4), f32(4)]),
    ("mv-method-t", lambda L, a, v: a.t().mv(v), [f32(4, 3), f32(4)]),
    ("dot", lambda L, a, b: L.dot(a, b), [f32(7), f32(7)]),
    ("vdot", lambda L, a, b: a.vdot(b), [f32(5), f32(5)]),
    ("inner", lambda L, a, b: L.inner(a, b), [f32(2, 4), f32(3, 2, 4)]),
    ("inner-0d", lambda L, a, b: L.inner(a, b.sum()), [f32(2, 3), f32(2)]),
    ("outer", lambda L, a, b: L.outer(a, b), [f32(3), f32(4)]),
    ("ger", lambda L, a, b: a.ger(b), [f32(2), f32(3)]),
    ("matmul-linalg", lambda L, a, b: L.linalg.matmul(a, b), [f32(2, 3, 4), f32(4)]),
    ("addmm", lambda L, c, a, b: L.addmm(c, a, b), [f32(3, 5), f32(3, 4), f32(4, 5)]),
    ("addmm-scaled", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=-2.0),
     [f32(5), f32(3, 4), f32(4, 5)]),
    ("addmm-beta0", lambda L, c, a, b: c.addmm(a, b, beta=0), [f32(3, 1), f32(3, 4), f32(4, 5)]),
    ("addmm_", lambda L, c, a, b: (c * 1).addmm_(a, b, alpha=3), [f32(3, 5), f32(3, 4), f32(4, 5)]),
    ("addmv", lambda L, c, a, v: L.addmv(c, a, v, beta=2), [f32(3), f32(3, 4), f32(4)]),
    ("addmv_", lambda L, c, a, v: (c * 1).addmv_(a, v), [f32(3), f32(3, 4), f32(4)]),
    ("addr", lambda L, c, a, b: L.addr(c, a, b, alpha=0.5), [f32(1, 4), f32(3), f32(4)]),
    ("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, beta=0.25, alpha=2),
     [f32(3, 5), f32(2, 3, 4), f32(2, 4, 5)]),
    ("baddbmm_", lambda L, c, a, b: (c * 1).baddbmm_(a, b), [f32(2, 3, 5), f32(2, 3, 4),
                                                              f32(2, 4, 5)]),
    ("addbmm", lambda L, c, a, b: L.addbmm(c, a, b, alpha=1.5), [f32(3, 5), f32(2, 3, 4),
                                                                   f32(2, 4, 5)]),
    ("tensordot-2", lambda L, a, b: L.tensordot(a, b), [f32(2, 3, 4), f32(3, 4, 5)]),
    ("tensordot-lists", lambda L, a, b: L.tensordot(a, b, dims=([0, 2], [2, 0])),
     [f32(2, 3, 4), f32(4, 5, 2)]),
    ("tensordot-0", lambda L, a, b: L.tensordot(a, b, 0), [f32(2, 3), f32(4)]),
    ("einsum-mm", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [f32(3, 4), f32(4, 5)]),
    ("einsum-implicit-t", lambda L, a, b: L.einsum("ij,kj", a, b), [f32(3, 4), f32(5, 4)]),
    ("einsum-bmm", lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [f32(2, 3, 4), f32(2, 4, 5)]),
    ("einsum-attn", lambda L, q, k: L.einsum("b h i d, b h j d -> b h i j", q, k),
     [f32(2, 2, 3, 4), f32(2, 2, 5, 4)]),
    ("einsum-ellipsis", lambda L, a, b: L.einsum("...ij,...jk", a, b),
     [f32(2, 1, 3, 4), f32(5, 4, 2)]),
    ("einsum-diag", lambda L, a: L.einsum("ii->i", a), [f32(4, 4)]),
    ("einsum-trace", lambda L, a: L.einsum("ii", a), [f32(3, 3)]),
    ("einsum-diag3", lambda L, a, b: L.einsum("iij,jk->ik", a, b), [f32(3, 3, 2), f32(2, 4)]),
    ("einsum-dot", lambda L, a, b: L.einsum("i,i", a, b), [f32(6), f32(6)]),
    ("einsum-dot-bcast", lambda L, a, b: L.einsum("i,i->", a, b), [f32(1), f32(4)]),
    ("einsum-outer", lambda L, a, b: L.einsum("i,j->ij", a, b), [f32(3), f32(4)]),
    ("einsum-hadamard", lambda L, a, b: L.einsum("ij,ij->ij", a, b), [f32(3, 4), f32(3, 1)]),
    ("einsum-sum", lambda L, a: L.einsum("ij->", a), [f32(3, 4)]),
    ("einsum-perm", lambda L, a: L.einsum("ijk->kij", a), [f32(2, 3, 4)]),
    ("einsum-upper", lambda L, a: L.einsum("aB", a), [f32(2, 3)]),
    ("einsum-3ops", lambda L, a, b, c: L.einsum("bn,anm,bm->ba", a, b, c),
     [f32(2, 3), f32(4, 3, 5), f32(2, 5)]),
    ("einsum-list", lambda L, a, b: L.einsum("ij,jk", [a, b]), [f32(2, 3), f32(3, 4)]),
    ("einsum-sublist", lambda L, a, b: L.einsum(a, [0, Ellipsis, 1], b, [1, 2], [Ellipsis, 0, 2]),
     [f32(3, 2, 4), f32(4, 5)]),
    ("einsum-sumout", lambda L, a, b: L.einsum("ijk,jl->il", a, b), [f32(2, 3, 4), f32(3, 5)]),
    ("kron", lambda L, a, b: L.kron(a, b), [f32(2, 3), f32(3, 2)]),
    ("kron-ranks", lambda L, a, b: a.kron(b), [f32(2, 3), f32(4)]),
    ("trace", lambda L, a: L.trace(a), [f32(3, 4)]),
    ("cross", lambda L, a, b: L.cross(a, b, dim=1), [f32(4, 3), f32(4, 3)]),
    ("cross-default", lambda L, a, b: a.cross(b, 0), [f32(3, 4), f32(3, 4)]),
    ("linalg-cross", lambda L, a, b: L.linalg.cross(a, b), [f32(4, 3), f32(1, 3)]),
    ("chain_matmul", lambda L, a, b, c: L.chain_matmul(a, b, c), [f32(2, 6), f32(6, 3),
                                                                   f32(3, 4)]),
    ("multi_dot", lambda L, v, a, b, c, w: L.linalg.multi_dot([v, a, b, c, w]),
     [f32(3), f32(3, 5), f32(5, 2), f32(2, 4), f32(4)]),
    ("multi_dot-3", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), [f32(6, 2), f32(2, 5),
                                                                        f32(5, 3)]),
    ("cdist", lambda L, a, b: L.cdist(a, b), [f32(4, 3), f32(5, 3)]),
    ("cdist-mm", lambda L, a, b: L.cdist(a, b), [f32(30, 3), f32(6, 3)]),
    ("cdist-mm-forced", lambda L, a, b: L.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
     [f32(2, 4, 3), f32(1, 5, 3)]),
    ("cdist-no-mm", lambda L, a, b: L.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist"),
     [f32(27, 2), f32(3, 2)]),
    ("cdist-p1", lambda L, a, b: L.cdist(a, b, p=1), [f32(2, 3, 4), f32(5, 4)]),
    ("cdist-p0", lambda L, a, b: L.cdist(a, b, p=0), [f32(3, 2), f32(4, 2)]),
    ("cdist-pinf", lambda L, a, b: L.cdist(a, b, p=INF), [f32(3, 4), f32(2, 4)]),
    ("cdist-p3", lambda L, a, b: L.cdist(a, b, p=3), [f32(3, 4), f32(2, 4)]),
    ("cdist-p0.5", lambda L, a, b: L.cdist(a, b, p=0.5), [f32(3, 4), f32(2, 4)]),
    ("norm", lambda L, a: L.norm(a), [f32(3, 4)]),
    ("norm-p1-dim", lambda L, a: L.norm(a, 1, dim=1, keepdim=True), [f32(3, 4)]),
    ("norm-fro-dims", lambda L, a: L.norm(a, "fro", dim=(0, 2)), [f32(2, 3, 4)]),
    ("norm-inf", lambda L, a: a.norm(INF), [f32(3, 4)]),
    ("norm-p3-dims", lambda L, a: L.norm(a, 3, (0, 1)), [f32(3, 4)]),
    ("norm-method", lambda L, a: a.norm(2, 1), [f32(3, 4)]),
    ("vnorm", lambda L, a: L.linalg.vector_norm(a), [f32(3, 4)]),
    ("vnorm-0", lambda L, a: L.linalg.vector_norm(a, 0, dim=1), [f32(3, 4)]),
    ("vnorm-1", lambda L, a: L.linalg.vector_norm(a, 1, dim=-1, keepdim=True), [f32(3, 4)]),
    ("vnorm-inf", lambda L, a: L.linalg.vector_norm(a, INF, dim=(0, 2)), [f32(2, 3, 4)]),
    ("vnorm-ninf", lambda L, a: L.linalg.vector_norm(a, -INF, dim=0), [f32(3, 4)]),
    ("vnorm-3", lambda L, a: L.linalg.vector_norm(a, 3, dim=1), [f32(3, 4)]),
    ("vnorm-0.5", lambda L, a: L.linalg.vector_norm(a, 0.5), [f32(3, 4)]),
    ("vnorm-neg1", lambda L, a: L.linalg.vector_norm(a, -1, dim=1), [f32(3, 4)]),
    ("vnorm-0d", lambda L, a: L.linalg.vector_norm(a.sum(), 3, dim=0), [f32(3)]),
    ("vnorm-dtype", lambda L, a: L.linalg.vector_norm(a, dtype=L.float64), [f32(3, 4)]),
    ("mnorm", lambda L, a: L.linalg.matrix_norm(a), [f32(2, 3, 4)]),
    ("mnorm-1", lambda L, a: L.linalg.matrix_norm(a, 1), [f32(2, 3, 4)]),
    ("mnorm-n1", lambda L, a: L.linalg.matrix_norm(a, -1, dim=(0, 2), keepdim=True),
     [f32(2, 3, 4)]),
    ("mnorm-inf", lambda L, a: L.linalg.matrix_norm(a, INF, dim=(2, 0)), [f32(2, 3, 4)]),
    ("mnorm-ninf", lambda L, a: L.linalg.matrix_norm(a, -INF, keepdim=True), [f32(3, 4)]),
    ("lnorm", lambda L, a: L.linalg.norm(a), [f32(2, 3, 4)]),
    ("lnorm-matrix", lambda L, a: L.linalg.norm(a, 1), [f32(3, 4)]),
    ("lnorm-vector", lambda L, a: L.linalg.norm(a, 3, dim=1), [f32(2, 3, 4)]),
    ("lnorm-fro", lambda L, a: L.linalg.norm(a, "fro", dim=(1, 2)), [f32(2, 3, 4)]),
    ("vecdot", lambda L, a, b: L.linalg.vecdot(a, b, dim=0), [f32(3, 4), f32(3, 1)]),
    ("renorm", lambda L, a: L.renorm(a, 2, 0, 1.5), [f32(3, 4)]),
    ("renorm-p1", lambda L, a: a.renorm(1, 1, 2.0), [f32(2, 3, 2)]),
    ("diag_embed", lambda L, a: L.diag_embed(a), [f32(2, 3)]),
    ("diag_embed-off", lambda L, a: a.diag_embed(-1, 0, 2), [f32(2, 3)]),
]
IDS = [c[0] for c in CASES]
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}


def _weights(shape, k):
    n = int(np.prod(shape))
    return np.cos(np.arange(n) * 0.7 + k).reshape(shape)


def _torch_run(prog, arrays):
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = prog(torch, *xs)
    (out * torch.tensor(_weights(tuple(out.shape), 1), dtype=out.dtype)).sum().backward()
    return out.detach().numpy(), [None if x.grad is None else x.grad.numpy() for x in xs]


def _check(got, want, grads, want_grads, dt):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, **TOL[dt])
    for g, w in zip(grads, want_grads):
        if w is None or not np.any(w):
            assert g is None or not np.any(np.asarray(g))
        else:
            np.testing.assert_allclose(np.asarray(g), w, **TOL[dt])


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eager_values_and_gradients_match_torch(case, dt):
    _, prog, arrays = case
    arrays = [a.astype(dt) for a in arrays]
    want, want_grads = _torch_run(prog, arrays)
    xs = [graphc.tensor(a, requires_grad=True) for a in arrays]
    out = prog(graphc, *xs)
    (out * graphc.tensor(_weights(tuple(out.shape), 1).astype(want.dtype))).sum().backward()
    _check(out.detach().numpy(), want, [None if x.grad is None else x.grad.numpy() for x in xs], want_grads, dt)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compiled_with_backward_matches_torch(case, dt):
    _, prog, arrays = case
    arrays = [a.astype(dt) for a in arrays]
    want, want_grads = _torch_run(prog, arrays)
    w = _weights(want.shape, 1).astype(want.dtype)

    def step(*xs):
        for x in xs:
            x.requires_grad_(True)
        out = prog(graphc, *xs)
        (out * graphc.tensor(w)).sum().backward()
        return (out,) + tuple(x.grad if x.grad is not None else graphc.zeros(1) for x in xs)

    out, *grads = graphc.compile(step, backend="llvm")(*[graphc.tensor(a) for a in arrays])
    grads = [None if w_ is None else g for g, w_ in zip(grads, want_grads)]
    _check(out.numpy(), want, [g if g is None else g.numpy() for g in grads], want_grads, dt)


def test_int_products_match_torch():
    a = R.integers(-5, 5, (3, 4))
    b = R.integers(-5, 5, (4, 2))
    for prog in (lambda L, x, y: L.mm(x, y), lambda L, x, y: L.einsum("ij,jk", x, y),
                 lambda L, x, y: L.addmm(x[:, :2], x, y, beta=0.5, alpha=2.7),
                 lambda L, x, y: L.trace(x.int()), lambda L, x, y: L.outer(x[0], y[0].float())):
        want = prog(torch, torch.tensor(a), torch.tensor(b))
        got = prog(graphc, graphc.tensor(a), graphc.tensor(b))
        assert repr(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_beta_zero_ignores_nan_input_and_alpha_zero_the_product():
    c = np.full((2, 3), np.nan, np.float32)
    a, b = f32(2, 4), f32(4, 3)
    bad = np.full((4, 3), np.inf, np.float32)
    for L in (torch, graphc):
        assert not np.isnan(L.addmm(L.tensor(c), L.tensor(a), L.tensor(b), beta=0).numpy()).any()
        x = L.baddbmm(L.tensor(c[None]), L.tensor(a[None]), L.tensor(b[None]), beta=0.0)
        assert not np.isnan(x.numpy()).any()
        y = L.addmm(L.tensor(np.ones((2, 3), np.float32)), L.tensor(a), L.tensor(bad), alpha=0)
        np.testing.assert_array_equal(y.numpy(), np.ones((2, 3), np.float32))
    got = graphc.compile(lambda x, y, z: graphc.addmv(x, y, z, beta=0), backend="llvm")(
        c[0, :2].copy(), a, a[0].copy())
    np.testing.assert_allclose(got, a @ a[0], rtol=1e-6)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, INF, -INF, 0])
def test_norm_gradient_at_zero_is_torchs(p):
    x = np.array([[0.0, 0.0, 0.0], [0.0, 2.0, -3.0]], np.float64)
    tx = torch.tensor(x, requires_grad=True)
    torch.linalg.vector_norm(tx, p, dim=1).sum().backward()
    want = np.zeros_like(x) if tx.grad is None else tx.grad.numpy()

    def step(v):
        v.requires_grad_(True)
        graphc.linalg.vector_norm(v, p, dim=1).sum().backward()
        return v.grad

    gx = graphc.tensor(x, requires_grad=True)
    graphc.linalg.vector_norm(gx, p, dim=1).sum().backward()
    for got in (gx.grad.numpy(), graphc.compile(step, backend="llvm")(graphc.tensor(x)).numpy()):
        assert not np.isnan(got).any()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_cdist_gradient_at_zero_distance_is_zero():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        got = []
        for L in (torch, graphc):
            a = L.tensor(x, requires_grad=True)
            L.cdist(a, L.tensor(x[:1]), compute_mode=mode).sum().backward()
            got.append(a.grad.numpy())
        np.testing.assert_allclose(got[1], got[0], rtol=1e-6, atol=1e-6)


def test_cdist_large_matches_torch_compiled():
    a, b = f32(2, 64, 16), f32(2, 40, 16)
    want = torch.cdist(torch.tensor(a), torch.tensor(b)).numpy()
    got = graphc.compile(lambda x, y: graphc.cdist(x, y), backend="llvm")(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _z(*shape, dt=np.float32):
    return graphc.tensor(np.zeros(shape, dt))


@pytest.mark.parametrize("prog,match", [
    (lambda: graphc.mm(_z(3, 4), _z(3, 4)),
     r"mm: mat1 and mat2 shapes cannot be multiplied \(3x4 and 3x4\).*test_linalg_ops.py"),
    (lambda: graphc.mm(_z(3, 4), _z(4, dt=np.float64)), r"mm: mat2 must be a matrix"),
    (lambda: graphc.mm(_z(3, 4), _z(4, 2, dt=np.float64)), r"mm: .*same dtype.*float32 != float64"),
    (lambda: graphc.bmm(_z(2, 3, 4), _z(3, 4, 5)), r"bmm: .*\[2, 4\] but got: \[3, 4\]"),
    (lambda: graphc.mv(_z(3, 4), _z(5)), r"mv: size mismatch"),
    (lambda: graphc.dot(_z(4), _z(3)), r"dot: inconsistent tensor size"),
    (lambda: graphc.dot(_z(4), _z(4, dt=np.float64)), r"dot: .*same dtype"),
    (lambda: graphc.inner(_z(3, 4), _z(4, 5)), r"inner\(\) the last dimension must match"),
    (lambda: graphc.outer(_z(3), _z(3, 1)), r"outer: Expected 1-D argument vec2"),
    (lambda: graphc.addmm(_z(2, 5), _z(3, 4), _z(4, 5)), r"addmm: .*\[2, 5\].*\[3, 5\]"),
    (lambda: graphc.addmm(_z(3, 5, dt=np.float64), _z(3, 4), _z(4, 5)), r"addmm: .*same dtype"),
    (lambda: graphc.addr(_z(3, 4), _z(3), _z(4), alpha=True), r"Boolean alpha only supported"),
    (lambda: graphc.addbmm(_z(3, 5), _z(2, 3, 4), _z(3, 4, 5)), r"same number of batches"),
    (lambda: graphc.tensordot(_z(3, 4), _z(3, 4), 1), r"contracted dimensions need to match"),
    (lambda: graphc.tensordot(_z(3, 4), _z(4, 5), 3), r"tensordot expects dims < ndim"),
    (lambda: graphc.einsum("ij,jk->ik", _z(3, 4), _z(3, 4)),
     r"einsum\(\): subscript j has size 3 for operand 1 which does not broadcast"),
    (lambda: graphc.einsum("ij,jk->ikl", _z(3, 4), _z(4, 5)), r"output subscript l does not"),
    (lambda: graphc.einsum("ij,jk->ii", _z(3, 4), _z(4, 5)), r"appears more than once"),
    (lambda: graphc.einsum("ij,jk", _z(3, 4)), r"fewer operands"),
    (lambda: graphc.einsum("ijk", _z(3, 4)), r"number of subscripts .*\(3\).*\(2\)"),
    (lambda: graphc.einsum("ii", _z(3, 4)), r"subscript i is repeated for operand 0"),
    (lambda: graphc.einsum("i1", _z(3, 4)), r"invalid subscript given at index 1"),
    (lambda: graphc.einsum("i.j", _z(3, 4)), r"found '.' for operand 0"),
    (lambda: graphc.einsum("i,i", _z(3), _z(3, dt=np.float64)), r"same dtype"),
    (lambda: graphc.trace(_z(3)), r"trace: expected a matrix"),
    (lambda: graphc.cross(_z(2, 4), _z(2, 4)), r"no dimension of size 3"),
    (lambda: graphc.linalg.cross(_z(3), _z(2, 3)), r"same number of dimensions"),
    (lambda: graphc.linalg.multi_dot([_z(3)]), r"expected at least 2 tensors"),
    (lambda: graphc.linalg.multi_dot([_z(2, 3, 4), _z(4, 2)]), r"first tensor must be 1D or 2D"),
    (lambda: graphc.chain_matmul(_z(3), _z(3, 2)), r"Tensor dimension is 1, expected 2"),
    (lambda: graphc.cdist(_z(3), _z(3)), r"at least 2D tensors"),
    (lambda: graphc.cdist(_z(2, 3), _z(2, 4)), r"same number of columns"),
    (lambda: graphc.cdist(_z(2, 3), _z(2, 3), p=-1), r"non-negative p"),
    (lambda: graphc.cdist(_z(2, 3, dt=np.int64), _z(2, 3, dt=np.int64)), r"floating-point"),
    (lambda: graphc.linalg.vector_norm(_z(3, dt=np.int64)), r"Expected a floating point"),
    (lambda: graphc.linalg.vector_norm(_z(3, dt=np.float64), dtype=graphc.float32),
     r"without narrowing"),
    (lambda: graphc.linalg.vector_norm(_z(0, 3), INF), r"cannot compute the inf norm"),
    (lambda: graphc.linalg.vector_norm(_z(3, 4), dim=(0, 0)), r"dim 0 appears multiple times"),
    (lambda: graphc.linalg.vector_norm(_z(3, 4), dim=5), r"Dimension out of range"),
    (lambda: graphc.linalg.matrix_norm(_z(3)), r"at least 2 dimensions"),
    (lambda: graphc.linalg.matrix_norm(_z(3, 4), 3), r"Order 3 not supported"),
    (lambda: graphc.linalg.matrix_norm(_z(3, 4), dim=(1, 1)), r"dims must be different"),
    (lambda: graphc.linalg.norm(_z(2, 3, 4), 2), r"If dim is not specified but ord is"),
    (lambda: graphc.norm(_z(3, 4), "bad"), r"Order bad not supported"),
    (lambda: graphc.renorm(_z(3), 2, 0, 1.0), r"at least 2 dimensions"),
])
def test_errors_match_torchs(prog, match):
    with pytest.raises(graphc.ShapeError, match=match):
        prog()


@pytest.mark.parametrize("prog", [
    lambda: graphc.norm(_z(3, 4), "nuc"),
    lambda: graphc.linalg.matrix_norm(_z(3, 4), 2),
    lambda: graphc.linalg.norm(_z(3, 4), -2),
    lambda: graphc.linalg.svdvals(_z(3, 4)),
])
def test_svd_norms_are_not_supported(prog):
    with pytest.raises(graphc.NotSupportedError, match=r"SVD|svdvals"):
        prog()


def test_einsum_contraction_is_one_matmul():
    f = graphc.compile(lambda q, k: graphc.einsum("bhid,bhjd->bhij", q, k), backend="interpreter")
    q = f32(2, 3, 4, 5)
    f(q, q)
    text = f.ir("traced")
    assert text.count("matmul") == 1 and " mul" not in text and "sum" not in text
