"""Active learning of the region Δχ² < δ: a Gaussian-process learner with an ask/tell interface.

A χ² evaluation costs seconds; a space-filling design (Latin hypercube) spends most of them where
the χ² is astronomically large. An *active learner* fits a cheap statistical model — a Gaussian
process (GP) — to the points evaluated so far and asks for the next points where they help most.
Here "help" means: locate the **region** ``{x : f(x) < min f + delta}`` (for a χ², the Δχ² region
of :data:`lecture_utils.stats.REGION_DELTA_CHI2`), not only the minimum.

The learner (:class:`Learner`)
    ``tell(points, values)`` adds evaluated points (any points: an initial design, a data set, the
    learner's own proposals); ``ask(n)`` proposes ``n`` distinct new points (a batch, to be
    evaluated in parallel); ``region_estimate(points)`` says which points the learner currently
    believes inside the region; :meth:`Learner.stop_reason` implements the stopping rule.

Coordinates
    Inputs are mapped to the unit cube (``log_scale`` dimensions logarithmically — f_a is sampled
    log-uniformly in this course), so every length scale of the GP is in units of the box width.

Output transform (``transform``)
    χ² values span 10¹–10²² over the ALP box. A GP on raw values would model the wall at small f_a
    and be useless in the region. The GP is therefore fitted to a monotone transform of
    ``Δ = f − min f`` (the minimum over the evaluated points): ``"log1p"`` (default)
    ``y = log(1 + Δ / s)``, ``"cap"`` ``y = min(Δ, cap)``, or ``"none"`` ``y = Δ``. The region is
    ``y < T(delta)`` in every case. The scale s is ``delta`` by default (best on the toy problems)
    and :data:`ALP_TRANSFORM_SCALE` = 1 in :func:`alp_learner` (best on the leading-log ALP χ²;
    both measured with ``benchmarks/active_learning.py``).

Batches
    Each batch mixes acquisitions: with a region acquisition every fourth pick (``ei_fraction``)
    uses expected improvement, since the region is defined relative to the minimum; a region pick
    with no informative candidate left falls back to EI as well.

Model and acquisitions
    see :mod:`lecture_utils._active_gp` (re-exported here): Matérn-5/2 kernel with ARD length
    scales and white noise; expected improvement (with the standard deviation), lower confidence
    bound, the *straddle* score of Bryan et al. (2005) for the region's boundary (default), and
    the misclassification probability; batches by the kriging believer. Hyperparameters are
    re-optimised (warm-started from the previous ones) only when the training set has grown by the
    factor ``refit_growth``; in between only the posterior is recomputed, so a step costs one
    Cholesky factorisation.

Region model (``region_model``)
    ``"gp"`` (default): the region estimate is the GP's posterior mean below the threshold, and
    the region picks maximise the region acquisition. ``"committee"``: a committee of boosted-tree
    classifiers of region membership on ``region_features`` (:mod:`lecture_utils._active_trees`,
    :class:`ClassifierCommittee`) gives the region estimate (mean probability > 1/2), the region
    probability and the region picks (uncertainty sampling with damped disagreement); the GP still
    models the values (:meth:`Learner.predict`, :meth:`Learner.posterior`) and makes the EI picks.
    The ALP χ² has cliffs that a GP smooths away: :func:`alp_learner` uses the committee on the
    surrogate's physics features over all six parameters (:data:`ALP_REGION_MODEL`).

Candidates
    ``ask`` maximises the acquisition over a seeded candidate set — half uniform in the box, half
    Gaussian perturbations (three scales) of the evaluated points that lie in or near the region —
    so it scales to 6-D without a global optimiser; or over a given finite pool (``candidates=``).

Real runs (:func:`run_active`) evaluate each batch with the engine into a resumable store per
batch; the provenance records which design proposed each point (``origin`` ``"lhs"`` or
``"active"``). :func:`extend_train` uses that to extend the shipped exact training set.

Stopping rule
    ``"budget"`` (number of evaluated points reaches ``budget``), ``"stable"`` (the region estimate
    on a fixed seeded monitor sample changed by less than ``stable_tol`` — as a fraction of the
    union of the old and new estimates — for ``patience`` consecutive tells) or ``"uncertainty"``
    (the expected fraction of misclassified monitor points, relative to the estimated region size,
    fell below ``uncertainty_tol``).

Toy functions (:data:`TOY_PROBLEMS`) — Forrester (1-D), Himmelblau and Branin (2-D), Hartmann (6-D)
— are **teaching and testing aids** with known regions; the physics is only ever the ALPaca χ².
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import qmc

from . import alps, data
from ._active_gp import (
    ACQUISITIONS,
    REGION_ACQUISITIONS,
    GaussianProcess,
    acquisition_score,
    expected_improvement,
    lower_confidence_bound,
    make_kernel,
    misclassification_probability,
    straddle,
)
from ._active_trees import COMMITTEE_DEFAULTS, ClassifierCommittee
from ._cache import cache_dir, code_fingerprint, content_hash
from .stats import REGION_DELTA_CHI2
from .surrogate import learning_curve_fit

__all__ = [
    "ACQUISITIONS",
    "ALP_REGION_MODEL",
    "ALP_TRANSFORM_SCALE",
    "COMMITTEE_DEFAULTS",
    "REGION_MODELS",
    "REGION_ACQUISITIONS",
    "TOY_PROBLEMS",
    "TRANSFORMS",
    "ActiveRun",
    "ClassifierCommittee",
    "GaussianProcess",
    "Learner",
    "PoolComparison",
    "ToyProblem",
    "acquisition_score",
    "alp_input_map",
    "alp_learner",
    "alp_parameter_bounds",
    "alp_region_features",
    "compare_on_function",
    "compare_on_pool",
    "expected_improvement",
    "extend_train",
    "holdout_gain",
    "leadinglog_pool",
    "learning_curve_fit",
    "load_run",
    "lower_confidence_bound",
    "make_kernel",
    "misclassification_probability",
    "region_metrics",
    "run_active",
    "straddle",
    "surrogate_scores",
]

REGION_MODELS: tuple[str, ...] = ("gp", "committee")
"""Models of the region a :class:`Learner` can use (see module doc)."""

TRANSFORMS: tuple[str, ...] = ("log1p", "cap", "none")
"""Output transforms of :class:`Learner` (see module doc)."""

_STOP_REASONS = ("budget", "stable", "uncertainty")


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _check_bounds(bounds: Any) -> np.ndarray:
    try:
        b = np.array(bounds, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bounds must be a numeric (d, 2) array: {exc}") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise ValueError(f"bounds must have shape (d, 2) with d >= 1, got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bounds must be finite")
    bad = np.flatnonzero(b[:, 0] >= b[:, 1])
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"bounds of dimension {i}: lower {b[i, 0]:g} must be < upper "
                         f"{b[i, 1]:g}")
    return b


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# the learner
# --------------------------------------------------------------------------------------------
class Learner:
    """Ask/tell active learner of the region ``{x : f(x) < min f + delta}`` (see module doc).

    Parameters
    ----------
    bounds : array, shape (d, 2)
        Lower and upper bound of every input, in physical units (lower < upper).
    delta : float
        Width of the region above the minimum (for a χ²: Δχ², default
        :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
    seed : int
        Seeds every random choice (candidates, monitor sample, optimiser restarts): the same
        ``tell`` sequence gives the same ``ask`` answers.
    log_scale : sequence of bool, optional
        Dimensions mapped logarithmically to the unit cube (bounds must then be > 0).
    acquisition : ``"straddle"`` (default), ``"misclassification"``, ``"ei"`` or ``"lcb"``
    transform : ``"log1p"`` (default), ``"cap"`` or ``"none"``; ``transform_scale`` s of
        ``log1p`` (default ``delta``: ``y = log(1 + Δ/delta)``, nearly linear inside the region,
        logarithmic on the wall); ``cap`` of ``"cap"`` (default 3·delta).
    kappa, beta, xi : acquisition parameters (LCB ``κ``, straddle ``β``, EI margin ``ξ``).
    ei_fraction : float
        Share of each batch chosen by expected improvement when the acquisition is a region one
        (see :meth:`schedule`); the region is defined relative to the minimum, which must keep
        improving. Measured on the toy problems: 0.25 beat 0 on all three.
    n_candidates : int, optional
        Size of the generated candidate set per ask (default ``max(1000, 500·d)``).
    budget : int, optional
        The stopping rule's budget: stop when this many points are evaluated.
    stable_tol, patience, uncertainty_tol, n_monitor : stopping rule (see module doc).
    max_points : int
        At most this many points condition the GP (the lowest 75 % by value plus a seeded random
        sample of the rest); the cost of a step grows as their number cubed.
    max_fit_points : int
        Hyperparameters are optimised on at most this many of them (chosen the same way).
    refit_growth : float
        Re-optimise the hyperparameters when the number of points has grown by this factor since
        the last optimisation (≥ 1; 1 re-optimises at every tell).
    n_restarts : int
        Extra seeded random starts of the first hyperparameter optimisation (later ones start
        from the previous optimum).
    input_map : callable, optional
        Maps unit-cube coordinates (n, d) to the GP's inputs (n, k) — e.g. physically motivated
        features (:func:`alp_input_map`). Default: the unit-cube coordinates themselves.
    region_model : ``"gp"`` (default) or ``"committee"`` (see module doc)
    region_features : callable, optional
        Unit-cube coordinates (n, d) → the committee's inputs (n, k) (e.g.
        :func:`alp_region_features`); default the coordinates. Committee only.
    committee_options : mapping, optional
        Settings of :class:`ClassifierCommittee` (default :data:`COMMITTEE_DEFAULTS`). Committee
        only.
    """

    def __init__(self, bounds: Any, delta: float = REGION_DELTA_CHI2, seed: int = 0, *,
                 log_scale: Sequence[bool] | None = None, acquisition: str = "straddle",
                 transform: str = "log1p", transform_scale: float | None = None,
                 cap: float | None = None, kappa: float = 2.0, beta: float = 1.96,
                 xi: float = 0.0, ei_fraction: float = 0.25, n_candidates: int | None = None,
                 budget: int | None = None,
                 stable_tol: float = 0.02, patience: int = 3,
                 uncertainty_tol: float | None = None, n_monitor: int = 2000,
                 max_points: int = 2000, max_fit_points: int = 300, refit_growth: float = 1.25,
                 n_restarts: int = 2,
                 input_map: Callable[[np.ndarray], np.ndarray] | None = None,
                 region_model: str = "gp",
                 region_features: Callable[[np.ndarray], np.ndarray] | None = None,
                 committee_options: Mapping[str, Any] | None = None) -> None:
        self.bounds = _check_bounds(bounds)
        self.dim = int(self.bounds.shape[0])
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be a positive number, got {delta!r}")
        self.delta = float(delta)
        if isinstance(seed, bool) or int(seed) != seed:
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        ls = np.zeros(self.dim, dtype=bool) if log_scale is None else np.asarray(log_scale, bool)
        if ls.shape != (self.dim,):
            raise ValueError(f"log_scale must have one entry per dimension ({self.dim}), "
                             f"got shape {ls.shape}")
        if np.any(self.bounds[ls, 0] <= 0):
            raise ValueError("log-scaled dimensions need positive bounds")
        self.log_scale = ls
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"unknown acquisition {acquisition!r}; choose one of "
                             f"{ACQUISITIONS}")
        self.acquisition = acquisition
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; choose one of {TRANSFORMS}")
        self.transform = transform
        scale = self.delta if transform_scale is None else float(transform_scale)
        if not scale > 0:
            raise ValueError(f"transform_scale must be > 0, got {transform_scale}")
        self.transform_scale = scale
        self.cap = 3.0 * self.delta if cap is None else float(cap)
        if not self.cap > self.delta:
            raise ValueError(f"cap ({self.cap}) must exceed delta ({self.delta})")
        self.kappa, self.beta, self.xi = float(kappa), float(beta), float(xi)
        if not 0.0 <= ei_fraction <= 1.0:
            raise ValueError(f"ei_fraction must lie in [0, 1], got {ei_fraction}")
        self.ei_fraction = float(ei_fraction)
        self.n_candidates = (max(1000, 500 * self.dim) if n_candidates is None
                             else _check_positive_int(n_candidates, "n_candidates"))
        self.budget = None if budget is None else _check_positive_int(budget, "budget")
        if not stable_tol >= 0:
            raise ValueError(f"stable_tol must be >= 0, got {stable_tol}")
        self.stable_tol = float(stable_tol)
        self.patience = _check_positive_int(patience, "patience")
        self.uncertainty_tol = None if uncertainty_tol is None else float(uncertainty_tol)
        self.max_points = _check_positive_int(max_points, "max_points")
        self.max_fit_points = _check_positive_int(max_fit_points, "max_fit_points")
        if not refit_growth >= 1:
            raise ValueError(f"refit_growth must be >= 1, got {refit_growth}")
        self.refit_growth = float(refit_growth)
        lo = np.where(self.log_scale, np.log10(np.where(self.log_scale, self.bounds[:, 0], 1.0)),
                      self.bounds[:, 0])
        hi = np.where(self.log_scale, np.log10(np.where(self.log_scale, self.bounds[:, 1], 1.0)),
                      self.bounds[:, 1])
        self._lo, self._width = lo, hi - lo
        self.input_map = input_map
        self.gp = GaussianProcess(self._inputs(np.full((1, self.dim), 0.5)).shape[1],
                                  seed=self.seed, n_restarts=n_restarts)
        self._x = np.empty((0, self.dim))          # unit-cube coordinates of told points
        self._values = np.empty(0)                 # told values (original units)
        self._n_at_optimisation = 0
        self._monitor = np.random.default_rng([self.seed, 1]).random(
            (_check_positive_int(n_monitor, "n_monitor"), self.dim))
        self._monitor_inputs = self._inputs(self._monitor)
        if region_model not in REGION_MODELS:
            raise ValueError(f"unknown region_model {region_model!r}; choose one of "
                             f"{REGION_MODELS}")
        self.region_model = region_model
        self.region_features = region_features
        self.committee: ClassifierCommittee | None = None
        if region_model == "committee":
            self.committee = ClassifierCommittee(seed=self.seed, **dict(committee_options or {}))
            self._monitor_features = self._features(self._monitor)
        elif committee_options or region_features is not None:
            raise ValueError("committee_options and region_features need "
                             "region_model='committee'")
        self._monitor_estimate: np.ndarray | None = None
        self._history: list[dict[str, Any]] = []

    # ---- coordinates
    def to_unit(self, points: Any) -> np.ndarray:
        """Physical points (n, d) → unit-cube coordinates (n, d)."""
        p = np.array(points, dtype=float, ndmin=2)
        p[:, self.log_scale] = np.log10(p[:, self.log_scale])
        return (p - self._lo) / self._width

    def from_unit(self, unit: Any) -> np.ndarray:
        """Unit-cube coordinates (n, d) → physical points (n, d)."""
        u = np.array(unit, dtype=float, ndmin=2)
        p = self._lo + u * self._width
        p[:, self.log_scale] = 10.0 ** p[:, self.log_scale]
        return p

    def _check_points(self, points: Any, name: str = "points") -> np.ndarray:
        try:
            p = np.array(points, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric, shape (n, {self.dim}): {exc}") from None
        if p.ndim == 1 and p.size == self.dim:
            p = p[None, :]
        if p.ndim != 2 or p.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {p.shape}")
        if len(p) == 0:
            raise ValueError(f"{name} is empty: need at least one point")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name} contain NaN or inf")
        span = self.bounds[:, 1] - self.bounds[:, 0]
        outside = (p < self.bounds[:, 0] - 1e-9 * span) | (p > self.bounds[:, 1] + 1e-9 * span)
        if outside.any():
            col = int(np.argwhere(outside)[0, 1])
            raise ValueError(f"{int(outside.any(axis=1).sum())} of the {name} lie outside the "
                             f"bounds (first in dimension {col}: [{self.bounds[col, 0]:g}, "
                             f"{self.bounds[col, 1]:g}])")
        return p

    def _inputs(self, unit: np.ndarray) -> np.ndarray:
        if self.input_map is None:
            return unit
        out = np.asarray(self.input_map(unit), dtype=float)
        if out.ndim != 2 or len(out) != len(unit) or not np.all(np.isfinite(out)):
            raise ValueError(f"input_map must return a finite (n, k) array, got shape {out.shape}")
        return out

    def _features(self, unit: np.ndarray) -> np.ndarray:
        """Inputs of the region committee for unit-cube points (n, d) → (n, k)."""
        if self.region_features is None:
            return unit
        out = np.asarray(self.region_features(unit), dtype=float)
        if out.ndim != 2 or len(out) != len(unit) or not np.all(np.isfinite(out)):
            raise ValueError("region_features must return a finite (n, k) array, got shape "
                             f"{out.shape}")
        return out

    # ---- transform
    def _transform(self, delta_values: np.ndarray) -> np.ndarray:
        d = np.maximum(delta_values, 0.0)
        if self.transform == "log1p":
            return np.log1p(d / self.transform_scale)
        if self.transform == "cap":
            return np.minimum(d, self.cap)
        return d

    def _inverse(self, y: np.ndarray) -> np.ndarray:
        if self.transform == "log1p":
            with np.errstate(over="ignore"):
                return self.transform_scale * np.expm1(np.minimum(y, 700.0))
        return np.asarray(y, dtype=float)

    @property
    def threshold(self) -> float:
        """The region's boundary in the GP's (transformed) output units, ``T(delta)``."""
        return float(self._transform(np.array([self.delta]))[0])

    # ---- state
    @property
    def n_evaluated(self) -> int:
        """Number of points told so far."""
        return int(len(self._values))

    @property
    def points(self) -> np.ndarray:
        """All told points, physical units, shape (n, d)."""
        return self.from_unit(self._x) if len(self._x) else np.empty((0, self.dim))

    @property
    def values(self) -> np.ndarray:
        """All told values, shape (n,)."""
        return self._values.copy()

    @property
    def best_value(self) -> float:
        """Smallest told value (the learner's estimate of min f)."""
        self._require_data()
        return float(self._values.min())

    @property
    def best_point(self) -> np.ndarray:
        """The told point with the smallest value, shape (d,)."""
        self._require_data()
        return self.points[int(np.argmin(self._values))]

    @property
    def history(self) -> pd.DataFrame:
        """One row per tell: n_evaluated, value_min, region_fraction (of the monitor sample),
        region_change (see module doc), expected_region_error, hyperparameters_optimised."""
        return pd.DataFrame(self._history)

    def _require_data(self) -> None:
        if len(self._values) < 2:
            raise ValueError(f"the learner has {len(self._values)} evaluated point(s); tell() at "
                             "least 2 (e.g. an initial Latin-hypercube design from "
                             "initial_design()) before asking or predicting")

    def initial_design(self, n: int, seed: int | None = None) -> np.ndarray:
        """A seeded Latin-hypercube design of ``n`` points in the bounds, shape (n, d)."""
        n = _check_positive_int(n, "n")
        s = self.seed if seed is None else int(seed)
        u = qmc.LatinHypercube(d=self.dim, seed=np.random.default_rng([s, 3])).random(n)
        return self.from_unit(u)

    # ---- tell
    def tell(self, points: Any, values: Any) -> Learner:
        """Add evaluated points (n, d) and their values (n,) and update the GP.

        Raises :class:`ValueError` for empty input, NaN/inf anywhere (drop failed evaluations
        first), mismatched lengths or points outside the bounds.
        """
        p = self._check_points(points)
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.shape != (len(p),):
            raise ValueError(f"values must have one entry per point ({len(p)}), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"values contain {int((~np.isfinite(v)).sum())} NaN or inf "
                             "entries; drop failed evaluations before telling")
        self._x = np.vstack([self._x, np.clip(self.to_unit(p), 0.0, 1.0)])
        self._values = np.concatenate([self._values, v])
        if len(self._values) >= 2:
            self._refit()
        return self

    def _y(self) -> np.ndarray:
        return self._transform(self._values - self._values.min())

    def _subset(self, y: np.ndarray, limit: int, stream: int) -> np.ndarray | None:
        """Indices of at most ``limit`` points: the lowest 75 % by y, plus a seeded random rest."""
        if len(y) <= limit:
            return None
        order = np.argsort(y, kind="stable")
        n_low = int(0.75 * limit)
        rest = order[n_low:]
        rng = np.random.default_rng([self.seed, stream, len(y)])
        pick = rng.choice(len(rest), size=limit - n_low, replace=False)
        return np.sort(np.concatenate([order[:n_low], rest[pick]]))

    def _refit(self) -> None:
        y = self._y()
        cond = self._subset(y, self.max_points, 4)
        x_c, y_c = (self._x, y) if cond is None else (self._x[cond], y[cond])
        n = len(self._values)
        optimise = (not self.gp.fitted) or n >= self.refit_growth * self._n_at_optimisation
        if optimise:
            self._n_at_optimisation = n
        self.gp.fit(self._inputs(x_c), y_c, optimize=optimise,
                    fit_subset=self._subset(y_c, self.max_fit_points, 5))
        if self.committee is not None:
            self.committee.fit(self._features(self._x), y < self.threshold)
            prob, _ = self.committee.predict(self._monitor_features)
            estimate = prob > 0.5
            wrong = np.minimum(prob, 1.0 - prob).sum()
        else:
            mu, sigma = self.gp.predict(self._monitor_inputs)
            estimate = mu < self.threshold
            wrong = misclassification_probability(mu, sigma, self.threshold).sum()
        if self._monitor_estimate is None:
            change = float("nan")
        else:
            union = int((estimate | self._monitor_estimate).sum())
            change = int((estimate ^ self._monitor_estimate).sum()) / max(1, union)
        self._monitor_estimate = estimate
        self._history.append({
            "n_evaluated": n, "value_min": float(self._values.min()),
            "region_fraction": float(estimate.mean()), "region_change": change,
            "expected_region_error": float(wrong / max(1, int(estimate.sum()))),
            "hyperparameters_optimised": bool(optimise)})

    # ---- predictions
    def posterior(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        """GP posterior mean and standard deviation at ``points`` (n, d), in the transformed
        output units of the region threshold :attr:`threshold`; shapes (n,), (n,)."""
        self._require_data()
        unit = np.clip(self.to_unit(self._check_points(points)), 0.0, 1.0)
        return self.gp.predict(self._inputs(unit))

    def predict(self, points: Any) -> np.ndarray:
        """Predicted value ``min f + T⁻¹(mu)`` at ``points`` (n, d), original units, shape (n,).

        (The back-transformed posterior median; with ``transform="cap"`` values at the cap mean
        "at least the cap".)
        """
        mu, _ = self.posterior(points)
        return self.best_value + self._inverse(mu)

    def region_estimate(self, points: Any) -> np.ndarray:
        """Boolean mask (n,): points believed inside — the GP's posterior mean below the region
        threshold, or (``region_model="committee"``) the committee's probability above 1/2."""
        if self.committee is not None:
            return self.region_probability(points) > 0.5
        mu, _ = self.posterior(points)
        return mu < self.threshold

    def region_probability(self, points: Any) -> np.ndarray:
        """Probability (n,) that ``f(x) < min f + delta`` (min f = best told value): from the GP
        posterior, or the committee's mean probability (``region_model="committee"``)."""
        if self.committee is not None:
            self._require_data()
            unit = np.clip(self.to_unit(self._check_points(points)), 0.0, 1.0)
            return self.committee.predict(self._features(unit))[0]
        mu, sigma = self.posterior(points)
        return _prob_below(mu, sigma, self.threshold)

    def acquisition_values(self, points: Any, acquisition: str | None = None) -> np.ndarray:
        """Score (to maximise) of ``acquisition`` (default: the learner's) at ``points``, (n,).

        With ``region_model="committee"`` a region acquisition is the committee's score
        (:meth:`ClassifierCommittee.score`, what its region picks maximise); EI and LCB always
        come from the GP."""
        name = acquisition or self.acquisition
        if self.committee is not None and name in REGION_ACQUISITIONS:
            self._require_data()
            unit = np.clip(self.to_unit(self._check_points(points)), 0.0, 1.0)
            return self.committee.score(*self.committee.predict(self._features(unit)))
        mu, sigma = self.posterior(points)
        return acquisition_score(acquisition or self.acquisition, mu, sigma, best=0.0,
                                 threshold=self.threshold, kappa=self.kappa, beta=self.beta,
                                 xi=self.xi)

    # ---- ask
    def _generated_candidates(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2, len(self._values)])
        n_local = self.n_candidates // 2
        uniform = rng.random((self.n_candidates - n_local, self.dim))
        y = self._y()
        near = np.flatnonzero(y <= self._transform(np.array([2.0 * self.delta]))[0])
        best = np.argsort(y, kind="stable")[: min(10, len(y))]
        centres = self._x[np.union1d(near, best)]
        pick = rng.integers(0, len(centres), size=n_local)
        scale = rng.choice(np.array([0.01, 0.03, 0.1]), size=(n_local, 1))
        local = centres[pick] + scale * rng.standard_normal((n_local, self.dim))
        local = np.abs(local)
        local = 1.0 - np.abs(1.0 - local)
        return np.vstack([uniform, np.clip(local, 0.0, 1.0)])

    def select(self, n: int, candidates: Any) -> np.ndarray:
        """Indices into ``candidates`` (m, d; physical) of the ``n`` points :meth:`ask` would
        choose among them (pool-based active learning). Candidates that coincide with told
        points are never chosen; ``n`` larger than the remaining candidates → ValueError."""
        n = _check_positive_int(n, "batch size n")
        self._require_data()
        cand = np.clip(self.to_unit(self._check_points(candidates, "candidates")), 0.0, 1.0)
        return self._select_unit(n, cand)

    def _select_unit(self, n: int, cand: np.ndarray) -> np.ndarray:
        dist, _ = cKDTree(self._x).query(cand, k=1)
        fresh = np.flatnonzero(dist > 1e-9)
        if n > len(fresh):
            raise ValueError(f"batch size {n} exceeds the {len(fresh)} candidates not yet "
                             "evaluated")
        if self.committee is not None:
            return fresh[self._select_with_committee(n, cand[fresh])]
        idx, _ = self.gp.select_batch(self._inputs(cand[fresh]), n, self.schedule(n), best=0.0,
                                      threshold=self.threshold, kappa=self.kappa,
                                      beta=self.beta, xi=self.xi,
                                      fallback="ei" if self.acquisition in REGION_ACQUISITIONS
                                      else None)
        return fresh[idx]

    def _select_with_committee(self, n: int, cand: np.ndarray) -> np.ndarray:
        """Indices into ``cand`` (unit cube): the schedule's EI picks by the GP (kriging believer),
        then the region picks by the committee among the remaining candidates. When no candidate
        has a positive committee score (every member certain everywhere: nothing left to learn
        about the boundary), the whole batch is chosen by EI, like the GP learner's fallback."""
        n_ei = self.schedule(n).count("ei")
        picked = np.empty(0, dtype=int)
        if n_ei:
            picked, _ = self.gp.select_batch(self._inputs(cand), n_ei, "ei", best=0.0,
                                             threshold=self.threshold, xi=self.xi)
        rest = np.setdiff1d(np.arange(len(cand)), picked)
        if n > n_ei:
            idx, scores = self.committee.select_batch(self._features(cand[rest]), cand[rest],
                                                      n - n_ei)
            if scores[0] <= 0.0:
                picked, _ = self.gp.select_batch(self._inputs(cand), n, "ei", best=0.0,
                                                 threshold=self.threshold, xi=self.xi)
                return picked
            picked = np.concatenate([picked, rest[idx]])
        return picked

    def schedule(self, n: int) -> list[str]:
        """The acquisition of each pick of the next batch of ``n``.

        For a region acquisition a share ``ei_fraction`` of all picks uses expected improvement
        (so the minimum, which defines the region, keeps improving): pick number ``j`` (counting
        every told point) is an EI pick when ``⌊(j + 1) f⌋ > ⌊j f⌋`` — every fourth pick for
        f = 0.25, whatever the batch size. EI picks come first within a batch.
        """
        if self.acquisition not in REGION_ACQUISITIONS:
            return [self.acquisition] * n
        j = self.n_evaluated + np.arange(n)
        n_ei = int(np.sum(np.floor((j + 1) * self.ei_fraction) > np.floor(j * self.ei_fraction)))
        return ["ei"] * n_ei + [self.acquisition] * (n - n_ei)

    def ask(self, n: int, candidates: Any = None) -> np.ndarray:
        """Propose ``n`` distinct new points, shape (n, d), physical units.

        Maximises the acquisition with the kriging believer over the generated candidate set (or
        over ``candidates``, shape (m, d)). Deterministic given the seed and the told data.
        """
        n = _check_positive_int(n, "batch size n")
        self._require_data()
        if candidates is None:
            cand = self._generated_candidates()
        else:
            cand = np.clip(self.to_unit(self._check_points(candidates, "candidates")), 0.0, 1.0)
        return self.from_unit(cand[self._select_unit(n, cand)])

    # ---- stopping
    @property
    def expected_region_error(self) -> float:
        """Expected misclassified fraction of the monitor sample, relative to the estimated
        region size (from the last tell)."""
        self._require_data()
        return float(self._history[-1]["expected_region_error"])

    def stop_reason(self) -> str | None:
        """``"budget"``, ``"uncertainty"``, ``"stable"`` or None (go on); see module doc."""
        if self.budget is not None and self.n_evaluated >= self.budget:
            return "budget"
        if len(self._history) == 0:
            return None
        if (self.uncertainty_tol is not None
                and self._history[-1]["expected_region_error"] <= self.uncertainty_tol):
            return "uncertainty"
        changes = [h["region_change"] for h in self._history[-self.patience:]]
        if (len(self._history) > self.patience
                and all(np.isfinite(c) and c <= self.stable_tol for c in changes)):
            return "stable"
        return None

    @property
    def should_stop(self) -> bool:
        """True when :meth:`stop_reason` gives a reason."""
        return self.stop_reason() is not None

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that define the learner (for provenance)."""
        return {"bounds": self.bounds.tolist(), "delta": self.delta, "seed": self.seed,
                "log_scale": self.log_scale.tolist(), "acquisition": self.acquisition,
                "transform": self.transform, "transform_scale": self.transform_scale,
                "cap": self.cap, "kappa": self.kappa, "beta": self.beta, "xi": self.xi,
                "ei_fraction": self.ei_fraction,
                "n_candidates": self.n_candidates, "stable_tol": self.stable_tol,
                "patience": self.patience, "uncertainty_tol": self.uncertainty_tol,
                "n_monitor": len(self._monitor), "max_points": self.max_points,
                "max_fit_points": self.max_fit_points, "refit_growth": self.refit_growth,
                "n_restarts": self.gp.n_restarts,
                "input_map": None if self.input_map is None else getattr(
                    self.input_map, "__name__", repr(self.input_map))} | self._region_settings()

    def _region_settings(self) -> dict[str, Any]:
        # absent for the GP (runs recorded before the committee existed keep their identity)
        if self.committee is None:
            return {}
        return {"region_model": self.region_model,
                "region_features": None if self.region_features is None else getattr(
                    self.region_features, "__name__", repr(self.region_features)),
                "committee": self.committee.settings()}


def _prob_below(mu: np.ndarray, sigma: np.ndarray, threshold: float) -> np.ndarray:
    from scipy.special import ndtr

    out = (mu < threshold).astype(float)
    pos = sigma > 0
    out[pos] = ndtr((threshold - mu[pos]) / sigma[pos])
    return out


def alp_parameter_bounds(parameters: Sequence[str] = alps.PARAMETERS
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (k, 2) of the ALP domain and the log-scale flags (k,) for ``parameters``."""
    idx = _parameter_indices(parameters)
    return alps.DOMAIN.bounds[idx], np.array([alps.PARAMETERS[i] == "fa" for i in idx])


EFFECTIVE_COUPLING_SCALE: float = 0.05
"""Scale g₀ of the effective couplings in :func:`alp_input_map` (g = c · 10⁶ GeV / f_a)."""


def alp_input_map(unit: np.ndarray) -> np.ndarray:
    """GP inputs for the full 6-D ALP learner: ``log10 f_a`` (unit scaled) and, per coupling, a
    signed logarithm of the effective coupling ``g = c · 10⁶ GeV / f_a``,
    ``sign(g) log(1 + |g| / g₀)`` scaled to [0, 1] (g₀ = :data:`EFFECTIVE_COUPLING_SCALE`).

    Why: at low energy the couplings enter as c/f_a; the region is a thin, f_a-dependent set in
    (f_a, c) but a thicker one in g, and the signed logarithm spreads the many points at small |g|
    (large f_a). Measured on the leading-log pool (``benchmarks/active_learning.py``).
    ``unit``: (n, 6) unit-cube coordinates of :data:`lecture_utils.alps.DOMAIN`; returns (n, 6).
    """
    u = np.asarray(unit, dtype=float)
    if u.ndim != 2 or u.shape[1] != len(alps.PARAMETERS):
        raise ValueError(f"alp_input_map needs (n, {len(alps.PARAMETERS)}) unit coordinates")
    points = alps.DOMAIN.from_unit(u)
    g = points[:, 1:] * (1.0e6 / points[:, :1])
    g_max = alps.DOMAIN.coupling[1] * 1.0e6 / alps.DOMAIN.fa_gev[0]
    scale = np.log1p(g_max / EFFECTIVE_COUPLING_SCALE)
    return np.column_stack([u[:, 0], 0.5 + 0.5 * np.sign(g) * np.log1p(
        np.abs(g) / EFFECTIVE_COUPLING_SCALE) / scale])


ALP_TRANSFORM_SCALE: float = 1.0
"""Default ``transform_scale`` of :func:`alp_learner`: the GP models ``log(1 + Δχ²)``.

Measured on the leading-log pool (``benchmarks/active_learning.py``, budget 400, median of 3
seeds): region error 0.65 with s = 1 against 0.76 with s = δ = 10 and 0.80 with a cap at 3δ. (On
the toy problems s = δ was better, hence the different general default of :class:`Learner`.)"""


def alp_region_features(unit: np.ndarray) -> np.ndarray:
    """Inputs of the ALP learner's region committee: the course surrogate's physics features
    (:func:`lecture_utils.surrogate.features`, ``"running"``: log10 f_a, the couplings over f_a and
    the low-energy couplings after the leading-log running, over f_a) of unit-cube points (n, 6)
    of :data:`lecture_utils.alps.DOMAIN`; float64, shape (n, 20)."""
    from .surrogate import features

    u = np.asarray(unit, dtype=float)
    if u.ndim != 2 or u.shape[1] != len(alps.PARAMETERS):
        raise ValueError(f"alp_region_features needs (n, {len(alps.PARAMETERS)}) unit "
                         "coordinates")
    return features(alps.DOMAIN.from_unit(u), "running").astype(float)


ALP_REGION_MODEL: str = "committee"
"""Region model of :func:`alp_learner` over all six parameters (slices keep the GP).

Measured on the leading-log pool (``benchmarks/active_learning.py``, median of 5 seeds): conditioned
on all ≈5,200 pool points the GP's region error is 0.56, the committee's on the physics features
(:func:`alp_region_features`) 0.14; at a budget of 800 the GP learner reaches 0.63 (Latin
hypercube 0.69), the committee learner 0.20 (Latin hypercube 0.37) — with the committee the choice
of points matters."""


def alp_learner(parameters: Sequence[str] = alps.PARAMETERS, *, delta: float = REGION_DELTA_CHI2,
                seed: int = 0, **options: Any) -> Learner:
    """A :class:`Learner` over the ALP domain (or a slice of it: ``parameters``), f_a logarithmic
    — the coordinates of :meth:`lecture_utils.alps.Domain.to_unit` —, with
    ``transform_scale`` = :data:`ALP_TRANSFORM_SCALE` unless given. Over all six parameters the
    region model is :data:`ALP_REGION_MODEL` on :func:`alp_region_features` unless
    ``region_model`` is given; slices use the GP. Other options are passed on;
    ``input_map=alp_input_map`` gives effective-coupling GP inputs (all six parameters only)."""
    bounds, log_scale = alp_parameter_bounds(parameters)
    defaults: dict[str, Any] = {"transform_scale": ALP_TRANSFORM_SCALE}
    if (tuple(parameters) == alps.PARAMETERS
            and options.get("region_model", ALP_REGION_MODEL) == "committee"):
        defaults |= {"region_model": "committee", "region_features": alp_region_features}
    return Learner(bounds, delta, seed, log_scale=log_scale, **(defaults | dict(options)))


def _parameter_indices(parameters: Sequence[str]) -> list[int]:
    names = list(parameters)
    unknown = [p for p in names if p not in alps.PARAMETERS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"parameters must be distinct names from {alps.PARAMETERS}, got {names}")
    return [alps.PARAMETERS.index(p) for p in names]


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def region_metrics(true_values: Any, estimate: Any, predicted: Any, *, value_min: float,
                   delta: float) -> dict[str, float]:
    """How well a region estimate and a prediction match the truth on a reference sample.

    ``true_values`` (n,), ``estimate`` (bool, n,), ``predicted`` (n,); the true region is
    ``true_values < value_min + delta``. Returns ``region_error`` — misclassified points
    (false inside + false outside) divided by the number of true region points —, the two
    counts, ``iou``, ``region_mae`` (mean |predicted − true| over the true region points) and
    ``region_mae_gated`` (the same over the true region points the estimate also puts inside —
    the analogue of the two-stage surrogate's regressor error behind its gate).
    """
    t = np.asarray(true_values, dtype=float)
    e = np.asarray(estimate, dtype=bool)
    p = np.asarray(predicted, dtype=float)
    if not (t.shape == e.shape == p.shape) or t.ndim != 1:
        raise ValueError("true_values, estimate and predicted must be 1-D arrays of equal length")
    truth = t < value_min + delta
    fp, fn = int((e & ~truth).sum()), int((~e & truth).sum())
    union = int((e | truth).sum())
    n_true = int(truth.sum())
    both = truth & e

    def mae(sel: np.ndarray) -> float:
        return float(np.mean(np.abs(p[sel] - t[sel]))) if sel.any() else float("nan")

    return {"n_reference": int(len(t)), "n_true_region": n_true,
            "region_error": (fp + fn) / max(1, n_true), "false_inside": fp, "false_outside": fn,
            "iou": 1.0 if union == 0 else int(both.sum()) / union,
            "region_mae": mae(truth), "region_mae_gated": mae(both)}


# --------------------------------------------------------------------------------------------
# toy problems (teaching and testing aids)
# --------------------------------------------------------------------------------------------
def forrester(x: np.ndarray) -> np.ndarray:
    """Forrester et al.'s 1-D test function ``(6x − 2)² sin(12x − 4)`` on [0, 1] (toy)."""
    x = np.asarray(x, dtype=float)[:, 0]
    return (6.0 * x - 2.0) ** 2 * np.sin(12.0 * x - 4.0)


def himmelblau(x: np.ndarray) -> np.ndarray:
    """Himmelblau's 2-D function on [−5, 5]²: four minima of value 0 (toy)."""
    x = np.asarray(x, dtype=float)
    return (x[:, 0] ** 2 + x[:, 1] - 11.0) ** 2 + (x[:, 0] + x[:, 1] ** 2 - 7.0) ** 2


def branin(x: np.ndarray) -> np.ndarray:
    """The Branin–Hoo 2-D function on [−5, 10] × [0, 15]: three minima of 0.397887 (toy)."""
    x = np.asarray(x, dtype=float)
    b, c, t = 5.1 / (4.0 * np.pi**2), 5.0 / np.pi, 1.0 / (8.0 * np.pi)
    return ((x[:, 1] - b * x[:, 0] ** 2 + c * x[:, 0] - 6.0) ** 2
            + 10.0 * (1.0 - t) * np.cos(x[:, 0]) + 10.0)


_HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                        [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
_HARTMANN_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                               [2329, 4135, 8307, 3736, 1004, 9991],
                               [2348, 1451, 3522, 2883, 3047, 6650],
                               [4047, 8828, 8732, 5743, 1091, 381]], dtype=float)
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> np.ndarray:
    """The 6-D Hartmann function on [0, 1]⁶, minimum −3.32237 (toy)."""
    x = np.asarray(x, dtype=float)
    inner = ((x[:, None, :] - _HARTMANN_P[None]) ** 2 * _HARTMANN_A[None]).sum(axis=2)
    return -(np.exp(-inner) * _HARTMANN_ALPHA).sum(axis=1)


