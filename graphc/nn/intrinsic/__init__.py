"""graphc.nn.intrinsic: torch.nn.intrinsic's older spelling of graphc.ao.nn.intrinsic (the same
classes)."""
from ...ao.nn.intrinsic import *  # noqa: F401,F403
from ...ao.nn.intrinsic import __all__, _FusedModule  # noqa: F401
from ...ao.nn.intrinsic import modules  # noqa: F401
from . import qat  # noqa: F401,E402
