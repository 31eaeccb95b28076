"""torch.ao.nn.quantized.functional: functions on quantized tensors (the integers are computed
exactly; the results keep the input's scale and zero point where torch's do).

max_pool2d works on the integers (max commutes with the increasing dequantization): graphc's
max pooling runs on the quint8 values themselves (a window starts at the type's least value).
"""
from __future__ import annotations

import numpy as np

from .... import functions as G
from ....errors import GraphcError
from ....quantized_tensor import QTensor

__all__ = ["adaptive_avg_pool2d", "flatten", "max_pool2d", "relu"]


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
    return x._like(F.max_pool2d(x._q, kernel_size, stride, padding, dilation, ceil_mode))


def adaptive_avg_pool2d(input, output_size) -> QTensor:
    """Adaptive average pooling of a quantized tensor (same scale and zero point), as torch's
    quantized kernel: per window rne(fl(float(sum of q) * fl(1 / count))), clamped to the
    integer range. The sums are exact (integers below 2^24)."""
    from .... import dtypes
    from ....shape_ops import stack
    from ....tensor import apply
    x = _q(input, "quantized adaptive_avg_pool2d")
    if x.ndim not in (3, 4):
        raise GraphcError(f"quantized adaptive_avg_pool2d: input of shape {list(x.shape)} must "
                          "be [N, C, H, W] or [C, H, W]")
    h, w = x.shape[-2:]
    o = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    oh, ow = (h if o[0] is None else int(o[0])), (w if o[1] is None else int(o[1]))
    if h * w * 255 >= 1 << 24:
        raise GraphcError(f"quantized adaptive_avg_pool2d: a {h}x{w} window sum is not exact in "
                          "float32; graphc supports planes of under 65793 elements")
    qf = G.cast(x._q, "f32")
    rows = []
    for i in range(oh):
        h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        cols = []
        for j in range(ow):
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            s = qf[..., h0:h1, w0:w1].sum((-2, -1))
            inv = float(np.float32(1) / np.float32((h1 - h0) * (w1 - w0)))
            cols.append(s * inv)
        rows.append(stack(cols, -1))
    v = stack(rows, -2)
    qd = {"quint8": dtypes.uint8, "qint8": dtypes.int8, "qint32": dtypes.int32}[x.dtype.name]
    return x._like(apply("quantize", v, scale=1.0, zero_point=0, dtype=qd))


def relu(input) -> QTensor:
    """max(q, zero_point) (torch.relu of a quantized tensor)."""
    return _q(input, "quantized relu").relu()


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> QTensor:
    """torch.flatten of a quantized tensor."""
    return _q(input, "quantized flatten").flatten(start_dim, end_dim)
