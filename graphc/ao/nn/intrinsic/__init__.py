"""graphc.ao.nn.intrinsic: fused modules (Conv+BN(+ReLU), Conv+ReLU, Linear+ReLU/BN, BN+ReLU)
as torch.ao.nn.intrinsic; `qat` holds their quantization-aware-training forms."""
from .modules import *  # noqa: F401,F403
from .modules import __all__  # noqa: F401
from .modules.fused import _FusedModule  # noqa: F401
from . import qat  # noqa: F401,E402
