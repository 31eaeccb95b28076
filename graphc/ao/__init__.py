"""graphc.ao: torch.ao's layout (`ao.quantization`, `ao.nn`)."""
from . import quantization  # noqa: F401