@dataclass(frozen=True)
class ToyProblem:
    """An analytic function with a known minimum, hence a known region (a teaching aid)."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[tuple[float, float], ...]
    minimum: float
    delta: float

    @property
    def dim(self) -> int:
        return len(self.bounds)

    def region(self, points: Any) -> np.ndarray:
        """True region membership ``f < minimum + delta`` of points (n, d), shape (n,)."""
        return self.function(np.atleast_2d(points)) < self.minimum + self.delta

    def reference(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded uniform reference sample: points (n, d) and their values (n,)."""
        b = np.asarray(self.bounds)
        pts = b[:, 0] + np.random.default_rng(seed).random((int(n), self.dim)) * (b[:, 1] - b[:, 0])
        return pts, self.function(pts)

    def learner(self, seed: int = 0, **options: Any) -> Learner:
        return Learner(np.asarray(self.bounds), self.delta, seed, **options)


TOY_PROBLEMS: dict[str, ToyProblem] = {
    "forrester": ToyProblem("forrester", forrester, ((0.0, 1.0),), -6.020740055767083, 5.5),
    "himmelblau": ToyProblem("himmelblau", himmelblau, ((-5.0, 5.0), (-5.0, 5.0)), 0.0, 10.0),
    "branin": ToyProblem("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.39788735772973816,
                         5.0),
    "hartmann6": ToyProblem("hartmann6", hartmann6, ((0.0, 1.0),) * 6, -3.3223680114155147,
                            2.0),
}
"""Toy problems with known regions (teaching and testing aids; never physics)."""


