"""Graph -> Graph transformations. `passes` imports `graphc.ir`; `graphc.ir` never imports `passes`."""
from .autodiff import autodiff, gradients  # noqa: F401
from .dce import dce  # noqa: F401
from .manager import DEFAULT_PIPELINE, PASSES, PassError, run_pipeline  # noqa: F401
