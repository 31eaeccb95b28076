"""`qlinear`: a dynamically quantized int8 Linear, bit-exact with torch's quantize_dynamic (fbgemm).

    qlinear[relu, has_bias](x f32[..., K], w_q i8[N, K], w_scale f32[] | f32[N], w_colsum i32[N],
                            bias f32[N], w f32[N, K]) -> f32[..., N]

The formulas are docs/quantization.md's (the project's int8 spec), with the activation rounding as
fbgemm really computes it (checked against torch 2.13 to 0 ulp, see tests/test_quantization.py):

    activation parameters, once per call over ALL elements of x (`activation_params`):
        mn, mx = min(min x, 0), max(max x, 0)                      float32 values
        S = (double(mx) - double(mn)) / 127                        double; 7-bit range
        if float(S) == 0 or 1.0f / float(S) == inf:  S = 0.1
        if S < double(6.1e-5f):                                    torch's small-scale rule
            if mx == 0: mn = fl(-6.1e-5f * 127)                    (mn == 0 leaves z = 0)
            elif mn != 0: mn = fl(mn * fl(6.1e-5f / fl(S)))
            S = double(6.1e-5f)
        z   = nearbyint(clamp(-double(mn) / S, 0, 127))             integer zero point
        s_x = fl(S)
    activations:  q_x = clamp(rne(min(fma(x, fl(1 / s_x), float(z)), 2147483520.0)), 0, 255)
        -- ONE rounding of x * inv + z (fbgemm's `_mm256_fmadd_ps`); rounding x * inv first and
           adding z as an integer afterwards (the doc's first version) is off by one step of
           q_x in about 1 of 10^6 elements (a wrong row per 1024 x 784 batch), see
           `quantize_activations`
    GEMM:         acc[m, n] = sum_k q_x[m, k] * w_q[n, k] - z * w_colsum[n]     exact integers
    epilogue:     y[m, n] = fma(float(acc), fl(s_x * w_scale[n]), bias[n])     one rounding
                  (bias is 0 when has_bias is false); relu: where(y <= 0, +0.0, y)

Non-finite input: if any element of x is NaN or +-inf, the whole call computes the fp32 Linear
instead, `x @ w.T (+ bias)`, exactly as the interpreter runs nn.Linear (then relu if set).
An empty batch gives an empty result. The op is inference-only: its vjp raises.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ...errors import GraphcError
from ..graph import tensor_type
from .registry import Sample, register, require

F32 = np.float32
SMALL_SCALE = F32(6.1e-5)           # torch's SMALL_SCALE_THRESHOLD (fp16's min normal), a float
INT32_FLOAT_MAX = F32(2147483520.0)  # the largest float32 below 2^31: cvtps2dq's safe maximum
QMAX_X = 127                         # 7-bit activations (reduce_range): pmaddubsw cannot saturate
MAX_K = 1 << 17                      # |acc| <= 128 * 128 * K must fit an int32
_FLT_MAX = float(np.finfo(F32).max)
_OVERFLOW_TIE = _FLT_MAX + 2.0 ** 103  # halfway between FLT_MAX and 2^128: rounds to inf on a tie


def fma_f32(a, b, c) -> np.ndarray:
    """float32(a * b + c) with one rounding, for float32 a, b, c (what vfmadd computes).

    a * b is exact in float64 (24 + 24 significant bits <= 53). The float64 sum p + c may round,
    and rounding that to float32 again can differ from one rounding only when the float64 sum
    lands exactly halfway between two float32 neighbours while the exact sum does not: TwoSum
    gives the float64 rounding error e, whose sign then picks the neighbour. (Every float32
    midpoint is a float64, so a sum that is not a midpoint rounds the same as the exact value.)
    """
    p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c = np.asarray(c, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c
        bb = s - p
        e = (p - (s - bb)) + (c - bb)                 # TwoSum: p + c == s + e exactly
        r = s.astype(F32)
        rd = r.astype(np.float64)
        toward = np.where(s > rd, F32(np.inf), F32(-np.inf)).astype(F32)
        r2 = np.nextafter(r, toward)                   # the float32 on the other side of s
        tie = (rd != s) & (s == (rd + r2.astype(np.float64)) * 0.5) & (e != 0)
        ovf = (np.abs(s) == _OVERFLOW_TIE) & (np.sign(e) == -np.sign(s))   # a tie at +-FLT_MAX
        tie |= ovf
        pick = np.where((e > 0) == (r2 > r), r2, r)
        pick = np.where(ovf, np.copysign(F32(_FLT_MAX), s).astype(F32), pick)
    return np.where(tie, pick, r).astype(F32)


# ---- weights (once, at quantize time) -----------------------------------------------------------


def quantize_weight(w: np.ndarray, per_channel: bool = False):
    """(w_q i8[N, K], w_scale f32[] or f32[N], w_colsum i32[N]): symmetric int8, zero point 0.

        a = max(-min(min W, 0), max(max W, 0));  s_w = max(fl(a / 127.5), 2^-23)
        w_q = clamp(rne(fl(W * fl(1 / s_w))), -128, 127);  colsum[n] = sum_k w_q[n, k]
    """
    w = np.asarray(w, F32)
    require(w.ndim == 2, f"quantize_weight needs a 2-D weight, got shape {list(w.shape)}")
    axis = 1 if per_channel else None
    if w.size:
        lo = np.minimum(w.min(axis=axis), F32(0))
        hi = np.maximum(w.max(axis=axis), F32(0))
    else:
        lo = hi = np.zeros(w.shape[0] if per_channel else (), F32)
    a = np.maximum(-lo, hi).astype(F32)
    scale = np.maximum((a / F32(127.5)).astype(F32), F32(2.0 ** -23)).astype(F32)
    inv = (F32(1) / scale).astype(F32)
    prod = (w * (inv[:, None] if per_channel else inv)).astype(F32)
    q = np.clip(np.rint(prod), -128, 127).astype(np.int8)
    colsum = q.astype(np.int64).sum(axis=1).astype(np.int32)
    return q, np.asarray(scale, F32), colsum


# ---- activations (every call) -------------------------------------------------------------------


def activation_params(x: np.ndarray) -> tuple[np.float32, int]:
    """(s_x, z) for a finite float32 tensor: one scale and zero point for the whole batch.

    torch picks z from min or max by a rounding-error rule; both candidates round to the same
    integer (they differ by ~1e-14 and the one from max is only used when both are ~0), so
    nearbyint(-mn / S) is the same number.
    """
    m = F32(x.min()) if x.size else F32(0)
    M = F32(x.max()) if x.size else F32(0)
    mn, mx = min(m, F32(0)), max(M, F32(0))
    S = (float(mx) - float(mn)) / QMAX_X
    with np.errstate(divide="ignore", over="ignore"):
        if F32(S) == 0 or np.isinf(F32(1) / F32(S)):
            S = 0.1
    if S < float(SMALL_SCALE):
        if mx == 0:
            mn = F32(-SMALL_SCALE * F32(QMAX_X))
        elif mn != 0:
            mn = F32(mn * F32(SMALL_SCALE / F32(S)))
        S = float(SMALL_SCALE)
    z = int(np.rint(min(max(-float(mn) / S, 0.0), float(QMAX_X))))
    return F32(S), z


def quantize_activations(x: np.ndarray, s_x, z: int) -> np.ndarray:
    """q_x = clamp(rne(min(fma(x, fl(1 / s_x), z), 2147483520)), 0, 255) as int32.

    One rounding of x * inv + z (fbgemm quantizes with `_mm256_fmadd_ps(x, inv, z)`): e.g. with
    z = 68, fl(x * inv) = 15.499999 gives 15 + 68 = 83, but x * inv + 68 rounds to 83.5 in float32
    and then to 84, which is what torch stores.
    """
    inv = F32(F32(1) / F32(s_x))
    t = np.minimum(fma_f32(x, inv, F32(z)), INT32_FLOAT_MAX)
    return np.clip(np.rint(np.maximum(t, F32(-1))), 0, 255).astype(np.int32)


def qlinear_int8(x2: np.ndarray, w_q, w_scale, w_colsum, bias) -> np.ndarray:
    """The quantized path for a finite 2-D batch x2 [M, K] (bias already zero if there is none)."""
    s_x, z = activation_params(x2)
    q_x = quantize_activations(x2, s_x, z)
    # float64 BLAS is exact here: every product and partial sum is an integer below 2^53
    acc = (q_x.astype(np.float64) @ w_q.astype(np.float64).T).astype(np.int64)
    acc -= z * w_colsum.astype(np.int64)
    scale = (s_x * np.asarray(w_scale, F32)).astype(F32)          # fl(s_x * s_w[n])
    return fma_f32(acc.astype(F32), scale, bias)


def _fp32_linear(x, w, bias, has_bias):
    """The interpreter's nn.Linear (F.linear: matmul[transpose_b], then add; 1-D via unsqueeze)."""
    x2 = x[None] if x.ndim == 1 else x
    y = np.matmul(x2, np.swapaxes(w, -1, -2))
    if has_bias:
        y = y + bias
    return y[0] if x.ndim == 1 else y


