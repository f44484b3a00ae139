"""Training data for the two stages: validated χ², seeded splits, the XGBoost stage estimators.

:func:`training_split` validates a training set and builds the :class:`TrainingSplit` that both
:meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit` and :mod:`lecture_utils.tuning` train and
early-stop on: one seeded validation split, stratified by region membership; the gate stops on
validation log-loss, the regressor on validation MAE inside the cut (:data:`STAGE_METRIC`).
:func:`stage_model` builds the unfitted XGBoost estimator of a stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import alps
from .._cache import content_hash
from ..stats import REGION_DELTA_CHI2
from .inputs import Transform, as_points, check_transform, features

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "EARLY_STOPPING_ROUNDS",
    "EarlyStoppingCurve",
    "MAX_ESTIMATORS",
    "REGRESSOR_MARGIN",
    "STAGE_METRIC",
    "STAGE_OBJECTIVE",
    "VALIDATION_FRACTION",
    "TrainingSplit",
    "check_chi2",
    "early_stopping_curve",
    "split_indices",
    "stage_model",
    "training_data_hash",
    "training_split",
]

REGRESSOR_MARGIN: float = 2.0
"""Default extra Δχ² beyond the cut on which the regressor trains."""

DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "gate": {"max_depth": 6, "learning_rate": 0.05, "gamma": 0.0, "min_child_weight": 1.0,
             "subsample": 0.8, "colsample_bytree": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0},
    "regressor": {"max_depth": 6, "learning_rate": 0.05, "gamma": 0.0, "min_child_weight": 1.0,
                  "subsample": 0.8, "colsample_bytree": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0},
}
"""Untuned starting values (the shipped, tuned ones are in
:data:`lecture_utils.surrogate.HYPERPARAMETERS_PATH`)."""

MAX_ESTIMATORS: int = 3000
"""Upper bound on the number of trees; early stopping picks the actual number."""

EARLY_STOPPING_ROUNDS: int = 50
"""Stop when the validation metric has not improved for this many rounds."""

VALIDATION_FRACTION: float = 0.2
"""Fraction of the training points held out (seeded, stratified) for early stopping."""

_SALT_SPLIT = 0x5EED_5B17


def training_data_hash(points: np.ndarray, chi2: np.ndarray) -> str:
    """SHA-256 identifying a training set: the float64 bytes of points (n, 6) and χ² (n,)."""
    p = np.ascontiguousarray(np.asarray(points, dtype=np.float64))
    c = np.ascontiguousarray(np.asarray(chi2, dtype=np.float64))
    return content_hash("training-data", list(p.shape), p.tobytes(), c.tobytes())


def split_indices(n: int, seed: int, fraction: float = VALIDATION_FRACTION,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of ``n`` items.

    The same ``seed`` always gives the same split, so tuning and training see the identical
    validation set.

    Parameters
    ----------
    n : int
        Number of items.
    seed : int
        Seed of the split.
    fraction : float, optional
        Fraction held out for validation, in (0, 1).
    stratify : numpy.ndarray, optional
        Labels, shape (n,): every class contributes ``round(fraction · n_class)`` items to the
        validation part.

    Returns
    -------
    train, validation : numpy.ndarray
        Sorted index arrays.

    Raises
    ------
    ValueError
        For ``fraction`` outside (0, 1) or ``stratify`` of the wrong shape.
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


def check_chi2(chi2: Any, n: int) -> np.ndarray:
    """Validate exact χ² values of ``n`` points for training or validation.

    Parameters
    ----------
    chi2 : array_like
        Shape (n,); ``+inf`` is allowed (a point far outside the region).
    n : int
        The number of points the values belong to.

    Returns
    -------
    numpy.ndarray
        float64, shape (n,).

    Raises
    ------
    ValueError
        For a wrong shape, NaN values (failed evaluations) or ``-inf``.
    """
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

    Attributes
    ----------
    points : numpy.ndarray
        The validated points, float64, shape (n, 6).
    x : numpy.ndarray
        Their features, float32, shape (n, n_features).
    chi2 : numpy.ndarray
        Exact χ², shape (n,).
    chi2_min, cut, regressor_margin : float
        Smallest χ², region cut and regressor margin (Δχ²).
    inside : numpy.ndarray
        Δχ² < cut, bool, shape (n,).
    train, validation : numpy.ndarray
        Index arrays of the seeded split, stratified by ``inside``.
    regressor_train : numpy.ndarray
        Training indices with Δχ² < cut + margin.
    regressor_validation : numpy.ndarray
        Validation indices inside the cut.
    regressor_all : numpy.ndarray
        All indices with Δχ² < cut + margin.
    data_hash : str
        :func:`training_data_hash` of the points and χ².
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

    def stage_data(self, stage: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Training and validation data of one stage.

        Parameters
        ----------
        stage : {"gate", "regressor"}
            The gate trains on every point with the label ``inside`` (int32); the regressor on
            :attr:`regressor_train` with the χ² as target, validated inside the cut.

        Returns
        -------
        x_train, y_train, x_val, y_val : numpy.ndarray
            Features (m, n_features) and targets (m,) of the training and validation parts.

        Raises
        ------
        ValueError
            For an unknown stage.
        """
        if stage == "gate":
            y = self.inside.astype(np.int32)
            tr, val = self.train, self.validation
        elif stage == "regressor":
            y, tr, val = self.chi2, self.regressor_train, self.regressor_validation
        else:
            raise ValueError(f"unknown stage {stage!r}; choose 'gate' or 'regressor'")
        return self.x[tr], y[tr], self.x[val], y[val]


