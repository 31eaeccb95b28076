"""Transformer layers with torch's semantics: nn.TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder, Transformer."""
from __future__ import annotations

__all__: list[str] = []
