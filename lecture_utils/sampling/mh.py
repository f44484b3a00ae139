"""Random-walk Metropolis–Hastings: the textbook algorithm, for teaching and tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["metropolis"]


def metropolis(log_prob: Callable[[np.ndarray], float], x0: Any, n_steps: int, *,
               step_size: Any, seed: int) -> tuple[np.ndarray, float]:
    """Random-walk Metropolis–Hastings with Gaussian proposals (the textbook algorithm).

    Proposal ``x' = x + step_size · N(0, 1)`` (symmetric), accepted with probability
    ``min(1, p(x')/p(x))``. Seeded; for teaching and tests (one point per call, no
    vectorisation).

    Parameters
    ----------
    log_prob : callable
        One point (ndim,) → log density (``-inf`` allowed).
    x0 : array_like, shape (ndim,)
        Start, finite with finite log density.
    n_steps : int
        Number of proposals.
    step_size : float or array_like, shape (ndim,)
        Proposal standard deviation (> 0).
    seed : int
        Seeds the proposals and the accept decisions.

    Returns
    -------
    chain : numpy.ndarray, shape (n_steps + 1, ndim)
        The chain, start included.
    acceptance : float
        Fraction of accepted proposals.

    Raises
    ------
    ValueError
        For a non-finite or non-1-D ``x0``, ``step_size`` ≤ 0 or a non-finite ``log_prob(x0)``.
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
