"""torch.ao.nn.quantized.dynamic.modules: the dynamic int8 Linear and recurrent layers."""
from .linear import Linear  # noqa: F401
from .rnn import GRU, LSTM, GRUCell, LSTMCell, RNNCell  # noqa: F401

__all__ = ["Linear", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell"]
