"""Max pooling's primitive: `max_pool_index`, where each window's maximum is.

`max_pool_index[kernel, dilation, stride, padding, out](x)`: x (*lead, H, W) float ->
int64 (*lead, Ho*Wo), for each output position (oh, ow) = `out` grid the flat index ih*W + iw
of the window element PyTorch's CPU max-pool picks (aten/native/cpu/MaxPoolKernel.cpp): the
window's rows ih = oh*sh - ph + i*dh and columns iw = ow*sw - pw + j*dw, clipped to the input,
are read in row-major order, and an element replaces the best so far when it is greater or NaN
(the best starts at -inf, its index at the window's first valid element). So the first maximum
wins a tie and the last NaN wins. `out` is given (not derived) because ceil_mode changes it.

max_pool2d is `gather(x viewed (*lead, H*W), index)`, so its gradient is gather's (a
scatter-add of the cotangent at the indices, deterministic) and return_indices returns the index
itself, PyTorch's indices. The index carries no gradient.
"""
from __future__ import annotations

import numpy as np

from ..graph import tensor_type
from .registry import NONDIFF, int_tuple, register, require

GEOMETRY = ("kernel", "dilation", "stride", "padding", "out")


def geometry(attrs) -> dict:
    """The five (h, w) pairs of a max_pool_index node, checked."""
    g = {k: int_tuple(attrs, k) for k in GEOMETRY}
    require(all(len(v) == 2 for v in g.values()),
            f"max_pool_index: {', '.join(GEOMETRY)} must be pairs, got {g}")
    require(all(v > 0 for k in ("kernel", "dilation", "stride", "out") for v in g[k]),
            f"max_pool_index: kernel, dilation, stride and out must be positive, got {g}")
    require(all(0 <= p <= ((k - 1) * d + 1) // 2
                for p, k, d in zip(g["padding"], g["kernel"], g["dilation"])),
            f"max_pool_index: padding {g['padding']} must be at most half the effective kernel "
            f"(kernel {g['kernel']}, dilation {g['dilation']})")
    return g


def windows_fit(size: int, n_out: int, k: int, stride: int, pad: int, dilation: int) -> bool:
    """Whether each of the n_out windows along an axis of `size` holds an input element."""
    return all(window_start(o, stride, pad, dilation) < min(size, o * stride - pad +
                                                             (k - 1) * dilation + 1)
               for o in range(n_out))


