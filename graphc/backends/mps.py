"""graphc.backends.mps: Apple's Metal backend is not available in graphc."""


def is_available() -> bool:
    """False: graphc runs on the CPU only."""
    return False


def is_built() -> bool:
    """False: graphc has no MPS backend."""
    return False
