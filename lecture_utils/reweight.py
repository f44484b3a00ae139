"""The surrogate posterior corrected to the exact one by importance reweighting.

A sampler run on the surrogate draws from q(θ) ∝ π(θ) exp(−χ²_sampled(θ)/2), where χ²_sampled is
the surrogate's smooth χ². The exact posterior is p(θ) ∝ π(θ) exp(−χ²_exact(θ)/2), so a draw from
q represents p with the weight w ∝ p/q = exp(−(χ²_exact − χ²_sampled)/2): the prior cancels. Where
the surrogate is right the weights are equal; where it is too low (a hole) they vanish. The
weights are Pareto-smoothed (PSIS) and the Pareto shape k̂ of their tail says whether the
reweighted estimates can be trusted (k̂ < 0.7).

:func:`reweight` does the arithmetic on given χ² values; :func:`reweight_posterior` picks seeded
draws of a :class:`~lecture_utils.sampling.PosteriorResult`, evaluates their exact χ² through the
engine's per-point cache and reweights them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import alps
from . import surrogate as surrogate_module
from ._progress import quiet_logger
from .sampling import PosteriorResult

__all__ = [
    "KHAT_RELIABLE",
    "MIN_FINITE_WEIGHTS",
    "ReweightedPosterior",
    "UnreliableWeightsError",
    "reweight",
    "reweight_posterior",
]

KHAT_RELIABLE: float = 0.7
"""Largest Pareto k̂ for which importance-sampling estimates are considered reliable."""

MIN_FINITE_WEIGHTS: int = 20
"""Fewest draws with a positive weight for a reweighted summary."""

QUANTILES: tuple[float, ...] = (0.025, 0.16, 0.5, 0.84, 0.975)


class UnreliableWeightsError(RuntimeError):
    """The importance weights cannot support a reweighted summary (k̂ too large or too few
    draws with a positive weight)."""


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray,
                        probs: tuple[float, ...]) -> np.ndarray:
    """Quantiles of ``values`` (n,) under normalised ``weights`` (n,), interpolating the
    weighted empirical distribution function at the mid-points of each draw's weight."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(probs, cdf, v)


