"""Tensors in shared memory: `Module.share_memory()` and the pickling that keeps them shared.

`share_module(m)` packs every parameter and buffer of `m` into one `multiprocessing.shared_memory`
segment and makes their arrays views of it (same Parameter objects, new arrays). A reducer
registered with multiprocessing's ForkingPickler (the pickler behind `Process(args=...)` with the
spawn start method, and behind `Queue.put`) sends such an array as (segment, offset, shape,
dtype) instead of its bytes, so the child process maps the same memory: updates either side makes
are seen by the other, as with torch's `share_memory_()`. With the fork start method the child
inherits the shared mapping directly. Ordinary `pickle` (checkpoints) still copies the data.

The process that created a segment unlinks it when it exits; children attach without registering
it with their resource tracker (which would unlink or warn about it when they exit).
"""
from __future__ import annotations

import atexit
import mmap
import os
import weakref
from multiprocessing import shared_memory
from multiprocessing.reduction import ForkingPickler

import numpy as np

from .ir.buffers import ALIGN, align

# id(array) -> (weakref to it, (segment name, segment size, offset, shape, dtype str))
_registry: dict[int, tuple] = {}
_created: list[shared_memory.SharedMemory] = []   # unlinked at exit
_maps: dict[str, object] = {}                       # segments mapped in this process
_PID = os.getpid()   # only the creating process unlinks (a forked child inherits _created)


def layout(arrays) -> tuple[list[tuple[int, tuple, str]], int]:
    """(byte offset, shape, dtype) of each array packed into one buffer, and its size."""
    out, at = [], 0
    for a in arrays:
        out.append((at, a.shape, a.dtype.str))
        at += align(a.nbytes)
    return out, max(at, ALIGN)


def views(buf, lay) -> list[np.ndarray]:
    """Arrays over `buf` at the offsets of `lay`."""
    return [np.ndarray(shape, np.dtype(dt), buffer=buf, offset=off) for off, shape, dt in lay]


def attach(name: str, size: int):
    """Map an existing segment without registering it with this process's resource tracker.

    (Before Python 3.13, attaching registers the segment again, and the tracker then unlinks or
    warns about it when the process exits; on Linux the segment is a file under /dev/shm.)
    """
    path = f"/dev/shm/{name.lstrip('/')}"
    if os.path.exists(path):
        with open(path, "r+b") as f:
            return mmap.mmap(f.fileno(), size)
    return shared_memory.SharedMemory(name).buf  # other systems: the tracker may warn


def _register(arr: np.ndarray, info: tuple) -> None:
    _registry[id(arr)] = (weakref.ref(arr, lambda _, k=id(arr): _registry.pop(k, None)), info)


def is_shared(arr) -> bool:
    """True for an array that share_module placed (or a child mapped) in shared memory."""
    e = _registry.get(id(arr))
    return e is not None and e[0]() is arr


def share_module(module):
    """Move `module`'s parameters and buffers into one shared-memory segment; returns it."""
    tensors = [t for t in list(module.parameters()) + list(module.buffers())
               if not is_shared(t._data)]
    seen, todo = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t)); todo.append(t)  # noqa: E702
    if not todo:
        return module
    lay, size = layout([t._data for t in todo])
    shm = shared_memory.SharedMemory(create=True, size=size)
    name = shm.name
    shm.close()   # map it ourselves: a SharedMemory with live views cannot close at exit
    _created.append(shm)
    buf = attach(name, size)
    _maps[name] = buf
    for t, v, (off, shape, dt) in zip(todo, views(buf, lay), lay):
        np.copyto(v, t._data)
        t._data = v
        _register(v, (name, size, off, shape, dt))
    return module


def _rebuild(name: str, size: int, off: int, shape: tuple, dt: str) -> np.ndarray:
    buf = _maps.get(name)
    if buf is None:
        buf = _maps[name] = attach(name, size)
    arr = np.ndarray(shape, np.dtype(dt), buffer=buf, offset=off)
    _register(arr, (name, size, off, shape, dt))
    return arr


def _reduce_array(arr: np.ndarray):
    e = _registry.get(id(arr))
    if e is not None and e[0]() is arr:
        return _rebuild, e[1]
    return arr.__reduce_ex__(4)   # as without this reducer (4: no out-of-band buffers)


ForkingPickler.register(np.ndarray, _reduce_array)


@atexit.register
def _unlink() -> None:
    if os.getpid() != _PID:
        return
    for shm in _created:
        try:
            shm.unlink()
        except (FileNotFoundError, OSError):
            pass
    _created.clear()