# --------------------------------------------------------------------------------------------
# comparisons at equal budget
# --------------------------------------------------------------------------------------------
def _learner_metrics(learner: Learner, ref_points: np.ndarray, ref_values: np.ndarray,
                     value_min: float, delta: float) -> dict[str, float]:
    return region_metrics(ref_values, learner.region_estimate(ref_points),
                          learner.predict(ref_points), value_min=value_min, delta=delta)


def compare_on_function(problem: ToyProblem, budgets: Sequence[int], *, seed: int = 0,
                        n_initial: int | None = None, batch_size: int = 5,
                        n_reference: int = 20000, learner_options: Mapping[str, Any] | None = None,
                        on_budget: Callable[[str, int, Learner], Mapping[str, Any]] | None = None
                        ) -> pd.DataFrame:
    """Active learning vs Latin hypercube at equal budgets on a toy problem (live evaluations).

    The learner starts from a seeded LHS of ``n_initial`` points (default ``max(2, 5·d)``) and
    asks batches of ``batch_size`` until each budget (batches are cut to hit every budget); the
    baseline is a fresh seeded LHS of the full budget fitted by an identical learner. Both are
    scored by :func:`region_metrics` on a uniform reference sample against the *true* minimum.
    ``on_budget(method, budget, learner)``, if given, is called after each score and its entries
    are added to that row (e.g. a surrogate trained on ``learner.points``). Returns one row per
    (method, budget).
    """
    opts = dict(learner_options or {})
    n0 = max(2, 5 * problem.dim) if n_initial is None else _check_positive_int(n_initial, "n")
    ref_pts, ref_vals = problem.reference(n_reference, seed=10_000 + seed)
    budgets = sorted(_check_positive_int(b, "budget") for b in budgets)
    if budgets[0] < n0:
        raise ValueError(f"budgets must be >= n_initial ({n0})")
    rows = []
    active = problem.learner(seed, **opts)
    x0 = active.initial_design(n0)
    active.tell(x0, problem.function(x0))
    for b in budgets:
        while active.n_evaluated < b:
            x = active.ask(min(batch_size, b - active.n_evaluated))
            active.tell(x, problem.function(x))
        lhs = problem.learner(seed, **opts)
        x = lhs.initial_design(b, seed=seed + 7919 * b)
        lhs.tell(x, problem.function(x))
        for method, learner in (("active", active), ("lhs", lhs)):
            extra = {} if on_budget is None else dict(on_budget(method, b, learner))
            rows.append({"method": method, "budget": b, "seed": seed}
                        | _learner_metrics(learner, ref_pts, ref_vals, problem.minimum,
                                           problem.delta) | extra)
    return pd.DataFrame(rows)


