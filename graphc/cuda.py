"""graphc.cuda: torch.cuda's queries, answering that there is no CUDA device (graphc runs on
the CPU). Seeding functions are accepted and do nothing; anything that needs a GPU raises."""
from __future__ import annotations

import types

from . import amp as _amp
from .device import DeviceError

# torch.cuda.amp.GradScaler / autocast: disabled, as torch disables them without CUDA
amp = types.SimpleNamespace(GradScaler=_amp.GradScaler,
                            autocast=lambda enabled=True, dtype=None, cache_enabled=None:
                            _amp.autocast("cuda", dtype, enabled, cache_enabled))


def is_available() -> bool:
    """False: graphc has no CUDA backend."""
    return False


def device_count() -> int:
    """0: no CUDA devices."""
    return 0


def is_initialized() -> bool:
    """False: there is no CUDA context."""
    return False


def manual_seed(seed: int) -> None:
    """Accepted and ignored (there is no CUDA generator), as torch does without a GPU."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored (there is no CUDA generator), as torch does without a GPU."""


def synchronize(device=None) -> None:
    """Nothing to wait for: CPU work is synchronous."""


def empty_cache() -> None:
    """Nothing to free: there is no CUDA memory."""


def _no_cuda(*args, **kwargs):
    raise DeviceError("CUDA is not available: graphc runs on the CPU only "
                      "(graphc.cuda.is_available() is False)")


def current_device() -> int:
    """Raises a DeviceError: there is no CUDA device."""
    _no_cuda()


def get_device_name(device=None) -> str:
    """Raises a DeviceError: there is no CUDA device."""
    _no_cuda()


def set_device(device) -> None:
    """Raises a DeviceError: there is no CUDA device."""
    _no_cuda()
