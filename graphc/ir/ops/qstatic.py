"""Static int8 ops: quantize / dequantize with fixed qparams, the requantizing int8 GEMM of torch's
quantized Linear and Conv2d (fbgemm), and quantized add / mul (QFunctional), bit-exact with torch
2.13 on x86 (checked to 0 ulp in tests/test_qstatic.py).

    quantize[scale, zero_point, dtype](x f32) -> u8 | i8 | i32           (torch.quantize_per_tensor)
        q = clamp(rne(fma(x, fl(1 / fl(scale)), zero_point)), qmin, qmax)   -- ONE rounding of
        x * inv + zp (torch's vectorised quantizer); values past the int32 range clamp, NaN -> qmax
    dequantize[scale, zero_point](q u8 | i8 | i32) -> f32
        x = fl(fl(scale) * float(q - zero_point))      q - zero_point in int32 (wraps, as torch)
    qgemm[a_zp, out_zp, relu](a u8[M, K], w i8[N, K], col_off i32[N], w_zp i32[N],
                              bias_div f32[N], mult f32[N]) -> u8[M, N]
        fbgemm's ReQuantizeOutput with a float bias (torch's x86 path for quantized::linear and
        quantized::conv2d):
        raw  = sum_k a[m, k] * w[n, k] - a_zp * col_off[n] - w_zp[n] * sum_k a[m, k]   exact int32
               (col_off[n] = sum_k w[n, k] - w_zp[n] * K)
        y    = fl(fl(float(raw) + bias_div[n]) * mult[n])     bias_div = fl(bias / fl(s_a * s_w)),
                                                              mult = fl(fl(s_a * s_w) / s_out)
        q    = clamp(rne(y) + out_zp, relu ? out_zp : 0, 255)    (no bias: bias_div = 0, which
                                                              leaves float(raw) unchanged)
        rows_per_image = L > 0 (conv): the result is [M / L, N, L], rows (image, position)
        stored as NCHW; w_asym=false states that w_zp is all 0 (symmetric weights, torch's
        default): the kernel then skips the row-sum term
    qbinary[binop, a_scale, a_zp, b_scale, b_zp, scale, zero_point, relu, block](a u8, b u8) -> u8
        torch's qadd / qadd_relu / qmul kernels (same shapes, no broadcasting):
        binop="add": elements [0, n - n % block) take torch's vectorised path, the rest its scalar
        tail, which round differently (`block` is torch's vector length for quint8: 64 on an
        AVX-512 build, 32 on AVX2; the module picks it for the host):
            vector:  d = fma(float(q), s, fl(s * -zp)) per operand;  c = d_a + d_b (relu: max 0)
                     q = clamp(rne(fl(c * inv)) + zp, 0, 255)            inv = fl(1 / fl(scale))
            scalar:  d = fl(s * float(q - zp));  c = d_a + d_b (relu: max 0)
                     q = clamp(rne(fl(fl(c * inv) + zp)), 0, 255)
        binop="mul": c = (q_a - a_zp) * (q_b - b_zp) exact; m = fl(fl(fl(a_scale) * fl(b_scale)) *
            inv); q = clamp(rne(fl(float(c) * m)) + zp, relu ? zp : 0, 255) (every element)
        torch splits tensors of more than 32768 elements over its threads (each chunk with its own
        vector/scalar split), so its own results there depend on its thread count; graphc always
        uses the single split above.

    qim2col[kernel, stride, padding, dilation, pad_value](x u8[N, C, H, W]) -> u8[N*Ho*Wo, C*kh*kw]
        rows (n, oh, ow), columns (c, i, j) of x padded with pad_value (the zero point): the
        A operand of quantized Conv2d's qgemm

All compute on integers (quantize's result is an integer tensor, piecewise constant in x), so
they carry no gradient (NONDIFF): a loss computed through them does not require grad, and
backward() says so. Train the float model (or with fake quantization) and convert it.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ...errors import GraphcError
from ..graph import tensor_type
from .quant import fma_f32
from .registry import NONDIFF, Fusion, Sample, register, require

F32 = np.float32
INT32_FLOAT_MAX = F32(2147483520.0)   # the largest float32 below 2^31
_QRANGE = {"u8": (0, 255), "i8": (-128, 127), "i32": (-(1 << 31), (1 << 31) - 1)}


def qrange(dt) -> tuple[int, int]:
    """(qmin, qmax) of an integer storage dtype (u8, i8, i32)."""
    return _QRANGE[dtypes.as_dtype(dt).name]


def inv_scale(scale) -> np.float32:
    """fl(1 / fl(scale)): the reciprocal every torch quantizer multiplies by."""
    return F32(F32(1) / F32(scale))


def _clamp_round(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(rne(t), lo, hi) for float32 t; NaN gives hi, as torch's `min(t, cap)` (vminps
    returns its second operand for NaN) then conversion (int64 result)."""
    t = np.where(np.isnan(t), float(hi), np.asarray(t, np.float64))
    return np.clip(np.rint(t), lo, hi).astype(np.int64)