def _match_to_pool(unit_design: np.ndarray, pool_unit: np.ndarray,
                   used: np.ndarray | None = None) -> np.ndarray:
    """Greedy nearest-neighbour matching of design points to distinct unused pool points."""
    taken = np.zeros(len(pool_unit), dtype=bool) if used is None else used.copy()
    if len(unit_design) > int((~taken).sum()):
        raise ValueError(f"cannot match {len(unit_design)} design points to "
                         f"{int((~taken).sum())} free pool points")
    tree = cKDTree(pool_unit)
    out = np.empty(len(unit_design), dtype=int)
    for i, u in enumerate(unit_design):
        k = min(len(pool_unit), 64)
        _, nn = tree.query(u, k=k)
        nn = np.atleast_1d(nn)
        free = nn[~taken[nn]]
        if free.size == 0:
            cand = np.flatnonzero(~taken)
            free = cand[[int(np.argmin(((pool_unit[cand] - u) ** 2).sum(axis=1)))]]
        out[i] = free[0]
        taken[free[0]] = True
    return out


@dataclass
class PoolComparison:
    """Result of :func:`compare_on_pool`: a metrics table and the chosen pool indices."""

    metrics: pd.DataFrame
    chosen: dict[str, np.ndarray] = field(default_factory=dict)


