"""lecture_utils._resources: CPUs and memory of a container, and the worker count that fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from lecture_utils import _resources as res

GB = 1_000_000_000


def cgroup_v2(tmp_path: Path, cpu: str, memory_max: str, memory_now: str = "0") -> Path:
    (tmp_path / "cpu.max").write_text(cpu + "\n")
    (tmp_path / "memory.max").write_text(memory_max + "\n")
    (tmp_path / "memory.current").write_text(memory_now + "\n")
    return tmp_path


def test_a_binder_like_container_gets_one_worker_and_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One CPU of quota and 2 GB, of which the kernel uses 0.5 GB: one worker, and asking for
    four says why there is only one."""
    root = cgroup_v2(tmp_path, "100000 100000", str(2 * GB), str(GB // 2))
    monkeypatch.setattr(res, "_meminfo_available", lambda: 64 * GB)   # the host has plenty
    assert res.available_cpus(root) == 1
    assert res.available_memory(root) == 2 * GB - GB // 2
    assert res.worker_count(root=root) == 1
    with pytest.warns(res.WorkerLimitWarning, match="starting 1"):
        assert res.worker_count(4, root=root) == 1
    monkeypatch.setattr(res, "_meminfo_available", lambda: None)
    roomy = cgroup_v2(tmp_path, "100000 100000", str(64 * GB))
    assert res.worker_count(4, root=roomy) == 4      # more workers than CPUs when asked


def test_memory_limits_workers_below_the_cpus(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = cgroup_v2(tmp_path, "max 100000", str(4 * GB))
    monkeypatch.setattr(res, "_meminfo_available", lambda: None)
    monkeypatch.setattr(res.os, "sched_getaffinity", lambda _: set(range(8)))
    assert res.available_cpus(root) == 8
    with pytest.warns(res.WorkerLimitWarning, match="memory for 3 worker"):
        assert res.worker_count(root=root) == 3


def test_cgroup_v1_and_no_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(2**63 - 4096) + "\n")
    monkeypatch.setattr(res, "_meminfo_available", lambda: 100 * GB)
    monkeypatch.setattr(res.os, "sched_getaffinity", lambda _: set(range(16)))
    assert res.available_cpus(tmp_path) == 2
    assert res.available_memory(tmp_path) == 100 * GB
    assert res.worker_count(2, root=tmp_path) == 2
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setattr(res, "_meminfo_available", lambda: None)
    assert res.available_memory(empty) is None
    assert res.worker_count(root=empty) == 16


def test_bad_request() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        res.worker_count(0)
