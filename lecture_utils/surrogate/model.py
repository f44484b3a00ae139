"""The two-stage gradient-boosted-tree surrogate of the ALP χ², its persistence and its validation.

The exact χ² (:func:`lecture_utils.alps.chi2`) costs seconds per point; a boosted-tree prediction
costs microseconds. The χ² spans some twenty orders of magnitude over the parameter box (the region
of interest sits at 13–23 while small f_a gives 10⁹–10²²), so one regressor on the raw values would
spend its capacity on numbers nobody needs. The course's surrogate therefore has **two stages**:

**gate**
    an :class:`xgboost.XGBClassifier` estimating the probability ``p(x)`` that a point lies in the
    *region of interest*, ``Δχ² = χ² − χ²_min < cut`` with ``cut =``
    :data:`lecture_utils.stats.REGION_DELTA_CHI2` (the one definition of the cut) and ``χ²_min`` the
    smallest χ² of the training data. It is a proper probabilistic classifier (logistic loss on hard
    labels), so its probabilities can be checked for calibration. Huge χ² values need no cap or log:
    for the gate they are simply label 0.
**regressor**
    an :class:`xgboost.XGBRegressor` for χ² itself, trained only on points with
    ``Δχ² < cut + regressor_margin`` — slightly beyond the cut so that it is not extrapolating at
    the boundary the gate draws.

Two ways of combining them, and only these two:

:meth:`TwoStageSurrogate.predict` — the *hard* combination
    the regressor's χ² where ``p(x) ≥ threshold`` (default 0.5), ``+inf`` elsewhere;
:meth:`TwoStageSurrogate.predict_smooth` — the *smooth* combination for samplers and optimisers
    with ``d = max(0, logit(threshold) − logit p(x))`` (how far the gate's log-odds lie below its
    threshold): ``χ²_reg(x) + min(1, d / r) · max(0, χ²_min + cut − χ²_reg(x)) + s · d``, with
    ``r =`` :data:`SMOOTH_RAMP` and ``s =`` :data:`PENALTY_SCALE` = 2 χ² units per unit of
    log-odds. Finite everywhere, continuous and monotone in ``d``, equal to the hard combination
    inside the gate. Outside, the regressor (trained on region points only) extrapolates; what the
    gate does say there is "Δχ² ≥ cut", so within ``r`` units of log-odds the estimate rises to
    the region's edge (if it was below), and beyond it grows by ``s`` per unit: with ``s = 2`` the
    likelihood ``exp(−χ²/2)`` is multiplied by the gate's odds relative to the threshold odds — a
    probabilistic reading of the penalty. Without the floor, posterior draws leaked into the large
    volume the gate rejects only narrowly (measured in chapter 7).

Features (:func:`features`): ``log10(f_a / GeV)`` and the effective couplings
``c_i · 10⁶ GeV / f_a`` (transform ``"ratio"``; the physics depends on c_i/f_a at low energies), or
``log10 f_a`` and the raw couplings (``"raw"``), or — the course's choice — the ratio features plus
eight low-energy couplings at m_a over f_a (``"running"``, :data:`RUNNING_FEATURES`), read off the
tabulated linear leading-log running (:func:`lecture_utils.alps.running_table`): the running mixes
the couplings (c_bs comes from c_uR − c_qL33), which axis-aligned splits can only staircase. All
three were measured on the hold-out set (see the chapter and ``benchmarks/surrogate_choices.py``).
Feature matrices are float32, the precision the trees split in, so every backend (xgboost,
compiled C) sees identical inputs.

Early stopping uses one seeded validation split (stratified by region membership): the gate stops on
validation log-loss, the regressor on validation MAE inside the cut. The number of trees found
there is kept and, by default, both stages are refit on all training points with that many trees.

A fitted surrogate saves to a folder: ``gate.ubj`` and ``regressor.ubj`` (XGBoost's UBJSON) and
``metadata.json`` (feature names, parameter order, domain, cut, χ²_min, hyperparameters, package
versions, training-data hash, SHA-256 of both model files, the running table's key for
``"running"`` features). :meth:`TwoStageSurrogate.load` checks
it against the code (and, optionally, against the data) and raises
:class:`SurrogateMetadataError` on a mismatch.

Points outside the training box (:data:`lecture_utils.alps.DOMAIN`) are flagged by
:meth:`~TwoStageSurrogate.in_domain`; every prediction method emits one
:class:`OutOfDomainWarning` per surrogate when it meets such points (trees extrapolate as
constants — the numbers there mean nothing).

Minimisers that need derivatives (MIGRAD, for profile likelihoods) cannot use a sum of trees,
which is piecewise constant. :class:`SmoothedSurrogate` is the same smooth χ² with every split of
both stages blurred by Gaussian input noise (:class:`SoftTreeEnsemble`): differentiable, and equal
to the surrogate as the blur goes to zero. It works in the *search coordinates*
(:data:`SEARCH_NAMES`: log10(f_a/GeV) and the five couplings, bounds :data:`SEARCH_BOUNDS`;
:func:`to_search`/:func:`from_search` convert) that the fit (:mod:`lecture_utils.fit`) and the
sampler (:mod:`lecture_utils.sampling`) share.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import alps
from ._cache import cache_dir, code_fingerprint, content_hash
from ._paths import RESOURCES_DIR
from .stats import REGION_DELTA_CHI2, delta_chi2

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "FA_REFERENCE_GEV",
    "FEATURE_TRANSFORMS",
    "HYPERPARAMETERS_PATH",
    "PENALTY_SCALE",
    "SMOOTH_RAMP",
    "smooth_combination",
    "REGRESSOR_MARGIN",
    "RUNNING_FEATURES",
    "TUTORIAL_N_TRAIN",
    "TUTORIAL_REGION_MAE",
    "OutOfDomainWarning",
    "SurrogateMetadataError",
    "TwoStageSurrogate",
    "ValidationReport",
    "as_points",
    "check_transform",
    "confusion_counts",
    "course_learning_curve",
    "default_surrogate",
    "feature_names",
    "fit_settings",
    "features",
    "features_of",
    "resolve_surrogate",
    "training_arrays",
    "TRAINING_SETS",
    "COURSE_CURVE_SIZES",
    "gate_metrics",
    "iou",
    "learning_curve",
    "learning_curve_fit",
    "load_hyperparameters",
    "region_iou",
    "regression_metrics",
    "reliability_curve",
    "split_indices",
    "stage_model",
    "training_data_hash",
    "training_split",
    "validate",
]

FORMAT_VERSION: int = 1
"""Version of the saved-model layout and of the feature definitions; bumped on any change."""

Transform = Literal["ratio", "raw", "running"]
FEATURE_TRANSFORMS: tuple[str, ...] = ("ratio", "raw", "running")
"""Available feature transforms (see :func:`features`)."""

FA_REFERENCE_GEV: float = 1.0e6
"""Reference scale of the effective couplings: feature ``c_i · FA_REFERENCE_GEV / f_a`` (O(1))."""

REGRESSOR_MARGIN: float = 2.0
"""Default extra Δχ² beyond the cut on which the regressor trains (chosen by measurement)."""

PENALTY_SCALE: float = 2.0
"""χ² penalty per unit of gate log-odds below the threshold in :meth:`predict_smooth`."""

def smooth_combination(chi2_regressor: np.ndarray, logit: np.ndarray, *, logit_threshold: float,
                       chi2_edge: float, penalty_scale: float = PENALTY_SCALE,
                       ramp: float | None = None) -> np.ndarray:
    """The smooth combination of :meth:`TwoStageSurrogate.predict_smooth` from the regressor's χ²
    and the gate's log-odds (arrays of equal shape): with ``d = max(0, logit_threshold − logit)``,
    ``χ²_reg + min(1, d / ramp) · max(0, chi2_edge − χ²_reg) + penalty_scale · d``.

    ``chi2_edge`` is the region's edge χ²_min + cut; ``ramp`` defaults to :data:`SMOOTH_RAMP`.
    """
    r = SMOOTH_RAMP if ramp is None else float(ramp)
    d = np.maximum(0.0, logit_threshold - np.asarray(logit, dtype=float))
    reg = np.asarray(chi2_regressor, dtype=float)
    return reg + np.minimum(1.0, d / r) * np.maximum(0.0, chi2_edge - reg) + penalty_scale * d


SMOOTH_RAMP: float = 0.5
"""Log-odds below the gate's threshold over which :meth:`predict_smooth` rises to the region's
edge χ²_min + cut (0.5 log-odds: from p = 0.5 to p ≈ 0.38 at the default threshold).

