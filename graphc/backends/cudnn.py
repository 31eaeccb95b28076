"""graphc.backends.cudnn: torch's cuDNN flags, kept as plain attributes (graphc has no cuDNN;
its results are deterministic whatever they say)."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: graphc has no cuDNN."""
    return False


def version():
    """None: graphc has no cuDNN."""
    return None
