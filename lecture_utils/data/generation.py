"""Running a design into a store: :func:`generate` (resumable, crash-safe)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import alps
from .store import Store, StoreError, atomic_write, git_revision


def generate(out: str | Path, points: np.ndarray, integrator: alps.Integrator, *,
             origins: Sequence[str] | str = "given", meta: dict[str, Any] | None = None,
             resume: bool = False, executor: Any = None, workers: int | None = None,
             chunk_size: int | None = None, progress: bool | None = None) -> Store:
    """Evaluate ``points`` into the store at ``out``; with ``resume`` only the pending ones.

    The store's provenance records the integrator, the design ``meta`` (name, seed, …), wall time
    and failures of every (resumed) run.

    Parameters
    ----------
    out : str or Path
        Folder of the store (:class:`~lecture_utils.data.store.Store`).
    points : numpy.ndarray, shape (n, 6)
        The design, :data:`lecture_utils.alps.PARAMETERS` order, f_a in GeV, inside the domain.
    integrator : "exact", "leadinglog" or "tabulated"
        The running of :func:`lecture_utils.alps.chi2`.
    origins : str or sequence of str
        Which design stage proposed each point (one string for all).
    meta : dict, optional
        Extra provenance (name, seed, …) recorded in ``meta.json``.
    resume : bool
        Continue an existing store of the same design instead of refusing it.
    executor, workers, chunk_size, progress
        How the pending points are evaluated (:func:`lecture_utils.engine.evaluate`).

    Returns
    -------
    Store
        The store, with every point of the design evaluated (or recorded as failed).

    Raises
    ------
    StoreError
        If ``out`` holds another store (or, with ``resume``, another design or integrator).
    ValueError
        For invalid points (:func:`lecture_utils.alps.validate_points`).
    """
    from .. import engine  # engine precedes data in the data flow

    alps.validate_points(points)
    store = Store.create(out, points, origins, {"integrator": integrator, **(meta or {})},
                         resume=resume)
    if store.meta.get("integrator") != integrator:
        raise StoreError(f"{out} was created for integrator {store.meta.get('integrator')!r}, "
                         f"not {integrator!r}")
    pending = store.pending()
    t0 = time.time()
    if len(pending):
        engine.evaluate(pending[list(alps.PARAMETERS)].to_numpy(), integrator,
                        indices=pending["idx"].to_numpy(), executor=executor, workers=workers,
                        chunk_size=chunk_size, sink=store, progress=progress)
    run_info = {"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "evaluated": int(len(pending)), "wall_seconds": round(time.time() - t0, 2),
                "workers": workers, "executor": "local" if executor is None else str(executor),
                "git_revision": git_revision(), "host": platform.node()}
    meta_now = store.meta
    meta_now.setdefault("runs", []).append(run_info)
    atomic_write(store.path / "meta.json", json.dumps(meta_now, indent=2).encode())
    return store