Measured with 100 exact spot checks of the course posterior (seed 1; chapter 7's setting), with the
``"ratio"``-feature surrogate of the time: without the floor 35 % of the draws sat where the gate
rejects, 65 % of all draws inside the exact region; with it 6 % and 73 %. (With the ``"running"``
features the gate rejects 1 % of the draws and 83 % lie in the exact region.)"""

TUTORIAL_REGION_MAE: float = 0.143
"""The reference tutorial's validation MAE of its regressor inside Δχ² < 10 (quoted, DESIGN §5)."""

TUTORIAL_N_TRAIN: int = 41_638
"""Number of exact points the reference tutorial trained on (quoted, DESIGN §5)."""

DEFAULT_THRESHOLD: float = 0.5
"""Working threshold of the gate probability."""

DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "gate": {"max_depth": 6, "learning_rate": 0.05, "gamma": 0.0, "min_child_weight": 1.0,
             "subsample": 0.8, "colsample_bytree": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0},
    "regressor": {"max_depth": 6, "learning_rate": 0.05, "gamma": 0.0, "min_child_weight": 1.0,
                  "subsample": 0.8, "colsample_bytree": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0},
}
"""Untuned starting values (the shipped, tuned ones are in :data:`HYPERPARAMETERS_PATH`)."""

HYPERPARAMETERS_PATH: Path = RESOURCES_DIR / \
    "surrogate_hyperparameters.json"
"""The shipped tuned hyperparameters, with the settings and results of the study beside them."""

MAX_ESTIMATORS: int = 3000
"""Upper bound on the number of trees; early stopping picks the actual number."""

EARLY_STOPPING_ROUNDS: int = 50
"""Stop when the validation metric has not improved for this many rounds."""

VALIDATION_FRACTION: float = 0.2
"""Fraction of the training points held out (seeded, stratified) for early stopping."""

_SALT_SPLIT = 0x5EED_5B17
_MODEL_FILES = {"gate": "gate.ubj", "regressor": "regressor.ubj"}


class SurrogateMetadataError(ValueError):
    """A saved surrogate does not match the code, the data or its own model files."""


class OutOfDomainWarning(UserWarning):
    """Points outside the training domain were passed to a surrogate (emitted once per model)."""


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------
def check_transform(transform: str) -> str:
    if transform not in FEATURE_TRANSFORMS:
        raise ValueError(f"unknown feature transform {transform!r}; choose one of "
                         f"{FEATURE_TRANSFORMS}")
    return transform


RUNNING_FEATURES: tuple[str, ...] = ("cbs_abs",) + tuple(
    name for name, *_ in alps.RUNNING_COUPLINGS[2:])  # [0:2]: c_bs real and imaginary part
"""Low-energy couplings (:data:`lecture_utils.alps.RUNNING_COUPLINGS`; ``cbs_abs`` = |c_bs|) that
the ``"running"`` transform adds to the ``"ratio"`` features, each times 10⁶ GeV / f_a."""


def feature_names(transform: Transform = "ratio") -> tuple[str, ...]:
    """Names of the model inputs of ``transform``: 6 (:data:`alps.PARAMETERS` order) for
    ``"ratio"`` and ``"raw"``; for ``"running"`` the 6 ratio features and then
    :data:`RUNNING_FEATURES` (14)."""
    check_transform(transform)
    if transform == "raw":
        return ("log10_fa",) + tuple(alps.PARAMETERS[1:])
    ratio = ("log10_fa",) + tuple(f"{p}_per_fa" for p in alps.PARAMETERS[1:])
    if transform == "ratio":
        return ratio
    return ratio + tuple(f"{c}_per_fa" for c in RUNNING_FEATURES)


def _feature_table_key(transform: str) -> str | None:
    """Key of the tabulated running the features of ``transform`` use (None: no table)."""
    return alps.running_table_key() if transform == "running" else None


def as_points(points: Any) -> np.ndarray:
    """Validate physical points and return them as float64, shape (n, 6).

    Accepts an array of shape (n, 6) or (6,) in :data:`alps.PARAMETERS` order, or a DataFrame with
    (at least) those columns, which are taken by name. Raises :class:`ValueError` for a wrong
    number of columns, missing names, NaN/inf values or f_a ≤ 0. Points outside the domain are
    *not* rejected here (see :meth:`TwoStageSurrogate.in_domain`).
    """
    if isinstance(points, pd.DataFrame):
        missing = [p for p in alps.PARAMETERS if p not in points.columns]
        if missing:
            raise ValueError(f"DataFrame lacks parameter columns {missing}; need "
                             f"{list(alps.PARAMETERS)}")
        points = points[list(alps.PARAMETERS)].to_numpy(dtype=float)
    return alps.validate_points(points, allow_extrapolation=True)


def features(points: Any, transform: Transform = "ratio") -> np.ndarray:
    """Model-input matrix of physical ``points``: float32, shape (n, len(feature_names)),
    C-contiguous.

    ``"ratio"``: ``[log10(f_a/GeV), c_i · 10⁶ GeV / f_a for the five couplings]``;
    ``"raw"``: ``[log10(f_a/GeV), c_i]``; ``"running"``: the ratio features followed by the
    low-energy couplings :data:`RUNNING_FEATURES` at m_a times 10⁶ GeV / f_a, from the tabulated
    leading-log running (:func:`lecture_utils.alps.running_table`; |c_bs| for the b → s coupling).
    Computed in float64 and rounded once to float32.
    """
    check_transform(transform)
    return features_of(as_points(points), transform)


