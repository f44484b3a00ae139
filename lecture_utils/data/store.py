"""The crash-safe store of evaluated points, with its provenance.

Store layout (a directory)::

    meta.json              provenance (design, seed, integrator, domain, versions …)
    design.csv             every point the run must evaluate: idx, the six parameters, origin
    results/chunk-*.jsonl  evaluated points, one file per finished chunk, written atomically

A chunk file is written to a temporary name, flushed to disk and renamed, so a killed run leaves
either a whole chunk or none. Each chunk ends with a SHA-256 line over its records: a truncated or
corrupted chunk is detected, reported with a clear message and skipped, the intact chunks stay
readable, and its points count as pending so a resumed run evaluates them again. Results are keyed
by ``idx``, so a resumed run never duplicates a point.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import alps

RESULT_COLUMNS: tuple[str, ...] = ("idx", "chi2", "status", "error_type", "error_message",
                                   "seconds")
"""Columns of an evaluated record besides the parameters."""

KEY_PACKAGES: tuple[str, ...] = ("alpaca-ALPs", "flavio", "wilson", "numpy", "scipy", "vegas",
                                 "gvar", "lecture_utils", "dask", "distributed")


class StoreCorruptionWarning(UserWarning):
    """A chunk of a store could not be read; its points will be evaluated again on resume."""


class StoreError(RuntimeError):
    """A store is missing, inconsistent with the requested run, or unreadable."""


# --------------------------------------------------------------------------------------------
# provenance helpers
# --------------------------------------------------------------------------------------------
def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (``"not installed"`` where missing)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision() -> str:
    """The git commit of the checkout holding this package, or ``"unknown"``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def points_hash(points: np.ndarray) -> str:
    """SHA-256 of an (n, 6) float64 array (C order), identifying a design."""
    arr = np.ascontiguousarray(np.asarray(points, dtype=np.float64))
    return hashlib.sha256(arr.tobytes()).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, flushed to disk
    (fsync), then renamed over ``path``. A reader in any process sees the old file, the new one or
    none, never a partial one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------
