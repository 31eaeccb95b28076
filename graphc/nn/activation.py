"""Activation modules with torch.nn's names, constructor arguments and reprs (torch's module
torch.nn.modules.activation); each forwards to graphc.nn.functional."""
from __future__ import annotations

from .. import dtypes
from .. import functions as G
from . import functional as F
from . import layers as _layers
from .module import Module
from .parameter import Parameter


def _inplace_str(m, lead: str = ", ") -> str:
    return f"{lead}inplace=True" if m.inplace else ""


class _Inplace(Module):
    """An activation whose only argument is `inplace`."""

    _fn = None

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        """The activation of input elementwise (written into input when self.inplace)."""
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        """'inplace=True' when in place, else nothing."""
        return _inplace_str(self, "")


class _Plain(Module):
    """An activation without arguments."""

    _fn = None

    def forward(self, input):
        """The activation of input elementwise."""
        return type(self)._fn(input)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        """leaky_relu(input, self.negative_slope)."""
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        """negative_slope (and inplace)."""
        return f"negative_slope={self.negative_slope}{_inplace_str(self)}"


class ELU(Module):
    """x if x > 0 else alpha * (e^x - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        """elu(input, self.alpha)."""
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        """alpha (and inplace)."""
        return f"alpha={self.alpha}{_inplace_str(self)}"


class CELU(ELU):
    """x if x > 0 else alpha * (e^(x/alpha) - 1)."""

    def forward(self, input):
        """celu(input, self.alpha)."""
        return F.celu(input, self.alpha, self.inplace)


class SELU(_Inplace):
    """scale * elu(x, alpha) with the self-normalising constants."""
    _fn = staticmethod(F.selu)


class SiLU(_Inplace):
    """x * sigmoid(x)."""
    _fn = staticmethod(F.silu)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""
    _fn = staticmethod(F.mish)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""
    _fn = staticmethod(F.hardsigmoid)

    def extra_repr(self) -> str:
        """Nothing (as torch)."""
        return ""


class Hardswish(Hardsigmoid):
    """x * relu6(x + 3) / 6."""
    _fn = staticmethod(F.hardswish)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta; x itself where beta * x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        """softplus(input, self.beta, self.threshold)."""
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        """beta and threshold."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(_Plain):
    """x / (1 + |x|)."""
    _fn = staticmethod(F.softsign)


class LogSigmoid(_Plain):
    """log(sigmoid(x)), computed stably."""
    _fn = staticmethod(F.logsigmoid)


class Tanhshrink(_Plain):
    """x - tanh(x)."""
    _fn = staticmethod(F.tanhshrink)


class Hardtanh(Module):
    """x clamped into [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value=None, max_value=None):
        super().__init__()
        if min_value is not None:
            min_val = min_value
        if max_value is not None:
            max_val = max_value
        if max_val <= min_val:
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        """hardtanh(input, self.min_val, self.max_val)."""
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        """min_val, max_val (and inplace)."""
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_str(self)}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        """'inplace=True' when in place, else nothing."""
        return _inplace_str(self, "")


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along `dim`."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        """glu(input, self.dim)."""
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        """dim."""
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along `dim` (None: torch's implicit choice)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        """softmin(input, self.dim)."""
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        """dim."""
        return f"dim={self.dim}"


class PReLU(Module):
    """x if x > 0 else a * x with a learnable `a` (one, or one per channel), initialised to init."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        self.weight = Parameter(G.full((num_parameters,), float(init), dtype=dt).numpy().copy())

    def reset_parameters(self) -> None:
        """Refill the weight with init."""
        from ..grad_mode import no_grad
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, input):
        """prelu(input, self.weight)."""
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        """num_parameters."""
        return f"num_parameters={self.num_parameters}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        """hardshrink(input, self.lambd)."""
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        """lambd."""
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""

    def forward(self, input):
        """softshrink(input, self.lambd)."""
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        """lambd."""
        return str(self.lambd)


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        """threshold(input, self.threshold, self.value)."""
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        """threshold, value (and inplace)."""
        return f"threshold={self.threshold}, value={self.value}{_inplace_str(self)}"


class ReLU(_layers.ReLU):
    """max(x, 0) elementwise (`inplace=True` writes into the input), as torch.nn.ReLU."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        """relu(input) (in place when self.inplace)."""
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        """'inplace=True' when in place, else nothing."""
        return _inplace_str(self, "")


class GELU(_layers.GELU):
    """Gaussian error linear unit (`approximate="none"` or `"tanh"`), with torch's repr."""

    def extra_repr(self) -> str:
        """approximate."""
        return f"approximate={self.approximate!r}"
