"""default_collate and default_convert with torch.utils.data's rules, producing graphc Tensors.

    Tensor            -> the samples stacked along a new first dim
    NumPy array       -> as a Tensor, then stacked (string/object arrays are a TypeError)
    NumPy scalar      -> a 1-d Tensor of them
    float / int/bool  -> a float64 / int64 (bool) Tensor, as torch.tensor(batch)
    str / bytes       -> the list unchanged
    Mapping           -> the same keys, each value collated
    namedtuple        -> the same namedtuple, each field collated
    other Sequence    -> collated position by position (a tuple becomes a list, as in torch)
"""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from ...tensor import Tensor

_np_str_obj = re.compile(r"[SaUO]")
_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _stack(arrays) -> Tensor:
    return Tensor(np.stack(arrays))


def default_collate(batch):
    """Put a list of samples into a batch: see the module docstring for the rules."""
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _stack([b.numpy() for b in batch])
    if isinstance(elem, np.ndarray):
        if _np_str_obj.search(elem.dtype.str) is not None:
            raise TypeError(_ERR.format(elem.dtype))
        return _stack(batch)
    if isinstance(elem, (np.bool_, np.number)):
        return Tensor(np.asarray(batch))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):  # bool too: a bool batch is a bool tensor, as torch.tensor gives
        return Tensor(np.asarray(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        values = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(values)
                return clone
            return elem_type(values)
        except TypeError:
            return values
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        size = len(next(it))
        if not all(len(e) == size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # torch returns a list for tuples (backwards compatibility)
        return _like(elem, columns)
    raise TypeError(_ERR.format(elem_type))


def default_convert(data):
    """Turn NumPy arrays and scalars inside `data` into Tensors (what a DataLoader with
    batch_size=None applies to each sample); other values are left as they are."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _np_str_obj.search(data.dtype.str) is not None else Tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        values = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(values)
                return clone
            return elem_type(values)
        except TypeError:
            return values
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        return _like(data, converted)
    return data


def _like(seq, items: list):
    """`items` in a sequence of seq's type (a copy of a mutable one, refilled), as torch does;
    a plain list when that type cannot be built from a list."""
    try:
        if isinstance(seq, collections.abc.MutableSequence):
            clone = copy.copy(seq)
            for i, c in enumerate(items):
                clone[i] = c
            return clone
        return type(seq)(items)
    except TypeError:
        return items