def relu_f32(y: np.ndarray) -> np.ndarray:
    """where(y <= 0, +0.0, y): graphc.relu exactly (NaN stays NaN, -0.0 becomes +0.0)."""
    return np.where(y <= 0, F32(0), y).astype(F32)


def _qlinear_ref(x, w_q, w_scale, w_colsum, bias, w, relu=False, has_bias=True):
    n, k = w_q.shape
    lead = x.shape[:-1]
    with np.errstate(invalid="ignore", over="ignore"):
        finite = bool(np.isfinite(x).all())
    if not finite:
        y = _fp32_linear(x, w, bias, has_bias).astype(F32)
    elif int(np.prod(lead, dtype=np.int64)) == 0:
        y = np.zeros(lead + (n,), F32)
    else:
        b = bias if has_bias else np.zeros(n, F32)
        y = qlinear_int8(x.reshape(-1, k), w_q, w_scale, w_colsum, b).reshape(lead + (n,))
    return relu_f32(y) if relu else y


def _qlinear_infer(types, attrs):
    require(len(types) == 6, "qlinear takes x, w_q, w_scale, w_colsum, bias, w")
    x, wq, ws, cs, b, w = types
    require(x.dtype is dtypes.float32 and x.ndim >= 1,
            f"qlinear input must be f32[..., K], got {x}")
    require(wq.dtype is dtypes.int8 and wq.ndim == 2, f"w_q must be i8[N, K], got {wq}")
    n, k = wq.shape
    require(x.shape[-1] == k, f"input {x} has {x.shape[-1]} features but w_q {wq} expects {k}")
    require(k < MAX_K, f"in_features {k} is too large for int32 accumulation (< {MAX_K})")
    require(ws.dtype is dtypes.float32 and ws.shape in ((), (n,)),
            f"w_scale must be f32[] (per tensor) or f32[{n}] (per channel), got {ws}")
    require(cs.dtype is dtypes.int32 and cs.shape == (n,), f"w_colsum must be i32[{n}], got {cs}")
    require(b.dtype is dtypes.float32 and b.shape == (n,), f"bias must be f32[{n}], got {b}")
    require(w.dtype is dtypes.float32 and w.shape == (n, k), f"w must be f32[{n},{k}], got {w}")
    for key in ("relu", "has_bias"):
        require(isinstance(attrs.get(key, False), (bool, np.bool_)), f"attr {key} must be a bool")
    require("has_bias" in attrs, "qlinear needs the attr has_bias")
    return tensor_type(x.shape[:-1] + (n,), dtypes.float32)


