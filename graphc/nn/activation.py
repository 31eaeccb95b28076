"""Activation modules with torch.nn's names, constructor arguments and reprs (torch's module
torch.nn.modules.activation); each forwards to graphc.nn.functional."""
from __future__ import annotations

from .. import dtypes
from .. import functions as G
from ..tensor import check
from . import functional as F
from . import init as _init
from . import layers as _layers
from .attention import multi_head_attention_forward
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


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False): the same
    parameters (in_proj_weight (3E, E), or q/k/v_proj_weight when kdim/vdim differ;
    in_proj_bias; out_proj), initialisation (xavier_uniform_ projections, zero biases,
    xavier_normal_ bias_k/bias_v) and forward. torch's inference fast path is a different
    kernel for the same numbers; graphc has one path."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        check(embed_dim > 0 and num_heads > 0,
              f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
              f"num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        check(self.head_dim * num_heads == embed_dim, "embed_dim must be divisible by num_heads")
        kw = dict(dtype=dtype)

        def empty(*shape):
            return Parameter(G.zeros(shape, **kw))
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = _layers.NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            _init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                _init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            _init.constant_(self.in_proj_bias, 0.0)
            _init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            _init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            _init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """(attn_output, attn_weights): as torch's (weights None when need_weights=False)."""
        query, key, value = (G._t(t) for t in (query, key, value))
        batched = query.ndim == 3
        if self.batch_first and batched:
            if key is value:
                if query is key:
                    query = key = value = G.transpose(query, 1, 0)
                else:
                    query, key = (G.transpose(t, 1, 0) for t in (query, key))
                    value = key
            else:
                query, key, value = (G.transpose(t, 1, 0) for t in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal)
        if self.batch_first and batched:
            out = G.transpose(out, 1, 0)
        return out, weights

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """torch's MultiheadAttention.merge_masks: (a (N, heads, L, S) float mask, its type)."""
        mask_type, merged = None, None
        if key_padding_mask is not None:
            mask_type, merged = 1, key_padding_mask
        if attn_mask is not None:
            bsz, seq_len, _ = query.shape
            mask_type = 2
            m = G._t(attn_mask)
            m = G.expand(G.reshape(m, (1, 1, seq_len, seq_len)) if m.ndim == 2 else
                         G.reshape(m, (bsz, -1, seq_len, seq_len)),
                         (bsz, self.num_heads, seq_len, seq_len))
            merged = m
            if key_padding_mask is not None:
                kpm = G.expand(G.reshape(G._t(key_padding_mask), (bsz, 1, 1, seq_len)),
                               (bsz, self.num_heads, seq_len, seq_len))
                merged = m + kpm
        return merged, mask_type
