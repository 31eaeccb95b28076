"""Attention with torch's semantics: F.scaled_dot_product_attention and
F.multi_head_attention_forward (nn.MultiheadAttention, in nn/activation.py as in torch, calls it).

Compositions of matmul, softmax, where and dropout, so they run eagerly and compiled and their
gradients come from the primitives. `scaled_dot_product_attention` follows torch's reference
(q @ k^T * scale + mask, softmax, dropout, @ v) with torch's safe softmax: a query row whose
every key is masked out gives zeros (and a zero gradient), not NaN. `MultiheadAttention` with
`need_weights=True` (the default) is torch's explicit path (baddbmm with the float mask, plain
softmax: a fully masked row is NaN there too, as torch); with `need_weights=False` it goes
through scaled_dot_product_attention as torch does.

Masks: SDPA's boolean `attn_mask` marks the positions that *may* attend (True = keep);
MultiheadAttention's boolean `attn_mask` and `key_padding_mask` mark those that may *not*
(True = masked out), as in torch. Float masks are added to the scores.
"""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from .. import functions as G
from .. import random as _random
from .. import reduce_ops as R
from .. import shape_ops as SO
from ..functions import softmax
from ..tensor import Tensor, check

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """F.dropout's draw and scaling (this module sits below nn.functional, which imports it)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = G.cast(_random.draw(tuple(x.shape), x.dtype, "uniform") >= p, x.dtype)
    return x * (keep * (1.0 / (1.0 - p)))


def _safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last axis, with rows that are -inf everywhere giving 0 (torch's
    _safe_softmax); computed on a finite stand-in row so the gradient there is 0, not NaN."""
    dead = R.all(scores == float("-inf"), dim=-1, keepdim=True)
    probs = softmax(G.where(dead, G.zeros_like(scores), scores), dim=-1)
    return G.where(dead, G.zeros_like(probs), probs)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v over (..., L, E) queries and (..., S, E) keys, as
    torch.nn.functional.scaled_dot_product_attention: scale defaults to 1/sqrt(E); a boolean
    attn_mask keeps the True positions, a float one is added; is_causal keeps the lower
    triangle of the (L, S) scores (top-left aligned) and excludes attn_mask; dropout_p drops
    attention weights whenever it is nonzero (the function has no training flag, as torch);
    enable_gqa repeats the key/value heads (dim -3) to the query's."""
    q, k, v = (G._t(t) for t in (query, key, value))
    check(q.ndim >= 2 and k.ndim >= 2 and v.ndim >= 2,
          f"scaled_dot_product_attention: query, key and value need at least 2 dims, got "
          f"{list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
    check(q.dtype == k.dtype == v.dtype,
          f"scaled_dot_product_attention: expected query, key and value to have the same dtype,"
          f" but got query.dtype: {q.dtype}, key.dtype: {k.dtype} and value.dtype: {v.dtype}")
    check(q.shape[-1] == k.shape[-1],
          f"scaled_dot_product_attention: query's last dim {q.shape[-1]} differs from key's "
          f"{k.shape[-1]}")
    check(k.shape[-2] == v.shape[-2],
          f"scaled_dot_product_attention: key has {k.shape[-2]} positions, value {v.shape[-2]}")
    check(not (is_causal and attn_mask is not None),
          "scaled_dot_product_attention: _scaled_dot_product_attention: Explicit attn_mask "
          "should not be set when is_causal=True")
    check(0.0 <= dropout_p <= 1.0, f"scaled_dot_product_attention: dropout_p must be in [0, 1],"
                                   f" got {dropout_p}")
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        check(q.shape[-3] % k.shape[-3] == 0,
              f"scaled_dot_product_attention: with enable_gqa the query's {q.shape[-3]} heads "
              f"must be a multiple of the key's {k.shape[-3]}")
        rep = q.shape[-3] // k.shape[-3]
        k, v = (SO.repeat_interleave(t, rep, dim=-3) for t in (k, v))
    L, S = q.shape[-2], k.shape[-2]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = G.matmul(q, G.transpose(k, -2, -1)) * factor
    if is_causal:
        keep = SO.tril(G.ones((L, S), dtype=dtypes.bool))
        scores = G.where(keep, scores, G.full_like(scores, float("-inf")))
    elif attn_mask is not None:
        m = G._t(attn_mask)
        if m.dtype == dtypes.bool:
            scores = G.where(m, scores, G.full_like(scores, float("-inf")))
        else:
            check(m.dtype.is_float, f"scaled_dot_product_attention: attn_mask must be bool or "
                                    f"float, got {m.dtype}")
            scores = scores + m
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p, True)
    return G.matmul(weights, v)


