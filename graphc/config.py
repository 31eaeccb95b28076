"""Every `GRAPHC_*` environment variable, read in one place.

Each setting is a function that reads the environment when called, so a test (or a user) that
sets a variable before compiling sees it take effect without re-importing graphc. Bad values
fall back to the default, as documented per variable. Nothing else in graphc reads `os.environ`
for a `GRAPHC_*` name; a launcher that *sets* one for its children (MPI ranks, Hogwild workers)
goes through `set_num_threads`.

| variable | default | meaning |
|---|---|---|
| `GRAPHC_BACKEND` | `llvm` | backend of `graphc.compile` when none is given (`llvm`, `interpreter`) |
| `GRAPHC_NUM_THREADS` | CPU count | threads of the native thread pool (results do not depend on it) |
| `GRAPHC_AVX512` | `1` | `0`: use the 256-bit matmul tiles even where AVX-512 exists |
| `GRAPHC_INT8_VNNI` | `1` | `0`: use the AVX2 `pmaddubsw` int8 path even where VNNI exists |
| `GRAPHC_CACHE` | `1` | `0`/`false`/`off`/empty: no on-disk cache of compiled objects |
| `GRAPHC_CACHE_DIR` | `$XDG_CACHE_HOME/graphc` or `~/.cache/graphc` | where that cache lives |
| `GRAPHC_DUMP` | unset | a directory: write the IR after every stage there |
| `GRAPHC_DUMP_LEVEL` | `1` | `2`: also dump why each kernel boundary exists (the fusion report) |
| `GRAPHC_DEBUG` | `0` | `1`: time every native kernel, print a summary at exit; `2`: every call |
| `GRAPHC_BOUNDS_CHECK` | `0` | `1`: compile a bounds check into every kernel memory access |
| `GRAPHC_BISECT` | unset | set by `python -m graphc bisect`: check each compiled function pass by pass |
| `GRAPHC_ALLREDUCE` | `native` | `python`: run the data-parallel all-reduce through a Python callback |
"""
from __future__ import annotations

import os


def _get(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    try:
        return int(_get(name) or default)
    except ValueError:
        return default


def _flag(name: str, default: bool) -> bool:
    """An on/off variable: unset gives `default`; "0" (and for some, "false"/"off") is off."""
    v = _get(name, "1" if default else "0")
    return v not in ("0", "")


def backend() -> str:
    """GRAPHC_BACKEND if set (llvm or interpreter), else llvm."""
    return _get("GRAPHC_BACKEND") or "llvm"


def num_threads() -> int:
    """Threads of the native pool: GRAPHC_NUM_THREADS if positive, else the CPU count."""
    n = _int("GRAPHC_NUM_THREADS", 0)
    return n if n > 0 else (os.cpu_count() or 1)


def num_threads_set() -> bool:
    """Whether the user chose GRAPHC_NUM_THREADS (launchers then leave it alone)."""
    return bool(_get("GRAPHC_NUM_THREADS"))


def set_num_threads(n: int) -> None:
    """Set GRAPHC_NUM_THREADS for this process and the processes it starts (before the pool runs)."""
    os.environ["GRAPHC_NUM_THREADS"] = str(int(n))


def avx512() -> bool:
    """Whether the 512-bit float matmul tiles may be used (GRAPHC_AVX512 is not 0)."""
    return _get("GRAPHC_AVX512", "1") != "0"


def int8_vnni() -> bool:
    """Whether the VNNI int8 path may be used (GRAPHC_INT8_VNNI is not 0)."""
    return _get("GRAPHC_INT8_VNNI", "1") != "0"


def cache_enabled() -> bool:
    """Whether the on-disk object cache is on (GRAPHC_CACHE is not 0, false, off or empty)."""
    return _get("GRAPHC_CACHE", "1") not in ("0", "false", "off", "")


def cache_dir() -> str:
    """The object cache directory: GRAPHC_CACHE_DIR, else graphc under XDG_CACHE_HOME or ~/.cache."""
    d = _get("GRAPHC_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc")


def dump_dir() -> str | None:
    """GRAPHC_DUMP: the directory each compiled graph writes its stages to, or None."""
    return _get("GRAPHC_DUMP") or None


def dump_level() -> int:
    """GRAPHC_DUMP_LEVEL: 1 (default) dumps each stage; 2 also says why kernels were not fused."""
    return _int("GRAPHC_DUMP_LEVEL", 1)


def debug_level() -> int:
    """GRAPHC_DEBUG: 0 (default); 1 times every kernel and prints a summary at exit; 2 every call."""
    try:
        return int(_get("GRAPHC_DEBUG", "0") or 0)
    except ValueError:
        return 1


def bounds_check() -> bool:
    """GRAPHC_BOUNDS_CHECK: compile a bounds check into every kernel memory access."""
    return _flag("GRAPHC_BOUNDS_CHECK", False)


def bisect() -> bool:
    """GRAPHC_BISECT (set by `python -m graphc bisect`): check every pass on the real inputs."""
    return bool(_get("GRAPHC_BISECT"))


def allreduce_mode() -> str:
    """GRAPHC_ALLREDUCE: "native" (default, MPI_Allreduce from native code) or "python"."""
    m = _get("GRAPHC_ALLREDUCE", "native").strip().lower() or "native"
    return m if m in ("native", "python") else "native"
