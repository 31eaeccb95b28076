"""Convolutions with torch's semantics: F.conv1d/conv2d/conv_transpose1d/conv_transpose2d,
F.unfold/fold, and nn.Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d/Unfold/Fold.

Each is a composition of the unfold/fold primitives (graphc/ir/ops/conv.py) and a batched
matmul: conv = weights (G, O/G, C/G*kh*kw) @ unfold(x) viewed as (N, G, C/G*kh*kw, L), groups
as a batch axis; a transposed convolution is weights^T @ x, folded. So they run eagerly and
compiled, and their gradients are the matmul's and the fold's (the input gradient of a
convolution is a fold of W^T @ g, a transposed convolution; the weight gradient g @ cols^T).
1-D convolutions are 2-D ones over an (N, C, 1, L) view.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes
from .. import functions as G
from ..device import check_device
from ..errors import ShapeError
from ..shape_ops import pad as _pad
from ..tensor import Tensor, apply, check
from . import init
from .module import Module
from .parameter import Parameter

_PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n: int, what: str, name: str) -> tuple[int, ...]:
    """An int or a sequence of n ints as an n-tuple."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        out = tuple(v)
    except TypeError:
        out = None
    check(out is not None and len(out) == n and all(isinstance(d, (int, np.integer))
                                                    and not isinstance(d, bool) for d in out),
          f"{what}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return tuple(int(d) for d in out)


def _batched(x: Tensor, spatial: int, what: str) -> tuple[Tensor, bool]:
    """(x with a batch axis, whether one was added): torch takes unbatched (C, *spatial) too."""
    check(x.ndim in (spatial + 1, spatial + 2),
          f"{what}: Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, "
          f"but got input of size: {list(x.shape)}")
    return (G.unsqueeze(x, 0), True) if x.ndim == spatial + 1 else (x, False)


def _same_padding(kernel, dilation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """torch's padding='same': d*(k-1) in all, the smaller half before (the extra one after)."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


def _conv_padding(padding, kernel, dilation, stride, what: str):
    """(pad_lo, pad_hi) for an int/tuple/'same'/'valid' padding argument."""
    n = len(kernel)
    if isinstance(padding, str):
        check(padding in ("same", "valid"), f"{what}: Invalid padding string {padding!r}, "
                                            "should be one of ['valid', 'same']")
        if padding == "valid":
            return (0,) * n, (0,) * n
        check(all(s == 1 for s in stride),
              f"{what}: padding='same' is not supported for strided convolutions")
        return _same_padding(kernel, dilation)
    p = _ntuple(padding, n, what, "padding")
    check(all(v >= 0 for v in p), f"{what}: negative padding is not supported, got {p}")
    return p, p


def _check_pair(x: Tensor, weight: Tensor, bias, what: str, spatial: int) -> None:
    check(weight.ndim == spatial + 2,
          f"{what}: weight must be {spatial + 2}-D, got {weight.type} (input {x.type})")
    check(x.dtype.is_float, f"{what}: input {x.type} must be a float tensor (torch has no "
                            "integer convolution on CPU)")
    check(x.dtype == weight.dtype, f"{what}: Input type ({x.dtype}) and weight type "
                                   f"({weight.dtype}) should be the same")
    if bias is not None:
        check(bias.dtype == x.dtype, f"{what}: bias {bias.type} must have the input's dtype "
                                     f"{x.dtype}")


def _as2d(v: tuple[int, ...], fill: int) -> tuple[int, int]:
    return (fill, v[0]) if len(v) == 1 else v


def _convnd(x, weight, bias, stride, padding, dilation, groups, spatial: int,
            what: str) -> Tensor:
    x, weight = G._t(x), G._t(weight)
    bias = None if bias is None else G._t(bias)
    _check_pair(x, weight, bias, what, spatial)
    x, added = _batched(x, spatial, what)
    check(isinstance(groups, (int, np.integer)) and groups > 0,
          f"{what}: non-positive groups is not supported, got {groups!r}")
    out_c, cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    stride = _ntuple(stride, spatial, what, "stride")
    dilation = _ntuple(dilation, spatial, what, "dilation")
    check(all(s > 0 for s in stride), f"{what}: non-positive stride is not supported, "
                                      f"got {stride}")
    check(all(d > 0 for d in dilation), f"{what}: dilation should be greater than zero, "
                                        f"got {dilation}")
    lo, hi = _conv_padding(padding, kernel, dilation, stride, what)
    n, c = x.shape[:2]
    check(c == cg * groups,
          f"{what}: Given groups={groups}, weight of size {list(weight.shape)}, expected input"
          f"{list(x.shape)} to have {cg * groups} channels, but got {c} channels instead")
    check(out_c % groups == 0, f"{what}: Given groups={groups}, expected weight to be divisible "
                               f"by {groups} at dimension 0, but got weight of size "
                               f"{list(weight.shape)} instead")
    check(bias is None or tuple(bias.shape) == (out_c,),
          f"{what}: Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
          f"with {out_c} elements, but got bias of size {list(bias.shape) if bias is not None else None} "
          "instead")
    padded = [s + a + b for s, a, b in zip(x.shape[2:], lo, hi)]
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    check(all(p >= e for p, e in zip(padded, eff)),
          f"{what}: Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
          f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
          "actual input size")
    x4 = G.reshape(x, (n, c, 1) + tuple(x.shape[2:])) if spatial == 1 else x
    k2, d2, s2 = _as2d(kernel, 1), _as2d(dilation, 1), _as2d(stride, 1)
    lo2, hi2 = _as2d(lo, 0), _as2d(hi, 0)
    h, w = x4.shape[2:]
    ho = (h + lo2[0] + hi2[0] - d2[0] * (k2[0] - 1) - 1) // s2[0] + 1
    wo = (w + lo2[1] + hi2[1] - d2[1] * (k2[1] - 1) - 1) // s2[1] + 1
    # the whole batch's columns side by side, (C*kh*kw, N*L): one 2-D matmul per group for the
    # batch, and for the weight gradient one with K = N*L (see graphc/ir/ops/conv.py)
    cols = apply("unfold", x4, kernel=k2, dilation=d2, stride=s2, pad_lo=lo2, pad_hi=hi2,
                 batch_last=True)
    ck = cg * k2[0] * k2[1]
    if groups == 1:
        y = apply("matmul", G.reshape(weight, (out_c, ck)), cols)           # (O, N*L)
    else:
        y = apply("matmul", G.reshape(weight, (groups, out_c // groups, ck)),
                  G.reshape(cols, (groups, ck, n * ho * wo)))              # (G, O/G, N*L)
    if bias is not None:   # added before the reshape: it joins the matmul kernel's epilogue
        y = y + G.reshape(bias, y.shape[:-1] + (1,))
    y = G.transpose(G.reshape(y, (out_c, n, ho * wo)), 0, 1)             # (N, O, L)
    y = G.reshape(y, (n, out_c) + ((wo,) if spatial == 1 else (ho, wo)))
    return G.squeeze(y, 0) if added else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution (cross-correlation) of (N, C, L) or (C, L) input, as torch's."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C, H, W) or (C, H, W) input, as torch's."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _conv_transposend(x, weight, bias, stride, padding, output_padding, groups, dilation,
                      spatial: int, what: str) -> Tensor:
    x, weight = G._t(x), G._t(weight)
    bias = None if bias is None else G._t(bias)
    _check_pair(x, weight, bias, what, spatial)
    check(not isinstance(padding, str), f"{what}: padding must be an int or a tuple of ints "
                                        f"(no 'same'/'valid' for transposed convolutions)")
    x, added = _batched(x, spatial, what)
    check(isinstance(groups, (int, np.integer)) and groups > 0,
          f"{what}: non-positive groups is not supported, got {groups!r}")
    in_c, og = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    stride, padding, output_padding, dilation = (
        _ntuple(v, spatial, what, name) for v, name in
        ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"),
         (dilation, "dilation")))
    check(all(s > 0 for s in stride), f"{what}: non-positive stride is not supported, "
                                      f"got {stride}")
    check(all(d > 0 for d in dilation), f"{what}: dilation should be greater than zero, "
                                        f"got {dilation}")
    check(all(p >= 0 for p in padding), f"{what}: negative padding is not supported, "
                                        f"got {padding}")
    check(all(0 <= o < max(s, d) for o, s, d in zip(output_padding, stride, dilation)),
          f"{what}: output padding must be smaller than either stride or dilation, but got "
          f"output_padding {output_padding}, stride {stride}, dilation {dilation}")
    n, c = x.shape[:2]
    check(c == in_c, f"{what}: Given transposed=1, weight of size {list(weight.shape)}, expected "
                     f"input{list(x.shape)} to have {in_c} channels, but got {c} channels "
                     "instead")
    check(in_c % groups == 0, f"{what}: Given groups={groups}, expected weight to be divisible "
                              f"by {groups} at dimension 0, but got weight of size "
                              f"{list(weight.shape)} instead")
    out_c = og * groups
    check(bias is None or tuple(bias.shape) == (out_c,),
          f"{what}: Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
          f"1-dimensional with {out_c} elements, but got bias of size "
          f"{list(bias.shape) if bias is not None else None} instead")
    size = [(s_in - 1) * s - 2 * p + d * (k - 1) + o + 1 for s_in, s, p, d, k, o in
            zip(x.shape[2:], stride, padding, dilation, kernel, output_padding)]
    check(all(v > 0 for v in size), f"{what}: the output size {size} (input {list(x.shape)}, "
                                    f"kernel {list(kernel)}, stride {stride}, padding {padding}) "
                                    "is too small")
    # fold over the padded grid: padding before, padding - output_padding after; where the output
    # padding is larger, the fold stops at the last block and zeros are appended
    extra = [max(o - p, 0) for o, p in zip(output_padding, padding)]
    hi = [max(p - o, 0) for o, p in zip(output_padding, padding)]
    folded = [v - e for v, e in zip(size, extra)]
    k2, d2, s2 = _as2d(kernel, 1), _as2d(dilation, 1), _as2d(stride, 1)
    lo2, hi2, f2, e2 = _as2d(padding, 0), _as2d(tuple(hi), 0), _as2d(tuple(folded), 1), \
        _as2d(tuple(extra), 0)
    hw = math.prod(x.shape[2:])
    kk = k2[0] * k2[1]
    ig = in_c // groups
    if groups == 1:
        cols = apply("matmul", G.reshape(weight, (in_c, og * kk)), G.reshape(x, (n, in_c, hw)),
                     transpose_a=True)                                       # (N, O*K, HW)
    else:
        cols = apply("matmul", G.reshape(weight, (groups, ig, og * kk)),
                     G.reshape(x, (n, groups, ig, hw)), transpose_a=True)   # (N, G, O/G*K, HW)
        cols = G.reshape(cols, (n, out_c * kk, hw))
    y = apply("fold", cols, output_size=f2, kernel=k2, dilation=d2, stride=s2, pad_lo=lo2,
              pad_hi=hi2)
    if any(e2):
        y = apply("pad", y, lo=(0, 0, 0, 0), hi=(0, 0) + e2, interior=(0, 0, 0, 0))
    y = G.reshape(y, (n, out_c) + tuple(size))
    if bias is not None:
        y = y + G.reshape(bias, (out_c,) + (1,) * spatial)
    return G.squeeze(y, 0) if added else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1-D transposed convolution of (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, k)."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 1, "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution of (N, C_in, H, W) or (C_in, H, W); weight (C_in,
    C_out/groups, kh, kw)."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 2, "conv_transpose2d")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks of (N, C, H, W) or (C, H, W) as columns (N, C*kh*kw, L), as torch's."""
    what = "unfold"
    x = G._t(input)
    check(x.ndim in (3, 4), f"{what}: Input Error: Only 3D or 4D input Tensors are supported "
                            f"(got {x.ndim}D)")
    k, d, p, s = (_ntuple(v, 2, what, nm) for v, nm in ((kernel_size, "kernel_size"),
                                                         (dilation, "dilation"),
                                                         (padding, "padding"), (stride, "stride")))
    check(all(v > 0 for v in k + d + s) and all(v >= 0 for v in p),
          f"{what}: kernel_size, dilation and stride must be positive and padding non-negative, "
          f"got kernel_size={k}, dilation={d}, padding={p}, stride={s}")
    x4 = G.unsqueeze(x, 0) if x.ndim == 3 else x
    y = apply("unfold", x4, kernel=k, dilation=d, stride=s, pad_lo=p, pad_hi=p)
    return G.squeeze(y, 0) if x.ndim == 3 else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Columns (N, C*kh*kw, L) or (C*kh*kw, L) summed back into (N, C, *output_size)."""
    what = "fold"
    x = G._t(input)
    check(x.ndim in (2, 3), f"{what}: Input Error: Only unbatched (2D) or batched (3D) input "
                            f"Tensors are supported (got {x.ndim}D)")
    size, k, d, p, s = (_ntuple(v, 2, what, nm) for v, nm in (
        (output_size, "output_size"), (kernel_size, "kernel_size"), (dilation, "dilation"),
        (padding, "padding"), (stride, "stride")))
    x3 = G.unsqueeze(x, 0) if x.ndim == 2 else x
    y = apply("fold", x3, output_size=size, kernel=k, dilation=d, stride=s, pad_lo=p, pad_hi=p)
    return G.squeeze(y, 0) if x.ndim == 2 else y


# ---- modules ------------------------------------------------------------------------------------

def _fail(msg: str):
    raise ShapeError(msg)


class _ConvNd(Module):
    """What Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d share: torch's arguments, checks,
    parameters (weight (out, in/groups, *k), transposed (in, out/groups, *k)) and init."""

    _spatial = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None,
                 output_padding=0):
        super().__init__()
        check_device(device)
        n, name = self._spatial, type(self).__name__
        if not isinstance(groups, numbers.Integral) or groups <= 0:
            _fail("groups must be a positive integer")
        if not all(isinstance(v, numbers.Integral) and v > 0 for v in (in_channels, out_channels)):
            _fail(f"{name}: in_channels and out_channels must be positive integers, got "
                  f"{in_channels!r}, {out_channels!r}")
        if in_channels % groups:
            _fail("in_channels must be divisible by groups")
        if out_channels % groups:
            _fail("out_channels must be divisible by groups")
        kernel_size, stride, dilation = (_ntuple(v, n, name, nm) for v, nm in (
            (kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                _fail(f"Invalid padding string {padding!r}, should be one of ['valid', 'same']")
            if padding == "same" and any(s != 1 for s in stride):
                _fail("padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, n, name, "padding")
        if padding_mode not in _PAD_MODES:
            _fail(f"padding_mode must be one of {list(_PAD_MODES)}, but got "
                  f"padding_mode='{padding_mode}'")
        if self._transposed and padding_mode != "zeros":
            _fail(f'Only "zeros" padding mode is supported for {name}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = \
            kernel_size, stride, padding, dilation
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, n, name, "output_padding")
        self.groups, self.padding_mode = groups, padding_mode
        if isinstance(padding, str):
            lo, hi = _same_padding(kernel_size, dilation) if padding == "same" else \
                ((0,) * n, (0,) * n)
        else:
            lo, hi = padding, padding
        # F.pad's order: the last dim first, (before, after) each (torch's attribute name)
        rev = [v for d in reversed(range(n)) for v in (lo[d], hi[d])]
        self._reversed_padding_repeated_twice = rev if isinstance(padding, str) else tuple(rev)
        shape = (in_channels, out_channels // groups) if self._transposed else \
            (out_channels, in_channels // groups)
        np_dt = dtypes.as_dtype(dtypes.float32 if dtype is None else dtype).np
        self.weight = Parameter(np.empty(shape + kernel_size, np_dt))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), np_dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        """torch's: channels, kernel_size, stride, and the arguments that differ from default."""
        n = self._spatial
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def _conv_forward(self, input, weight, bias):
        fn = conv1d if self._spatial == 1 else conv2d
        if self.padding_mode != "zeros":
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            return fn(_pad(input, self._reversed_padding_repeated_twice, mode=mode), weight,
                      bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        """The convolution of input with self.weight (+ self.bias)."""
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) or (C_in, L), as torch.nn.Conv1d."""
    _spatial = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W), as torch.nn.Conv2d."""
    _spatial = 2


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            _fail(f"{type(self).__name__}: padding must be an int or a tuple of ints, got "
                  f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def _output_padding(self, input, output_size) -> tuple[int, ...]:
        """output_padding, or the one that gives `output_size` (torch's rule and range check)."""
        n = self._spatial
        if output_size is None:
            return self.output_padding
        output_size = list(output_size)
        lead = 2 if input.ndim == n + 2 else 1
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            _fail(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or "
                  f"{n + lead} elements (got {len(output_size)})")
        mins = [(input.shape[d + lead] - 1) * self.stride[d] - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        maxs = [m + s - 1 for m, s in zip(mins, self.stride)]
        for size, lo, hi in zip(output_size, mins, maxs):
            if size < lo or size > hi:
                _fail(f"requested an output size of {output_size}, but valid sizes range from "
                      f"{mins} to {maxs} (for an input of {list(input.shape[lead:])})")
        return tuple(int(s) - m for s, m in zip(output_size, mins))

    def forward(self, input, output_size=None):
        """The transposed convolution of input (output_size= picks the output padding)."""
        fn = conv_transpose1d if self._spatial == 1 else conv_transpose2d
        op = self._output_padding(G._t(input), output_size)
        return fn(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                  self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution, as torch.nn.ConvTranspose1d."""
    _spatial = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution, as torch.nn.ConvTranspose2d."""
    _spatial = 2


class Unfold(Module):
    """F.unfold as a module (torch.nn.Unfold)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = \
            kernel_size, dilation, padding, stride

    def forward(self, input):
        """The sliding blocks of input as columns."""
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        """torch's repr arguments."""
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, " \
               f"padding={self.padding}, stride={self.stride}"


class Fold(Module):
    """F.fold as a module (torch.nn.Fold)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size, self.dilation, self.padding, self.stride = \
            output_size, kernel_size, dilation, padding, stride

    def forward(self, input):
        """Columns summed back into images."""
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self) -> str:
        """torch's repr arguments."""
        return f"output_size={self.output_size}, kernel_size={self.kernel_size}, " \
               f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