@dataclass
class ReweightedPosterior:
    """Draws of a surrogate posterior with their exact χ² and importance weights.

    Attributes
    ----------
    draws : numpy.ndarray
        Physical points, shape (n, 6), f_a in GeV.
    chi2_sampled : numpy.ndarray
        The χ² the sampler's log posterior used at each draw, shape (n,).
    chi2_exact : numpy.ndarray
        Exact χ² at each draw, shape (n,); ``+inf`` for excluded points, NaN for failed
        evaluations.
    log_weights : numpy.ndarray
        Raw log importance weights −(χ²_exact − χ²_sampled)/2, shape (n,); ``-inf`` where
        χ²_exact is infinite or the evaluation failed.
    weights : numpy.ndarray
        Pareto-smoothed normalised weights, shape (n,), summing to 1.
    khat : float
        Pareto shape of the weights' tail (PSIS); reliable below :data:`KHAT_RELIABLE`.
    n_failed : int
        Draws whose exact evaluation failed (weight 0, reported).
    integrator : str
        Integrator of the exact χ².
    """

    draws: np.ndarray
    chi2_sampled: np.ndarray
    chi2_exact: np.ndarray
    log_weights: np.ndarray
    weights: np.ndarray
    khat: float
    n_failed: int
    integrator: str

    @property
    def n_positive(self) -> int:
        """Draws with a positive raw weight (finite exact χ²)."""
        return int(np.isfinite(self.log_weights).sum())

    @property
    def ess(self) -> float:
        """Effective sample size of the smoothed weights, (Σw)² / Σw²."""
        w = self.weights
        return float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0

    @property
    def reliable(self) -> bool:
        """k̂ < :data:`KHAT_RELIABLE` and at least :data:`MIN_FINITE_WEIGHTS` positive
        weights."""
        return bool(self.khat < KHAT_RELIABLE and self.n_positive >= MIN_FINITE_WEIGHTS)

    def problems(self) -> list[str]:
        """Why the weights are not reliable (empty when they are)."""
        out = []
        if not self.khat < KHAT_RELIABLE:
            out.append(f"Pareto k̂ = {self.khat:.2f} ≥ {KHAT_RELIABLE} (the weights' tail is "
                       "too heavy: the surrogate posterior is a poor proposal)")
        if self.n_positive < MIN_FINITE_WEIGHTS:
            out.append(f"only {self.n_positive} draws with a positive weight "
                       f"(need ≥ {MIN_FINITE_WEIGHTS})")
        return out

    def frame(self) -> pd.DataFrame:
        """One row per draw: parameters, ``log10_fa``, χ² values and weights."""
        table = pd.DataFrame(self.draws, columns=list(alps.PARAMETERS))
        table.insert(1, "log10_fa", np.log10(self.draws[:, 0]))
        table["chi2_sampled"] = self.chi2_sampled
        table["chi2_exact"] = self.chi2_exact
        table["log_weight"] = self.log_weights
        table["weight"] = self.weights
        return table

    def summary(self, *, allow_unreliable: bool = False) -> pd.DataFrame:
        """Mean, standard deviation and 68 %/95 % central intervals of ``log10_fa`` and the
        couplings, for the draws as sampled (equal weights) and reweighted, side by side.

        Parameters
        ----------
        allow_unreliable : bool, optional
            Return the table even when the weights are not reliable (:attr:`reliable`); its
            reweighted columns are then not an estimate of the exact posterior.

        Returns
        -------
        pandas.DataFrame
            Index: the parameters (``log10_fa`` first); columns: a two-level index
            (``"surrogate"`` / ``"reweighted"``) × (``mean``, ``std``, ``q2.5``, ``q16``,
            ``q50``, ``q84``, ``q97.5``).

        Raises
        ------
        UnreliableWeightsError
            When the weights are not reliable and ``allow_unreliable`` is false; the message
            says why.
        """
        if not self.reliable and not allow_unreliable:
            raise UnreliableWeightsError("the reweighted posterior is not reliable: "
                                         + "; ".join(self.problems()))
        values = self.frame()[["log10_fa", *alps.PARAMETERS[1:]]]
        equal = np.full(len(values), 1.0 / len(values))
        columns = {}
        for label, w in (("surrogate", equal), ("reweighted", self.weights)):
            for name in values:
                x = values[name].to_numpy()
                mean = float(np.sum(w * x))
                row = {"mean": mean, "std": float(np.sqrt(np.sum(w * (x - mean) ** 2)))}
                q = _weighted_quantiles(x, w, QUANTILES)
                row |= {f"q{100 * p:g}": float(v) for p, v in zip(QUANTILES, q, strict=True)}
                columns[(label, name)] = row
        table = pd.DataFrame(columns).T
        table.index.names = ["posterior", "parameter"]
        return table.unstack("posterior").swaplevel(axis=1).sort_index(axis=1, level=0,
                                                                        sort_remaining=False)


