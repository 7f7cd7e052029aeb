"""glibc's malloc thresholds, fixed where its own rule would end up, so that forward passes reuse
their memory instead of faulting it in afresh.

By default glibc serves blocks over 128 KiB with mmap, and gives freed memory at the top of a
heap back to the kernel once more than 256 KiB is free there. It raises both thresholds as large
blocks are freed (the mmap threshold to the largest block freed, up to 32 MiB on 64-bit; the
trim threshold to twice that), so which passes are cheap depends on the order in which batch
sizes happened to arrive. A forward pass of MobileNetV2 frees and reallocates a few megabytes of
activations per layer; while they are mmapped or trimmed, every pass faults them in again.
Measured (`python -m loadtest.pass_faults`, TorchScript, model 2.1.0, 1 thread): 2,600 page
faults and 15 ms per batch-1 pass in a fresh process against 10 ms once warm, and 10,000 faults
and 15 ms per photo at batch 4 whenever batch 4 was the largest pass yet; with the thresholds
fixed at glibc's own ceiling, about 10 ms per photo at either size and almost no faults.

Blocks over 32 MiB (a large photo's decoded pixels) are still mmapped and returned at once, so
the peak is unchanged; what changes is that up to 64 MiB of freed memory stays in each heap
for the next pass (loadtest/MEMORY.md). An operator's own MALLOC_MMAP_THRESHOLD_ or
MALLOC_TRIM_THRESHOLD_ is left alone.
"""

from __future__ import annotations

import ctypes
import os

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic ceiling
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc's own ratio between the two
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def operator_settings() -> dict[str, str]:
    """The thresholds the environment sets (MALLOC_*), which the process leaves as they are."""
    return {name: os.environ[name] for name in OPERATOR_SETTINGS if name in os.environ}


def keep_freed_memory_for_reuse() -> bool:
    """Fix the two thresholds, unless the environment sets either; True when they were set
    (a C library other than glibc has no `mallopt`, and nothing changes)."""
    if operator_settings():
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
