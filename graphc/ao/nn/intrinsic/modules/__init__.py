"""torch.ao.nn.intrinsic.modules: the fused float modules."""
from .fused import (BNReLU2d, ConvBn1d, ConvBn2d, ConvBnReLU1d, ConvBnReLU2d,  # noqa: F401
                    ConvReLU1d, ConvReLU2d, LinearBn1d, LinearReLU, _FusedModule)

__all__ = ["ConvBn1d", "ConvBn2d", "ConvBnReLU1d", "ConvBnReLU2d", "ConvReLU1d", "ConvReLU2d",
           "LinearReLU", "BNReLU2d", "LinearBn1d"]
