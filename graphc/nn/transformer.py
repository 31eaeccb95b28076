"""Transformers with torch's semantics: nn.TransformerEncoderLayer, TransformerEncoder,
TransformerDecoderLayer, TransformerDecoder and Transformer.

torch's reference path, layer for layer: post-norm (`norm1(x + sa(x))`) or, with norm_first,
pre-norm (`x + sa(norm1(x))`); self-attention with need_weights=False (through
scaled_dot_product_attention); feed-forward linear2(dropout(activation(linear1(x)))); the
stacks deep-copy their layer, as torch's `_get_clones`. torch's inference fast paths
(`_transformer_encoder_layer_fwd`, nested tensors) compute the same function with other
kernels; graphc has this one path, eager and compiled. A mask equal to
`generate_square_subsequent_mask` is detected as causal (when its values are known: eagerly,
or a constant) exactly as torch does; either way the numbers are the same.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from .. import functions as G
from ..grad_mode import is_grad_enabled
from .. import shape_ops as SO
from ..tensor import Tensor, check
from . import init
from .activation import MultiheadAttention
from .attention import _canonical_mask, _mask_types_differ
from . import functional as F
from .layers import Dropout, Linear
from .module import Module, ModuleList
from .normalization import LayerNorm

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]


def _layer_norm(d_model: int, eps: float, bias: bool, dtype):
    return LayerNorm(d_model, eps=eps, bias=bias, dtype=dtype)


def _feedforward(layer: Module, d_model: int, dim_feedforward: int, dropout: float, bias: bool,
                 norm_first: bool, dtype) -> None:
    """The feed-forward parts both layer kinds hold after their attention, in torch's order and
    names: linear1, dropout, linear2, norm_first."""
    layer.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
    layer.norm_first = norm_first


def _generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """(sz, sz): -inf above the diagonal, 0 elsewhere (torch's causal float mask)."""
    return SO.triu(G.full((sz, sz), float("-inf"), dtype=dtype), diagonal=1)


def _activation(activation) -> Callable:
    if isinstance(activation, str):
        check(activation in ("relu", "gelu"),
              f"activation should be relu/gelu, not {activation}")
        return getattr(F, activation)
    return activation


def _seq_len(src: Tensor, batch_first: bool) -> int:
    return src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal, size) -> bool:
    """torch's _detect_is_causal_mask: is_causal if given, else whether the mask equals the
    square subsequent mask (False when its values are not known: a traced mask)."""
    if is_causal is not None or mask is None:
        return is_causal is True
    m = G._t(mask)
    sz = size if size is not None else m.shape[-2]
    if tuple(m.shape) != (sz, sz) or m.is_traced:
        return False
    # the reference in NumPy: inside a trace a tensor built here would be a traced value
    values = m.numpy()
    if values.dtype.kind not in "fb":
        return False
    ref = np.triu(np.full((sz, sz), -np.inf if values.dtype.kind == "f" else True,
                          values.dtype), 1)
    return bool((values == ref).all())


