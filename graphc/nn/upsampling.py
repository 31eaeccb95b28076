"""Resampling and padding layers with torch's semantics: F.interpolate (nearest, nearest-exact,
linear/bilinear/trilinear with align_corners, area), F.pixel_shuffle / pixel_unshuffle and
nn.Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle, PixelUnshuffle and the
padding modules (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad 1d/2d/3d).

Interpolation is separable: each spatial axis (the last first, as torch's loops nest) is one
`take` of constant source indices (nearest) or two takes blended with constant weights
(linear); the indices and weights are computed on the host with torch's formulas in torch's
arithmetic (float32 for float32 inputs), so the sampled positions are torch's exactly. The
gradients are the takes' scatter-adds.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import functions as G
from ..errors import NotSupportedError
from ..shape_ops import index_select
from ..shape_ops import pad as _pad
from ..tensor import Tensor, check
from .normalization import Retracing  # a Module whose attributes compiled calls guard

__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_bilinear",
           "upsample_nearest"]

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_LINEAR = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _along(v: np.ndarray, axis: int, ndim: int) -> Tensor:
    shape = [1] * ndim
    shape[axis] = len(v)
    return G.tensor(np.ascontiguousarray(v.reshape(shape)))


def _nearest_index(n_in: int, n_out: int, scale, exact: bool) -> np.ndarray:
    """torch's nearest / nearest-exact source indices (float32 arithmetic as its kernels)."""
    o = np.arange(n_out, dtype=np.int64)
    if not exact and n_out == n_in:
        return o
    if not exact and n_out == 2 * n_in:
        return o >> 1
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else \
        np.float32(n_in) / np.float32(n_out)
    pos = (o.astype(np.float32) + np.float32(0.5)) * s if exact else o.astype(np.float32) * s
    return np.minimum(np.floor(pos).astype(np.int64), n_in - 1)


