"""Oracles of max pooling's primitives `max_pool_index` and `max_pool` (merged into test_ops'
tables): a plain loop over every window (NumPy) and torch's own max_pool2d(return_indices=True)."""
from __future__ import annotations

import numpy as np


def np_max_pool_index(x, kernel, dilation, stride, padding, out):
    """Each window's elements in row-major order; the first greater-or-NaN one after -inf wins."""
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    res = np.zeros((len(planes), out[0] * out[1]), np.int64)
    for p, plane in enumerate(planes):
        for oh in range(out[0]):
            for ow in range(out[1]):
                rows = [oh * stride[0] - padding[0] + i * dilation[0] for i in range(kernel[0])]
                cols = [ow * stride[1] - padding[1] + j * dilation[1] for j in range(kernel[1])]
                cells = [(r, c) for r in rows if 0 <= r < h for c in cols if 0 <= c < w]
                best, at = -np.inf, cells[0][0] * w + cells[0][1]
                for r, c in cells:
                    v = plane[r, c]
                    if v > best or np.isnan(v):
                        best, at = v, r * w + c
                res[p, oh * out[1] + ow] = at
    return res.reshape(x.shape[:-2] + (out[0] * out[1],))


def np_max_pool(x, kernel, dilation, stride, padding, out):
    """The values at np_max_pool_index's indices."""
    idx = np_max_pool_index(x, kernel, dilation, stride, padding, out)
    flat = x.reshape(x.shape[:-2] + (-1,))
    return np.take_along_axis(flat, idx, axis=-1).reshape(x.shape[:-2] + tuple(out))


NUMPY = {"max_pool_index": np_max_pool_index, "max_pool": np_max_pool}


def torch_table(torch):
    """op name -> torch's F.max_pool2d indices (ceil_mode chosen to give the same grid)."""
    F = torch.nn.functional

    def max_pool_index(x, kernel, dilation, stride, padding, out):
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        floor = [(n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, p, d, k, s in zip((h, w), padding, dilation, kernel, stride)]
        _, idx = F.max_pool2d(x.reshape(-1, 1, h, w), kernel, stride, padding, dilation,
                              ceil_mode=list(out) != floor, return_indices=True)
        assert tuple(idx.shape[-2:]) == tuple(out)
        return idx.reshape(*lead, out[0] * out[1])

    def max_pool(x, kernel, dilation, stride, padding, out):
        idx = max_pool_index(x, kernel, dilation, stride, padding, out)
        return x.reshape(*x.shape[:-2], -1).gather(-1, idx).reshape(*x.shape[:-2], *out)
    return {"max_pool_index": max_pool_index, "max_pool": max_pool}
