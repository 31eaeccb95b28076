"""torch.nn.modules.distance's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..loss import CosineSimilarity, PairwiseDistance  # noqa: F401
