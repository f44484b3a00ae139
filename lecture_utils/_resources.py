"""The CPUs and memory this process may really use, and how many ALPaca workers fit in them.

Inside a container ``os.cpu_count()`` reports the host's cores. :func:`available_cpus` takes the
CPU affinity and the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) into account;
:func:`available_memory` the cgroup memory limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``) and the machine's available memory. :func:`worker_count` is the
number of worker processes that fit in both.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

__all__ = ["WORKER_MEMORY_BYTES", "WorkerLimitWarning", "available_cpus", "available_memory",
           "worker_count"]

CGROUP_ROOT = Path("/sys/fs/cgroup")

WORKER_MEMORY_BYTES: int = 1_000_000_000
"""Memory one worker process with ALPaca loaded and primed needs, bytes (measured peak ≈ 0.8 GB,
with a margin)."""

MAIN_PROCESS_BYTES: int = 1_000_000_000
"""Memory kept for the main process (a notebook kernel with the surrogate), bytes."""


class WorkerLimitWarning(UserWarning):
    """Fewer worker processes start than were asked for, or than there are CPUs."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs allowed by the cgroup quota, or None without a limit."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_v1 = _read(root / "cpu" / "cpu.cfs_quota_us")
    period_v1 = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_v1 and period_v1 and int(quota_v1) > 0:
        return int(quota_v1) / int(period_v1)
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: the affinity mask, capped by the cgroup CPU quota, ≥ 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(root)
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def _meminfo_available() -> int | None:
    text = _read(Path("/proc/meminfo"))
    for line in (text or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def available_memory(root: Path = CGROUP_ROOT) -> int | None:
    """Memory this process tree may use, bytes: the cgroup limit (minus what the cgroup already
    uses) or the machine's available memory, whichever is smaller; None if unknown."""
    limits = []
    v2_max, v2_now = _read(root / "memory.max"), _read(root / "memory.current")
    if v2_max is not None and v2_max != "max":
        limits.append(int(v2_max) - int(v2_now or 0))
    v1_max = _read(root / "memory" / "memory.limit_in_bytes")
    v1_now = _read(root / "memory" / "memory.usage_in_bytes")
    if v1_max is not None and int(v1_max) < 2**60:     # v1 reports "no limit" as ~2^63
        limits.append(int(v1_max) - int(v1_now or 0))
    machine = _meminfo_available()
    if machine is not None:
        limits.append(machine)
    return max(0, min(limits)) if limits else None


def worker_count(requested: int | None = None, *,
                 memory_per_worker: int = WORKER_MEMORY_BYTES,
                 root: Path = CGROUP_ROOT) -> int:
    """Worker processes to start: ``requested`` (default: the available CPUs), capped by the
    memory that fits ``memory_per_worker`` bytes each beside the main process (more workers than
    CPUs are allowed when asked for: they share the CPUs, but a worker that does not fit in
    memory gets the process tree killed).

    Parameters
    ----------
    requested : int, optional
        Workers asked for, ≥ 1.
    memory_per_worker : int, optional
        Bytes one worker needs.
    root : pathlib.Path, optional
        The cgroup file system.

    Returns
    -------
    int
        At least 1. When memory lowers the count, a :class:`WorkerLimitWarning` says why.

    Raises
    ------
    ValueError
        For ``requested < 1``.
    """
    if requested is not None and int(requested) < 1:
        raise ValueError(f"workers must be >= 1, got {requested}")
    cpus = available_cpus(root)
    n = cpus if requested is None else int(requested)
    memory = available_memory(root)
    fit = n if memory is None else max(1, (memory - MAIN_PROCESS_BYTES) // memory_per_worker)
    allowed = max(1, min(n, fit))
    if allowed < n:
        warnings.warn(f"{n} workers wanted, starting {allowed}: memory for {allowed} worker(s) "
                      f"of {memory_per_worker / 1e9:.1f} GB beside this process",
                      WorkerLimitWarning, stacklevel=2)
    return allowed
