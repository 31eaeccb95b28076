"""graphc.ao.nn.quantized: static int8 modules (torch.ao.nn.quantized); `dynamic` holds the dynamic ones."""
from . import dynamic  # noqa: F401
