"""torch.nn.modules.conv's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..convolution import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, _ConvNd  # noqa: F401
