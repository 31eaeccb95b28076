"""nn.Unflatten (nn.Flatten is in layers.py)."""
from __future__ import annotations

from .module import Module


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size` (as torch.nn.Unflatten)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        """x with dim self.dim split into self.unflattened_size."""
        from ..shape_ops import unflatten
        return unflatten(x, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        """The module's arguments, as torch prints them."""
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
