"""graphc.ao.nn.intrinsic.quantized: fused static int8 modules (LinearReLU, ConvReLU2d), as
torch.ao.nn.intrinsic.quantized."""
from . import modules  # noqa: F401
from .modules import ConvReLU2d, LinearReLU

__all__ = ["ConvReLU2d", "LinearReLU"]
