"""graphc.utils: torch.utils's layout (graphc.utils.data holds Dataset, DataLoader and samplers)."""
from . import data  # noqa: F401

from ..unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