def reweight(draws: Any, chi2_sampled: Any, chi2_exact: Any, *,
             integrator: str = "tabulated") -> ReweightedPosterior:
    """Importance weights that turn draws of the surrogate posterior into the exact one.

    Parameters
    ----------
    draws : array_like
        Physical points, shape (n, 6), n ≥ 2.
    chi2_sampled : array_like
        The χ² the sampler used at each draw, shape (n,), finite.
    chi2_exact : array_like
        Exact χ² at each draw, shape (n,); ``+inf`` (excluded) gives weight 0, NaN marks a
        failed evaluation (weight 0, counted in ``n_failed``).
    integrator : str, optional
        Recorded with the result.

    Returns
    -------
    ReweightedPosterior

    Raises
    ------
    ValueError
        For mismatched shapes, fewer than two draws, non-finite ``chi2_sampled``, or no draw
        with a finite exact χ².
    """
    with quiet_logger("arviz"):
        from arviz_stats.base import array_stats

    pts = np.asarray(draws, dtype=float)
    sampled = np.asarray(chi2_sampled, dtype=float)
    exact = np.asarray(chi2_exact, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(alps.PARAMETERS) or len(pts) < 2:
        raise ValueError(f"draws must have shape (n ≥ 2, {len(alps.PARAMETERS)}), "
                         f"got {pts.shape}")
    if sampled.shape != (len(pts),) or exact.shape != (len(pts),):
        raise ValueError(f"chi2_sampled and chi2_exact must have shape ({len(pts)},), got "
                         f"{sampled.shape} and {exact.shape}")
    if not np.all(np.isfinite(sampled)):
        raise ValueError("chi2_sampled must be finite (it is what the sampler used)")
    failed = np.isnan(exact)
    finite = np.isfinite(exact)
    if not finite.any():
        raise ValueError("no draw has a finite exact χ²: nothing to reweight")
    log_w = np.full(len(pts), -np.inf)
    log_w[finite] = -0.5 * (exact[finite] - sampled[finite])
    # PSIS on the draws with a positive weight; the others keep weight 0
    smoothed = np.zeros(len(pts))
    shifted = log_w[finite] - log_w[finite].max()
    if np.ptp(shifted) < 1e-9:   # equal weights: nothing to smooth, a perfect proposal
        smoothed[finite] = 1.0
        khat = float("-inf")
    elif finite.sum() >= 5:
        # arviz-stats takes the log *likelihood* of LOO, i.e. minus the log ratios
        lw_s, khat = array_stats.psislw(-shifted)
        smoothed[finite] = np.exp(np.asarray(lw_s, dtype=float))
        khat = float(khat)
    else:
        smoothed[finite] = np.exp(log_w[finite] - log_w[finite].max())
        khat = float("inf")
    weights = smoothed / smoothed.sum()
    return ReweightedPosterior(draws=pts, chi2_sampled=sampled, chi2_exact=exact,
                               log_weights=log_w, weights=weights, khat=khat,
                               n_failed=int(failed.sum()), integrator=str(integrator))


def reweight_posterior(result: PosteriorResult, n_draws: int = 200, seed: int = 0,
                       integrator: alps.Integrator = "tabulated", *, surrogate: Any = None,
                       name: str = "reweight", workers: int | None = None,
                       executor: Any = None, progress: bool | None = None
                       ) -> ReweightedPosterior:
    """Exact χ² at ``n_draws`` seeded draws of a surrogate posterior, and their importance
    weights (:func:`reweight`).

    χ²_sampled is read back from the run itself, χ²_sampled = χ²_min + 2 (log π(θ) − log q(θ)),
    with ``log q`` the stored log posterior of each draw and χ²_min that of the surrogate the
    chain was sampled with, so it is exactly what the sampler used.

    Parameters
    ----------
    result : PosteriorResult
        An ALP posterior run (:func:`~lecture_utils.sampling.sample_posterior`) with its prior.
    n_draws : int, optional
        Distinct kept draws to evaluate, 2 ≤ n_draws ≤ the number of kept draws.
    seed : int, optional
        Seed of the choice of draws.
    integrator : {"tabulated", "exact", "leadinglog"}, optional
        Running of the exact χ².
    surrogate : TwoStageSurrogate, optional
        The surrogate the chain was sampled with (only its ``chi2_min`` is read); default
        ``result.surrogate``, else the course's surrogate.
    name : str, optional
        Name of the per-point cache (:func:`lecture_utils.data.evaluate_cached`).
    workers, executor, progress
        Passed to :func:`lecture_utils.data.evaluate_cached`.

    Returns
    -------
    ReweightedPosterior

    Raises
    ------
    ValueError
        For a result that is not an ALP posterior, has no prior, or for an ``n_draws`` out of
        range.
    """
    from . import data

    if not result.is_alp or result.prior is None:
        raise ValueError("reweight_posterior needs an ALP posterior run with its prior")
    n = int(n_draws)
    if not 2 <= n <= len(result.samples):
        raise ValueError(f"n_draws must be in 2..{len(result.samples)}, got {n_draws}")
    model = surrogate if surrogate is not None else result.surrogate
    chi2_min = float((model if model is not None
                      else surrogate_module.default_surrogate()).chi2_min)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(result.samples), size=n, replace=False))
    pts = result.samples[idx]
    theta = pts.copy()
    theta[:, 0] = np.log10(pts[:, 0])
    log_prior = np.asarray(result.prior.log_prob(theta), dtype=float)
    chi2_sampled = chi2_min + 2.0 * (log_prior - result.log_prob[idx])
    exact = data.evaluate_cached(pts, integrator, name=name, workers=workers,
                                 executor=executor, progress=progress)
    return reweight(pts, chi2_sampled, exact["chi2"].to_numpy(dtype=float),
                    integrator=integrator)
