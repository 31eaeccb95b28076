"""torch.nn.modules.pixelshuffle's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..upsampling import PixelShuffle, PixelUnshuffle  # noqa: F401
