"""torch.nn.modules.dropout's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..layers import AlphaDropout, Dropout, Dropout1d, Dropout2d  # noqa: F401