def _canonical_mask(mask, name: str, target) -> Tensor | None:
    """A bool mask (True = masked out) as a float one (-inf there, 0 elsewhere) of the query's
    dtype; a float mask as it is (torch's F._canonical_mask)."""
    if mask is None:
        return None
    m = G._t(mask)
    check(m.dtype == dtypes.bool or m.dtype.is_float,
          f"only bool and floating types of {name} are supported")
    if m.dtype == dtypes.bool:
        return G.where(m, G.full(m.shape, float("-inf"), dtype=target),
                       G.zeros(m.shape, dtype=target))
    return m


def _mask_types_differ(key_padding_mask, attn_mask) -> None:
    if key_padding_mask is not None and attn_mask is not None and \
            G._t(key_padding_mask).dtype != G._t(attn_mask).dtype:
        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. Use "
                      "same type for both instead.", stacklevel=3)


def _linear(x, w, b):
    y = G.matmul(x, G.transpose(w, 0, 1))
    return y if b is None else y + b


def _project(query, key, value, in_proj_weight, in_proj_bias, separate, q_w, k_w, v_w):
    """(q, k, v) projected with the packed (3E, E) weight or the three separate ones."""
    E = query.shape[-1]
    if separate:
        b = (None,) * 3 if in_proj_bias is None else SO.chunk(in_proj_bias, 3)
        return _linear(query, q_w, b[0]), _linear(key, k_w, b[1]), _linear(value, v_w, b[2])
    ws = SO.chunk(in_proj_weight, 3)
    bs = (None,) * 3 if in_proj_bias is None else SO.chunk(in_proj_bias, 3)
    if query is key and key is value:        # self-attention: one matmul for all three
        proj = _linear(query, in_proj_weight, in_proj_bias)
        return tuple(proj[..., i * E:(i + 1) * E] for i in range(3))
    if key is value:
        kv = _linear(key, SO.cat([ws[1], ws[2]]), None if in_proj_bias is None
                     else SO.cat([bs[1], bs[2]]))
        return _linear(query, ws[0], bs[0]), kv[..., :E], kv[..., E:]
    return tuple(_linear(x, w, b) for x, w, b in zip((query, key, value), ws, bs))