def compare_on_pool(pool_points: Any, pool_values: Any, ref_points: Any, ref_values: Any,
                    budgets: Sequence[int], *, learner_factory: Callable[[int], Learner],
                    seed: int = 0, n_initial: int = 50, batch_size: int = 25,
                    value_min: float | None = None, delta: float = REGION_DELTA_CHI2,
                    methods: Sequence[str] = ("active", "lhs"),
                    ref_labels: Any = None) -> PoolComparison:
    """Pool-based active learning vs Latin hypercube at equal budgets, on already-evaluated data.

    Both methods may only "evaluate" points of the pool (their values are looked up):

    * ``"active"``: a seeded LHS of ``n_initial`` points, each matched to its nearest free pool
      point (unit-cube coordinates of the learner), then batches chosen by
      :meth:`Learner.select` among the remaining pool points (cut to hit every budget);
    * ``"lhs"``: for each budget a fresh seeded LHS of that size matched to the pool the same way
      — a space-filling design restricted to the points we have values for;
    * ``"random"``: a seeded uniform subset of the pool (note: a region-enriched pool makes this
      a design that already knows where the region is).

    Each fit is scored by :func:`region_metrics` on the reference sample, the true region being
    ``ref_values < value_min + delta`` (``value_min`` defaults to the smallest value of pool and
    reference together). ``learner_factory(seed=seed)`` builds a fresh learner (bounds, options).
    With ``ref_labels`` (n_ref,) the metrics are also reported per label (column ``reference``;
    ``"all"`` for the whole sample).
    """
    pool_pts = np.asarray(pool_points, dtype=float)
    pool_vals = np.asarray(pool_values, dtype=float)
    ref_pts = np.asarray(ref_points, dtype=float)
    ref_vals = np.asarray(ref_values, dtype=float)
    if len(pool_pts) != len(pool_vals) or len(ref_pts) != len(ref_vals):
        raise ValueError("points and values must have the same length")
    if not (np.all(np.isfinite(pool_vals)) and np.all(np.isfinite(ref_vals))):
        raise ValueError("pool and reference values must be finite (drop failed points)")
    vmin = float(min(pool_vals.min(), ref_vals.min())) if value_min is None else float(value_min)
    budgets = sorted(_check_positive_int(b, "budget") for b in budgets)
    if budgets[0] < n_initial or budgets[-1] > len(pool_pts):
        raise ValueError(f"budgets must lie between n_initial ({n_initial}) and the pool size "
                         f"({len(pool_pts)})")
    unknown = set(methods) - {"active", "lhs", "random"}
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}")
    rows: list[dict[str, Any]] = []
    chosen: dict[str, np.ndarray] = {}
    probe = learner_factory(seed=seed)
    pool_unit = np.clip(probe.to_unit(pool_pts), 0.0, 1.0)

    labels = None if ref_labels is None else np.asarray(ref_labels)
    if labels is not None and labels.shape != (len(ref_pts),):
        raise ValueError("ref_labels must have one entry per reference point")

    def score(method: str, learner: Learner, b: int) -> None:
        estimate, predicted = learner.region_estimate(ref_pts), learner.predict(ref_pts)
        groups = [("all", slice(None))]
        if labels is not None:
            groups += [(str(g), labels == g) for g in np.unique(labels)]
        for name, sel in groups:
            rows.append({"method": method, "budget": b, "seed": seed, "reference": name}
                        | region_metrics(ref_vals[sel], estimate[sel], predicted[sel],
                                         value_min=vmin, delta=delta))

    if "active" in methods:
        learner = learner_factory(seed=seed)
        u0 = qmc.LatinHypercube(d=probe.dim, seed=np.random.default_rng([seed, 11])).random(
            n_initial)
        idx = list(_match_to_pool(u0, pool_unit))
        learner.tell(pool_pts[idx], pool_vals[idx])
        used = np.zeros(len(pool_pts), dtype=bool)
        used[idx] = True
        for b in budgets:
            while learner.n_evaluated < b:
                free = np.flatnonzero(~used)
                pick = free[learner.select(min(batch_size, b - learner.n_evaluated),
                                           pool_pts[free])]
                used[pick] = True
                idx.extend(pick.tolist())
                learner.tell(pool_pts[pick], pool_vals[pick])
            score("active", learner, b)
        chosen["active"] = np.asarray(idx)
    for b in budgets:
        if "lhs" in methods:
            u = qmc.LatinHypercube(d=probe.dim, seed=np.random.default_rng([seed, 12, b])).random(
                b)
            idx_l = _match_to_pool(u, pool_unit)
            learner = learner_factory(seed=seed)
            learner.tell(pool_pts[idx_l], pool_vals[idx_l])
            score("lhs", learner, b)
            chosen[f"lhs-{b}"] = idx_l
        if "random" in methods:
            idx_r = np.random.default_rng([seed, 13, b]).choice(len(pool_pts), b, replace=False)
            learner = learner_factory(seed=seed)
            learner.tell(pool_pts[idx_r], pool_vals[idx_r])
            score("random", learner, b)
            chosen[f"random-{b}"] = idx_r
    return PoolComparison(pd.DataFrame(rows), chosen)


