"""Fake quantization (torch.fake_quantize_per_tensor_affine / _per_channel_affine and
torch.fused_moving_avg_obs_fake_quant) as compositions of elementwise primitives.

PyTorch's CPU kernels (QuantizedOpKernels.cpp), reproduced bit for bit on float32 input:

    inv   = 1.0f / scale                                float32
    q     = zero_point + nearbyint(x * inv)             x * inv rounded to float32, then rounded
                                                        half to even, then + z in float32
    mask  = quant_min <= q <= quant_max                 (false for NaN)
    q'    = min(max(q, quant_min), quant_max)           NaN -> quant_min (fmax/fmin semantics)
    y     = (q' - zero_point) * scale                   float32 (exact difference, one rounding)
    dy/dx = mask                                        straight-through inside the range

The per-channel kernel converts q to int64 before clamping: on x86 an out-of-range value (+inf,
|q| >= 2^63, NaN) becomes INT64_MIN, so +inf and huge positive inputs give quant_min there (not
quant_max as per tensor); graphc reproduces that. float64 input computes x * inv, the rounding
and the clamp in float64, as torch; the dequantization is float32 per tensor and float64 per
channel, as torch's kernels do. Ranges wider than 2^24 (qint32) are not bit-exact: torch clamps
in int64, graphc in the input's float type.

Why compositions and not one kernel: every op here is an ordinary elementwise primitive, so the
whole fake quantization fuses into the surrounding kernels (matmul/conv epilogues included) and
gets its gradient from where(). Two details keep LLVM from forming a fused multiply-add (the
backend marks products `contract`) across the float32 roundings torch does: the product x * inv
only feeds floor and comparisons, never an add, and the result passes through a select.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from . import functions as G
from .driver import tracing
from .errors import GraphcError, InputError, NotSupportedError
from .grad_mode import is_grad_enabled, no_grad
from .math_ops import isinf
from .tensor import Tensor, apply

__all__ = [
    "_fake_quantize_learnable_per_channel_affine",
    "_fake_quantize_learnable_per_tensor_affine",
    "choose_qparams_fbgemm",
    "fake_quantize_per_channel_affine",
    "fake_quantize_per_tensor_affine",
    "fused_moving_avg_obs_fake_quant",
]

_INT64_LIMIT = 2.0 ** 63   # x86 turns a float >= 2^63 (or NaN) into INT64_MIN when converting


def _tensor(v) -> Tensor:
    return v if isinstance(v, Tensor) else G.tensor(v)


def _eager_values(*ts) -> bool:
    """Whether every tensor in ts has its data here (eager mode: Python may read values)."""
    return tracing.current() is None and all(not isinstance(t, Tensor) or t._data is not None
                                             for t in ts)


def round_half_even(p: Tensor) -> Tensor:
    """nearbyint(p) under round-to-nearest-even, exactly, for float32/float64 p (NaN stays NaN,
    +-inf stay): floor, and the halfway test by comparison, so p feeds no add (see module doc)."""
    f = apply("floor", p)
    h = f + 0.5                         # exact below 2^23 (2^52); above, p == f anyway
    half = f * 0.5
    even = apply("floor", half) == half
    up = (p > h) | ((p == h) & ~even)
    return G.where(up, f + 1.0, f)


def _straight_through(y: Tensor, x: Tensor, xd: Tensor, inside: Tensor) -> Tensor:
    """y's value with the gradient g * inside to x: y + (where(inside, x, 0) - where(inside,
    stop_gradient(x), 0)). The added term is +0 everywhere (x is finite where inside holds; NaN
    and inf x are outside), and y is never -0 (the fake quantization selects +0 for a zero
    q' - z), so y + 0 is y bit for bit. Written with `inside` (which depends on the scale) and
    not as x - stop_gradient(x), the term cannot be computed in the producer's kernel (a
    matmul epilogue) and written out as a full-size tensor of zeros: it stays in the fake
    quantization's loop."""
    return y + (G.where(inside, x, 0.0) - G.where(inside, xd, 0.0))