def training_split(points: Any, chi2: Any, *, transform: Transform = "ratio",
                   cut: float = REGION_DELTA_CHI2, regressor_margin: float = REGRESSOR_MARGIN,
                   seed: int = 0, validation_fraction: float = VALIDATION_FRACTION
                   ) -> TrainingSplit:
    """Validate training data and build the :class:`TrainingSplit` (see there).

    Parameters
    ----------
    points : array_like or pandas.DataFrame
        Physical points, shape (n, 6) (see :func:`~lecture_utils.surrogate.as_points`).
    chi2 : array_like
        Their exact χ², shape (n,); ``+inf`` allowed.
    transform : {"ratio", "raw", "running"}, optional
        Feature transform.
    cut : float, optional
        Region cut Δχ² (default :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
    regressor_margin : float, optional
        The regressor's points have Δχ² < ``cut + regressor_margin``.
    seed : int, optional
        Seed of the validation split (:func:`split_indices`).
    validation_fraction : float, optional
        Fraction held out, per side of the cut.

    Returns
    -------
    TrainingSplit

    Raises
    ------
    ValueError
        For points outside :data:`lecture_utils.alps.DOMAIN`, NaN χ², ``cut ≤ 0``,
        ``regressor_margin < 0`` or fewer than 10 points on either side of the cut.
    """
    check_transform(transform)
    pts = as_points(points)
    outside = ~alps.DOMAIN.contains(pts)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} training point(s) lie outside alps.DOMAIN")
    c = check_chi2(chi2, len(pts))
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


STAGE_METRIC: dict[str, str] = {"gate": "logloss", "regressor": "mae"}
"""Validation metric of each stage (early stopping and tuning): gate log-loss (a proper scoring
rule, so it rewards calibration), regressor mean absolute error inside the cut."""


STAGE_OBJECTIVE: dict[str, str] = {"gate": "binary:logistic", "regressor": "reg:absoluteerror"}
"""XGBoost objective of each stage. The regressor minimises the *absolute* error: the metric it is
judged by (the region MAE), and robust to the few cliffs of the χ² (displaced-vertex searches
switching on with the ALP's lifetime) that a squared error chases at the expense of every other
point. Absolute-error trees need more rounds at the same learning rate."""


