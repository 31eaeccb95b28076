"""torch.nn.modules.linear's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..layers import Identity, Linear, NonDynamicallyQuantizableLinear  # noqa: F401
