"""nniq.LinearReLU: the static int8 Linear with ReLU fused into its requantization (the output
is clamped below at the output zero point, as fbgemm's fused ReLU)."""
from __future__ import annotations

from ....quantized.modules.linear import Linear


class LinearReLU(Linear):
    """A quantized Linear followed by ReLU, in one requantization (torch's
    torch.ao.nn.intrinsic.quantized.LinearReLU)."""

    _relu = True
    _FLOAT_MODULE_NAMES = ("LinearReLU",)

    def _get_name(self) -> str:
        return "QuantizedLinearReLU"
