"""graphc.ao.quantization: torch.ao.quantization's API.

    qnet = graphc.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)

`graphc.quantization` is the same package under torch's older spelling (`torch.quantization`).
"""
from .dynamic import (LayerReport, QuantizedLinear, layer_report,  # noqa: F401
                      quantize_dynamic)

__all__ = ["LayerReport", "QuantizedLinear", "layer_report", "quantize_dynamic"]
