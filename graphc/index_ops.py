"""Torch's indexing functions beyond basic slicing: integer-tensor gathers and scatters, masks.

(Filled in by the indexing work of issue 17; every public name is listed in __all__ and exported
from graphc by `from .index_ops import *`.)"""
from __future__ import annotations

__all__: list[str] = []
