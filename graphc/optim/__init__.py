"""graphc.optim: optimizers with PyTorch's names, formulas and defaults."""
from .adadelta import Adadelta, Adagrad, Adamax  # noqa: F401
from .adam import Adam, AdamW, RMSprop  # noqa: F401
from .asgd import ASGD  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from .nadam import NAdam, RAdam  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .rprop import Rprop  # noqa: F401
from .sgd import SGD  # noqa: F401
from .sparse_adam import SparseAdam  # noqa: F401
from . import lr_scheduler  # noqa: F401,E402

from ..unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
