"""Evaluate the exact (or leading-log) χ² for batches of points, in parallel, failure-tolerant.

The engine knows the physics (:mod:`lecture_utils.alps`) and nothing downstream. It splits the
points
into chunks and submits them to any ``concurrent.futures.Executor``-like object:

* by default a local process pool (``workers`` processes, started with ``spawn``);
* a ``dask.distributed.Client`` for a cluster (or a ``LocalCluster``).

Each worker initialises identically: :func:`alps.load_alpaca` imports ALPaca and fixes its random
draws, so a χ² does not depend on the worker, the chunking or the order. A point whose evaluation
raises is recorded with the exception type and message (``status="failed"``) and the run goes on.

Results stream to an optional *sink* — any object with ``append(records)`` — as chunks finish (the
data layer's :class:`lecture_utils.data.Store` is one), so a killed run loses at most the chunks in
flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import alps
from ._progress import progress_bar
from ._resources import worker_count

DEFAULT_CHUNK_SIZE: dict[str, int] = {"exact": 8, "leadinglog": 32, "tabulated": 32}
"""Points per task: small enough to stream and balance, large enough to amortise ALPaca's
vectorised χ² call."""


class Sink(Protocol):
    def append(self, records: Sequence[dict[str, Any]]) -> Any: ...


def _limit_threads() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def worker_init() -> None:
    """Identical initialisation of every worker: one BLAS thread, ALPaca imported and primed."""
    _limit_threads()
    alps.load_alpaca()


def worker_init_probe(_: int = 0) -> int:
    """Return the worker's pid once it is initialised (used to warm a pool before timing it)."""
    alps.load_alpaca()
    return os.getpid()


def _record(idx: int, chi2: float | None, status: str, seconds: float,
            exc: BaseException | None = None) -> dict[str, Any]:
    return {"idx": int(idx), "chi2": chi2, "status": status,
            "error_type": type(exc).__name__ if exc else None,
            "error_message": str(exc)[:500] if exc else None, "seconds": seconds}


def evaluate_chunk(indices: Sequence[int], points: np.ndarray,
                   integrator: alps.Integrator = "exact") -> list[dict[str, Any]]:
    """Evaluate one chunk; runs in a worker. Never raises for a failing point.

    The chunk is first evaluated in one vectorised ALPaca call; if that raises, each point is
    evaluated alone so that only the culprit is recorded as failed. A non-finite χ² counts as a
    failure.
    """
    alps.load_alpaca()
    points = np.asarray(points, dtype=float)
    t0 = time.perf_counter()
    try:
        values = alps.chi2(points, integrator, allow_extrapolation=True)
        per_point = (time.perf_counter() - t0) / len(points)
        out = []
        for i, v in zip(indices, values, strict=True):
            if np.isfinite(v):
                out.append(_record(i, float(v), "ok", per_point))
            else:
                out.append(_record(i, None, "failed", per_point,
                                   FloatingPointError(f"non-finite chi2 {v}")))
        return out
    except Exception:  # noqa: BLE001 - isolate the failing point(s) below
        pass
    out = []
    for i, p in zip(indices, points, strict=True):
        t1 = time.perf_counter()
        try:
            v = float(alps.chi2(p[None, :], integrator, allow_extrapolation=True)[0])
            if np.isfinite(v):
                out.append(_record(i, v, "ok", time.perf_counter() - t1))
            else:
                out.append(_record(i, None, "failed", time.perf_counter() - t1,
                                   FloatingPointError(f"non-finite chi2 {v}")))
        except Exception as exc:  # noqa: BLE001 - recorded, not lost
            out.append(_record(i, None, "failed", time.perf_counter() - t1, exc))
    return out


def _is_dask_client(executor: Any) -> bool:
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "gather")


def _as_completed(executor: Any, futures: list[Any]) -> Iterator[Any]:
    if _is_dask_client(executor):
        from distributed import as_completed

        yield from as_completed(futures)
    else:
        yield from cf.as_completed(futures)


