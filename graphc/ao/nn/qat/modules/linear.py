"""qat.Linear (torch.ao.nn.qat.modules.linear): a Linear whose weight goes through
`weight_fake_quant` (the qconfig's weight FakeQuantize) on every forward."""
from __future__ import annotations

from .....errors import GraphcError
from .....nn import Linear as _Linear
from .....nn import functional as F
from .....nn.parameter import Parameter
from ...intrinsic.modules.fused import LinearReLU

__all__ = ["Linear"]


def _check_from_float(cls, mod, float_cls) -> None:
    """torch's from_float checks: the exact float class and a qconfig (GraphcError otherwise)."""
    if type(mod) is not float_cls:
        raise GraphcError(f"qat.{cls.__name__}.from_float only works for {float_cls.__name__}, "
                          f"got {type(mod).__name__}")
    if not getattr(mod, "qconfig", None):
        raise GraphcError(f"qat.{cls.__name__}.from_float: the float module "
                          f"{type(mod).__name__} needs a valid `qconfig` attribute (set "
                          "model.qconfig, or run propagate_qconfig_/prepare_qat)")


def _require_qconfig(cls_name: str, qconfig) -> None:
    if not qconfig:
        raise GraphcError(f"{cls_name}: qconfig must be provided for QAT module")


class Linear(_Linear):
    """A Linear with fake-quantized weights for quantization-aware training:
    F.linear(x, weight_fake_quant(weight), bias)."""

    _FLOAT_MODULE = _Linear

    def __init__(self, in_features, out_features, bias=True, qconfig=None, device=None,
                 dtype=None):
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        _require_qconfig(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input):
        """F.linear(input, weight_fake_quant(weight), bias)."""
        return F.linear(input, self.weight_fake_quant(self.weight), self.bias)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module sharing `mod`'s weight and bias Parameters (`mod` is a Linear, or
        an nni.LinearReLU whose Linear is taken, with a qconfig)."""
        _check_from_float(cls, mod, cls._FLOAT_MODULE)
        if type(mod) is LinearReLU:
            mod = mod[0]
        qat = cls(mod.in_features, mod.out_features, bias=mod.bias is not None,
                  qconfig=mod.qconfig)
        qat.weight = mod.weight
        qat.bias = mod.bias
        return qat

    def to_float(self):
        """A plain Linear with copies of the (unquantized) weight and bias."""
        linear = _Linear(self.in_features, self.out_features, self.bias is not None)
        linear.weight = Parameter(self.weight.detach().numpy().copy())
        if self.bias is not None:
            linear.bias = Parameter(self.bias.detach().numpy().copy())
        linear.train(self.training)
        return linear
