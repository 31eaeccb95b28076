"""graphc.ao.nn.intrinsic.quantized: fused static int8 modules (LinearReLU, ConvReLU2d), as
torch.ao.nn.intrinsic.quantized."""
from .modules import ConvReLU2d, LinearReLU  # noqa: F401
from . import modules  # noqa: F401

__all__ = ["ConvReLU2d", "LinearReLU"]
