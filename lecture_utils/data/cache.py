"""The per-point evaluation cache: no ALPaca evaluation is paid for twice.

:func:`evaluate_cached` (total χ², the missing points of a batch in one engine call) and
:func:`cached_tables` / :func:`cached_table` (per-point ALPaca tables: χ² breakdown, low-energy
couplings, derived quantities, observable table) keep one entry per evaluated point under
``cache_dir("evaluations", "points", <kind>)``, keyed by the point's float64 bytes, the integrator
and ALPaca's version and χ² convention (tables also by the code of :mod:`lecture_utils.alps`).
Entries are written atomically and checksummed, so any process may read and write them
concurrently.

The package ships the entries the book's chapters evaluate (:data:`SEED_FILE`, written by
``python -m lecture_utils evaluation-seed`` from a cache the book filled): an entry missing from
the cache folder is looked up there, under the same key and with the same checks, so a fresh
installation runs the chapters without repeating those ALPaca evaluations. Entries of another
ALPaca version or convention have other keys and are never used.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import alps
from .._paths import RESOURCES_DIR
from .._progress import progress_bar
from .._resources import available_cpus
from .store import RESULT_COLUMNS, atomic_write, jsonable

CHI2_KIND: str = "chi2"
"""Kind of the cache entries holding a total χ² (:func:`evaluate_cached`)."""

TABLE_KINDS: dict[str, str] = {
    "breakdown": "chi2_breakdown",
    "low-energy": "low_energy_couplings",
    "derived": "derived_quantities",
    "observables": "observable_table",
}
"""Table kinds of the evaluation cache → the :mod:`lecture_utils.alps` function that computes the
table of one point (:func:`cached_tables`)."""

SERIAL_BELOW: int = 8
""":func:`evaluate_cached` evaluates fewer missing points than this in this process: starting a
process pool costs an ALPaca import per worker, more than a handful of exact points."""

CACHE_FORMAT: int = 1
"""Version of the layout of one cache entry (part of every key)."""

_SIGNED: tuple[str, ...] = ("kind", "integrator", "point", "payload")

SEED_FILE: Path = RESOURCES_DIR / "evaluation_seed.jsonl.gz"
"""Shipped cache entries (one JSON line per entry: ``kind``, ``file`` and ``entry``), with
``evaluation_seed.provenance.json`` beside it."""

SEED_ENV_VAR: str = "LECTURE_UTILS_EVALUATION_SEED"
"""Set to ``0`` to ignore :data:`SEED_FILE` (every missing entry is evaluated)."""


@functools.cache
def _seed_entries(path: Path) -> dict[tuple[str, str], bytes]:
    """The shipped entries of ``path`` by (kind, file name), as the bytes of their JSON."""
    if not path.exists():
        return {}
    entries: dict[tuple[str, str], bytes] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            entries[(record["kind"], record["file"])] = json.dumps(record["entry"]).encode()
    return entries


def seed_entry(kind: str, file: str) -> bytes | None:
    """The shipped entry ``file`` of ``kind`` (:data:`SEED_FILE`), or ``None`` (none shipped, or
    the seed switched off with ``$LECTURE_UTILS_EVALUATION_SEED=0``)."""
    if os.environ.get(SEED_ENV_VAR, "1") == "0":
        return None
    return _seed_entries(SEED_FILE).get((kind, file))


class CacheCorruptionWarning(UserWarning):
    """An entry of the evaluation cache could not be read; it is computed again and replaced."""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in the evaluation cache")


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class _PointCache:
    """One folder of per-point entries of one kind and integrator (see :func:`evaluate_cached`)."""

    kind: str
    integrator: str
    folder: Path
    prefix: bytes  # hash of everything in the key except the point

    @classmethod
    def open(cls, kind: str, integrator: str) -> _PointCache:
        """The cache folder of ``kind`` and ``integrator``, with the key prefix of the current
        ALPaca version, χ² convention and (tables) code of :mod:`lecture_utils.alps`."""
        from .._cache import cache_dir, code_fingerprint, content_hash

        if kind != CHI2_KIND and kind not in TABLE_KINDS:
            raise ValueError(f"unknown evaluation kind {kind!r}; choose one of "
                             f"{(CHI2_KIND, *TABLE_KINDS)}")
        alps.check_integrator(integrator)
        # χ²: alps.convention() is the contract (a change of it changes the key). Tables: also the
        # code of alps, so that an edited table function never serves stale rows.
        code = "" if kind == CHI2_KIND else code_fingerprint(alps)
        prefix = content_hash("evaluation-cache", CACHE_FORMAT, kind, integrator,
                              alps.convention(), code)
        return cls(kind, integrator, cache_dir("evaluations", "points", kind), prefix.encode())

    def key(self, point: np.ndarray) -> str:
        """Key of one point (6,): its float64 bytes, bit-exact (−0.0 and 0.0 differ)."""
        raw = np.ascontiguousarray(point, dtype=np.float64).tobytes()
        return hashlib.sha256(self.prefix + raw).hexdigest()

    def path(self, key: str) -> Path:
        """File of the entry ``key``."""
        return self.folder / f"{self.integrator}-{key[:32]}.json"

    def read(self, key: str, point: np.ndarray) -> Any:
        """The payload stored for ``point``, or ``None`` if there is none; an entry that does not
        parse, fails its checksum or holds another point gives a :class:`CacheCorruptionWarning`
        and ``None`` (it is computed again and overwritten)."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            shipped = seed_entry(self.kind, path.name)
            if shipped is None:
                return None
            raw = shipped
        entry, problem = self.check(raw, point)
        if problem is not None:
            warnings.warn(f"evaluation cache entry {path} is corrupt: {problem}; evaluating the "
                          "point again", CacheCorruptionWarning, stacklevel=3)
            return None
        return entry["payload"]

    def check(self, raw: bytes, point: np.ndarray) -> tuple[dict[str, Any], str | None]:
        """The entry parsed from ``raw`` and what is wrong with it as the entry of ``point``
        (``None`` if nothing): unreadable, a checksum mismatch, or another evaluation."""
        try:
            entry = json.loads(raw)
            if entry.get("sha256") != _digest({k: entry[k] for k in _SIGNED}):
                return entry, "checksum mismatch"
            if (entry["kind"], entry["integrator"]) != (self.kind, self.integrator) or \
                    np.array(entry["point"], dtype=np.float64).tobytes() != \
                    np.ascontiguousarray(point, dtype=np.float64).tobytes():
                return entry, "it holds another evaluation"
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
            return {}, f"unreadable ({type(exc).__name__}: {exc})"
        return entry, None

    def write(self, key: str, point: np.ndarray, payload: Any, name: str) -> Any:
        """Store ``payload`` for ``point`` atomically (temporary file, fsync, rename: a reader in
        any process sees the old entry, the new one or none, never a partial one; two writers of
        the same key write the same values). Returns the payload as a reader will see it."""
        body = json.loads(json.dumps(
            {"kind": self.kind, "integrator": self.integrator,
             "point": [float(v) for v in point], "payload": payload}, default=_json_default))
        entry = {"format": CACHE_FORMAT, **body, "sha256": _digest(body), "requested_by": name,
                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write(self.path(key), json.dumps(entry).encode())
        return body["payload"]


def _unique(cache: _PointCache, pts: np.ndarray) -> tuple[list[str], dict[str, int]]:
    """Keys of all points and, per distinct key, the index of its first point."""
    keys = [cache.key(p) for p in pts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    return keys, first


def _lookup(cache: _PointCache, pts: np.ndarray, *, retry_failed: bool = False
            ) -> tuple[list[str], dict[str, int], dict[str, Any], list[str]]:
    """Keys of ``pts``, first index per distinct key, the cached payloads found, and the distinct
    keys still missing (with ``retry_failed`` a cached failure counts as missing)."""
    keys, first = _unique(cache, pts)
    results: dict[str, Any] = {}
    for key, i in first.items():
        payload = cache.read(key, pts[i])
        if payload is not None and not (retry_failed and payload.get("status", "ok") != "ok"):
            results[key] = payload
    missing = [k for k in first if k not in results]
    return keys, first, results, missing


class _CacheSink:
    """Receives the engine's records chunk by chunk and stores each point at once (a killed call
    keeps every finished chunk)."""

    def __init__(self, cache: _PointCache, keys: list[str], points: np.ndarray, name: str,
                 results: dict[str, Any]) -> None:
        self.cache, self.keys, self.points, self.name = cache, keys, points, name
        self.results = results

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        for r in records:
            i = int(r["idx"])
            payload = {k: jsonable(r.get(k)) for k in RESULT_COLUMNS if k != "idx"}
            self.results[self.keys[i]] = self.cache.write(self.keys[i], self.points[i], payload,
                                                          self.name)


def _chunk_size(n: int, integrator: str, executor: Any, workers: int | None) -> int:
    """Points per engine task: the engine's default, but small enough that every worker of a
    pool gets a share of a small batch."""
    from ..engine import DEFAULT_CHUNK_SIZE

    default = DEFAULT_CHUNK_SIZE[integrator]
    if executor == "serial":
        return default
    n_workers = workers or getattr(executor, "_max_workers", None) or available_cpus()
    return max(1, min(default, math.ceil(n / n_workers)))


def evaluate_cached(points: Any, integrator: alps.Integrator = "exact", *, name: str = "checks",
                    executor: Any = None, workers: int | None = None,
                    progress: bool | None = None, retry_failed: bool = False) -> pd.DataFrame:
    """Total χ² at ``points`` (n, 6), each point cached on disk: a point evaluated before — in any
    call, any batch, any process — is read, not evaluated again.

    The cache holds one entry per point under ``cache_dir("evaluations", "points", "chi2")``,
    keyed by the point's float64 bytes (bit-exact), the integrator, and ALPaca's version and χ²
    convention (:func:`lecture_utils.alps.convention`); entries are written atomically and carry
    a checksum. The points of a batch that are not cached yet (duplicates once) are evaluated in
    ONE call of :func:`lecture_utils.engine.evaluate`, which stores each finished chunk at once, so
    an interrupted call keeps what it finished.

    Parameters
    ----------
    points : array (n, 6)
        Parameters in :data:`alps.PARAMETERS` order, f_a in GeV, inside :data:`alps.DOMAIN`.
    integrator : "exact", "leadinglog" or "tabulated"
    name : str
        A label recorded in the entries written (``requested_by``); the cache itself is shared by
        all names.
    executor, workers
        How the missing points are evaluated (see :func:`lecture_utils.engine.evaluate`). Default:
        in this process when fewer than :data:`SERIAL_BELOW` points are missing, else a local
        pool of ``workers`` processes (default all cores). A pool passed in (e.g.
        ``engine.local_pool(2)`` shared by several calls) is used for any number of points, with
        chunks small enough to keep all its workers busy.
    progress : bool, optional
        Progress bar over the evaluated points (default ``LECTURE_UTILS_PROGRESS``).
    retry_failed : bool
        Evaluate points again whose cached evaluation failed.

    Returns
    -------
    pandas.DataFrame
        One row per input point, in input order: the six parameters, ``origin`` (``"given"``),
        ``chi2`` (NaN where the evaluation failed), ``status`` (``"ok"``/``"failed"``),
        ``error_type``, ``error_message`` (``None`` where ok) and ``seconds`` (evaluation time of
        the point when it was computed).

    Notes
    -----
    Failure policy. A point whose evaluation raises (or gives a non-finite χ²) is recorded with
    ``status="failed"``, NaN χ² and the error's type and message — and cached like a value: with
    the same point, ALPaca version and convention it fails the same way, so it is not retried on
    every call. A new ALPaca version or convention changes the key (everything is evaluated
    anew); ``retry_failed=True`` retries on request. Errors that are not about a point (a worker
    crash, an interrupt) propagate and store nothing for the unfinished chunks. A corrupt entry
    gives a :class:`CacheCorruptionWarning` and is evaluated again.
    """
    from .. import engine  # engine precedes data in the data flow

    pts = alps.validate_points(points)
    cache = _PointCache.open(CHI2_KIND, integrator)
    keys, first, results, missing = _lookup(cache, pts, retry_failed=retry_failed)
    if missing:
        todo = pts[[first[k] for k in missing]]
        ex = "serial" if executor is None and len(missing) < SERIAL_BELOW else executor
        engine.evaluate(todo, integrator, executor=ex, workers=workers,
                        chunk_size=_chunk_size(len(todo), integrator, ex, workers),
                        sink=_CacheSink(cache, missing, todo, name, results), progress=progress)
    rows = [results[k] for k in keys]
    frame = pd.DataFrame(pts, columns=list(alps.PARAMETERS))
    frame["origin"] = "given"
    frame["chi2"] = np.array([np.nan if r["chi2"] is None else r["chi2"] for r in rows],
                             dtype=float)
    frame["status"] = [r["status"] for r in rows]
    for column in ("error_type", "error_message"):  # None where the evaluation succeeded
        frame[column] = pd.Series([r[column] for r in rows], dtype=object)
    frame["seconds"] = np.array([np.nan if r["seconds"] is None else r["seconds"] for r in rows],
                                dtype=float)
    return frame


def _table_payload(kind: str, integrator: str, point: np.ndarray) -> dict[str, Any]:
    """The table of one point (computed by ``alps.<TABLE_KINDS[kind]>``) as JSON-able lists."""
    table = getattr(alps, TABLE_KINDS[kind])(point[None, :], integrator)
    return {"columns": [str(c) for c in table.columns],
            "rows": table.astype(object).to_numpy().tolist()}


def _table_chunk(kind: str, integrator: str, points: np.ndarray) -> list[dict[str, Any]]:
    """Tables of several points; runs in a worker process (module level, so it pickles)."""
    return [_table_payload(kind, integrator, p) for p in points]


def _table_frame(payload: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(payload["rows"], columns=payload["columns"])


def cached_tables(kind: str, points: Any, integrator: alps.Integrator = "exact", *,
                  name: str = "tables", executor: Any = None, workers: int | None = None,
                  progress: bool | None = None) -> list[pd.DataFrame]:
    """ALPaca tables of each point (n, 6), one DataFrame per point in input order, each cached on
    disk like :func:`evaluate_cached` (same cache, same per-point keys and atomic entries).

    ``kind`` is one of :data:`TABLE_KINDS`: ``"breakdown"`` (:func:`alps.chi2_breakdown`),
    ``"low-energy"`` (:func:`alps.low_energy_couplings`), ``"derived"``
    (:func:`alps.derived_quantities`) or ``"observables"`` (:func:`alps.observable_table`); the
    table of a point is that function applied to the point alone. The key also holds a hash of
    the source of :mod:`lecture_utils.alps`, so an edited table function never serves stale rows.

    Missing points (duplicates once) are computed in this process by default; with ``executor``
    (e.g. ``engine.local_pool(2)``) or ``workers`` they are split into one chunk per worker and
    computed there. A computation that raises is not cached: the error propagates (the tables
    finished before it stay cached). ``name`` labels the entries written.
    """
    if kind not in TABLE_KINDS:
        raise ValueError(f"unknown table kind {kind!r}; choose one of {tuple(TABLE_KINDS)}")
    pts = alps.validate_points(points)
    cache = _PointCache.open(kind, integrator)
    keys, first, results, missing = _lookup(cache, pts)
    if missing:
        todo = pts[[first[k] for k in missing]]
        if (executor is None and workers is None) or executor == "serial":
            bar = progress_bar(zip(missing, todo, strict=True), progress=progress,
                               total=len(missing), desc=f"{kind} ({integrator})")
            for key, point in bar:
                results[key] = cache.write(key, point, _table_payload(kind, integrator, point),
                                           name)
        else:
            _tables_in_pool(cache, missing, todo, name, results, executor, workers, progress)
    return [_table_frame(results[k]) for k in keys]


def _tables_in_pool(cache: _PointCache, keys: list[str], points: np.ndarray, name: str,
                    results: dict[str, Any], executor: Any, workers: int | None,
                    progress: bool | None) -> None:
    """Compute the missing tables in a process pool (``executor``, or a local pool of
    ``workers``), one chunk per worker; each finished chunk is stored at once."""
    from .. import engine

    size = _chunk_size(len(points), "exact", executor, workers)
    own_pool = executor is None
    ex = engine.local_pool(workers) if own_pool else executor
    bar = progress_bar(total=len(points), progress=progress, desc=f"{cache.kind} "
                       f"({cache.integrator})")
    try:
        starts = range(0, len(points), size)
        futures = [ex.submit(_table_chunk, cache.kind, cache.integrator, points[i:i + size])
                   for i in starts]
        for start, future in zip(starts, futures, strict=True):
            payloads = future.result()
            for k, payload in enumerate(payloads, start=start):
                results[keys[k]] = cache.write(keys[k], points[k], payload, name)
            bar.update(len(payloads))
    finally:
        bar.close()
        if own_pool:
            ex.shutdown(wait=True, cancel_futures=True)


def cached_table(kind: str, points: Any, integrator: alps.Integrator = "exact", *,
                 name: str = "tables", executor: Any = None, workers: int | None = None,
                 progress: bool | None = None) -> pd.DataFrame:
    """:func:`cached_tables` concatenated (index 0, 1, …): for the one-row-per-point kinds
    (``"low-energy"``, ``"derived"``) the same DataFrame as the ``alps`` function applied to all
    ``points``; for the per-measurement kinds of one point, that point's table."""
    return pd.concat(cached_tables(kind, points, integrator, name=name, executor=executor,
                                   workers=workers, progress=progress), ignore_index=True)



def write_seed(cache_root: str | os.PathLike[str], out: str | os.PathLike[str] = SEED_FILE
               ) -> dict[str, Any]:
    """Write the evaluation-cache entries under ``cache_root`` (an artefact cache folder, e.g.
    the one ``make book`` fills) to a seed file like :data:`SEED_FILE`, with its provenance.

    Only entries that pass the reader's checks and carry the key of the installed ALPaca version
    and convention (and, for tables, the current code of :mod:`lecture_utils.alps`) are kept; the
    file is sorted and gzip'ed without a time stamp, so the same entries give the same bytes.

    Parameters
    ----------
    cache_root : str or os.PathLike
        The artefact cache folder (holding ``evaluations/points/<kind>/``).
    out : str or os.PathLike, optional
        The seed file to write; ``<stem>.provenance.json`` is written beside it.

    Returns
    -------
    dict
        The provenance: entries per kind, integrator and requester, the ALPaca seconds they
        hold, ALPaca's version and convention.

    Raises
    ------
    FileNotFoundError
        If ``cache_root`` holds no evaluation cache.
    """
    root = Path(cache_root) / "evaluations" / "points"
    if not root.is_dir():
        raise FileNotFoundError(f"no evaluation cache under {cache_root}")
    records: list[tuple[str, str, dict[str, Any]]] = []
    counts: dict[str, int] = {}
    seconds = 0.0
    for kind in (CHI2_KIND, *TABLE_KINDS):
        for path in sorted((root / kind).glob("*.json")) if (root / kind).is_dir() else []:
            raw = path.read_bytes()
            try:
                head = json.loads(raw)
                cache = _PointCache.open(kind, head["integrator"])
                point = np.array(head["point"], dtype=np.float64)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
                continue  # damaged
            entry, problem = cache.check(raw, point)
            if problem is not None or cache.path(cache.key(point)).name != path.name:
                continue  # damaged, or another ALPaca version, convention or code
            records.append((kind, path.name, entry))
            label = f"{kind}/{entry['integrator']}/{entry.get('requested_by')}"
            counts[label] = counts.get(label, 0) + 1
            payload = entry["payload"]
            if isinstance(payload, dict) and isinstance(payload.get("seconds"), int | float):
                seconds += float(payload["seconds"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"kind": k, "file": f, "entry": e}, sort_keys=True) + "\n"
                    for k, f, e in records)
    # no file name and no time stamp in the gzip header: the same entries give the same bytes
    with open(out, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(lines.encode())
    provenance = {
        "description": "entries of the per-point evaluation cache that the book's chapters "
                       "evaluate (ALPaca χ² and tables), looked up when the cache folder lacks "
                       "them",
        "command": "python -m lecture_utils evaluation-seed --cache _build/cache",
        "n_entries": len(records), "entries": dict(sorted(counts.items())),
        "alpaca_seconds": round(seconds, 1), "alpaca_version": alps.alpaca_version(),
        "convention": alps.convention(),
    }
    out.with_name(out.name.split(".")[0] + ".provenance.json").write_text(
        json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n")
    _seed_entries.cache_clear()
    return provenance
