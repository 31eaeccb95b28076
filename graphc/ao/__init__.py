"""graphc.ao: torch.ao's layout (`ao.quantization`, `ao.nn`)."""
from . import nn, quantization  # noqa: F401
