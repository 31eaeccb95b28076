"""graphc.optim: optimizers with PyTorch's names, formulas and defaults."""
from .adam import Adam, AdamW, RMSprop  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401

from ..unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
