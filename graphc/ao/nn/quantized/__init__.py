"""graphc.ao.nn.quantized: static int8 modules (torch.ao.nn.quantized); `dynamic` holds the
dynamic ones, `functional` the quantized functions (max_pool2d, ...)."""
from . import dynamic  # noqa: F401
from .modules import (Conv2d, DeQuantize, FloatFunctional, Linear, QFunctional,  # noqa: F401
                      Quantize, ReLU6)
from . import functional, modules  # noqa: F401,E402

__all__ = ["Conv2d", "DeQuantize", "FloatFunctional", "Linear", "QFunctional", "Quantize",
           "ReLU6", "dynamic", "functional"]