@dataclass
class Store:
    """An append-only, crash-safe store of evaluated points (see module doc)."""

    path: Path

    # ---- creation / opening
    @classmethod
    def create(cls, path: str | Path, points: np.ndarray, origins: Sequence[str] | str,
               meta: dict[str, Any], *, resume: bool = False) -> Store:
        """Create a store for ``points`` (shape (n, 6)), or reopen it when ``resume``.

        Reopening checks that the stored design equals ``points`` exactly (hash), so a resumed run
        cannot silently mix two designs. Raises :class:`StoreError` if the directory already holds
        a store and ``resume`` is false.
        """
        path = Path(path)
        points = np.asarray(points, dtype=np.float64)
        if isinstance(origins, str):
            origins = [origins] * len(points)
        if len(origins) != len(points):
            raise ValueError("origins must have one entry per point")
        design_hash = points_hash(points)
        if (path / "meta.json").exists():
            if not resume:
                raise StoreError(f"{path} already holds a store; pass resume=True (--resume) to "
                                 "continue it, or choose another output")
            store = cls.open(path)
            if store.meta.get("design_hash") != design_hash:
                raise StoreError(f"{path} was created with a different design (hash "
                                 f"{store.meta.get('design_hash')} != {design_hash}); refusing "
                                 "to mix designs")
            return store
        path.mkdir(parents=True, exist_ok=True)
        (path / "results").mkdir(exist_ok=True)
        df = pd.DataFrame(points, columns=list(alps.PARAMETERS))
        df.insert(0, "idx", np.arange(len(points)))
        df["origin"] = list(origins)
        atomic_write(path / "design.csv", df.to_csv(index=False, float_format="%.17g").encode())
        full_meta = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "n_points": len(points),
            "design_hash": design_hash,
            "parameters": list(alps.PARAMETERS),
            "units": alps.UNITS,
            "domain": alps.DOMAIN.as_dict(),
            "chi2_convention": alps.convention(),
            "versions": package_versions(),
            "git_revision": git_revision(),
            "host": platform.node(),
        } | dict(meta)
        atomic_write(path / "meta.json", json.dumps(full_meta, indent=2).encode())
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open an existing store; :class:`StoreError` if there is none at ``path``."""
        path = Path(path)
        if not (path / "meta.json").exists() or not (path / "design.csv").exists():
            raise StoreError(f"no store at {path} (missing meta.json or design.csv)")
        return cls(path)

    # ---- content
    @property
    def meta(self) -> dict[str, Any]:
        """The provenance record ``meta.json``; :class:`StoreError` if it is corrupt."""
        try:
            return json.loads((self.path / "meta.json").read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.path / 'meta.json'} is corrupt: {exc}") from None

    def design(self) -> pd.DataFrame:
        """The design: columns idx, the six parameters, origin (one row per point to evaluate)."""
        return pd.read_csv(self.path / "design.csv")

    def _chunk_files(self) -> list[Path]:
        return sorted((self.path / "results").glob("chunk-*.jsonl"))

    @staticmethod
    def _read_chunk(path: Path) -> list[dict[str, Any]]:
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines = lines[:-1]
        if not lines or not lines[-1].startswith(b'{"sha256"'):
            raise StoreError(f"chunk {path.name} is truncated (no checksum line)")
        body = b"\n".join(lines[:-1]) + b"\n"
        try:
            expected = json.loads(lines[-1])["sha256"]
        except (json.JSONDecodeError, KeyError):
            raise StoreError(f"chunk {path.name} has an unreadable checksum line") from None
        if hashlib.sha256(body).hexdigest() != expected:
            raise StoreError(f"chunk {path.name} is corrupt (checksum mismatch)")
        return [json.loads(line) for line in lines[:-1]]

    def records(self) -> pd.DataFrame:
        """All evaluated records (columns :data:`RESULT_COLUMNS`), one per idx.

        Corrupt chunks are skipped with a :class:`StoreCorruptionWarning` naming the file.
        """
        rows: list[dict[str, Any]] = []
        for f in self._chunk_files():
            try:
                rows.extend(self._read_chunk(f))
            except (StoreError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                warnings.warn(f"{self.path}: {exc}; its points are treated as not evaluated and "
                              "will be evaluated again on resume", StoreCorruptionWarning,
                              stacklevel=2)
        df = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
        if df.empty:
            return df.astype({"idx": int, "chi2": float, "seconds": float})
        dup = df.duplicated("idx", keep=False)
        if dup.any():
            # can only happen if two runs wrote into one store at once; values are deterministic
            first = df[dup].groupby("idx")["chi2"].nunique(dropna=False)
            if (first > 1).any():
                raise StoreError(f"{self.path}: conflicting duplicate results for idx "
                                 f"{list(first[first > 1].index[:5])}")
            df = df.drop_duplicates("idx")
        return df.sort_values("idx", ignore_index=True)

    def done_indices(self) -> set[int]:
        """``idx`` of every recorded point (evaluated or failed)."""
        return set(int(i) for i in self.records()["idx"])

    def pending(self) -> pd.DataFrame:
        """Design rows not yet evaluated (failed points count as evaluated: they are recorded)."""
        design = self.design()
        return design[~design["idx"].isin(self.done_indices())].reset_index(drop=True)

    def append(self, records: Sequence[dict[str, Any]]) -> Path | None:
        """Write ``records`` (dicts with :data:`RESULT_COLUMNS`) as one atomic chunk file."""
        if not records:
            return None
        body = "".join(json.dumps({k: jsonable(r.get(k)) for k in RESULT_COLUMNS}) + "\n"
                       for r in records).encode()
        tail = json.dumps({"sha256": hashlib.sha256(body).hexdigest()}).encode() + b"\n"
        name = f"chunk-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        path = self.path / "results" / name
        atomic_write(path, body + tail)
        return path

    def table(self) -> pd.DataFrame:
        """Design joined with results: idx, parameters, origin, chi2, status, … (evaluated only)."""
        return self.design().merge(self.records(), on="idx", how="inner")

    def summary(self) -> dict[str, Any]:
        """Counts (points, done, ok, failed), the smallest χ² and the mean seconds per point."""
        rec = self.records()
        n = int(self.meta["n_points"])
        ok = rec[rec["status"] == "ok"]
        return {"n_points": n, "n_done": len(rec), "n_ok": len(ok),
                "n_failed": int((rec["status"] != "ok").sum()),
                "chi2_min": float(ok["chi2"].min()) if len(ok) else None,
                "seconds_per_point_mean": float(rec["seconds"].mean()) if len(rec) else None}


def batch_table(root: str | Path) -> pd.DataFrame:
    """All records of the batch stores ``root/batch-0000``, ``batch-0001``, … in batch order:
    :meth:`Store.table` of each plus a ``batch`` column (an empty frame with the parameter, chi2,
    status, origin and batch columns if there are none)."""
    frames = [Store.open(f).table().assign(batch=int(f.name.split("-")[1]))
              for f in sorted(Path(root).glob("batch-*"))]
    if not frames:
        return pd.DataFrame(columns=["batch", "origin", *alps.PARAMETERS, "chi2", "status"])
    return pd.concat(frames, ignore_index=True)


def jsonable(v: Any) -> Any:
    """``v`` as a JSON value: numpy scalars as Python scalars, NaN and ±inf as ``None``."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v



def compact(store: Store) -> Path | None:
    """Merge a store's intact chunks into one chunk file (fewer files to ship or commit).

    Safe against a kill at any moment: the merged chunk is written atomically *before* the old
    chunks are removed, and identical duplicates are dropped on reading.
    """
    files = store._chunk_files()
    if len(files) <= 1:
        return files[0] if files else None
    rec = store.records()
    new = store.append(rec.to_dict("records"))
    for f in files:
        f.unlink()
    return new