def _fq_core(x: Tensor, scale: Tensor, zp: Tensor, quant_min: int, quant_max: int,
             per_channel: bool) -> Tensor:
    """The fake-quantized x (scale f32 and zp integer, both broadcastable to x), with the
    straight-through gradient to x (none to scale or zero_point)."""
    xd = x.detach()
    scale = G.cast(scale.detach(), dtypes.float32)
    inv = 1.0 / scale                                    # 1.0f / scale, float32
    f64 = x.dtype is dtypes.float64
    p = xd * (G.cast(inv, dtypes.float64) if f64 else inv)
    zf = G.cast(zp.detach(), x.dtype)
    q = round_half_even(p) + zf
    lo, hi = float(quant_min), float(quant_max)
    inside = (q >= lo) & (q <= hi)
    qc = G.where(q >= lo, q, lo)                          # NaN -> quant_min, as fmax
    qc = G.where(qc <= hi, qc, hi)
    if per_channel:                                       # int64 conversion overflow -> INT64_MIN
        qc = G.where(q < _INT64_LIMIT, qc, lo)
    d = qc - zf
    if f64 and not per_channel:
        y = G.cast(G.cast(d, dtypes.float32) * scale, dtypes.float64)
    elif f64:
        y = d * G.cast(scale, dtypes.float64)
    else:
        y = d * scale
    y = G.where(d == 0, 0.0, y)        # (q' - z) * s is +0 there too; the select is a barrier
    if x.requires_grad and is_grad_enabled():
        y = _straight_through(y, x, xd, inside)
    return y


def _fq_float_zp(x: Tensor, scale: Tensor, zp: Tensor, quant_min: int,
                 quant_max: int) -> Tensor:
    """torch's float-zero-point per-channel kernel (per_channel_affine_float_qparams, float32):
    q = lrintf(zp + x * inv) (one float32 rounding of the product, one of the sum, then half to
    even; NaN and |q| >= 2^63 give INT64_MIN, as x86's conversion), mask = qmin <= q <= qmax,
    y = float((double(clamp(q)) - zp) * scale)."""
    xd = x.detach()
    scale = scale.detach()
    zf = zp.detach()
    p = xd * (1.0 / scale)
    # p's value (NaN where x is), through a select: keeps `zp + p` from becoming an FMA
    p = G.where(xd == xd, p, xd)  # noqa: PLR0124
    r = round_half_even(zf + p)
    r = G.where(G.abs(r) < _INT64_LIMIT, r, -_INT64_LIMIT)       # lrintf's overflow value
    lo, hi = float(quant_min), float(quant_max)
    inside = (r >= lo) & (r <= hi)
    qc = G.where(r < lo, lo, G.where(r > hi, hi, r))
    y = G.cast((G.cast(qc, dtypes.float64) - G.cast(zf, dtypes.float64))
               * G.cast(scale, dtypes.float64), dtypes.float32)
    if x.requires_grad and is_grad_enabled():
        y = _straight_through(y, x, xd, inside)
    return y


def _check_float_input(x: Tensor, what: str) -> None:
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise InputError(f"{what}: input of {x.dtype}{list(x.shape)} is not supported: torch's "
                         "kernel takes floating-point input (graphc: float32 or float64); "
                         "convert it with .float()")