def features_of(p: np.ndarray, transform: str, dtype: Any = np.float32) -> np.ndarray:
    """:func:`features` of already validated points ``p`` (float64, (n, 6)); no checks.

    The ufuncs compute in float64 (the type of their inputs) and round once into the float32
    output, so the result is bit-identical to computing in float64 and converting afterwards —
    without the temporaries (this runs on every prediction, often for one point). ``dtype=float``
    keeps float64 (for finite differences).
    """
    n_par = len(alps.PARAMETERS)
    out = np.empty((len(p), n_par + (len(RUNNING_FEATURES) if transform == "running" else 0)),
                   dtype=dtype)
    fa = p[:, :1]
    np.log10(fa, out=out[:, :1])
    if transform == "raw":
        out[:, 1:] = p[:, 1:]
        return out
    scale = FA_REFERENCE_GEV / fa
    np.multiply(p[:, 1:], scale, out=out[:, 1:n_par])
    if transform == "running":
        low = alps.running_table().low_energy(p)  # columns of alps.RUNNING_COUPLINGS
        low[:, 1] = np.hypot(low[:, 0], low[:, 1])  # |c_bs|
        np.multiply(low[:, 1:], scale, out=out[:, n_par:])
    return out


# --------------------------------------------------------------------------------------------
# helpers: hashes, versions, splits
# --------------------------------------------------------------------------------------------
def training_data_hash(points: np.ndarray, chi2: np.ndarray) -> str:
    """SHA-256 identifying a training set: the float64 bytes of points (n, 6) and χ² (n,)."""
    p = np.ascontiguousarray(np.asarray(points, dtype=np.float64))
    c = np.ascontiguousarray(np.asarray(chi2, dtype=np.float64))
    return content_hash("training-data", list(p.shape), p.tobytes(), c.tobytes())


def _versions() -> dict[str, str]:
    import sklearn
    import xgboost

    from . import __version__

    # module versions, not distribution names (xgboost ships as "xgboost" or "xgboost-cpu")
    return {"python": ".".join(map(str, sys.version_info[:3])), "xgboost": xgboost.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "lecture_utils": __version__}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_indices(n: int, seed: int, fraction: float = VALIDATION_FRACTION,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of ``n`` items: (train indices, validation indices), sorted.

    With ``stratify`` (labels, shape (n,)) every class contributes ``round(fraction · n_class)``
    items to the validation part. The same ``seed`` always gives the same split, so tuning and
    training see the identical validation set.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng([int(seed), _SALT_SPLIT])
    labels = np.zeros(n, dtype=int) if stratify is None else np.asarray(stratify)
    if labels.shape != (n,):
        raise ValueError("stratify must have shape (n,)")
    val: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        k = int(round(fraction * len(idx)))
        val.append(rng.permutation(idx)[:k])
    v = np.sort(np.concatenate(val)) if val else np.array([], dtype=int)
    mask = np.zeros(n, dtype=bool)
    mask[v] = True
    return np.flatnonzero(~mask), v


def _check_chi2(chi2: Any, n: int) -> np.ndarray:
    c = np.asarray(chi2, dtype=float)
    if c.shape != (n,):
        raise ValueError(f"chi2 must have shape ({n},), got {c.shape}")
    if np.isnan(c).any():
        raise ValueError(f"chi2 has {int(np.isnan(c).sum())} NaN value(s); drop those points "
                         "(failed evaluations) before training")
    if np.isneginf(c).any():
        raise ValueError("chi2 has -inf values")
    return c


@dataclass(frozen=True)
class TrainingSplit:
    """Everything both stages train and early-stop on (shared by :meth:`TwoStageSurrogate.fit`
    and :mod:`lecture_utils.tuning`, so tuning scores exactly what training will use).

    ``x`` float32 features (n, 6); ``chi2`` (n,); ``inside``: Δχ² < cut (n,) bool; index arrays
    into them: ``train``/``validation`` (seeded split, stratified by ``inside``),
    ``regressor_train`` (training points with Δχ² < cut + margin), ``regressor_validation``
    (validation points inside the cut), ``regressor_all`` (all points with Δχ² < cut + margin).
    """

    points: np.ndarray
    x: np.ndarray
    chi2: np.ndarray
    chi2_min: float
    cut: float
    regressor_margin: float
    inside: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    regressor_train: np.ndarray
    regressor_validation: np.ndarray
    regressor_all: np.ndarray
    data_hash: str


def training_split(points: Any, chi2: Any, *, transform: Transform = "ratio",
                   cut: float = REGION_DELTA_CHI2, regressor_margin: float = REGRESSOR_MARGIN,
                   seed: int = 0, validation_fraction: float = VALIDATION_FRACTION
                   ) -> TrainingSplit:
    """Validate training data and build the :class:`TrainingSplit` (see there).

    Raises :class:`ValueError` for points outside :data:`alps.DOMAIN`, NaN χ², ``cut ≤ 0``,
    ``regressor_margin < 0`` or fewer than 10 points on either side of the cut.
    """
    check_transform(transform)
    pts = as_points(points)
    outside = ~alps.DOMAIN.contains(pts)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} training point(s) lie outside alps.DOMAIN")
    c = _check_chi2(chi2, len(pts))
    if not (cut > 0 and regressor_margin >= 0):
        raise ValueError(f"need cut > 0 and regressor_margin ≥ 0, got {cut}, {regressor_margin}")
    chi2_min = float(c.min())
    dchi2 = c - chi2_min
    inside = dchi2 < cut
    if inside.sum() < 10 or (~inside).sum() < 10:
        raise ValueError(f"need ≥ 10 points inside and outside the region Δχ² < {cut:g}; got "
                         f"{int(inside.sum())} inside, {int((~inside).sum())} outside")
    tr, val = split_indices(len(pts), seed, validation_fraction, stratify=inside)
    reg = dchi2 < cut + regressor_margin
    return TrainingSplit(points=pts, x=features(pts, transform), chi2=c, chi2_min=chi2_min,
                         cut=float(cut), regressor_margin=float(regressor_margin), inside=inside,
                         train=tr, validation=val, regressor_train=tr[reg[tr]],
                         regressor_validation=val[inside[val]], regressor_all=np.flatnonzero(reg),
                         data_hash=training_data_hash(pts, c))


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
STAGE_METRIC: dict[str, str] = {"gate": "logloss", "regressor": "mae"}
"""Validation metric of each stage (early stopping and tuning): gate log-loss (a proper scoring
rule, so it rewards calibration), regressor mean absolute error inside the cut."""


STAGE_OBJECTIVE: dict[str, str] = {"gate": "binary:logistic", "regressor": "reg:absoluteerror"}
"""XGBoost objective of each stage. The regressor minimises the *absolute* error: the metric it is
judged by (the region MAE), and robust to the few cliffs of the χ² (displaced-vertex searches
switching on with the ALP's lifetime) that a squared error chases at the expense of every other
point. Measured with the running features on 15,000 points of the training sets (the
early-stopping split, before the choice): validation MAE 0.088 vs 0.157 with ``reg:squarederror``
(the hold-out agrees: 0.121 vs 0.190, RMSE 0.43 vs 0.44). Absolute-error trees need more rounds at
the same learning rate."""


