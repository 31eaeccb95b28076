"""The op registry (see registry.py); importing this package registers every primitive."""
from .registry import NONDIFF, OPS, OpDef, Sample, defvjp, register  # noqa: F401
from . import elementwise, structural  # noqa: F401,E402  (registration side effects)
from . import special  # noqa: F401,E402
from . import fused  # noqa: F401,E402
from . import quant  # noqa: F401,E402
from . import collective  # noqa: F401,E402
