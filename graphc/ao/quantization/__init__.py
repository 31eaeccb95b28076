"""graphc.ao.quantization: torch.ao.quantization's API.

    qnet = graphc.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=graphc.qint8)
    qconfig = graphc.ao.quantization.get_default_qat_qconfig("x86")     # QAT (docs/qat.md)

Observers (observer.py), fake-quant modules (fake_quantize.py) and QConfigs (qconfig.py) have
torch's names, arguments and numbers. `graphc.quantization` is the same package under torch's
older spelling (`torch.quantization`).
"""
from . import utils  # noqa: F401
from . import observer  # noqa: F401
from . import fake_quantize  # noqa: F401
from . import qconfig  # noqa: F401
from .dynamic import (LayerReport, QuantizedLinear, layer_report,  # noqa: F401
                      quantize_dynamic)
from .observer import *  # noqa: F401,F403
from .observer import _PartialWrapper, _with_args, _with_callable_args  # noqa: F401
from .fake_quantize import *  # noqa: F401,F403
from .qconfig import *  # noqa: F401,F403

__all__ = ["LayerReport", "QuantizedLinear", "layer_report", "quantize_dynamic",
           *observer.__all__, *fake_quantize.__all__, *qconfig.__all__]
# eager-mode workflow: stubs, fusion, mappings, prepare / prepare_qat (A2)
from . import stubs, fuser_method_mappings, quantization_mappings  # noqa: F401,E402
from .quantize import __all__ as _quantize_all  # noqa: E402
from .stubs import *  # noqa: F401,F403,E402
from .fuser_method_mappings import *  # noqa: F401,F403,E402
from .fuse_modules import fuse_known_modules, fuse_modules, fuse_modules_qat  # noqa: F401,E402
from .quantization_mappings import *  # noqa: F401,F403,E402
from .convert import Fp32Fallback, StaticLayerReport, static_layer_report  # noqa: F401,E402,E501 (the submodule first: quantize's `convert` then binds the name)
from .quantize import *  # noqa: F401,F403,E402
from .convert import convert  # noqa: F401,E402  (static int8 convert, with keep_fp32)
__all__ += [*stubs.__all__, *fuser_method_mappings.__all__, "fuse_known_modules",
            "fuse_modules", "fuse_modules_qat", *quantization_mappings.__all__,
            *(n for n in _quantize_all if n not in __all__),
            "Fp32Fallback", "StaticLayerReport", "static_layer_report"]

from ... import unsupported as _unsupported  # noqa: E402
__getattr__ = _unsupported.module_getattr(__name__, globals())  # QConfigMapping, prepare_fx: a clear error
