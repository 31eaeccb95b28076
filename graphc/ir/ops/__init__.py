"""The op registry (see registry.py); importing this package registers every primitive."""
from .registry import (FUSIBLE, LOOP, NO_KERNEL, NONDIFF, OPS, Fusion, OpDef, Sample,  # noqa: F401
                       defvjp, fusion_of, register)
# one module per op family; importing them registers their ops
from . import elementwise, reduce, movement, linalg, index, constant  # noqa: F401,E402
from . import autodiff_markers, fused, quant, collective  # noqa: F401,E402
from . import random  # noqa: F401,E402
from . import sort  # noqa: F401,E402
from . import loss  # noqa: F401,E402
from . import conv  # noqa: F401,E402
from . import pool  # noqa: F401,E402
from . import qstatic  # noqa: F401,E402
from . import control  # noqa: F401,E402
