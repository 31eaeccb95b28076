"""graphc.ao.nn.qat: modules with fake-quantized weights for quantization-aware training, as
torch.ao.nn.qat (`dynamic` holds the dynamic-quantization QAT Linear)."""
from .modules import *  # noqa: F401,F403
from .modules import __all__  # noqa: F401
from . import dynamic, modules  # noqa: F401
