"""nniq.ConvReLU2d: the static int8 Conv2d with ReLU fused into its requantization."""
from __future__ import annotations

from ....quantized.modules.conv import Conv2d


class ConvReLU2d(Conv2d):
    """A quantized Conv2d followed by ReLU, in one requantization (torch's
    torch.ao.nn.intrinsic.quantized.ConvReLU2d)."""

    _relu = True
    _FLOAT_MODULE_NAMES = ("ConvReLU2d",)
    _QAT_BN_NAMES = ("ConvBnReLU2d",)

    def _get_name(self) -> str:
        return "QuantizedConvReLU2d"
