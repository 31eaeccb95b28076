"""graphc.nn.modules: torch.nn.modules' layout (modules.module, .linear, .conv, .loss, .rnn,
.utils, ...) over graphc.nn's classes, for programs that import from there
(`from torch.nn.modules.loss import _Loss`, `torch.nn.modules.utils._pair`)."""
from __future__ import annotations

from . import (activation, batchnorm, container, conv, data_parallel, distance,  # noqa: F401
               dropout, flatten, fold, instancenorm, linear, loss, module,
               normalization, padding, pixelshuffle, pooling, rnn, sparse, transformer,
               upsampling, utils)
from .activation import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .data_parallel import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .instancenorm import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .module import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
