"""graphc.accelerator: torch.accelerator's queries; graphc has no accelerator (CPU only)."""
from __future__ import annotations


def is_available() -> bool:
    """False: graphc runs on the CPU only."""
    return False


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    """0: there is no accelerator."""
    return 0
