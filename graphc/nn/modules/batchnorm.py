"""torch.nn.modules.batchnorm's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..normalization import BatchNorm1d, BatchNorm2d, _BatchNorm, _NormBase  # noqa: F401
