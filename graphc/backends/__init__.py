"""graphc.backends: torch.backends' flags and queries (no MPS, no cuDNN; the flags are kept)."""
from . import cuda, cudnn, mps  # noqa: F401
