"""The course's surrogate: shipped hyperparameters and training data, the cached default model.

:func:`default_surrogate` trains a :class:`~lecture_utils.surrogate.TwoStageSurrogate` on the
shipped :data:`TRAINING_SETS` with the shipped tuned hyperparameters (:func:`load_hyperparameters`,
:func:`fit_settings`) and caches it on disk, keyed by the data, the hyperparameters, the code of
:mod:`lecture_utils.surrogate` and the xgboost version. :func:`course_learning_curve` is the
cached learning curve of that model on the shipped ``"holdout"`` set.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import alps
from .._cache import building, cache_dir, code_fingerprint, content_hash
from .._paths import RESOURCES_DIR
from ..stats import REGION_DELTA_CHI2
from .inputs import Transform, check_transform, feature_table_key
from .model import FORMAT_VERSION, SurrogateMetadataError, TwoStageSurrogate
from .training import (
    DEFAULT_HYPERPARAMETERS,
    EARLY_STOPPING_ROUNDS,
    MAX_ESTIMATORS,
    REGRESSOR_MARGIN,
    VALIDATION_FRACTION,
    EarlyStoppingCurve,
    early_stopping_curve,
    training_data_hash,
)
from .validation import learning_curve

__all__ = [
    "COURSE_CURVE_SIZES",
    "FIT_SETTINGS",
    "HYPERPARAMETERS_PATH",
    "TRAINING_SETS",
    "TUTORIAL_N_TRAIN",
    "TUTORIAL_REGION_MAE",
    "course_learning_curve",
    "default_surrogate",
    "fit_settings",
    "load_hyperparameters",
    "resolve_surrogate",
    "training_arrays",
]

TUTORIAL_REGION_MAE: float = 0.143
"""The validation MAE of the reference tutorial's regressor inside Δχ² < 10, as quoted by the
tutorial of the lecture notes (a yardstick for the course's surrogate)."""

TUTORIAL_N_TRAIN: int = 41_638
"""Number of exact points the reference tutorial of the lecture notes trained on (quoted)."""

HYPERPARAMETERS_PATH: Path = RESOURCES_DIR / "surrogate_hyperparameters.json"
"""The shipped tuned hyperparameters, with the settings and results of the study beside them."""


def load_hyperparameters(path: str | Path = HYPERPARAMETERS_PATH) -> dict[str, Any]:
    """The shipped hyperparameters.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        A hyperparameter record as written by :func:`lecture_utils.tuning.write_hyperparameters`
        (default :data:`HYPERPARAMETERS_PATH`). A missing file gives the untuned
        :data:`~lecture_utils.surrogate.DEFAULT_HYPERPARAMETERS`.

    Returns
    -------
    dict
        ``{"gate": {...}, "regressor": {...}, "settings": {...}, "source": str}``: the XGBoost
        tree parameters of each stage; ``settings`` holds the non-tree choices (transform,
        regressor margin, seed, …) used by :func:`default_surrogate`, unset ones filled with the
        defaults; ``source`` names where they came from.

    Raises
    ------
    ValueError
        If the file lacks ``gate.params`` or ``regressor.params``.
    """
    path = Path(path)
    if not path.exists():
        return {"gate": dict(DEFAULT_HYPERPARAMETERS["gate"]),
                "regressor": dict(DEFAULT_HYPERPARAMETERS["regressor"]),
                "settings": _default_settings(), "source": "untuned defaults (no file shipped)"}
    hp = json.loads(path.read_text())
    for stage in ("gate", "regressor"):
        if stage not in hp or "params" not in hp[stage]:
            raise ValueError(f"{path}: missing '{stage}.params'")
    return {"gate": dict(hp["gate"]["params"]), "regressor": dict(hp["regressor"]["params"]),
            "settings": _default_settings() | dict(hp.get("settings", {})),
            "source": str(path)}


def _default_settings() -> dict[str, Any]:
    return {"transform": "ratio", "regressor_margin": REGRESSOR_MARGIN, "seed": 0,
            "validation_fraction": VALIDATION_FRACTION, "refit": True,
            "max_estimators": MAX_ESTIMATORS, "early_stopping_rounds": EARLY_STOPPING_ROUNDS}


FIT_SETTINGS: tuple[str, ...] = ("transform", "regressor_margin", "seed", "validation_fraction",
                                  "refit", "max_estimators", "early_stopping_rounds")
"""The keyword arguments of :meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit` that a
hyperparameter record's ``settings`` fix (:func:`fit_settings`)."""


def fit_settings(hyperparameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of :meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit` besides the
    stage hyperparameters that a hyperparameter record fixes (:data:`FIT_SETTINGS`).

    Parameters
    ----------
    hyperparameters : Mapping, optional
        A record of :func:`load_hyperparameters`; default: the shipped one.

    Returns
    -------
    dict
        ``transform``, ``regressor_margin``, ``seed``, ``validation_fraction``, ``refit``,
        ``max_estimators`` and ``early_stopping_rounds``.
    """
    hp = load_hyperparameters() if hyperparameters is None else hyperparameters
    return {k: hp["settings"][k] for k in FIT_SETTINGS}


TRAINING_SETS: tuple[str, ...] = ("train", "dense")
"""The shipped data sets the course's surrogate learns from (:func:`default_surrogate`): the
directly computed exact ``"train"`` set and the ``"dense"`` set, whose χ² comes from the exact
running tabulated in f_a (integrator ``"tabulated"``: the exact χ² within ALPaca's own ODE
tolerance, and much cheaper, so the region could be sampled more densely). The ``"holdout"``
set — exact, never trained on — judges every model."""


def training_arrays(name: str | Sequence[str] = TRAINING_SETS) -> tuple[np.ndarray, np.ndarray]:
    """Points and exact χ² of one shipped data set, or of several concatenated in the given order.

    Parameters
    ----------
    name : str or sequence of str, optional
        Shipped data-set name(s) (:func:`lecture_utils.data.available`); default
        :data:`TRAINING_SETS`.

    Returns
    -------
    points : numpy.ndarray
        float64, shape (n, 6), :data:`lecture_utils.alps.PARAMETERS` order.
    chi2 : numpy.ndarray
        float64, shape (n,).

    Raises
    ------
    ValueError
        If ``name`` is an empty sequence.
    FileNotFoundError
        If a data set is not shipped, naming the command that builds it.
    """
    from .. import data

    names = [name] if isinstance(name, str) else list(name)
    if not names:
        raise ValueError("training_arrays needs at least one data set name")
    frames = []
    for n in names:
        if n not in data.available():
            raise FileNotFoundError(
                f"the shipped data set {n!r} is missing (expected "
                f"{data.SHIPPED_DIR / (n + '.csv.gz')}); build it with "
                f"`python -m lecture_utils dataset {n}` (resumable: it evaluates the exact χ² "
                "point by point, which can take hours; see README.md)")
        frames.append(data.load(n))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df[list(alps.PARAMETERS)].to_numpy(dtype=float), df["chi2"].to_numpy(dtype=float)


_MEMO: dict[str, TwoStageSurrogate] = {}  # cache key -> model loaded in this process


def default_surrogate(*, rebuild: bool = False, use_cache: bool = True,
                      hyperparameters: str | Path = HYPERPARAMETERS_PATH,
                      transform: Transform | None = None) -> TwoStageSurrogate:
    """The course's surrogate: trained on the shipped :data:`TRAINING_SETS` with the shipped
    tuned hyperparameters, the region cut :data:`~lecture_utils.stats.REGION_DELTA_CHI2`.

    Deterministic: the same data, hyperparameters, code and xgboost version give bit-identical
    models in any process. The model is cached under ``cache_dir("surrogate", <content hash>)``
    (hash of the data, hyperparameters, the code of :mod:`lecture_utils.surrogate` and the
    xgboost version) and reused, and kept in memory for the rest of the process.

    Parameters
    ----------
    rebuild : bool, optional
        Retrain and overwrite the cached model.
    use_cache : bool, optional
        ``False`` trains without touching the cache.
    hyperparameters : str or pathlib.Path, optional
        Hyperparameter record (:func:`load_hyperparameters`).
    transform : {"ratio", "raw", "running"}, optional
        Replaces the shipped feature transform (same data, hyperparameters and seed) — e.g.
        ``"ratio"``, one feature per parameter, for per-parameter SHAP values (chapter 6).

    Returns
    -------
    TwoStageSurrogate

    Raises
    ------
    FileNotFoundError
        Naming the command to run, if the shipped data are missing.
    """
    import xgboost as xgb

    pts, chi2 = training_arrays(TRAINING_SETS)
    dhash = training_data_hash(pts, chi2)
    hp = load_hyperparameters(hyperparameters)
    settings = fit_settings(hp)
    if transform is not None:
        settings["transform"] = check_transform(transform)
    key = content_hash("default_surrogate", FORMAT_VERSION, dhash, hp["gate"], hp["regressor"],
                       settings, feature_table_key(settings["transform"]), REGION_DELTA_CHI2,
                       xgb.__version__, code_fingerprint("lecture_utils.surrogate"))[:24]

    def train() -> TwoStageSurrogate:
        return TwoStageSurrogate.fit(pts, chi2, gate_params=hp["gate"],
                                     regressor_params=hp["regressor"], cut=REGION_DELTA_CHI2,
                                     **settings)

    if not use_cache:
        return train()
    if key in _MEMO and not rebuild:
        return _MEMO[key]
    folder = cache_dir("surrogate") / key
    with building(folder):  # one process trains, the others wait and load its model
        model = _load_or_train(folder, key, dhash, train, rebuild)
    _MEMO[key] = model
    return model


def _load_or_train(folder: Path, key: str, dhash: str, train: Callable[[], TwoStageSurrogate],
                   rebuild: bool) -> TwoStageSurrogate:
    """The cached model in ``folder``, or ``train()`` saved there (under the build lock)."""
    stale = rebuild
    if folder.exists() and not rebuild:
        try:
            return TwoStageSurrogate.load(folder, data_hash=dhash, cut=REGION_DELTA_CHI2)
        except (SurrogateMetadataError, FileNotFoundError, ValueError) as exc:
            warnings.warn(f"cached surrogate at {folder} unusable ({exc}); retraining",
                          UserWarning, stacklevel=3)
            stale = True
    model = train()
    # write to a private folder, then rename: readers never see a half-written model
    tmp = folder.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
    model.save(tmp)
    if stale and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process won the race: its model is identical (deterministic)
        shutil.rmtree(tmp, ignore_errors=True)
    return TwoStageSurrogate.load(folder, data_hash=dhash, cut=REGION_DELTA_CHI2)


COURSE_CURVE_SIZES: tuple[int, ...] = (500, 1000, 2000, 4000, 8000, 16000)
"""Training-set sizes of :func:`course_learning_curve` (the full training data is added)."""


def course_learning_curve(sizes: Sequence[int] = COURSE_CURVE_SIZES, *, seed: int = 0,
                          rebuild: bool = False,
                          hyperparameters: str | Path = HYPERPARAMETERS_PATH) -> pd.DataFrame:
    """:func:`learning_curve` of the course's surrogate: nested subsets of the shipped
    :data:`TRAINING_SETS` (the sizes below their total, then all of it), the shipped
    hyperparameters and settings, validated on the shipped ``"holdout"`` set against the
    minimum of the training data.

    Training the largest models takes minutes, so the table is cached like
    :func:`default_surrogate` (``cache_dir("learning-curve")``, keyed by the data, the
    hyperparameters, the code of :mod:`lecture_utils.surrogate` and the xgboost version);
    ``rebuild=True`` recomputes.
    """
    import xgboost as xgb

    pts, chi2 = training_arrays(TRAINING_SETS)
    hold_pts, hold_chi2 = training_arrays("holdout")
    hp = load_hyperparameters(hyperparameters)
    settings = {k: v for k, v in fit_settings(hp).items() if k != "seed"}
    full = [int(n) for n in sizes if 0 < int(n) < len(pts)] + [len(pts)]
    key = content_hash("course_learning_curve", FORMAT_VERSION, training_data_hash(pts, chi2),
                       training_data_hash(hold_pts, hold_chi2), hp["gate"], hp["regressor"],
                       settings, full, seed, feature_table_key(settings["transform"]),
                       REGION_DELTA_CHI2, xgb.__version__,
                       code_fingerprint("lecture_utils.surrogate"))[:24]
    path = cache_dir("learning-curve") / f"{key}.csv"
    if path.exists() and not rebuild:
        cached = _read_curve(path, full)
        if cached is not None:
            return cached
    curve = learning_curve(pts, chi2, hold_pts, hold_chi2, full, seed=seed,
                           chi2_min=float(chi2.min()), gate_params=hp["gate"],
                           regressor_params=hp["regressor"], cut=REGION_DELTA_CHI2, **settings)
    tmp = path.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
    curve.to_csv(tmp, index=False, float_format="%.17g")
    os.replace(tmp, path)
    return pd.read_csv(path)


def course_early_stopping_curve(stage: str = "regressor", *, cap_factor: int = 10,
                                rebuild: bool = False,
                                hyperparameters: str | Path = HYPERPARAMETERS_PATH
                                ) -> EarlyStoppingCurve:
    """:func:`early_stopping_curve` of one stage of the course's surrogate: the shipped
    :data:`TRAINING_SETS`, hyperparameters and settings (split, transform, seed), with the tree
    cap raised ``cap_factor`` times so that early stopping alone decides.

    Training thousands of trees takes minutes, so the curve is cached like
    :func:`course_learning_curve` (``cache_dir("early-stopping")``, keyed by the data, the
    hyperparameters, the settings, the code of :mod:`lecture_utils.surrogate` and the xgboost
    version); ``rebuild=True`` recomputes.

    Parameters
    ----------
    stage : {"gate", "regressor"}
        The stage.
    cap_factor : int, optional
        The cap is ``cap_factor`` times the shipped record's ``max_estimators``; ≥ 1.
    rebuild : bool, optional
        Recompute even if cached.
    hyperparameters : str or pathlib.Path, optional
        The hyperparameter record.

    Returns
    -------
    EarlyStoppingCurve

    Raises
    ------
    ValueError
        For an unknown stage or ``cap_factor < 1``.
    """
    import xgboost as xgb

    if int(cap_factor) < 1:
        raise ValueError(f"cap_factor must be >= 1, got {cap_factor}")
    if stage not in ("gate", "regressor"):
        raise ValueError(f"unknown stage {stage!r}; choose 'gate' or 'regressor'")
    hp = load_hyperparameters(hyperparameters)
    settings = fit_settings(hp)
    max_estimators = int(cap_factor) * int(settings["max_estimators"])
    pts, chi2 = training_arrays(TRAINING_SETS)
    key = content_hash("course_early_stopping_curve", FORMAT_VERSION,
                       training_data_hash(pts, chi2), hp[stage], stage, max_estimators,
                       settings, feature_table_key(settings["transform"]), REGION_DELTA_CHI2,
                       xgb.__version__, code_fingerprint("lecture_utils.surrogate"))[:24]
    path = cache_dir("early-stopping") / f"{key}.json"
    if path.exists() and not rebuild:
        try:
            cached = json.loads(path.read_text())
            return EarlyStoppingCurve(stage=cached["stage"], metric=cached["metric"],
                                      scores=np.asarray(cached["scores"], dtype=float),
                                      best_n_estimators=int(cached["best_n_estimators"]),
                                      max_estimators=int(cached["max_estimators"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"cached early-stopping curve {path} unusable "
                          f"({type(exc).__name__}: {exc}); recomputing", UserWarning,
                          stacklevel=2)
    curve = early_stopping_curve(
        pts, chi2, stage, hp[stage], max_estimators=max_estimators,
        early_stopping_rounds=settings["early_stopping_rounds"],
        transform=settings["transform"], cut=REGION_DELTA_CHI2,
        regressor_margin=settings["regressor_margin"], seed=settings["seed"],
        validation_fraction=settings["validation_fraction"])
    tmp = path.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"stage": curve.stage, "metric": curve.metric,
                               "scores": curve.scores.tolist(),
                               "best_n_estimators": curve.best_n_estimators,
                               "max_estimators": curve.max_estimators}))
    os.replace(tmp, path)
    return curve


def _read_curve(path: Path, sizes: list[int]) -> pd.DataFrame | None:
    """The cached learning curve at ``path`` if it is whole (one row per training-set size, in
    order); else ``None`` after a warning, so the caller computes it again."""
    try:
        curve = pd.read_csv(path)
        if curve["n_train"].tolist() == sizes:
            return curve
        problem = f"sizes {curve['n_train'].tolist()}, expected {sizes}"
    except (OSError, ValueError, KeyError) as exc:  # pandas' parser errors are ValueErrors
        problem = f"{type(exc).__name__}: {exc}"
    warnings.warn(f"cached learning curve {path} unusable ({problem}); recomputing", UserWarning,
                  stacklevel=3)
    return None


def resolve_surrogate(surrogate: Any) -> TwoStageSurrogate:
    """``surrogate`` checked to be a :class:`TwoStageSurrogate` (or subclass, e.g. a compiled one);
    ``None`` → :func:`default_surrogate`."""
    if surrogate is None:
        return default_surrogate()
    if not isinstance(surrogate, TwoStageSurrogate):
        raise ValueError("surrogate must be a TwoStageSurrogate (or CompiledSurrogate), got "
                         f"{type(surrogate).__name__}")
    return surrogate


