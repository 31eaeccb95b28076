"""torch.nn.modules.fold's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..convolution import Fold, Unfold  # noqa: F401
