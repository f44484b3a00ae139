"""The log posterior of the ALP parameters on a surrogate, and where the walkers start.

:func:`log_posterior` / :class:`LogPosterior` (what emcee calls) combine a :class:`Prior` with the
surrogate's χ²; :func:`posterior_mode` and :func:`initial_ball` place the walkers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np

from .. import alps
from .prior import SAMPLING_NAMES, Prior, as_prior, check_inside, to_physical

__all__ = [
    "COMBINATIONS",
    "Combination",
    "LogPosterior",
    "SurrogateLike",
    "initial_ball",
    "log_posterior",
    "posterior_mode",
]


class SurrogateLike(Protocol):
    """What :func:`log_posterior` needs from a surrogate (a TwoStageSurrogate or compiled one)."""

    chi2_min: float
    domain: np.ndarray

    def predict_smooth(self, points: Any) -> np.ndarray: ...


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


def log_posterior(points: Any, surrogate: SurrogateLike, prior: Prior | str, *,
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
    check_inside(pr.bounds_array, surrogate.domain, "surrogate's training domain")
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

    def __init__(self, surrogate: SurrogateLike, prior: Prior | str, *,
                 combination: Combination = "smooth") -> None:
        self.surrogate = surrogate
        self.prior = as_prior(prior)
        self.combination = _check_combination(combination)
        check_inside(self.prior.bounds_array, surrogate.domain, "surrogate's training domain")
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
def posterior_mode(surrogate: SurrogateLike, prior: Prior | str = "loguniform", *,
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
