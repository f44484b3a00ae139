"""The ALP fit end to end: best fit, profiles on the surrogate, exact checks, significance.

This module is a *use* of the surrogate (the last stage of the one-way data flow): it imports
:mod:`alps`, :mod:`data`, :mod:`design`, :mod:`stats`, :mod:`surrogate`, :mod:`smooth` and, inside
:func:`posterior`, :mod:`sampling`; only the command line imports it.

Coordinates
-----------
All minimisers work in the *search coordinates* ``z = (log10(f_a / GeV), c_qL33, c_uR, c_dR,
c_lL33, c_eR)`` (:data:`SEARCH_NAMES`, bounds :data:`SEARCH_BOUNDS` = the domain of the data): f_a
spans more than a decade, and the surrogate's features use log10 f_a too. :func:`to_search` and
:func:`from_search` convert; every public result is reported in physical parameters
(:data:`lecture_utils.alps.PARAMETERS` order, f_a in GeV). The coordinates are defined in
:mod:`lecture_utils.surrogate` (with :class:`SmoothedSurrogate`, so that chapter 7's sampler can
use them without importing this module) and re-exported here.

Best fit (:func:`best_fit`)
---------------------------
1. *Surrogate stage.* The surrogate's smooth χ² (:meth:`TwoStageSurrogate.predict_smooth`) is a
   sum of regression trees — piecewise constant, so gradients are zero almost everywhere. It is
   minimised with derivative-free methods: Nelder–Mead from several starts (the lowest-χ² points
   of the shipped training set and a seeded Latin hypercube) and one seeded differential-evolution
   run whose result is refined the same way. Nearby end points are merged into distinct
   candidates.
2. *Exact stage.* The exact ALPaca χ² is evaluated at the ``top_k`` candidates with the lowest
   surrogate χ² (the surrogate can be wrong — a gate that accepts a point with a huge true χ² —
   which is why several candidates are checked), the best one is kept, and optionally polished by
   a short Nelder–Mead on the exact χ² with a fixed budget of evaluations. Every exact evaluation
   goes through the per-point cache :func:`lecture_utils.data.evaluate_cached`, so rebuilding a
   notebook costs nothing; the candidates are evaluated in one batch, and so are the vertices of
   the polish's initial simplex (the Nelder–Mead steps after them are sequential by nature).

Everything is deterministic: the same surrogate and seed give the same point.

Profiles (:func:`profile_1d`, :func:`profile_2d`)
--------------------------------------------------
:func:`lecture_utils.stats.profile_1d` minimises the nuisance parameters with MIGRAD, which needs
derivatives — and a tree ensemble has none. :class:`SmoothedSurrogate` (defined in
:mod:`lecture_utils.surrogate`, re-exported here) replaces every split
``x_f < t`` of both stages by the probability ``Φ((t − x_f)/σ_f)`` that a Gaussian-smeared input
falls on its left (a "soft" tree): the result is the surrogate averaged over a small Gaussian
blur of its inputs, infinitely differentiable, and equal to the surrogate as the blur goes to
zero. The blur widths are given in search coordinates (:data:`DEFAULT_SMOOTHING`) and propagated to
the surrogate's features to first order. Profiles use this smoothed χ² and may start from several
points (the envelope is kept); the notebook checks that it agrees with the surrogate and evaluates
the exact χ² at the profiled points (:func:`spot_check`) — a minimiser finds the places where a
surrogate is wrongly low, so these checks are not optional.

Also here: :func:`cached_table` (ALPaca tables such as :func:`alps.observable_table` and
:func:`alps.derived_quantities`, cached point by point by :func:`lecture_utils.data.cached_table`),
:func:`posterior` (chapter 7's sampler with its result cached), :func:`significance`
(likelihood-ratio test against a nested hypothesis, Wilks' theorem) and
:func:`calibrated_significance` (re-exported from :mod:`lecture_utils.calibration`: the same
question answered with pseudo-experiments, where Wilks' theorem does not apply).
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from . import alps, data, design, stats
from . import surrogate as surrogate_module
from ._cache import building, cache_dir, code_fingerprint, content_hash
from .calibration import CalibratedSignificance, calibrated_significance
from .profiles import profile_1d, profile_2d
from .smooth import (
    DEFAULT_SMOOTHING,
    FAILED_CHI2,
    SEARCH_BOUNDS,
    SEARCH_NAMES,
    SmoothedSurrogate,
    SoftTreeEnsemble,
    from_search,
    to_search,
)

__all__ = [
    "DEFAULT_SMOOTHING",
    "SEARCH_BOUNDS",
    "SEARCH_NAMES",
    "BestFit",
    "CalibratedSignificance",
    "SmoothedSurrogate",
    "SoftTreeEnsemble",
    "best_fit",
    "cached_table",
    "calibrated_significance",
    "exact_chi2",
    "exact_posterior",
    "from_search",
    "posterior",
    "profile_1d",
    "profile_2d",
    "significance",
    "spot_check",
    "surrogate_minima",
    "to_search",
]

_SEARCH_WIDTH: np.ndarray = SEARCH_BOUNDS[:, 1] - SEARCH_BOUNDS[:, 0]

_MERGE_DISTANCE: float = 0.01
"""Surrogate minima closer than this (in units of the domain width, Euclidean) are one candidate."""


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
resolve_surrogate = surrogate_module.resolve_surrogate


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# exact evaluations (cached)
# --------------------------------------------------------------------------------------------
def exact_chi2(points: Any, *, name: str = "bestfit", executor: Any = None,
               workers: int | None = None, progress: bool | None = False) -> np.ndarray:
    """Exact ALPaca χ² at ``points`` (n, 6), shape (n,); NaN where ALPaca failed.

    One call of :func:`lecture_utils.data.evaluate_cached`: points evaluated before — in this or
    another process, in any batch — are read from the per-point cache, and the missing ones are
    evaluated together in one engine call. ``executor``/``workers`` are passed on (default: in
    this process for a handful of missing points, a local pool for more; pass a shared pool, e.g.
    ``engine.local_pool(2)``, to spread even small batches over its workers). ``name`` labels
    the cache entries written.
    """
    table = data.evaluate_cached(points, "exact", name=name, executor=executor, workers=workers,
                                 progress=progress)
    return table["chi2"].to_numpy(dtype=float)


def spot_check(points: Any, surrogate: Any = None, *, smoothed: SmoothedSurrogate | None = None,
               name: str = "profile-checks", executor: Any = None,
               workers: int | None = None) -> pd.DataFrame:
    """Exact χ² beside the surrogate's at given points, e.g. along a profile.

    A minimiser finds the places where a surrogate is wrongly low, so the points it reports
    need these checks. The exact χ² comes from :func:`exact_chi2`: one batch, cached per point.

    Parameters
    ----------
    points : array_like, shape (n, 6) or (6,)
        Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV), inside
        :data:`lecture_utils.alps.DOMAIN`.
    surrogate : TwoStageSurrogate, optional
        Default :func:`lecture_utils.surrogate.default_surrogate`; ignored when ``smoothed`` is
        given (its surrogate is used).
    smoothed : SmoothedSurrogate, optional
        Adds the smoothed χ² (:meth:`SmoothedSurrogate.chi2`).
    name : str, optional
        Label of the cache entries written.
    executor, workers : optional
        How the exact points are evaluated, passed on to :func:`exact_chi2`.

    Returns
    -------
    pandas.DataFrame
        One row per point: the six parameters, ``chi2_surrogate``
        (:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth`), ``chi2_smoothed``
        (only if ``smoothed`` is given) and ``chi2_exact`` (NaN where ALPaca failed); all χ²
        dimensionless.

    Raises
    ------
    ValueError
        For invalid points (:func:`~lecture_utils.alps.space.validate_points`) or a surrogate
        that is not a :class:`~lecture_utils.surrogate.TwoStageSurrogate`.
    """
    pts = alps.validate_points(points)
    sur = resolve_surrogate(surrogate if smoothed is None else smoothed.surrogate)
    frame = pd.DataFrame(pts, columns=list(alps.PARAMETERS))
    frame["chi2_surrogate"] = sur.predict_smooth(pts)
    if smoothed is not None:
        frame["chi2_smoothed"] = smoothed.chi2(pts)
    frame["chi2_exact"] = exact_chi2(pts, name=name, executor=executor, workers=workers)
    return frame


def _table_kinds() -> dict[Callable[..., pd.DataFrame], str]:
    """The ALPaca table functions :func:`cached_table` accepts → their kind in the cache."""
    return {getattr(alps, function): kind for kind, function in data.TABLE_KINDS.items()}


_ONE_POINT_KINDS: tuple[str, ...] = ("observables", "breakdown")


def cached_table(func: Callable[..., pd.DataFrame], points: Any,
                 integrator: alps.Integrator = "exact", *, name: str = "tables",
                 executor: Any = None, workers: int | None = None) -> pd.DataFrame:
    """``func(points, integrator)`` for an ALPaca table function, each point cached on disk.

    ``func`` is one of :func:`alps.derived_quantities`, :func:`alps.low_energy_couplings`,
    :func:`alps.observable_table` (one point) or :func:`alps.chi2_breakdown` (one point). The
    tables come from :func:`lecture_utils.data.cached_table`, the per-point evaluation cache
    (keyed by the point, the integrator, ALPaca's version and χ² convention and the source of
    :mod:`lecture_utils.alps`), so a rebuilt notebook reads them instead of running ALPaca again,
    and a point already computed for any other call is not computed twice. Missing points are
    computed in this process, or with ``executor``/``workers`` in a process pool; ``name``
    labels the entries written.
    """
    kinds = _table_kinds()
    if func not in kinds:
        raise ValueError(f"cached_table supports {[f.__name__ for f in kinds]}, got {func!r}")
    kind = kinds[func]
    alps.check_integrator(integrator)
    pts = alps.validate_points(points)
    if kind in _ONE_POINT_KINDS and len(pts) != 1:
        raise ValueError(f"{func.__name__} takes one point, got {len(pts)}")
    return data.cached_table(kind, pts, integrator, name=name, executor=executor,
                             workers=workers, progress=False)


# --------------------------------------------------------------------------------------------
# the best fit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BestFit:
    """Result of :func:`best_fit`.

    ``point``: best-fit parameters, shape (6,), :data:`alps.PARAMETERS` order, f_a in GeV.
    ``chi2_surrogate``: the surrogate's smooth χ² there; ``chi2_exact``: the exact ALPaca χ² there.
    ``candidates``: every distinct local minimum of the surrogate (columns: the parameters,
    ``chi2_surrogate``, ``chi2_exact`` — NaN where not evaluated —, ``origin`` of its start),
    sorted by surrogate χ². ``polish``: the exact evaluations of the polishing Nelder–Mead, in
    order (parameters, ``chi2_exact``). ``n_exact``: exact evaluations requested (cached ones
    included). ``fixed``: parameters held fixed (physical values). ``settings``: the arguments.
    """

    point: np.ndarray
    chi2_surrogate: float
    chi2_exact: float
    seed: int
    candidates: pd.DataFrame
    polish: pd.DataFrame
    n_exact: int
    fixed: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def starts(self, n: int = 2, min_distance: float = 0.1) -> np.ndarray:
        """Starting points for profile scans, shape (m ≤ n, 6): the best fit, then the
        exactly-evaluated candidates with the lowest exact χ² that lie at least ``min_distance``
        (in units of the domain width) from every point already chosen — other branches of the
        fit, from which a scan can reach minima that a warm start from the best fit misses."""
        n = _check_int(n, "n", 1)
        chosen = [self.point]
        evaluated = self.candidates.dropna(subset=["chi2_exact"]).sort_values(
            "chi2_exact", kind="stable")
        for p in evaluated[list(alps.PARAMETERS)].to_numpy():
            if len(chosen) >= n:
                break
            z = to_search(p)[0]
            if all(np.linalg.norm((z - to_search(c)[0]) / _SEARCH_WIDTH) >= min_distance
                   for c in chosen):
                chosen.append(p)
        return np.array(chosen)

    def as_series(self) -> pd.Series:
        """The point and both χ² values as one labelled series."""
        values = dict(zip(alps.PARAMETERS, self.point.tolist(), strict=True))
        values |= {"log10_fa": math.log10(self.point[0]), "chi2_surrogate": self.chi2_surrogate,
                   "chi2_exact": self.chi2_exact}
        return pd.Series(values, name="best fit")


def _check_fixed(fixed: Mapping[str, float] | None) -> dict[int, float]:
    """Fixed parameters (physical names and values) → {search index: search value}."""
    out: dict[int, float] = {}
    for name, value in (fixed or {}).items():
        if name not in alps.PARAMETERS:
            raise ValueError(f"cannot fix unknown parameter {name!r}; choose from "
                             f"{alps.PARAMETERS}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"fixed value of {name} must be a number, got {value!r}") from None
        lo, hi = alps.DOMAIN.bounds[alps.PARAMETERS.index(name)]
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"fixed value {name} = {value!r} is outside the domain "
                             f"[{lo:g}, {hi:g}]")
        i = alps.PARAMETERS.index(name)
        out[i] = math.log10(v) if i == 0 else v
    if len(out) == len(alps.PARAMETERS):
        raise ValueError("all parameters fixed: nothing to fit")
    return out


class _Space:
    """Free search coordinates with the fixed ones filled in."""

    def __init__(self, fixed: dict[int, float]) -> None:
        self.fixed = fixed
        self.free = np.array([i for i in range(len(SEARCH_NAMES)) if i not in fixed])
        self.bounds = SEARCH_BOUNDS[self.free]

    def full(self, zfree: np.ndarray) -> np.ndarray:
        """(m, n_free) → (m, 6) search coordinates, clipped to the bounds."""
        zf = np.atleast_2d(zfree)
        z = np.empty((len(zf), len(SEARCH_NAMES)))
        z[:, self.free] = np.clip(zf, self.bounds[:, 0], self.bounds[:, 1])
        for i, v in self.fixed.items():
            z[:, i] = v
        return z


def _initial_simplex(z0: np.ndarray, bounds: np.ndarray, step: float) -> np.ndarray:
    """The initial simplex of :func:`_nelder_mead`, shape (m + 1, m): ``z0`` and, per coordinate,
    ``z0`` moved by ``step`` × the domain width (inwards at an upper bound)."""
    width = bounds[:, 1] - bounds[:, 0]
    simplex = [z0]
    for k in range(len(z0)):
        v = z0.copy()
        d = step * width[k]
        v[k] = v[k] + d if v[k] + d <= bounds[k, 1] else v[k] - d
        simplex.append(v)
    return np.array(simplex)


def _first_evaluations(z0: np.ndarray, bounds: np.ndarray, step: float) -> np.ndarray:
    """The points a bounded Nelder–Mead of :func:`_nelder_mead` evaluates first, in order: the
    vertices of its initial simplex as scipy places them (reflected into the box at an upper
    bound, then clipped — ``scipy.optimize._optimize._minimize_neldermead``). Only used to
    evaluate them in one batch beforehand; if they ever differed from scipy's, the cache would
    simply miss and the results stay the same."""
    simplex = _initial_simplex(z0, bounds, step)
    lo, hi = bounds[:, 0], bounds[:, 1]
    return np.clip(np.where(simplex > hi, 2 * hi - simplex, simplex), lo, hi)


def _nelder_mead(fn: Callable[[np.ndarray], float], z0: np.ndarray, bounds: np.ndarray,
                 step: float, *, maxfev: int, xatol: float, fatol: float) -> np.ndarray:
    """Bounded Nelder–Mead from ``z0`` with an initial simplex of ``step`` × the domain widths."""
    res = optimize.minimize(fn, z0, method="Nelder-Mead", bounds=bounds.tolist(),
                            options={"initial_simplex": _initial_simplex(z0, bounds, step),
                                     "maxfev": maxfev, "xatol": xatol, "fatol": fatol,
                                     "adaptive": True})
    return np.clip(np.asarray(res.x, dtype=float), bounds[:, 0], bounds[:, 1])


def _training_starts(n: int) -> np.ndarray:
    """The ``n`` lowest-χ² points of the shipped training set, physical (n, 6)."""
    pts, chi2 = surrogate_module.training_arrays("train")
    order = np.lexsort((np.arange(len(chi2)), chi2))  # stable: ties by index
    return pts[order[:n]]


def surrogate_minima(surrogate: Any = None, seed: int = 0, *, n_starts: int = 16,
                     fixed: Mapping[str, float] | None = None, maxfev: int = 1500
                     ) -> pd.DataFrame:
    """Distinct local minima of the surrogate's smooth χ², lowest first (the surrogate stage of
    :func:`best_fit`).

    Starts: the ``n_starts // 2`` lowest-χ² points of the shipped training set, ``n_starts −
    n_starts // 2`` points of a Latin hypercube seeded with ``seed``, and the result of one
    differential-evolution run (scipy, seeded with ``seed``, vectorised over its population).
    From each, a bounded Nelder–Mead (at most ``maxfev`` surrogate calls) in search coordinates.
    End points closer than 1 % of the domain are merged. Returns a DataFrame with the six
    parameters (physical), ``chi2_surrogate`` and ``origin`` (``"train"``, ``"lhs"``,
    ``"differential-evolution"``), sorted by ``chi2_surrogate``.
    """
    sur = resolve_surrogate(surrogate)
    seed = _check_int(seed, "seed", 0)
    n_starts = _check_int(n_starts, "n_starts", 2)
    maxfev = _check_int(maxfev, "maxfev", 10)
    space = _Space(_check_fixed(fixed))

    def objective_batch(zfree: np.ndarray) -> np.ndarray:
        return sur.predict_smooth(from_search(space.full(zfree)))

    def objective(zfree: np.ndarray) -> float:
        return float(objective_batch(zfree)[0])

    n_train = n_starts // 2
    starts = np.vstack([_training_starts(n_train),
                        design.latin_hypercube(n_starts - n_train, seed=seed)])
    origins = ["train"] * n_train + ["lhs"] * (n_starts - n_train)
    de = optimize.differential_evolution(
        lambda zt: objective_batch(zt.T), space.bounds.tolist(), seed=seed, vectorized=True,
        updating="deferred", polish=False, popsize=20, maxiter=200, tol=1e-8)
    z_starts = [to_search(p)[0][space.free] for p in starts] + [np.asarray(de.x, dtype=float)]
    origins.append("differential-evolution")

    ends = [_nelder_mead(objective, np.clip(z0, space.bounds[:, 0], space.bounds[:, 1]),
                         space.bounds, 0.05, maxfev=maxfev, xatol=1e-4, fatol=1e-6)
            for z0 in z_starts]
    z_end = space.full(np.array(ends))
    chi2 = objective_batch(np.array(ends))
    order = np.lexsort((np.arange(len(chi2)), chi2))
    kept: list[int] = []
    for i in order:
        if all(np.linalg.norm((z_end[i] - z_end[j]) / _SEARCH_WIDTH) > _MERGE_DISTANCE
               for j in kept):
            kept.append(int(i))
    frame = pd.DataFrame(from_search(z_end[kept]), columns=list(alps.PARAMETERS))
    frame["chi2_surrogate"] = chi2[kept]
    frame["origin"] = [origins[i] for i in kept]
    return frame


class _BudgetExhausted(Exception):
    pass


def best_fit(surrogate: Any = None, seed: int = 0, *, n_starts: int = 16, top_k: int = 5,
             polish: bool = True, polish_budget: int = 15, polish_step: float = 0.02,
             fixed: Mapping[str, float] | None = None, executor: Any = None,
             workers: int | None = None,
             progress: bool | None = None) -> BestFit:
    """Best fit of the ALP parameters: surrogate minimisation, then exact verification and polish.

    Parameters
    ----------
    surrogate : TwoStageSurrogate, optional
        Default :func:`lecture_utils.surrogate.default_surrogate` (a compiled one works too).
    seed : int
        Seeds the Latin-hypercube starts and differential evolution (:func:`surrogate_minima`).
    n_starts : int
        Nelder–Mead starts on the surrogate (half lowest training points, half Latin hypercube).
    top_k : int
        Distinct surrogate minima (lowest surrogate χ² first) at which the exact χ² is evaluated.
    polish : bool
        Refine the best exact candidate with a Nelder–Mead on the exact χ².
    polish_budget : int
        Exact evaluations the polish may use (it stops when they are spent).
    polish_step : float
        Initial simplex of the polish, in units of the domain width per coordinate.
    fixed : mapping, optional
        Parameters held fixed, e.g. ``{"cuR": 0.0}`` (physical values; f_a in GeV).
    executor, workers : optional
        How exact points are evaluated (:func:`exact_chi2`; default: in this process for a
        handful of points). A shared pool, e.g. ``engine.local_pool(2)``, spreads each batch
        over its workers.
    progress : bool, optional
        Progress bar over the exact evaluations (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    BestFit
        ``point`` (6,), ``chi2_surrogate``, ``chi2_exact`` and the record of both stages. At most
        ``top_k + polish_budget`` exact evaluations, each cached per point. They need few engine
        calls: one for the ``top_k`` candidates, one for the first ``min(polish_budget, m + 1)``
        evaluations of the polish (the vertices of its initial simplex, ``m`` free parameters),
        then one per further Nelder–Mead step.
    """
    sur = resolve_surrogate(surrogate)
    top_k = _check_int(top_k, "top_k", 1)
    polish_budget = _check_int(polish_budget, "polish_budget", 0)
    if not (isinstance(polish_step, int | float) and 0 < polish_step < 1):
        raise ValueError(f"polish_step must be a number in (0, 1), got {polish_step!r}")
    fixed_idx = _check_fixed(fixed)
    space = _Space(fixed_idx)
    candidates = surrogate_minima(sur, seed, n_starts=n_starts, fixed=fixed)
    chosen = candidates.iloc[:top_k]
    chosen_pts = chosen[list(alps.PARAMETERS)].to_numpy()
    chi2_top = exact_chi2(chosen_pts, executor=executor, workers=workers, progress=progress)
    candidates["chi2_exact"] = np.nan
    candidates.loc[chosen.index, "chi2_exact"] = chi2_top
    if not np.isfinite(chi2_top).any():
        raise RuntimeError(f"the exact χ² failed at all {len(chi2_top)} surrogate candidates")
    k_best = int(np.nanargmin(chi2_top))
    best_point, best_chi2 = chosen_pts[k_best], float(chi2_top[k_best])

    trace: list[tuple[np.ndarray, float]] = []
    if polish and polish_budget > 0:
        def exact_objective(zfree: np.ndarray) -> float:
            if len(trace) >= polish_budget:
                raise _BudgetExhausted
            p = from_search(space.full(zfree))
            value = float(exact_chi2(p, executor=executor, workers=workers)[0])
            trace.append((p[0], value))
            return value if math.isfinite(value) else FAILED_CHI2

        z0 = to_search(best_point)[0][space.free]
        # the simplex's vertices are known before the polish starts: evaluate them in one batch
        # (into the cache, where exact_objective finds them); the later steps depend on them
        first = _first_evaluations(z0, space.bounds, polish_step)[:polish_budget]
        exact_chi2(np.vstack([from_search(space.full(v)) for v in first]), executor=executor,
                   workers=workers, progress=progress)
        with contextlib.suppress(_BudgetExhausted):
            _nelder_mead(exact_objective, z0, space.bounds, polish_step,
                         maxfev=polish_budget, xatol=1e-6, fatol=1e-6)
        for p, value in trace:
            if math.isfinite(value) and value < best_chi2:
                best_point, best_chi2 = p, value
    polish_frame = pd.DataFrame([p for p, _ in trace], columns=list(alps.PARAMETERS))
    polish_frame["chi2_exact"] = [v for _, v in trace]
    point = np.array(best_point, dtype=float)
    return BestFit(
        point=point, chi2_surrogate=float(sur.predict_smooth(point[None, :])[0]),
        chi2_exact=best_chi2, seed=seed, candidates=candidates, polish=polish_frame,
        n_exact=len(chosen_pts) + len(trace),
        fixed={alps.PARAMETERS[i]: (10.0**v if i == 0 else v) for i, v in fixed_idx.items()},
        settings={"n_starts": n_starts, "top_k": top_k, "polish": polish,
                  "polish_budget": polish_budget, "polish_step": polish_step})


# --------------------------------------------------------------------------------------------
# the Bayesian posterior (chapter 7's sampler), checkpointed in the cache
# --------------------------------------------------------------------------------------------
def posterior(prior: Any = "loguniform", seed: int = 0, *, surrogate: Any = None,
              progress: bool | None = None) -> Any:
    """The ALP posterior of :func:`lecture_utils.sampling.sample_posterior`, cached on disk.

    The result is stored under ``cache_dir("posteriors")``, keyed by the surrogate (training-data
    hash and model files), the prior, the seed and the source code of
    :mod:`lecture_utils.sampling`; a rebuilt notebook loads the same chain instead of sampling
    again, and any change of these samples anew. Other settings are the sampler's defaults.

    Parameters
    ----------
    prior : Prior or {"loguniform", "gaussian"}, optional
        The prior (:func:`lecture_utils.sampling.as_prior`).
    seed : int, optional
        Seed of the run, ≥ 0.
    surrogate : TwoStageSurrogate, optional
        Default: the sampler's default (the course's surrogate, compiled), which is only built
        when a run is needed.
    progress : bool, optional
        Progress bar over the steps of a new run (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    lecture_utils.sampling.PosteriorResult
        The sampler's result, without its surrogate (``surrogate`` is ``None``).

    Raises
    ------
    ValueError
        For an unknown prior, a ``seed`` that is not an integer ≥ 0, or invalid settings of the
        sampler.
    """
    import pickle

    from . import sampling

    pr = sampling.as_prior(prior)
    seed = _check_int(seed, "seed", 0)
    meta = (surrogate_module.default_surrogate() if surrogate is None else surrogate).metadata
    key = content_hash("fit.posterior", meta.get("data_hash"), meta.get("model_sha256"),
                       "default" if surrogate is None else type(surrogate).__name__, repr(pr),
                       seed, code_fingerprint(sampling))[:24]
    path = cache_dir("posteriors") / f"posterior-{key}.pkl"
    with building(path):  # one process samples, the others wait and read its chain
        if path.exists():
            with contextlib.suppress(Exception), path.open("rb") as f:  # unreadable: run again
                return pickle.load(f)
        result = sampling.sample_posterior(surrogate, prior=pr, seed=seed, progress=progress)
        result.surrogate = None  # not pickled: the key identifies it
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    return result


def exact_posterior(n_draws: int = 200, seed: int = 0, integrator: alps.Integrator = "tabulated",
                    *, prior: Any = "loguniform", chain_seed: int = 0, executor: Any = None,
                    progress: bool | None = None) -> Any:
    """The course's surrogate posterior (:func:`posterior`) reweighted to the exact χ².

    ``n_draws`` seeded draws of the chain get their exact χ² (through the engine and the
    per-point cache) and importance weights w ∝ exp(−(χ²_exact − χ²_sampled)/2), Pareto-smoothed,
    with the Pareto k̂ diagnostic (:func:`lecture_utils.reweight.reweight_posterior`).

    Parameters
    ----------
    n_draws : int, optional
        Draws to evaluate exactly.
    seed : int, optional
        Seed of the choice of draws.
    integrator : {"tabulated", "exact", "leadinglog"}, optional
        Running of the exact χ².
    prior : Prior or {"loguniform", "gaussian"}, optional
        Prior of the chain.
    chain_seed : int, optional
        Seed of the chain (:func:`posterior`).
    executor, progress
        Passed to :func:`lecture_utils.data.evaluate_cached`.

    Returns
    -------
    lecture_utils.reweight.ReweightedPosterior
        Draws, surrogate and exact χ², weights, k̂, ESS and ``summary()``.
    """
    from . import reweight

    return reweight.reweight_posterior(posterior(prior, seed=chain_seed), n_draws, seed,
                                       integrator, executor=executor, progress=progress)


# --------------------------------------------------------------------------------------------
# significance of the ALP hypothesis
# --------------------------------------------------------------------------------------------
def significance(chi2_null: float, chi2_alternative: float, dof: int) -> dict[str, float]:
    """Likelihood-ratio test of a nested null hypothesis (e.g. the Standard-Model-like point).

    ``Δχ² = chi2_null − chi2_alternative`` is compared with a χ² distribution of ``dof`` degrees
    of freedom (Wilks' theorem).

    Parameters
    ----------
    chi2_null : float
        Minimum χ² under the null hypothesis, finite.
    chi2_alternative : float
        Minimum χ² under the alternative (e.g. the best fit), finite and ≤ ``chi2_null``.
    dof : int
        Parameters the null hypothesis fixes, ≥ 1.

    Returns
    -------
    dict of str to float
        ``delta_chi2`` (Δχ² ≥ 0), ``dof``, ``pvalue`` and ``nsigma`` (two-sided
        Gaussian-equivalent, the convention of :mod:`lecture_utils.stats`: Δχ² = n² for one
        parameter is nσ; ``inf`` where the p-value underflows to 0).

    Raises
    ------
    ValueError
        For non-finite χ² values, a negative Δχ² (the alternative fits worse than the null), or a
        ``dof`` that is not an integer ≥ 1.
    """
    c0, c1 = float(chi2_null), float(chi2_alternative)
    if not (math.isfinite(c0) and math.isfinite(c1)):
        raise ValueError(f"χ² values must be finite, got {chi2_null!r}, {chi2_alternative!r}")
    delta = c0 - c1
    if delta < 0:
        raise ValueError(f"the alternative fits worse than the null (Δχ² = {delta:.4g} < 0): is "
                         "the best fit really a minimum?")
    pvalue = float(stats.chi2_pvalue(delta, dof))
    nsigma = float(stats.pvalue_to_nsigma(pvalue)) if 0 < pvalue < 1 else (
        0.0 if pvalue >= 1 else math.inf)
    return {"delta_chi2": delta, "dof": int(dof), "pvalue": pvalue, "nsigma": nsigma}
