"""A convolution's input gradient as a convolution (a transposed convolution at stride 1).

Autodiff derives the input gradient of `y = W2 @ unfold(x)` from the primitives' rules: the
columns' gradient `Wᵀ @ g`, a (C*kh*kw, N*L) matrix, then `fold` adds it back at every tap.
At stride 1 the same sum is the correlation of g with the flipped kernel:

    dx[n, c, h, w] = sum_{o, i, j} W[o, c, i, j] g[n, o, h - i*dh + ph, w - j*dw + pw]
                   = sum_{o, i', j'} W'[c, o, i', j'] gpad[n, o, h + i'*dh, w + j'*dw]

with W'[c, o, i', j'] = W[o, c, kh-1-i', kw-1-j'] and g padded by dh*(kh-1) - ph before (and
dh*(kh-1) - ph_hi after), so the rewrite is

    fold(matmul[transpose_a](W2, g))  ->  W'2 @ unfold(g as (N, O, Ho, Wo))  as (N, C, H, W)

where W'2 is one gather of the (small) weights. The columns of g are read only by that matmul,
so the fuser hands them to the matmul kernel's packing (the implicit GEMM): the (C*K, N*L)
matrix of the columns' gradient and fold's pass over it are never written. The sums are the same
terms in another order (a float32 rounding difference, not a different result). Strides other
than 1, grouped convolutions (batched matmuls) and padding beyond dh*(kh-1) keep the fold.

In the default pipeline (after autodiff) for convolutions of at least MIN_CHANNELS input
channels, the rows of the rewritten matmul. Measured on a Zen 5 host (paired, in one process):
the ResNet block's train step (64 channels) 58 -> 53 ms, the MNIST CNN's (32) 36 -> 35 ms;
LeNet-5's 6-channel input gradient, a matmul of 6 rows far from the register tile, ran slower
(1.6 -> 1.9 ms) and keeps the fold.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import Builder, Graph, Value

from .dce import dce
from .rewrite import rewrite

MIN_CHANNELS = 16   # input channels from which the input gradient is a convolution


def _flipped_index(o: int, c: int, kh: int, kw: int) -> np.ndarray:
    """Flat positions in W (O, C, kh, kw) of W'[c, o, i', j'] = W[o, c, kh-1-i', kw-1-j']."""
    ci, oi, ii, ji = np.meshgrid(np.arange(c), np.arange(o), np.arange(kh), np.arange(kw),
                                 indexing="ij")
    return (((oi * c + ci) * kh + (kh - 1 - ii)) * kw + (kw - 1 - ji)).reshape(-1).astype(np.int64)


def _as_convolution(node, b: Builder) -> Value | None:
    if node.op != "fold" or not node.attrs.get("batch_last"):
        return None
    a = node.attrs
    (kh, kw), (dh, dw) = a["kernel"], a["dilation"]
    lo, hi = a["pad_lo"], a["pad_hi"]
    reach = (dh * (kh - 1), dw * (kw - 1))
    if tuple(a["stride"]) != (1, 1) or any(p > r for p, r in zip(tuple(lo) + tuple(hi),
                                                                  reach + reach)):
        return None
    mm = node.inputs[0].producer
    if mm is None or mm.op != "matmul" or not mm.attrs.get("transpose_a") \
            or mm.attrs.get("transpose_b"):
        return None
    w2, g = mm.inputs
    if w2.type.ndim != 2 or g.type.ndim != 2 or not g.dtype.is_float:
        return None
    o, ck = w2.shape
    n, (h, w) = a["batch"], a["output_size"]
    c = ck // (kh * kw)
    if c < MIN_CHANNELS:
        return None
    ho, wo = h + lo[0] + hi[0] - reach[0], w + lo[1] + hi[1] - reach[1]
    if g.shape != (o, n * ho * wo):
        return None
    flat = b.reshape(w2, shape=(o * ck,))
    wf = b.reshape(b.gather(flat, b.const(_flipped_index(o, c, kh, kw), "i64"), axis=0),
                   shape=(c, o * kh * kw))
    gi = b.transpose(b.reshape(g, shape=(o, n, ho, wo)), perm=(1, 0, 2, 3))
    cols = b.unfold(gi, kernel=(kh, kw), dilation=(dh, dw), stride=(1, 1),
                    pad_lo=(reach[0] - lo[0], reach[1] - lo[1]),
                    pad_hi=(reach[0] - hi[0], reach[1] - hi[1]), batch_last=True)
    dx = b.reshape(b.matmul(wf, cols), shape=(c, n, h, w))
    return b.transpose(dx, perm=(1, 0, 2, 3))


def conv_input_grad(g: Graph) -> Graph:
    """Rewrite each stride-1 `fold(Wᵀ @ g)` as a convolution of g (see the module docstring)."""
    out, changed = rewrite(g, _as_convolution)
    return dce(out) if changed else g
