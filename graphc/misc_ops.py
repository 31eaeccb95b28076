"""Assorted torch names: finfo/iinfo, legacy tensor types, unique, retain_grad, multinomial."""
from __future__ import annotations

__all__: list[str] = []
