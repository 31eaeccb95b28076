"""graphc.nn.qat.dynamic: torch.nn.qat.dynamic's spelling of graphc.ao.nn.qat.dynamic."""
from ....ao.nn.qat.dynamic import *  # noqa: F401,F403
from ....ao.nn.qat.dynamic import __all__, modules  # noqa: F401
