"""Designs of experiments: where to evaluate the expensive χ².

All designs are deterministic functions of their seed and return physical points of shape (n, 6)
in :data:`lecture_utils.alps.PARAMETERS` order (f_a sampled log-uniformly, couplings uniformly).
"""

from __future__ import annotations

from collections.abc import Callable

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


def random_directions(n: int, n_dim: int, seed: int) -> np.ndarray:
    """``n`` directions drawn uniformly on the unit sphere of dimension ``n_dim`` (seeded).

    Returns
    -------
    numpy.ndarray
        Unit vectors, shape (n, n_dim).
    """
    n = _check_n(n)
    v = np.random.default_rng(seed).normal(size=(n, _check_n(n_dim)))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def edge_pairs(chi2_fn: Callable[[np.ndarray], np.ndarray], starts: np.ndarray,
               chi2_starts: np.ndarray, directions: np.ndarray, threshold: float, *,
               first_step: float = 0.02, n_expand: int = 6, n_bisect: int = 6,
               domain: Domain = DOMAIN) -> dict[str, np.ndarray]:
    """Pairs of nearby points that straddle the edge ``χ² = threshold`` of a region, by walking
    out of it along rays and bisecting.

    Each ray starts at a point with χ² < ``threshold`` and follows its direction in the sampling
    coordinates scaled to the unit cube (log10 f_a, couplings; :meth:`Domain.to_unit`): steps of
    ``first_step`` · 2^k (k = 0 … ``n_expand`` − 1), the last one stopped at the cube's face, until
    a point has χ² ≥ ``threshold`` (a failed evaluation, NaN, counts as outside), then
    ``n_bisect`` bisections of the last bracket. A ray still inside the region at the cube's face
    (or after all outward steps) is dropped. All rays advance together:
    one call of ``chi2_fn`` per round, at most ``n_expand + n_bisect`` calls in all.

    Parameters
    ----------
    chi2_fn : callable
        χ² at physical points (m, 6) → (m,) (NaN where an evaluation failed).
    starts : numpy.ndarray
        Physical points inside the region, shape (n, 6).
    chi2_starts : numpy.ndarray
        Their χ², shape (n,), each below ``threshold``.
    directions : numpy.ndarray
        Directions in unit-cube coordinates, shape (n, 6) (normalised here).
    threshold : float
        χ² of the region's edge.
    first_step : float, optional
        First step along a ray, as a fraction of the cube's side.
    n_expand, n_bisect : int, optional
        Outward steps, then bisection steps.
    domain : Domain, optional
        The box of the sampling coordinates.

    Returns
    -------
    dict of numpy.ndarray
        ``ray`` (n_pairs,) the index of the ray of each pair; ``inside`` and ``outside`` the
        physical points of each pair (n_pairs, 6) with their χ² ``chi2_inside`` and
        ``chi2_outside`` (n_pairs,); ``gap`` the pair's distance in unit-cube coordinates.

    Raises
    ------
    ValueError
        If shapes disagree, a start is outside the cube or the region, or a step setting is not
        positive.
    """
    u0 = domain.to_unit(np.atleast_2d(np.asarray(starts, dtype=float)))
    d = np.atleast_2d(np.asarray(directions, dtype=float))
    if u0.shape != d.shape or u0.ndim != 2 or len(u0) == 0:
        raise ValueError(f"starts and directions must have the same shape (n, "
                         f"{domain.bounds.shape[0]}), got {u0.shape} and {d.shape}")
    if np.any((u0 < 0) | (u0 > 1)):
        raise ValueError("every start must lie inside the domain")
    chi2_start = np.asarray(chi2_starts, dtype=float).reshape(-1)
    if chi2_start.shape != (len(u0),) or not np.all(chi2_start < threshold):
        raise ValueError("chi2_starts must give one χ² per start, each below the threshold")
    if not first_step > 0 or _check_n(n_expand) < 1 or int(n_bisect) < 0:
        raise ValueError("first_step must be > 0, n_expand ≥ 1 and n_bisect ≥ 0")
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    n = len(u0)
    t_in = np.zeros(n)
    chi2_in = chi2_start.copy()
    t_out = np.full(n, np.nan)
    chi2_out = np.full(n, np.nan)
    alive = np.ones(n, dtype=bool)            # still walking outwards
    with np.errstate(divide="ignore", invalid="ignore"):   # distance to the cube's faces
        t_face = np.where(d > 0, (1.0 - u0) / d, np.where(d < 0, -u0 / d, np.inf)).min(axis=1)
    alive &= t_face > 0                       # a start on a face, pointing out: no walk
    for k in range(_check_n(n_expand)):
        idx = np.flatnonzero(alive)
        if not idx.size:
            break
        t = np.minimum(first_step * 2.0 ** k, t_face[idx])
        u = np.clip(u0[idx] + t[:, None] * d[idx], 0.0, 1.0)
        chi2 = np.asarray(chi2_fn(domain.from_unit(u)), dtype=float)
        out = ~(chi2 < threshold)
        t_out[idx[out]], chi2_out[idx[out]] = t[out], chi2[out]
        t_in[idx[~out]], chi2_in[idx[~out]] = t[~out], chi2[~out]
        alive[idx] = ~out & (t < t_face[idx])      # inside at the face: no edge on this ray
    found = np.isfinite(t_out)
    for _ in range(int(n_bisect)):
        idx = np.flatnonzero(found)
        if not idx.size:
            break
        t_mid = 0.5 * (t_in[idx] + t_out[idx])
        u_mid = np.clip(u0[idx] + t_mid[:, None] * d[idx], 0.0, 1.0)
        chi2 = np.asarray(chi2_fn(domain.from_unit(u_mid)), dtype=float)
        out = ~(chi2 < threshold)
        t_out[idx[out]], chi2_out[idx[out]] = t_mid[out], chi2[out]
        t_in[idx[~out]], chi2_in[idx[~out]] = t_mid[~out], chi2[~out]
    ray = np.flatnonzero(found)
    inside = domain.from_unit(np.clip(u0[ray] + t_in[ray, None] * d[ray], 0.0, 1.0))
    outside = domain.from_unit(np.clip(u0[ray] + t_out[ray, None] * d[ray], 0.0, 1.0))
    return {"ray": ray, "inside": inside, "outside": outside, "chi2_inside": chi2_in[ray],
            "chi2_outside": chi2_out[ray], "gap": t_out[ray] - t_in[ray]}
