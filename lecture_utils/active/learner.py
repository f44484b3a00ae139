"""The ask/tell learner of the region ``{x : f(x) < min f + delta}``.

:class:`Learner` maps its inputs to the unit cube, fits a Gaussian process
(:mod:`lecture_utils.active.gp`) to a monotone transform of the told values and, with
``region_model="committee"``, a committee of boosted-tree classifiers
(:mod:`lecture_utils.active.committee`) to region membership; it proposes batches by the kriging
believer over a seeded candidate set. The package docstring (:mod:`lecture_utils.active`)
describes the coordinates, transforms, batches, region models, candidates and stopping rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.special import ndtr
from scipy.stats import qmc

from ..stats import REGION_DELTA_CHI2
from .committee import ClassifierCommittee
from .gp import (
    ACQUISITIONS,
    REGION_ACQUISITIONS,
    GaussianProcess,
    acquisition_score,
    misclassification_probability,
)
from .validation import check_bounds, check_points, check_positive_int

__all__ = ["REGION_MODELS", "TRANSFORMS", "Learner"]

REGION_MODELS: tuple[str, ...] = ("gp", "committee")
"""Models of the region a :class:`Learner` can use (see :mod:`lecture_utils.active`)."""

TRANSFORMS: tuple[str, ...] = ("log1p", "cap", "none")
"""Output transforms of :class:`Learner` (see :mod:`lecture_utils.active`)."""


# --------------------------------------------------------------------------------------------
# the learner
# --------------------------------------------------------------------------------------------
class Learner:
    """Ask/tell active learner of the region ``{x : f(x) < min f + delta}``.

    The coordinates, output transforms, batches, region models, candidates and the stopping rule
    are described in :mod:`lecture_utils.active`.

    Parameters
    ----------
    bounds : array_like, shape (d, 2)
        Lower and upper bound of every input, in physical units (lower < upper, finite).
    delta : float, optional
        Width of the region above the minimum, > 0 (for a χ²: Δχ², default
        :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
    seed : int, optional
        Seeds every random choice (candidates, monitor sample, optimiser restarts): the same
        ``tell`` sequence gives the same ``ask`` answers.
    log_scale : sequence of bool, length d, optional
        Dimensions mapped logarithmically to the unit cube (bounds must then be > 0).
    acquisition : {"straddle", "misclassification", "ei", "lcb"}, optional
        The acquisition function; ``"straddle"`` and ``"misclassification"`` are region ones.
    transform : {"log1p", "cap", "none"}, optional
        Monotone transform of ``Δ = f − min f`` that the GP models: ``y = log(1 + Δ/s)``,
        ``y = min(Δ, cap)`` or ``y = Δ``.
    transform_scale : float, optional
        The scale s of ``"log1p"``, > 0; default ``delta`` (``y = log(1 + Δ/delta)``, nearly
        linear inside the region, logarithmic on the wall).
    cap : float, optional
        The cap of ``"cap"``, > ``delta``; default 3·delta.
    kappa : float, optional
        LCB parameter κ.
    beta : float, optional
        Straddle parameter β.
    xi : float, optional
        EI margin ξ.
    ei_fraction : float, optional
        Share of each batch chosen by expected improvement when the acquisition is a region one
        (see :meth:`schedule`), in [0, 1]; the region is defined relative to the minimum, which
        must keep improving; the default 0.25 makes every fourth pick an EI pick.
    n_candidates : int, optional
        Size of the generated candidate set per ask (default ``max(1000, 500·d)``).
    budget : int, optional
        The stopping rule's budget: stop when this many points are evaluated.
    stable_tol : float, optional
        Stop as ``"stable"`` when the region estimate on the monitor sample changed by at most
        this fraction (of the union of the old and new estimates) at each of the last
        ``patience`` tells; ≥ 0.
    patience : int, optional
        Tells the ``"stable"`` rule looks back over, ≥ 1.
    uncertainty_tol : float, optional
        Stop as ``"uncertainty"`` when the expected misclassified fraction of the monitor sample
        (relative to the estimated region size) is at most this; default: never.
    n_monitor : int, optional
        Size of the seeded monitor sample in the unit cube on which the stopping rule measures
        the region estimate.
    max_points : int, optional
        At most this many points condition the GP (the lowest 75 % by value plus a seeded random
        sample of the rest); the cost of a step grows as their number cubed.
    max_fit_points : int, optional
        Hyperparameters are optimised on at most this many of them (chosen the same way).
    refit_growth : float, optional
        Re-optimise the hyperparameters when the number of points has grown by this factor since
        the last optimisation (≥ 1; 1 re-optimises at every tell).
    n_restarts : int, optional
        Extra seeded random starts of the first hyperparameter optimisation (later ones start
        from the previous optimum).
    input_map : callable, optional
        Maps unit-cube coordinates (n, d) to the GP's inputs (n, k), a finite array — e.g.
        physically motivated features (:func:`~lecture_utils.active.alp_input_map`). Default:
        the unit-cube coordinates themselves.
    region_model : {"gp", "committee"}, optional
        What gives the region estimate and the region picks (see :mod:`lecture_utils.active`).
    region_features : callable, optional
        Unit-cube coordinates (n, d) → the committee's inputs (n, k), a finite array (e.g.
        :func:`~lecture_utils.active.alp_region_features`); default the coordinates. Committee
        only.
    committee_options : mapping, optional
        Settings of :class:`ClassifierCommittee` (default
        :data:`~lecture_utils.active.COMMITTEE_DEFAULTS`). Committee only.

    Raises
    ------
    ValueError
        For invalid settings: bad ``bounds``, ``delta`` ≤ 0, a non-integer ``seed``, a
        ``log_scale`` of the wrong length or over non-positive bounds, an unknown
        ``acquisition``, ``transform`` or ``region_model``, ``transform_scale`` ≤ 0,
        ``cap`` ≤ ``delta``, ``ei_fraction`` outside [0, 1], ``stable_tol`` < 0,
        ``refit_growth`` < 1, a count that is not a positive integer, ``region_features`` or
        ``committee_options`` without ``region_model="committee"``, invalid committee settings,
        or an ``input_map`` /
        ``region_features`` that does not return a finite (n, k) array.
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
        self.bounds = check_bounds(bounds)
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
                             else check_positive_int(n_candidates, "n_candidates"))
        self.budget = None if budget is None else check_positive_int(budget, "budget")
        if not stable_tol >= 0:
            raise ValueError(f"stable_tol must be >= 0, got {stable_tol}")
        self.stable_tol = float(stable_tol)
        self.patience = check_positive_int(patience, "patience")
        self.uncertainty_tol = None if uncertainty_tol is None else float(uncertainty_tol)
        self.max_points = check_positive_int(max_points, "max_points")
        self.max_fit_points = check_positive_int(max_fit_points, "max_fit_points")
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
            (check_positive_int(n_monitor, "n_monitor"), self.dim))
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
        region_change (see :meth:`stop_reason`), expected_region_error,
        hyperparameters_optimised."""
        return pd.DataFrame(self._history)

    def _require_data(self) -> None:
        if len(self._values) < 2:
            raise ValueError(f"the learner has {len(self._values)} evaluated point(s); tell() at "
                             "least 2 (e.g. an initial Latin-hypercube design from "
                             "initial_design()) before asking or predicting")

    def _unit_points(self, points: Any, name: str = "points") -> np.ndarray:
        """Checked physical points (n, d) of a fitted learner → unit-cube coordinates (n, d)."""
        self._require_data()
        return np.clip(self.to_unit(check_points(points, self.bounds, name)), 0.0, 1.0)

    def initial_design(self, n: int, seed: int | None = None) -> np.ndarray:
        """A seeded Latin-hypercube design of ``n`` points in the bounds, shape (n, d)."""
        n = check_positive_int(n, "n")
        s = self.seed if seed is None else int(seed)
        u = qmc.LatinHypercube(d=self.dim, seed=np.random.default_rng([s, 3])).random(n)
        return self.from_unit(u)

    # ---- tell
    def tell(self, points: Any, values: Any) -> Learner:
        """Add evaluated points and their values and update the model.

        Any points may be told: an initial design (:meth:`initial_design`), a data set, the
        learner's own proposals. From the second point on, every tell refits the GP (and the
        committee) and records a row of :attr:`history`.

        Parameters
        ----------
        points : array_like, shape (n, d) or (d,)
            Evaluated points in physical units, inside the bounds.
        values : array_like, shape (n,)
            Their values f (e.g. the χ²), finite.

        Returns
        -------
        Learner
            The learner itself.

        Raises
        ------
        ValueError
            For empty input, NaN/inf anywhere (drop failed evaluations first), mismatched lengths
            or points outside the bounds.
        """
        p = check_points(points, self.bounds)
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
        return self.gp.predict(self._inputs(self._unit_points(points)))

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
            return self.committee.predict(self._features(self._unit_points(points)))[0]
        mu, sigma = self.posterior(points)
        return _probability_below(mu, sigma, self.threshold)

    def acquisition_values(self, points: Any, acquisition: str | None = None) -> np.ndarray:
        """Score (to maximise) of ``acquisition`` (default: the learner's) at ``points``, (n,).

        With ``region_model="committee"`` a region acquisition is the committee's score
        (:meth:`ClassifierCommittee.score`, what its region picks maximise); EI and LCB always
        come from the GP."""
        name = acquisition or self.acquisition
        if self.committee is not None and name in REGION_ACQUISITIONS:
            unit = self._unit_points(points)
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
        n = check_positive_int(n, "batch size n")
        return self._select_unit(n, self._unit_points(candidates, "candidates"))

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
        """Propose ``n`` distinct new points.

        Maximises the acquisition with the kriging believer over the generated candidate set (or
        over ``candidates``); the acquisition of each pick follows :meth:`schedule`. Candidates
        that coincide with told points are never chosen. Deterministic given the seed and the
        told data.

        Parameters
        ----------
        n : int
            Batch size, ≥ 1.
        candidates : array_like, shape (m, d), optional
            A finite pool to choose from, in physical units inside the bounds (pool-based active
            learning); default a seeded candidate set generated for this ask.

        Returns
        -------
        numpy.ndarray, shape (n, d)
            The proposed points, physical units.

        Raises
        ------
        ValueError
            If fewer than 2 points have been told, ``n`` is not a positive integer, ``candidates``
            are invalid, or ``n`` exceeds the candidates not yet evaluated.
        """
        n = check_positive_int(n, "batch size n")
        self._require_data()
        if candidates is None:
            cand = self._generated_candidates()
        else:
            cand = self._unit_points(candidates, "candidates")
        return self.from_unit(cand[self._select_unit(n, cand)])

    # ---- stopping
    @property
    def expected_region_error(self) -> float:
        """Expected misclassified fraction of the monitor sample, relative to the estimated
        region size (from the last tell)."""
        self._require_data()
        return float(self._history[-1]["expected_region_error"])

    def stop_reason(self) -> str | None:
        """``"budget"``, ``"uncertainty"``, ``"stable"`` or None (go on).

        ``"budget"``: :attr:`n_evaluated` reached ``budget``; ``"uncertainty"``: the expected
        misclassified fraction of the monitor sample (relative to the estimated region size) is at
        most ``uncertainty_tol``; ``"stable"``: the region estimate on the monitor sample changed
        by at most ``stable_tol`` (as a fraction of the union of the old and new estimates) at
        each of the last ``patience`` tells.
        """
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
        # absent for the GP: a GP learner's settings, hence its stored runs' identity, do not
        # mention the committee
        if self.committee is None:
            return {}
        return {"region_model": self.region_model,
                "region_features": None if self.region_features is None else getattr(
                    self.region_features, "__name__", repr(self.region_features)),
                "committee": self.committee.settings()}


def _probability_below(mu: np.ndarray, sigma: np.ndarray, threshold: float) -> np.ndarray:
    """``P(F < threshold)`` for ``F ~ N(mu, sigma²)`` (a step where ``sigma = 0``), shape (m,)."""
    out = (mu < threshold).astype(float)
    pos = sigma > 0
    out[pos] = ndtr((threshold - mu[pos]) / sigma[pos])
    return out
