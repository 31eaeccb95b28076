"""Torch's reductions beyond sum/mean/amax/argmax: prod, cumprod, logsumexp, var/std, all/any,
nansum/nanmean, count_nonzero, aminmax, sort/argsort/msort/topk, median/nanmedian, kthvalue, mode,
quantile/nanquantile.

Everything is a composition of primitives, so it runs eagerly and compiled and has its gradient
from the primitives' rules: the products are the last element of a `cumprod` (whose rule is
torch's zero-safe cumprod_backward, so prod's gradient with zeros in the input is torch's), and
everything ordered is a stable `argsort` (torch's order: NaN above every number) plus a gather of
the values by its indices (the gradient is that gather's scatter-add: each value's cotangent goes
to the element it came from). Where torch leaves the order of equal elements unspecified
(`stable=False`, `topk`, `median`), the result is the stable one.

(Every public name is listed in __all__ and exported from graphc by `from .reduce_ops import *`.)"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from . import dtypes
from .functions import _dim, _t, amax, amin, apply, argmax, cast, cumsum, full, reshape, sum, where
from .index_ops import scatter_add
from .math_ops import ceil, floor, lerp, round
from .shape_ops import cat, movedim
from .tensor import Tensor, check

__all__ = [
    "all",
    "aminmax",
    "any",
    "argsort",
    "count_nonzero",
    "cumprod",
    "kthvalue",
    "logsumexp",
    "median",
    "mode",
    "msort",
    "nanmean",
    "nanmedian",
    "nanquantile",
    "nansum",
    "prod",
    "quantile",
    "sort",
    "std",
    "std_mean",
    "topk",
    "var",
    "var_mean",
]

# torch.return_types.*: namedtuples with torch's names and fields
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])
NanmedianResult = namedtuple("nanmedian", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])
ModeResult = namedtuple("mode", ["values", "indices"])


# ---- helpers ------------------------------------------------------------------------------------

def _dims(dim, ndim: int) -> tuple[int, ...]:
    """torch's reduction dims: None or an empty sequence mean all of them; negatives count from
    the end; a repeated dim is an error (a 0-d tensor takes dim 0 / -1 and reduces nothing)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    out = [_dim(d, ndim) for d in dims]
    check(len(set(out)) == len(out), f"dim {list(dims)}: a dim appears more than once")
    return tuple(sorted(set(out))) if ndim else ()


def _numel(x: Tensor, axes) -> int:
    return math.prod(x.shape[a] for a in axes)


def _keep(x: Tensor, axes) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(x.shape))


def _drop(x: Tensor, axes) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(x.shape) if i not in axes)


def _isnan(x: Tensor) -> Tensor:
    return x != x  # noqa: PLR0124  (elementwise: true at NaN)


def _notnan(x: Tensor) -> Tensor:
    return x == x  # noqa: PLR0124


def _float_only(x: Tensor, name: str, what: str = "a floating-point input") -> None:
    check(x.dtype.is_float, f"{name}() needs {what}, got {x.dtype}")


def _take(x: Tensor, idx: Tensor, d: int) -> Tensor:
    """x's values at positions `idx` along dim d (torch.take_along_dim; idx has x's ndim); the
    gradient scatter-adds back to those positions."""
    return apply("gather", x, idx, axis=d)


def _pick(x: Tensor, idx: Tensor, d: int, keepdim: bool) -> Tensor:
    """x's value at index idx[row] of each row along dim d (idx: x's shape without d)."""
    out = apply("gather", x, idx, axis=d)
    return reshape(out, _keep(x, (d,))) if keepdim else out


def _row(t: Tensor, d: int, k: int) -> Tensor:
    """Position k along dim d of t, that dim dropped."""
    lo = [0] * t.ndim
    hi = list(t.shape)
    lo[d], hi[d] = k, k + 1
    s = apply("slice", t, start=tuple(lo), stop=tuple(hi), step=(1,) * t.ndim)
    return reshape(s, _drop(t, (d,)))


def _first(t: Tensor, d: int, k: int) -> Tensor:
    """The first k positions along dim d of t."""
    if k == t.shape[d]:
        return t
    hi = list(t.shape)
    hi[d] = k
    return apply("slice", t, start=(0,) * t.ndim, stop=tuple(hi), step=(1,) * t.ndim)


# ---- products -----------------------------------------------------------------------------------

