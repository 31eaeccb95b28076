"""torch.nn.modules.upsampling's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401
