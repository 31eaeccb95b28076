"""Fused float modules (torch.ao.nn.intrinsic.modules.fused): Sequentials of the modules
fuse_modules joined, which prepare_qat swaps for their QAT forms and convert for int8 kernels.

Each checks the exact types of its parts (as torch does) and raises GraphcError otherwise.
"""
from __future__ import annotations

from .....errors import GraphcError
from .....nn import BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Linear, ReLU
from .....nn.module import Sequential

__all__ = ["ConvReLU1d", "ConvReLU2d", "LinearReLU", "ConvBn1d", "ConvBn2d", "ConvBnReLU1d",
           "ConvBnReLU2d", "BNReLU2d", "LinearBn1d"]


class _FusedModule(Sequential):
    """Base of the fused modules: a Sequential the quantization passes treat as one unit."""

    _PARTS: tuple = ()

    def __init__(self, *mods):
        if tuple(type(m) for m in mods) != self._PARTS:
            got = ", ".join(type(m).__name__ for m in mods)
            want = ", ".join(t.__name__ for t in self._PARTS)
            raise GraphcError(f"{type(self).__name__}: incorrect types for input modules: "
                              f"{got} (expected {want})")
        super().__init__(*mods)


def _fused(name: str, parts: tuple, doc: str) -> type:
    return type(name, (_FusedModule,), {"_PARTS": parts, "__doc__": doc,
                                        "__module__": __name__})


ConvReLU1d = _fused("ConvReLU1d", (Conv1d, ReLU), "Conv1d then ReLU, fused for quantization.")
ConvReLU2d = _fused("ConvReLU2d", (Conv2d, ReLU), "Conv2d then ReLU, fused for quantization.")
LinearReLU = _fused("LinearReLU", (Linear, ReLU), "Linear then ReLU, fused for quantization.")
ConvBn1d = _fused("ConvBn1d", (Conv1d, BatchNorm1d),
                  "Conv1d then BatchNorm1d, fused for quantization-aware training.")
ConvBn2d = _fused("ConvBn2d", (Conv2d, BatchNorm2d),
                  "Conv2d then BatchNorm2d, fused for quantization-aware training.")
ConvBnReLU1d = _fused("ConvBnReLU1d", (Conv1d, BatchNorm1d, ReLU),
                      "Conv1d, BatchNorm1d and ReLU, fused for quantization-aware training.")
ConvBnReLU2d = _fused("ConvBnReLU2d", (Conv2d, BatchNorm2d, ReLU),
                      "Conv2d, BatchNorm2d and ReLU, fused for quantization-aware training.")
BNReLU2d = _fused("BNReLU2d", (BatchNorm2d, ReLU), "BatchNorm2d then ReLU, fused for "
                  "quantization.")
LinearBn1d = _fused("LinearBn1d", (Linear, BatchNorm1d),
                    "Linear then BatchNorm1d, fused for quantization-aware training.")
