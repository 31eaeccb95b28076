"""torch.ao.nn.quantized.dynamic.modules: the dynamic int8 Linear and recurrent layers."""
from .linear import Linear
from .rnn import GRU, LSTM, GRUCell, LSTMCell, RNNCell

__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "Linear", "RNNCell"]
