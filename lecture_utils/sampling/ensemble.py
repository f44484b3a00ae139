"""The emcee ensemble loop with convergence checks, and its result.

:func:`run_ensemble` runs emcee until the convergence criteria hold (or ``max_steps``), checking
every ``check_every`` steps and writing a checkpoint; :class:`PosteriorResult` holds the kept
draws, the raw chain and the diagnostics.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import emcee
import numpy as np
import pandas as pd

from .. import alps
from .._progress import progress_bar
from .backend import NpzBackend, open_backend
from .diagnostics import autocorr_time, rhat_ess
from .moves import DEFAULT_MOVES, default_moves
from .prior import Prior

__all__ = [
    "BURN_IN_TAUS",
    "DEFAULT_CHECK_EVERY",
    "DEFAULT_MAX_STEPS",
    "MIN_ESS",
    "RHAT_MAX",
    "SCREEN_THIN_TAUS",
    "TAU_FACTOR",
    "TAU_RTOL",
    "THIN_TAUS",
    "NotConvergedError",
    "PosteriorResult",
    "run_ensemble",
]

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
passes the screen is evaluated in full, and only the full values decide.

Read at each check from this module's namespace (patch ``lecture_utils.sampling.ensemble`` to
change it)."""


class NotConvergedError(RuntimeError):
    """A chain did not meet the convergence criteria; its summaries would be misleading."""


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
            r, bulk, tail = rhat_ess(chain[burn::thin])
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

    Convergence is checked every ``check_every`` steps (the criteria are described in
    :mod:`lecture_utils.sampling`): the chain is longer than ``tau_factor`` integrated
    autocorrelation times, every τ changed by less than ``tau_rtol`` (relative) since the
    previous check, and after the burn-in the rank-normalised split R̂ of every coordinate is below
    ``rhat_max`` and its bulk and tail ESS exceed ``min_ess``.

    Parameters
    ----------
    log_prob_fn : callable
        The log probability. With ``vectorize=True`` it maps θ of shape (m, ndim) to (m,) log
        probabilities in one call; with ``vectorize=False`` one θ of shape (ndim,) to a float
        (one call per walker).
    initial_state : array_like, shape (n_walkers, ndim)
        Finite, linearly independent walkers with finite log probability;
        ``n_walkers ≥ 2·ndim``.
    vectorize : bool, optional
        How ``log_prob_fn`` is called (above).
    moves : optional
        emcee moves, as :class:`emcee.EnsembleSampler` takes them; default
        :func:`~lecture_utils.sampling.default_moves`.
    seed : int, optional
        Seeds emcee's generator (move choice and proposals).
    max_steps : int, optional
        Upper limit on the chain length (steps of the whole ensemble), ≥ 1.
    check_every : int, optional
        Steps between two convergence checks (and checkpoints), ≥ 1.
    tau_factor : float, optional
        Minimum chain length in integrated autocorrelation times.
    tau_rtol : float, optional
        Maximum relative change of every τ between two consecutive checks.
    rhat_max : float, optional
        Maximum rank-normalised split R̂.
    min_ess : float, optional
        Minimum bulk and tail effective sample size of every coordinate.
    backend_path : str or pathlib.Path, optional
        Checkpoint file (``.npz``, or ``.h5`` with h5py) written at every check; if it exists and
        was written with the same ``run_key``, the run resumes from it and continues the same
        chain.
    run_key : str, optional
        Identifies the run in the checkpoint.
    names : sequence of str, length ndim, optional
        Labels of the reported (physical) parameters; default ``sampling_names``.
    sampling_names : sequence of str, length ndim, optional
        Labels of the sampling coordinates; default ``names``, else ``x0``, ``x1``, ….
    physical : callable, optional
        Maps θ (m, ndim) to the reported parameters (default identity).
    stop_when_converged : bool, optional
        ``False`` runs to ``max_steps`` regardless (for benchmarks).
    progress : bool, optional
        Progress bar over the steps (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    PosteriorResult
        Kept draws (burn-in removed, thinned) mapped by ``physical``, shape (n, ndim), their log
        probabilities, the raw chain in θ, shape (n_steps, n_walkers, ndim), and the
        diagnostics; ``converged`` is ``False`` for a chain that reached ``max_steps`` without
        meeting every criterion (``reasons`` says which failed).

    Raises
    ------
    ValueError
        For an ``initial_state`` that is not 2-D, has fewer than 2·ndim walkers, non-finite or
        linearly dependent walkers, or walkers with non-finite log probability; a ``log_prob_fn``
        result of the wrong shape; ``max_steps`` or ``check_every`` < 1; names of the wrong
        length; or a checkpoint written for another run or shape (or HDF5 without h5py).
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
        backend, resumed = open_backend(backend_path, run_key, (n_walkers, ndim))
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
    rhat, ess_bulk, ess_tail = full_stats.get((n, burn)) or rhat_ess(chain[burn:])
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
