"""Convolution's two primitives: `unfold` (im2col) and `fold` (col2im), each the other's gradient.

- `unfold[kernel, dilation, stride, pad_lo, pad_hi](x)`: x (N, C, H, W) -> (N, C*kh*kw, L), the
  sliding (kh, kw) blocks of x as columns, torch.nn.functional.unfold's layout (row c*kh*kw +
  i*kw + j holds channel c at kernel offset (i, j); column l = oh*Wo + ow), with zero padding
  pad_lo before and pad_hi after each spatial axis (asymmetric, for padding="same" with an even
  kernel). L = Ho*Wo, Ho = (H + pad_lo + pad_hi - dilation*(kh-1) - 1) // stride + 1.
- `fold[output_size, kernel, dilation, stride, pad_lo, pad_hi](cols)`: the adjoint, (N, C*kh*kw,
  L) -> (N, C, H, W) with (H, W) = output_size: every column is added back at its block's
  place; overlapping entries are summed in kernel-offset order (i, then j, ascending, from 0),
  the same order on every backend, so the results agree bit for bit.
- `batch_last=True` (both): the columns are (C*kh*kw, N*L) instead, column n*L + l holding image
  n's block l. Then a convolution of the whole batch is ONE 2-D matmul, W (O, C*kh*kw) @ cols,
  and its weight gradient one matmul with K = N*L (the batch folded into the sum), rather than
  N small products and a sum over them.

Convolutions are compositions (graphc/nn/convolution.py): unfold, a batched matmul with the
weights (groups as a batch axis), a bias add; a transposed convolution is a matmul and a fold.
1-D convolutions use H = 1.
"""
from __future__ import annotations

import numpy as np

from ..graph import tensor_type
from .registry import Fusion, int_tuple, register, require

_GEOM = ("kernel", "dilation", "stride", "pad_lo", "pad_hi")


