"""graphc.nn: Module, Parameter, layers and losses with PyTorch's names."""
from . import functional  # noqa: F401
from .layers import (GELU, AlphaDropout, Dropout, Dropout1d, Dropout2d, Flatten,  # noqa: F401
                     Identity, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh)
from . import init  # noqa: F401,E402
from .activation import (CELU, ELU, GLU, Hardshrink, Hardsigmoid, Hardswish,  # noqa: F401,E402
                         Hardtanh, LeakyReLU, LogSigmoid, Mish, PReLU, ReLU6, SELU, SiLU,
                         Softmin, Softplus, Softshrink, Softsign, Tanhshrink, Threshold)
from .activation import GELU, ReLU  # noqa: F401,E402,F811  (torch's inplace= and reprs)
from .activation import MultiheadAttention  # noqa: F401,E402  (torch keeps it there too)
from .flatten import Unflatten  # noqa: F401,E402
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d,  # noqa: F401,E402
                      AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, LPPool1d, LPPool2d, MaxPool1d,
                      MaxPool2d)
from .normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d,  # noqa: F401,E402
                            InstanceNorm2d, LayerNorm, LocalResponseNorm, RMSNorm)
from .upsampling import (CircularPad1d, CircularPad2d, CircularPad3d,  # noqa: F401,E402
                         ConstantPad1d, ConstantPad2d, ConstantPad3d, PixelShuffle,
                         PixelUnshuffle, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                         ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, Upsample,
                         UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad1d, ZeroPad2d,
                         ZeroPad3d)
from .convolution import (Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d,  # noqa: F401,E402
                          Fold, Unfold)
from .loss import (BCELoss, BCEWithLogitsLoss, CosineSimilarity, CrossEntropyLoss,  # noqa: F401
                   HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, PairwiseDistance,
                   SmoothL1Loss, SoftMarginLoss)
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss,  # noqa: F401
                   MarginRankingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                   MultiMarginLoss, PoissonNLLLoss, TripletMarginLoss,
                   TripletMarginWithDistanceLoss)
from .module import Module, ModuleDict, ModuleList, Sequential  # noqa: F401
from . import parallel  # noqa: F401,E402
from .parallel import DataParallel  # noqa: F401,E402
from .parameter import Buffer, Parameter  # noqa: F401
from . import utils  # noqa: F401,E402
from .sparse import *  # noqa: F401,E402,F403  (Embedding, EmbeddingBag)
from .attention import *  # noqa: F401,E402,F403  (scaled_dot_product_attention, ...)
from .transformer import *  # noqa: F401,E402,F403  (Transformer and its layers)
from .rnn import *  # noqa: F401,E402,F403  (RNN, LSTM, GRU and cells)

from ..unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
from . import modules  # noqa: E402,F401  (torch.nn.modules layout: nn.modules.loss._Loss, ...)
