"""Attention with torch's semantics: F.scaled_dot_product_attention and nn.MultiheadAttention."""
from __future__ import annotations

__all__: list[str] = []