def leadinglog_pool(name: str = "train", workdir: str | Path | None = None) -> pd.DataFrame:
    """The leading-log χ² points that the recipe of data set ``name`` evaluated (its ``prescan``
    Latin hypercube and its ``focus`` points around the prescan region), successful ones only.

    Columns: the six parameters, ``chi2`` (leading-log), ``origin``. Read from the committed
    stores ``datasets/<name>/{prescan,focus}`` (:mod:`lecture_utils.datasets`); a missing store
    raises :class:`~lecture_utils.data.StoreError` naming it.
    """
    from .datasets import DEFAULT_WORKDIR

    root = Path(DEFAULT_WORKDIR if workdir is None else workdir) / name
    frames = []
    for stage in ("prescan", "focus"):
        t = data.Store.open(root / stage).table()
        frames.append(t[t["status"] == "ok"])
    out = pd.concat(frames, ignore_index=True)
    return out[[*alps.PARAMETERS, "chi2", "origin"]]


# --------------------------------------------------------------------------------------------
# real runs through the engine
# --------------------------------------------------------------------------------------------
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
        return np.asarray(points, dtype=float)[:, _parameter_indices(self.parameters)]

    def full_points(self, learner_points: Any) -> np.ndarray:
        """Full 6-D points (n, 6) from the learner's coordinates (n, k), the others at ``base``."""
        sub = np.atleast_2d(np.asarray(learner_points, dtype=float))
        return _full_points(sub, _parameter_indices(self.parameters), self.base)


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
    from . import engine

    alps.check_integrator(truth)
    idx = _parameter_indices(parameters)
    names = tuple(alps.PARAMETERS[i] for i in idx)
    base = alps.SM_LIKE_POINT.astype(float).copy()
    for name, value in dict(fixed or {}).items():
        if name not in alps.PARAMETERS:
            raise ValueError(f"unknown fixed parameter {name!r}; known: {alps.PARAMETERS}")
        if name in names:
            raise ValueError(f"parameter {name!r} is both learned and fixed")
        base[alps.PARAMETERS.index(name)] = float(value)
    alps.validate_points(base)
    batch_size = _check_positive_int(batch_size, "batch_size")
    budget = _check_positive_int(budget, "budget")
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
        n_first = _check_positive_int(n_initial, "n_initial")
        if n_first > budget:
            raise ValueError(f"n_initial ({n_first}) exceeds the budget ({budget})")
    identity = {"truth": truth, "seed": int(seed), "parameters": list(names),
                "fixed": base.tolist(), "n_initial": n_first, "learner": learner.settings(),
                "initial_hash": None if init_pts is None else data.points_hash(
                    np.column_stack([init_pts, init_vals])),
                "alpaca": alps.alpaca_version(), "convention": alps.convention()}
    if store is None:   # keyed also by the code, so a changed learner never replays old batches
        code = code_fingerprint(__name__, "lecture_utils._active_gp", "lecture_utils._active_trees")
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
# extending the shipped training set (issue 6, item 4)
# --------------------------------------------------------------------------------------------
def _default_extension_store() -> Path:
    from .datasets import DEFAULT_WORKDIR

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
    from .datasets import base_points

    n_points = _check_positive_int(n_points, "n_points")
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
    from . import surrogate

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
    from . import surrogate

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
    from . import surrogate
    from .datasets import base_points

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
