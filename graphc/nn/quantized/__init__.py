"""graphc.nn.quantized: torch.nn.quantized's older spelling of graphc.ao.nn.quantized (the same
classes and submodules)."""
import sys as _sys

from ...ao.nn.quantized import *
from ...ao.nn.quantized import __all__, dynamic, functional, modules  # noqa: F401

# `import graphc.nn.quantized.functional` (and .dynamic, .modules) finds the same modules
for _name in ("dynamic", "functional", "modules"):
    _sys.modules[f"{__name__}.{_name}"] = _sys.modules[f"graphc.ao.nn.quantized.{_name}"]
