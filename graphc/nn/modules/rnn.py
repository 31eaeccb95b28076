"""torch.nn.modules.rnn's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase  # noqa: F401