def window_start(o: int, stride: int, pad: int, dilation: int) -> int:
    """The first in-bounds row (column) of output position o's window (may exceed the input)."""
    start = o * stride - pad
    return start + -(-max(0, -start) // dilation) * dilation


def _infer(types, attrs):
    (x,) = types
    require(x.ndim >= 2, f"max_pool_index needs an (..., H, W) operand, got {x}")
    require(not x.dtype.is_bool, f"max_pool_index needs a numeric operand, got {x}")
    g = geometry(attrs)
    for a in range(2):
        size, o = x.shape[x.ndim - 2 + a], g["out"][a]
        require(windows_fit(size, o, *(g[k][a] for k in ("kernel", "stride", "padding",
                                                          "dilation"))),
                f"max_pool_index: a window of the {o} along axis {a} holds no element of {x}")
    return tensor_type(x.shape[:-2] + (g["out"][0] * g["out"][1],), dtype="int64")


def _ref(x, kernel, dilation, stride, padding, out):
    h, w = x.shape[-2:]
    ho, wo = out
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min   # integers: quantized
    best = np.full(x.shape[:-2] + (ho, wo), lowest, x.dtype)
    first = []
    for a, (size, n) in enumerate(((h, ho), (w, wo))):
        first.append(np.array([window_start(o, stride[a], padding[a], dilation[a])
                               for o in range(n)]))
    index = np.broadcast_to(first[0][:, None] * w + first[1][None, :], best.shape).copy()
    for i in range(kernel[0]):
        ih = np.arange(ho) * stride[0] - padding[0] + i * dilation[0]
        for j in range(kernel[1]):
            iw = np.arange(wo) * stride[1] - padding[1] + j * dilation[1]
            ok = ((ih >= 0) & (ih < h))[:, None] & ((iw >= 0) & (iw < w))[None, :]
            v = x[..., np.clip(ih, 0, h - 1)[:, None], np.clip(iw, 0, w - 1)[None, :]]
            with np.errstate(invalid="ignore"):
                take = ok & ((v > best) | np.isnan(v))
            best = np.where(take, v, best)
            index = np.where(take, ih[:, None] * w + iw[None, :], index)
    return np.ascontiguousarray(index.reshape(x.shape[:-2] + (ho * wo,)), dtype=np.int64)


def _geom(k=(2, 2), d=(1, 1), s=(2, 2), p=(0, 0), out=(2, 3)):
    return {"kernel": k, "dilation": d, "stride": s, "padding": p, "out": out}


SAMPLES = [
    ([("f32", (2, 3, 4, 6), "any")], _geom()),
    ([("f32", (1, 2, 7, 8), "any")], _geom((3, 3), (1, 1), (2, 2), (1, 1), (4, 4))),
    ([("f64", (2, 5, 9), "any")], _geom((2, 3), (2, 2), (1, 3), (0, 1), (3, 3))),
    ([("f32", (3, 1, 10), "any")], _geom((1, 3), (1, 1), (1, 2), (0, 1), (1, 5))),  # 1-D
    ([("f32", (2, 2, 5, 5), "any")], _geom((2, 2), (1, 1), (2, 2), (0, 0), (3, 3))),  # ceil
    ([("u8", (2, 3, 4, 6), "int:256")], _geom()),            # quantized activations
    ([("i8", (1, 2, 7, 8), "int:100")], _geom((3, 3), (1, 1), (2, 2), (1, 1), (4, 4))),

]
register("max_pool_index", "index", _infer, _ref, SAMPLES, NONDIFF,
         doc="the flat index of each max-pool window's maximum (PyTorch's rule and indices)",
         index_range=lambda n: (0, n.inputs[0].shape[-2] * n.inputs[0].shape[-1]))


# ---- values only: inference ------------------------------------------------------------------------
# `max_pool[kernel, dilation, stride, padding, out](x)`: x (*lead, H, W) -> x.dtype
# (*lead, Ho, Wo), each window's value at max_pool_index's index (the same rule, so the same
# bits, NaN included). The simplifier makes it from gather(x, max_pool_index(x)) when nothing else
# reads the index (an inference graph: a training graph's backward scatters at the index).

def _values_infer(types, attrs):
    t = _infer(types, attrs)
    g = geometry(attrs)
    return tensor_type(t.shape[:-1] + tuple(g["out"]), dtype=types[0].dtype)


def _values_ref(x, kernel, dilation, stride, padding, out):
    idx = _ref(x, kernel, dilation, stride, padding, out)
    flat = x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))
    return np.take_along_axis(flat, idx, axis=-1).reshape(x.shape[:-2] + tuple(out))


def _values_vjp(b, g, x, _result, **geom):
    """As gather at max_pool_index's index: a scatter-add of g into x's planes."""
    from .registry import OPS
    idx = b.emit("max_pool_index", x, **geom)
    lead = x.shape[:-2]
    flat = b.reshape(x, shape=lead + (x.shape[-2] * x.shape[-1],))
    gathered = b.emit("gather", flat, idx, axis=len(lead))
    (dflat, _) = OPS["gather"].vjp(b, b.reshape(g, shape=idx.shape), flat, idx, gathered,
                                   axis=len(lead))
    return (b.reshape(dflat, shape=x.shape),)


register("max_pool", "index", _values_infer, _values_ref,
         SAMPLES, _values_vjp,
         doc="each max-pool window's maximum (max_pool_index's element: values only)")
