"""Active learning with real χ² evaluations by the engine, and what it adds to a training set.

:func:`run_active` evaluates each batch the learner asks for into a resumable store per batch;
the provenance records which design proposed each point (``origin`` ``"lhs"`` or ``"active"``).
:func:`extend_train` uses that to extend the shipped exact training set; :func:`holdout_gain` and
:func:`surrogate_scores` measure what a training set is worth to the course's surrogate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import alps, data
from .._cache import cache_dir, code_fingerprint, content_hash
from .alp import alp_learner, parameter_indices
from .learner import Learner
from .validation import check_positive_int

__all__ = ["ActiveRun", "extend_train", "holdout_gain", "load_run", "run_active",
           "surrogate_scores"]


@dataclass
class ActiveRun:
    """Result of :func:`run_active`.

    ``table``: every evaluated point — ``batch`` (−1 for given initial data), ``origin``
    (``"initial"``, ``"lhs"`` or ``"active"``), the six parameters, ``chi2`` (NaN where failed),
    ``status``. ``history``: one row per batch (points, failures, the learner's state after the
    batch). ``stop_reason``: why the loop ended. ``path``: the folder of the batch stores.
    ``parameters``: the learned parameters; ``base``: the full point (6,) supplying the others.
    """

    learner: Learner
    table: pd.DataFrame
    history: pd.DataFrame
    stop_reason: str | None
    path: Path
    parameters: tuple[str, ...]
    base: np.ndarray

    def learner_points(self, points: Any) -> np.ndarray:
        """Columns of full 6-D ``points`` (n, 6) that the learner works in, shape (n, k)."""
        return np.asarray(points, dtype=float)[:, parameter_indices(self.parameters)]

    def full_points(self, learner_points: Any) -> np.ndarray:
        """Full 6-D points (n, 6) from the learner's coordinates (n, k), the others at ``base``."""
        sub = np.atleast_2d(np.asarray(learner_points, dtype=float))
        return _full_points(sub, parameter_indices(self.parameters), self.base)


_RUN_FILE = "run.json"


def _full_points(sub: np.ndarray, idx: list[int], base: np.ndarray) -> np.ndarray:
    full = np.tile(base, (len(sub), 1))
    full[:, idx] = sub
    return full


