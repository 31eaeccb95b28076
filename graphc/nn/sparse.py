"""Embedding layers with torch's semantics: nn.Embedding, nn.EmbeddingBag, F.embedding, F.embedding_bag."""
from __future__ import annotations

__all__: list[str] = []
