"""Quantized activations (torch.ao.nn.quantized.ReLU6): same quantization parameters in and out."""
from __future__ import annotations

import numpy as np

from ..... import functions as G
from .....ir.ops.qstatic import quantize_fma
from .....nn.module import Module
from .....quantized_tensor import QTensor
from .....tensor import Tensor
from .utils import check_quint8


class ReLU6(Module):
    """min(max(q, zero_point), q6) with q6 = quantize(6.0) at the input's parameters (torch's
    quantized relu6)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x) -> QTensor:
        """relu6 of a quint8 tensor."""
        x = check_quint8(x, "QuantizedReLU6")
        zp = x.q_zero_point()
        q6 = int(quantize_fma(np.array([6.0], np.float32), x.q_scale(), zp, "u8")[0])
        q = G.minimum(G.maximum(x._q, Tensor(np.array(zp, np.uint8))),
                      Tensor(np.array(q6, np.uint8)))
        return x._like(q)

    def _get_name(self) -> str:
        return "QuantizedReLU6"

    def __repr__(self) -> str:
        return "QuantizedReLU6()"

    @staticmethod
    def from_float(mod, use_precomputed_fake_quant: bool = False):
        """A quantized ReLU6 for an nn.ReLU6 (it has no parameters)."""
        return ReLU6(getattr(mod, "inplace", False))
