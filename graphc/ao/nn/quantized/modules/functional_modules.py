"""FloatFunctional and QFunctional (torch.ao.nn.quantized): the functional ops a model calls on
tensors (add, cat, mul, add_relu, mul_scalar, ...) as modules, so that prepare can observe their
outputs (FloatFunctional's `activation_post_process`) and convert can swap in the quantized
versions (QFunctional, with the observed output scale and zero point).

QFunctional's numbers are torch's quantized kernels' (graphc/ir/ops/qstatic.py `qbinary`; cat
requantizes through float as torch.ops.quantized.cat does).
"""
from __future__ import annotations

import functools

from ..... import dtypes
from ..... import functions as G
from .....errors import GraphcError, NotSupportedError
from .....nn.module import Module
from .....quantized_tensor import QTensor
from .....tensor import apply
from .utils import check_quint8, float_module_qparams


def _identity():
    from .....nn import Identity
    return Identity()


class FloatFunctional(Module):
    """Float add / cat / mul / add_relu / add_scalar / mul_scalar / matmul, each followed by
    `activation_post_process` (an Identity until prepare puts an observer there)."""

    def __init__(self):
        super().__init__()
        self.activation_post_process = _identity()

    def forward(self, x):
        """Refused, as torch's: call one of the op methods."""
        raise RuntimeError("FloatFunctional is not intended to use the 'forward'. Please use "
                           "the underlying operation")

    def add(self, x, y):
        """x + y, observed."""
        return self.activation_post_process(G._t(x) + y)

    def add_scalar(self, x, y: float):
        """x + y for a number y (not observed, as torch)."""
        return G._t(x) + y

    def mul(self, x, y):
        """x * y, observed."""
        return self.activation_post_process(G._t(x) * y)

    def mul_scalar(self, x, y: float):
        """x * y for a number y (not observed, as torch)."""
        return G._t(x) * y

    def cat(self, x, dim: int = 0):
        """torch.cat(x, dim), observed."""
        from .....shape_ops import cat
        return self.activation_post_process(cat(x, dim))

    def add_relu(self, x, y):
        """relu(x + y), observed."""
        return self.activation_post_process(G.relu(G._t(x) + y))

    def matmul(self, x, y):
        """x @ y, observed."""
        return self.activation_post_process(G._t(x) @ y)


@functools.lru_cache(maxsize=1)
def vector_block() -> int:
    """torch's vector length for quint8 on this CPU (64 with AVX-512, else 32): where its add
    kernel switches from the vectorised to the scalar rounding (see qstatic.qbinary)."""
    try:
        from .....backend.llvm.target import host
        return 64 if host().get("avx512") else 32
    except Exception:  # noqa: BLE001 - no LLVM: assume an AVX2 build
        return 32


class QFunctional(Module):
    """The quantized FloatFunctional: add, add_relu, mul, cat and mul_scalar of quint8 tensors,
    requantized to (scale, zero_point), torch's numbers."""

    def __init__(self):
        super().__init__()
        self.scale, self.zero_point = 1.0, 0
        self.activation_post_process = _identity()

    def forward(self, x):
        """Refused, as torch's: call one of the op methods."""
        raise RuntimeError("Functional is not intended to use the 'forward'. Please use the "
                           "underlying operation")

    def extra_repr(self) -> str:
        """The output scale and zero point."""
        return f"scale={self.scale}, zero_point={self.zero_point}"

    def _binary(self, op: str, x, y, relu: bool):
        x, y = check_quint8(x, f"QFunctional.{op}"), check_quint8(y, f"QFunctional.{op}")
        if x.shape != y.shape:
            raise NotSupportedError(f"QFunctional.{op}: operands of shapes {list(x.shape)} and "
                                    f"{list(y.shape)}; graphc supports equal shapes only")
        q = apply("qbinary", x._q, y._q, binop=op, a_scale=x.q_scale(), a_zp=x.q_zero_point(),
                  b_scale=y.q_scale(), b_zp=y.q_zero_point(), scale=float(self.scale),
                  zero_point=int(self.zero_point), relu=relu, block=vector_block())
        return QTensor(q, dtypes.quint8, float(self.scale), int(self.zero_point))

    def add(self, x, y) -> QTensor:
        """Quantized x + y."""
        return self._binary("add", x, y, False)

    def add_relu(self, x, y) -> QTensor:
        """Quantized relu(x + y)."""
        return self._binary("add", x, y, True)

    def mul(self, x, y) -> QTensor:
        """Quantized x * y."""
        return self._binary("mul", x, y, False)

    def cat(self, x, dim: int = 0) -> QTensor:
        """torch.ops.quantized.cat: each input requantized (dequantize, then quantize with the
        fma rounding of quantize_per_tensor) to (scale, zero_point), then concatenated."""
        xs = [check_quint8(t, "QFunctional.cat") for t in x]
        if not xs:
            raise GraphcError("QFunctional.cat needs at least one tensor")
        s, z = float(self.scale), int(self.zero_point)
        parts = [t._q if (t.q_scale() == s and t.q_zero_point() == z) else
                 apply("quantize", t.dequantize(), scale=s, zero_point=z, dtype=dtypes.uint8)
                 for t in xs]
        d = dim + xs[0].ndim if dim < 0 else dim
        q = parts[0] if len(parts) == 1 else apply("concat", *parts, axis=d)
        return QTensor(q, dtypes.quint8, s, z)

    def mul_scalar(self, x, y: float) -> QTensor:
        """x * y for a number y, as torch: the same integers with scale * y (y > 0), or
        255 - q with scale * |y| and zero point 255 - zp (y < 0)."""
        x = check_quint8(x, "QFunctional.mul_scalar")
        y = float(y)
        if y > 0:
            return QTensor(x._q, dtypes.quint8, x.q_scale() * y, x.q_zero_point())
        if y < 0:
            q = G.full_like(x._q, 255) - x._q
            return QTensor(q, dtypes.quint8, x.q_scale() * -y, 255 - x.q_zero_point())
        raise NotSupportedError("QFunctional.mul_scalar by 0 is not supported")

    def add_scalar(self, x, y: float):
        """Not supported: torch picks new quantization parameters for x + y in a way graphc
        does not reproduce yet."""
        raise NotSupportedError("QFunctional.add_scalar is not supported by graphc; use a "
                                "FloatFunctional around dequantize()/quantize, or add the "
                                "constant in float before the QuantStub")

    def matmul(self, x, y):
        """Not supported (torch's quantized matmul)."""
        raise NotSupportedError("QFunctional.matmul is not supported by graphc")

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant: bool = False):
        """A QFunctional with the output qparams observed on a prepared FloatFunctional."""
        q = cls()
        q.scale, q.zero_point = float_module_qparams(mod)
        return q
