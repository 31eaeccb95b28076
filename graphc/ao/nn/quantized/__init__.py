"""graphc.ao.nn.quantized: static int8 modules (torch.ao.nn.quantized); `dynamic` holds the
dynamic ones, `functional` the quantized functions (max_pool2d, ...)."""
from . import dynamic, functional, modules  # noqa: F401
from .modules import Conv2d, DeQuantize, FloatFunctional, Linear, QFunctional, Quantize, ReLU6

__all__ = ["Conv2d", "DeQuantize", "FloatFunctional", "Linear", "QFunctional", "Quantize",
           "ReLU6", "dynamic", "functional"]