def cumprod(x, dim: int, *, dtype=None) -> Tensor:
    """Running products along `dim` (torch.cumprod); integer and bool tensors multiply into int64.

    `dtype` casts the input first, as torch does. The gradient is torch's, zeros included."""
    x = _t(x) if dtype is None else cast(x, dtype)
    return apply("cumprod", x, axis=_dim(dim, x.ndim))


def prod(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of all elements, or along one `dim` (torch.prod); integers multiply into int64.

    The last element of a cumprod, so the gradient is torch's prod_backward: with one zero in a
    row, the zero gets the product of the others and the rest 0; with two, all get 0."""
    x = _t(x) if dtype is None else cast(x, dtype)
    if dim is None:
        flat = reshape(x, (x.numel(),))
        out = reshape(prod(flat, 0), ())
        return reshape(out, (1,) * x.ndim) if keepdim else out
    check(isinstance(dim, (int, np.integer)), f"prod() takes one int dim, got {dim!r}")
    d = _dim(dim, x.ndim)
    if x.ndim == 0:
        return apply("cumprod", x, axis=0)
    if x.shape[d] == 0:   # the empty product: 1 (sum(x) gives the shape, dtype and a graph edge)
        return sum(x, d, keepdim) + 1
    out = _row(apply("cumprod", x, axis=d), d, x.shape[d] - 1)
    return reshape(out, _keep(x, (d,))) if keepdim else out


# ---- logsumexp, var, std ------------------------------------------------------------------------

def logsumexp(x, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, shifted by the row maximum (torch.logsumexp): a row whose
    maximum is +-inf is not shifted, so +inf rows give inf and all -inf rows give -inf."""
    x = _t(x)
    if not x.dtype.is_float:
        x = cast(x, dtypes.get_default_dtype())
    axes = _dims(dim, x.ndim)
    if _numel(x, axes) == 0 or x.numel() == 0:
        return apply("log", sum(apply("exp", x), axes, keepdim))
    m = amax(x, axes, keepdim=True).detach()
    m = where(apply("abs", m) == float("inf"), 0.0, m)
    out = apply("log", sum(apply("exp", x - m), axes, keepdim))
    return out + (m if keepdim else reshape(m, _drop(x, axes)))


def _correction(unbiased, correction) -> float:
    check(unbiased is None or correction is None,
          "var/std: give either unbiased= or correction=, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _moments(x, dim, unbiased, keepdim, correction, name: str):
    """(variance, mean) of x over dim with torch's divisor max(N - correction, 0), accumulated in
    float64 (torch's CPU kernel does too) and rounded to x's dtype."""
    x = _t(x)
    if isinstance(dim, bool):   # torch.var(x, unbiased)
        dim, unbiased = None, dim
    check(x.dtype.is_float, f"{name}() only supports floating-point dtypes, got {x.dtype}")
    c = _correction(unbiased, correction)
    axes = _dims(dim, x.ndim)
    n = _numel(x, axes)
    xd = cast(x, dtypes.float64)
    mean = sum(xd, axes, keepdim=True) / float(n)
    dev = xd - mean.detach()   # d var / d mean is 0: torch's var_backward is 2 (x - mean) / div
    ss = sum(dev * dev, axes, keepdim)
    var = ss / float(builtins.max(n - c, 0))
    if n - c < 0:   # torch: inf (or nan) forward, but its gradient divides by N - correction
        raw = ss / float(n - c)
        var = raw + (var - raw).detach()
    mean = mean if keepdim else reshape(mean, _drop(x, axes))
    return cast(var, x.dtype), cast(mean, x.dtype)


def _sqrt0(v: Tensor) -> Tensor:
    """sqrt(v) whose gradient is 0 where v == 0 (torch's std_backward), not 0 / 0."""
    zero = v == 0
    return where(zero, 0.0, apply("sqrt", where(zero, 1.0, v)))


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over `dim` (torch.var): divided by N - correction (default 1; unbiased=False is
    correction=0); N - correction <= 0 gives inf (or nan for a zero sum), as torch."""
    return _moments(x, dim, unbiased, keepdim, correction, "var")[0]


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Standard deviation over `dim` (torch.std): sqrt of var; its gradient is 0 where it is 0."""
    x = _t(x)
    v = _moments(x, dim, unbiased, keepdim, correction, "std")[0]
    return _sqrt0(v)


def var_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(var, mean) over `dim` in one pass (torch.var_mean)."""
    return _moments(x, dim, unbiased, keepdim, correction, "var_mean")


def std_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(std, mean) over `dim` (torch.std_mean)."""
    v, m = _moments(x, dim, unbiased, keepdim, correction, "std_mean")
    return _sqrt0(v), m


# ---- logical and NaN-aware reductions -----------------------------------------------------------

def _nonzero(x: Tensor) -> Tensor:
    return x if x.dtype.is_bool else x != 0


def _logical_dims(dim, ndim: int) -> tuple[int, ...]:
    # torch.all / torch.any with an empty dim sequence reduce nothing (sum and var reduce all)
    return () if isinstance(dim, (tuple, list)) and not dim else _dims(dim, ndim)


def all(x, dim=None, keepdim: bool = False) -> Tensor:
    """True where every element over `dim` is nonzero (NaN counts as nonzero; empty: True).

    bool result, except uint8 input gives uint8 (as torch)."""
    x = _t(x)
    axes = _logical_dims(dim, x.ndim)
    out = sum(apply("not", _nonzero(x)), axes, keepdim) == 0
    return cast(out, dtypes.uint8) if x.dtype is dtypes.uint8 else out


def any(x, dim=None, keepdim: bool = False) -> Tensor:
    """True where some element over `dim` is nonzero (empty: False); uint8 input gives uint8."""
    x = _t(x)
    axes = _logical_dims(dim, x.ndim)
    out = sum(_nonzero(x), axes, keepdim) > 0
    return cast(out, dtypes.uint8) if x.dtype is dtypes.uint8 else out


def count_nonzero(x, dim=None) -> Tensor:
    """The number of nonzero elements over `dim` (int64; NaN counts as nonzero)."""
    x = _t(x)
    return sum(_nonzero(x), _dims(dim, x.ndim), False)


def nansum(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum over `dim` treating NaN as 0 (torch.nansum); NaN elements get gradient 0."""
    x = _t(x) if dtype is None else cast(x, dtype)
    if x.dtype.is_float:
        x = where(_isnan(x), 0.0, x)
    return sum(x, _dims(dim, x.ndim), keepdim)


def nanmean(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over `dim` of the non-NaN elements (torch.nanmean; all NaN: nan)."""
    x = _t(x) if dtype is None else cast(x, dtype)
    _float_only(x, "nanmean")
    axes = _dims(dim, x.ndim)
    count = sum(_notnan(x), axes, keepdim)
    return nansum(x, axes, keepdim) / cast(count, x.dtype)


def aminmax(x, *, dim=None, keepdim: bool = False):
    """(min, max) over `dim` (None: all elements), torch.aminmax; ties share the gradient."""
    x = _t(x)
    if dim is None:
        check(x.numel() > 0, "aminmax(): cannot compute aminmax of an empty tensor")
        lo, hi = amin(x), amax(x)
        if keepdim:
            lo, hi = reshape(lo, (1,) * x.ndim), reshape(hi, (1,) * x.ndim)
        return AminmaxResult(lo, hi)
    d = _dim(dim, x.ndim)
    check(x.ndim == 0 or x.shape[d] > 0,
          f"aminmax(): cannot compute aminmax over the empty dim {d} of {x.type}")
    return AminmaxResult(amin(x, d, keepdim), amax(x, d, keepdim))


# ---- sorting --------------------------------------------------------------------------------------

def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort x along `dim` (torch.argsort): NaN largest, ties in index order."""
    x = _t(x)
    return apply("argsort", x, axis=_dim(dim, x.ndim), descending=bool(descending))


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False):
    """(values, indices) of x sorted along `dim` (torch.sort; always stable, NaN largest)."""
    x = _t(x)
    idx = argsort(x, dim, descending)
    if x.ndim == 0:
        return SortResult(x, idx)
    return SortResult(_take(x, idx, _dim(dim, x.ndim)), idx)


def msort(x) -> Tensor:
    """x sorted along dim 0 (torch.msort)."""
    return sort(x, 0).values


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """(values, indices) of the k largest (largest=False: smallest) along `dim` (torch.topk);
    always in sorted order, NaN counting as the largest; equal values by index."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    check(isinstance(k, (int, np.integer)) and 0 <= k <= n,
          f"topk(): k={k} is out of range for dim {dim} of size {n}")
    idx = argsort(x, d, descending=largest)
    if x.ndim == 0:
        return TopkResult(x, idx)
    idx = _first(idx, d, int(k))
    return TopkResult(_take(x, idx, d), idx)


def kthvalue(x, k: int, dim: int = -1, keepdim: bool = False):
    """(values, indices) of the k-th smallest element along `dim` (torch.kthvalue; k from 1)."""
    x = _t(x)
    d = _dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    check(isinstance(k, (int, np.integer)) and 1 <= k <= n,
          f"kthvalue(): k={k} is out of range for dim {dim} of size {n}")
    if x.ndim == 0:
        return KthvalueResult(x, argsort(x, 0))
    idx = _row(argsort(x, d), d, int(k) - 1)
    out_idx = reshape(idx, _keep(x, (d,))) if keepdim else idx
    return KthvalueResult(_pick(x, idx, d, keepdim), out_idx)


def _median(x, dim, keepdim: bool, ignore_nan: bool, name: str):
    x = _t(x)
    result = NanmedianResult if ignore_nan else MedianResult
    if dim is None:   # the flattened tensor's median, a value only (empty: nan)
        flat = reshape(x, (x.numel(),))
        if x.numel() == 0:
            check(x.dtype.is_float, f"{name}() of an empty integer tensor")
            return reshape(sum(flat, 0) * float("nan"), ())
        m = _median(flat, 0, False, ignore_nan, name).values
        return _evenly(flat, m) if x.dtype.is_float else m
    d = _dim(dim, x.ndim)
    if x.ndim == 0:
        return result(x, argsort(x, 0))
    n = x.shape[d]
    check(n > 0, f"{name}(): dim {d} of {x.type} is empty")
    order = argsort(x, d)                     # NaN last, equal values in index order
    if ignore_nan and x.dtype.is_float:       # the lower median of each row's non-NaN values
        count = sum(_notnan(x), d, False)
        k = where(count > 0, (count - 1) // 2, 0)
        idx = apply("gather", order, k, axis=d)
    else:
        idx = _row(order, d, (n - 1) // 2)
        if x.dtype.is_float:                  # a row holding NaN: its first NaN, as torch
            nan = _isnan(x)
            idx = where(sum(nan, d, False) > 0, apply("argmax", nan, axis=d, keepdims=False), idx)
    out_idx = reshape(idx, _keep(x, (d,))) if keepdim else idx
    return result(_pick(x, idx, d, keepdim), out_idx)


def _evenly(flat: Tensor, m: Tensor) -> Tensor:
    """m (a value of `flat`) with torch's evenly_distribute_backward: the gradient is shared by
    every element equal to m (every NaN if m is NaN). The value stays m exactly: m - sum(mask *
    (m - x)) / count adds zeros (-0.0 kept); a tied +-inf median gets no gradient (inf - inf)."""
    m = m.detach()
    mask = where(_isnan(m), _isnan(flat), flat == m)
    diff = where(mask & (apply("abs", flat) != float("inf")), m - flat, 0.0)
    return m - sum(diff, 0) / cast(sum(mask, 0), flat.dtype)


def median(x, dim=None, keepdim: bool = False):
    """The lower median (torch.median): of all elements (a value), or along `dim` as (values,
    indices); a row holding NaN gives NaN (the index of its first NaN)."""
    return _median(x, dim, keepdim, False, "median")


def nanmedian(x, dim=None, keepdim: bool = False):
    """median ignoring NaN (torch.nanmedian): the lower median of each row's non-NaN values; a
    row of NaN only gives NaN."""
    return _median(x, dim, keepdim, True, "nanmedian")


def mode(x, dim: int = -1, keepdim: bool = False):
    """(values, indices) of the most frequent value along `dim` (torch.mode): the smallest of
    equally frequent values, at its last index; NaNs count as one value."""
    x = _t(x)
    if x.ndim == 0:
        return ModeResult(x, argsort(x, 0))
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    check(n > 0, f"mode(): dim {d} of {x.type} is empty")
    xm = movedim(x.detach(), d, -1)                     # (..., n)
    order = argsort(xm, -1)
    s = _take(xm, order, xm.ndim - 1)                   # sorted, equal values side by side
    lead = s.shape[:-1]
    if n > 1:
        a, b = s[..., 1:], s[..., :-1]
        same = (a == b) | (_isnan(a) & _isnan(b)) if x.dtype.is_float else a == b
        new_run = cat([full(lead + (1,), True), apply("not", same)], -1)
    else:
        new_run = full(lead + (1,), True)
    run = cumsum(new_run, -1) - 1                       # run number of each sorted position
    counts = scatter_add(full(lead + (n,), 0), -1, run, full(lead + (n,), 1))
    count = _take(counts, run, len(lead))               # the length of each position's run
    first = argmax(count, -1)                           # the first (smallest) most frequent run
    last = first + amax(count, -1) - 1                  # its last element: the largest index
    idx = apply("gather", order, last, axis=len(lead))
    out_idx = reshape(idx, _keep(x, (d,))) if keepdim else idx
    return ModeResult(_pick(x, idx, d, keepdim), out_idx)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool, name: str):
    x = _t(x)
    check(x.dtype.is_float, f"{name}() input tensor must be either float or double dtype, "
                            f"got {x.dtype}")
    check(interpolation in _INTERPOLATIONS, f"{name}() interpolation must be one of "
                                            f"{', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
    if isinstance(q, Tensor):
        check(q.dtype is x.dtype, f"{name}() q tensor must have the input's dtype {x.dtype}, "
                                  f"got {q.dtype}")
        q_scalar = q.ndim == 0
    else:
        q_scalar = np.ndim(q) == 0
        q = np.asarray(q, dtype=x.dtype.np)
        check(q.ndim <= 1, f"{name}() q must be a scalar or 1-D, got shape {list(q.shape)}")
        check(q.size == 0 or bool(((q >= 0) & (q <= 1)).all()),
              f"{name}() q values must be in the range [0, 1]")
        from .functions import tensor
        q = tensor(q)
    check(q.ndim <= 1, f"{name}() q must be a scalar or 1-D tensor, got {q.type}")
    if dim is None:
        axes = tuple(range(x.ndim))
        xs = reshape(x, (x.numel(),))
    else:
        d = _dim(dim, x.ndim)
        axes = (d,) if x.ndim else ()
        xs = movedim(x, d, -1) if x.ndim else reshape(x, (1,))
    n = xs.shape[-1]
    check(n > 0, f"{name}() input tensor must be non-empty")
    qv = reshape(q, (-1,))                                        # (nq,)
    srt = sort(xs, -1).values                                     # (..., n), NaN last
    nan = _isnan(xs)
    if ignore_nan:   # ranks among each row's non-NaN values (all NaN: rank 0, a NaN)
        valid = cast(sum(apply("not", nan), -1, True), x.dtype) - 1.0
        ranks = qv * valid
        ranks = where(ranks < 0, 0.0, ranks)
    else:            # a row holding NaN reads its last (NaN) value
        ranks = where(sum(nan, -1, True) > 0, float(n - 1), qv * float(n - 1))
    ranks = ranks.detach()
    if interpolation == "lower":
        ranks = floor(ranks)
    elif interpolation == "higher":
        ranks = ceil(ranks)
    elif interpolation == "nearest":
        ranks = round(ranks)
    lead = srt.shape[:-1] + (qv.shape[0],)
    ranks = apply("broadcast", ranks, shape=lead) if ranks.shape != lead else ranks
    below = cast(ranks, dtypes.int64)
    out = _take(srt, below, srt.ndim - 1)
    if interpolation in ("linear", "midpoint"):
        above = cast(ceil(ranks), dtypes.int64)
        weight = ranks - floor(ranks) if interpolation == "linear" else 0.5
        out = lerp(out, _take(srt, above, srt.ndim - 1), weight)
    # (..., nq) -> (nq, reduced...) with the reduced dims kept as 1 if keepdim
    out = movedim(out, -1, 0)
    shape = (_keep(x, axes) if keepdim else _drop(x, axes))
    out = reshape(out, ((qv.shape[0],) if not q_scalar else ()) + shape)
    return out


def quantile(x, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles of x along `dim` (None: all elements), torch.quantile: q a number or a
    1-D tensor (its dim first in the result); a row holding NaN gives NaN."""
    return _quantile(x, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(x, q, dim=None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """quantile ignoring NaN (torch.nanquantile); a row of NaN only gives NaN."""
    return _quantile(x, q, dim, keepdim, interpolation, True, "nanquantile")


# ---- Tensor methods -----------------------------------------------------------------------------

def _install() -> None:
    T = Tensor
    for name in ("prod", "cumprod", "logsumexp", "var", "std", "all", "any", "nansum", "nanmean",
                 "count_nonzero", "aminmax", "sort", "argsort", "msort", "topk", "kthvalue",
                 "median", "nanmedian", "mode", "quantile", "nanquantile"):
        setattr(T, name, globals()[name])
    T.cumprod_ = lambda self, dim, *, dtype=None: self._assign(cumprod(self, dim, dtype=dtype))


_install()
