"""Keep the heap from holding on to freed object buffers.

glibc raises its mmap threshold dynamically after large blocks are freed, after which
multi-MiB buffers come from per-thread arenas and are retained: with dozens of download
threads the resident set then grows with the amount of data streamed. Fixing the threshold
at 1 MiB (``mallopt(M_MMAP_THRESHOLD)``, same as the ``MALLOC_MMAP_THRESHOLD_`` variable)
makes every large buffer an mmap returned to the OS on free, so peak RSS stays flat however
large the archive (bench/bundler_memory.py shows it). No-op where glibc is not the libc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3


def return_large_buffers_to_os(threshold: int = 1 << 20) -> bool:
    """Returns True when the setting took effect."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        ok = False
    log.debug("mmap threshold %s: %s", threshold, "set" if ok else "unavailable")
    return ok