def _get_clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(Module):
    """torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation=relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        _feedforward(self, d_model, dim_feedforward, dropout, bias, norm_first, dtype)
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = _activation(activation)
        self.activation_relu_or_gelu = 1 if self.activation is F.relu else \
            2 if self.activation is F.gelu else 0

    def forward(self, src, src_mask=None, src_key_padding_mask=None,
                is_causal: bool = False) -> Tensor:
        """One encoder layer over (S, N, E) (or (N, S, E) with batch_first, or unbatched)."""
        x = G._t(src)
        _mask_types_differ(src_key_padding_mask, src_mask)
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               x.dtype)
        src_mask = _canonical_mask(src_mask, "src_mask", x.dtype)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal: bool = False) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """torch.nn.TransformerDecoderLayer: self-attention, attention over the memory, feed-forward;
    the same arguments as TransformerEncoderLayer."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, dtype=dtype)
        _feedforward(self, d_model, dim_feedforward, dropout, bias, norm_first, dtype)
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.norm3 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.dropout1, self.dropout2, self.dropout3 = (Dropout(dropout) for _ in range(3))
        self.activation = _activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        """One decoder layer over the targets (T, N, E) attending to memory (S, N, E)."""
        x, memory = G._t(tgt), G._t(memory)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal: bool = False) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal: bool = False) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """torch.nn.TransformerEncoder(encoder_layer, num_layers, norm=None,
    enable_nested_tensor=True, mask_check=True): num_layers deep copies of the layer, then
    norm. Where torch takes its nested-tensor inference path (use_nested_tensor, set as torch
    sets it from the layer; eval mode, no gradient, a (left-aligned) src_key_padding_mask and
    no mask) its output is 0 at the padded positions: graphc computes the same output and
    zeroes those positions too (torch's other values are the same function)."""

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and _nested_ok(encoder_layer)
        self.mask_check = mask_check

    def _nested_path(self, src, mask, pad) -> bool:
        """Whether torch's forward would run its nested-tensor fast path (its checks in order)."""
        if not self.use_nested_tensor or not len(self.layers) or self.layers[0].training \
                or src.ndim != 3 or pad is None or mask is not None:
            return False
        if is_grad_enabled() and (src.requires_grad or any(
                p.requires_grad for p in self.layers[0].parameters())):
            return False
        if self.mask_check:   # every row's valid positions a prefix (padding at the end only)
            if pad.is_traced:   # values unknown: torch's check cannot be made
                return False
            valid = ~pad.numpy().astype(bool)
            return bool(valid[:, :1].all() and (valid[:, 1:] <= valid[:, :-1]).all())
        return True

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None) -> Tensor:
        """The layers in turn, with the same masks; then norm."""
        out = G._t(src)
        _mask_types_differ(src_key_padding_mask, mask)
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               out.dtype)
        mask = _canonical_mask(mask, "mask", out.dtype)
        batch_first = self.layers[0].self_attn.batch_first if len(self.layers) else False
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(out, batch_first))
        nested = self._nested_path(out, mask, src_key_padding_mask)
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=is_causal,
                      src_key_padding_mask=src_key_padding_mask)
        out = out if self.norm is None else self.norm(out)
        if nested:   # torch's padded tensor: 0 where the positions were padding
            padded = G.unsqueeze(src_key_padding_mask, -1)   # canonical: -inf where padded
            out = G.where(padded if padded.dtype.is_bool else padded != 0, 0.0, out)
        return out


def _nested_ok(layer) -> bool:
    """torch's TransformerEncoder.__init__ checks for its nested-tensor path on the layer."""
    attn = getattr(layer, "self_attn", None)
    return isinstance(layer, TransformerEncoderLayer) and not layer.norm_first \
        and attn.batch_first and attn._qkv_same_embed_dim and attn.in_proj_bias is not None \
        and bool(layer.activation_relu_or_gelu) and layer.norm1.eps == layer.norm2.eps \
        and attn.num_heads % 2 == 0


class TransformerDecoder(Module):
    """torch.nn.TransformerDecoder(decoder_layer, num_layers, norm=None)."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None,
                memory_is_causal: bool = False) -> Tensor:
        """The layers in turn over the targets, each attending to memory; then norm."""
        out = G._t(tgt)
        batch_first = self.layers[0].self_attn.batch_first if len(self.layers) else False
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal,
                                               _seq_len(out, batch_first))
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """torch.nn.Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation=relu, custom_encoder=None,
    custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True):
    encoder and decoder stacks with final LayerNorms; every parameter of more than one dim
    re-initialised xavier_uniform_, as torch."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(*args, dtype=dtype), num_encoder_layers,
            _layer_norm(d_model, layer_norm_eps, bias, dtype))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(*args, dtype=dtype), num_decoder_layers,
            _layer_norm(d_model, layer_norm_eps, bias, dtype))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False) -> Tensor:
        """decoder(tgt, encoder(src)) with their masks, as torch.nn.Transformer.forward."""
        src, tgt = G._t(src), G._t(tgt)
        if src.ndim == 3:
            axis = 0 if self.batch_first else 1
            check(src.shape[axis] == tgt.shape[axis],
                  "the batch number of src and tgt must be equal")
        check(src.shape[-1] == self.d_model and tgt.shape[-1] == self.d_model,
              "the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """(sz, sz) float mask: -inf above the diagonal (future positions), 0 elsewhere."""
        return _generate_square_subsequent_mask(sz, device, dtype)
