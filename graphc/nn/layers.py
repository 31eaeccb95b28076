"""Layers: Linear and activation modules, Flatten, Dropout, Identity."""
from __future__ import annotations

import math
import numbers

from .. import dtypes, random
from ..device import check_device
from ..errors import GraphcError
from . import functional as F
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x W^T + b; W has shape (out_features, in_features) and PyTorch's default initialisation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        check_device(device)
        dtype = dtypes.float32 if dtype is None else dtype
        if not all(isinstance(n, numbers.Integral) and n >= 0 for n in (in_features, out_features)):
            raise GraphcError(f"Linear({in_features!r}, {out_features!r}): sizes must be "
                              "non-negative integers")
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as does the bias
        np_dt = dtypes.as_dtype(dtype).np
        self.weight = Parameter(random.uniform((out_features, in_features), -bound, bound, np_dt))
        if bias:
            self.bias = Parameter(random.uniform((out_features,), -bound, bound, np_dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        """x @ weight^T + bias."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """in_features, out_features and whether there is a bias, for the module's repr."""
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear that quantize_dynamic leaves in float (MultiheadAttention's out_proj, whose weight
    the attention reads directly), as torch.nn.modules.linear.NonDynamicallyQuantizableLinear."""


def _activation(name: str, fn, doc: str):
    cls = type(name, (Module,), {"forward": lambda self, x: fn(x), "__doc__": doc})
    return cls


ReLU = _activation("ReLU", F.relu, "max(x, 0) elementwise.")
Sigmoid = _activation("Sigmoid", F.sigmoid, "1 / (1 + exp(-x)) elementwise.")
Tanh = _activation("Tanh", F.tanh, "tanh(x) elementwise.")
Identity = _activation("Identity", lambda x: x, "Returns its input.")


class GELU(Module):
    """Gaussian error linear unit (`approximate="none"` or `"tanh"`)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        """GELU of x elementwise, exact or tanh-approximated as self.approximate says."""
        return F.gelu(x, approximate=self.approximate)


class Softmax(Module):
    """Softmax over dimension `dim` (default: the last), as torch.nn.Softmax."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        """exp(x) / sum(exp(x)) along self.dim."""
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    """Log-softmax over dimension `dim` (default: the last), as torch.nn.LogSoftmax."""

    def forward(self, x):
        """log(softmax(x)) along self.dim, computed stably."""
        return F.log_softmax(x, self.dim)


class Flatten(Module):
    """Flatten dims start_dim..end_dim (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        """x with dims self.start_dim..self.end_dim merged into one."""
        from ..functions import flatten
        return flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Train mode: zero each element with probability p, scale the rest by 1/(1-p); eval: identity."""

    _fn = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        F._check_p(p, type(self).__name__)
        self.p, self.inplace = p, inplace

    def forward(self, x):
        """x with dropout applied in train mode (a fresh mask per call), x itself in eval mode."""
        return type(self)._fn(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        """`p=0.5, inplace=False`, as torch prints it."""
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) / (C, L) input with probability p in train mode."""

    _fn = staticmethod(F.dropout1d)


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) / (C, H, W) input with probability p in train mode."""

    _fn = staticmethod(F.dropout2d)


class AlphaDropout(Dropout):
    """Dropout for SELU networks: keeps mean and variance (torch.nn.AlphaDropout)."""

    _fn = staticmethod(F.alpha_dropout)
