"""graphc.linalg: torch.linalg's layout (vector_norm, matrix_norm, norm, ...)."""
from __future__ import annotations

from .unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
