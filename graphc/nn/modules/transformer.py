"""torch.nn.modules.transformer's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,  # noqa: F401
                           TransformerEncoder, TransformerEncoderLayer)
