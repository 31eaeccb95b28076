"""graphc.data: an alias of graphc.utils.data (torch.utils.data's layout), kept for existing code.

`from graphc.data import DataLoader, TensorDataset` and `from graphc.utils.data import ...` give
the same objects; batches are graphc Tensors (`np.asarray(batch)` shares their memory).
"""
from .utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataError,  # noqa: F401
                         DataLoader, Dataset, IterableDataset, RandomSampler, Sampler,
                         SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                         WeightedRandomSampler, collate, default_collate, default_convert,
                         get_worker_info, random_split)
