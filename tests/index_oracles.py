"""Independent oracles for the indexing primitives (gather, scatter, take, put): element-by-element
Python loops for NumPy, and the torch calls with the same meaning; test_ops and test_autodiff
merge these into their tables."""
from __future__ import annotations

import numpy as np


def _wrapped(i: int, n: int, wrap: bool) -> int:
    assert (-n if wrap else 0) <= i < n, f"index {i} out of range for {n}"
    return i + n if i < 0 else i


def np_gather(x, idx, axis, wrap=False):
    out = np.empty(idx.shape, x.dtype)
    for p in np.ndindex(idx.shape):
        k = _wrapped(int(idx[p]), x.shape[axis], wrap)
        q = p[:axis] + (k,) + (p[axis + 1:] if idx.ndim == x.ndim else p[axis:])
        out[p] = x[q]
    return out


def np_scatter(x, idx, src, axis, reduce):
    out = x.copy()
    ops = {"add": lambda a, b: a + b, "multiply": lambda a, b: a * b,
           "amax": lambda a, b: b if (np.isnan(b) or b > a) else a,
           "amin": lambda a, b: b if (np.isnan(b) or b < a) else a, "assign": lambda a, b: b}
    for p in np.ndindex(idx.shape):
        q = p[:axis] + (_wrapped(int(idx[p]), x.shape[axis], False),) + p[axis + 1:]
        out[q] = ops[reduce](out[q], src[p])
    return out


def np_take(x, idx, axis, wrap=False):
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    out = np.empty(shape, x.dtype)
    for p in np.ndindex(shape):
        j = p[axis:axis + idx.ndim]
        k = _wrapped(int(idx[j]), x.shape[axis], wrap)
        out[p] = x[p[:axis] + (k,) + p[axis + idx.ndim:]]
    return out


def np_put(x, idx, v, axis, accumulate, wrap=False):
    out = x.copy()
    for p in np.ndindex(v.shape):
        j = p[axis:axis + idx.ndim]
        q = p[:axis] + (_wrapped(int(idx[j]), x.shape[axis], wrap),) + p[axis + idx.ndim:]
        out[q] = out[q] + v[p] if accumulate else v[p]
    return out


NUMPY = {"gather": np_gather, "scatter": np_scatter, "take": np_take, "put": np_put}


def torch_table(torch) -> dict:
    """The primitives as torch calls (torch.gather, scatter_reduce, advanced indexing)."""
    def gather(x, idx, axis, wrap=False):
        if wrap:
            idx = idx % x.shape[axis]
        if idx.ndim == x.ndim:
            return torch.gather(x, axis, idx)
        return torch.gather(x, axis, idx.unsqueeze(axis)).squeeze(axis)

    def scatter(x, idx, src, axis, reduce):
        if reduce == "assign":
            return x.scatter(axis, idx, src)
        if reduce == "add":
            return x.scatter_add(axis, idx, src)
        return x.scatter_reduce(axis, idx, src, {"multiply": "prod"}.get(reduce, reduce))

    def take(x, idx, axis, wrap=False):
        return x[(slice(None),) * axis + (idx.long(),)]

    def put(x, idx, v, axis, accumulate, wrap=False):
        k = idx.ndim   # the index's dims of v in front, as index_put on x's axis moved to 0
        vt = v.movedim(tuple(range(axis, axis + k)), tuple(range(k)))
        return x.movedim(axis, 0).index_put((idx.long(),), vt, accumulate=accumulate) \
            .movedim(0, axis)
    return {"gather": gather, "scatter": scatter, "take": take, "put": put}
