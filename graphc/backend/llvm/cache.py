"""Compiled objects on disk and in memory, keyed by LLVM IR + CPU + features + llvmlite version.

An entry is `MAGIC | sha256(payload) | payload`; anything that does not check out (truncated,
corrupted, another format) is deleted and rebuilt, never loaded. GRAPHC_CACHE_DIR sets the
directory (default: $XDG_CACHE_HOME/graphc or ~/.cache/graphc); GRAPHC_CACHE=0 turns it off.
An unwritable directory only costs the disk cache, with one warning.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
from collections import OrderedDict

from ... import config

MAGIC = b"GRAPHC-OBJ-1\n"
MEMORY_BYTES = 64 << 20  # the in-memory cache keeps the most recently used objects up to this
_memory: OrderedDict[str, bytes] = OrderedDict()
_memory_bytes = 0
_lock = threading.Lock()
_warned = set()


def enabled() -> bool:
    """Whether the on-disk object cache is on (GRAPHC_CACHE is not 0, false, off or empty)."""
    return config.cache_enabled()


def directory() -> str:
    """The cache directory: GRAPHC_CACHE_DIR, else graphc under XDG_CACHE_HOME or ~/.cache."""
    return config.cache_dir()


def key(llvm_ir: str, parts: tuple) -> str:
    """The cache key: SHA-256 of the LLVM IR and the other `parts` (CPU, features, versions)."""
    h = hashlib.sha256()
    h.update(llvm_ir.encode())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()


def _path(k: str) -> str:
    return os.path.join(directory(), k[:2], k + ".o")


def get(k: str) -> bytes | None:
    """The object for key k, from memory or disk; None if absent or not trustworthy."""
    with _lock:
        if k in _memory:
            _memory.move_to_end(k)
            return _memory[k]
    if not enabled():
        return None
    p = _path(k)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC) or \
            hashlib.sha256(data[head:]).digest() != data[len(MAGIC):head]:
        try:
            os.remove(p)  # corrupt or truncated: rebuild
        except OSError:
            pass
        return None
    obj = data[head:]
    _remember(k, obj)
    return obj


def _remember(k: str, obj: bytes) -> None:
    """Keep obj in memory, dropping the least recently used objects beyond MEMORY_BYTES (a
    process compiling thousands of graphs must not keep every object forever)."""
    global _memory_bytes
    with _lock:
        old = _memory.pop(k, None)
        _memory_bytes -= len(old) if old is not None else 0
        _memory[k] = obj
        _memory_bytes += len(obj)
        while _memory_bytes > MEMORY_BYTES and len(_memory) > 1:
            _memory_bytes -= len(_memory.popitem(last=False)[1])


def put(k: str, obj: bytes) -> None:
    """Keep object code `obj` under key `k` in memory and, if enabled, atomically on disk."""
    _remember(k, obj)
    if not enabled():
        return
    p = _path(k)
    try:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, p)  # atomic: readers never see half a file
    except OSError as e:
        d = directory()
        if d not in _warned:
            _warned.add(d)
            warnings.warn(f"graphc: cannot write the compile cache in {d} ({e}); compiled code "
                          "is kept in memory only. Set GRAPHC_CACHE_DIR or GRAPHC_CACHE=0.",
                          RuntimeWarning, stacklevel=3)


def clear_memory() -> None:
    """Forget the objects held in memory (the disk cache stays)."""
    global _memory_bytes
    with _lock:
        _memory.clear()
        _memory_bytes = 0
