"""qat.Embedding / qat.EmbeddingBag (torch.ao.nn.qat.modules.embedding_ops): lookups through a
fake-quantized weight, whose qconfig must quantize per row with float qparams
(per_channel_affine_float_qparams: default_embedding_qat_qconfig)."""
from __future__ import annotations

from ..... import dtypes
from .....errors import GraphcError
from .....nn import Embedding as _Embedding
from .....nn import EmbeddingBag as _EmbeddingBag
from .....nn.parameter import Parameter
from .....nn.sparse import embedding, embedding_bag
from .linear import _check_from_float, _require_qconfig

__all__ = ["Embedding", "EmbeddingBag"]


def _check_qscheme(cls_name: str, qconfig) -> None:
    qscheme = qconfig.weight().qscheme
    if qscheme != dtypes.per_channel_affine_float_qparams:
        raise GraphcError(f"{cls_name}: embedding weights require a qscheme of "
                          f"per_channel_affine_float_qparams, got {qscheme} (use "
                          "default_embedding_qat_qconfig)")


class Embedding(_Embedding):
    """An Embedding whose weight goes through weight_fake_quant on every lookup."""

    _FLOAT_MODULE = _Embedding

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 device=None, dtype=None, qconfig=None):
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse, _weight, device=device, dtype=dtype)
        _require_qconfig(type(self).__name__, qconfig)
        _check_qscheme(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input):
        """F.embedding with weight_fake_quant(weight)."""
        return embedding(input, self.weight_fake_quant(self.weight), self.padding_idx,
                         self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module sharing the float Embedding's weight."""
        _check_from_float(cls, mod, cls._FLOAT_MODULE)
        _check_qscheme(cls.__name__, mod.qconfig)
        qat = cls(mod.num_embeddings, mod.embedding_dim, mod.padding_idx, mod.max_norm,
                  mod.norm_type, mod.scale_grad_by_freq, mod.sparse, mod.weight,
                  qconfig=mod.qconfig)
        qat.weight = mod.weight
        return qat

    def to_float(self):
        """A plain Embedding with a copy of the weight."""
        emb = _Embedding(self.num_embeddings, self.embedding_dim, self.padding_idx,
                         self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse)
        emb.weight = Parameter(self.weight.detach().numpy().copy())
        emb.train(self.training)
        return emb


class EmbeddingBag(_EmbeddingBag):
    """An EmbeddingBag whose weight goes through weight_fake_quant on every lookup."""

    _FLOAT_MODULE = _EmbeddingBag

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, qconfig=None, device=None,
                 dtype=None):
        super().__init__(num_embeddings, embedding_dim, max_norm, norm_type,
                         scale_grad_by_freq, mode, sparse, _weight, include_last_offset,
                         padding_idx, device=device, dtype=dtype)
        _require_qconfig(type(self).__name__, qconfig)
        _check_qscheme(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    def forward(self, input, offsets=None, per_sample_weights=None):
        """F.embedding_bag with weight_fake_quant(weight)."""
        return embedding_bag(input, self.weight_fake_quant(self.weight), offsets, self.max_norm,
                             self.norm_type, self.scale_grad_by_freq, self.mode, self.sparse,
                             per_sample_weights, self.include_last_offset, self.padding_idx)

    @classmethod
    def from_float(cls, mod, use_precomputed_fake_quant=False):
        """The QAT module sharing the float EmbeddingBag's weight."""
        _check_from_float(cls, mod, cls._FLOAT_MODULE)
        _check_qscheme(cls.__name__, mod.qconfig)
        qat = cls(mod.num_embeddings, mod.embedding_dim, mod.max_norm, mod.norm_type,
                  mod.scale_grad_by_freq, mod.mode, mod.sparse, mod.weight,
                  mod.include_last_offset, mod.padding_idx, qconfig=mod.qconfig)
        qat.weight = mod.weight
        return qat

    def to_float(self):
        """A plain EmbeddingBag with a copy of the weight."""
        bag = _EmbeddingBag(self.num_embeddings, self.embedding_dim, self.max_norm,
                            self.norm_type, self.scale_grad_by_freq, self.mode, self.sparse,
                            None, self.include_last_offset, self.padding_idx)
        bag.weight = Parameter(self.weight.detach().numpy().copy())
        bag.train(self.training)
        return bag