def quantize_fma(x: np.ndarray, scale, zero_point: int, dt) -> np.ndarray:
    """torch.quantize_per_tensor's integers: clamp(rne(fma(x, inv, zp)), qmin, qmax)."""
    lo, hi = qrange(dt)
    x = np.asarray(x, F32)
    with np.errstate(all="ignore"):
        t = fma_f32(x, np.full(x.shape, inv_scale(scale), F32), np.full(x.shape, F32(zero_point)))
        return _clamp_round(t, lo, hi).astype(dtypes.as_dtype(dt).np)


def quantize_two_round(x: np.ndarray, inv: np.ndarray, zero_point, dt) -> np.ndarray:
    """fbgemm's scalar Quantize: clamp(rne(fl(fl(x * inv) + zp)), qmin, qmax) (torch's per-channel
    quantizer and the scalar tail of qadd)."""
    lo, hi = qrange(dt)
    with np.errstate(all="ignore"):
        t = (np.asarray(x, F32) * np.asarray(inv, F32)).astype(F32)
        t = (t + np.asarray(zero_point, F32)).astype(F32)
        return _clamp_round(t, lo, hi).astype(dtypes.as_dtype(dt).np)


def dequantize_ref(q: np.ndarray, scale, zero_point) -> np.ndarray:
    """fl(fl(scale) * float(q - zp)), elementwise (scale and zp broadcast against q)."""
    # q - zp in int32 arithmetic, as torch (it wraps for qint32 values near the int32 limits)
    d = (np.asarray(q, np.int64) - np.asarray(zero_point, np.int64)).astype(np.int32).astype(F32)
    return (np.asarray(scale, F32) * d).astype(F32)


# ---- quantize / dequantize ---------------------------------------------------------------------


def _quantize_infer(types, attrs):
    (x,) = types
    require(x.dtype is dtypes.float32, f"quantize takes float32 input, got {x}")
    dt = dtypes.as_dtype(attrs["dtype"])
    require(dt.name in _QRANGE, f"quantize: dtype must be u8, i8 or i32, got {dt}")
    _check_qparams("quantize", attrs["scale"], attrs["zero_point"], dt)
    return tensor_type(x.shape, dt)


def _check_qparams(op, scale, zp, dt):
    require(isinstance(scale, (float, np.floating)) and np.isfinite(scale) and scale > 0
            and F32(scale) > 0, f"{op}: scale must be a positive finite float, got {scale!r}")
    lo, hi = qrange(dt)
    require(isinstance(zp, (int, np.integer)) and lo <= zp <= hi,
            f"{op}: zero_point must be an int in [{lo}, {hi}] for {dt}, got {zp!r}")


def _quantize_ref(x, scale, zero_point, dtype):
    return quantize_fma(x, scale, int(zero_point), dtype)


def _dequantize_infer(types, attrs):
    (q,) = types
    require(q.dtype.name in _QRANGE, f"dequantize takes u8, i8 or i32 input, got {q}")
    _check_qparams("dequantize", attrs["scale"], attrs["zero_point"], q.dtype)
    return tensor_type(q.shape, dtypes.float32)


def _dequantize_ref(q, scale, zero_point):
    return dequantize_ref(q, scale, zero_point)