def _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """torch's _mha_shape_check: True for batched (L, N, E) inputs, False for unbatched (L, E)."""
    if query.ndim == 3:
        check(key.ndim == 3 and value.ndim == 3,
              f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
              f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None:
            check(G._t(key_padding_mask).ndim == 2,
                  f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but"
                  f" found {G._t(key_padding_mask).ndim}-D tensor instead")
        if attn_mask is not None:
            check(G._t(attn_mask).ndim in (2, 3),
                  f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                  f"found {G._t(attn_mask).ndim}-D tensor instead")
        return True
    check(query.ndim == 2, f"query should be unbatched 2D or batched 3D tensor but received "
                           f"{query.ndim}-D query tensor")
    check(key.ndim == 2 and value.ndim == 2,
          f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
          f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None:
        check(G._t(key_padding_mask).ndim == 1,
              f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but "
              f"found {G._t(key_padding_mask).ndim}-D tensor instead")
    if attn_mask is not None:
        m = G._t(attn_mask)
        check(m.ndim in (2, 3), f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`,"
                                f" 2-D or 3-D but found {m.ndim}-D tensor instead")
        if m.ndim == 3:
            want = (num_heads, query.shape[0], key.shape[0])
            check(tuple(m.shape) == want, f"Expected `attn_mask` shape to be {want} but got "
                                          f"{tuple(m.shape)}")
    return False


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v,
                                 add_zero_attn: bool, dropout_p: float, out_proj_weight,
                                 out_proj_bias, training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None,
                                 use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True,
                                 is_causal: bool = False):
    """torch.nn.functional.multi_head_attention_forward on (L, N, E) / (S, N, E) inputs (or
    unbatched (L, E)): (attn_output, attn_weights or None), step for step as torch's."""
    query, key, value = (G._t(t) for t in (query, key, value))
    batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (G.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = G.unsqueeze(G._t(key_padding_mask), 0)
    tgt_len, bsz, embed_dim = query.shape
    _mask_types_differ(key_padding_mask, attn_mask)
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
    check(not (is_causal and attn_mask is None),
          "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
          "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None          # scaled_dot_product_attention builds the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        if key_padding_mask is not None:
            is_causal = False
    check(embed_dim == embed_dim_to_check,
          f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    check(head_dim * num_heads == embed_dim,
          f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        check(tuple(key.shape[:2]) == tuple(value.shape[:2]),
              f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
              f"{tuple(value.shape[:2])}")
    else:
        check(tuple(key.shape) == tuple(value.shape),
              f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
    q, k, v = _project(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                       q_proj_weight, k_proj_weight, v_proj_weight)
    src_len = key.shape[0]
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            check(tuple(attn_mask.shape) == (tgt_len, src_len),
                  f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                  f"{(tgt_len, src_len)}.")
            attn_mask = G.unsqueeze(attn_mask, 0)
        else:
            check(tuple(attn_mask.shape) == (bsz * num_heads, tgt_len, src_len),
                  f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                  f"{(bsz * num_heads, tgt_len, src_len)}.")
    if bias_k is not None and bias_v is not None:
        check(static_k is None and static_v is None, "bias cannot be added to static key/value.")
        k = SO.cat([k, SO.tile(bias_k, (1, bsz, 1))])
        v = SO.cat([v, SO.tile(bias_v, (1, bsz, 1))])
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    else:
        check(bias_k is None and bias_v is None, "bias_k and bias_v must both be set or both None")
    q = G.transpose(G.reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    k = G.transpose(G.reshape(k, (k.shape[0], bsz * num_heads, head_dim)), 0, 1) \
        if static_k is None else _static(static_k, bsz * num_heads, head_dim, "static_k")
    v = G.transpose(G.reshape(v, (v.shape[0], bsz * num_heads, head_dim)), 0, 1) \
        if static_v is None else _static(static_v, bsz * num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = G.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)
        k, v = SO.cat([k, zeros], dim=1), SO.cat([v, zeros], dim=1)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        check(tuple(key_padding_mask.shape) == (bsz, src_len),
              f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
              f"{tuple(key_padding_mask.shape)}")
        kpm = G.reshape(G.expand(G.reshape(key_padding_mask, (bsz, 1, 1, src_len)),
                                 (bsz, num_heads, 1, src_len)), (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        check(not (is_causal and attn_mask is None), "is_causal is not implemented for "
                                                     "need_weights without a mask")
        scores = G.matmul(q_scaled, G.transpose(k, -2, -1))
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = _dropout(weights, dropout_p, True)
        out = G.reshape(G.transpose(G.matmul(weights, v), 0, 1), (tgt_len * bsz, embed_dim))
        out = G.reshape(_linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
        weights = G.reshape(weights, (bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = G.mean(weights, dim=1)
        if not batched:
            out, weights = G.squeeze(out, 1), G.squeeze(weights, 0)
        return out, weights
    if attn_mask is not None:
        attn_mask = G.unsqueeze(attn_mask, 0) if attn_mask.shape[0] == 1 and attn_mask.ndim == 3 \
            else G.reshape(attn_mask, (bsz, num_heads, -1, src_len))
    q = G.reshape(q, (bsz, num_heads, tgt_len, head_dim))
    k = G.reshape(k, (bsz, num_heads, src_len, head_dim))
    v = G.reshape(v, (bsz, num_heads, src_len, head_dim))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = G.reshape(G.permute(out, (2, 0, 1, 3)), (bsz * tgt_len, embed_dim))
    out = G.reshape(_linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    return (out if batched else G.squeeze(out, 1)), None


def _pad_last(mask: Tensor) -> Tensor:
    """One more key position, unmasked (torch's pad(mask, (0, 1)))."""
    return SO.cat([mask, G.zeros(tuple(mask.shape[:-1]) + (1,), dtype=mask.dtype)], dim=-1)


def _static(t, heads: int, head_dim: int, name: str) -> Tensor:
    t = G._t(t)
    check(t.shape[0] == heads, f"expecting {name}.size(0) of {heads}, but got {t.shape[0]}")
    check(t.shape[2] == head_dim, f"expecting {name}.size(2) of {head_dim}, but got {t.shape[2]}")
    return t
