"""Keep freed memory in the process: the allocator setting a fitting process runs with.

Fits, bootstraps and held-out refits allocate and free the same few-megabyte temporaries
thousands of times ((replicates x starts) x runs x 5 arrays in every Newton step). glibc
hands blocks above its mmap threshold (128 KiB, raised adaptively) straight back to the
kernel when freed, so each new temporary is fresh pages that fault in one by one: measured
on Epoch's 240 runs (fit, held-out evidence and 1,000 replicates), 1.05 s as shipped and
0.58 s with the thresholds below, identical results. :func:`keep_freed_memory` raises the
mmap threshold to ``MMAP_THRESHOLD`` (blocks up to 32 MiB are reused from the heap) and
keeps up to ``TRIM_THRESHOLD`` of freed heap before returning it to the kernel.

The command-line process calls it once at start (its forked bootstrap workers inherit it);
a program using the library decides for its own process (docs/api.md). Elsewhere than
glibc (macOS, musl) it changes nothing and says so by returning False.
"""

from __future__ import annotations

import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 << 20  # bytes: glibc's own ceiling for its adaptive threshold
TRIM_THRESHOLD = 64 << 20  # bytes of freed heap kept for reuse
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (module doc); True when both
    were set."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
