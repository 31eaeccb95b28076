"""graphc.utils.data: torch.utils.data's datasets, samplers, collation and DataLoader.

Batches are graphc Tensors; see dataloader.py for the DataLoader's arguments (workers are
accepted, batches are built in the main process) and sampler.py for where random orders come from.
"""
from .collate import default_collate, default_convert  # noqa: F401
from .dataloader import DataError, DataLoader, collate, get_worker_info  # noqa: F401
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,  # noqa: F401
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                      SubsetRandomSampler, WeightedRandomSampler)

from ...unsupported import module_getattr as _module_getattr  # noqa: E402
__getattr__ = _module_getattr(__name__, globals())  # a missing torch name: NotSupportedError
