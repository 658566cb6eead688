"""The C heap under Python's objects (glibc only; elsewhere these do nothing).

glibc keeps freed memory in the middle of its heap, and gives each allocating thread a heap of
its own. For a process that builds and drops megabytes of buffers and tables in phases (a layer
read, a layer's analysis), both raise the peak: see `release_freed_memory` and `limit_arenas`.
"""

from __future__ import annotations

import ctypes
import platform
from typing import Any

_M_ARENA_MAX = -8  # glibc's mallopt parameter
_arenas_limited = False
_libc: Any = None


def _glibc() -> Any:
    """The C library, if it is glibc (None elsewhere: nothing here is needed for correctness)."""
    global _libc
    if _libc is None:
        _libc = False
        if platform.libc_ver()[0] == "glibc":
            try:
                _libc = ctypes.CDLL(None)
            except OSError:
                pass
    return _libc or None


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim).

    A layer read leaves megabyte chunks freed in the middle of the heap, where glibc keeps them
    (it only gives back the top); the analysis after the read then grew on top of them, and the
    1 GB zstd benchmark image peaked 10 MB higher. Likewise after each layer's analysis, whose
    tables for that layer alone are dropped before the next."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def limit_arenas() -> None:
    """Keep glibc to one malloc arena (once per process), before helper threads start.

    glibc gives each thread that allocates a heap (arena) of its own; the megabyte chunks that
    helper threads allocate and free then sit in several heaps at once (reading the 1 GB zstd
    benchmark image peaked at 75 MB instead of 48), and each arena reserves 64 MB of address
    space. One arena costs nothing here: helper threads allocate a few large buffers, not many
    small objects."""
    global _arenas_limited
    if not _arenas_limited:
        _arenas_limited = True
        libc = _glibc()
        if libc is not None:
            libc.mallopt(_M_ARENA_MAX, 1)
