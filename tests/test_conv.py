"""Convolutions: the unfold/fold primitives' oracles (merged into test_ops' and test_autodiff's
tables), F.conv1d/conv2d/conv_transpose1d/2d/unfold/fold and the nn modules against torch,
forward and backward, float32 and float64, eager and compiled."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import graphc
import graphc.nn.functional as GF
from graphc import nn as gnn

# ---- oracles of the primitives (test_ops.NUMPY_ORACLE, the torch tables) ----------------------


def np_unfold(x, kernel, dilation, stride, pad_lo, pad_hi):
    """Element by element: cols[n, c*K + i*kw + j, oh*Wo + ow] = x at the tap, or 0."""
    n, c, h, w = x.shape
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
    ho = (h + pad_lo[0] + pad_hi[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pad_lo[1] + pad_hi[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c * kh * kw, ho * wo), x.dtype)
    for b, ch, i, j, oh, ow in itertools.product(range(n), range(c), range(kh), range(kw),
                                                 range(ho), range(wo)):
        ih, iw = oh * sh + i * dh - pad_lo[0], ow * sw + j * dw - pad_lo[1]
        if 0 <= ih < h and 0 <= iw < w:
            out[b, (ch * kh + i) * kw + j, oh * wo + ow] = x[b, ch, ih, iw]
    return out


def np_fold(cols, output_size, kernel, dilation, stride, pad_lo, pad_hi):
    """Element by element, in float64: every column entry added at its tap."""
    (h, w), (kh, kw), (dh, dw), (sh, sw) = output_size, kernel, dilation, stride
    n, ck, _ = cols.shape
    c = ck // (kh * kw)
    wo = (w + pad_lo[1] + pad_hi[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c, h, w), np.float64)
    for b, ch, i, j, l in itertools.product(range(n), range(c), range(kh), range(kw),
                                            range(cols.shape[2])):
        ih, iw = (l // wo) * sh + i * dh - pad_lo[0], (l % wo) * sw + j * dw - pad_lo[1]
        if 0 <= ih < h and 0 <= iw < w:
            out[b, ch, ih, iw] += cols[b, (ch * kh + i) * kw + j, l]
    return out.astype(cols.dtype)


NUMPY = {"unfold": np_unfold, "fold": np_fold}


def torch_table(torch):
    """op name -> the torch expression: F.unfold/F.fold of an explicitly padded input (graphc's
    padding may differ before and after), in float64 for integer operands."""
    F = torch.nn.functional

    def unfold(x, kernel, dilation, stride, pad_lo, pad_hi):
        xp = F.pad(x if x.is_floating_point() else x.double(),
                   (pad_lo[1], pad_hi[1], pad_lo[0], pad_hi[0]))
        return F.unfold(xp, kernel, dilation=dilation, stride=stride).to(x.dtype)

    def fold(cols, output_size, kernel, dilation, stride, pad_lo, pad_hi):
        (h, w), (a, b) = output_size, pad_lo
        full = (h + a + pad_hi[0], w + b + pad_hi[1])
        y = F.fold(cols if cols.is_floating_point() else cols.double(), full, kernel,
                   dilation=dilation, stride=stride)
        return y[:, :, a:a + h, b:b + w].to(cols.dtype)
    return {"unfold": unfold, "fold": fold}
