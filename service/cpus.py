"""How many CPUs this process may really use.

`os.cpu_count()` reports the host's cores, but a container on Cloud Run or Kubernetes is limited
by its cgroup CPU quota and by its CPU affinity. Running more torch or decoding threads than that
makes threads wait for each other's time slices, which slows every request down.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpu_count(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The smallest of: CPUs in our affinity mask, and the cgroup quota rounded up (at least 1)."""
    counts = [_affinity_count()]
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        counts.append(math.ceil(quota))
    return max(1, min(counts))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup (v2 `cpu.max`, else v1 CFS quota), or None when unlimited."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        return _quota_from_v2(v2)
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _read(cgroup_root / folder / "cpu.cfs_quota_us")
        period = _read(cgroup_root / folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _quota_from_v1(quota, period)
    return None


def _quota_from_v2(text: str) -> float | None:
    """`cpu.max` holds "<quota> <period>" in microseconds, or "max <period>" when unlimited."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return _ratio(parts[0], parts[1])


def _quota_from_v1(quota: str, period: str) -> float | None:
    """A v1 quota of -1 means unlimited."""
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def _affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not available on macOS
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