def run_active(truth: alps.Integrator = "leadinglog", *, n_initial: int = 20,
               batch_size: int = 8, budget: int = 100, seed: int = 0,
               parameters: Sequence[str] = alps.PARAMETERS,
               fixed: Mapping[str, float] | None = None,
               initial: tuple[Any, Any] | None = None, acquisition: str = "straddle",
               learner_options: Mapping[str, Any] | None = None, stop_early: bool = False,
               executor: Any = None, workers: int | None = None, store: str | Path | None = None,
               progress: bool | None = None) -> ActiveRun:
    """Active learning of the Δχ² region of the ALP fit with real χ² evaluations by the engine.

    Parameters
    ----------
    truth : ``"leadinglog"`` or ``"exact"`` — the ALPaca integrator that evaluates the χ².
    n_initial : int
        Size of the seeded Latin-hypercube start (ignored when ``initial`` is given).
    batch_size, budget : int
        Points per batch (evaluated in parallel) and the number of evaluations this run may
        spend (the initial design included, ``initial`` data excluded).
    seed : int
        Seeds the initial design and the learner.
    parameters, fixed :
        Learn over these parameters (default all six; a subset is a slice); the others are held
        at ``fixed`` (default: :data:`alps.SM_LIKE_POINT`'s values).
    initial : (points (k, 6), chi2 (k,)), optional
        Already evaluated points to start from (e.g. a shipped data set) instead of an LHS.
    acquisition, learner_options : passed to :func:`alp_learner` (``delta`` defaults to
        :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
    stop_early : bool
        Also stop when the learner's stopping rule says ``"stable"``/``"uncertainty"``.
    executor, workers : as in :func:`lecture_utils.engine.evaluate`; by default one local pool of
        ``workers`` processes is shared by all batches (started only if something is evaluated).
    store : path, optional
        Folder of the run: ``run.json`` (settings) and one :class:`~lecture_utils.data.Store` per
        batch (``batch-0000`` …, provenance: origin, batch, seed, acquisition). Default: a folder in
        the user cache keyed by the settings, so repeating a run costs nothing. A run resumes: the
        stored batches are replayed into the learner in order (identical state) and only missing
        evaluations are made; a changed ``budget`` or ``batch_size`` extends or continues a run, any
        other changed setting raises :class:`~lecture_utils.data.StoreError`.
    """
    from .. import engine

    alps.check_integrator(truth)
    idx = parameter_indices(parameters)
    names = tuple(alps.PARAMETERS[i] for i in idx)
    base = alps.SM_LIKE_POINT.astype(float).copy()
    for name, value in dict(fixed or {}).items():
        if name not in alps.PARAMETERS:
            raise ValueError(f"unknown fixed parameter {name!r}; known: {alps.PARAMETERS}")
        if name in names:
            raise ValueError(f"parameter {name!r} is both learned and fixed")
        base[alps.PARAMETERS.index(name)] = float(value)
    alps.validate_points(base)
    batch_size = check_positive_int(batch_size, "batch_size")
    budget = check_positive_int(budget, "budget")
    opts = {"acquisition": acquisition} | dict(learner_options or {})
    learner = alp_learner(names, seed=int(seed), **opts)
    init_pts = init_vals = None
    if initial is not None:
        init_pts = alps.validate_points(initial[0])
        init_vals = np.asarray(initial[1], dtype=float)
        if init_vals.shape != (len(init_pts),):
            raise ValueError("initial values must have one entry per initial point")
        keep = np.isfinite(init_vals)
        init_pts, init_vals = init_pts[keep], init_vals[keep]
        n_first = 0
    else:
        n_first = check_positive_int(n_initial, "n_initial")
        if n_first > budget:
            raise ValueError(f"n_initial ({n_first}) exceeds the budget ({budget})")
    identity = {"truth": truth, "seed": int(seed), "parameters": list(names),
                "fixed": base.tolist(), "n_initial": n_first, "learner": learner.settings(),
                "initial_hash": None if init_pts is None else data.points_hash(
                    np.column_stack([init_pts, init_vals])),
                "alpaca": alps.alpaca_version(), "convention": alps.convention()}
    if store is None:   # keyed also by the code, so a changed learner never replays old batches
        code = code_fingerprint("lecture_utils.active")
        root = cache_dir("active") / f"{truth}-{content_hash(identity, code)[:16]}"
    else:
        root = Path(store)
    root.mkdir(parents=True, exist_ok=True)
    run_file = root / _RUN_FILE
    if run_file.exists():
        saved = json.loads(run_file.read_text())
        if saved.get("identity") != json.loads(json.dumps(identity, default=str)):
            raise data.StoreError(f"{root} holds an active-learning run with other settings; "
                                  "choose another store or repeat the original settings")
    run_file.write_text(json.dumps({"identity": identity, "batch_size": batch_size,
                                    "budget": budget}, indent=2, default=str))

    if init_pts is not None:
        learner.tell(init_pts[:, idx], init_vals)
    frames: list[pd.DataFrame] = []
    if init_pts is not None:
        frames.append(pd.DataFrame(init_pts, columns=list(alps.PARAMETERS)).assign(
            batch=-1, origin="initial", chi2=init_vals, status="ok"))
    history: list[dict[str, Any]] = []
    own_pool = executor is None
    ex = engine.local_pool(workers) if own_pool else executor
    spent = 0
    reason: str | None = None
    try:
        k = 0
        while True:
            folder = root / f"batch-{k:04d}"
            if (folder / "meta.json").exists():
                st = data.Store.open(folder)
                full = st.design()[list(alps.PARAMETERS)].to_numpy(dtype=float)
                origin = str(st.meta.get("origin"))
            else:
                if spent >= budget:
                    reason = "budget"
                    break
                if k == 0 and init_pts is None:
                    sub, origin = learner.initial_design(n_first), "lhs"
                else:
                    sub = learner.ask(min(batch_size, budget - spent))
                    origin = "active"
                full = _full_points(sub, idx, base)
            t0 = time.perf_counter()
            st = data.generate(folder, full, truth, origins=origin, resume=True,
                               meta={"design": "active learning", "origin": origin, "batch": k,
                                     "seed": int(seed), "run": str(root),
                                     "learner": learner.settings()},
                               executor=ex, workers=workers, progress=progress)
            tab = st.table()
            ok = tab["status"] == "ok"
            if ok.any():
                learner.tell(tab.loc[ok, list(alps.PARAMETERS)].to_numpy(dtype=float)[:, idx],
                             tab.loc[ok, "chi2"].to_numpy(dtype=float))
            spent += len(tab)
            frames.append(tab[list(alps.PARAMETERS) + ["chi2", "status"]].assign(
                batch=k, origin=origin))
            state = learner.history.iloc[-1].to_dict() if learner.n_evaluated >= 2 else {}
            history.append({"batch": k, "origin": origin, "n_points": len(tab),
                            "n_failed": int((~ok).sum()), "spent": spent,
                            "seconds": time.perf_counter() - t0} | state)
            k += 1
            if stop_early and learner.n_evaluated >= 2:
                r = learner.stop_reason()
                if r in ("stable", "uncertainty"):
                    reason = r
                    break
    finally:
        if own_pool:
            ex.shutdown(wait=True, cancel_futures=True)
    table = pd.concat(frames, ignore_index=True)
    cols = ["batch", "origin", *alps.PARAMETERS, "chi2", "status"]
    return ActiveRun(learner, table[cols], pd.DataFrame(history), reason, root, names, base)


