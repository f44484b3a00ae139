"""The course's ALP posterior: sampling a surrogate, profiles from the chain, exact spot-checks."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import alps
from .. import surrogate as sg
from .ensemble import DEFAULT_CHECK_EVERY, DEFAULT_MAX_STEPS, PosteriorResult, run_ensemble
from .posterior import Combination, LogPosterior, initial_ball, posterior_mode
from .prior import SAMPLING_NAMES, Prior, as_prior, to_physical, to_sampling

__all__ = [
    "DEFAULT_N_WALKERS",
    "chain_profile",
    "default_sampling_surrogate",
    "sample_posterior",
    "spot_check",
    "spot_check_summary",
]

DEFAULT_N_WALKERS: int = 50
"""Default ensemble size, as in the reference tutorial: ~8 walkers per dimension (emcee needs at
least 2 per dimension; differential-evolution moves work better with more)."""


# --------------------------------------------------------------------------------------------
# the ALP posterior
# --------------------------------------------------------------------------------------------
def default_sampling_surrogate() -> Any:
    """The course's :func:`~lecture_utils.surrogate.default_surrogate`, compiled with
    :func:`~lecture_utils.compiled.compile_surrogate` and pinned to the compiled backend for every
    batch size (so that a seeded chain is the same on every machine and for every call pattern);
    the plain surrogate, with a warning, if compilation is unavailable."""
    from .. import compiled

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
    from .._cache import content_hash

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

    The posterior in the sampling coordinates θ (log10(f_a/GeV) and the five couplings) is
    ``π(θ) exp(−(χ² − χ²_min)/2)`` with the surrogate's χ² (:func:`log_posterior`). The walkers
    start in a seeded ball (:func:`initial_ball`) around the posterior mode
    (:func:`posterior_mode`) unless ``initial_state`` is given; the run is then
    :func:`run_ensemble`.

    Parameters
    ----------
    surrogate : TwoStageSurrogate, optional
        Any :class:`~lecture_utils.surrogate.TwoStageSurrogate` (compiled or not); default
        :func:`default_sampling_surrogate` (the course's surrogate, compiled).
    prior : Prior or {"loguniform", "gaussian"}, optional
        The prior, or a kind name for :func:`make_prior` with its defaults. Its box must lie
        inside the surrogate's training domain.
    n_walkers : int, optional
        Walkers of the ensemble, at least 2 × 6 = 12.
    seed : int, optional
        Seeds the mode search, the initial ball and emcee.
    max_steps : int, optional
        Upper limit on the chain length (steps of the whole ensemble).
    check_every : int, optional
        Steps between two convergence checks (and checkpoints).
    backend_path : str or pathlib.Path, optional
        Checkpoint file (``.npz``, or ``.h5`` with h5py); a run with the same surrogate, prior,
        settings and seed resumes from it (:func:`run_ensemble`).
    progress : bool, optional
        Progress bar over the steps (default: ``LECTURE_UTILS_PROGRESS``).
    initial_state : array_like, shape (n_walkers, 6), optional
        Starting walkers as physical points (f_a in GeV), instead of the ball around the mode.
    vectorize : bool, optional
        One surrogate call per half-ensemble (default); ``False`` reproduces the tutorial's
        pattern (one surrogate call per walker).
    combination : {"smooth", "hard"}, optional
        The surrogate's combination in the likelihood (:func:`log_posterior`).
    **criteria : float
        Overrides of the convergence criteria ``tau_factor``, ``tau_rtol``, ``rhat_max``,
        ``min_ess`` (:func:`run_ensemble`).

    Returns
    -------
    PosteriorResult
        ``samples`` in physical parameters (:data:`lecture_utils.alps.PARAMETERS` order, f_a in
        GeV), the chain in sampling coordinates and the diagnostics; in addition
        ``n_evaluations`` (posterior points evaluated), ``prior``, ``surrogate`` and
        ``setup_seconds``, the time of the mode search.

    Raises
    ------
    ValueError
        For fewer than 12 walkers, an ``initial_state`` of the wrong shape, an unknown prior,
        combination or keyword argument, a prior box outside the surrogate's domain, or invalid
        settings of :func:`run_ensemble`.
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
    from .. import data

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
