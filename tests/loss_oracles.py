"""Independent oracles for the class-axis loss primitives (lse, take_class): float64 NumPy and
element-by-element loops, and the torch calls with the same meaning; test_ops and test_autodiff
merge these into their tables."""
from __future__ import annotations

import numpy as np


def np_lse(x):
    m = x.astype(np.float64).max(-1, keepdims=True)
    return (np.log(np.exp(x.astype(np.float64) - m).sum(-1)) + m[..., 0]).astype(x.dtype)


def np_take_class(x, t, ignore=None):
    out = np.zeros(t.shape, x.dtype)
    for p in np.ndindex(t.shape):
        k = int(t[p])
        if k == ignore:
            continue
        assert 0 <= k < x.shape[-1], f"class {k} out of range for {x.shape[-1]}"
        out[p] = x[k] if x.ndim == 1 else x[p + (k,)]
    return out


def np_xent(x, t, ignore=None):
    nll = np_lse(x).astype(np.float64) - np_take_class(x, t, ignore)
    return np.where(t == ignore, 0, nll).astype(x.dtype)


def np_xent_grad(x, t, lse, g, ignore=None):
    out = np.zeros(x.shape, np.float64)
    for p in np.ndindex(t.shape):
        k = int(t[p])
        if k == ignore:
            continue
        row = np.exp(x[p].astype(np.float64) - float(lse[p])) * float(g[p])
        row[k] -= float(g[p])
        out[p] = row
    return out.astype(x.dtype)


NUMPY = {"lse": np_lse, "take_class": np_take_class, "xent": np_xent, "xent_grad": np_xent_grad}


def torch_table(torch):
    """op name -> the torch expression (differentiable in x)."""
    def take_class(x, t, ignore=None):
        skip = t == ignore if ignore is not None else torch.zeros_like(t, dtype=torch.bool)
        safe = torch.where(skip, torch.zeros_like(t), t)
        got = x[safe] if x.ndim == 1 else x.gather(-1, safe[..., None])[..., 0]
        return torch.where(skip, torch.zeros((), dtype=x.dtype), got)
    def xent(x, t, ignore=None):
        c = x.shape[-1]
        out = torch.nn.functional.cross_entropy(
            x.reshape(-1, c), t.reshape(-1), reduction="none",
            ignore_index=-100 if ignore is None else ignore)
        return out.reshape(t.shape)

    def xent_grad(x, t, lse, g, ignore=None):
        keep = (t != ignore) if ignore is not None else torch.ones_like(t, dtype=torch.bool)
        hot = torch.arange(x.shape[-1]) == torch.where(keep, t, -1)[..., None]
        out = torch.exp(x - lse[..., None]) * g[..., None] - torch.where(hot, g[..., None], 0)
        return torch.where(keep[..., None], out, torch.zeros((), dtype=x.dtype))
    return {"lse": lambda x: torch.logsumexp(x, -1), "take_class": take_class, "xent": xent,
            "xent_grad": xent_grad}
