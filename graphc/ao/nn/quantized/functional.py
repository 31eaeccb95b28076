"""torch.ao.nn.quantized.functional: functions on quantized tensors (the integers are computed
exactly; the results keep the input's scale and zero point where torch's do).

max_pool2d works on the integers (max commutes with the increasing dequantization): the values
are widened to float32 (exact), pooled by graphc's max pooling and narrowed back.
"""
from __future__ import annotations

from .... import functions as G
from ....errors import GraphcError
from ....quantized_tensor import QTensor

__all__ = ["flatten", "max_pool2d", "relu"]


def _q(x, who: str) -> QTensor:
    if not isinstance(x, QTensor) or x.per_channel():
        raise GraphcError(f"{who} takes a per-tensor quantized tensor, got "
                          f"{getattr(x, 'dtype', type(x).__name__)!r}")
    return x


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> QTensor:
    """2-D max pooling of a quantized tensor (same scale and zero point), as torch's."""
    from ....nn import functional as F
    x = _q(input, "quantized max_pool2d")
    if return_indices:
        raise GraphcError("quantized max_pool2d: return_indices=True is not supported (as torch)")
    f = F.max_pool2d(G.cast(x._q, "f32"), kernel_size, stride, padding, dilation, ceil_mode)
    return x._like(G.cast(f, x._q.dtype))


def relu(input) -> QTensor:
    """max(q, zero_point) (torch.relu of a quantized tensor)."""
    return _q(input, "quantized relu").relu()


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> QTensor:
    """torch.flatten of a quantized tensor."""
    return _q(input, "quantized flatten").flatten(start_dim, end_dim)