def _check_range(quant_min, quant_max, what: str) -> tuple[int, int]:
    for name, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InputError(f"{what}: {name} must be an int, got {v!r}")
    if not quant_min <= quant_max:
        raise GraphcError(f"{what}: `quant_min` should be less than or equal to `quant_max` "
                          f"(got {quant_min} > {quant_max})")
    return int(quant_min), int(quant_max)


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min: int,
                                    quant_max: int) -> Tensor:
    """Quantize and dequantize `input` with one scale and zero point, as torch's function:
    y = (clamp(nearbyint(x / s) + z, quant_min, quant_max) - z) * s computed with x * (1.0f / s),
    and the straight-through gradient (1 where quant_min <= nearbyint(x / s) + z <= quant_max).

    `scale` (float) and `zero_point` (int) are numbers or one-element tensors (torch's
    tensor_qparams overload: read as float32 and integer; a compiled step reads them at run
    time). A number zero_point must lie in [quant_min, quant_max], as torch checks."""
    what = "fake_quantize_per_tensor_affine"
    x = _tensor(input)
    _check_float_input(x, what)
    quant_min, quant_max = _check_range(quant_min, quant_max, what)
    if isinstance(scale, Tensor) or isinstance(zero_point, Tensor):
        if not (isinstance(scale, Tensor) and isinstance(zero_point, Tensor)):
            raise InputError(f"{what}: scale and zero_point must both be tensors or both numbers")
        for name, t in (("scale", scale), ("zero_point", zero_point)):
            if t.numel() != 1:
                raise GraphcError(f"{what}: {name} must have one element (per-tensor "
                                  f"quantization), got shape {list(t.shape)}; use "
                                  "fake_quantize_per_channel_affine for one per channel")
        s = G.reshape(scale, ())
        z = G.reshape(zero_point, ())
        if z.dtype.is_float:   # torch reads it with .item().toInt(): truncation
            z = G.cast(z, dtypes.int64)
        return _fq_core(x, s, z, quant_min, quant_max, per_channel=False)
    if not isinstance(zero_point, (int, np.integer)) or isinstance(zero_point, bool):
        raise InputError(f"{what}: zero_point must be an int, got {zero_point!r}")
    if not quant_min <= zero_point <= quant_max:
        raise GraphcError(f"{what}: `zero_point` must be between `quant_min` and `quant_max` "
                          f"(got {zero_point} outside [{quant_min}, {quant_max}])")
    s = G.tensor(np.float32(float(scale)))       # torch passes the double scale as a float
    z = G.tensor(np.int64(zero_point))
    return _fq_core(x, s, z, quant_min, quant_max, per_channel=False)


def _channel_view(t: Tensor, ndim: int, axis: int) -> Tensor:
    """A (C,) tensor shaped to broadcast along `axis` of an ndim-d tensor."""
    shape = [1] * ndim
    shape[axis] = t.shape[0]
    return G.reshape(t, tuple(shape))


