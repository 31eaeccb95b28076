"""torch.nn.modules.normalization's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..normalization import GroupNorm, LayerNorm, LocalResponseNorm, RMSNorm  # noqa: F401
