"""An independent NumPy model of dynamic int8 quantization (docs/quantization.md), for the tests.

Written apart from graphc/ir/ops/quant.py on purpose: torch's parameter code transcribed
literally (both zero-point candidates and the error rule that picks one), and the single-rounding
fused multiply-add done by round-to-odd in float64 instead of graphc's midpoint correction.
"""
from __future__ import annotations

import numpy as np

f32 = np.float32


def fma32(a, b, c) -> np.ndarray:
    """float32(a * b + c) rounded once: the float64 sum rounded to odd, then to float32.

    Round-to-odd to 53 bits followed by round-to-nearest to 24 bits equals one rounding to 24
    bits (53 >= 24 + 2). a * b is exact in float64; TwoSum gives the sum's rounding error.
    """
    p = np.asarray(a, np.float64) * np.asarray(b, np.float64)
    c = np.asarray(c, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = p + c
        t = s - p
        err = (p - (s - t)) + (c - t)
        odd = (s.view(np.int64) & 1) == 1
        bump = (err != 0) & ~odd                     # inexact with an even last bit: go odd
        s = np.where(bump, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
        return s.astype(f32)


def weight_params(w: np.ndarray, per_channel: bool = False):
    """torch's MinMaxObserver (symmetric qint8, eps = 2^-23) + quantize_per_tensor/channel."""
    w = w.astype(f32)
    if per_channel:
        lo = np.array([min(f32(r.min()), f32(0)) for r in w], f32)
        hi = np.array([max(f32(r.max()), f32(0)) for r in w], f32)
    else:
        lo, hi = min(f32(w.min()), f32(0)), max(f32(w.max()), f32(0))
    scale = np.maximum(np.maximum(-lo, hi) / f32((127 - (-128)) / 2), np.finfo(f32).eps).astype(f32)
    inv = (f32(1.0) / scale).astype(f32)
    q = np.rint((w * (inv.reshape(-1, 1) if per_channel else inv)).astype(f32))
    q = np.clip(q, -128, 127).astype(np.int8)
    return q, scale, q.sum(axis=1, dtype=np.int64).astype(np.int32)


def choose_qparams(xmin: float, xmax: float, qmin: int = 0, qmax: int = 255):
    """aten/src/ATen/native/quantized/cpu/QuantUtils.h ChooseQuantizationParams, reduce_range."""
    qmin, qmax = qmin // 2, qmax // 2
    mn, mx = min(f32(xmin), f32(0)), max(f32(xmax), f32(0))
    scale = (np.float64(mx) - np.float64(mn)) / (qmax - qmin)
    with np.errstate(divide="ignore", over="ignore"):
        if f32(scale) == 0 or np.isinf(f32(1.0) / f32(scale)):
            scale = 0.1
    thr = f32(6.1e-5)
    if scale < thr:
        org = f32(scale)
        scale = np.float64(thr)
        if mn == 0:
            mx = f32(thr * f32(qmax - qmin))
        elif mx == 0:
            mn = f32(-thr * f32(qmax - qmin))
        else:
            amp = f32(thr / org)
            mn, mx = f32(mn * amp), f32(mx * amp)
    zp_min = qmin - np.float64(mn) / scale
    zp_max = qmax - np.float64(mx) / scale
    err_min = abs(qmin) - abs(np.float64(mn) / scale)
    err_max = abs(qmax) - abs(np.float64(mx) / scale)
    zp = zp_min if err_min < err_max else zp_max
    zp = qmin if zp < qmin else qmax if zp > qmax else int(np.rint(zp))
    return f32(scale), int(zp)


def qlinear(x, w_q, w_scale, w_colsum, bias, w=None, relu=False):
    """The int8 Linear on x [..., K] (bias None = no bias); non-finite x falls back to fp32."""
    x = np.asarray(x, f32)
    n, k = w_q.shape
    if not np.isfinite(x).all():
        y = np.matmul(x[None] if x.ndim == 1 else x, w.T)
        y = (y if bias is None else y + bias).reshape(x.shape[:-1] + (n,))
    elif x.size == 0:
        y = np.zeros(x.shape[:-1] + (n,), f32)
    else:
        xs = x.reshape(-1, k)
        s_x, z = choose_qparams(xs.min(), xs.max())
        inv = f32(f32(1.0) / s_x)
        t = np.minimum(fma32(xs, inv, f32(z)), f32(2147483520.0))
        q_x = np.clip(np.rint(t), 0, 255).astype(np.int64)
        acc = np.einsum("mk,nk->mn", q_x, w_q.astype(np.int64)) - z * w_colsum.astype(np.int64)
        mult = (s_x * np.asarray(w_scale, f32)).astype(f32)
        y = fma32(acc.astype(f32), mult, f32(0) if bias is None else bias)
        y = y.reshape(x.shape[:-1] + (n,))
    y = y.astype(f32)
    return np.where((y > 0) | np.isnan(y), y, f32(0)).astype(f32) if relu else y
