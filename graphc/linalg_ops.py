"""The matrix products torch has at top level (mm, bmm, mv, dot, outer, addmm, baddbmm, einsum,
cdist, norm), as matmuls and views.

(Every public name is listed in __all__ and exported from graphc by `from .linalg_ops import *`.)"""
from __future__ import annotations

__all__: list[str] = []
