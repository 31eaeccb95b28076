"""QAT Conv+BN(+ReLU) and Conv+ReLU (torch.ao.nn.intrinsic.qat.modules.conv_fused).

ConvBn's forward is torch's `_forward_approximate`: the weight is scaled by
gamma / sqrt(running_var + eps), fake-quantized, convolved without bias, the result divided back
by the same factor, the conv bias added, and then the BatchNorm runs (batch statistics and a
running-statistics update in training; the running statistics once frozen). `freeze_bn_stats`
switches the BatchNorm to its running statistics and stops updating them.
"""
from __future__ import annotations

import math

from ...... import functions as G
from ......autograd import no_grad
from ......errors import GraphcError
from ......nn import BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ReLU, init
from ......nn import functional as F
from ......nn.convolution import _ConvNd
from ......nn.module import Module
from ......nn.parameter import Parameter
from ......nn.utils.fusion import fuse_conv_bn_weights
from ...modules import fused as nni
from ....qat.modules import conv as qat_conv
from ....qat.modules.linear import _check_from_float, _require_qconfig

__all__ = ["ConvBn1d", "ConvBnReLU1d", "ConvReLU1d", "ConvBn2d", "ConvBnReLU2d", "ConvReLU2d",
           "update_bn_stats", "freeze_bn_stats"]


def _set_training(m: Module, mode: bool) -> None:
    object.__setattr__(m, "training", mode)
    Module.epoch += 1   # compiled functions guard on module flags: a change retraces


