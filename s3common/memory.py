"""How the bundler's heap treats its multi-MiB buffers (objects, tar data, parts).

glibc's defaults serve a long-running process that streams gigabytes badly: after a large
block is freed it raises its mmap threshold dynamically, so later buffers of that size come
from per-thread arenas (up to 8 per core) and stay resident there -- peak RSS then grows with
the amount of data archived. Pinning the mmap threshold low (1 MiB) fixed that, but made every
8 MiB buffer a fresh mmap: ~30 ms of page faults per 8 MiB object (docs/performance.md).

So :func:`configure_heap` sets both knobs at start-up, before any worker thread exists:

- one malloc arena for every thread (``M_ARENA_MAX`` = 1): freed buffers are reused by
  whichever thread allocates next, so the resident set is bounded by what is in flight, not by
  arenas × threads;
- a fixed mmap threshold of 32 MiB (``M_MMAP_THRESHOLD``, which also stops the dynamic
  raising): buffers up to 32 MiB are recycled inside that arena without page faults; larger
  ones are mmaps returned to the OS on free.

Measured by ``make bench`` (200 × 8 MiB objects, and 256 MiB vs 1 GiB archives): 71 → 50 ms
of CPU per 8 MiB object, peak RSS 170 → 198 MiB and still flat in archive size. The same as
the ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` variables. No-op where glibc is not the
libc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def configure_heap(mmap_threshold: int = 32 << 20, arenas: int = 1) -> bool:
    """Returns True when both settings took effect."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(M_ARENA_MAX, arenas)) and bool(
            libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        )
    except (OSError, AttributeError):
        ok = False
    log.debug(
        "malloc arenas %s, mmap threshold %s: %s", arenas, mmap_threshold, "set" if ok else "no"
    )
    return ok