def stage_model(stage: str, params: Mapping[str, Any], *, n_estimators: int, seed: int,
                n_jobs: int = 1, early_stopping_rounds: int | None = None,
                callbacks: Sequence[Any] | None = None, objective: str | None = None) -> Any:
    """An unfitted XGBoost estimator for one stage.

    Tree method ``hist`` (deterministic for a fixed seed, independent of ``n_jobs``), eval metric
    :data:`STAGE_METRIC`.

    Parameters
    ----------
    stage : {"gate", "regressor"}
        :class:`xgboost.XGBClassifier` for the gate, :class:`xgboost.XGBRegressor` for the
        regressor.
    params : Mapping
        XGBoost tree parameters (as in :data:`DEFAULT_HYPERPARAMETERS`).
    n_estimators : int
        Number of boosting rounds (the maximum, with early stopping).
    seed : int
        XGBoost's ``random_state``.
    n_jobs : int, optional
        Threads.
    early_stopping_rounds : int, optional
        Passed to XGBoost; ``None`` disables early stopping.
    callbacks : sequence, optional
        XGBoost training callbacks.
    objective : str, optional
        XGBoost objective; default :data:`STAGE_OBJECTIVE` of ``stage``.

    Returns
    -------
    xgboost.XGBClassifier or xgboost.XGBRegressor
        The unfitted estimator.

    Raises
    ------
    ValueError
        For an unknown ``stage``.
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


@dataclass(frozen=True)
class EarlyStoppingCurve:
    """The validation metric of one stage after every boosting round (see
    :func:`early_stopping_curve`).

    Attributes
    ----------
    stage : str
        ``"gate"`` or ``"regressor"``.
    metric : str
        The validation metric (:data:`STAGE_METRIC`).
    scores : numpy.ndarray
        Validation metric after 1, 2, … trees, shape (n_rounds,).
    best_n_estimators : int
        Number of trees with the smallest validation metric.
    max_estimators : int
        The cap on the number of trees.
    """

    stage: str
    metric: str
    scores: np.ndarray
    best_n_estimators: int
    max_estimators: int

    @property
    def best_score(self) -> float:
        """Validation metric at :attr:`best_n_estimators`."""
        return float(self.scores[self.best_n_estimators - 1])

    @property
    def capped(self) -> bool:
        """True when the best number of trees is the cap: early stopping did not stop."""
        return self.best_n_estimators >= self.max_estimators

    def score_at(self, n_estimators: int) -> float:
        """Validation metric after ``n_estimators`` trees (1 ≤ n ≤ len(scores))."""
        if not 1 <= n_estimators <= len(self.scores):
            raise ValueError(f"n_estimators must lie in [1, {len(self.scores)}], "
                             f"got {n_estimators}")
        return float(self.scores[n_estimators - 1])


def early_stopping_curve(points: Any, chi2: Any, stage: str,
                         params: Mapping[str, Any] | None = None, *,
                         max_estimators: int = MAX_ESTIMATORS,
                         early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
                         transform: Transform = "ratio", cut: float = REGION_DELTA_CHI2,
                         regressor_margin: float = REGRESSOR_MARGIN, seed: int = 0,
                         validation_fraction: float = VALIDATION_FRACTION,
                         n_jobs: int = 1) -> EarlyStoppingCurve:
    """Train one stage with early stopping on the seeded validation split of
    :func:`training_split` (exactly as :meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit`
    does) and return its validation curve.

    Parameters
    ----------
    points : array_like or pandas.DataFrame
        Physical points, shape (n, 6).
    chi2 : array_like
        Their exact χ², shape (n,).
    stage : {"gate", "regressor"}
        The stage to train.
    params : Mapping, optional
        XGBoost tree parameters; default :data:`DEFAULT_HYPERPARAMETERS` of ``stage``.
    max_estimators : int, optional
        Cap on the number of trees.
    early_stopping_rounds : int, optional
        Stop after this many rounds without improvement.
    transform, cut, regressor_margin, seed, validation_fraction
        As in :func:`training_split`.
    n_jobs : int, optional
        XGBoost threads (the result does not depend on it).

    Returns
    -------
    EarlyStoppingCurve

    Raises
    ------
    ValueError
        For an unknown stage, ``max_estimators < 1`` or ``early_stopping_rounds < 1``, or
        invalid data (:func:`training_split`).
    """
    if stage not in STAGE_METRIC:
        raise ValueError(f"unknown stage {stage!r}; choose 'gate' or 'regressor'")
    if int(max_estimators) < 1 or int(early_stopping_rounds) < 1:
        raise ValueError("max_estimators and early_stopping_rounds must be ≥ 1, got "
                         f"{max_estimators} and {early_stopping_rounds}")
    sp = training_split(points, chi2, transform=transform, cut=cut,
                        regressor_margin=regressor_margin, seed=seed,
                        validation_fraction=validation_fraction)
    x_tr, y_tr, x_val, y_val = sp.stage_data(stage)
    hp = DEFAULT_HYPERPARAMETERS[stage] if params is None else params
    model = stage_model(stage, hp, n_estimators=int(max_estimators), seed=seed, n_jobs=n_jobs,
                        early_stopping_rounds=int(early_stopping_rounds))
    model.fit(x_tr, y_tr, eval_set=[(x_val, y_val)], verbose=False)
    scores = np.asarray(model.evals_result()["validation_0"][STAGE_METRIC[stage]], dtype=float)
    return EarlyStoppingCurve(stage=stage, metric=STAGE_METRIC[stage], scores=scores,
                              best_n_estimators=int(model.best_iteration) + 1,
                              max_estimators=int(max_estimators))
