"""QuantStub, DeQuantStub and QuantWrapper, as torch.ao.quantization.stubs.

Before convert both stubs are identities (prepare attaches an observer to QuantStub's output);
convert swaps them for nnq.Quantize / nnq.DeQuantize.
"""
from __future__ import annotations

from ...nn.module import Module

__all__ = ["QuantStub", "DeQuantStub", "QuantWrapper"]


class QuantStub(Module):
    """Marks where a float tensor becomes quantized: an observer before convert, nnq.Quantize
    after (`qconfig`, if given, overrides the one propagated from the parents)."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        """The input unchanged."""
        return x


class DeQuantStub(Module):
    """Marks where a quantized tensor becomes float again: identity before convert,
    nnq.DeQuantize after."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig:
            self.qconfig = qconfig

    def forward(self, x):
        """The input unchanged."""
        return x


class QuantWrapper(Module):
    """`module` between a QuantStub and a DeQuantStub (children quant, dequant, module, in
    torch's order), taking the module's qconfig and train/eval mode."""

    def __init__(self, module: Module):
        super().__init__()
        qconfig = getattr(module, "qconfig", None)
        self.add_module("quant", QuantStub(qconfig))
        self.add_module("dequant", DeQuantStub(qconfig))
        self.add_module("module", module)
        self.train(module.training)

    def forward(self, X):
        """dequant(module(quant(X)))."""
        X = self.quant(X)
        X = self.module(X)
        return self.dequant(X)
