"""torch.ao.nn.qat.dynamic.modules: the dynamic QAT Linear."""
from .linear import Linear  # noqa: F401

__all__ = ["Linear"]
