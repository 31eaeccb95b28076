"""graphc.nn.utils.rnn: pad_sequence, pack_padded_sequence and friends, as torch.nn.utils.rnn."""
from __future__ import annotations

__all__: list[str] = []
