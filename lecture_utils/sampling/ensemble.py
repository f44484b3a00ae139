"""MCMC on the surrogate posterior: emcee with vectorised log-posteriors, diagnostics, checkpoints.

The posterior of the six ALP parameters given the flavour data is

.. math::

    p(\\theta \\mid d) \\propto \\exp\\left[-\\tfrac12 \\chi^2(\\theta)\\right] \\pi(\\theta),

with χ² replaced by the surrogate's **smooth** combination
(:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth`: finite everywhere, equal to the
regressor inside the gate and growing with the gate's certainty outside) and π a :class:`Prior`;
``combination="hard"`` uses the hard combination instead (zero posterior outside the gate).
The posterior is only as good as the surrogate where the chain goes: :func:`spot_check` evaluates
the exact ALPaca χ² at posterior draws.

Coordinates
    The sampler works in the *sampling coordinates* ``θ = (log10(f_a/GeV), c_qL33, c_uR, c_dR,
    c_lL33, c_eR)`` (:data:`SAMPLING_NAMES`): f_a spans more than a decade, and a step of fixed
    size in log10 f_a is a step of fixed *relative* size in f_a. Every density in this module
    (prior and posterior) is a density in θ, i.e. with respect to ``d log10 f_a · dc``. Results
    are reported in physical parameters (:data:`lecture_utils.alps.PARAMETERS` order, f_a in GeV)
    and, for f_a, also as log10 f_a.
Priors
    flat boxes on the couplings (inside the surrogate's training domain) and, on f_a, either
    log-uniform (flat in log10 f_a over the box) or a Gaussian in log10 f_a truncated to the box
    (the reference tutorial used log10 f_a = 7.5 ± 0.2). A prior box that leaves the surrogate
    domain is refused: the trees are constant extrapolations there.
Sampler
    :class:`emcee.EnsembleSampler` with ``vectorize=True`` — the whole half-ensemble that a move
    updates is one batch call of the (compiled) surrogate — and a mix of differential-evolution
    moves (:data:`DEFAULT_MOVES`). Every random draw is seeded: the initial ball, the move choice
    and the proposals (emcee's :class:`numpy.random.RandomState`, passed in the initial
    :class:`emcee.State`), so a run is bit-reproducible and a checkpointed run resumed later
    continues the *same* chain.
Convergence
    checked every ``check_every`` steps: the chain is longer than ``tau_factor`` (50) integrated
    autocorrelation times, τ changed by less than ``tau_rtol`` since the previous check, and,
    after discarding a burn-in of 2 τ_max steps, the rank-normalised split R̂ of every parameter
    is below ``rhat_max`` and its bulk and tail effective sample sizes (arviz) exceed ``min_ess``
    (screened first on a chain thinned by τ_min / 10, :data:`SCREEN_THIN_TAUS`, since the full
    rank-normalised statistics cost seconds on long chains; the full values decide).
    The kept samples are thinned by τ_min / 2. A chain that stops at ``max_steps`` without meeting
    all criteria is marked ``converged=False``, and :meth:`PosteriorResult.summary` refuses to
    summarise it unless asked explicitly.

Import order: this module is a *use* of the surrogate: it imports :mod:`lecture_utils.alps` and,
where needed, :mod:`lecture_utils.surrogate`, :mod:`lecture_utils.compiled` (the default
surrogate) and :mod:`lecture_utils.data` (exact spot-checks); no earlier stage imports it.
"""

from __future__ import annotations

import functools
import math
import os
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import emcee
import numpy as np
import pandas as pd

from . import alps, smooth
from . import surrogate as sg
from ._progress import progress_bar

__all__ = [
    "COMBINATIONS",
    "DEFAULT_MOVES",
    "DEFAULT_N_WALKERS",
    "SAMPLING_NAMES",
    "DEMove",
    "LogPosterior",
    "NotConvergedError",
    "NpzBackend",
    "PosteriorResult",
    "Prior",
    "SnookerMove",
    "autocorr_time",
    "chain_diagnostics",
    "chain_profile",
    "default_sampling_surrogate",
    "default_moves",
    "initial_ball",
    "log_posterior",
    "make_prior",
    "metropolis",
    "posterior_mode",
    "run_ensemble",
    "sample_posterior",
    "spot_check",
    "spot_check_summary",
    "to_physical",
    "to_sampling",
]

SAMPLING_NAMES: tuple[str, ...] = smooth.SEARCH_NAMES
"""Names of the sampling coordinates θ (log10 f_a/GeV and the five couplings)."""

DEFAULT_N_WALKERS: int = 50
"""Default ensemble size, as in the reference tutorial: ~8 walkers per dimension (emcee needs at
least 2 per dimension; differential-evolution moves work better with more)."""

DEFAULT_MAX_STEPS: int = 20_000
"""Default upper limit on the chain length (steps of the whole ensemble)."""
DEFAULT_CHECK_EVERY: int = 500
"""Default number of steps between two convergence checks (and checkpoints)."""
TAU_FACTOR: float = 50.0
"""Minimum chain length in integrated autocorrelation times (emcee's recommendation)."""
TAU_RTOL: float = 0.02
"""Maximum relative change of every τ between two consecutive checks."""
RHAT_MAX: float = 1.01
"""Maximum rank-normalised split R̂ (Vehtari et al. 2021)."""
MIN_ESS: float = 400.0
"""Minimum bulk and tail ESS of every parameter (Vehtari et al. 2021: > 100 per chain for 4)."""
BURN_IN_TAUS: float = 2.0
"""Burn-in discarded, in units of the largest τ."""
THIN_TAUS: float = 0.5
"""Thinning, in units of the smallest τ."""
SCREEN_THIN_TAUS: float = 0.1
"""R̂ and ESS are first *screened* on the chain thinned by this × τ_min (R̂ and ESS hardly change
when the thinning is much shorter than τ, and the cost falls by that factor); only a chain that
passes the screen is evaluated in full, and only the full values decide."""
TAIL_PROB: tuple[float, float] = (0.05, 0.95)
"""Quantiles at which the tail ESS is evaluated (its minimum is reported)."""
LOG10_FA_TUTORIAL: tuple[float, float] = (7.5, 0.2)
"""The reference tutorial's Gaussian prior on log10(f_a/GeV): mean, standard deviation."""


class NotConvergedError(RuntimeError):
    """A chain did not meet the convergence criteria; its summaries would be misleading."""


class _SurrogateLike(Protocol):
    """What :func:`log_posterior` needs from a surrogate (a TwoStageSurrogate or compiled one)."""

    chi2_min: float
    domain: np.ndarray

    def predict_smooth(self, points: Any) -> np.ndarray: ...


# --------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------
def to_sampling(points: Any) -> np.ndarray:
    """Physical points (n, 6) → sampling coordinates θ (n, 6): f_a replaced by log10(f_a/GeV).

    The sampling coordinates are the surrogate's search coordinates
    (:func:`lecture_utils.smooth.to_search`). Raises :class:`ValueError` for a wrong shape,
    non-finite values or f_a ≤ 0.
    """
    return smooth.to_search(points)


def to_physical(theta: Any) -> np.ndarray:
    """Sampling coordinates θ (n, 6) → physical points (n, 6), f_a = 10^θ₀ GeV
    (:func:`lecture_utils.smooth.from_search`; wrong shape or non-finite → ValueError)."""
    return smooth.from_search(theta)


# --------------------------------------------------------------------------------------------
# priors
# --------------------------------------------------------------------------------------------
PriorKind = Literal["loguniform", "gaussian"]


