"""torch.nn.modules.instancenorm's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..normalization import InstanceNorm1d, InstanceNorm2d  # noqa: F401
