"""The op registry (see registry.py); importing this package registers every primitive."""
from .registry import NONDIFF, OPS, OpDef, Sample, defvjp, register  # noqa: F401
# one module per op family; importing them registers their ops
from . import elementwise, reduce, movement, linalg, index, constant  # noqa: F401,E402
from . import autodiff_markers, fused, quant, collective  # noqa: F401,E402
