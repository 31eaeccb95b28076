"""graphc.ao.nn.quantized.dynamic: dynamically quantized int8 modules (torch.ao.nn.quantized.dynamic).

Linear, LSTM, GRU, LSTMCell, GRUCell and RNNCell: int8 weights quantized once, activations
quantized on every call (see modules/rnn.py for the recurrent layers' exact semantics).
"""
from . import modules  # noqa: F401
from .modules import GRU, LSTM, GRUCell, Linear, LSTMCell, RNNCell

__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "Linear", "RNNCell"]
