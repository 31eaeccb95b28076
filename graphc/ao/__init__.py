"""graphc.ao: torch.ao's layout (`ao.quantization`, `ao.nn`)."""
from . import nn, quantization  # noqa: F401

from .. import qdispatch as _qdispatch  # noqa: E402
from .nn.quantized import functional as _qf  # noqa: E402

for _name in ("relu", "flatten", "max_pool2d", "adaptive_avg_pool2d"):   # F.relu(q), ...
    _qdispatch.register(_name, getattr(_qf, _name))
