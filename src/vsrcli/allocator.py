"""glibc's malloc tuned for a process that allocates and frees frame-sized buffers all the time.

Why: glibc serves each block above its mmap threshold (128 KiB at first, adapting up to 32 MiB) with a fresh
mapping, and hands the heap's free top back to the kernel above the trim threshold, so every frame- or
feature-sized tensor is page-faulted in again and zero-filled by the kernel. On a 2-core EPYC that was a sixth
of `vsrcli upscale`'s CPU time (5.7 s system time of 33 s for 24 frames of the default x4 model). Keeping
blocks up to 32 MiB on the heap and its free memory in the process removes most of it
(``benchmarks/allocator.py`` measures it). A library must not change its host's allocator, so only vsrcli's
own process entries (the CLI, batch's worker processes) call this; ``VSRCLI_MALLOC=system`` leaves glibc's
defaults, and ``MALLOC_*_`` or ``GLIBC_TUNABLES`` settings of the user win. The price: a process may keep up
to 1 GiB of freed memory (plus 64 MiB of padding) for its next allocations.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this parameter on 64-bit (half its 64 MiB heap size)
TRIM_THRESHOLD = 1 << 30  # give memory back only when a whole GiB lies free at the top of the heap
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps, so a frame buffer rarely needs a new brk

# (parameter, value, the environment variable and the GLIBC_TUNABLES name a user would set it with)
SETTINGS = (
    (M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
    (M_TRIM_THRESHOLD, TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
    (M_TOP_PAD, TOP_PAD, "MALLOC_TOP_PAD_", "glibc.malloc.top_pad"),
)


def glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None elsewhere (macOS, Windows, musl) and where another allocator serves
    ``malloc`` (jemalloc or tcmalloc in LD_PRELOAD: glibc's mallopt would then tune an unused allocator)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        process = ctypes.CDLL(None)
        libc = ctypes.CDLL("libc.so.6")
        version = libc.gnu_get_libc_version
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    address = ctypes.cast(process.malloc, ctypes.c_void_p).value
    if address != ctypes.cast(libc.malloc, ctypes.c_void_p).value:
        return None
    version.restype = ctypes.c_char_p
    if not version():
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def tune_allocator(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Apply the settings above to this process; returns the names of those that took effect."""
    if environ.get("VSRCLI_MALLOC", "").strip().lower() == "system":
        return []
    mallopt = glibc_mallopt()
    if mallopt is None:
        return []
    tunables = environ.get("GLIBC_TUNABLES", "")
    applied = []
    for param, value, env_name, tunable in SETTINGS:
        if env_name in environ or f"{tunable}=" in tunables:  # the user's own tuning stands
            continue
        if mallopt(param, value) == 1:
            applied.append(env_name.strip("_").lower())
    return applied
