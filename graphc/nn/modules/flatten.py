"""torch.nn.modules.flatten's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..flatten import Unflatten  # noqa: F401
from ..layers import Flatten  # noqa: F401
