"""nnq.Conv2d (torch.ao.nn.quantized.Conv2d): a static int8 2-D convolution, quint8 in and out.

Computed as torch's fbgemm path computes it: im2col rows of the input padded with its zero point
(`qim2col`), then per group the requantizing int8 GEMM `qgemm` against the weight rows (see
graphc/ir/ops/qstatic.py); the sums are exact integers, so the result is torch's bit for bit.
Only padding_mode='zeros' (torch's quantized conv pads with the zero point, i.e. real 0).

state_dict: `weight` (int8 values, [out, in/groups, kh, kw]), `weight_scale`,
`weight_zero_point`, `bias` (see nnq.Linear).
"""
from __future__ import annotations

import numpy as np

from ..... import functions as G
from .....errors import GraphcError, NotSupportedError
from .....nn.utils.fusion import fuse_conv_bn_weights
from .....tensor import apply
from .linear import WeightedQuantized
from .utils import check_quint8, float_module_qparams, quantize_weight


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, str):
        raise NotSupportedError(f"nnq.Conv2d: {what}={v!r} is not supported; give ints")
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or not all(isinstance(i, (int, np.integer)) for i in t):
        raise GraphcError(f"nnq.Conv2d: {what} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


class Conv2d(WeightedQuantized):
    """A static int8 Conv2d (torch.ao.nn.quantized.Conv2d): quint8 NCHW input and output."""

    _FLOAT_MODULE_NAMES = ("Conv2d", "ConvReLU2d")
    _QAT_BN_NAMES = ("ConvBn2d", "ConvBnReLU2d")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            raise NotSupportedError(f"nnq.Conv2d: padding_mode={padding_mode!r}; graphc's "
                                    "quantized conv supports 'zeros' only")
        if in_channels % groups or out_channels % groups:
            raise GraphcError(f"nnq.Conv2d: in_channels {in_channels} and out_channels "
                              f"{out_channels} must be divisible by groups {groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.output_padding, self.transposed, self.padding_mode = (0, 0), False, padding_mode
        self._init_weight((out_channels, in_channels // groups) + self.kernel_size, bias)

    def _get_name(self) -> str:
        return "QuantizedConv2d"

    def forward(self, x):
        """x (quint8 [N, C, H, W] or [C, H, W]) -> quint8 [N, out, Ho, Wo] at (scale, zero_point)."""
        x = check_quint8(x, self._get_name())
        unbatched = x.ndim == 3
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise GraphcError(f"{self._get_name()}: input of shape {list(x.shape)} must be "
                              f"[N, {self.in_channels}, H, W]")
        self._check_out_qparams()
        q = G.unsqueeze(x._q, 0) if unbatched else x._q
        zp = x.q_zero_point()
        kh, kw = self.kernel_size
        n, c = q.shape[0], q.shape[1]
        rows = apply("qim2col", q, kernel=self.kernel_size, stride=self.stride,
                     padding=self.padding, dilation=self.dilation, pad_value=int(zp))
        L = rows.shape[0] // n                                             # [N*L, C*kh*kw]
        g, oc = self.groups, self.out_channels
        ckg, ocg = (c // g) * kh * kw, oc // g
        w2 = G.reshape(self._w(), (oc, ckg))
        outs = []   # per group [N, OC/g, L]: qgemm stores its rows as NCHW (rows_per_image)
        for i in range(g):
            a = rows if g == 1 else rows[:, i * ckg:(i + 1) * ckg]
            wi = w2 if g == 1 else w2[i * ocg:(i + 1) * ocg]
            outs.append(self._gemm(a, x.q_scale(), zp, wi, slice(i * ocg, (i + 1) * ocg), L))
        y = outs[0] if g == 1 else apply("concat", *outs, axis=1)           # [N, OC, L]
        ho = (q.shape[2] + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) \
            // self.stride[0] + 1
        wo = (q.shape[3] + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) \
            // self.stride[1] + 1
        y = G.reshape(y, (n, oc, ho, wo))
        return self._out(y[0] if unbatched else y)

    def extra_repr(self) -> str:
        """As torch's _ConvNd.extra_repr."""
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, scale={self.scale}, zero_point={self.zero_point}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self._has_bias:
            s += ", bias=False"
        return s

    def __repr__(self) -> str:
        return f"{self._get_name()}({self.extra_repr()})"

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False):
        """The int8 conv of a prepared (calibrated) or QAT-trained Conv2d / ConvReLU2d /
        ConvBn2d / ConvBnReLU2d, as torch's (a QAT ConvBn's BatchNorm is folded into the
        weight and bias first, with fuse_conv_bn_weights)."""
        if hasattr(mod, "weight_fake_quant"):
            if type(mod).__name__ in cls._QAT_BN_NAMES:
                mod.weight, mod.bias = fuse_conv_bn_weights(
                    mod.weight, mod.bias, mod.bn.running_mean, mod.bn.running_var, mod.bn.eps,
                    mod.bn.weight, mod.bn.bias)
            wpp, inner = mod.weight_fake_quant, mod
        else:
            if type(mod).__name__ not in cls._FLOAT_MODULE_NAMES:
                raise GraphcError(f"nnq.{cls.__name__}.from_float only works for "
                                  f"{', '.join(cls._FLOAT_MODULE_NAMES)}, got {type(mod).__name__}")
            if getattr(mod, "qconfig", None) is None:
                raise GraphcError("Input float module must have qconfig defined.")
            inner = mod[0] if type(mod).__name__ == "ConvReLU2d" else mod
            wpp = mod.qconfig.weight()
        scale, zp = float_module_qparams(mod)
        wpp(inner.weight)
        qw = quantize_weight(inner.weight, wpp)
        q = cls(inner.in_channels, inner.out_channels, inner.kernel_size, inner.stride,
                inner.padding, inner.dilation, inner.groups, inner.bias is not None,
                getattr(inner, "padding_mode", "zeros"))
        q.set_weight_bias(qw, inner.bias)
        q.scale, q.zero_point = scale, zp
        return q


