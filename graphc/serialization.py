"""graphc.save / graphc.load: checkpoints of state_dicts, tensors, optimizer state and objects.

The format: one pickle stream (protocol 4) whose first object is the header dict
`{"format": "graphc-pickle", "version": 1}` and whose second is the saved object. Every graphc
Tensor in it (Parameters and Buffers included) is stored as
`graphc.serialization._rebuild(kind, dtype_name, shape, raw_bytes, requires_grad)`, i.e. its
NumPy data as raw little-endian bytes; NumPy arrays, numbers, strings, lists, tuples, dicts and
OrderedDicts are pickled as they are. It is not torch's zip format: torch.load cannot read it,
and graphc.load does not read torch's files.

`graphc.load(f, weights_only=True)` (torch's default) unpickles only tensors, NumPy arrays,
graphc dtypes and devices, numbers, strings and containers: a whole pickled Module or other
class needs `weights_only=False` (only for files you trust: unpickling runs code).
`map_location` is accepted: anything naming the CPU (a string, a device, a dict or a callable)
loads as usual; a CUDA location raises a DeviceError, since graphc has no CUDA.
"""
from __future__ import annotations

import collections
import io
import os
import pickle

import numpy as np

from . import dtypes
from .device import check_device, device
from .tensor import Tensor, contiguous

HEADER = {"format": "graphc-pickle", "version": 1}
PROTOCOL = 4


def _rebuild(kind: str, dtype_name: str, shape, raw: bytes, requires_grad: bool):
    """A Tensor/Parameter/Buffer from its saved bytes (what graphc.save writes for each)."""
    dt = dtypes.from_name(dtype_name)
    arr = np.frombuffer(raw, dtype=dt.np.newbyteorder("<")).astype(dt.np).reshape(shape)
    if kind == "param":
        from .nn.parameter import Parameter
        return Parameter(arr, requires_grad=requires_grad)
    if kind == "buffer":
        from .nn.parameter import Buffer
        return Buffer(arr)
    return Tensor(arr, requires_grad=requires_grad)


def _reduce_tensor(t: Tensor):
    from .nn.parameter import Buffer, Parameter
    arr = contiguous(t.numpy())  # a traced tensor raises here: it has no data
    kind = "buffer" if isinstance(t, Buffer) else "param" if isinstance(t, Parameter) else "tensor"
    raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return (_rebuild, (kind, dtypes.from_numpy(arr.dtype).name, arr.shape, raw,
                       bool(t.requires_grad)))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        """Tensors (Parameters, Buffers) as _rebuild calls; everything else as pickle does."""
        if isinstance(obj, Tensor):
            return _reduce_tensor(obj)
        return NotImplemented


def save(obj, f, pickle_module=None, pickle_protocol: int = PROTOCOL, **kwargs) -> None:
    """Save `obj` (a state_dict, tensor, optimizer state_dict, nested containers of them, or any
    picklable object such as a whole Module) to path or file object `f`; see the module doc for
    the format."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            return save(obj, fh, pickle_module, pickle_protocol)
    p = _Pickler(f, protocol=pickle_protocol)
    p.dump(HEADER)
    p.dump(obj)


_SAFE = {
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "slice"), ("builtins", "range"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("graphc.serialization", "_rebuild"), ("graphc.dtypes", "from_name"),
    ("graphc.device", "device"),
}


class _WeightsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        """Only the allowed globals (_SAFE); anything else is an UnpicklingError."""
        if (module, name) in _SAFE or (module == "numpy" and name.endswith("DType")) or \
                module.startswith("numpy.dtypes"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Weights only load failed: {module}.{name} is not an allowed global (graphc.load "
            "with weights_only=True reads tensors, arrays, numbers, strings and containers). "
            "If you trust the file, pass weights_only=False to load whole objects such as "
            "Modules.")


def _check_location(map_location) -> None:
    if map_location is None or callable(map_location) and not isinstance(map_location, device):
        return
    if isinstance(map_location, dict):
        for v in map_location.values():
            check_device(v)
        return
    check_device(map_location)


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None,
         mmap=None, **pickle_load_args):
    """Load what graphc.save wrote to path or file object `f`; `weights_only` (default True, as
    torch) and `map_location` as described in the module doc."""
    _check_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return load(fh, map_location, weights_only=weights_only)
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    cls = pickle.Unpickler if weights_only is False else _WeightsOnlyUnpickler
    up = cls(f)
    try:
        header = up.load()
    except (pickle.UnpicklingError, EOFError) as e:
        raise pickle.UnpicklingError(f"graphc.load: not a file written by graphc.save ({e})") \
            from None
    if not (isinstance(header, dict) and header.get("format") == HEADER["format"]):
        raise pickle.UnpicklingError("graphc.load: not a file written by graphc.save (no graphc "
                                     "header; torch's zip files are not read)")
    return up.load()


_ = collections  # OrderedDict is unpickled by name