def blocks(size: int, k: int, d: int, s: int, lo: int, hi: int) -> int:
    """How many positions a kernel of k taps, dilation d, stride s takes along an axis of
    `size` padded by lo and hi (0 or less: the kernel does not fit)."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1 if size + lo + hi >= d * (k - 1) + 1 else 0


def _geometry(attrs, op: str):
    """The five 2-tuples of geometry attrs, checked."""
    g = {k: int_tuple(attrs, k) for k in _GEOM}
    require(all(len(v) == 2 for v in g.values()), f"{op}: {', '.join(_GEOM)} must be pairs, "
                                                  f"got {g}")
    require(all(v > 0 for k in ("kernel", "dilation", "stride") for v in g[k]),
            f"{op}: kernel, dilation and stride must be positive, got {g}")
    require(all(v >= 0 for k in ("pad_lo", "pad_hi") for v in g[k]),
            f"{op}: padding must be non-negative, got {g}")
    return g


def _grid(spatial, g, op: str) -> tuple[int, int]:
    """(Ho, Wo): the block grid over `spatial` (H, W); a kernel that does not fit is an error."""
    out = tuple(blocks(n, *(g[k][a] for k in _GEOM)) for a, n in enumerate(spatial))
    require(all(o > 0 for o in out),
            f"{op}: the {g['kernel'][0]}x{g['kernel'][1]} kernel (dilation {g['dilation']}, "
            f"padding {g['pad_lo']}/{g['pad_hi']}) does not fit the input of spatial size "
            f"{list(spatial)}")
    return out


def _unfold_infer(types, attrs):
    (t,) = types
    require(t.ndim == 4, f"unfold needs an (N, C, H, W) operand, got {t}")
    require(not t.dtype.is_bool, f"unfold of a bool tensor {t}")
    g = _geometry(attrs, "unfold")
    ho, wo = _grid(t.shape[2:], g, "unfold")
    kh, kw = g["kernel"]
    n, ck = t.shape[0], t.shape[1] * kh * kw
    return tensor_type((ck, n * ho * wo) if attrs.get("batch_last") else (n, ck, ho * wo),
                       t.dtype)


def batch_last_cols(cols: np.ndarray, n: int) -> np.ndarray:
    """(N, CK, L) columns as (CK, N*L)."""
    return np.ascontiguousarray(cols.transpose(1, 0, 2)).reshape(cols.shape[1], -1)


def batch_first_cols(cols: np.ndarray, n: int) -> np.ndarray:
    """(CK, N*L) columns as (N, CK, L)."""
    return np.ascontiguousarray(cols.reshape(cols.shape[0], n, -1).transpose(1, 0, 2))


def _offsets(g, grid):
    """For each kernel offset (i, j) in order: its row index and the padded-input slices."""
    (kh, kw), (dh, dw), (sh, sw) = g["kernel"], g["dilation"], g["stride"]
    ho, wo = grid
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                               slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _padded_shape(spatial, g):
    return tuple(n + lo + hi for n, lo, hi in zip(spatial, g["pad_lo"], g["pad_hi"]))


def _unfold_ref(x, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False):
    g = {"kernel": kernel, "dilation": dilation, "stride": stride, "pad_lo": pad_lo,
         "pad_hi": pad_hi}
    n, c = x.shape[:2]
    grid = _grid(x.shape[2:], g, "unfold")
    xp = np.zeros((n, c) + _padded_shape(x.shape[2:], g), x.dtype)
    xp[:, :, pad_lo[0]:pad_lo[0] + x.shape[2], pad_lo[1]:pad_lo[1] + x.shape[3]] = x
    k = kernel[0] * kernel[1]
    out = np.empty((n, c, k) + grid, x.dtype)
    for r, (si, sj) in _offsets(g, grid):
        out[:, :, r] = xp[:, :, si, sj]
    out = out.reshape(n, c * k, grid[0] * grid[1])
    return batch_last_cols(out, n) if batch_last else out


def _unfold_vjp(b, g, x, out, batch_last=False, **geom):
    if batch_last:
        geom = dict(geom, batch_last=True, batch=x.shape[0])
    return (b.fold(g, output_size=tuple(x.shape[2:]), **geom),)


def _fold_infer(types, attrs):
    (t,) = types
    last = bool(attrs.get("batch_last"))
    require(not t.dtype.is_bool, f"fold of a bool tensor {t}")
    g = _geometry(attrs, "fold")
    size = int_tuple(attrs, "output_size")
    require(len(size) == 2 and all(v > 0 for v in size),
            f"fold: output_size must be two positive ints, got {list(size)}")
    kh, kw = g["kernel"]
    ho, wo = _grid(size, g, "fold")
    if last:
        require(t.ndim == 2 and "batch" in attrs,
                f"fold[batch_last] needs a (C*kh*kw, N*L) operand and a batch attr, got {t}")
        n = int(attrs["batch"])
        require(n > 0 and t.shape[1] == n * ho * wo,
                f"fold: {t} has {t.shape[1]} columns, but batch {n} with output_size "
                f"{list(size)} and this kernel, dilation, stride and padding has "
                f"{n}*{ho}*{wo} = {n * ho * wo}")
        ck = t.shape[0]
    else:
        require(t.ndim == 3, f"fold needs an (N, C*kh*kw, L) operand, got {t}")
        require(t.shape[2] == ho * wo,
                f"fold: {t} has {t.shape[2]} blocks, but output_size {list(size)} with this "
                f"kernel, dilation, stride and padding has {ho}*{wo} = {ho * wo}")
        n, ck = t.shape[:2]
    require(ck % (kh * kw) == 0,
            f"fold: the {ck} rows of {t} must be divisible by the kernel's {kh}*{kw} = "
            f"{kh * kw} taps")
    return tensor_type((n, ck // (kh * kw)) + size, t.dtype)


def _fold_ref(cols, output_size, kernel, dilation, stride, pad_lo, pad_hi, batch_last=False,
              batch=None):
    g = {"kernel": kernel, "dilation": dilation, "stride": stride, "pad_lo": pad_lo,
         "pad_hi": pad_hi}
    if batch_last:
        cols = batch_first_cols(cols, batch)
    n, ck, _ = cols.shape
    k = kernel[0] * kernel[1]
    c = ck // k
    grid = _grid(output_size, g, "fold")
    blocks_ = cols.reshape(n, c, k, *grid)
    outp = np.zeros((n, c) + _padded_shape(output_size, g), cols.dtype)
    for r, (si, sj) in _offsets(g, grid):   # kernel-offset order: the sums' fixed order
        outp[:, :, si, sj] += blocks_[:, :, r]
    h, w = output_size
    return np.ascontiguousarray(outp[:, :, pad_lo[0]:pad_lo[0] + h, pad_lo[1]:pad_lo[1] + w])


def _fold_vjp(b, g, cols, out, output_size, batch_last=False, batch=None, **geom):
    return (b.unfold(g, **(dict(geom, batch_last=True) if batch_last else geom)),)


def _geom(k=(3, 3), d=(1, 1), s=(1, 1), lo=(0, 0), hi=(0, 0)):
    return {"kernel": k, "dilation": d, "stride": s, "pad_lo": lo, "pad_hi": hi}


register("unfold", "shape", _unfold_infer, _unfold_ref, [
    ([("f32", (2, 3, 5, 6), "any")], _geom()),
    ([("f32", (1, 2, 7, 8), "any")], _geom((2, 3), (2, 1), (2, 3), (1, 2), (1, 0))),
    ([("f64", (2, 1, 1, 9), "any")], _geom((1, 3), (1, 2), (1, 2), (0, 2), (0, 1))),  # 1-D
    ([("f32", (1, 3, 4, 4), "any")], _geom((1, 1))),
    ([("i64", (1, 2, 4, 5), "int:9")], _geom((2, 2), lo=(1, 1), hi=(1, 1))),
    ([("f32", (3, 2, 5, 6), "any")], {**_geom(), "batch_last": True}),
    ([("f64", (2, 3, 7, 8), "any")], {**_geom((2, 3), (2, 1), (2, 3), (1, 2), (1, 0)),
                                      "batch_last": True}),
], _unfold_vjp, doc="im2col: the sliding blocks of an (N, C, H, W) tensor as columns",
   fusion=Fusion.PACK)

register("fold", "shape", _fold_infer, _fold_ref, [
    ([("f32", (2, 27, 12), "any")], {"output_size": (5, 6), **_geom()}),
    ([("f32", (1, 12, 12), "any")],
     {"output_size": (7, 8), **_geom((2, 3), (2, 1), (2, 3), (1, 2), (1, 0))}),
    ([("f64", (2, 3, 4), "any")],
     {"output_size": (1, 9), **_geom((1, 3), (1, 2), (1, 2), (0, 2), (0, 1))}),
    ([("f32", (1, 8, 16), "any")], {"output_size": (3, 3), **_geom((2, 2), lo=(1, 1),
                                                                    hi=(1, 1))}),
    ([("i64", (1, 8, 30), "int:9")], {"output_size": (4, 5), **_geom((2, 2), lo=(1, 1),
                                                                     hi=(1, 1))}),
    ([("f32", (18, 36), "any")], {"output_size": (5, 6), **_geom(), "batch_last": True,
                                  "batch": 3}),
    ([("f64", (18, 24), "any")], {"output_size": (7, 8), "batch_last": True, "batch": 2,
                                  **_geom((2, 3), (2, 1), (2, 3), (1, 2), (1, 0))}),
], _fold_vjp, doc="col2im: blocks added back at their places (the adjoint of unfold)")
