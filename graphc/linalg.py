"""graphc.linalg: torch.linalg's layout (vector_norm, matrix_norm, norm, vecdot, matmul, cross,
multi_dot, diagonal).

Compositions of abs/mul/pow/sum/amax/matmul, so each runs eagerly and compiled and gets its
gradient from the primitives; the norms guard their kinks so the gradient there is torch's
(0 for the 2-norm of a zero vector, sign(x)|x|^(p-1) masked at x = 0, ties of the inf-norm share
the gradient). Norms that need singular values (ord 2, -2, 'nuc') raise NotSupportedError.
"""
from __future__ import annotations

import math
import numbers
import operator

from . import dtypes
from . import functions as F
from . import shape_ops as S
from .driver import tracing
from .errors import NotSupportedError
from .tensor import Tensor, check

__all__ = ["cross", "diagonal", "matmul", "matrix_norm", "multi_dot", "norm", "vecdot",
           "vector_norm"]

matmul = F.matmul
_diagonal = S.diagonal


def _unsupported(msg: str) -> None:
    raise NotSupportedError(f"{msg} (at {tracing.user_where()})")


def _tname(dt) -> str:
    return dt.torch_name


def _dims(dim, ndim: int, what: str):
    """torch's `dim` list: None or empty means every dim; duplicates and out-of-range raise."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    out = []
    for d in dims:
        d = operator.index(d)
        check(lo <= d <= hi, f"{what}: Dimension out of range (expected to be in range of "
                             f"[{lo}, {hi}], but got {d})")
        d = d % max(ndim, 1)
        check(d not in out, f"{what}: dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(out) if ndim else ()


def _float_input(x: Tensor, dtype, what: str) -> Tensor:
    """x checked to be floating point and cast to `dtype` (torch forbids narrowing casts)."""
    check(x.dtype.is_float, f"{what}: Expected a floating point tensor as input. Got "
                            f"{_tname(x.dtype)}")
    if dtype is None:
        return x
    dt = dtypes.as_dtype(dtype)
    check(dt.is_float, f"{what}: dtype should be floating point, but got {_tname(dt)}")
    check(dtypes.promote(x.dtype, dt) == dt,
          f"{what}: the dtype of the input ({_tname(x.dtype)}) should be convertible without "
          f"narrowing to the specified dtype ({_tname(dt)})")
    return F.cast(x, dt)


def _safe_sqrt(s: Tensor) -> Tensor:
    """sqrt(s) for s >= 0 whose gradient at s == 0 is 0 (torch's subgradient), not inf * 0."""
    pos = s > 0
    return F.where(pos, F.sqrt(F.where(pos, s, 1.0)), s * 0.0)


def _pow_abs(a: Tensor, p: float) -> Tensor:
    """|x|**p from a = |x|, its value exact (0 ** p is 0 or inf) and its gradient 0 at a == 0."""
    zero = a == 0
    return F.where(zero, 0.0 if p > 0 else math.inf, F.where(zero, 1.0, a) ** p)


def _zero_grad_count(x: Tensor) -> Tensor:
    """1.0 where x != 0 else 0.0, connected to x with a zero gradient (torch's ord=0 norm has a
    grad_fn); NaN counts as nonzero."""
    nz = x != 0
    return F.where(nz, 1.0, x * 0.0) if x.requires_grad else F.cast(nz, x.dtype)


def _pnorm(x: Tensor, p: float, axes: tuple, keepdim: bool) -> Tensor:
    """sum(|x|^p)^(1/p) over `axes` (none of the special orders)."""
    if p == 2:
        return _safe_sqrt(F.sum(x * x, axes, keepdim))
    a = F.abs(x)
    if p == 1:
        return F.sum(a, axes, keepdim)
    if p == math.inf:
        return F.amax(a, axes, keepdim)
    if p == -math.inf:
        return F.amin(a, axes, keepdim)
    if p == 0:
        return F.sum(_zero_grad_count(x), axes, keepdim)
    s = F.sum(_pow_abs(a, p), axes, keepdim)
    if p > 1:   # s ** (1/p) has an infinite slope at s == 0: torch's gradient there is 0
        zero = s == 0
        return F.where(zero, 0.0, F.where(zero, 1.0, s) ** (1.0 / p))
    return s ** (1.0 / p)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """The vector ord-norm of x over `dim` (None: all elements), as torch.linalg.vector_norm:
    ord any number incl. 0 (the count of nonzeros), inf, -inf; `dtype` computes in that dtype."""
    what = "linalg.vector_norm"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    x = F._t(x)
    check(isinstance(ord, numbers.Real) and not isinstance(ord, bool),
          f"{what}: ord must be a number, not {type(ord).__name__} ({ord!r})")
    x = _float_input(x, dtype, what)
    p = float(ord)
    axes = _dims(dim, x.ndim, what)
    if p < 0 or p == math.inf:
        name = "inf" if p == math.inf else f"{ord}"
        empty_all = x.numel() == 0 and (dim is None or axes == tuple(range(x.ndim)))
        check(not empty_all, f"{what} cannot compute the {name} norm on an empty tensor because "
                             "the operation does not have an identity")
        for d in axes:
            check(x.shape[d] != 0, f"{what} cannot compute the {name} norm on the dimension {d} "
                                   "because this dimension is empty and the operation does not "
                                   "have an identity")
    return _pnorm(x, p, axes, keepdim)


def _matrix_dims(x: Tensor, dim, what: str) -> tuple[int, int]:
    check(x.ndim >= 2, f"{what}: The input tensor A must have at least 2 dimensions.")
    dim = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    check(len(dim) == 2, f"{what}: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    d0, d1 = (F._dim(d, x.ndim) for d in dim)
    check(d0 != d1, f"{what}: dims must be different. Got ({d0}, {d1})")
    return d0, d1


def _svd_needed(ord) -> None:
    _unsupported(f"linalg.matrix_norm(ord={ord!r}) needs the singular values (an SVD), which "
                 "graphc does not have; use ord='fro', 1, -1, inf or -inf")


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """The matrix norm of A over the two dims `dim`, as torch.linalg.matrix_norm: 'fro', and
    1 / -1 (max / min column abs sum), inf / -inf (rows); 2, -2, 'nuc' need an SVD."""
    what = "linalg.matrix_norm"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    A = F._t(A)
    if isinstance(ord, str):
        check(ord in ("fro", "nuc"), f"{what}: Order {ord} not supported.")
    else:
        check(isinstance(ord, numbers.Real) and abs(ord) in (1, 2, math.inf),
              f"{what}: Order {ord} not supported.")
    d0, d1 = _matrix_dims(A, dim, what)
    A = _float_input(A, dtype, what)
    if ord == "nuc" or (not isinstance(ord, str) and abs(ord) == 2):
        _svd_needed(ord)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if abs(ord) == math.inf:      # the inf-norm is the 1-norm of the transpose
        d0, d1 = d1, d0
    col = vector_norm(A, 1, d0, keepdim)
    if not keepdim and d0 < d1:
        d1 -= 1
    return F.amax(col, d1, keepdim) if ord > 0 else F.amin(col, d1, keepdim)


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """torch.linalg.norm: the vector norm over one dim or a 1-D input, the matrix norm over two
    dims or a 2-D input; ord=None is the 2-norm of everything (Frobenius for matrices)."""
    what = "linalg.norm"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    A = F._t(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        check(len(dims) in (1, 2), f"{what}: If dim is specified, it must be of length 1 or 2. "
                                   f"Got {list(dims)}")
    else:
        dims = None
        check(ord is None or A.ndim in (1, 2),
              f"{what}: If dim is not specified but ord is, the input must be 1D or 2D. Got "
              f"{A.ndim}D.")
    if isinstance(ord, str):
        return matrix_norm(A, ord, dims if dims is not None else (0, 1), keepdim, dtype=dtype)
    if ord is not None and ((dims is not None and len(dims) == 2) or
                            (dims is None and A.ndim == 2)):
        return matrix_norm(A, ord, dims if dims is not None else (0, 1), keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def vecdot(x, y, *, dim: int = -1, out=None) -> Tensor:
    """sum(x * y) along `dim`, broadcasting (torch.linalg.vecdot; real tensors: no conj)."""
    what = "linalg.vecdot"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    x, y = F._t(x), F._t(y)
    check(x.dtype.is_float, f"{what}: Expected a floating point tensor as input. Got "
                            f"{_tname(x.dtype)}")
    check(x.dtype == y.dtype, f"{what}: Expected x and y to have the same dtype, but found x of "
                              f"type {_tname(x.dtype)} and y of type {_tname(y.dtype)} instead")
    shape = S.broadcast_shapes(x.shape, y.shape)
    return F.sum(x * y, F._dim(dim, len(shape)))


def cross(input, other, *, dim: int = -1, out=None) -> Tensor:
    """The 3-vector cross product along `dim` (size 3 in both), batch dims broadcast
    (torch.linalg.cross)."""
    what = "linalg.cross"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    a, b = F._t(input), F._t(other)
    check(a.ndim == b.ndim, f"{what}: inputs must have the same number of dimensions.")
    d = F._dim(dim, a.ndim)
    check(a.shape[d] == 3 and b.shape[d] == 3,
          f"{what}: inputs dimension {dim} must have length 3. Got {a.shape[d]} and {b.shape[d]}")
    check(a.dtype == b.dtype, f"{what}: expected both inputs to have the same dtype, got "
                              f"{_tname(a.dtype)} and {_tname(b.dtype)}")
    S.broadcast_shapes(a.shape, b.shape)
    ai = [S._narrow(a, d, i, 1) for i in range(3)]
    bi = [S._narrow(b, d, i, 1) for i in range(3)]
    parts = [ai[(i + 1) % 3] * bi[(i + 2) % 3] - ai[(i + 2) % 3] * bi[(i + 1) % 3]
             for i in range(3)]
    return S.cat(parts, d)


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The split table of the cheapest parenthesisation of matrices dims[i] x dims[i+1]
    (CLRS's matrix-chain order, ties to the first split, as torch's multi_dot)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def multi_dot(tensors, *, out=None) -> Tensor:
    """The product of the matrices in `tensors` in the cheapest order (torch.linalg.multi_dot):
    the first may be 1-D (a row vector), the last 1-D (a column vector)."""
    what = "multi_dot()"
    check(out is None, f"{what}: out= is not supported; use the returned tensor")
    ts = [F._t(t) for t in tensors]
    shapes = [list(t.shape) for t in ts]
    n = len(ts)
    check(n >= 2, f"{what}: expected at least 2 tensors but got {n}")
    first, last = ts[0].ndim, ts[-1].ndim
    check(first in (1, 2), f"{what}: the first tensor must be 1D or 2D but got {first}D")
    check(last in (1, 2), f"{what}: the last tensor must be 1D or 2D but got {last}D")
    for i in range(1, n - 1):
        check(ts[i].ndim == 2, f"{what}: tensor {i} must be 2D but got {ts[i].ndim}D")
    dt = ts[0].dtype
    for i, t in enumerate(ts):
        check(t.dtype == dt, f"{what}: all tensors must have be the same dtype but tensor 0 is "
                             f"{_tname(dt)} and tensor {i} {_tname(t.dtype)}")
    if first == 1:
        ts[0] = F.unsqueeze(ts[0], 0)
    if last == 1:
        ts[-1] = F.unsqueeze(ts[-1], 1)
    for i in range(n - 1):
        check(ts[i].shape[1] == ts[i + 1].shape[0],
              f"{what}: tensors {i} and {i + 1} with shapes {shapes[i]} and {shapes[i + 1]} "
              "cannot be multiplied")
    check(not dt.is_bool, f"{what}: not implemented for bool tensors")
    if n == 3:   # torch compares the two orders directly
        a, b, c, d = ts[0].shape[0], ts[1].shape[0], ts[2].shape[0], ts[2].shape[1]
        if (a * c) * (b + d) > (b * d) * (a + c):
            res = F.matmul(ts[0], F.matmul(ts[1], ts[2]))
        else:
            res = F.matmul(F.matmul(ts[0], ts[1]), ts[2])
    else:
        split = _chain_order([ts[0].shape[0]] + [t.shape[1] for t in ts])

        def prod(i, j):
            if i == j:
                return ts[i]
            return F.matmul(prod(i, split[i][j]), prod(split[i][j] + 1, j))
        res = prod(0, n - 1)
    if first == 1 and last == 1:
        return F.reshape(res, ())
    if first == 1:
        return F.squeeze(res, 0)
    return F.squeeze(res, 1) if last == 1 else res


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.linalg.diagonal: graphc.diagonal with the last two dims as defaults."""
    return _diagonal(A, offset, dim1, dim2)


from .unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
