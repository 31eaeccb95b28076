"""graphc.nn.intrinsic.qat: torch.nn.intrinsic.qat's spelling of graphc.ao.nn.intrinsic.qat."""
from ....ao.nn.intrinsic.qat import *  # noqa: F401,F403
from ....ao.nn.intrinsic.qat import __all__, modules  # noqa: F401
