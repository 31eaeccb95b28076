"""torch.ao.nn.intrinsic.qat.modules: the fused modules' QAT forms."""
from .conv_fused import (ConvBn1d, ConvBn2d, ConvBnReLU1d, ConvBnReLU2d,  # noqa: F401
                         ConvReLU1d, ConvReLU2d, freeze_bn_stats, update_bn_stats)
from .linear_fused import LinearBn1d  # noqa: F401
from .linear_relu import LinearReLU  # noqa: F401

__all__ = ["LinearReLU", "LinearBn1d", "ConvReLU1d", "ConvReLU2d", "ConvBn1d", "ConvBn2d",
           "ConvBnReLU1d", "ConvBnReLU2d", "update_bn_stats", "freeze_bn_stats"]
