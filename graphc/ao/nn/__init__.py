"""graphc.ao.nn: torch.ao.nn's layout (quantized, qat, intrinsic modules)."""
from . import quantized  # noqa: F401
from . import intrinsic, qat  # noqa: F401,E402