def _linear_weights(n_in: int, n_out: int, scale, align_corners: bool, np_dt):
    """(i0, i1, lambda0, lambda1) of torch's linear interpolation along one axis, computed in
    torch's opmath type (float32 for float32, float64 for float64)."""
    t = np.dtype(np_dt).type
    o = np.arange(n_out).astype(np_dt)
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = s * o
    else:
        s = t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)
        src = np.maximum(s * (o + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.minimum(np.maximum(src - i0.astype(np_dt), t(0)), t(1)).astype(np_dt)
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, (t(1) - lam).astype(np_dt), lam


def _spatial_args(x: Tensor, size, scale_factor, recompute_scale_factor, mode: str):
    """torch's interpolate argument rules: (output sizes, scales passed to the kernel)."""
    dim = x.ndim - 2
    if size is not None and scale_factor is not None:
        check(False, "interpolate: only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            check(len(size) == dim, f"interpolate: Input and output must have the same number of "
                                    f"spatial dimensions, but got input with spatial dimensions "
                                    f"of {list(x.shape[2:])} and output size of {size}. Please "
                                    "provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                    "output size in (o1, o2, ...,oK) format.")
            out = [int(s) for s in size]
        else:
            out = [int(size)] * dim
        scales = [None] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            check(len(scale_factor) == dim,
                  f"interpolate: Input and scale_factor must have the same number of spatial "
                  f"dimensions, but got input with spatial dimensions of {list(x.shape[2:])} and "
                  f"scale_factor of shape {scale_factor}. Please provide input tensor in (N, C, "
                  "d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        out = None
    else:
        check(False, "interpolate: either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        check(False, "interpolate: recompute_scale_factor is not meaningful with an explicit "
                     "size.")
    if mode == "area" and out is None:
        recompute_scale_factor = True
    if out is None:
        out = [math.floor(float(x.shape[i + 2]) * scales[i]) for i in range(dim)]
        if recompute_scale_factor:
            scales = [None] * dim
    if any(o <= 0 for o in out) or any(s <= 0 for s in x.shape[2:]):
        names = "DHW"[3 - dim:]
        check(False, "interpolate: Input and output sizes should be greater than 0, but got "
                     f"input ({', '.join(f'{a}: {b}' for a, b in zip(names, x.shape[2:]))}) "
                     f"output ({', '.join(f'{a}: {b}' for a, b in zip(names, out))})")
    return out, scales


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resample (N, C, *spatial) input as torch.nn.functional.interpolate: modes 'nearest',
    'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'trilinear' (5-D) with align_corners,
    and 'area' (adaptive average pooling, 3-D and 4-D); size or scale_factor, torch's
    recompute_scale_factor rule."""
    x = G._t(input)
    if mode not in _MODES or x.ndim not in (3, 4, 5):
        check(False, f"interpolate: Input Error: Only 3D, 4D and 5D input Tensors supported (got "
                     f"{x.ndim}D) for the modes: nearest | linear | bilinear | bicubic | "
                     f"trilinear | lanczos | area | nearest-exact (got {mode})")
    if mode in ("nearest", "area", "nearest-exact"):
        check(align_corners is None, "interpolate: align_corners option can only be set with the "
                                     "interpolating modes: linear | bilinear | bicubic | "
                                     "trilinear")
    elif align_corners is None:
        align_corners = False
    if mode in _LINEAR:
        check(x.ndim == _LINEAR[mode], f"interpolate: Got {x.ndim}D input, but {mode} mode "
                                       f"needs {_LINEAR[mode]}D input")
    if mode == "bicubic" or antialias:
        raise NotSupportedError(f"interpolate: mode={mode!r}, antialias={antialias} is not "
                                "supported yet (nearest, nearest-exact, linear, bilinear, "
                                "trilinear and area are)")
    check(x.dtype.is_float or mode.startswith("nearest"),
          f"interpolate: mode {mode!r} needs a floating-point input, got {x.dtype}")
    out, scales = _spatial_args(x, size, scale_factor, recompute_scale_factor, mode)
    dim = x.ndim - 2
    if mode == "area":
        from . import pooling
        check(dim <= 2, "interpolate: mode 'area' supports 3-D and 4-D input")
        fn = pooling.adaptive_avg_pool1d if dim == 1 else pooling.adaptive_avg_pool2d
        return fn(x, tuple(out))
    for i in reversed(range(dim)):
        axis, n_in, n_out = 2 + i, x.shape[2 + i], out[i]
        if mode.startswith("nearest"):
            idx = _nearest_index(n_in, n_out, scales[i], mode == "nearest-exact")
            if not np.array_equal(idx, np.arange(n_in)):
                x = index_select(x, axis, G.tensor(idx))
            continue
        i0, i1, l0, l1 = _linear_weights(n_in, n_out, scales[i], align_corners, x.dtype.np)
        x0 = index_select(x, axis, G.tensor(i0))
        x1 = index_select(x, axis, G.tensor(i1))
        x = x0 * _along(l0, axis, x.ndim) + x1 * _along(l1, axis, x.ndim)
    return x


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """The deprecated alias of interpolate, as torch.nn.functional.upsample."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """interpolate(..., mode='nearest'), as torch.nn.functional.upsample_nearest."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """interpolate(..., mode='bilinear', align_corners=True), as torch's (deprecated) alias."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _factor(r, name: str, what: str) -> int:
    check(isinstance(r, numbers.Integral) and not isinstance(r, bool) and r > 0,
          f"{what}: {name} must be greater than 0, but got: {r!r}")
    return int(r)


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), as torch.nn.functional.pixel_shuffle."""
    x = G._t(input)
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    check(x.ndim >= 3, f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                       f"input with {x.ndim} dimension(s)")
    c, h, w = x.shape[-3:]
    check(c % (r * r) == 0, f"pixel_shuffle expects its input's 'channel' dimension to be "
                            f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                            f"is not divisible by {r * r}")
    lead = x.shape[:-3]
    b = len(lead)
    y = G.reshape(x, lead + (c // (r * r), r, r, h, w))
    y = G.permute(y, tuple(range(b)) + (b, b + 3, b + 1, b + 4, b + 2))
    return G.reshape(y, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), as torch.nn.functional.pixel_unshuffle."""
    x = G._t(input)
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    check(x.ndim >= 3, f"pixel_unshuffle expects input to have at least 3 dimensions, but got "
                       f"input with {x.ndim} dimension(s)")
    c, h, w = x.shape[-3:]
    check(h % r == 0, f"pixel_unshuffle expects height to be divisible by downscale_factor, but "
                      f"input.size(-2)={h} is not divisible by {r}")
    check(w % r == 0, f"pixel_unshuffle expects width to be divisible by downscale_factor, but "
                      f"input.size(-1)={w} is not divisible by {r}")
    lead = x.shape[:-3]
    b = len(lead)
    y = G.reshape(x, lead + (c, h // r, r, w // r, r))
    y = G.permute(y, tuple(range(b)) + (b, b + 2, b + 4, b + 1, b + 3))
    return G.reshape(y, lead + (c * r * r, h // r, w // r))


# ---- modules --------------------------------------------------------------------------------------

class Upsample(Retracing):
    """Resampling with F.interpolate's arguments, as torch.nn.Upsample."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        """interpolate(input) with this module's settings."""
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        info = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2-D upsampling, as torch.nn.UpsamplingNearest2d."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2-D upsampling with align_corners=True, as torch.nn.UpsamplingBilinear2d."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Retracing):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), as torch.nn.PixelShuffle."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        """pixel_shuffle(input, upscale_factor)."""
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Retracing):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), as torch.nn.PixelUnshuffle."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        """pixel_unshuffle(input, downscale_factor)."""
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"downscale_factor={self.downscale_factor}"


def _pads(padding, n: int, what: str) -> tuple[int, ...]:
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        return (int(padding),) * (2 * n)
    out = tuple(padding)
    check(len(out) == 2 * n and all(isinstance(p, numbers.Integral) for p in out),
          f"{what}: padding must be an int or a tuple of {2 * n} ints, got {padding!r}")
    return tuple(int(p) for p in out)


class _PadNd(Retracing):
    _n = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _pads(padding, self._n, type(self).__name__)

    def forward(self, input):
        """input padded by self.padding (pairs from the last dim backwards)."""
        x = G._t(input)
        if self._mode != "constant":
            check(x.ndim in (self._n + 1, self._n + 2),
                  f"{type(self).__name__}: Padding size {2 * self._n} is not supported for "
                  f"{x.ndim}D input tensor (it takes {self._n + 1}D or {self._n + 2}D input)")
        return _pad(x, self.padding, self._mode, getattr(self, "value", None))

    def extra_repr(self) -> str:
        """The padding, as torch prints it."""
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def extra_repr(self) -> str:
        """The padding and value, as torch prints them."""
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        """The padding, as torch prints it."""
        return f"{self.padding}"


def _pad_module(base, n: int, mode: str, name: str, doc: str):
    return type(name, (base,), {"_n": n, "_mode": mode, "__doc__": doc,
                                "__module__": __name__})


_KIND = {"constant": _ConstantPadNd, "zeros": _ZeroPadNd, "reflect": _PadNd,
         "replicate": _PadNd, "circular": _PadNd}
for _n in (1, 2, 3):
    for _prefix, _mode in (("Constant", "constant"), ("Zero", "zeros"), ("Reflection", "reflect"),
                           ("Replication", "replicate"), ("Circular", "circular")):
        _name = f"{_prefix}Pad{_n}d"
        globals()[_name] = _pad_module(_KIND[_mode], _n, "constant" if _mode == "zeros" else _mode,
                                       _name, f"{_n}-D {_mode} padding, as torch.nn.{_name}.")
del _n, _prefix, _mode, _name