class _ConvBnNd(_ConvNd, nni._FusedModule):
    """What ConvBn1d/2d and ConvBnReLU1d/2d share: a conv's parameters (weight, bias) with a
    BatchNorm child `bn` and the weight FakeQuantize `weight_fake_quant`."""

    _FLOAT_MODULE: type
    _FLOAT_CONV_MODULE: type
    _FLOAT_BN_MODULE: type
    _FLOAT_RELU_MODULE: type | None = None
    _FUSED_FLOAT_MODULE: type | None = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=None, padding_mode="zeros", eps=1e-05, momentum=0.1,
                 freeze_bn=False, qconfig=None):
        self._FLOAT_CONV_MODULE.__init__(self, in_channels, out_channels, kernel_size, stride,
                                         padding, dilation, groups, False, padding_mode)
        _require_qconfig(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.freeze_bn = freeze_bn if self.training else True
        self.bn = self._FLOAT_BN_MODULE(out_channels, eps, momentum, True, True)
        self.weight_fake_quant = self.qconfig.weight()
        if bias:
            self.bias = Parameter(G.zeros(out_channels).numpy())
        else:
            self.register_parameter("bias", None)
        self.reset_bn_parameters()
        if self.training and not freeze_bn:
            self.update_bn_stats()
        else:
            self.freeze_bn_stats()
        self._enable_slow_path_for_better_numerical_stability = False

    def reset_running_stats(self) -> None:
        """Reset the BatchNorm's running statistics."""
        self.bn.reset_running_stats()

    def reset_bn_parameters(self) -> None:
        """torch's: running statistics reset, gamma ~ U(0, 1), beta 0, conv bias
        U(+-1/sqrt(fan_in))."""
        self.bn.reset_running_stats()
        init.uniform_(self.bn.weight)
        init.zeros_(self.bn.bias)
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def update_bn_stats(self):
        """BatchNorm in training mode again: batch statistics, running ones updated."""
        self.freeze_bn = False
        _set_training(self.bn, True)
        return self

    def freeze_bn_stats(self):
        """BatchNorm uses (and keeps) its running statistics from now on."""
        self.freeze_bn = True
        _set_training(self.bn, False)
        return self

    def _bn(self, x):
        bn = self.bn
        if self.freeze_bn and bn.training:
            # graphc's Module.train() sets every descendant's flag without calling this class's
            # train(): a frozen BatchNorm stays in eval mode, as torch keeps it
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False,
                                0.0, bn.eps)
        return bn(x)

    def _forward(self, input):
        """torch's _forward_approximate (see the module docstring), or _forward_slow when
        `_enable_slow_path_for_better_numerical_stability` is set."""
        if self._enable_slow_path_for_better_numerical_stability:
            return self._forward_slow(input)
        bn = self.bn
        if bn.running_var is None:
            raise GraphcError(f"{type(self).__name__}: bn.running_var must not be None")
        running_std = G.sqrt(bn.running_var + bn.eps)
        scale_factor = bn.weight / running_std
        nd = len(self.weight.shape)
        weight_shape = [-1] + [1] * (nd - 1)
        bias_shape = [1, -1] + [1] * (nd - 2)
        scaled_weight = self.weight_fake_quant(self.weight * G.reshape(scale_factor,
                                                                       weight_shape))
        zero_bias = G.zeros(self.out_channels, dtype=input.dtype)
        conv = self._conv_forward(input, scaled_weight, zero_bias)
        conv_orig = conv / G.reshape(scale_factor, bias_shape)
        if self.bias is not None:
            conv_orig = conv_orig + G.reshape(self.bias, bias_shape)
        return self._bn(conv_orig)

    def _forward_slow(self, input):
        """torch's two-pass forward (handles bn.weight == 0): the batch statistics come from a
        float conv, the fake-quantized conv is rescaled from running to batch std."""
        bn = self.bn
        nd = len(self.weight.shape)
        weight_shape = [-1] + [1] * (nd - 1)
        bias_shape = [1, -1] + [1] * (nd - 2)
        zero_bias = G.zeros(self.out_channels, dtype=input.dtype)
        training = bn.training and not self.freeze_bn
        if training:
            conv_out = self._conv_forward(input, self.weight, zero_bias)
            with no_grad():
                self._bn(conv_out if self.bias is None else
                         conv_out + G.reshape(self.bias, bias_shape))
        running_std = G.sqrt(bn.running_var + bn.eps)
        scale_factor = bn.weight / running_std
        scaled_weight = self.weight_fake_quant(self.weight * G.reshape(scale_factor,
                                                                       weight_shape))
        conv_bn = self._conv_forward(input, scaled_weight, zero_bias)
        if training:
            avg_dims = [0] + list(range(2, nd))
            batch_mean = G.mean(conv_out, avg_dims)
            batch_var = G.mean(G.square(conv_out - G.reshape(batch_mean, bias_shape)), avg_dims)
            batch_std = G.sqrt(batch_var + bn.eps)
            conv_bn = conv_bn * G.reshape(running_std / batch_std, bias_shape)
            fused_mean, fused_std = batch_mean, batch_std
        else:
            fused_mean = bn.running_mean - (self.bias if self.bias is not None else 0)
            fused_std = running_std
        fused_bias = bn.bias - bn.weight * fused_mean / fused_std
        conv_bn = conv_bn + G.reshape(fused_bias, bias_shape)
        if self.bias is not None:   # torch's: keeps the conv bias in the graph (DDP)
            conv_bn = conv_bn + G.reshape(self.bias - self.bias, bias_shape)
        return conv_bn

    def forward(self, input):
        """The fused conv + BatchNorm (torch's approximate QAT forward)."""
        return self._forward(input)

    def train(self, mode: bool = True):
        """Set this module's mode; its children follow unless the BatchNorm is frozen."""
        _set_training(self, mode)
        if not self.freeze_bn:
            for m in self.children():
                m.train(mode)
        return self

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module from a fused nni.ConvBn / nni.ConvBnReLU with a qconfig, sharing the
        conv's and the BatchNorm's parameters and buffers."""
        _check_from_float(cls, mod, cls._FLOAT_MODULE)
        conv, bn = mod[0], mod[1]
        qat = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                  conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                  conv.padding_mode, bn.eps, bn.momentum, False, mod.qconfig)
        qat.weight = conv.weight
        qat.bias = conv.bias
        qat.bn.weight = bn.weight
        qat.bn.bias = bn.bias
        qat.bn.running_mean = bn.running_mean
        qat.bn.running_var = bn.running_var
        qat.bn.num_batches_tracked = bn.num_batches_tracked
        return qat

    def to_float(self):
        """The float conv with the BatchNorm's running statistics folded in (nni.ConvReLU for
        ConvBnReLU)."""
        cls = type(self)
        conv = cls._FLOAT_CONV_MODULE(self.in_channels, self.out_channels, self.kernel_size,
                                      self.stride, self.padding, self.dilation, self.groups,
                                      self.bias is not None, self.padding_mode)
        conv.weight = Parameter(self.weight.detach().numpy().copy())
        if self.bias is not None:
            conv.bias = Parameter(self.bias.detach().numpy().copy())
        bn = self.bn
        conv.weight, conv.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                                      bn.running_var, bn.eps, bn.weight,
                                                      bn.bias)
        if cls._FLOAT_RELU_MODULE is not None:
            fused = cls._FUSED_FLOAT_MODULE(conv, cls._FLOAT_RELU_MODULE())
            fused.train(self.training)
            return fused
        conv.train(self.training)
        return conv


class ConvBn1d(_ConvBnNd, Conv1d):
    """Conv1d + BatchNorm1d for quantization-aware training (fake-quantized folded weight)."""

    _FLOAT_MODULE = nni.ConvBn1d
    _FLOAT_CONV_MODULE = Conv1d
    _FLOAT_BN_MODULE = BatchNorm1d


class ConvBnReLU1d(ConvBn1d):
    """Conv1d + BatchNorm1d + ReLU for quantization-aware training."""

    _FLOAT_MODULE = nni.ConvBnReLU1d
    _FLOAT_RELU_MODULE = ReLU
    _FUSED_FLOAT_MODULE = nni.ConvReLU1d

    def forward(self, input):
        """relu(ConvBn1d's forward)."""
        return F.relu(self._forward(input))


class ConvBn2d(_ConvBnNd, Conv2d):
    """Conv2d + BatchNorm2d for quantization-aware training (fake-quantized folded weight)."""

    _FLOAT_MODULE = nni.ConvBn2d
    _FLOAT_CONV_MODULE = Conv2d
    _FLOAT_BN_MODULE = BatchNorm2d


class ConvBnReLU2d(ConvBn2d):
    """Conv2d + BatchNorm2d + ReLU for quantization-aware training."""

    _FLOAT_MODULE = nni.ConvBnReLU2d
    _FLOAT_RELU_MODULE = ReLU
    _FUSED_FLOAT_MODULE = nni.ConvReLU2d

    def forward(self, input):
        """relu(ConvBn2d's forward)."""
        return F.relu(self._forward(input))


class ConvReLU1d(qat_conv.Conv1d, nni._FusedModule):
    """qat.Conv1d followed by ReLU (from a fused nni.ConvReLU1d)."""

    _FLOAT_MODULE = nni.ConvReLU1d
    _FLOAT_CONV_MODULE = Conv1d
    _FLOAT_RELU_MODULE = ReLU

    def forward(self, input):
        """relu(conv(input, weight_fake_quant(weight)))."""
        return F.relu(self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias))


class ConvReLU2d(qat_conv.Conv2d, nni._FusedModule):
    """qat.Conv2d followed by ReLU (from a fused nni.ConvReLU2d)."""

    _FLOAT_MODULE = nni.ConvReLU2d
    _FLOAT_CONV_MODULE = Conv2d
    _FLOAT_RELU_MODULE = ReLU

    def forward(self, input):
        """relu(conv(input, weight_fake_quant(weight)))."""
        return F.relu(self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias))


_CONV_BN_CLASSES = (ConvBn1d, ConvBnReLU1d, ConvBn2d, ConvBnReLU2d)


def update_bn_stats(mod) -> None:
    """For model.apply: a QAT ConvBn module's BatchNorm goes back to batch statistics."""
    if type(mod) in _CONV_BN_CLASSES:
        mod.update_bn_stats()


def freeze_bn_stats(mod) -> None:
    """For model.apply: a QAT ConvBn module's BatchNorm uses its running statistics from now
    on (and stops updating them)."""
    if type(mod) in _CONV_BN_CLASSES:
        mod.freeze_bn_stats()