def load_run(path: str | Path) -> pd.DataFrame:
    """All evaluated points of a run folder written by :func:`run_active` (without its initial
    data): columns batch, origin, idx, the parameters, chi2, status, …, in batch order."""
    root = Path(path)
    if not (root / _RUN_FILE).exists():
        raise data.StoreError(f"no active-learning run at {root} (missing {_RUN_FILE})")
    return data.batch_table(root)


# --------------------------------------------------------------------------------------------
# extending the shipped training set
# --------------------------------------------------------------------------------------------
def _default_extension_store() -> Path:
    from ..datasets import DEFAULT_WORKDIR

    return DEFAULT_WORKDIR / "train" / "active"


def extend_train(n_points: int, *, batch_size: int = 16, seed: int = 0,
                 truth: alps.Integrator = "exact", initial: pd.DataFrame | str = "train",
                 store: str | Path | None = None, acquisition: str = "straddle",
                 learner_options: Mapping[str, Any] | None = None, executor: Any = None,
                 workers: int | None = None, progress: bool | None = None) -> ActiveRun:
    """Extend a training set with ``n_points`` actively chosen, evaluated points (resumable).

    The learner starts from the points and values of ``initial`` (a shipped data set name — its
    points without an earlier active extension, :func:`~lecture_utils.datasets.base_points` — or a
    DataFrame with the six parameters and ``chi2``; for ``truth="leadinglog"`` its
    ``chi2_leadinglog`` column is used when present, so fidelities are never mixed) and asks
    batches of ``batch_size`` (straddle by default: it places points along the boundary of the
    region, where the surrogate's gate decides). Each batch is evaluated by the engine into a
    store under ``store`` (default ``datasets/train/active``) whose provenance says
    ``origin = "active"``; an interrupted call resumes with the same arguments (the run refuses a
    changed ``initial`` set). :func:`load_run` reads the new points; :func:`holdout_gain` measures
    what they bring on the hold-out set.
    """
    from ..datasets import base_points

    n_points = check_positive_int(n_points, "n_points")
    df = base_points(initial) if isinstance(initial, str) else initial
    column = "chi2_leadinglog" if truth == "leadinglog" and "chi2_leadinglog" in df else "chi2"
    pts = df[list(alps.PARAMETERS)].to_numpy(dtype=float)
    vals = df[column].to_numpy(dtype=float)
    return run_active(truth, batch_size=batch_size, budget=n_points, seed=seed,
                      initial=(pts, vals), acquisition=acquisition,
                      learner_options=learner_options, executor=executor, workers=workers,
                      store=_default_extension_store() if store is None else store,
                      progress=progress)


