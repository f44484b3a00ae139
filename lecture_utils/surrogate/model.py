"""The two-stage gradient-boosted-tree surrogate of the ALP χ²: training, prediction, persistence.

The χ² spans some twenty orders of magnitude over the parameter box (the region of interest sits
at 13–23 while small f_a gives 10⁹–10²²), so one regressor on the raw values would spend its
capacity on numbers nobody needs. :class:`TwoStageSurrogate` therefore has **two stages**:

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
    log-odds (:func:`smooth_combination`). Finite everywhere, continuous and monotone in ``d``,
    equal to the hard combination inside the gate. Outside, the regressor (trained on region
    points only) extrapolates; what the gate does say there is "Δχ² ≥ cut", so within ``r`` units
    of log-odds the estimate rises to the region's edge (if it was below), and beyond it grows by
    ``s`` per unit: with ``s = 2`` the likelihood ``exp(−χ²/2)`` is multiplied by the gate's odds
    relative to the threshold odds — a probabilistic reading of the penalty. Without the floor,
    posterior draws leak into the large volume the gate rejects only narrowly (chapter 7).

Early stopping uses one seeded validation split
(:func:`~lecture_utils.surrogate.training_split`, stratified by region membership): the gate
stops on validation log-loss, the regressor on validation MAE inside the cut. The number of trees
found there is kept and, by default, both stages are refit on all training points with that many
trees.

A fitted surrogate saves to a folder: ``gate.ubj`` and ``regressor.ubj`` (XGBoost's UBJSON) and
``metadata.json`` (feature names, parameter order, domain, cut, χ²_min, hyperparameters, package
versions, training-data hash, SHA-256 of both model files, the running table's key for
``"running"`` features). :meth:`TwoStageSurrogate.load` checks it against the code (and,
optionally, against the data) and raises :class:`SurrogateMetadataError` on a mismatch.

Points outside the training box (:data:`lecture_utils.alps.DOMAIN`) are flagged by
:meth:`~TwoStageSurrogate.in_domain`; every prediction method emits one
:class:`OutOfDomainWarning` per surrogate when it meets such points (trees extrapolate as
constants — the numbers there mean nothing).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import alps
from ..stats import REGION_DELTA_CHI2
from .inputs import (
    FEATURE_TRANSFORMS,
    Transform,
    as_points,
    feature_names,
    feature_table_key,
    features,
    features_of,
)
from .training import (
    DEFAULT_HYPERPARAMETERS,
    EARLY_STOPPING_ROUNDS,
    MAX_ESTIMATORS,
    REGRESSOR_MARGIN,
    STAGE_METRIC,
    STAGE_OBJECTIVE,
    VALIDATION_FRACTION,
    stage_model,
    training_split,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "FORMAT_VERSION",
    "PENALTY_SCALE",
    "SMOOTH_RAMP",
    "OutOfDomainWarning",
    "SurrogateMetadataError",
    "TwoStageSurrogate",
    "smooth_combination",
]

FORMAT_VERSION: int = 1
"""Version of the saved-model layout and of the feature definitions; bumped on any change."""

PENALTY_SCALE: float = 2.0
"""χ² penalty per unit of gate log-odds below the threshold in
:meth:`TwoStageSurrogate.predict_smooth`."""

SMOOTH_RAMP: float = 0.5
"""Log-odds below the gate's threshold over which :meth:`TwoStageSurrogate.predict_smooth` rises
to the region's edge χ²_min + cut (0.5 log-odds: from p = 0.5 to p ≈ 0.38 at the default
threshold)."""


def smooth_combination(chi2_regressor: np.ndarray, logit: np.ndarray, *, logit_threshold: float,
                       chi2_edge: float, penalty_scale: float = PENALTY_SCALE,
                       ramp: float | None = None) -> np.ndarray:
    """The smooth combination of :meth:`TwoStageSurrogate.predict_smooth` from the regressor's χ²
    and the gate's log-odds: with ``d = max(0, logit_threshold − logit)``,
    ``χ²_reg + min(1, d / ramp) · max(0, chi2_edge − χ²_reg) + penalty_scale · d``.

    Parameters
    ----------
    chi2_regressor : numpy.ndarray
        The regressor's χ², any shape.
    logit : numpy.ndarray
        The gate's log-odds, same shape.
    logit_threshold : float
        The gate's threshold as log-odds (:meth:`TwoStageSurrogate.logit_threshold`).
    chi2_edge : float
        The region's edge χ²_min + cut.
    penalty_scale : float, optional
        χ² per unit of log-odds below the threshold (default :data:`PENALTY_SCALE`).
    ramp : float, optional
        Log-odds over which the estimate rises to ``chi2_edge`` (default :data:`SMOOTH_RAMP`).

    Returns
    -------
    numpy.ndarray
        float64, the shape of the inputs; dimensionless χ².
    """
    r = SMOOTH_RAMP if ramp is None else float(ramp)
    d = np.maximum(0.0, logit_threshold - np.asarray(logit, dtype=float))
    reg = np.asarray(chi2_regressor, dtype=float)
    return reg + np.minimum(1.0, d / r) * np.maximum(0.0, chi2_edge - reg) + penalty_scale * d


DEFAULT_THRESHOLD: float = 0.5
"""Working threshold of the gate probability."""

_MODEL_FILES = {"gate": "gate.ubj", "regressor": "regressor.ubj"}


class SurrogateMetadataError(ValueError):
    """A saved surrogate does not match the code, the data or its own model files."""


class OutOfDomainWarning(UserWarning):
    """Points outside the training domain were passed to a surrogate (emitted once per model)."""


def _versions() -> dict[str, str]:
    import sklearn
    import xgboost

    from .. import __version__

    # module versions, not distribution names (xgboost ships as "xgboost" or "xgboost-cpu")
    return {"python": ".".join(map(str, sys.version_info[:3])), "xgboost": xgboost.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "lecture_utils": __version__}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
    """Gate classifier + χ² regressor over the ALP parameters.

    The gate estimates the probability that a point lies in the region of interest
    Δχ² = χ² − χ²_min < ``cut``; the regressor predicts χ² inside it. :meth:`predict` combines
    them hard, :meth:`predict_smooth` smoothly (for samplers and optimisers); the module
    :mod:`lecture_utils.surrogate.model` explains both. Build one with :meth:`fit` (or
    :func:`lecture_utils.surrogate.default_surrogate`, or :meth:`load`) rather than calling the
    constructor.

    Parameters
    ----------
    gate : xgboost.XGBClassifier
        The fitted gate; takes :meth:`features` as input.
    regressor : xgboost.XGBRegressor
        The fitted χ² regressor; takes :meth:`features` as input.
    metadata : dict
        Feature transform and names, parameter order, domain, cut, χ²_min, threshold, penalty
        scale, hyperparameters, training record, training-data hash and package versions (as
        :meth:`fit` writes it); the read-only properties (:attr:`cut`, :attr:`chi2_min`,
        :attr:`threshold`, …) are views of it.

    Notes
    -----
    Internal structure (keep the signatures; other modules rely on them): every public
    prediction validates its points exactly once, in :meth:`checked_features` (validation, the
    once-per-model out-of-domain warning, float32 features), and evaluates the boosters only through
    ``_raw(stage, x, margin=…)`` — the one method a different backend overrides
    (:class:`lecture_utils.compiled.CompiledSurrogate`). :meth:`stage_outputs` returns (gate
    log-odds, regressor χ²) as float64; both combinations go through it.
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
        """Feature transform name (one of :data:`FEATURE_TRANSFORMS`)."""
        return self.metadata["transform"]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the model inputs (:func:`feature_names` of :attr:`transform`)."""
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
        """:func:`~lecture_utils.surrogate.training_data_hash` of the training set."""
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
        """Train both stages; deterministic, and independent of ``n_jobs``.

        χ²_min is the smallest training χ². The number of trees of each stage is chosen by early
        stopping on a seeded validation split
        (:func:`~lecture_utils.surrogate.training_split`), then both stages are refit on all
        points with that many trees unless ``refit=False``.

        Parameters
        ----------
        points : array_like or pandas.DataFrame
            Physical training points, shape (n, 6), inside :data:`lecture_utils.alps.DOMAIN`.
        chi2 : array_like
            Their exact χ², shape (n,); ``+inf`` allowed (outside the region), NaN not.
        gate_params, regressor_params : Mapping, optional
            XGBoost tree parameters of each stage (default
            :data:`~lecture_utils.surrogate.DEFAULT_HYPERPARAMETERS`).
        transform : {"ratio", "raw", "running"}, optional
            Feature transform (:func:`~lecture_utils.surrogate.features`).
        cut : float, optional
            Region cut Δχ² (default :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
        regressor_margin : float, optional
            The regressor trains on Δχ² < ``cut + regressor_margin``.
        threshold : float, optional
            Working threshold on the gate probability, in (0, 1).
        penalty_scale : float, optional
            χ² per unit of log-odds in :meth:`predict_smooth`, > 0.
        seed : int, optional
            Seed of the validation split and of XGBoost.
        validation_fraction : float, optional
            Fraction held out for early stopping.
        max_estimators : int, optional
            Upper bound on the trees per stage.
        early_stopping_rounds : int, optional
            Patience of early stopping, in boosting rounds.
        refit : bool, optional
            Refit both stages on all points with the early-stopped number of trees.
        n_jobs : int, optional
            XGBoost threads.
        regressor_objective : str, optional
            The regressor's XGBoost objective (default
            :data:`~lecture_utils.surrogate.STAGE_OBJECTIVE`).

        Returns
        -------
        TwoStageSurrogate

        Raises
        ------
        ValueError
            For invalid data or settings (see :func:`~lecture_utils.surrogate.training_split`),
            ``threshold`` outside (0, 1) or ``penalty_scale ≤ 0``.
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
        x, c, r_all = sp.x, sp.chi2, sp.regressor_all
        gate, gate_info = _fit_booster("gate", gp, *sp.stage_data("gate"), x_all=x,
                                       y_all=sp.inside.astype(np.int32), **common)
        regressor, reg_info = _fit_booster(
            "regressor", rp, *sp.stage_data("regressor"), x_all=x[r_all], y_all=c[r_all],
            objective=regressor_objective, **common)
        pts = sp.points
        chi2_min = sp.chi2_min
        inside = sp.inside
        metadata = {
            "format_version": FORMAT_VERSION,
            "parameters": list(alps.PARAMETERS),
            "units": dict(alps.UNITS),
            "transform": transform,
            "feature_names": list(feature_names(transform)),
            "feature_table": feature_table_key(transform),
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
        """Which points lie inside the training domain (edges included).

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray of bool, shape (n,)
            ``True`` for points inside :attr:`domain`.

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).
        """
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
        """Probability that each point lies in the region Δχ² < cut, according to the gate.

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray, shape (n,)
            float64 probabilities in [0, 1].

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).

        Warns
        -----
        OutOfDomainWarning
            Once per surrogate, for points outside the training domain (:meth:`in_domain`).
        """
        return self._raw("gate", self.checked_features(points), margin=False)

    def predict_regressor(self, points: Any) -> np.ndarray:
        """The regressor's χ² alone, without the gate.

        Meaningful inside the region only: the regressor is trained on region points.

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray, shape (n,)
            float64, dimensionless χ².

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).

        Warns
        -----
        OutOfDomainWarning
            Once per surrogate, for points outside the training domain (:meth:`in_domain`).
        """
        return self._raw("regressor", self.checked_features(points), margin=False)

    def stage_outputs(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        """Both stages at once: the gate's log-odds and the regressor's χ².

        Parameters
        ----------
        points : array_like, shape (n, 6) or (6,)
            Physical points (f_a in GeV, then the couplings).

        Returns
        -------
        logit, chi2_regressor : numpy.ndarray, shape (n,), float64
        """
        x = self.checked_features(points)
        return self._raw("gate", x, margin=True), self._raw("regressor", x, margin=False)

    def logit_threshold(self) -> float:
        """The gate's threshold as log-odds, ``log(t / (1 − t))``."""
        t = self.threshold
        return math.log(t) - math.log1p(-t)

    def predict(self, points: Any) -> np.ndarray:
        """Hard combination: regressor χ² where the gate probability ≥ threshold, else ``+inf``.

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray, shape (n,)
            float64, dimensionless χ²; ``+inf`` where the gate rejects a point.

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).

        Warns
        -----
        OutOfDomainWarning
            Once per surrogate, for points outside the training domain (:meth:`in_domain`).

        See Also
        --------
        predict_smooth : finite everywhere, for samplers and optimisers.
        """
        logit, reg = self.stage_outputs(points)
        return np.where(logit >= self.logit_threshold(), reg, np.inf)

    def predict_smooth(self, points: Any) -> np.ndarray:
        """Smooth combination of the two stages, for samplers and optimisers.

        With ``d = max(0, logit(threshold) − logit p)`` (how far the gate's log-odds lie below its
        threshold), ``χ²_reg + min(1, d / SMOOTH_RAMP) · max(0, χ²_min + cut − χ²_reg) + s · d``,
        ``s`` = :attr:`penalty_scale` (:func:`smooth_combination`). Finite everywhere; equals
        :meth:`predict` where the gate accepts a point; continuous and monotone in the gate's
        log-odds outside, at least the region's edge χ²_min + cut once ``d ≥ SMOOTH_RAMP`` (the
        module :mod:`lecture_utils.surrogate.model` explains why).

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray, shape (n,)
            float64, dimensionless χ², finite.

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).

        Warns
        -----
        OutOfDomainWarning
            Once per surrogate, for points outside the training domain (:meth:`in_domain`).
        """
        logit, reg = self.stage_outputs(points)
        return smooth_combination(reg, logit, logit_threshold=self.logit_threshold(),
                                  chi2_edge=self.chi2_min + self.cut,
                                  penalty_scale=self.penalty_scale)

    def delta_chi2(self, points: Any) -> np.ndarray:
        """Hard-combination Δχ² = :meth:`predict` − χ²_min, shape (n,)."""
        return self.predict(points) - self.chi2_min

    # ---- persistence
    def save(self, path: str | Path) -> Path:
        """Write the surrogate into a folder, for :meth:`load`.

        The folder receives ``gate.ubj`` and ``regressor.ubj`` (XGBoost's UBJSON) and
        ``metadata.json`` (the metadata plus the SHA-256 of both model files, which also
        replaces :attr:`metadata` on this object). Existing files are overwritten.

        Parameters
        ----------
        path : str or pathlib.Path
            The folder; created (with its parents) if it does not exist.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
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

        A different xgboost version only warns.

        Parameters
        ----------
        path : str or pathlib.Path
            The folder :meth:`save` wrote.
        data_hash : str, optional
            Expected :func:`~lecture_utils.surrogate.training_data_hash` of the training data.
        cut : float, optional
            Expected region cut.

        Returns
        -------
        TwoStageSurrogate
            Predicting with one thread (:meth:`set_n_jobs`).

        Raises
        ------
        SurrogateMetadataError
            If the format version, parameter order, feature names, running table, domain or
            model-file checksums disagree with this code, or if ``data_hash`` / ``cut`` are given
            and differ from the saved ones.
        FileNotFoundError
            If files are missing.
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
        if meta.get("feature_table") != feature_table_key(transform):
            raise bad("feature table (alps.running_table)", meta.get("feature_table"),
                      feature_table_key(transform))
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


