"""qat.dynamic.Linear (torch.ao.nn.qat.dynamic.modules.linear): QAT for dynamic quantization,
whose activation observer must be memoryless (a moving average with averaging_constant 1)."""
from __future__ import annotations

from ......errors import GraphcError
from ...modules.linear import Linear as _QATLinear

__all__ = ["Linear"]


def _activation_is_memoryless(qconfig) -> bool:
    """torch.ao.quantization.qconfig._activation_is_memoryless: the activation observer (the one
    inside a FakeQuantize) has averaging_constant == 1."""
    act = qconfig.activation()
    obs = getattr(act, "activation_post_process", act)
    return getattr(obs, "averaging_constant", None) == 1


class Linear(_QATLinear):
    """A qat.Linear for dynamic quantization-aware training (convert gives nnqd.Linear)."""

    def __init__(self, in_features, out_features, bias=True, qconfig=None, device=None,
                 dtype=None):
        super().__init__(in_features, out_features, bias, qconfig, device, dtype)
        if not _activation_is_memoryless(qconfig):
            raise GraphcError("qat.dynamic.Linear: dynamic QAT requires a memoryless observer. "
                              "This means a MovingAverage observer with averaging constant "
                              "equal to 1 (default_dynamic_qat_qconfig)")
