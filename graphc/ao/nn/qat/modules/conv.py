"""qat.Conv1d / qat.Conv2d (torch.ao.nn.qat.modules.conv): convolutions whose weight goes
through `weight_fake_quant` on every forward."""
from __future__ import annotations

from .....nn import Conv1d as _Conv1d
from .....nn import Conv2d as _Conv2d
from .....nn import ReLU
from .....nn.parameter import Parameter
from ...intrinsic.modules.fused import _FusedModule
from .linear import _check_from_float, _require_qconfig

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd:
    """What the QAT convolutions share (a mixin before the float conv class in the bases)."""

    _FLOAT_MODULE: type
    _FLOAT_CONV_MODULE: type

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", qconfig=None, device=None,
                 dtype=None):
        self._FLOAT_CONV_MODULE.__init__(self, in_channels, out_channels, kernel_size, stride,
                                         padding, dilation, groups, bias, padding_mode,
                                         device=device, dtype=dtype)
        _require_qconfig(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input):
        """The convolution with weight_fake_quant(weight)."""
        return self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module sharing the float conv's weight and bias Parameters (a fused
        ConvReLU's conv is taken)."""
        _check_from_float(cls, mod, cls._FLOAT_MODULE)
        if isinstance(mod, _FusedModule):
            mod = mod[0]
        qat = cls(mod.in_channels, mod.out_channels, mod.kernel_size, stride=mod.stride,
                  padding=mod.padding, dilation=mod.dilation, groups=mod.groups,
                  bias=mod.bias is not None, padding_mode=mod.padding_mode,
                  qconfig=mod.qconfig)
        qat.weight = mod.weight
        qat.bias = mod.bias
        return qat

    def to_float(self):
        """The float conv (or the fused nni.ConvReLU for a ConvReLU) with copies of the
        weights."""
        cls = type(self)
        conv = cls._FLOAT_CONV_MODULE(self.in_channels, self.out_channels, self.kernel_size,
                                      self.stride, self.padding, self.dilation, self.groups,
                                      self.bias is not None, self.padding_mode)
        conv.weight = Parameter(self.weight.detach().numpy().copy())
        if self.bias is not None:
            conv.bias = Parameter(self.bias.detach().numpy().copy())
        if isinstance(self, _FusedModule):
            fused = cls._FLOAT_MODULE(conv, ReLU())
            fused.train(self.training)
            return fused
        return conv


class Conv1d(_ConvNd, _Conv1d):
    """A Conv1d with fake-quantized weights for quantization-aware training."""

    _FLOAT_MODULE = _Conv1d
    _FLOAT_CONV_MODULE = _Conv1d


class Conv2d(_ConvNd, _Conv2d):
    """A Conv2d with fake-quantized weights for quantization-aware training."""

    _FLOAT_MODULE = _Conv2d
    _FLOAT_CONV_MODULE = _Conv2d
