"""graphc.amp (and graphc.cuda.amp): torch's mixed-precision helpers, for programs that use them
only when a GPU is there (nanoGPT: `GradScaler(enabled=(dtype == 'float16'))`, autocast under
`nullcontext()` on the CPU).

graphc computes in float32 and float64 only, so:

- `GradScaler` is disabled, as torch disables `torch.cuda.amp.GradScaler` when CUDA is not
  available (with the same kind of warning when it was asked to be enabled): `scale(loss)` is the
  loss, `step(optimizer)` is `optimizer.step()`, `unscale_` and `update` do nothing,
  `get_scale()` is 1.0 (a float32 step scaled by a power of two and unscaled again would give
  the same numbers anyway);
- `autocast(..., enabled=False)` does nothing; an enabled autocast for "cuda" is disabled with a
  warning (torch does the same without CUDA), and an enabled CPU autocast (bfloat16 matmuls:
  other numbers than float32's) raises a NotSupportedError.
"""
from __future__ import annotations

import functools
import warnings

from .errors import NotSupportedError


class GradScaler:
    """torch.amp.GradScaler / torch.cuda.amp.GradScaler, always disabled (see the module)."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        if enabled:
            warnings.warn("graphc trains in float32/float64: GradScaler is disabled (as torch "
                          "disables it when CUDA is not available)", stacklevel=2)
        self._enabled = False

    def is_enabled(self) -> bool:
        """False: the scaler is always disabled."""
        return self._enabled

    def scale(self, outputs):
        """The outputs unchanged (scaling is disabled)."""
        return outputs

    def unscale_(self, optimizer) -> None:
        """Nothing to unscale."""

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(*args, **kwargs)."""
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        """Nothing to update."""

    def get_scale(self) -> float:
        """1.0, as torch's disabled scaler."""
        return 1.0

    def state_dict(self) -> dict:
        """{}, as torch's disabled scaler."""
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        """A disabled scaler has no state."""


class autocast:  # noqa: N801  (torch's name)
    """torch.autocast / torch.amp.autocast as a context manager or decorator (see the module)."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True,
                 cache_enabled=None):
        if enabled and device_type == "cuda":
            warnings.warn("graphc computes on the CPU in float32/float64: CUDA autocast is "
                          "disabled (as torch disables it when CUDA is not available)",
                          stacklevel=2)
        elif enabled:
            raise NotSupportedError(f"autocast(device_type={device_type!r}) is not supported: "
                                    "graphc computes in float32/float64 (use enabled=False, or "
                                    "contextlib.nullcontext())", name="autocast")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapped
