"""graphc.ao.nn.intrinsic.qat: QAT forms of the fused modules (torch.ao.nn.intrinsic.qat):
ConvBn1d/2d, ConvBnReLU1d/2d, ConvReLU1d/2d, LinearReLU, LinearBn1d, freeze_bn_stats,
update_bn_stats."""
from .modules import *  # noqa: F401,F403
from .modules import __all__  # noqa: F401
from . import modules  # noqa: F401
