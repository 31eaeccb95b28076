"""Random numbers: `philox`, counter-based Philox 4x32-10 (Salmon et al., SC'11; Random123).

philox[shape, dtype, dist](state) -> values of `shape` and float `dtype`:

- `state` is an i64[2] tensor: state[0] the seed (the 2x32-bit key: k0 = low 32 bits, k1 = high
  32 bits, read as unsigned), state[1] the offset (the first 128-bit counter block to use). Block
  j of a draw is Philox4x32-10(key, counter=(lo32(offset+j), hi32(offset+j), 0, 0)): four u32.
- uniform floats in [0, 1): float32 from the top 24 bits of each u32 ((x >> 8) * 2^-24, four
  values per block); float64 from 53 bits of each u32 pair (((x1 << 32 | x0) >> 11) * 2^-53,
  two values per block). Exact in both dtypes, so every backend gives the same bits.
- dist="normal": Box-Muller on consecutive pairs of those uniforms (u_a, u_b), computed in
  float64: r = sqrt(-2 log(1 - u_a)), z_a = r cos(2 pi u_b), z_b = r sin(2 pi u_b), then rounded
  to `dtype`. (1 - u_a is in (0, 1], so log is finite.)

A draw uses `philox_blocks(n, dtype)` blocks; the caller advances state[1] by that many (the
frontend emits `state + [0, blocks]` as the state's update), so draws never overlap.
The op carries no gradient and is a kernel of its own (OPAQUE).
"""
from __future__ import annotations

import math

import numpy as np

from ... import dtypes
from ..graph import tensor_type
from .registry import NONDIFF, int_tuple, register, require

M0, M1 = 0xD2511F53, 0xCD9E8D57          # Philox 4x32 multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85          # Weyl key increments (golden ratio, sqrt(3) - 1)
ROUNDS = 10
_MASK = np.uint64(0xFFFFFFFF)
DISTS = ("uniform", "normal")


def per_block(dtype) -> int:
    """Values one 128-bit block gives: 4 float32 or 2 float64."""
    return 4 if dtypes.as_dtype(dtype) == dtypes.float32 else 2


def philox_blocks(n: int, dtype) -> int:
    """Counter blocks a draw of n values of `dtype` consumes."""
    k = per_block(dtype)
    return -(-int(n) // k)


def philox4x32(ctr: np.ndarray, key, rounds: int = ROUNDS) -> np.ndarray:
    """Philox 4x32-`rounds` on counters ctr (4, N) uint32 with key (k0, k1): (4, N) uint32."""
    c0, c1, c2, c3 = (np.asarray(c, np.uint64) for c in ctr)
    k0, k1 = np.uint64(int(key[0]) & 0xFFFFFFFF), np.uint64(int(key[1]) & 0xFFFFFFFF)
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + np.uint64(W0)) & _MASK, (k1 + np.uint64(W1)) & _MASK
        p0, p1 = np.uint64(M0) * c0, np.uint64(M1) * c2   # < 2^64: no overflow
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK)
    return np.stack([c0, c1, c2, c3]).astype(np.uint32)


def _bits(state: np.ndarray, blocks: int) -> np.ndarray:
    """The (blocks, 4) uint32 words of a draw from `state` (seed, offset)."""
    seed, offset = np.asarray(state, np.int64).view(np.uint64)
    ctr = (offset + np.arange(blocks, dtype=np.uint64)).astype(np.uint64)
    zeros = np.zeros(blocks, np.uint64)
    key = (int(seed) & 0xFFFFFFFF, int(seed) >> 32)
    return philox4x32([ctr & _MASK, ctr >> np.uint64(32), zeros, zeros], key).T


def uniforms(words: np.ndarray, dt) -> np.ndarray:
    """Uniform [0, 1) values from (blocks, 4) uint32 words: (blocks, per_block) of dtype dt."""
    w = words.astype(np.uint64)
    if dtypes.as_dtype(dt) == dtypes.float32:
        return (w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    pairs = ((w[:, 1::2] << np.uint64(32)) | w[:, 0::2]) >> np.uint64(11)
    return pairs.astype(np.float64) * (2.0 ** -53)


def box_muller(u: np.ndarray) -> np.ndarray:
    """Normals from (blocks, even) uniforms, pair by pair, in float64."""
    u = u.astype(np.float64)
    ua, ub = u[:, 0::2], u[:, 1::2]
    r = np.sqrt(-2.0 * np.log(1.0 - ua))
    th = (2.0 * math.pi) * ub
    z = np.empty_like(u)
    z[:, 0::2], z[:, 1::2] = r * np.cos(th), r * np.sin(th)
    return z


def _philox_infer(types, attrs):
    (t,) = types
    require(t.dtype == dtypes.int64 and t.shape == (2,),
            f"philox takes the generator state as i64[2] (seed, offset), got {t}")
    shape = int_tuple(attrs, "shape")
    require(all(d >= 0 for d in shape), f"philox shape must be non-negative, got {shape}")
    dt = dtypes.as_dtype(attrs.get("dtype", dtypes.float32))
    require(dt in (dtypes.float32, dtypes.float64), f"philox draws f32 or f64, not {dt}")
    require(attrs.get("dist", "uniform") in DISTS,
            f"philox dist must be one of {DISTS}, got {attrs.get('dist')!r}")
    return tensor_type(shape, dt)


def _philox_ref(state, shape, dtype=dtypes.float32, dist="uniform"):
    dt = dtypes.as_dtype(dtype)
    n = math.prod(shape)
    u = uniforms(_bits(state, philox_blocks(n, dt)), dt)
    v = box_muller(u) if dist == "normal" else u
    return v.reshape(-1)[:n].astype(dt.np).reshape(shape).copy()


register("philox", "source", _philox_infer, _philox_ref, [
    ([np.array([0, 0], np.int64)], {"shape": (3, 5), "dtype": dtypes.float32}),
    ([np.array([42, 7], np.int64)], {"shape": (7,), "dtype": dtypes.float64}),
    ([np.array([-1, -2], np.int64)], {"shape": (2, 3), "dtype": dtypes.float32,
                                      "dist": "normal"}),
    ([np.array([123456789012, 3], np.int64)], {"shape": (5,), "dtype": dtypes.float64,
                                               "dist": "normal"}),
    ([np.array([5, 0], np.int64)], {"shape": (0, 3), "dtype": dtypes.float32}),
    ([np.array([5, 2**32 - 1], np.int64)], {"shape": (), "dtype": dtypes.float32}),
], NONDIFF, doc="counter-based random numbers (Philox 4x32-10): uniform [0, 1) or normal")