@dataclass(frozen=True)
class Prior:
    """A prior density in the sampling coordinates θ (see the module docstring).

    ``bounds``: the support, shape (6, 2) as nested tuples, in θ (log10 f_a, couplings) — flat on
    the couplings. ``kind="loguniform"``: flat in log10 f_a on its interval;
    ``kind="gaussian"``: normal in log10 f_a with ``log10_fa_mean``/``log10_fa_sigma``, truncated
    to the interval (normalised after truncation). Build one with :func:`make_prior`.
    """

    kind: PriorKind
    bounds: tuple[tuple[float, float], ...]
    log10_fa_mean: float | None = None
    log10_fa_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("loguniform", "gaussian"):
            raise ValueError(f"unknown prior kind {self.kind!r}; choose 'loguniform' or "
                             "'gaussian'")
        b = np.asarray(self.bounds, dtype=float)
        if b.shape != (len(SAMPLING_NAMES), 2) or not np.isfinite(b).all():
            raise ValueError(f"prior bounds must be finite, shape ({len(SAMPLING_NAMES)}, 2)")
        bad = np.flatnonzero(~(b[:, 0] < b[:, 1]))
        if bad.size:
            raise ValueError(f"prior interval of {SAMPLING_NAMES[bad[0]]!r} is empty: "
                             f"{b[bad[0]].tolist()}")
        if self.kind == "gaussian":
            if self.log10_fa_mean is None or self.log10_fa_sigma is None:
                raise ValueError("a Gaussian prior needs log10_fa_mean and log10_fa_sigma")
            if not (math.isfinite(self.log10_fa_mean) and self.log10_fa_sigma > 0
                    and math.isfinite(self.log10_fa_sigma)):
                raise ValueError("log10_fa_mean must be finite and log10_fa_sigma > 0, got "
                                 f"{self.log10_fa_mean}, {self.log10_fa_sigma}")

    @property
    def bounds_array(self) -> np.ndarray:
        """Support in θ, shape (6, 2) (a copy)."""
        return np.array(self.bounds, dtype=float)

    @functools.cached_property
    def _low_high(self) -> tuple[np.ndarray, np.ndarray]:
        b = np.array(self.bounds, dtype=float)
        return b[:, 0].copy(), b[:, 1].copy()

    @property
    def physical_bounds(self) -> np.ndarray:
        """Support in physical parameters (f_a in GeV), shape (6, 2)."""
        b = self.bounds_array.copy()
        b[0] = 10.0 ** b[0]
        return b

    def _log_norm_fa(self) -> float:
        lo, hi = self.bounds_array[0]
        if self.kind == "loguniform":
            return -math.log(hi - lo)
        from scipy.special import ndtr

        mu, sd = float(self.log10_fa_mean), float(self.log10_fa_sigma)  # type: ignore[arg-type]
        mass = float(ndtr((hi - mu) / sd) - ndtr((lo - mu) / sd))
        if mass <= 0:
            raise ValueError("the Gaussian prior on log10 f_a has no mass inside its interval")
        return -math.log(sd * math.sqrt(2 * math.pi) * mass)

    @functools.cached_property
    def _log_norm(self) -> float:
        widths = np.diff(self.bounds_array[1:], axis=1).ravel()
        return self._log_norm_fa() - float(np.log(widths).sum())

    def contains(self, theta: Any) -> np.ndarray:
        """Boolean mask (n,) of sampling-coordinate points inside the support (edges included)."""
        t = np.atleast_2d(np.asarray(theta, dtype=float))
        lo, hi = self._low_high
        return np.all((t >= lo) & (t <= hi), axis=1)

    def log_prob(self, theta: Any) -> np.ndarray:
        """Normalised log prior density in θ, shape (n,); ``-inf`` outside the support."""
        t = np.atleast_2d(np.asarray(theta, dtype=float))
        out = np.full(len(t), -np.inf)
        inside = self.contains(t)
        const = self._log_norm
        if self.kind == "loguniform":
            out[inside] = const
        else:
            z = (t[inside, 0] - float(self.log10_fa_mean)) / float(self.log10_fa_sigma)  # type: ignore[arg-type]
            out[inside] = const - 0.5 * z**2
        return out

    def log10_fa_density(self, log10_fa: Any) -> np.ndarray:
        """Marginal prior density of log10(f_a/GeV) (couplings integrated out), same shape as
        ``log10_fa``; 0 outside the f_a range."""
        x = np.asarray(log10_fa, dtype=float)
        lo, hi = self.bounds_array[0]
        log_density = np.full(x.shape, self._log_norm_fa())
        if self.kind == "gaussian":
            z = (x - float(self.log10_fa_mean)) / float(self.log10_fa_sigma)  # type: ignore[arg-type]
            log_density = log_density - 0.5 * z**2
        return np.where((x >= lo) & (x <= hi), np.exp(log_density), 0.0)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` seeded draws from the prior, sampling coordinates, shape (n, 6)."""
        from scipy.stats import truncnorm

        rng = np.random.default_rng(seed)
        lo, hi = self.bounds_array.T
        t = lo + rng.random((int(n), len(lo))) * (hi - lo)
        if self.kind == "gaussian":
            mu, sd = float(self.log10_fa_mean), float(self.log10_fa_sigma)  # type: ignore[arg-type]
            t[:, 0] = truncnorm.rvs((lo[0] - mu) / sd, (hi[0] - mu) / sd, loc=mu, scale=sd,
                                    size=int(n), random_state=rng)
        return t

    def describe(self) -> str:
        """One line: the prior in words."""
        b = self.bounds_array
        fa = (f"log10 f_a ~ U[{b[0, 0]:.3g}, {b[0, 1]:.3g}]" if self.kind == "loguniform" else
              f"log10 f_a ~ N({self.log10_fa_mean:g}, {self.log10_fa_sigma:g}²) on "
              f"[{b[0, 0]:.3g}, {b[0, 1]:.3g}]")
        same = np.all(b[1:] == b[1])
        cs = (f"couplings ~ U[{b[1, 0]:g}, {b[1, 1]:g}]" if same else
              "couplings ~ " + ", ".join(f"{n}∈[{lo:g}, {hi:g}]"
                                         for n, (lo, hi) in zip(SAMPLING_NAMES[1:], b[1:],
                                                                strict=True)))
        return f"{fa}; {cs}"


def _check_inside(bounds_theta: np.ndarray, domain_physical: np.ndarray, what: str) -> None:
    """Raise if the θ box ``bounds_theta`` (6, 2) leaves the physical box ``domain_physical``."""
    dom = np.asarray(domain_physical, dtype=float).copy()
    if dom.shape != (len(SAMPLING_NAMES), 2):
        raise ValueError(f"{what} must have shape (6, 2), got {dom.shape}")
    dom[0] = np.log10(dom[0])
    tol = 1e-12 * np.maximum(1.0, np.abs(dom))
    for k, name in enumerate(SAMPLING_NAMES):
        lo, hi = bounds_theta[k]
        if lo < dom[k, 0] - tol[k, 0] or hi > dom[k, 1] + tol[k, 1]:
            phys = alps.PARAMETERS[k]
            shown = (f"[{10**lo:.4g}, {10**hi:.4g}] GeV" if k == 0 else f"[{lo:g}, {hi:g}]")
            dshown = (f"[{10**dom[0, 0]:.4g}, {10**dom[0, 1]:.4g}] GeV" if k == 0 else
                      f"[{dom[k, 0]:g}, {dom[k, 1]:g}]")
            raise ValueError(f"prior range of {phys!r} ({name}) {shown} leaves the {what} "
                             f"{dshown}; the surrogate is not trained there")


def make_prior(kind: PriorKind = "loguniform", *,
               log10_fa_mean: float = LOG10_FA_TUTORIAL[0],
               log10_fa_sigma: float = LOG10_FA_TUTORIAL[1],
               fa_range_gev: tuple[float, float] | None = None,
               coupling_range: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
               domain: np.ndarray | None = None) -> Prior:
    """Build a :class:`Prior`.

    ``kind``: ``"loguniform"`` (flat in log10 f_a) or ``"gaussian"`` (log10 f_a ~
    N(``log10_fa_mean``, ``log10_fa_sigma``²), default the tutorial's 7.5 ± 0.2, truncated to the
    f_a range). ``fa_range_gev``: (low, high) in GeV, default the domain's; ``coupling_range``:
    one (low, high) for all five couplings or five pairs, default the domain's. ``domain``:
    physical box (6, 2) the prior must stay inside (default :data:`lecture_utils.alps.DOMAIN`;
    pass ``surrogate.domain`` to check against a surrogate). A range outside it, an empty range
    or f_a ≤ 0 raises :class:`ValueError`.
    """
    dom = alps.DOMAIN.bounds if domain is None else np.asarray(domain, dtype=float)
    if dom.shape != (len(SAMPLING_NAMES), 2):
        raise ValueError(f"domain must have shape (6, 2), got {dom.shape}")
    fa = tuple(dom[0]) if fa_range_gev is None else tuple(float(v) for v in fa_range_gev)
    if len(fa) != 2 or not (0 < fa[0] < fa[1]) or not all(map(math.isfinite, fa)):
        raise ValueError("fa_range_gev must be (low, high) in GeV with 0 < low < high, got "
                         f"{fa_range_gev}")
    if coupling_range is None:
        cr = [tuple(r) for r in dom[1:]]
    else:
        arr = np.asarray(coupling_range, dtype=float)
        if arr.shape == (2,):
            cr = [tuple(arr)] * (len(SAMPLING_NAMES) - 1)
        elif arr.shape == (len(SAMPLING_NAMES) - 1, 2):
            cr = [tuple(r) for r in arr]
        else:
            raise ValueError("coupling_range must be one (low, high) pair or five pairs, got "
                             f"shape {arr.shape}")
    bounds = ((math.log10(fa[0]), math.log10(fa[1])),) + tuple(
        (float(lo), float(hi)) for lo, hi in cr)
    prior = Prior(kind, bounds, float(log10_fa_mean) if kind == "gaussian" else None,
                  float(log10_fa_sigma) if kind == "gaussian" else None)
    _check_inside(prior.bounds_array, dom, "domain")
    return prior


def as_prior(prior: Prior | str) -> Prior:
    if isinstance(prior, Prior):
        return prior
    if isinstance(prior, str):
        return make_prior(prior)  # type: ignore[arg-type]
    raise ValueError(f"prior must be a Prior or 'loguniform'/'gaussian', got {prior!r}")


# --------------------------------------------------------------------------------------------
# the posterior
# --------------------------------------------------------------------------------------------
Combination = Literal["smooth", "hard"]
COMBINATIONS: tuple[str, ...] = ("smooth", "hard")
"""How the surrogate's two stages enter the likelihood: ``"smooth"``
(:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth`, the default: finite
everywhere, walkers outside the gate are pulled back) or ``"hard"``
(:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict`: zero posterior outside the gate)."""


def _check_combination(combination: str) -> str:
    if combination not in COMBINATIONS:
        raise ValueError(f"unknown combination {combination!r}; choose one of {COMBINATIONS}")
    return combination


def log_posterior(points: Any, surrogate: _SurrogateLike, prior: Prior | str, *,
                  combination: Combination = "smooth") -> np.ndarray:
    """Unnormalised log posterior density in θ at physical ``points`` (n, 6) → (n,).

    ``log π(θ) − (χ²(x) − χ²_min) / 2`` with χ² the surrogate's smooth combination (default;
    ``combination="hard"``: the hard one, so ``-inf`` where the gate rejects a point) and χ²_min
    its training minimum (a constant, so that values near the best fit are O(1)); ``-inf``
    outside the prior support (the surrogate is not called there). One batch call of the
    surrogate for all points inside the support. Raises :class:`ValueError` for non-finite
    points, a wrong shape, an unknown combination, or a prior box that leaves
    ``surrogate.domain``.
    """
    pr = as_prior(prior)
    _check_combination(combination)
    _check_inside(pr.bounds_array, surrogate.domain, "surrogate's training domain")
    pts = alps.validate_points(points, allow_extrapolation=True)
    theta = pts.copy()
    theta[:, 0] = np.log10(pts[:, 0])
    return _log_posterior(pts, theta, surrogate, pr, combination)


def _log_posterior(pts: np.ndarray, theta: np.ndarray, surrogate: Any, prior: Prior,
                   combination: str = "smooth") -> np.ndarray:
    """:func:`log_posterior` without the input checks (the caller made them)."""
    predict = surrogate.predict_smooth if combination == "smooth" else surrogate.predict
    out = prior.log_prob(theta)
    inside = out > -np.inf
    if inside.all():
        chi2 = np.asarray(predict(pts), dtype=float)
        return out - 0.5 * (chi2 - float(surrogate.chi2_min))
    if inside.any():
        chi2 = np.asarray(predict(pts[inside]), dtype=float)
        out[inside] = out[inside] - 0.5 * (chi2 - float(surrogate.chi2_min))
    return out


class LogPosterior:
    """:func:`log_posterior` as a function of the sampling coordinates θ — what emcee calls.

    ``LogPosterior(surrogate, prior)(theta)``: θ of shape (n, 6) → (n,) in one surrogate call
    (``vectorize=True``), or one θ of shape (6,) → float (the per-walker pattern);
    ``combination`` as in :func:`log_posterior`. The prior box is checked against
    ``surrogate.domain`` once, at construction; θ must be finite.
    ``n_points`` counts the points evaluated so far.
    """

    def __init__(self, surrogate: _SurrogateLike, prior: Prior | str, *,
                 combination: Combination = "smooth") -> None:
        self.surrogate = surrogate
        self.prior = as_prior(prior)
        self.combination = _check_combination(combination)
        _check_inside(self.prior.bounds_array, surrogate.domain, "surrogate's training domain")
        self.n_points = 0

    def __call__(self, theta: np.ndarray) -> np.ndarray | float:
        p = to_physical(theta)  # validates shape and finiteness
        t = np.array(theta, dtype=float, ndmin=2)
        self.n_points += len(p)
        lp = _log_posterior(p, t, self.surrogate, self.prior, self.combination)
        return float(lp[0]) if np.ndim(theta) == 1 else lp


# --------------------------------------------------------------------------------------------
# starting points
# --------------------------------------------------------------------------------------------
def posterior_mode(surrogate: _SurrogateLike, prior: Prior | str = "loguniform", *,
                   n_random: int = 4096, n_starts: int = 4, seed: int = 0,
                   max_evaluations: int = 1000, combination: Combination = "smooth"
                   ) -> tuple[np.ndarray, float]:
    """Approximate maximum of the posterior (sampling coordinates (6,), log posterior).

    ``n_random`` seeded prior draws are evaluated in one batch; Nelder–Mead (no gradients: a
    tree ensemble is piecewise constant) starts from the ``n_starts`` best of them, with at most
    ``max_evaluations`` posterior evaluations each, and the best result is returned. With the
    log-uniform prior this is the surrogate's best fit in the box. Only the walkers' starting
    point depends on it: the burn-in forgets it.
    """
    from scipy.optimize import minimize

    pr = as_prior(prior)
    if n_random < 1 or n_starts < 1:
        raise ValueError("n_random and n_starts must be ≥ 1")
    fn = LogPosterior(surrogate, pr, combination=combination)
    draws = pr.sample(int(n_random), seed)
    lp = np.asarray(fn(draws))
    order = np.argsort(-lp, kind="stable")[: int(n_starts)]
    widths = np.diff(pr.bounds_array, axis=1).ravel()

    def neg(t: np.ndarray) -> float:
        value = float(fn(t))
        return 1e300 if not np.isfinite(value) else -value

    best_t, best_lp = draws[order[0]], float(lp[order[0]])
    for k in order:
        simplex = draws[k] + np.vstack([np.zeros(len(widths)), np.diag(0.05 * widths)])
        simplex = np.clip(simplex, *pr.bounds_array.T)
        res = minimize(neg, draws[k], method="Nelder-Mead",
                       options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-6,
                                "maxfev": int(max_evaluations)})
        if -res.fun > best_lp and pr.contains(res.x)[0]:
            best_t, best_lp = np.asarray(res.x, dtype=float), float(-res.fun)
    return best_t, best_lp


def initial_ball(center: Any, n_walkers: int, prior: Prior, *, seed: int,
                 scale: float = 0.01,
                 log_prob: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Seeded initial walkers: a Gaussian ball around ``center`` (θ, shape (6,)).

    The ball's standard deviation is ``scale`` × the prior width of each coordinate; draws
    outside the support (or, with ``log_prob``, with non-finite log probability) are redrawn.
    Returns shape (n_walkers, 6).
    """
    c = np.asarray(center, dtype=float)
    if c.shape != (len(SAMPLING_NAMES),) or not np.isfinite(c).all():
        raise ValueError(f"center must be a finite point of shape ({len(SAMPLING_NAMES)},)")
    if not prior.contains(c)[0]:
        raise ValueError("center lies outside the prior support")
    rng = np.random.default_rng(seed)
    widths = np.diff(prior.bounds_array, axis=1).ravel()
    out = np.empty((int(n_walkers), len(c)))
    filled = 0
    for _ in range(1000):
        draw = c + scale * widths * rng.standard_normal((int(n_walkers), len(c)))
        ok = prior.contains(draw)
        if log_prob is not None and ok.any():
            ok[ok] = np.isfinite(np.asarray(log_prob(draw[ok])))
        take = draw[ok][: int(n_walkers) - filled]
        out[filled:filled + len(take)] = take
        filled += len(take)
        if filled == n_walkers:
            return out
    raise ValueError("could not place the walkers inside the prior support around center")


# --------------------------------------------------------------------------------------------
# the textbook algorithm (teaching)
# --------------------------------------------------------------------------------------------
def metropolis(log_prob: Callable[[np.ndarray], float], x0: Any, n_steps: int, *,
               step_size: Any, seed: int) -> tuple[np.ndarray, float]:
    """Random-walk Metropolis–Hastings with Gaussian proposals (the textbook algorithm).

    ``log_prob``: one point (ndim,) → log density (``-inf`` allowed); ``x0``: start (ndim,),
    finite with finite log density; ``step_size``: proposal standard deviation, scalar or
    (ndim,). Proposal ``x' = x + step_size · N(0, 1)`` (symmetric), accepted with probability
    ``min(1, p(x')/p(x))``. Returns the chain (n_steps + 1, ndim), start included, and the
    acceptance fraction. Seeded; for teaching and tests (one point per call, no vectorisation).
    """
    x = np.array(x0, dtype=float)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError("x0 must be a finite 1-D point")
    scale = np.broadcast_to(np.asarray(step_size, dtype=float), x.shape)
    if not (scale > 0).all():
        raise ValueError("step_size must be > 0")
    lp = float(log_prob(x))
    if not np.isfinite(lp):
        raise ValueError("log_prob(x0) is not finite")
    rng = np.random.default_rng(seed)
    chain = np.empty((int(n_steps) + 1, x.size))
    chain[0] = x
    accepted = 0
    noise = rng.standard_normal((int(n_steps), x.size)) * scale
    log_u = np.log(rng.random(int(n_steps)))
    for k in range(int(n_steps)):
        proposal = x + noise[k]
        lp_new = float(log_prob(proposal))
        if log_u[k] < lp_new - lp:
            x, lp = proposal, lp_new
            accepted += 1
        chain[k + 1] = x
    return chain, accepted / max(1, int(n_steps))


# --------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------
def autocorr_time(chain: Any) -> np.ndarray:
    """Integrated autocorrelation time per parameter, in steps, of a chain (n_steps, n_walkers,
    ndim) — emcee's estimator (autocorrelation averaged over walkers, Sokal's automatic window
    with c = 5), without its length check (judge that with ``n_steps / τ``). A parameter on
    which some walker never moved gets τ = inf."""
    x = np.asarray(chain, dtype=float)
    if x.ndim != 3 or x.shape[0] < 2:
        raise ValueError(f"chain must have shape (n_steps ≥ 2, n_walkers, ndim), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("chain has non-finite values")
    # a walker that never moved has no autocorrelation function (0/0): τ = inf for that
    # parameter (the chain has not mixed at all)
    stuck = np.any(np.ptp(x, axis=0) == 0, axis=0)
    tau = np.full(x.shape[2], np.inf)
    if (~stuck).any():
        moving = x[:, :, ~stuck]
        # τ does not depend on the scale; dividing by the largest |value| keeps the FFT of a
        # chain with huge excursions from overflowing
        moving = moving / np.max(np.abs(moving), axis=(0, 1))
        tau[~stuck] = _integrated_time(moving)
    return tau


def _integrated_time(x: np.ndarray, c: float = 5.0) -> np.ndarray:
    """emcee's ``integrated_time(x, c, tol=0)`` for x (n_steps, n_walkers, ndim), computed with
    one real FFT per parameter over all walkers at once, zero-padded to the shortest fast length
    ≥ 2 n − 1 (enough for the linear autocorrelation; emcee pads each walker to twice the next
    power of two with a complex FFT): the same estimator, equal to rounding, ~5× faster."""
    from scipy import fft

    n = len(x)
    size = fft.next_fast_len(2 * n - 1, real=True)
    tau = np.empty(x.shape[2])
    for k in range(x.shape[2]):
        y = np.ascontiguousarray((x[:, :, k] - x[:, :, k].mean(axis=0)).T)  # (walker, step)
        f = fft.rfft(y, n=size, axis=1)
        acf = fft.irfft(f.real**2 + f.imag**2, n=size, axis=1)[:, :n]
        mean_acf = (acf / acf[:, :1]).mean(axis=0)
        taus = 2.0 * np.cumsum(mean_acf) - 1.0
        tau[k] = taus[emcee.autocorr.auto_window(taus, c)]
    return tau


def chain_diagnostics(chain: Any) -> dict[str, np.ndarray]:
    """τ, rank-normalised split R̂ and bulk/tail ESS per parameter of a chain (n_steps,
    n_walkers, ndim), each walker treated as one chain (arviz-stats, Vehtari et al. 2021).

    Returns ``{"tau": (ndim,) steps, "rhat": (ndim,), "ess_bulk": (ndim,), "ess_tail": (ndim,)}``
    (ESS in number of draws of the whole ensemble; tail ESS is the smaller of the ESS of the
    :data:`TAIL_PROB` quantiles).
    """
    x = np.asarray(chain, dtype=float)
    tau = autocorr_time(x)
    rhat, bulk, tail = _rhat_ess(x)
    return {"tau": tau, "rhat": rhat, "ess_bulk": bulk, "ess_tail": tail}


def _rhat_ess(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # arviz 1.x: the array functions live in arviz_stats (``arviz.rhat`` is the same function;
    # importing arviz_stats alone avoids loading the plotting half of arviz)
    import arviz_stats as azs

    if x.ndim != 3 or x.shape[0] < 4:
        raise ValueError(f"need a chain of shape (n_steps ≥ 4, n_walkers, ndim), got {x.shape}")
    per_chain = np.ascontiguousarray(np.transpose(x, (1, 0, 2)))  # (chain, draw, ndim)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = np.asarray(azs.rhat(per_chain, method="rank"), dtype=float)
        bulk = np.asarray(azs.ess(per_chain, method="bulk"), dtype=float)
        tail = np.asarray(azs.ess(per_chain, method="tail", prob=TAIL_PROB), dtype=float)
    return rhat, bulk, tail


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
class NpzBackend(emcee.backends.Backend):
    """An emcee backend kept in memory and written to a ``.npz`` file by :meth:`save`.

    Holds what emcee needs to continue a chain exactly: positions, log probabilities, accepted
    counts, iteration and the state of emcee's random generator, plus a ``key`` identifying the
    run (a run with another key refuses to resume from it). Writes are atomic (temporary file,
    then rename). Use :func:`run_ensemble` with ``backend_path="….npz"``.
    """

    def __init__(self, path: str | Path, key: str = "") -> None:
        super().__init__()
        self.path = Path(path)
        self.key = key

    @classmethod
    def load(cls, path: str | Path) -> NpzBackend:
        """Read a checkpoint written by :meth:`save`."""
        path = Path(path)
        with np.load(path, allow_pickle=False) as f:
            b = cls(path, str(f["key"]))
            chain = np.asarray(f["chain"], dtype=float)
            b.reset(chain.shape[1], chain.shape[2])
            b.chain = chain
            b.log_prob = np.asarray(f["log_prob"], dtype=float)
            b.accepted = np.asarray(f["accepted"], dtype=float)
            b.iteration = int(f["iteration"])
            b.random_state = (str(f["rs_name"]), np.asarray(f["rs_keys"], dtype=np.uint32),
                              int(f["rs_pos"]), int(f["rs_has_gauss"]),
                              float(f["rs_cached_gaussian"]))
        if b.iteration != len(b.chain):
            raise ValueError(f"checkpoint {path} is inconsistent (iteration {b.iteration}, "
                             f"{len(b.chain)} stored steps)")
        return b

    def save(self) -> Path:
        """Write the chain so far to :attr:`path` (atomically)."""
        if self.iteration < 1 or self.random_state is None:
            raise ValueError("nothing to checkpoint: the chain has no steps yet")
        name, keys, pos, has_gauss, cached = self.random_state
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp.npz")
        np.savez(tmp, key=np.asarray(self.key), chain=self.chain[: self.iteration],
                 log_prob=self.log_prob[: self.iteration], accepted=self.accepted,
                 iteration=np.asarray(self.iteration), rs_name=np.asarray(name),
                 rs_keys=np.asarray(keys, dtype=np.uint32), rs_pos=np.asarray(pos),
                 rs_has_gauss=np.asarray(has_gauss), rs_cached_gaussian=np.asarray(cached))
        os.replace(tmp, self.path)
        return self.path


def _open_backend(path: str | Path, key: str, shape: tuple[int, int]) -> tuple[Any, bool]:
    """(backend, resumed) for a checkpoint path: ``.h5``/``.hdf5`` → emcee's HDFBackend (needs
    h5py), anything else → :class:`NpzBackend`."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        try:
            import h5py  # noqa: F401
        except ImportError:
            raise ValueError(f"checkpoint {path}: HDF5 checkpoints need the package h5py, which "
                             "is not installed; use a .npz path instead") from None
        backend = emcee.backends.HDFBackend(str(path), name=f"mcmc-{key[:16]}")
        resumed = path.exists() and backend.initialized and backend.iteration > 0
        if resumed and backend.shape != shape:
            raise ValueError(f"checkpoint {path} holds {backend.shape} (walkers, dim), not {shape}")
        return backend, resumed
    if path.exists():
        backend = NpzBackend.load(path)
        if backend.key != key:
            raise ValueError(f"checkpoint {path} was written by a different run (other settings, "
                             "seed, prior or surrogate); delete it or choose another path")
        if backend.shape != shape:
            raise ValueError(f"checkpoint {path} holds {backend.shape} (walkers, dim), not {shape}")
        return backend, True
    return NpzBackend(path, key), False


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass
class PosteriorResult:
    """The outcome of an MCMC run (see :func:`sample_posterior` and :func:`run_ensemble`).

    ``samples``
        kept draws (burn-in removed, thinned), *physical* parameters, shape (n, ndim) —
        for the ALP posterior in :data:`lecture_utils.alps.PARAMETERS` order, f_a in GeV;
    ``log_prob``
        log posterior of each kept draw, shape (n,);
    ``chain``, ``chain_log_prob``
        the raw chain in *sampling* coordinates (log10 f_a), shape (n_steps, n_walkers, ndim),
        and its log probabilities, shape (n_steps, n_walkers);
    ``tau``, ``rhat``, ``ess_bulk``, ``ess_tail``
        per sampling coordinate: integrated autocorrelation time (steps, full chain), rank split
        R̂ and bulk/tail ESS (after burn-in);
    ``acceptance_fraction`` (n_walkers,), ``wall_seconds`` (sampling only), ``n_steps``,
    ``burn_in`` and ``thin`` (steps), ``converged`` and ``checks`` (one row per convergence
    check: step, τ per coordinate, criteria), ``n_evaluations`` (posterior points evaluated).
    """

    samples: np.ndarray
    log_prob: np.ndarray
    chain: np.ndarray
    chain_log_prob: np.ndarray
    names: tuple[str, ...]
    sampling_names: tuple[str, ...]
    tau: np.ndarray
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    acceptance_fraction: np.ndarray
    wall_seconds: float
    n_steps: int
    burn_in: int
    thin: int
    converged: bool
    reasons: tuple[str, ...]
    checks: pd.DataFrame
    n_evaluations: int
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    prior: Prior | None = None
    surrogate: Any = field(default=None, repr=False, compare=False)
    setup_seconds: float = 0.0

    @property
    def n_walkers(self) -> int:
        return int(self.chain.shape[1])

    @property
    def is_alp(self) -> bool:
        """Whether the parameters are the ALP's (enables f_a / log10 f_a handling)."""
        return tuple(self.names) == alps.PARAMETERS

    @property
    def log10_fa(self) -> np.ndarray:
        """log10(f_a/GeV) of the kept draws, shape (n,) (ALP posteriors only)."""
        if not self.is_alp:
            raise ValueError("log10_fa exists only for the ALP parameters")
        return np.log10(self.samples[:, 0])

    def samples_frame(self) -> pd.DataFrame:
        """Kept draws as a table: physical columns (for the ALP also ``log10_fa``) and
        ``log_prob``."""
        df = pd.DataFrame(self.samples, columns=list(self.names))
        if self.is_alp:
            df.insert(1, "log10_fa", self.log10_fa)
        df["log_prob"] = self.log_prob
        return df

    def diagnostics(self) -> pd.DataFrame:
        """τ (steps), N/τ, R̂, bulk and tail ESS per sampling coordinate."""
        return pd.DataFrame({"tau": self.tau, "n_over_tau": self.n_steps / self.tau,
                             "rhat": self.rhat, "ess_bulk": self.ess_bulk,
                             "ess_tail": self.ess_tail},
                            index=pd.Index(self.sampling_names, name="parameter"))

    def summary(self, *, allow_unconverged: bool = False) -> pd.DataFrame:
        """Mean, std, median and equal-tailed 68 % / 95 % credible intervals per parameter.

        Rows: every physical parameter (for the ALP: ``fa`` in GeV, ``log10_fa``, couplings),
        with the diagnostics of its sampling coordinate (R̂ and ESS are rank-based, hence the
        same for f_a and log10 f_a). A chain that did not converge raises
        :class:`NotConvergedError` listing the failed criteria; with ``allow_unconverged=True``
        it is summarised anyway, with a warning and ``converged = False`` in every row.
        """
        if not self.converged:
            msg = ("the chain did not converge (" + "; ".join(self.reasons) + "); its summary "
                   "would be misleading — run longer (max_steps) or inspect the trace")
            if not allow_unconverged:
                raise NotConvergedError(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        df = self.samples_frame().drop(columns="log_prob")
        q = df.quantile([0.025, 0.16, 0.5, 0.84, 0.975]).T
        q.columns = ["q02.5", "q16", "median", "q84", "q97.5"]
        out = pd.DataFrame({"mean": df.mean(), "std": df.std(ddof=1)}).join(q)
        diag = self.diagnostics()
        coord = {n: n for n in self.sampling_names}
        if self.is_alp:
            coord |= {"fa": "log10_fa"}
        out["tau"] = [diag.loc[coord.get(n, n), "tau"] if coord.get(n, n) in diag.index
                      else np.nan for n in out.index]
        for col in ("rhat", "ess_bulk", "ess_tail"):
            out[col] = [diag.loc[coord.get(n, n), col] if coord.get(n, n) in diag.index
                        else np.nan for n in out.index]
        out["converged"] = bool(self.converged)
        out.index.name = "parameter"
        return out


# --------------------------------------------------------------------------------------------
# the sampler loop
# --------------------------------------------------------------------------------------------
class _VectorisedAccept(emcee.moves.RedBlueMove):
    """Red-blue ``propose`` with the accept/reject step done for all walkers at once.

    Same algorithm and the same random numbers, in the same order, as
    :meth:`emcee.moves.RedBlueMove.propose` (which loops over walkers in Python, drawing one
    uniform number per walker): ``RandomState.rand(n)`` returns exactly the next n values of n
    calls to ``rand()``, so chains are bit-identical to emcee's (tested).
    """

    def propose(self, model: Any, state: Any) -> tuple[Any, np.ndarray]:
        nwalkers, ndim = state.coords.shape
        if nwalkers < 2 * ndim and not self.live_dangerously:
            raise RuntimeError("It is unadvisable to use a red-blue move with fewer walkers "
                               "than twice the number of dimensions.")
        self.setup(state.coords)
        accepted = np.zeros(nwalkers, dtype=bool)
        inds = np.arange(nwalkers) % self.nsplits
        if self.randomize_split:
            model.random.shuffle(inds)
        for split in range(self.nsplits):
            subset = inds == split
            sets = [state.coords[inds == j] for j in range(self.nsplits)]
            q, factors = self.get_proposal(sets[split], sets[:split] + sets[split + 1:],
                                           model.random)
            new_log_probs, new_blobs = model.compute_log_prob_fn(q)
            log_ratio = factors + new_log_probs - state.log_prob[subset]
            accepted[subset] = log_ratio > np.log(model.random.rand(int(subset.sum())))
            new_state = emcee.State(q, log_prob=new_log_probs, blobs=new_blobs)
            state = self.update(state, new_state, accepted, subset)
        return state, accepted


class DEMove(_VectorisedAccept, emcee.moves.DEMove):
    """:class:`emcee.moves.DEMove` (differential evolution, ter Braak 2006; γ-jitter as in
    Nelson et al. 2014) with the vectorised accept step of :class:`_VectorisedAccept`:
    identical chains, less Python overhead per step."""


class SnookerMove(_VectorisedAccept):
    """Differential-evolution *snooker* update (ter Braak & Vrugt 2008), vectorised.

    For a walker x and three distinct walkers z, z₁, z₂ of the complementary half-ensemble, the
    proposal moves x along the line through z: with u = (x − z)/|x − z|,
    ``x' = x + γ_s u·[u·(z₁ − z₂)]`` (γ_s = 1.7), accepted with the extra factor
    ``(|x' − z| / |x − z|)^(d−1)`` that keeps the move reversible. Long jumps along the
    directions in which the ensemble is spread make it robust on curved and multi-modal targets.

    The projection uses the Euclidean metric, so the move is invariant under translations,
    rotations and a common change of units of all parameters (not under general affine maps,
    unlike :class:`DEMove`).

    Why not :class:`emcee.moves.DESnookerMove`: in emcee ≤ 3.1.6 it normalises ``x − z`` by
    ``sqrt(|x − z|)`` instead of ``|x − z|`` and uses the exponent (d − 1)/2 — its step then
    grows like the *square* of the parameters' unit, so it is not even invariant under a change
    of units, and the acceptance factor does not match the proposal (fixed upstream in emcee pull
    request #531, after the 3.1.6 release). ``tests/test_sampling.py`` checks this implementation
    on correlated Gaussians and its invariance under a change of units.
    """

    def __init__(self, gammas: float = 1.7, **kwargs: Any) -> None:
        self.gammas = float(gammas)
        super().__init__(**kwargs)

    def get_proposal(self, s: np.ndarray, c: list[np.ndarray], random: Any
                     ) -> tuple[np.ndarray, np.ndarray]:
        comp = np.concatenate(c, axis=0)
        ns, ndim = s.shape
        if len(comp) < 3:
            raise ValueError("the snooker move needs at least 3 walkers in the complement")
        # three distinct complementary walkers per walker: z, z1, z2
        pick = np.argsort(random.random_sample((ns, len(comp))), axis=1)[:, :3]
        z, z1, z2 = comp[pick[:, 0]], comp[pick[:, 1]], comp[pick[:, 2]]
        delta = s - z
        norm = np.linalg.norm(delta, axis=1)
        safe = norm > 0
        u = np.zeros_like(delta)
        u[safe] = delta[safe] / norm[safe, None]
        step = self.gammas * np.einsum("ij,ij->i", u, z1 - z2)
        q = s + u * step[:, None]
        factor = np.zeros(ns)
        new_norm = np.linalg.norm(q - z, axis=1)
        ok = safe & (new_norm > 0)
        factor[ok] = (ndim - 1.0) * (np.log(new_norm[ok]) - np.log(norm[ok]))
        factor[safe & ~ok] = -np.inf
        return q, factor


def default_moves() -> list[tuple[Any, float]]:
    """80 % differential-evolution moves, 20 % snooker moves (fresh objects each call).

    :class:`DEMove` (ter Braak 2006, in the variant of Nelson et al. 2014) proposes
    ``x + γ (x_j − x_k)`` with two other walkers j, k and γ ≈ 2.38/√(2d): the ensemble's own
    spread sets the scale and the orientation (the move is affine invariant), which suits
    elongated, correlated posteriors; :class:`SnookerMove` (ter Braak & Vrugt 2008) jumps along
    lines through other walkers, which helps with non-Gaussian shapes and separated modes.
    """
    return [(DEMove(), 0.8), (SnookerMove(), 0.2)]


DEFAULT_MOVES: str = "DEMove 0.8 + SnookerMove 0.2"
"""Human-readable description of :func:`default_moves`."""


class _Sampler(emcee.EnsembleSampler):
    """:class:`emcee.EnsembleSampler` whose vectorised log-probability call skips emcee's
    per-walker conversion loop (no blobs; the function must return shape (n,); NaN is still
    refused). A proposal with non-finite coordinates (an overflowing move) gets log probability
    ``-inf`` — it is rejected — instead of aborting the run; the function never sees it."""

    def compute_log_prob(self, coords: np.ndarray) -> tuple[np.ndarray, None]:
        finite = np.isfinite(coords).all(axis=1)
        if not finite.all():
            log_prob = np.full(len(coords), -np.inf)
            if finite.any():
                log_prob[finite] = self.compute_log_prob(coords[finite])[0]
            return log_prob, None
        if not self.vectorize:
            return super().compute_log_prob(coords)
        log_prob = np.asarray(self.log_prob_fn(coords), dtype=float)
        if log_prob.shape != (len(coords),):
            raise ValueError(f"the vectorised log probability returned shape {log_prob.shape}, "
                             f"expected ({len(coords)},)")
        if np.isnan(log_prob).any():
            raise ValueError("Probability function returned NaN")
        return log_prob, None


def _random_state(seed: int) -> tuple[Any, ...]:
    # emcee draws from a legacy RandomState; seeding it is how emcee runs are made reproducible
    return np.random.RandomState(int(seed)).get_state()  # noqa: NPY002


def _burn_in(tau: np.ndarray, n: int) -> int:
    """Steps to discard: BURN_IN_TAUS × τ_max, at most half the chain (half if τ is infinite)."""
    if not np.isfinite(tau).all():
        return n // 2
    return min(int(math.ceil(BURN_IN_TAUS * float(tau.max()))), n // 2)


def _thinning(tau: np.ndarray) -> int:
    """Keep every THIN_TAUS × τ_min-th step (at least 1; 1 if no τ is finite)."""
    finite = tau[np.isfinite(tau)]
    return max(1, int(THIN_TAUS * float(finite.min()))) if finite.size else 1


def _criteria(chain: np.ndarray, tau: np.ndarray, tau_prev: np.ndarray | None, *,
              tau_factor: float, tau_rtol: float, rhat_max: float, min_ess: float,
              full_stats: dict[tuple[int, int], Any] | None = None
              ) -> tuple[bool, list[str], dict[str, Any], int]:
    """Evaluate the convergence criteria at the current chain length: the cheap τ criteria
    first; R̂ and ESS (rank-normalised, costly on long chains) only once those hold. Full-chain
    R̂/ESS values are stored in ``full_stats[(n, burn)]`` for reuse."""
    n = len(chain)
    reasons: list[str] = []
    row: dict[str, Any] = {"step": n, "tau_max": float(tau.max())}
    if not n > tau_factor * tau.max():
        reasons.append(f"N = {n} ≤ {tau_factor:g} τ_max = {tau_factor * tau.max():.0f}")
    comparable = (tau_prev is not None and np.isfinite(tau).all()
                  and np.isfinite(tau_prev).all())
    change = float(np.max(np.abs(tau - tau_prev) / tau)) if comparable else np.inf
    row["tau_change"] = change
    if not change < tau_rtol:
        reasons.append(f"τ changed by {change:.1%} since the last check (need < {tau_rtol:.0%})")
    burn = _burn_in(tau, n)
    rhat, ess = np.nan, np.nan
    if not reasons:
        screen = max(1, int(SCREEN_THIN_TAUS * float(tau.min())))
        for thin in ((screen, 1) if screen > 1 else (1,)):
            r, bulk, tail = _rhat_ess(chain[burn::thin])
            if thin == 1 and full_stats is not None:
                full_stats[(n, burn)] = (r, bulk, tail)
            rhat, ess = float(np.max(r)), float(min(bulk.min(), tail.min()))
            where = f" (screened on every {thin}th step)" if thin > 1 else ""
            if not rhat < rhat_max:
                reasons.append(f"max R̂ = {rhat:.4f} ≥ {rhat_max}{where}")
            if not ess > min_ess:
                reasons.append(f"min ESS = {ess:.0f} ≤ {min_ess:g}{where}")
            if reasons:
                break
    else:
        reasons.append("R̂ and ESS not yet evaluated (τ criteria unmet)")
    row |= {"rhat_max": rhat, "ess_min": ess, "converged": not reasons}
    return not reasons, reasons, row, burn


def run_ensemble(log_prob_fn: Callable[[np.ndarray], Any], initial_state: Any, *,
                 vectorize: bool = True, moves: Any = None, seed: int = 0,
                 max_steps: int = DEFAULT_MAX_STEPS, check_every: int = DEFAULT_CHECK_EVERY,
                 tau_factor: float = TAU_FACTOR, tau_rtol: float = TAU_RTOL,
                 rhat_max: float = RHAT_MAX, min_ess: float = MIN_ESS,
                 backend_path: str | Path | None = None, run_key: str = "",
                 names: Sequence[str] | None = None,
                 sampling_names: Sequence[str] | None = None,
                 physical: Callable[[np.ndarray], np.ndarray] | None = None,
                 stop_when_converged: bool = True,
                 progress: bool | None = None) -> PosteriorResult:
    """Run an emcee ensemble until convergence (or ``max_steps``) and diagnose it.

    ``log_prob_fn``: with ``vectorize=True`` maps θ (m, ndim) → (m,) log probabilities in one
    call; with ``vectorize=False`` maps one θ (ndim,) → float (one call per walker).
    ``initial_state``: (n_walkers, ndim) finite, linearly independent walkers with finite log
    probability; ``n_walkers ≥ 2·ndim``. ``seed`` seeds emcee's generator (move choice and
    proposals). Convergence is checked every ``check_every`` steps (module docstring);
    ``stop_when_converged=False`` runs to ``max_steps`` regardless (for benchmarks).
    ``backend_path``: checkpoint file (``.npz``, or ``.h5`` with h5py) written at every check; if
    it exists and was written with the same ``run_key``, the run resumes from it and continues
    the same chain. ``physical`` maps θ to the reported parameters (default identity),
    ``names``/``sampling_names`` label them. Raises :class:`ValueError` for bad input.
    """
    p0 = np.array(initial_state, dtype=float)
    if p0.ndim != 2:
        raise ValueError(f"initial_state must have shape (n_walkers, ndim), got {p0.shape}")
    n_walkers, ndim = p0.shape
    if n_walkers < 2 * ndim:
        raise ValueError(f"need at least 2 × ndim = {2 * ndim} walkers, got {n_walkers}")
    if not np.isfinite(p0).all():
        raise ValueError("initial_state has non-finite values (NaN or inf)")
    if int(max_steps) < 1 or int(check_every) < 1:
        raise ValueError("max_steps and check_every must be ≥ 1")
    if not emcee.ensemble.walkers_independent(p0):
        raise ValueError("initial walkers are not linearly independent (e.g. all at one point); "
                         "spread them, e.g. with initial_ball")
    snames = tuple(sampling_names or names or [f"x{k}" for k in range(ndim)])
    pnames = tuple(names or snames)
    if len(snames) != ndim or len(pnames) != ndim:
        raise ValueError(f"need {ndim} names")
    phys = physical or (lambda t: np.array(t, dtype=float))

    backend: Any = None
    resumed = False
    if backend_path is not None:
        backend, resumed = _open_backend(backend_path, run_key, (n_walkers, ndim))
    if not resumed:
        lp0 = (np.asarray(log_prob_fn(p0), dtype=float) if vectorize else
               np.array([float(log_prob_fn(p)) for p in p0]))
        if lp0.shape != (n_walkers,):
            raise ValueError(f"log_prob_fn returned shape {lp0.shape}, expected ({n_walkers},)")
        if not np.isfinite(lp0).all():
            raise ValueError(f"{int((~np.isfinite(lp0)).sum())} initial walker(s) have "
                             "non-finite log probability (outside the prior support?)")
    sampler = _Sampler(n_walkers, ndim, log_prob_fn,
                       moves=default_moves() if moves is None else moves,
                       vectorize=vectorize, backend=backend)
    state: Any = None if resumed else emcee.State(p0, log_prob=lp0,
                                                   random_state=_random_state(seed))
    checks: list[dict[str, Any]] = []
    tau_prev: np.ndarray | None = None
    criteria = {"tau_factor": tau_factor, "tau_rtol": tau_rtol, "rhat_max": rhat_max,
                "min_ess": min_ess}
    full_stats: dict[tuple[int, int], Any] = {}  # R̂/ESS of the last full check, reused below

    def check(chain: np.ndarray, tau_prev: np.ndarray | None
              ) -> tuple[bool, list[str], int, np.ndarray]:
        tau = autocorr_time(chain)
        full_stats.clear()
        ok, why, row, burn_in = _criteria(chain, tau, tau_prev, full_stats=full_stats,
                                          **criteria)
        checks.append(row | {f"tau_{name}": t for name, t in zip(snames, tau, strict=True)})
        return ok, why, burn_in, tau

    if resumed:  # replay the checks of the stored part (deterministic: the same table)
        chain_done = sampler.get_chain()
        for step in range(check_every, sampler.iteration, check_every):
            tau_prev = check(chain_done[:step], tau_prev)[3]
    converged, reasons, burn = False, ["no convergence check ran"], 0
    t0 = time.perf_counter()
    with progress_bar(total=int(max_steps), progress=progress, desc="MCMC",
                      initial=min(sampler.iteration, int(max_steps))) as bar:
        while True:
            n = sampler.iteration
            if n > 0 and (n % check_every == 0 or n >= max_steps):
                converged, reasons, burn, tau_prev = check(sampler.get_chain(), tau_prev)
                if (converged and stop_when_converged) or n >= max_steps:
                    break
            steps = min(check_every - n % check_every, int(max_steps) - n)
            state = sampler.run_mcmc(state, steps, progress=False,
                                     skip_initial_state_check=True)
            if isinstance(backend, NpzBackend):
                backend.save()
            bar.update(steps)
    wall = time.perf_counter() - t0

    chain = sampler.get_chain()
    chain_lp = sampler.get_log_prob()
    n = len(chain)
    tau = autocorr_time(chain)
    thin = _thinning(tau)
    kept = chain[burn::thin].reshape(-1, ndim)
    kept_lp = chain_lp[burn::thin].reshape(-1)
    rhat, ess_bulk, ess_tail = full_stats.get((n, burn)) or _rhat_ess(chain[burn:])
    return PosteriorResult(
        samples=np.asarray(phys(kept), dtype=float), log_prob=kept_lp, chain=chain,
        chain_log_prob=chain_lp, names=pnames, sampling_names=snames, tau=tau,
        rhat=rhat, ess_bulk=ess_bulk, ess_tail=ess_tail,
        acceptance_fraction=np.asarray(sampler.acceptance_fraction, dtype=float),
        wall_seconds=wall, n_steps=n, burn_in=burn, thin=thin, converged=bool(converged),
        reasons=tuple(reasons), checks=pd.DataFrame(checks), n_evaluations=0, seed=int(seed),
        settings={"vectorize": vectorize, "check_every": int(check_every),
                  "max_steps": int(max_steps), "tau_factor": tau_factor, "tau_rtol": tau_rtol,
                  "rhat_max": rhat_max, "min_ess": min_ess, "resumed": resumed,
                  "moves": DEFAULT_MOVES if moves is None else repr(moves)})


# --------------------------------------------------------------------------------------------
# the ALP posterior
# --------------------------------------------------------------------------------------------
def default_sampling_surrogate() -> Any:
    """The course's :func:`~lecture_utils.surrogate.default_surrogate`, compiled with
    :func:`~lecture_utils.compiled.compile_surrogate` and pinned to the compiled backend for every
    batch size (so that a seeded chain is the same on every machine and for every call pattern);
    the plain surrogate, with a warning, if compilation is unavailable."""
    from . import compiled

    model = sg.default_surrogate()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", compiled.CompilationFallbackWarning)
            fast = compiled.compile_surrogate(model)
    except Exception as exc:  # any failure to compile falls back to the plain model
        warnings.warn(f"compilation unavailable ({exc}); sampling with the plain surrogate",
                      UserWarning, stacklevel=3)
        return model
    if fast.is_compiled:
        # one backend for every batch size: the chain must not depend on the dispatcher's
        # machine-specific crossover (compiled and xgboost agree only to float32 rounding)
        fast.backend = "compiled"
    return fast


def _run_key(surrogate: Any, prior: Prior, n_walkers: int, seed: int, extra: Any) -> str:
    from ._cache import content_hash

    meta = getattr(surrogate, "metadata", {}) or {}
    return content_hash("sampling", 1, meta.get("data_hash"), meta.get("model_sha256"),
                        repr(prior), int(n_walkers), int(seed), extra)


def sample_posterior(surrogate: Any = None, *, prior: Prior | str = "loguniform",
                     n_walkers: int = DEFAULT_N_WALKERS, seed: int = 0,
                     max_steps: int = DEFAULT_MAX_STEPS,
                     check_every: int = DEFAULT_CHECK_EVERY,
                     backend_path: str | Path | None = None, progress: bool | None = None,
                     initial_state: Any = None, vectorize: bool = True,
                     combination: Combination = "smooth", **criteria: float) -> PosteriorResult:
    """Sample the ALP posterior of a surrogate with emcee until convergence.

    ``surrogate``: any :class:`~lecture_utils.surrogate.TwoStageSurrogate` (compiled or not);
    ``None`` → :func:`default_sampling_surrogate` (the course's surrogate, compiled).
    ``prior``: a :class:`Prior` or ``"loguniform"``/``"gaussian"`` (:func:`make_prior` defaults).
    The walkers start in a seeded ball (:func:`initial_ball`) around the posterior mode
    (:func:`posterior_mode`) unless ``initial_state`` (physical points, (n_walkers, 6)) is given.
    ``vectorize=False`` reproduces the tutorial's pattern (one surrogate call per walker).
    ``combination``: ``"smooth"`` (default) or ``"hard"`` (:func:`log_posterior`).
    ``criteria``: overrides of ``tau_factor``, ``tau_rtol``, ``rhat_max``, ``min_ess``.
    Other arguments as in :func:`run_ensemble`. Returns a :class:`PosteriorResult` in physical
    parameters; ``setup_seconds`` is the time of the mode search.
    """
    t0 = time.perf_counter()
    model = default_sampling_surrogate() if surrogate is None else surrogate
    pr = as_prior(prior)
    fn = LogPosterior(model, pr, combination=combination)
    n_walkers = int(n_walkers)
    ndim = len(SAMPLING_NAMES)
    if n_walkers < 2 * ndim:
        raise ValueError(f"need at least 2 × {ndim} = {2 * ndim} walkers, got {n_walkers}")
    if initial_state is None:
        center, _ = posterior_mode(model, pr, seed=seed, combination=combination)
        p0 = initial_ball(center, n_walkers, pr, seed=seed, log_prob=fn)
    else:
        p0 = to_sampling(initial_state)
        if p0.shape != (n_walkers, ndim):
            raise ValueError(f"initial_state must have shape ({n_walkers}, {ndim}), "
                             f"got {p0.shape}")
    setup = time.perf_counter() - t0
    unknown = set(criteria) - {"tau_factor", "tau_rtol", "rhat_max", "min_ess"}
    if unknown:
        raise ValueError(f"unknown keyword argument(s) {sorted(unknown)}")
    key = _run_key(model, pr, n_walkers, seed,
                   [p0.tolist(), int(check_every), sorted(criteria.items()), vectorize,
                    combination])
    fn.n_points = 0
    result = run_ensemble(fn, p0, vectorize=vectorize, seed=seed, max_steps=max_steps,
                          check_every=check_every, backend_path=backend_path, run_key=key,
                          names=alps.PARAMETERS, sampling_names=SAMPLING_NAMES,
                          physical=to_physical, progress=progress, **criteria)
    result.n_evaluations = fn.n_points
    result.prior = pr
    result.surrogate = model
    result.setup_seconds = setup
    result.settings["combination"] = combination
    return result


def chain_profile(result: PosteriorResult, grid: Any) -> pd.DataFrame:
    """Profile of log10(f_a/GeV) read off the chain: for each value of ``grid`` (strictly
    increasing, shape (m,)), the smallest surrogate Δχ² among the post-burn-in chain points
    whose log10 f_a is nearer to it than to its neighbours, and that point.

    Δχ² = −2 (log posterior − log prior) = χ² − χ²_min of the surrogate's training data (the
    combination the chain sampled). Each value is an upper bound on the true profile (a chain
    explores, it does not minimise) — a cheap check of a minimiser-based profile and a source of
    starting points for it. Columns: ``log10_fa`` (the grid), ``delta_chi2``, ``n_points`` (chain
    points in the bin; NaN Δχ² if none) and the six physical parameters of the best point.
    """
    if not result.is_alp or result.prior is None:
        raise ValueError("chain_profile needs an ALP posterior from sample_posterior")
    g = np.asarray(grid, dtype=float)
    if g.ndim != 1 or g.size < 2 or not (np.diff(g) > 0).all():
        raise ValueError("grid must be strictly increasing, shape (m ≥ 2,)")
    theta = result.chain[result.burn_in:].reshape(-1, result.chain.shape[2])
    log_prob = result.chain_log_prob[result.burn_in:].reshape(-1)
    delta = -2.0 * (log_prob - result.prior.log_prob(theta))
    edges = np.concatenate([[-np.inf], 0.5 * (g[1:] + g[:-1]), [np.inf]])
    bins = np.searchsorted(edges, theta[:, 0], side="right") - 1
    rows = []
    for k, value in enumerate(g):
        members = np.flatnonzero(bins == k)
        row: dict[str, Any] = {"log10_fa": value, "delta_chi2": np.nan,
                               "n_points": int(members.size)}
        best = np.full(len(alps.PARAMETERS), np.nan)
        if members.size:
            i = members[np.argmin(delta[members])]
            row["delta_chi2"] = float(delta[i])
            best = to_physical(theta[i])[0]
        rows.append(row | dict(zip(alps.PARAMETERS, best, strict=True)))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# exact spot-checks
# --------------------------------------------------------------------------------------------
def spot_check(result: PosteriorResult, n: int, seed: int, integrator: alps.Integrator = "exact",
               *, surrogate: Any = None, name: str = "mcmc", progress: bool | None = None,
               workers: int | None = None) -> pd.DataFrame:
    """Exact ALPaca χ² at ``n`` seeded posterior draws, compared with the surrogate.

    Draws ``n`` distinct kept samples of ``result`` (seeded), evaluates them with
    :func:`lecture_utils.data.evaluate_cached` (cached by point hash under ``name``: a repeated
    call is free) and returns one row per point: the six parameters, ``log10_fa``,
    ``chi2_exact``, ``chi2_surrogate`` (smooth combination, what the sampler used),
    ``chi2_hard`` (hard combination, ``inf`` outside the gate), ``gate_probability``,
    ``gate_accepts`` (probability ≥ the surrogate's threshold),
    ``error`` (= surrogate − exact), ``delta_chi2_exact`` (exact − the surrogate's χ²_min) and
    ``in_region`` (exact Δχ² < the surrogate's cut). ``surrogate`` defaults to the one the result
    was sampled with.
    """
    from . import data

    if not result.is_alp:
        raise ValueError("spot_check needs an ALP posterior (parameters alps.PARAMETERS)")
    model = result.surrogate if surrogate is None else surrogate
    if model is None:
        raise ValueError("the result carries no surrogate; pass surrogate=")
    if not 1 <= int(n) <= len(result.samples):
        raise ValueError(f"n must be in 1..{len(result.samples)}, got {n}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(result.samples), size=int(n), replace=False))
    pts = result.samples[idx]
    exact = data.evaluate_cached(pts, integrator, name=name, progress=progress, workers=workers)
    table = pd.DataFrame(pts, columns=list(alps.PARAMETERS))
    table.insert(1, "log10_fa", np.log10(pts[:, 0]))
    table["chi2_exact"] = exact["chi2"].to_numpy(dtype=float)
    table["chi2_surrogate"] = np.asarray(model.predict_smooth(pts), dtype=float)
    table["chi2_hard"] = np.asarray(model.predict(pts), dtype=float)
    table["gate_probability"] = np.asarray(model.gate_probability(pts), dtype=float)
    table["gate_accepts"] = table["gate_probability"] >= float(model.threshold)
    table["error"] = table["chi2_surrogate"] - table["chi2_exact"]
    table["delta_chi2_exact"] = table["chi2_exact"] - float(model.chi2_min)
    table["in_region"] = table["delta_chi2_exact"] < float(model.cut)
    table["sample_index"] = idx
    return table


def spot_check_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """Summarise a :func:`spot_check` table, separately for the draws the gate accepts and
    rejects and for all of them: number of draws, share inside the exact region of interest,
    median exact Δχ², and the surrogate error (surrogate − exact) on the draws inside the exact
    region (mean, mean absolute, largest absolute; NaN if there are none)."""
    needed = {"gate_accepts", "in_region", "delta_chi2_exact", "error"}
    if not needed <= set(checks.columns):
        raise ValueError(f"not a spot_check table: missing {sorted(needed - set(checks.columns))}")
    rows = {}
    groups = (("gate accepts", checks["gate_accepts"]), ("gate rejects", ~checks["gate_accepts"]),
              ("all", pd.Series(True, index=checks.index)))
    for name, mask in groups:
        part = checks[mask.astype(bool)]
        good = part[part["in_region"]]
        rows[name] = {"draws": len(part),
                      "share in exact region": part["in_region"].mean() if len(part) else np.nan,
                      "median exact Δχ²": part["delta_chi2_exact"].median(),
                      "bias in region": good["error"].mean(),
                      "MAE in region": good["error"].abs().mean(),
                      "max |error| in region": good["error"].abs().max()}
    return pd.DataFrame(rows).T
