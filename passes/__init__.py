"""Graph -> Graph transformations. `passes` imports `graphc.ir`; `graphc.ir` never imports `passes`."""
from .autodiff import autodiff, gradients  # noqa: F401
from .dce import dce  # noqa: F401
from .manager import DEFAULT_PIPELINE, PASSES, PassError, pipeline, run_pipeline  # noqa: F401
from .bisect import BisectResult, bisect  # noqa: F401,E402
from .fuse import fuse, fusion_report  # noqa: F401,E402
from .memory import memory_report, plan_memory  # noqa: F401,E402
from .quantize import quantize_fuse  # noqa: F401,E402
from .simplify import algebraic, cse, fold_constants  # noqa: F401,E402
