"""graphc.nn: Module, Parameter, layers and losses with PyTorch's names."""
from . import functional  # noqa: F401
from .layers import (GELU, Dropout, Flatten, Identity, Linear, LogSoftmax, ReLU,  # noqa: F401
                     Sigmoid, Softmax, Tanh)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .module import Module, ModuleDict, ModuleList, Sequential  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
