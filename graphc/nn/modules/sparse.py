"""torch.nn.modules.sparse's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..sparse import Embedding, EmbeddingBag  # noqa: F401