def stage_model(stage: str, params: Mapping[str, Any], *, n_estimators: int, seed: int,
                n_jobs: int = 1, early_stopping_rounds: int | None = None,
                callbacks: Sequence[Any] | None = None, objective: str | None = None) -> Any:
    """An unfitted XGBoost estimator for ``stage`` (``"gate"`` or ``"regressor"``).

    Tree method ``hist`` (deterministic for a fixed seed; measured independent of ``n_jobs``),
    objective ``objective`` (default :data:`STAGE_OBJECTIVE`), eval metric :data:`STAGE_METRIC`.
    """
    import xgboost as xgb

    if stage not in STAGE_METRIC:
        raise ValueError(f"unknown stage {stage!r}; choose 'gate' or 'regressor'")
    cls = xgb.XGBClassifier if stage == "gate" else xgb.XGBRegressor
    objective = STAGE_OBJECTIVE[stage] if objective is None else str(objective)
    return cls(**dict(params), objective=objective, n_estimators=int(n_estimators),
               eval_metric=STAGE_METRIC[stage], early_stopping_rounds=early_stopping_rounds,
               callbacks=list(callbacks) if callbacks else None, tree_method="hist",
               random_state=int(seed), n_jobs=int(n_jobs))


def _fit_booster(kind: str, params: Mapping[str, Any], x_tr: np.ndarray, y_tr: np.ndarray,
                 x_val: np.ndarray, y_val: np.ndarray, *, x_all: np.ndarray, y_all: np.ndarray,
                 seed: int, n_jobs: int, max_estimators: int, early_stopping_rounds: int,
                 refit: bool, objective: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Early-stop one stage on the validation split, then (optionally) refit on all points."""
    metric = STAGE_METRIC[kind]
    objective = STAGE_OBJECTIVE[kind] if objective is None else objective
    model = stage_model(kind, params, n_estimators=max_estimators, seed=seed, n_jobs=n_jobs,
                        early_stopping_rounds=early_stopping_rounds, objective=objective)
    model.fit(x_tr, y_tr, eval_set=[(x_val, y_val)], verbose=False)
    n_trees = int(model.best_iteration) + 1
    curve = np.asarray(model.evals_result()["validation_0"][metric], dtype=float)
    info = {"n_estimators": n_trees, "validation_metric": metric,
            "validation_score": float(curve[n_trees - 1]), "n_train": int(len(y_tr)),
            "n_validation": int(len(y_val)), "refit": bool(refit), "objective": objective}
    if refit:
        model = stage_model(kind, params, n_estimators=n_trees, seed=seed, n_jobs=n_jobs,
                            objective=objective)
        model.fit(x_all, y_all, verbose=False)
        info["n_train"] = int(len(y_all))
    else:
        # keep exactly the best trees: save/load, compilation and inplace_predict then all see
        # the model that early stopping chose (not the extra rounds after it)
        model._Booster = model.get_booster()[:n_trees]
        model.set_params(early_stopping_rounds=None, n_estimators=n_trees)
    return model, info


@dataclass
class TwoStageSurrogate:
    """Gate classifier + χ² regressor over the ALP parameters (see the module docstring).

    Build one with :meth:`fit` (or :func:`default_surrogate`, or :meth:`load`). Attributes
    ``gate`` (:class:`xgboost.XGBClassifier`) and ``regressor`` (:class:`xgboost.XGBRegressor`)
    are the fitted models; both take :meth:`features` as input.

    Internal structure (keep the signatures; other modules rely on them): every public
    prediction validates its points exactly once, in ``_inputs`` (validation, the once-per-model
    out-of-domain warning, float32 features), and evaluates the boosters only through
    ``_raw(stage, x, margin=…)`` — the one method a different backend overrides
    (:class:`lecture_utils.compiled.CompiledSurrogate`). ``_both`` returns (gate log-odds,
    regressor χ²) as float64; both combinations go through it.
    """

    gate: Any
    regressor: Any
    metadata: dict[str, Any]
    _warned_domain: bool = field(default=False, repr=False, compare=False)
    _bounds_memo: tuple[Any, np.ndarray, np.ndarray] | None = field(default=None, repr=False,
                                                                      compare=False)

    # ---- read-only views of the metadata
    @property
    def transform(self) -> Transform:
        """Feature transform name (``"ratio"`` or ``"raw"``)."""
        return self.metadata["transform"]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the 6 model inputs."""
        return tuple(self.metadata["feature_names"])

    @property
    def cut(self) -> float:
        """Region cut Δχ² (the gate's definition of the region of interest)."""
        return float(self.metadata["cut"])

    @property
    def chi2_min(self) -> float:
        """χ²_min of the training data; the region is χ² < chi2_min + cut."""
        return float(self.metadata["chi2_min"])

    @property
    def threshold(self) -> float:
        """Working threshold on the gate probability."""
        return float(self.metadata["threshold"])

    @property
    def penalty_scale(self) -> float:
        """χ² per unit of log-odds in :meth:`predict_smooth`."""
        return float(self.metadata["penalty_scale"])

    @property
    def data_hash(self) -> str:
        """:func:`training_data_hash` of the training set."""
        return str(self.metadata["data_hash"])

    @property
    def domain(self) -> np.ndarray:
        """Training-domain bounds, shape (6, 2), physical units."""
        return np.asarray(self.metadata["domain"], dtype=float)

    # ---- training
    @classmethod
    def fit(cls, points: Any, chi2: Any, *, gate_params: Mapping[str, Any] | None = None,
            regressor_params: Mapping[str, Any] | None = None, transform: Transform = "ratio",
            cut: float = REGION_DELTA_CHI2, regressor_margin: float = REGRESSOR_MARGIN,
            threshold: float = DEFAULT_THRESHOLD, penalty_scale: float = PENALTY_SCALE,
            seed: int = 0, validation_fraction: float = VALIDATION_FRACTION,
            max_estimators: int = MAX_ESTIMATORS,
            early_stopping_rounds: int = EARLY_STOPPING_ROUNDS, refit: bool = True,
            n_jobs: int = 1, regressor_objective: str = STAGE_OBJECTIVE["regressor"]
            ) -> TwoStageSurrogate:
        """Train both stages on ``points`` (n, 6) with exact ``chi2`` (n,); deterministic.

        ``chi2`` may contain ``+inf`` (treated as outside the region), not NaN. ``cut`` defaults to
        :data:`~lecture_utils.stats.REGION_DELTA_CHI2`; χ²_min is the smallest training χ². The
        regressor trains on Δχ² < ``cut + regressor_margin``. ``gate_params`` /
        ``regressor_params`` are XGBoost tree parameters (default
        :data:`DEFAULT_HYPERPARAMETERS`); the number of trees is chosen by early stopping on a
        seeded validation split (:func:`split_indices`), then both stages are refit on all points
        with that many trees unless ``refit=False``. ``regressor_objective`` is the regressor's
        XGBoost objective (:data:`STAGE_OBJECTIVE`). Results do not depend on ``n_jobs``.
        """
        if not (0 < threshold < 1 and penalty_scale > 0):
            raise ValueError("need 0 < threshold < 1 and penalty_scale > 0")
        sp = training_split(points, chi2, transform=transform, cut=cut,
                            regressor_margin=regressor_margin, seed=seed,
                            validation_fraction=validation_fraction)
        gp = dict(DEFAULT_HYPERPARAMETERS["gate"] if gate_params is None else gate_params)
        rp = dict(DEFAULT_HYPERPARAMETERS["regressor"] if regressor_params is None
                  else regressor_params)
        common = {"seed": seed, "n_jobs": n_jobs, "max_estimators": max_estimators,
                  "early_stopping_rounds": early_stopping_rounds, "refit": refit}
        x, c, y_gate = sp.x, sp.chi2, sp.inside.astype(np.int32)
        tr, val, r_tr, r_val, r_all = (sp.train, sp.validation, sp.regressor_train,
                                       sp.regressor_validation, sp.regressor_all)
        gate, gate_info = _fit_booster("gate", gp, x[tr], y_gate[tr], x[val], y_gate[val],
                                       x_all=x, y_all=y_gate, **common)
        regressor, reg_info = _fit_booster(
            "regressor", rp, x[r_tr], c[r_tr], x[r_val], c[r_val],
            x_all=x[r_all], y_all=c[r_all], objective=regressor_objective, **common)
        pts = sp.points
        chi2_min = sp.chi2_min
        inside = sp.inside
        metadata = {
            "format_version": FORMAT_VERSION,
            "parameters": list(alps.PARAMETERS),
            "units": dict(alps.UNITS),
            "transform": transform,
            "feature_names": list(feature_names(transform)),
            "feature_table": _feature_table_key(transform),
            "domain": alps.DOMAIN.bounds.tolist(),
            "cut": float(cut),
            "chi2_min": chi2_min,
            "regressor_margin": float(regressor_margin),
            "threshold": float(threshold),
            "penalty_scale": float(penalty_scale),
            "hyperparameters": {"gate": gp, "regressor": rp},
            "training": {"seed": int(seed), "validation_fraction": float(validation_fraction),
                         "max_estimators": int(max_estimators),
                         "early_stopping_rounds": int(early_stopping_rounds),
                         "n_points": int(len(pts)), "n_region": int(inside.sum()),
                         "n_regressor": int(len(r_all)), "gate": gate_info,
                         "regressor": reg_info},
            "data_hash": sp.data_hash,
            "versions": _versions(),
        }
        return cls(gate, regressor, metadata)

    def set_n_jobs(self, n_jobs: int = 1) -> TwoStageSurrogate:
        """Threads XGBoost uses for predictions (default 1: fastest for single points and small
        batches, and never oversubscribes a busy machine). Predictions do not depend on it."""
        if int(n_jobs) < 1:
            raise ValueError(f"n_jobs must be ≥ 1, got {n_jobs}")
        for model in (self.gate, self.regressor):
            model.set_params(n_jobs=int(n_jobs))
            model.get_booster().set_param({"nthread": int(n_jobs)})
        return self

    # ---- inputs
    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) domain bounds, each shape (6,), memoised: converting the metadata's
        nested list costs more than comparing it with the memoised copy."""
        domain = self.metadata["domain"]
        memo = self._bounds_memo
        if memo is None or memo[0] != domain:
            lo, hi = np.array(domain, dtype=float).T.copy()
            memo = self._bounds_memo = ([list(b) for b in domain], lo, hi)
        return memo[1], memo[2]

    def in_domain(self, points: Any) -> np.ndarray:
        """Boolean mask, shape (n,): points inside the training domain (edges included)."""
        p = as_points(points)
        lo, hi = self._bounds()
        return np.all((p >= lo) & (p <= hi), axis=1)

    def features(self, points: Any) -> np.ndarray:
        """The model-input matrix (float32, shape (n, n_features)) for ``points``; see
        :func:`features`."""
        return features(points, self.transform)

    def checked_features(self, points: Any) -> np.ndarray:
        """Validate ``points`` (once), warn once per model about points outside the domain, and
        return their float32 features (n, n_features)."""
        p = as_points(points)
        if not self._warned_domain:
            lo, hi = self._bounds()
            if (p < lo).any() or (p > hi).any():
                outside = ~np.all((p >= lo) & (p <= hi), axis=1)
                self._warned_domain = True
                warnings.warn(f"{int(outside.sum())} of {len(p)} point(s) lie outside the "
                              "training domain; tree predictions there are constant "
                              "extrapolations and meaningless (check surrogate.in_domain(points);"
                              " warned once per surrogate)", OutOfDomainWarning, stacklevel=3)
        return features_of(p, self.transform)

    # ---- predictions
    def _raw(self, stage: str, x: np.ndarray, *, margin: bool) -> np.ndarray:
        """Output of booster ``stage`` (``"gate"``/``"regressor"``) for validated features ``x``
        (float32, (n, n_features), from :meth:`checked_features`): the raw score
        (``margin=True``; the gate's log-odds) or the transformed prediction; float64, shape (n,).

        The only place where the boosters are evaluated: a subclass with another backend
        overrides this method and inherits every public prediction method unchanged.
        """
        booster = (self.gate if stage == "gate" else self.regressor).get_booster()
        out = booster.inplace_predict(x, predict_type="margin" if margin else "value")
        return out.astype(float)

    def gate_logit(self, points: Any) -> np.ndarray:
        """The gate's log-odds ``logit p(x)``, shape (n,), float64."""
        return self._raw("gate", self.checked_features(points), margin=True)

    def gate_probability(self, points: Any) -> np.ndarray:
        """Probability that each point lies in the region Δχ² < cut, shape (n,), float64."""
        return self._raw("gate", self.checked_features(points), margin=False)

    def predict_regressor(self, points: Any) -> np.ndarray:
        """The regressor's χ² alone (meaningful inside the region only), shape (n,), float64."""
        return self._raw("regressor", self.checked_features(points), margin=False)

    def _both(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        x = self.checked_features(points)
        return self._raw("gate", x, margin=True), self._raw("regressor", x, margin=False)

    def logit_threshold(self) -> float:
        """The gate's threshold as log-odds, ``log(t / (1 − t))``."""
        t = self.threshold
        return math.log(t) - math.log1p(-t)

    def predict(self, points: Any) -> np.ndarray:
        """Hard combination: regressor χ² where the gate probability ≥ threshold, else ``+inf``.

        Shape (n,), float64, dimensionless.
        """
        logit, reg = self._both(points)
        return np.where(logit >= self.logit_threshold(), reg, np.inf)

    def predict_smooth(self, points: Any) -> np.ndarray:
        """Smooth combination, shape (n,): with ``d = max(0, logit(threshold) − logit p)``,
        ``χ²_reg + min(1, d / SMOOTH_RAMP) · max(0, χ²_min + cut − χ²_reg) + s · d``.

        Finite everywhere; equals :meth:`predict` where the gate accepts a point; continuous and
        monotone in the gate's log-odds outside, at least the region's edge χ²_min + cut once
        ``d ≥ SMOOTH_RAMP`` (the module docstring explains why). Use it in samplers and
        optimisers.
        """
        logit, reg = self._both(points)
        return smooth_combination(reg, logit, logit_threshold=self.logit_threshold(),
                                  chi2_edge=self.chi2_min + self.cut,
                                  penalty_scale=self.penalty_scale)

    def delta_chi2(self, points: Any) -> np.ndarray:
        """Hard-combination Δχ² = :meth:`predict` − χ²_min, shape (n,)."""
        return self.predict(points) - self.chi2_min

    # ---- persistence
    def save(self, path: str | Path) -> Path:
        """Write ``gate.ubj``, ``regressor.ubj`` and ``metadata.json`` into folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = json.loads(json.dumps(self.metadata))
        meta["model_sha256"] = {}
        for stage, fname in _MODEL_FILES.items():
            getattr(self, stage).get_booster().save_model(str(path / fname))
            meta["model_sha256"][stage] = _file_sha256(path / fname)
        (path / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        self.metadata = meta
        return path

    @classmethod
    def load(cls, path: str | Path, *, data_hash: str | None = None,
             cut: float | None = None) -> TwoStageSurrogate:
        """Load a surrogate saved by :meth:`save`, checking its metadata.

        Raises :class:`SurrogateMetadataError` if the format version, parameter order, feature
        names, domain or model-file checksums disagree with this code, or if ``data_hash`` /
        ``cut`` are given and differ from the saved ones; :class:`FileNotFoundError` if files are
        missing. A different xgboost version only warns.
        """
        import xgboost as xgb

        path = Path(path)
        meta_file = path / "metadata.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"no saved surrogate at {path} (missing metadata.json)")
        try:
            meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as exc:
            raise SurrogateMetadataError(f"{meta_file} is not valid JSON: {exc}") from None

        def bad(what: str, saved: Any, expected: Any) -> SurrogateMetadataError:
            return SurrogateMetadataError(
                f"saved surrogate at {path}: {what} mismatch (saved {saved!r}, expected "
                f"{expected!r}); retrain it (e.g. default_surrogate(rebuild=True))")

        if meta.get("format_version") != FORMAT_VERSION:
            raise bad("format version", meta.get("format_version"), FORMAT_VERSION)
        if meta.get("parameters") != list(alps.PARAMETERS):
            raise bad("parameter order", meta.get("parameters"), list(alps.PARAMETERS))
        transform = meta.get("transform")
        if transform not in FEATURE_TRANSFORMS:
            raise bad("feature transform", transform, FEATURE_TRANSFORMS)
        if meta.get("feature_names") != list(feature_names(transform)):
            raise bad("feature names", meta.get("feature_names"), list(feature_names(transform)))
        if meta.get("feature_table") != _feature_table_key(transform):
            raise bad("feature table (alps.running_table)", meta.get("feature_table"),
                      _feature_table_key(transform))
        if meta.get("domain") != alps.DOMAIN.bounds.tolist():
            raise bad("domain", meta.get("domain"), alps.DOMAIN.bounds.tolist())
        if data_hash is not None and meta.get("data_hash") != data_hash:
            raise bad("training-data hash", meta.get("data_hash"), data_hash)
        if cut is not None and meta.get("cut") != float(cut):
            raise bad("region cut", meta.get("cut"), float(cut))
        models: dict[str, Any] = {}
        for stage, fname in _MODEL_FILES.items():
            f = path / fname
            if not f.exists():
                raise FileNotFoundError(f"saved surrogate at {path} lacks {fname}")
            if _file_sha256(f) != meta.get("model_sha256", {}).get(stage):
                raise bad(f"{fname} checksum", _file_sha256(f),
                          meta.get("model_sha256", {}).get(stage))
            model = xgb.XGBClassifier() if stage == "gate" else xgb.XGBRegressor()
            model.load_model(str(f))
            n_feat = model.get_booster().num_features()
            if n_feat != len(meta["feature_names"]):
                raise bad(f"{fname} number of features", n_feat, len(meta["feature_names"]))
            models[stage] = model
        saved_xgb = meta.get("versions", {}).get("xgboost")
        if saved_xgb != xgb.__version__:
            warnings.warn(f"surrogate at {path} was saved with xgboost {saved_xgb}, loaded with "
                          f"{xgb.__version__}", UserWarning, stacklevel=2)
        return cls(models["gate"], models["regressor"], meta).set_n_jobs(1)


# --------------------------------------------------------------------------------------------
# the course's surrogate
# --------------------------------------------------------------------------------------------
def load_hyperparameters(path: str | Path = HYPERPARAMETERS_PATH) -> dict[str, Any]:
    """The shipped hyperparameters: ``{"gate": {...}, "regressor": {...}, "settings": {...}, …}``.

    ``settings`` holds the non-tree choices (transform, regressor margin, seed, …) used by
    :func:`default_surrogate`. Missing file → the untuned :data:`DEFAULT_HYPERPARAMETERS`.
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


_FIT_SETTINGS = ("transform", "regressor_margin", "seed", "validation_fraction", "refit",
                 "max_estimators", "early_stopping_rounds")


def fit_settings(hyperparameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of :meth:`TwoStageSurrogate.fit` besides the stage hyperparameters
    that a hyperparameter record fixes (``transform``, ``regressor_margin``, ``seed``,
    ``validation_fraction``, ``refit``, ``max_estimators``, ``early_stopping_rounds``), from
    ``hyperparameters`` (a record of :func:`load_hyperparameters`; default: the shipped one)."""
    hp = load_hyperparameters() if hyperparameters is None else hyperparameters
    return {k: hp["settings"][k] for k in _FIT_SETTINGS}


TRAINING_SETS: tuple[str, ...] = ("train", "dense")
"""The shipped data sets the course's surrogate learns from (:func:`default_surrogate`): the
directly computed exact ``"train"`` set and the ``"dense"`` set, whose χ² comes from the exact
running tabulated in f_a (integrator ``"tabulated"``: the exact χ² within ALPaca's own ODE
tolerance, 0.005 on average in the region, and ~10× cheaper, so the region could be sampled
several times more densely). The ``"holdout"`` set — exact, never trained on — judges every
model."""


def training_arrays(name: str | Sequence[str] = TRAINING_SETS) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 6) and exact χ² (n,) of one shipped data set, or of several concatenated in
    the given order; clear error if one is missing."""
    from . import data

    names = [name] if isinstance(name, str) else list(name)
    if not names:
        raise ValueError("training_arrays needs at least one data set name")
    frames = []
    for n in names:
        if n not in data.available():
            raise FileNotFoundError(
                f"the shipped data set {n!r} is missing (expected "
                f"{data.SHIPPED_DIR / (n + '.csv.gz')}); build it with "
                f"`python -m lecture_utils dataset {n}` (resumable; see DESIGN §4 for the cost)")
        frames.append(data.load(n))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df[list(alps.PARAMETERS)].to_numpy(dtype=float), df["chi2"].to_numpy(dtype=float)


_MEMO: dict[str, TwoStageSurrogate] = {}


def default_surrogate(*, rebuild: bool = False, use_cache: bool = True,
                      hyperparameters: str | Path = HYPERPARAMETERS_PATH,
                      transform: Transform | None = None) -> TwoStageSurrogate:
    """The course's surrogate: trained on the shipped :data:`TRAINING_SETS` with the shipped
    tuned hyperparameters, the region cut :data:`~lecture_utils.stats.REGION_DELTA_CHI2`.

    Deterministic: the same data, hyperparameters, code and xgboost version give bit-identical
    models in any process. The model is cached under ``cache_dir("surrogate", <content hash>)``
    (hash of the data, hyperparameters, this module's source and the xgboost version) and reused;
    ``rebuild=True`` retrains and overwrites, ``use_cache=False`` trains without touching the cache.
    ``transform`` replaces the shipped feature transform (same data, hyperparameters and seed) —
    e.g. ``"ratio"``, one feature per parameter, for per-parameter SHAP values (chapter 6).
    Raises :class:`FileNotFoundError` naming the command to run if the shipped data are missing.
    """
    import xgboost as xgb

    pts, chi2 = training_arrays(TRAINING_SETS)
    dhash = training_data_hash(pts, chi2)
    hp = load_hyperparameters(hyperparameters)
    settings = fit_settings(hp)
    if transform is not None:
        settings["transform"] = check_transform(transform)
    key = content_hash("default_surrogate", FORMAT_VERSION, dhash, hp["gate"], hp["regressor"],
                       settings, _feature_table_key(settings["transform"]), REGION_DELTA_CHI2,
                       xgb.__version__, code_fingerprint(__name__))[:24]

    def train() -> TwoStageSurrogate:
        return TwoStageSurrogate.fit(pts, chi2, gate_params=hp["gate"],
                                     regressor_params=hp["regressor"], cut=REGION_DELTA_CHI2,
                                     **settings)

    if not use_cache:
        return train()
    if key in _MEMO and not rebuild:
        return _MEMO[key]
    folder = cache_dir("surrogate") / key
    stale = rebuild
    if folder.exists() and not rebuild:
        try:
            model = TwoStageSurrogate.load(folder, data_hash=dhash, cut=REGION_DELTA_CHI2)
            _MEMO[key] = model
            return model
        except (SurrogateMetadataError, FileNotFoundError, ValueError) as exc:
            warnings.warn(f"cached surrogate at {folder} unusable ({exc}); retraining",
                          UserWarning, stacklevel=2)
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
    model = TwoStageSurrogate.load(folder, data_hash=dhash, cut=REGION_DELTA_CHI2)
    _MEMO[key] = model
    return model


# --------------------------------------------------------------------------------------------
# validation metrics
# --------------------------------------------------------------------------------------------
def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE, RMSE, mean bias (pred − true), largest |error| and count of two (n,) arrays."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D arrays of equal length")
    if len(t) == 0:
        return {"n": 0, "mae": float("nan"), "rmse": float("nan"), "bias": float("nan"),
                "max_abs": float("nan")}
    r = p - t
    return {"n": int(len(t)), "mae": float(np.mean(np.abs(r))),
            "rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)),
            "max_abs": float(np.max(np.abs(r)))}


def iou(a: Any, b: Any) -> float:
    """Intersection over union |a ∧ b| / |a ∨ b| of two boolean masks (1.0 if both empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("masks must have the same shape")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def confusion_counts(truth: Any, predicted: Any) -> dict[str, int]:
    """Counts tp, fp, tn, fn of two boolean arrays (positive = in the region)."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if t.shape != p.shape:
        raise ValueError("arrays must have the same shape")
    return {"tp": int((t & p).sum()), "fp": int((~t & p).sum()),
            "tn": int((~t & ~p).sum()), "fn": int((t & ~p).sum())}


def gate_metrics(labels: Any, probability: Any, threshold: float = DEFAULT_THRESHOLD
                 ) -> dict[str, float]:
    """ROC AUC, Brier score, log-loss, accuracy and confusion counts of a probabilistic gate.

    ``labels`` boolean (n,), ``probability`` in [0, 1] (n,); the confusion is taken at
    ``p ≥ threshold``. AUC is NaN if only one class is present.
    """
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probability, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("labels and probability must be 1-D arrays of equal length")
    if ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    both = 0 < y.sum() < len(y)
    out: dict[str, float] = {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[False, True])),
        "accuracy": float(np.mean(y == (p >= threshold))),
        "threshold": float(threshold),
    }
    return out | confusion_counts(y, p >= threshold)