register("quantize", "quant", _quantize_infer, _quantize_ref, [
    Sample([("f32", (37,), "any")], {"scale": 0.03, "zero_point": 64, "dtype": dtypes.uint8}),
    Sample([("f32", (2, 65), "any")], {"scale": 0.011, "zero_point": -3, "dtype": dtypes.int8}),
    Sample([("f32", (9,), "any")], {"scale": 1e-3, "zero_point": 7, "dtype": dtypes.int32}),
], NONDIFF, doc="torch.quantize_per_tensor's integer values", fusion=Fusion.ELEMENTWISE)

register("dequantize", "quant", _dequantize_infer, _dequantize_ref, [
    Sample([("u8", (33,), "any")], {"scale": 0.03, "zero_point": 64}),
    Sample([("i8", (3, 5), "any")], {"scale": 0.011, "zero_point": -3}),
], NONDIFF, doc="dequantize a per-tensor affine integer tensor", fusion=Fusion.ELEMENTWISE)


# ---- the requantizing int8 GEMM (quantized Linear / Conv2d) -------------------------------------


def qgemm_ref(a, w, col_off, w_zp, bias_div, mult, a_zp, out_zp, relu=False,
              rows_per_image=0, w_asym=True):
    """The reference of `qgemm` (see the module docstring)."""
    if not w_asym and np.any(np.asarray(w_zp) != 0):
        raise GraphcError("qgemm: w_asym=false but the weight zero points are not all 0")
    a64 = np.asarray(a, np.int64)
    # float64 BLAS is exact here: every product and partial sum is an integer below 2^53
    acc = (a64.astype(np.float64) @ np.asarray(w, np.float64).T).astype(np.int64)
    raw = acc - a_zp * np.asarray(col_off, np.int64)[None, :] \
        - np.asarray(w_zp, np.int64)[None, :] * a64.sum(axis=1, keepdims=True)
    raw = raw.astype(np.int32)                        # fbgemm's int32 arithmetic (wraps)
    with np.errstate(all="ignore"):
        y = (raw.astype(F32) + np.asarray(bias_div, F32)[None, :]).astype(F32)
        y = (y * np.asarray(mult, F32)[None, :]).astype(F32)
        r = np.rint(np.clip(y, F32(-2 ** 31), F32(2 ** 31 - 128))).astype(np.int64) + out_zp
    out = np.clip(r, out_zp if relu else 0, 255).astype(np.uint8)
    if rows_per_image:   # conv's NCHW: rows (image, position) -> [image, channel, position]
        out = np.ascontiguousarray(out.reshape(-1, rows_per_image, out.shape[1])
                                   .transpose(0, 2, 1))
    return out


def _qgemm_infer(types, attrs):
    require(len(types) == 6, "qgemm takes a, w, col_off, w_zp, bias_div, mult")
    a, w, co, wz, bd, m = types
    require(a.dtype is dtypes.uint8 and a.ndim == 2, f"qgemm: a must be u8[M, K], got {a}")
    require(w.dtype is dtypes.int8 and w.ndim == 2 and w.shape[1] == a.shape[1],
            f"qgemm: w must be i8[N, {a.shape[1]}], got {w}")
    n = w.shape[0]
    require(w.shape[1] < (1 << 17), f"qgemm: K = {w.shape[1]} overflows int32 accumulation")
    for name, t, dt in (("col_off", co, dtypes.int32), ("w_zp", wz, dtypes.int32),
                        ("bias_div", bd, dtypes.float32), ("mult", m, dtypes.float32)):
        require(t.dtype is dt and t.shape == (n,), f"qgemm: {name} must be {dt}[{n}], got {t}")
    for key in ("a_zp", "out_zp"):
        require(isinstance(attrs[key], (int, np.integer)) and 0 <= attrs[key] <= 255,
                f"qgemm: {key} must be an int in [0, 255], got {attrs[key]!r}")
    L = attrs.get("rows_per_image", 0)
    require(isinstance(L, (int, np.integer)) and L >= 0 and (L == 0 or a.shape[0] % L == 0),
            f"qgemm: rows_per_image must divide the {a.shape[0]} rows, got {L!r}")
    if L:
        return tensor_type((a.shape[0] // L, n, L), dtypes.uint8)
    return tensor_type((a.shape[0], n), dtypes.uint8)


def _qgemm_sample(m, k, n, relu=False, seed=0, wzp=False, rows_per_image=0, w_asym=True):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n, k)).astype(np.int8)
    zp = rng.integers(-3, 4, n).astype(np.int32) if wzp else np.zeros(n, np.int32)
    col = (w.astype(np.int64).sum(1) - zp * k).astype(np.int32)
    s_a, s_w, s_o = F32(0.02), (rng.uniform(1e-3, 4e-3, n)).astype(F32), F32(0.5)
    atws = (s_a * s_w).astype(F32)
    bias = (rng.standard_normal(n)).astype(F32)
    return Sample([("u8", (m, k), "any"), w, col, zp, (bias / atws).astype(F32),
                   (atws / s_o).astype(F32)],
                  {"a_zp": 60, "out_zp": 100, "relu": relu, "rows_per_image": rows_per_image,
                   "w_asym": w_asym})