def _qlinear_vjp(*args, **kwargs):
    raise GraphcError("quantized layers are inference-only: qlinear has no gradient. Train the "
                      "float32 model, then quantize it (graphc.quantization.quantize_dynamic)")


def _sample(k: int, n: int, lead, per_channel=False, relu=False, has_bias=True, seed=0):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(F32)
    q, s, cs = quantize_weight(w, per_channel)
    b = (rng.standard_normal(n) * 0.1).astype(F32) if has_bias else np.zeros(n, F32)
    x = ("f32", tuple(lead) + (k,), "any")
    return Sample([x, q, s, cs, b, w], {"relu": relu, "has_bias": has_bias})


register("qlinear", "quant", _qlinear_infer, _qlinear_ref, [
    _sample(8, 16, (4,)),                                         # K % 4 == 0, N % 8 == 0
    _sample(37, 13, (5,), seed=1),                                # K % 4 != 0, N % 8 != 0
    _sample(37, 13, (3,), per_channel=True, seed=2),
    _sample(6, 10, (2, 3), relu=True, seed=3),                    # 3-D input, fused ReLU
    _sample(5, 3, (7,), per_channel=True, relu=True, has_bias=False, seed=4),
    _sample(9, 4, (), seed=5),                                    # 1-D input
], _qlinear_vjp, doc="dynamically quantized int8 Linear (torch quantize_dynamic semantics)")
