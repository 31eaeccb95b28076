"""graphc.quantization: torch.quantization's spelling of graphc.ao.quantization.

Every name and submodule is graphc.ao.quantization's own object (`graphc.quantization.observer is
graphc.ao.quantization.observer`), as torch.quantization re-exports torch.ao.quantization.
"""
import sys
import types

from ..ao import quantization as _ao
from ..ao.quantization import *  # noqa: F401,F403
from ..ao.quantization import __all__  # noqa: F401

for _name, _mod in vars(_ao).items():
    if isinstance(_mod, types.ModuleType) and _mod.__name__.startswith(_ao.__name__ + "."):
        sys.modules[f"{__name__}.{_name}"] = _mod
        globals()[_name] = _mod

from .. import unsupported as _unsupported  # noqa: E402
__getattr__ = _unsupported.module_getattr(__name__, globals())  # names graphc lacks: a clear error