def fake_quantize_per_channel_affine(input, scale, zero_point, axis: int, quant_min: int,
                                     quant_max: int) -> Tensor:
    """Quantize and dequantize `input` with one scale and zero point per slice along `axis`, as
    torch's function (scale f32[C], zero_point i32[C] with C = input.size(axis)); gradient as
    fake_quantize_per_tensor_affine's. A float32 zero point is torch's float-qparams variant
    (per_channel_affine_float_qparams, for embeddings): q = nearbyint(zp + x * inv)."""
    what = "fake_quantize_per_channel_affine"
    x = _tensor(input)
    _check_float_input(x, what)
    quant_min, quant_max = _check_range(quant_min, quant_max, what)
    if not isinstance(scale, Tensor) or not isinstance(zero_point, Tensor):
        raise InputError(f"{what}: scale and zero_point must be tensors (one value per channel)")
    if scale.dtype is not dtypes.float32:
        raise GraphcError(f"{what}: Scale must be Float, found {scale.dtype}")
    float_zp = zero_point.dtype.is_float
    if float_zp and (zero_point.dtype is not dtypes.float32 or x.dtype is not dtypes.float32):
        raise NotSupportedError(
            f"{what}: a floating-point zero_point needs float32 input and a float32 zero_point "
            f"in graphc (got input {x.dtype}, zero_point {zero_point.dtype})")
    if not float_zp and zero_point.dtype not in (dtypes.int32, dtypes.int64):
        raise GraphcError(f"{what}: Zero-point must be Int32, Float or Half, found "
                          f"{zero_point.dtype}")
    if scale.ndim != 1 or zero_point.ndim != 1:
        raise GraphcError(f"{what}: scale and zero point should be 1-D tensors, got shapes "
                          f"{list(scale.shape)} and {list(zero_point.shape)}")
    if scale.shape != zero_point.shape:
        raise GraphcError(f"{what}: scale and zero-point need to have the same dimensions "
                          f"({list(scale.shape)} vs {list(zero_point.shape)})")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not 0 <= axis < x.ndim:
        raise GraphcError(f"{what}: `axis` must be between 0 and number of dimensions of input "
                          f"(got {axis} for input of shape {list(x.shape)})")
    if scale.shape[0] != x.shape[axis]:
        raise GraphcError(f"{what}: dimensions of scale and zero-point are not consistent with "
                          f"input tensor ({scale.shape[0]} values for size {x.shape[axis]} of "
                          f"axis {axis} of {list(x.shape)})")
    if float_zp:
        return _fq_float_zp(x, _channel_view(scale, x.ndim, int(axis)),
                            _channel_view(zero_point, x.ndim, int(axis)), quant_min, quant_max)
    if _eager_values(zero_point) and zero_point.numel():
        zmin, zmax = int(zero_point._data.min()), int(zero_point._data.max())
        if zmin < quant_min or zmax > quant_max:
            raise GraphcError(f"{what}: `zero_point` must be between `quant_min` and "
                              f"`quant_max` (got values in [{zmin}, {zmax}])")
    axis = int(axis)
    return _fq_core(x, _channel_view(scale, x.ndim, axis),
                    _channel_view(zero_point, x.ndim, axis), quant_min, quant_max,
                    per_channel=True)


def _learnable(x: Tensor, scale: Tensor, zero_point: Tensor, quant_min: int, quant_max: int,
               grad_factor: float, per_channel: bool, axis: int, what: str) -> Tensor:
    """torch's learnable fake quantization (LSQ): the forward with zero_point rounded (per
    tensor: nearbyint then clamp; per channel: round then clamp), gradients to x, scale and
    zero_point as torch's backward kernels define them (note: their x mask uses the zero point
    rounded as trunc(clamp(zp + 0.5)) per tensor, and nearbyint(zp + x * inv), which can differ
    from the forward's)."""
    x = _tensor(x)
    _check_float_input(x, what)
    quant_min, quant_max = _check_range(quant_min, quant_max, what)
    if x.dtype is not dtypes.float32 or scale.dtype is not dtypes.float32 or \
            zero_point.dtype is not dtypes.float32:
        raise GraphcError(f"{what}: input, scale and zero_point must be float32 (got {x.dtype}, "
                          f"{scale.dtype}, {zero_point.dtype})")
    if not quant_min <= 0 <= quant_max:
        raise GraphcError(f"{what}: `quant_min` should be <= 0 and `quant_max` >= 0 (got "
                          f"[{quant_min}, {quant_max}])")
    lo, hi = float(quant_min), float(quant_max)
    if per_channel:
        if scale.ndim != 1 or zero_point.shape != scale.shape or \
                not 0 <= axis < x.ndim or scale.shape[0] != x.shape[axis]:
            raise GraphcError(f"{what}: scale and zero_point must be 1-D with size(axis) = "
                              f"{x.shape[axis] if 0 <= axis < x.ndim else '?'} values (got "
                              f"{list(scale.shape)}, {list(zero_point.shape)}, axis {axis})")
        s, z = _channel_view(scale, x.ndim, axis), _channel_view(zero_point, x.ndim, axis)
        zd = z.detach()
        z_fwd = G.clamp(round_half_even(zd), lo, hi)
        z_bwd = z_fwd
    else:
        if scale.numel() != 1 or zero_point.numel() != 1:
            raise GraphcError(f"{what}: scale and zero_point must have one element each")
        s, z = G.reshape(scale, ()), G.reshape(zero_point, ())
        zd = z.detach()
        z_fwd = G.clamp(round_half_even(zd), lo, hi)
        z_bwd = G.clamp(zd + 0.5, lo, hi)
        z_bwd = G.where(z_bwd < 0, -apply("floor", -z_bwd), apply("floor", z_bwd))  # trunc
    xd, sd = x.detach(), s.detach()
    y = _fq_core(xd, sd, G.cast(z_fwd, dtypes.int64), quant_min, quant_max,
                 per_channel=per_channel)
    if not is_grad_enabled() or not (x.requires_grad or scale.requires_grad
                                     or zero_point.requires_grad):
        return y
    inv = 1.0 / sd
    p = xd * inv
    p = G.where(xd == xd, p, xd)  # noqa: PLR0124  (a select: keeps z + p from an FMA)
    q = round_half_even(z_bwd + p)
    q = G.where(G.abs(q) < _INT64_LIMIT, q, -_INT64_LIMIT)      # int64 conversion overflow
    inside = (q >= lo) & (q <= hi)
    qc = G.where(q < lo, lo, G.where(q > hi, hi, q))
    xfq = (qc - z_bwd) * sd
    gf = float(np.float32(grad_factor))
    d_scale = G.where(inside, (xfq - xd) * inv * gf,
                      G.where(q < lo, (lo - z_bwd) * gf, (hi - z_bwd) * gf))
    d_zp = G.where(inside, 0.0, -sd * gf)
    # value y; gradients: g * inside to x, g * d_scale to scale, g * d_zp to zero_point (the
    # added terms are exact zeros: t - stop_gradient(t) times a finite coefficient)
    y = _straight_through(y, x, xd, inside)
    return y + (s - sd) * d_scale.detach() + (z - zd) * d_zp.detach()


