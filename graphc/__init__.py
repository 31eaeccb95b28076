"""graphc: a deep-learning graph compiler with PyTorch's API.

    @graphc.compile
    def train_step(x, y): ...

traces the step into a typed IR graph, transforms it, and runs it on a backend.
"""
from . import dtypes
from .dtypes import (bool_, double, float32, float64, int8, int32, int64, long, qint8,  # noqa: F401
                     qint32, quint8, uint8)
from .dtypes import bfloat16, float16, half  # noqa: F401  (names only: no tensors of them)
from .dtypes import (per_channel_affine, per_channel_affine_float_qparams,  # noqa: F401
                     per_channel_symmetric, per_tensor_affine, per_tensor_symmetric)
from .errors import (CompileError, ExecutionError, GraphcError, InputError,  # noqa: F401
                     ParseError, ShapeError, TraceError, VerifyError)
from .tensor import Size, Tensor  # noqa: F401
from .functions import (abs, amax, amin, arange, argmax, argmin, broadcast_to, clamp, cumsum,
                        erf,  # noqa: F401,A004
                        exp, flatten, full, full_like, gather, gelu, log, log1p, log_softmax,
                        matmul, max, maximum, mean, min, minimum, neg, one_hot, ones, ones_like,
                        permute, relu, reshape, rsqrt, sigmoid, sign, softmax, sqrt, square,
                        squeeze, sum, tanh, tensor, transpose, unsqueeze, where, zeros,
                        zeros_like)
from .shape_ops import (atleast_1d, atleast_2d, atleast_3d, broadcast_shapes,  # noqa: F401,E402
                        broadcast_tensors, cat, chunk, column_stack, concat, concatenate, diag,
                        diagonal, dstack, flip, fliplr, flipud, hstack, meshgrid, moveaxis,
                        movedim, narrow, repeat_interleave, roll, row_stack, split, squeeze, stack,
                        index_select, select,
                        swapaxes, swapdims, t, tensor_split, tile, tril, triu, unbind, unflatten,
                        vstack)
from .random import (Generator, bernoulli, default_generator, get_rng_state,  # noqa: F401
                     initial_seed, manual_seed, multinomial, normal, rand, rand_like, randint,
                     randint_like, randn, randn_like, randperm, seed, set_rng_state)
from . import ir, nn, data, optim, autograd  # noqa: F401,E402
from . import utils  # noqa: F401,E402  (graphc.utils.data: torch.utils.data's layout)
from .functions import (as_tensor, empty, empty_like, eye, from_numpy, is_tensor,  # noqa: F401,E402
                        linspace, logspace, numel)
from .dtypes import get_default_dtype, set_default_dtype  # noqa: F401,E402
from .math_ops import *  # noqa: F401,F403,E402,A004  (trig, bitwise, exp2, fmod, pow, ...)
from .nn.functional import (celu, celu_, hardshrink, prelu, relu_, selu, selu_,  # noqa: F401,E402
                            threshold, threshold_)
from .index_ops import *  # noqa: F401,F403,E402  (scatter, masked_fill, nonzero, ...)
from .reduce_ops import *  # noqa: F401,F403,E402  (prod, var, std, topk, sort, ...)
from .linalg_ops import *  # noqa: F401,F403,E402  (mm, bmm, einsum, cdist, norm, ...)
from .misc_ops import *  # noqa: F401,F403,E402  (finfo, unique, LongTensor, ...)
from . import linalg  # noqa: F401,E402
from .device import device  # noqa: F401,E402  (graphc.device("cpu"); "cuda" tensors raise)
from . import accelerator, amp, backends, cuda, tensor_methods  # noqa: F401,E402
from .amp import autocast  # noqa: F401,E402  (torch.autocast: disabled or refused, see graphc.amp)
from .serialization import load, save  # noqa: F401,E402
from .quantized_tensor import (QTensor, dequantize, quantize_per_channel,  # noqa: F401,E402
                               quantize_per_tensor, _make_per_tensor_quantized_tensor,
                               _make_per_channel_quantized_tensor)
from .quant_ops import (fake_quantize_per_channel_affine,  # noqa: F401,E402
                        fake_quantize_per_tensor_affine, fused_moving_avg_obs_fake_quant,
                        _fake_quantize_learnable_per_channel_affine,
                        _fake_quantize_learnable_per_tensor_affine)
from . import ao, quantization  # noqa: F401,E402
from . import distributed, multiprocessing  # noqa: F401,E402  (MPI data parallelism, Hogwild)
from .autograd import enable_grad, is_grad_enabled, no_grad  # noqa: F401,E402
from .grad_mode import set_grad_enabled  # noqa: F401,E402
from .autograd import inference_mode, is_inference_mode_enabled  # noqa: F401,E402
from .driver.compile import Compiled, compile  # noqa: F401,E402,A004
from .control_flow import scan  # noqa: F401,E402  (a loop traced once: lax.scan)

from .tensor import COMPARISONS as _COMPARISONS
globals().update({_n: getattr(Tensor, _n) for _n in _COMPARISONS})   # graphc.eq(a, b), gt, ...
bool = bool_  # noqa: A001  (graphc.bool, as torch.bool)
float = float32  # noqa: A001
__version__ = "0.1.0"

from .errors import (GraphcWarning, NotSupportedError, NotSupportedImportError,  # noqa: F401,E402
                     TraceTimeRandomnessWarning)
from . import aliases as _aliases; _aliases.install(globals())  # noqa: E402,E702  (axis=, keepdims=)
from . import unsupported as _unsupported  # noqa: E402  (last: real names always win)
_unsupported.install()   # graphc.fft, graphc.special, ...: stub modules unless a real one exists
__getattr__ = _unsupported.module_getattr(__name__, globals())  # missing torch names: a clear error