def reliability_curve(labels: Any, probability: Any, n_bins: int = 10) -> pd.DataFrame:
    """Calibration table: per probability bin the mean predicted probability, the observed
    fraction of positives and the count (empty bins dropped). Equal-width bins on [0, 1]."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    b = np.clip(np.digitize(p, edges[1:-1]), 0, int(n_bins) - 1)
    rows = []
    for k in range(int(n_bins)):
        m = b == k
        if m.any():
            rows.append({"bin_low": edges[k], "bin_high": edges[k + 1],
                         "mean_predicted": float(p[m].mean()),
                         "fraction_positive": float(y[m].mean()), "count": int(m.sum())})
    return pd.DataFrame(rows)


def region_iou(chi2_true: Any, chi2_pred: Any, chi2_min: float, cl: float, dof: int
               ) -> dict[str, float]:
    """Agreement of the confidence regions ``χ² − chi2_min < stats.delta_chi2(cl, dof)``.

    Both masks use the same reference ``chi2_min``, so the comparison isolates the surrogate's
    error from the estimate of the minimum. Returns the threshold, IoU and the two region sizes.
    ``chi2_pred`` may be ``+inf`` (outside the gate).
    """
    thr = float(delta_chi2(cl, dof=dof))
    t = np.asarray(chi2_true, dtype=float) - chi2_min < thr
    p = np.asarray(chi2_pred, dtype=float) - chi2_min < thr
    return {"cl": float(cl), "dof": int(dof), "delta_chi2": thr, "iou": iou(t, p),
            "n_true": int(t.sum()), "n_pred": int(p.sum()), "n_both": int((t & p).sum())}


@dataclass
class ValidationReport:
    """Hold-out validation of a surrogate (see :func:`validate`). All χ² dimensionless."""

    chi2_min: float
    cut: float
    regression: dict[str, float]
    regression_gated: dict[str, float]
    gate: dict[str, float]
    regions: pd.DataFrame
    reliability: pd.DataFrame
    residuals: pd.DataFrame

    def summary(self) -> dict[str, float]:
        """The headline numbers: region MAE/RMSE, gate AUC/Brier, IoU of each region."""
        out = {"n_region": self.regression["n"], "mae": self.regression["mae"],
               "rmse": self.regression["rmse"], "bias": self.regression["bias"],
               "auc": self.gate["auc"], "brier": self.gate["brier"],
               "accuracy": self.gate["accuracy"], "fn": self.gate["fn"], "fp": self.gate["fp"]}
        for _, r in self.regions.iterrows():
            out[f"iou_{round(100 * r['cl'])}_dof{int(r['dof'])}"] = float(r["iou"])
        return out


def validate(surrogate: TwoStageSurrogate, points: Any, chi2: Any, *,
             chi2_min: float | None = None, cls: Sequence[float] = (0.68, 0.95),
             dofs: Sequence[int] = (2,), n_bins: int = 10) -> ValidationReport:
    """Compare a surrogate with exact χ² at points it never saw (e.g. the ``"holdout"`` set).

    * the truth region is ``χ² − chi2_min < surrogate.cut``, with ``chi2_min`` defaulting to the
      surrogate's training minimum (the convention the gate was trained with);
    * regressor MAE/RMSE on the true-region points (``regression``), and the same restricted to the
      region points the gate also accepts (``regression_gated``);
    * gate AUC, Brier score, log-loss, confusion at the working threshold, reliability table;
    * IoU of the regions ``Δχ² < stats.delta_chi2(cl, dof)`` for each ``cl`` in ``cls`` and ``dof``
      in ``dofs`` (default dof = 2: the 6-D sets whose projections are the 2-D profile-likelihood
      regions of the corner plots), truth vs the hard combination, same ``chi2_min``;
    * ``residuals``: a table (true χ², regressor χ², gate probability, in-region flag).
    """
    pts = as_points(points)
    c = _check_chi2(chi2, len(pts))
    ref = surrogate.chi2_min if chi2_min is None else float(chi2_min)
    logit, reg = surrogate._both(pts)
    prob = 1.0 / (1.0 + np.exp(-logit))
    hard = np.where(logit >= surrogate.logit_threshold(), reg, np.inf)
    inside = c - ref < surrogate.cut
    accepted = logit >= surrogate.logit_threshold()
    regions = pd.DataFrame([region_iou(c, hard, ref, cl, d) for d in dofs for cl in cls])
    residuals = pd.DataFrame({"chi2": c, "chi2_regressor": reg, "gate_probability": prob,
                              "in_region": inside, "accepted": accepted})
    return ValidationReport(
        chi2_min=ref, cut=surrogate.cut,
        regression=regression_metrics(c[inside], reg[inside]),
        regression_gated=regression_metrics(c[inside & accepted], reg[inside & accepted]),
        gate=gate_metrics(inside, prob, surrogate.threshold),
        regions=regions, reliability=reliability_curve(inside, prob, n_bins),
        residuals=residuals)


def learning_curve(points: Any, chi2: Any, test_points: Any, test_chi2: Any,
                   sizes: Sequence[int], *, seed: int = 0, chi2_min: float | None = None,
                   **fit_kwargs: Any) -> pd.DataFrame:
    """Hold-out error versus number of training points.

    For each ``n`` in ``sizes`` a surrogate is fit on the first ``n`` points of one seeded
    permutation of the training set (nested subsets) and validated on the test set against one
    common reference ``chi2_min`` (default: the minimum of the full training set). Returns one row
    per size: n_train, mae, rmse, auc, brier and the IoU columns of
    :meth:`ValidationReport.summary`.
    """
    pts = as_points(points)
    c = _check_chi2(chi2, len(pts))
    ref = float(c.min()) if chi2_min is None else float(chi2_min)
    order = np.random.default_rng(seed).permutation(len(pts))
    rows = []
    for n in sizes:
        if not 0 < int(n) <= len(pts):
            raise ValueError(f"size {n} outside 1..{len(pts)}")
        idx = order[: int(n)]
        model = TwoStageSurrogate.fit(pts[idx], c[idx], seed=seed, **fit_kwargs)
        rep = validate(model, test_points, test_chi2, chi2_min=ref)
        rows.append({"n_train": int(n)} | rep.summary())
    return pd.DataFrame(rows)


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
    hyperparameters, this module's source and the xgboost version); ``rebuild=True`` recomputes.
    """
    import xgboost as xgb

    pts, chi2 = training_arrays(TRAINING_SETS)
    hold_pts, hold_chi2 = training_arrays("holdout")
    hp = load_hyperparameters(hyperparameters)
    settings = {k: v for k, v in fit_settings(hp).items() if k != "seed"}
    full = [int(n) for n in sizes if 0 < int(n) < len(pts)] + [len(pts)]
    key = content_hash("course_learning_curve", FORMAT_VERSION, training_data_hash(pts, chi2),
                       training_data_hash(hold_pts, hold_chi2), hp["gate"], hp["regressor"],
                       settings, full, seed, _feature_table_key(settings["transform"]),
                       REGION_DELTA_CHI2, xgb.__version__, code_fingerprint(__name__))[:24]
    path = cache_dir("learning-curve") / f"{key}.csv"
    if path.exists() and not rebuild:
        return pd.read_csv(path)
    curve = learning_curve(pts, chi2, hold_pts, hold_chi2, full, seed=seed,
                           chi2_min=float(chi2.min()), gate_params=hp["gate"],
                           regressor_params=hp["regressor"], cut=REGION_DELTA_CHI2, **settings)
    tmp = path.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
    curve.to_csv(tmp, index=False, float_format="%.17g")
    os.replace(tmp, path)
    return pd.read_csv(path)


