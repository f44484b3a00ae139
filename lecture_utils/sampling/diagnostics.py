"""Convergence diagnostics of an ensemble chain: autocorrelation time, R̂ and ESS."""

from __future__ import annotations

from typing import Any

import emcee
import numpy as np

from .._progress import quiet_logger

__all__ = ["TAIL_PROB", "autocorr_time", "chain_diagnostics", "rhat_ess"]

TAIL_PROB: tuple[float, float] = (0.05, 0.95)
"""Quantiles at which the tail ESS is evaluated (its minimum is reported)."""


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
    power of two with a complex FFT): the same estimator, equal to rounding, and faster."""
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
    rhat, bulk, tail = rhat_ess(x)
    return {"tau": tau, "rhat": rhat, "ess_bulk": bulk, "ess_tail": tail}


def rhat_ess(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-normalised split R̂, bulk ESS and tail ESS per parameter, each shape (ndim,).

    ``x``: chain of shape (n_steps ≥ 4, n_walkers, ndim), each walker one chain (arviz-stats,
    Vehtari et al. 2021); the tail ESS is the smaller of the ESS of the :data:`TAIL_PROB`
    quantiles. Raises :class:`ValueError` for a shorter chain or another shape.
    """
    # arviz 1.x: the array functions live in arviz_stats (``arviz.rhat`` is the same function;
    # importing arviz_stats alone avoids loading the plotting half of arviz)
    with quiet_logger("arviz"):
        import arviz_stats as azs

    if x.ndim != 3 or x.shape[0] < 4:
        raise ValueError(f"need a chain of shape (n_steps ≥ 4, n_walkers, ndim), got {x.shape}")
    per_chain = np.ascontiguousarray(np.transpose(x, (1, 0, 2)))  # (chain, draw, ndim)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = np.asarray(azs.rhat(per_chain, method="rank"), dtype=float)
        bulk = np.asarray(azs.ess(per_chain, method="bulk"), dtype=float)
        tail = np.asarray(azs.ess(per_chain, method="tail", prob=TAIL_PROB), dtype=float)
    return rhat, bulk, tail
