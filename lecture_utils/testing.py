"""A synthetic toy χ² over the ALP parameter box — a **test and teaching aid only**.

Tests of :mod:`lecture_utils.surrogate` and :mod:`lecture_utils.tuning` need thousands of labelled
points in milliseconds; the exact ALPaca χ² costs seconds per point. :func:`toy_chi2` is a cheap,
smooth function with the *shape* of the real landscape (a minimum of ≈ 13 in the effective
couplings c_i/f_a, a Standard-Model-like plateau (≈ 21 here) at large f_a, an explosion to
astronomically large values at small f_a), so that the two-stage model meets the same difficulties.

It is **not** physics and never stands in for :func:`lecture_utils.alps.chi2` in the book: the
chapters train on the shipped exact data sets.
"""

from __future__ import annotations

import numpy as np

from .alps import DOMAIN, PARAMETERS

TOY_CHI2_MIN: float = 13.0
"""The toy's global minimum (attained where every effective coupling equals its optimum)."""

_OPTIMUM = np.array([0.30, -0.20, 0.10, 0.40, -0.15])   # optimal c_i × 10⁶ GeV / f_a
_WEIGHTS = np.array([14.0, 10.0, 8.0, 20.0, 8.0])  # q(g = 0) ≈ 5.1: SM-like χ² ≈ 21.4


def toy_chi2(points: np.ndarray) -> np.ndarray:
    """Toy χ² of physical points, shape (n, 6) in :data:`~lecture_utils.alps.PARAMETERS` order.

    ``χ² = 13 + q + q·(exp(q/4) − 1)/4`` with ``q = Σ_i w_i (g_i − a_i)²`` a quadratic form in the
    effective couplings ``g_i = c_i × 10⁶ GeV / f_a``; plus a mild ``log10 f_a`` slope so that
    f_a is not a pure scale. Returns shape (n,), dimensionless; finite (up to ~1e21) in the box.
    """
    p = np.atleast_2d(np.asarray(points, dtype=float))
    if p.shape[1] != len(PARAMETERS):
        raise ValueError(f"points must have shape (n, {len(PARAMETERS)})")
    g = p[:, 1:] * (1.0e6 / p[:, :1])
    q = ((g - _OPTIMUM) ** 2 * _WEIGHTS).sum(axis=1)
    slope = 0.5 * (np.log10(p[:, 0]) - 7.0) ** 2
    with np.errstate(over="ignore"):
        return TOY_CHI2_MIN + slope + q + q * np.expm1(np.minimum(q, 180.0) / 4.0) / 4.0


def toy_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded points of the course domain and their toy χ²: (points (n, 6), chi2 (n,)).

    Half are drawn uniformly in the sampling coordinates (log10 f_a, couplings), half at large f_a
    (upper third of log10 f_a) where the toy's region of interest lies — mimicking the
    region-enriched design of the shipped sets.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer ≥ 2, got {n!r}")
    rng = np.random.default_rng(seed)
    u = rng.random((int(n), len(PARAMETERS)))
    half = int(n) // 2
    u[:half, 0] = 2.0 / 3.0 + u[:half, 0] / 3.0
    u[:half, 1:] = 0.5 + (u[:half, 1:] - 0.5) / 3.0
    u = u[rng.permutation(int(n))]
    pts = DOMAIN.from_unit(u)
    return pts, toy_chi2(pts)
