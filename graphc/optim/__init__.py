"""graphc.optim: optimizers with PyTorch's names, formulas and defaults."""
from .adam import Adam, AdamW, RMSprop  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
