"""torch.ao.nn.qat.modules: Linear, Conv1d, Conv2d, Embedding, EmbeddingBag with fake-quantized
weights."""
from .conv import Conv1d, Conv2d  # noqa: F401
from .embedding_ops import Embedding, EmbeddingBag  # noqa: F401
from .linear import Linear  # noqa: F401

__all__ = ["Linear", "Conv1d", "Conv2d", "Embedding", "EmbeddingBag"]