def _fake_quantize_learnable_per_tensor_affine(input, scale, zero_point, quant_min: int,
                                               quant_max: int, grad_factor: float = 1.0):
    """torch's learnable per-tensor fake quantization (scale, zero_point: float32 (1,) tensors
    that may require grad): forward as fake_quantize_per_tensor_affine with the zero point
    nearbyint-ed and clamped; the backward of torch's kernel (x: straight-through, scale and
    zero_point: LSQ's terms times grad_factor, summed over the elements). The sums add in
    graphc's order, so the scale/zero_point gradients agree with torch's to rounding."""
    return _learnable(input, scale, zero_point, quant_min, quant_max, grad_factor, False, 0,
                      "_fake_quantize_learnable_per_tensor_affine")


def _fake_quantize_learnable_per_channel_affine(input, scale, zero_point, axis: int,
                                                quant_min: int, quant_max: int,
                                                grad_factor: float = 1.0):
    """torch's learnable per-channel fake quantization (see the per-tensor one): scale and
    zero_point f32[C] along `axis`; the zero point is rounded half to even and clamped."""
    return _learnable(input, scale, zero_point, quant_min, quant_max, grad_factor, True, axis,
                      "_fake_quantize_learnable_per_channel_affine")


# ---- fbgemm's ChooseQuantizationParams, as graph ops ------------------------------------------

_SMALL_SCALE = float(np.float32(6.1e-5))     # fbgemm's SMALL_SCALE_THRESHOLD (a float)


def _f64(t: Tensor) -> Tensor:
    return G.cast(t, dtypes.float64)


def _f32(t: Tensor) -> Tensor:
    return G.cast(t, dtypes.float32)


