"""QAT LinearBn1d (torch.ao.nn.intrinsic.qat.modules.linear_fused): the Linear's weight scaled by
gamma / sqrt(running_var + eps), fake-quantized, applied without bias, divided back, the bias
added, then BatchNorm1d (as torch's forward)."""
from __future__ import annotations

from ...... import functions as G
from ......errors import GraphcError
from ......nn import BatchNorm1d, Linear, init
from ......nn import functional as F
from ......nn.utils.fusion import fuse_linear_bn_weights
from ...modules import fused as nni
from ....qat.modules.linear import _check_from_float, _require_qconfig
from .conv_fused import _set_training

__all__ = ["LinearBn1d"]


class LinearBn1d(Linear, nni._FusedModule):
    """Linear + BatchNorm1d for quantization-aware training."""

    _FLOAT_MODULE = nni.LinearBn1d

    def __init__(self, in_features, out_features, bias=True, eps=1e-05, momentum=0.1,
                 freeze_bn=False, qconfig=None):
        Linear.__init__(self, in_features, out_features, bias)
        _require_qconfig(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.freeze_bn = freeze_bn if self.training else True
        self.bn = BatchNorm1d(out_features, eps, momentum, True, True)
        self.weight_fake_quant = self.qconfig.weight()
        self.reset_bn_parameters()
        if self.training and not freeze_bn:
            self.update_bn_stats()
        else:
            self.freeze_bn_stats()

    def reset_running_stats(self) -> None:
        """Reset the BatchNorm's running statistics."""
        self.bn.reset_running_stats()

    def reset_bn_parameters(self) -> None:
        """Running statistics reset, gamma ~ U(0, 1), beta 0 (torch's)."""
        self.bn.reset_running_stats()
        init.uniform_(self.bn.weight)
        init.zeros_(self.bn.bias)

    def update_bn_stats(self):
        """BatchNorm in training mode again."""
        self.freeze_bn = False
        _set_training(self.bn, True)
        return self

    def freeze_bn_stats(self):
        """BatchNorm uses (and keeps) its running statistics from now on."""
        self.freeze_bn = True
        _set_training(self.bn, False)
        return self

    def forward(self, input):
        """torch's LinearBn1d forward (see the module docstring)."""
        bn = self.bn
        if bn.running_var is None:
            raise GraphcError("LinearBn1d: bn.running_var must not be None")
        running_std = G.sqrt(bn.running_var + bn.eps)
        scale_factor = bn.weight / running_std
        scaled_weight = self.weight_fake_quant(self.weight * G.reshape(scale_factor, (-1, 1)))
        out = F.linear(input, scaled_weight, G.zeros(self.out_features, dtype=input.dtype))
        out = out / G.reshape(scale_factor, (1, -1))
        if self.bias is not None:
            out = out + G.reshape(self.bias, (1, -1))
        if self.freeze_bn and bn.training:
            return F.batch_norm(out, bn.running_mean, bn.running_var, bn.weight, bn.bias, False,
                                0.0, bn.eps)
        return bn(out)

    def train(self, mode: bool = True):
        """Set this module's mode; its children follow unless the BatchNorm is frozen."""
        _set_training(self, mode)
        if not self.freeze_bn:
            for m in self.children():
                m.train(mode)
        return self

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module from an nni.LinearBn1d with a qconfig, sharing its parameters."""
        _check_from_float(cls, mod, nni.LinearBn1d)
        linear, bn = mod[0], mod[1]
        qat = cls(linear.in_features, linear.out_features, linear.bias is not None, bn.eps,
                  bn.momentum, False, mod.qconfig)
        qat.weight = linear.weight
        qat.bias = linear.bias
        qat.bn.weight = bn.weight
        qat.bn.bias = bn.bias
        qat.bn.running_mean = bn.running_mean
        qat.bn.running_var = bn.running_var
        qat.bn.num_batches_tracked = bn.num_batches_tracked
        return qat

    def to_float(self):
        """A Linear with the BatchNorm's running statistics folded in."""
        linear = Linear(self.in_features, self.out_features)
        bn = self.bn
        linear.weight, linear.bias = fuse_linear_bn_weights(
            self.weight, self.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        return linear