def local_pool(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """A process pool initialised with :func:`worker_init`: ``workers`` processes (default: the
    CPUs this process may use), never more than the CPUs and the memory allow
    (:func:`lecture_utils._resources.worker_count`, which warns when it lowers the count)."""
    n = worker_count(workers)
    return cf.ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=worker_init)


def evaluate(points: Any, integrator: alps.Integrator = "exact", *,
             indices: Sequence[int] | None = None, executor: Any = None,
             workers: int | None = None, chunk_size: int | None = None,
             sink: Sink | None = None, progress: bool | None = None,
             allow_extrapolation: bool = False,
             on_chunk: Callable[[list[dict[str, Any]]], None] | None = None) -> pd.DataFrame:
    """Evaluate χ² at ``points`` (shape (n, 6)) in parallel.

    Parameters
    ----------
    points : array, shape (n, 6)
        Parameters in :data:`alps.PARAMETERS` order (validated before anything is submitted).
    integrator : "exact", "leadinglog" or "tabulated" (:func:`lecture_utils.alps.chi2`)
    indices : sequence of int, optional
        Identifiers of the points (default ``0 … n-1``); they key the records in a sink.
    executor : Executor-like, optional
        Anything with ``submit(fn, *args)`` returning futures — a ``ProcessPoolExecutor`` or a
        ``dask.distributed.Client``. ``"serial"`` evaluates in this process. Default: a local
        process pool of ``workers`` processes, shut down afterwards.
    workers : int, optional
        Size of the default pool (default: all cores).
    chunk_size : int, optional
        Points per task (default :data:`DEFAULT_CHUNK_SIZE`).
    sink : object with ``append(records)``, optional
        Receives each finished chunk's records (e.g. a :class:`lecture_utils.data.Store`).
    progress : bool, optional
        Show a tqdm bar (default: on unless ``LECTURE_UTILS_PROGRESS=0``).

    Returns
    -------
    pandas.DataFrame
        One row per point, sorted by idx: ``idx``, the six parameters, ``chi2`` (NaN where failed),
        ``status`` ("ok"/"failed"), ``error_type``, ``error_message``, ``seconds`` (per point).
    """
    alps.check_integrator(integrator)
    arr = alps.validate_points(points, allow_extrapolation=allow_extrapolation)
    idx = np.arange(len(arr)) if indices is None else np.asarray(indices, dtype=int)
    if idx.shape != (len(arr),):
        raise ValueError(f"indices must have one entry per point ({len(arr)}), got {idx.shape}")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("indices must be unique")
    if integrator == "tabulated":
        alps.exact_running_table(progress=progress)  # built or loaded once, before the workers
    size = DEFAULT_CHUNK_SIZE[integrator] if chunk_size is None else int(chunk_size)
    if size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = [(idx[i:i + size].tolist(), arr[i:i + size]) for i in range(0, len(arr), size)]

    records: list[dict[str, Any]] = []

    def collect(rec: list[dict[str, Any]]) -> None:
        if sink is not None:
            sink.append(rec)
        if on_chunk is not None:
            on_chunk(rec)
        records.extend(rec)

    bar = progress_bar(total=len(arr), progress=progress, desc=f"chi2 ({integrator})",
                       unit="pt", smoothing=0.05)
    own_pool = executor is None
    try:
        if executor == "serial":
            for ci, cp in chunks:
                collect(evaluate_chunk(ci, cp, integrator))
                bar.update(len(ci))
        else:
            ex = local_pool(workers) if own_pool else executor
            try:
                futures = [ex.submit(evaluate_chunk, ci, cp, integrator) for ci, cp in chunks]
                for fut in _as_completed(ex, futures):
                    rec = fut.result()
                    collect(rec)
                    bar.update(len(rec))
            finally:
                if own_pool:
                    ex.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()

    res = pd.DataFrame(records)
    params = pd.DataFrame(arr, columns=list(alps.PARAMETERS))
    params.insert(0, "idx", idx)
    out = params.merge(res, on="idx", how="left")
    out["chi2"] = out["chi2"].astype(float)
    return out.sort_values("idx", ignore_index=True)
