"""graphc.ao: torch.ao's layout (`ao.quantization`, `ao.nn`)."""
from . import nn, quantization  # noqa: F401

import warnings as _warnings  # noqa: E402

from .. import qdispatch as _qdispatch  # noqa: E402
from .nn.quantized import QFunctional as _QFunctional  # noqa: E402
from .nn.quantized import functional as _qf  # noqa: E402

for _name in ("relu", "flatten", "max_pool2d", "adaptive_avg_pool2d"):   # F.relu(q), ...
    _qdispatch.register(_name, getattr(_qf, _name))


def _quantized_cat(tensors, dim: int = 0):
    """torch.cat of quantized tensors, as torch's: each input requantized to the first one's
    scale and zero point (with torch's warning when they differ), then joined."""
    q0 = tensors[0]
    if any(getattr(t, "is_quantized", False) and (t.q_scale(), t.q_zero_point()) !=
           (q0.q_scale(), q0.q_zero_point()) for t in tensors[1:]):
        _warnings.warn("All inputs of this cat operator must share the same quantization "
                       "parameters. Otherwise large numerical inaccuracies may occur.",
                       UserWarning, stacklevel=3)
    f = _QFunctional()
    f.scale, f.zero_point = q0.q_scale(), q0.q_zero_point()
    return f.cat(tensors, dim)


_qdispatch.register("cat", _quantized_cat)
