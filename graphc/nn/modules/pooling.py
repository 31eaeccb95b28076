"""torch.nn.modules.pooling's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,  # noqa: F401
                       AvgPool1d, AvgPool2d, LPPool1d, LPPool2d, MaxPool1d, MaxPool2d, _MaxPoolNd)
