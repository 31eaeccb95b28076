"""graphc.utils: torch.utils's layout (graphc.utils.data holds Dataset, DataLoader and samplers)."""
from . import data  # noqa: F401