register("qgemm", "quant", _qgemm_infer, qgemm_ref, [
    _qgemm_sample(5, 37, 13),
    _qgemm_sample(3, 64, 8, relu=True, seed=1),
    _qgemm_sample(70, 40, 20, seed=2, wzp=True),
    _qgemm_sample(72, 36, 19, seed=3, rows_per_image=9, w_asym=False),   # conv's NCHW
    _qgemm_sample(6, 5, 8, relu=True, seed=4, rows_per_image=3),
    _qgemm_sample(66, 9, 32, seed=5, w_asym=False),               # packed, K % 4 != 0
], NONDIFF, doc="requantizing int8 GEMM (fbgemm, float bias)")


# ---- quantized add / mul (QFunctional) ----------------------------------------------------------


def qbinary_ref(a, b, binop, a_scale, a_zp, b_scale, b_zp, scale, zero_point, relu=False,
                block=64):
    """The reference of `qbinary` (see the module docstring)."""
    shape = a.shape
    qa, qb = np.asarray(a, np.int64).reshape(-1), np.asarray(b, np.int64).reshape(-1)
    inv = inv_scale(scale)
    if binop == "mul":
        m = F32(F32(F32(a_scale) * F32(b_scale)) * inv)
        c = ((qa - a_zp) * (qb - b_zp)).astype(np.int32).astype(F32)
        with np.errstate(all="ignore"):
            r = np.rint(np.clip((c * m).astype(F32), F32(-2 ** 31), F32(2 ** 31 - 128)))
        out = np.clip(r.astype(np.int64) + zero_point, zero_point if relu else 0, 255)
        return out.astype(np.uint8).reshape(shape)
    n = qa.size
    nv = n - n % block
    out = np.empty(n, np.int64)
    with np.errstate(all="ignore"):
        if nv:  # torch's vectorised path
            da = fma_f32(qa[:nv].astype(F32), np.full(nv, F32(a_scale)),
                         np.full(nv, F32(F32(a_scale) * F32(-a_zp))))
            db = fma_f32(qb[:nv].astype(F32), np.full(nv, F32(b_scale)),
                         np.full(nv, F32(F32(b_scale) * F32(-b_zp))))
            c = (da + db).astype(F32)
            if relu:
                c = np.maximum(c, F32(0))
            t = np.clip((c * inv).astype(F32), F32(-2 ** 31), INT32_FLOAT_MAX)
            out[:nv] = np.clip(np.rint(t).astype(np.int64) + zero_point, 0, 255)
        if nv < n:  # its scalar tail
            c = (dequantize_ref(qa[nv:], a_scale, a_zp) + dequantize_ref(qb[nv:], b_scale, b_zp))
            c = c.astype(F32)
            if relu:
                c = np.maximum(c, F32(0))
            out[nv:] = quantize_two_round(c, inv, zero_point, dtypes.uint8)
    return out.astype(np.uint8).reshape(shape)


