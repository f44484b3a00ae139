"""Designs of experiments: where to evaluate the expensive χ².

All designs are deterministic functions of their seed and return physical points of shape (n, 6)
in :data:`lecture_utils.alps.PARAMETERS` order (f_a sampled log-uniformly, couplings uniformly).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from .alps import DOMAIN, Domain

DESIGNS: tuple[str, ...] = ("lhs", "random")


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"number of points must be a positive integer, got {n!r}")
    return int(n)


def latin_hypercube(n: int, seed: int, domain: Domain = DOMAIN) -> np.ndarray:
    """A Latin-hypercube design of ``n`` points (scipy's optimised LHS, seeded)."""
    n = _check_n(n)
    u = qmc.LatinHypercube(d=domain.bounds.shape[0], seed=np.random.default_rng(seed)).random(n)
    return domain.from_unit(u)


def uniform_random(n: int, seed: int, domain: Domain = DOMAIN) -> np.ndarray:
    """``n`` independent uniform points in the sampling coordinates."""
    n = _check_n(n)
    u = np.random.default_rng(seed).random((n, domain.bounds.shape[0]))
    return domain.from_unit(u)


def make(design: str, n: int, seed: int, domain: Domain = DOMAIN) -> np.ndarray:
    """Dispatch on the design name: ``"lhs"`` or ``"random"``."""
    if design == "lhs":
        return latin_hypercube(n, seed, domain)
    if design == "random":
        return uniform_random(n, seed, domain)
    raise ValueError(f"unknown design {design!r}; choose one of {DESIGNS}")


def jitter_around(centres: np.ndarray, n: int, seed: int, scale: float = 0.05,
                  domain: Domain = DOMAIN) -> np.ndarray:
    """``n`` points drawn around ``centres`` (shape (m, 6)) to densify a region.

    Each new point picks a centre uniformly at random and adds a Gaussian step of standard deviation
    ``scale`` × the domain width in sampling coordinates (log10 f_a, couplings); steps leaving the
    domain are reflected back into it.
    """
    n = _check_n(n)
    centres = np.atleast_2d(np.asarray(centres, dtype=float))
    if len(centres) == 0:
        raise ValueError("jitter_around needs at least one centre")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rng = np.random.default_rng(seed)
    u0 = domain.to_unit(centres)[rng.integers(0, len(centres), size=n)]
    u = u0 + rng.normal(0.0, scale, size=u0.shape)
    u = np.abs(u)                        # reflect at 0
    u = 1.0 - np.abs(1.0 - u)            # reflect at 1
    return domain.from_unit(np.clip(u, 0.0, 1.0))