def _course_surrogate(points: np.ndarray, chi2: np.ndarray, seed: int = 0) -> Any:
    """The two-stage surrogate with the shipped tuned hyperparameters, trained on (points, chi2)."""
    from .. import surrogate

    hp = surrogate.load_hyperparameters()
    return surrogate.TwoStageSurrogate.fit(points, chi2, gate_params=hp["gate"],
                                           regressor_params=hp["regressor"],
                                           **surrogate.fit_settings(hp) | {"seed": seed})


def surrogate_scores(train_points: Any, train_chi2: Any, ref_points: Any, ref_chi2: Any, *,
                     chi2_min: float, seed: int = 0) -> dict[str, float]:
    """How good a *training set* is: train the course's two-stage surrogate on it (shipped tuned
    hyperparameters) and validate on a reference sample with the common ``chi2_min``.

    Returns ``region_mae`` (regressor MAE on the true region points — the tutorial's metric),
    ``region_error`` (the gate's false inside + false outside over the truly inside) and
    ``n_train``. Shapes: points (n, 6), χ² (n,).
    """
    from .. import surrogate

    pts = np.asarray(train_points, dtype=float)
    model = _course_surrogate(pts, np.asarray(train_chi2, dtype=float), seed)
    rep = surrogate.validate(model, np.asarray(ref_points, dtype=float),
                             np.asarray(ref_chi2, dtype=float), chi2_min=chi2_min)
    return {"n_train": len(pts), "region_mae": rep.regression["mae"],
            "region_error": (rep.gate["fn"] + rep.gate["fp"]) / max(1, rep.regression["n"])}


def holdout_gain(extension: pd.DataFrame, *, base: str = "train", holdout: str = "holdout",
                 seed: int = 0) -> pd.DataFrame:
    """Hold-out validation of the two-stage surrogate trained without and with ``extension``.

    ``extension``: evaluated exact points (columns: the parameters, ``chi2``, ``status`` — e.g.
    :func:`load_run` of an :func:`extend_train` run). Both surrogates use the shipped tuned
    hyperparameters and the same seed, and are validated on the ``holdout`` set against the same
    χ²_min (that of the base training set). ``base``: a shipped set, without any active
    extension it already ships (:func:`~lecture_utils.datasets.base_points`). Returns one row per
    training set with :meth:`~lecture_utils.surrogate.ValidationReport.summary`.
    """
    from .. import surrogate
    from ..datasets import base_points

    base_df = base_points(base)
    ext = extension
    if "status" in ext:
        ext = ext[ext["status"] == "ok"]
    hold = data.load(holdout)
    cols = list(alps.PARAMETERS)
    rows = []
    chi2_min = float(base_df["chi2"].min())
    for name, df in (("train", base_df), ("train + active", pd.concat([base_df, ext]))):
        model = _course_surrogate(df[cols].to_numpy(dtype=float),
                                  df["chi2"].to_numpy(dtype=float), seed)
        rep = surrogate.validate(model, hold[cols].to_numpy(dtype=float),
                                 hold["chi2"].to_numpy(dtype=float), chi2_min=chi2_min)
        rows.append({"training set": name, "n_train": len(df)} | rep.summary())
    return pd.DataFrame(rows)