def learning_curve_fit(n: Any, error: Any, target: float) -> dict[str, float]:
    """Fit ``error = a · n^(−b)`` (least squares in log–log) and solve for ``error = target``.

    Returns ``a``, ``b`` and ``n_target`` (inf if the error does not decrease). Points with a
    non-positive or non-finite error are ignored; at least two are needed.
    """
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(error, dtype=float)
    ok = np.isfinite(e_arr) & (e_arr > 0) & (n_arr > 0)
    if ok.sum() < 2:
        raise ValueError("need at least two positive errors to fit a learning curve")
    slope, intercept = np.polyfit(np.log(n_arr[ok]), np.log(e_arr[ok]), 1)
    b = -float(slope)
    a = float(np.exp(intercept))
    n_target = float((a / target) ** (1.0 / b)) if b > 0 else float("inf")
    return {"a": a, "b": b, "n_target": n_target}


def resolve_surrogate(surrogate: Any) -> TwoStageSurrogate:
    """``surrogate`` checked to be a :class:`TwoStageSurrogate` (or subclass, e.g. a compiled one);
    ``None`` → :func:`default_surrogate`."""
    if surrogate is None:
        return default_surrogate()
    if not isinstance(surrogate, TwoStageSurrogate):
        raise ValueError("surrogate must be a TwoStageSurrogate (or CompiledSurrogate), got "
                         f"{type(surrogate).__name__}")
    return surrogate


