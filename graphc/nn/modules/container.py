"""torch.nn.modules.container's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..module import ModuleDict, ModuleList, Sequential  # noqa: F401
