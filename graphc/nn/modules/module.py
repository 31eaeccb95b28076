"""torch.nn.modules.module's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..module import Module  # noqa: F401