def choose_qparams_fbgemm(min_val: Tensor, max_val: Tensor, qmin: int, qmax: int,
                          preserve_sparsity: bool) -> tuple[Tensor, Tensor]:
    """(scale f32, zero_point i32) per element of float32 min_val/max_val, as fbgemm's
    ChooseQuantizationParams (what torch's fused_moving_avg_obs_fake_quant calls): symmetric
    ranges when preserve_sparsity, double intermediate math, the 0.1 fallback for a zero or
    denormal scale, the 6.1e-5 small-scale rule and the zero point nudged from whichever of min
    and max gives the smaller rounding error. Elementwise and data-independent in Python."""
    mn, mx = _f32(min_val), _f32(max_val)
    rng = float(qmax - qmin)
    if preserve_sparsity:
        sym_qmin = -((qmax - qmin) // 2 + 1)
        sym_qmax = (qmax - qmin) // 2
        both = (mn < 0) & (mx > 0)
        a, b = G.abs(mn / float(sym_qmin)), G.abs(mx / float(sym_qmax))
        max_scale = G.where(a < b, b, a)                     # std::max(a, b)
        mn = G.where(both, _f32(_f64(max_scale) * float(sym_qmin)), mn)
        mx = G.where(both, _f32(_f64(max_scale) * float(sym_qmax)), mx)
    mn = G.where(mn > 0, 0.0, mn)                            # std::min(min, 0.f)
    mx = G.where(mx < 0, 0.0, mx)                            # std::max(max, 0.f)
    scale = _f32((_f64(mx) - _f64(mn)) / rng)
    bad = (scale == 0) | isinf(1.0 / scale)
    scale = G.where(bad, float(np.float32(0.1)), scale)
    small = scale < _SMALL_SCALE
    amp = _SMALL_SCALE / scale
    mn_s = G.where(mn == 0, mn, G.where(mx == 0, float(np.float32(-_SMALL_SCALE * rng)),
                                        mn * amp))
    mx_s = G.where(mn == 0, float(np.float32(_SMALL_SCALE * rng)),
                   G.where(mx == 0, mx, mx * amp))
    mn, mx = G.where(small, mn_s, mn), G.where(small, mx_s, mx)
    scale = G.where(small, _SMALL_SCALE, scale)
    s64 = _f64(scale)
    rmin, rmax = _f64(mn) / s64, _f64(mx) / s64
    zp_min, zp_max = float(qmin) - rmin, float(qmax) - rmax
    err_min, err_max = abs(qmin) + G.abs(rmin), abs(qmax) + G.abs(rmax)
    zp = G.where(err_min < err_max, zp_min, zp_max)
    if preserve_sparsity:
        zp = G.where((mn < 0) & (mx > 0), float(qmin + qmax) / 2, zp)
    zp = G.where(zp < qmin, float(qmin), G.where(zp > qmax, float(qmax), round_half_even(zp)))
    return scale, G.cast(zp, dtypes.int32)


def _aminmax_rows(x: Tensor, ch_axis: int | None) -> tuple[Tensor, Tensor]:
    """(min, max) of x over all elements (ch_axis None) or per slice along ch_axis."""
    if ch_axis is None:
        return G.amin(x), G.amax(x)
    perm = list(range(x.ndim))
    perm[0], perm[ch_axis] = ch_axis, 0
    y = G.reshape(G.permute(x, perm), (x.shape[ch_axis], -1))
    return G.amin(y, 1), G.amax(y, 1)


def moving_average(running: Tensor, cur: Tensor, c: float, first: Tensor) -> Tensor:
    """where(first, cur, running + c * (cur - running)), with torch's two float32 roundings: the
    product passes through a select (where(diff == diff, prod, diff) has prod's value: a NaN
    diff makes prod NaN too) so LLVM cannot contract it with the add into one fused
    multiply-add (the backend marks products `contract`)."""
    diff = cur - running
    prod = diff * float(np.float32(c))
    prod = G.where(diff == diff, prod, diff)  # noqa: PLR0124  (a select, not a test)
    return G.where(first, cur, running + prod)


def fused_moving_avg_obs_fake_quant(input, observer_on, fake_quant_on, running_min, running_max,
                                    scale, zero_point, averaging_const: float, quant_min: int,
                                    quant_max: int, ch_axis: int, per_row_fake_quant: bool = False,
                                    symmetric_quant: bool = False) -> Tensor:
    """torch.fused_moving_avg_obs_fake_quant: update running_min/max in place with a moving
    average (a running value that is +-inf takes the batch's), then, if fake quant is on,
    choose scale/zero_point with fbgemm's rule (stored in place) and fake-quantize the input;
    otherwise return the input unchanged. The flags are read at run time (compiled steps do not
    retrace when they change). Per-row (per-channel) buffers that are still empty are sized to
    input.size(ch_axis) first, as torch does."""
    what = "fused_moving_avg_obs_fake_quant"
    x = _tensor(input)
    _check_float_input(x, what)
    quant_min, quant_max = _check_range(quant_min, quant_max, what)
    if x.numel() == 0:
        return x.clone()
    if ch_axis >= x.ndim or (per_row_fake_quant and ch_axis < 0):
        raise GraphcError(f"{what}: ch_axis must be < self.dim() (got {ch_axis} for shape "
                          f"{list(x.shape)})")
    if per_row_fake_quant:
        c = x.shape[ch_axis]
        for buf, fill in ((running_min, np.inf), (running_max, -np.inf)):
            if buf.numel() == 0:
                resize_buffer(buf, (c,), fill)
        for buf, fill in ((scale, 1.0), (zero_point, 0)):
            if buf.shape != (c,):
                resize_buffer(buf, (c,), fill)
    obs = G.reshape(observer_on, ()) != 0 if observer_on.numel() == 1 else None
    fqon = G.reshape(fake_quant_on, ()) != 0 if fake_quant_on.numel() == 1 else None
    if obs is None or fqon is None:
        raise GraphcError(f"{what}: observer_on and fake_quant_on must have one element each")
    with no_grad():
        xd = x.detach()
        cur_min, cur_max = _aminmax_rows(_f32(xd), ch_axis if per_row_fake_quant else None)
        rmin = G.reshape(running_min, cur_min.shape)
        rmax = G.reshape(running_max, cur_max.shape)
        new_min = moving_average(rmin, cur_min, averaging_const, isinf(rmin))
        new_max = moving_average(rmax, cur_max, averaging_const, isinf(rmax))
        new_min, new_max = G.where(obs, new_min, rmin), G.where(obs, new_max, rmax)
        running_min.copy_(G.reshape(new_min, running_min.shape))
        running_max.copy_(G.reshape(new_max, running_max.shape))
        s, z = choose_qparams_fbgemm(new_min, new_max, quant_min, quant_max, symmetric_quant)
        s = G.where(fqon, G.reshape(s, scale.shape), scale)
        z = G.where(fqon, G.reshape(G.cast(z, zero_point.dtype), zero_point.shape), zero_point)
        scale.copy_(s)
        zero_point.copy_(z)
    if per_row_fake_quant:
        y = fake_quantize_per_channel_affine(x, scale, G.cast(zero_point, dtypes.int32),
                                             ch_axis, quant_min, quant_max)
    else:
        y = fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)
    return G.where(fqon, y, x)


def resize_buffer(buf: Tensor, shape: tuple, fill) -> None:
    """Give the buffer `buf` a new array of `shape` filled with `fill` (torch's resize_ of an
    observer's empty per-channel statistics). Decided by shapes only, so it is legal inside a
    trace, before the trace reads the buffer."""
    tr = tracing.current()
    if tr is not None and id(buf) in tr._lifted:
        raise GraphcError(f"cannot resize buffer of shape {list(buf.shape)} to {list(shape)} "
                          "after the compiled step used it; run one eager step first")
    buf._data = np.full(shape, fill, dtype=buf._data.dtype)
