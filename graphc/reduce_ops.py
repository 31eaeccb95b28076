"""Torch's reductions beyond sum/mean/amax/argmax: prod, cumprod, logsumexp, var/std, all/any,
topk, sort, median, ...

(Every public name is listed in __all__ and exported from graphc by `from .reduce_ops import *`.)"""
from __future__ import annotations

__all__: list[str] = []
