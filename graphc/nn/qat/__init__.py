"""graphc.nn.qat: torch.nn.qat's older spelling of graphc.ao.nn.qat (the same classes)."""
from ...ao.nn.qat import *  # noqa: F401,F403
from ...ao.nn.qat import __all__, modules  # noqa: F401
from . import dynamic  # noqa: F401,E402
