"""torch.nn.modules.activation's names, from graphc.nn (where graphc defines them)."""
from __future__ import annotations

from ..activation import (CELU, ELU, GELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,  # noqa: F401
                          LeakyReLU, LogSigmoid, Mish, MultiheadAttention, PReLU, ReLU, ReLU6,
                          SELU, SiLU, Softmin, Softplus, Softshrink, Softsign, Tanhshrink,
                          Threshold)
from ..layers import LogSoftmax, Sigmoid, Softmax, Tanh  # noqa: F401
