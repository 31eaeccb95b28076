"""graphc.ao.nn: torch.ao.nn's layout (quantized, qat, intrinsic modules)."""
from . import quantized  # noqa: F401
