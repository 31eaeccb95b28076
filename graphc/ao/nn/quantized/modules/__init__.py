"""torch.ao.nn.quantized.modules: the static int8 modules, and Quantize / DeQuantize."""
from __future__ import annotations

import numpy as np

from ..... import dtypes
from .....errors import GraphcError
from .....nn.module import Module
from .....quantized_tensor import QTensor, quantize_per_tensor
from .activation import ReLU6
from .conv import Conv2d
from .functional_modules import FloatFunctional, QFunctional
from .linear import Linear
from .utils import float_module_qparams

__all__ = ["Conv2d", "DeQuantize", "FloatFunctional", "Linear", "QFunctional", "Quantize",
           "ReLU6"]


class Quantize(Module):
    """Quantizes a float32 input with a fixed scale and zero point (what convert puts in place
    of a QuantStub); `scale` / `zero_point` are float32 / int64 buffers of one element, as
    torch's."""

    def __init__(self, scale, zero_point, dtype, factory_kwargs=None):
        super().__init__()
        if not isinstance(dtype, dtypes.QDType):
            raise GraphcError(f"nnq.Quantize needs a quantized dtype, got {dtype!r}")
        self.register_buffer("scale", np.array([scale], np.float32))
        self.register_buffer("zero_point", np.array([zero_point], np.int64))
        self.dtype = dtype

    def forward(self, x) -> QTensor:
        """quantize_per_tensor(x, scale, zero_point, dtype)."""
        s = float(self._buffers["scale"].numpy()[0])
        z = int(self._buffers["zero_point"].numpy()[0])
        return quantize_per_tensor(x, s, z, self.dtype)

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant: bool = False):
        """The Quantize of a prepared QuantStub (its observer's scale and zero point)."""
        s, z = float_module_qparams(mod)
        return Quantize(float(np.float32(s)), z, mod.activation_post_process.dtype)

    def extra_repr(self) -> str:
        """As torch's."""
        s, z = self._buffers["scale"].numpy(), self._buffers["zero_point"].numpy()
        return (f"scale=tensor([{s[0]:.4f}]), zero_point=tensor([{z[0]}]), "
                f"dtype={self.dtype!r}")


class DeQuantize(Module):
    """Turns a quantized tensor back into float32 (what convert puts in place of a
    DeQuantStub)."""

    def forward(self, x):
        """x.dequantize()."""
        if not isinstance(x, QTensor):
            raise GraphcError(f"nnq.DeQuantize takes a quantized tensor, got "
                              f"{type(x).__name__}")
        return x.dequantize()

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant: bool = False):
        """A DeQuantize for a DeQuantStub."""
        return DeQuantize()