def _qbinary_infer(types, attrs):
    a, b = types
    require(a.dtype is dtypes.uint8 and b.dtype is dtypes.uint8 and a.shape == b.shape,
            f"qbinary: operands must be u8 tensors of one shape, got {a} and {b}")
    require(attrs["binop"] in ("add", "mul"),
            f"qbinary: binop must be 'add' or 'mul', got {attrs['binop']!r}")
    for s, z in (("a_scale", "a_zp"), ("b_scale", "b_zp"), ("scale", "zero_point")):
        _check_qparams("qbinary", attrs[s], attrs[z], dtypes.uint8)
    require(attrs.get("block", 64) in (16, 32, 64), "qbinary: block must be 16, 32 or 64")
    return tensor_type(a.shape, dtypes.uint8)


def _qbinary_sample(op, shape, relu=False, block=64):
    return Sample([("u8", shape, "any"), ("u8", shape, "any")],
                  {"binop": op, "a_scale": 0.05, "a_zp": 120, "b_scale": 0.031, "b_zp": 3,
                   "scale": 0.07, "zero_point": 90, "relu": relu, "block": block})


register("qbinary", "quant", _qbinary_infer, qbinary_ref, [
    _qbinary_sample("add", (2, 75)),
    _qbinary_sample("add", (3, 70), relu=True),
    _qbinary_sample("mul", (70,)),
    _qbinary_sample("mul", (5, 4), relu=True),
    _qbinary_sample("add", (3, 7), block=32),                    # an AVX2 build's vector length
], NONDIFF, doc="torch's quantized add / add_relu / mul (QFunctional)")


# ---- im2col of a quantized NCHW tensor (quantized Conv2d's rows) ----------------------------------


def _qim2col_geometry(shape, attrs):
    (kh, kw), (sh, sw) = attrs["kernel"], attrs["stride"]
    (ph, pw), (dh, dw) = attrs["padding"], attrs["dilation"]
    n, c, h, w = shape
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo


def qim2col_ref(x, kernel, stride, padding, dilation, pad_value):
    """Rows (n, oh, ow) x columns (c, i, j) of the input padded with `pad_value` (its zero
    point): the u8 operand of quantized Conv2d's GEMM."""
    n, c, _h, _w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo = _qim2col_geometry(
        x.shape, {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation})
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    cols = np.empty((n, ho, wo, c, kh, kw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            win = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            cols[:, :, :, :, i, j] = win.transpose(0, 2, 3, 1)
    return cols.reshape(n * ho * wo, c * kh * kw)


def _qim2col_infer(types, attrs):
    (x,) = types
    require(x.dtype is dtypes.uint8 and x.ndim == 4, f"qim2col takes u8[N, C, H, W], got {x}")
    for key in ("kernel", "stride", "padding", "dilation"):
        v = attrs[key]
        require(isinstance(v, tuple) and len(v) == 2 and all(isinstance(i, int) for i in v),
                f"qim2col: {key} must be a pair of ints, got {v!r}")
    require(all(k >= 1 for k in attrs["kernel"] + attrs["stride"] + attrs["dilation"])
            and min(attrs["padding"]) >= 0, "qim2col: bad kernel/stride/padding/dilation")
    require(isinstance(attrs["pad_value"], int) and 0 <= attrs["pad_value"] <= 255,
            "qim2col: pad_value must be an int in [0, 255]")
    n, c, _h, _w, kh, kw, *_, ho, wo = _qim2col_geometry(x.shape, attrs)
    require(ho >= 1 and wo >= 1, f"qim2col: kernel {attrs['kernel']} larger than the padded "
                                 f"input {x}")
    return tensor_type((n * ho * wo, c * kh * kw), dtypes.uint8)


register("qim2col", "quant", _qim2col_infer, qim2col_ref, [
    Sample([("u8", (2, 3, 5, 6), "any")], {"kernel": (3, 3), "stride": (1, 1), "padding": (1, 1),
                                           "dilation": (1, 1), "pad_value": 77}),
    Sample([("u8", (1, 2, 9, 7), "any")], {"kernel": (3, 2), "stride": (2, 1), "padding": (0, 2),
                                           "dilation": (2, 1), "pad_value": 0}),
], NONDIFF, doc="im2col rows of a quantized NCHW tensor, padded with its zero point")
