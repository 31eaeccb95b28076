"""QAT LinearReLU (torch.ao.nn.intrinsic.qat.modules.linear_relu)."""
from __future__ import annotations

from ......nn import Linear, ReLU
from ......nn import functional as F
from ......nn.parameter import Parameter
from ...modules import fused as nni
from ....qat.modules.linear import Linear as _QATLinear

__all__ = ["LinearReLU"]


class LinearReLU(_QATLinear, nni._FusedModule):
    """qat.Linear followed by ReLU (from a fused nni.LinearReLU)."""

    _FLOAT_MODULE = nni.LinearReLU

    def __init__(self, in_features, out_features, bias=True, qconfig=None):
        super().__init__(in_features, out_features, bias, qconfig)

    def forward(self, input):
        """relu(F.linear(input, weight_fake_quant(weight), bias))."""
        return F.relu(F.linear(input, self.weight_fake_quant(self.weight), self.bias))

    def to_float(self):
        """nni.LinearReLU of a plain Linear with copies of the weights."""
        linear = Linear(self.in_features, self.out_features, self.bias is not None)
        linear.weight = Parameter(self.weight.detach().numpy().copy())
        if self.bias is not None:
            linear.bias = Parameter(self.bias.detach().numpy().copy())
        return nni.LinearReLU(linear, ReLU())
