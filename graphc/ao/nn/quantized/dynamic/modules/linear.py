"""torch.ao.nn.quantized.dynamic.Linear: graphc's dynamic int8 Linear under torch's name and repr."""
from __future__ import annotations

from ...... import dtypes
from ......errors import NotSupportedError
from .....quantization.dynamic import QuantizedLinear

__all__ = ["Linear"]


class Linear(QuantizedLinear):
    """Linear(in_features, out_features, bias_=True, dtype=qint8): a QuantizedLinear (same buffers,
    numbers and kernel) that prints as torch's DynamicQuantizedLinear."""

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=dtypes.qint8, per_channel: bool = False):
        if dtype is not dtypes.qint8:
            raise NotSupportedError(f"DynamicQuantizedLinear: dtype={dtype!r} is not supported; "
                                    "graphc's dynamic Linear has int8 weights only (qint8)")
        super().__init__(in_features, out_features, bias_, per_channel)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False, per_channel=None):
        """Quantize an fp32 nn.Linear; per_channel None reads `mod.qconfig` (per tensor without)."""
        if per_channel is None:
            from .rnn import qconfig_per_channel
            per_channel = qconfig_per_channel(getattr(mod, "qconfig", None))
        return super().from_float(mod, per_channel)

    def extra_repr(self) -> str:
        """torch's text: sizes, dtype and the weight's qscheme."""
        scheme = "per_channel_affine" if self.per_channel else "per_tensor_affine"
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"dtype=torch.qint8, qscheme=torch.{scheme}")

    def __repr__(self) -> str:
        return f"DynamicQuantizedLinear({self.extra_repr()})"
