"""torch.nn.modules.data_parallel's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..parallel import DataParallel  # noqa: F401
