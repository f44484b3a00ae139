"""The reduced model of the ALP significance: a few χ² terms as functions of (B, cτ)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

REDUCED_TERMS: tuple[tuple[str, str], ...] = (
    ("B+ -> K+ alp", "Belle II"), ("B+ -> K+ alp", "BaBar"), ("B+ -> K*+ alp", "BaBar"))
"""The terms of ALPaca's χ² that react to the ALP in the fit region (observable, experiment);
the first one's branching ratio is the effective parameter ``B``."""

TREATMENTS: tuple[str, ...] = ("as-is", "corrected", "gaussian")
"""The accepted likelihood treatments of :func:`calibrated_significance` (module doc)."""

CTAU_SATURATED_M: float = 1.0e4
"""Decay length (metres) beyond which every reduced term's escape probability is its value for
a stable ALP; the grid of cτ ends here and at ∞."""

_GRID_SIZE: int = 33
_GOLDEN_STEPS: int = 22
_CHUNK: int = 4096
_TINY: float = 1e-300


def check_treatment(treatment: str) -> str:
    """Return ``treatment`` if it is one of :data:`TREATMENTS`, else raise ValueError."""
    if treatment not in TREATMENTS:
        raise ValueError(f"unknown treatment {treatment!r}; choose one of {TREATMENTS}")
    return treatment


def check_lifetime(lifetime_min_m: Any) -> float:
    """A decay length in metres as float; ValueError unless > 0 (``inf`` allowed)."""
    try:
        value = float(lifetime_min_m)
    except (TypeError, ValueError):
        raise ValueError(f"lifetime_min_m must be a number (metres), got {lifetime_min_m!r}") \
            from None
    if math.isnan(value) or value <= 0:
        raise ValueError(f"lifetime_min_m must be > 0 metres (inf allowed), got {value}")
    return value


def check_count(value: Any, name: str) -> int:
    """An integer ≥ 1 as int; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    return int(value)




# --------------------------------------------------------------------------------------------
# the reduced model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReducedModel:
    """The χ² of a few terms as a function of ``B`` (a branching ratio) and cτ.

    Term ``j`` predicts ``sm[j] + ratio[j] · P_j(cτ) · B``; its likelihood is a bifurcated
    Gaussian with uncertainties ``sigma_left[j]`` (prediction below the central value) and
    ``sigma_right[j]`` (above), ``theory_sigma[j]`` in quadrature.

    Attributes
    ----------
    names : tuple of (str, str)
        The terms (observable, experiment), shape (k,).
    ratio, sm, theory_sigma : numpy.ndarray, shape (k,)
        Ratio of the term's ALP prediction to ``B``; Standard-Model value; theory uncertainty.
    central, sigma_left, sigma_right : numpy.ndarray, shape (k,)
        The observed data as the likelihood uses them (positive uncertainties).
    zero_edge : numpy.ndarray of int, shape (k,)
        Which uncertainty equals the central value in the data files (the interval's edge at
        zero): 1 σ_L, 2 σ_R (a file read with swapped columns), 0 neither (σ_L is then cut at
        the central value).
    truncate : bool
        Represent pseudo-data cut at zero as the files do (module doc).
    log10_ctau : numpy.ndarray, shape (g,)
        Grid of log10(cτ / m) on which ``probability`` is tabulated (increasing).
    probability : numpy.ndarray, shape (g, k)
        ALPaca's escape probability of each term on that grid.
    probability_inf : numpy.ndarray, shape (k,)
        The escape probability for an ALP that never decays.
    br_max : float
        Largest allowed ``B`` (dimensionless).
    """

    names: tuple[tuple[str, str], ...]
    ratio: np.ndarray
    sm: np.ndarray
    theory_sigma: np.ndarray
    central: np.ndarray
    sigma_left: np.ndarray
    sigma_right: np.ndarray
    zero_edge: np.ndarray
    truncate: bool
    log10_ctau: np.ndarray
    probability: np.ndarray
    probability_inf: np.ndarray
    br_max: float

    def escape(self, ctau_m: Any) -> np.ndarray:
        """Escape probabilities at decay lengths ``ctau_m`` (metres, any shape s) → shape (*s, k).

        The logarithm of the probability is interpolated linearly in log10 cτ (so that tiny
        probabilities keep their relative accuracy); ``inf`` gives :attr:`probability_inf`,
        values below the grid its first row.
        """
        c = np.asarray(ctau_m, dtype=float)
        lc = np.log10(np.where(np.isfinite(c), c, 1.0))
        with np.errstate(divide="ignore"):
            logp = np.log(np.maximum(self.probability, _TINY))
        out = np.exp(np.stack([np.interp(lc, self.log10_ctau, logp[:, j])
                               for j in range(len(self.names))], axis=-1))
        out = np.where(out <= _TINY * 1.000001, 0.0, out)
        return np.where(np.isfinite(c)[..., None], out, self.probability_inf)

    def predictions(self, br: Any, ctau_m: Any) -> np.ndarray:
        """Predictions of the terms, shape (*s, k), for ``br`` and ``ctau_m`` of shape s."""
        b = np.asarray(br, dtype=float)
        return self.sm + self.ratio * self.escape(ctau_m) * b[..., None]

    def pseudo_data(self, n_toys: int, seed: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pseudo-measurements under the null (``B = 0``) before any truncation.

        Parameters
        ----------
        n_toys : int
            Number of pseudo-experiments (≥ 1).
        seed : int or numpy.random.Generator
            Seed of the draws.

        Returns
        -------
        x : numpy.ndarray, shape (n_toys, k)
            Split-normal draws: mode :attr:`sm`, width √(σ_R² + σ_th²) below the mode and
            √(σ_L² + σ_th²) above it.
        below : numpy.ndarray of bool, shape (n_toys, k)
            Which draws fell below the mode.
        """
        n = check_count(n_toys, "n_toys")
        rng = np.random.default_rng(seed)
        down = np.hypot(self.sigma_right, self.theory_sigma)
        up = np.hypot(self.sigma_left, self.theory_sigma)
        below = rng.random((n, len(self.names))) < down / (down + up)
        z = np.abs(rng.standard_normal((n, len(self.names))))
        x = self.sm + np.where(below, -down * z, up * z)
        return x, below

    def represent(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pseudo-data ``x`` (n, k) as the data files would store them → (central, σ_L, σ_R)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        sl = np.broadcast_to(self.sigma_left, x.shape)
        sr = np.broadcast_to(self.sigma_right, x.shape)
        if not self.truncate:
            return x, sl.copy(), sr.copy()
        c = np.maximum(x, 0.0)
        left = np.where(self.zero_edge == 1, c, np.where(self.zero_edge == 0,
                                                         np.minimum(sl, c), sl))
        return c, left, np.where(self.zero_edge == 2, c, sr)

    def observed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The observed data as (central, σ_L, σ_R), each of shape (1, k)."""
        return (self.central[None, :], self.sigma_left[None, :], self.sigma_right[None, :])

    def chi2(self, br: Any, ctau_m: Any, data: tuple[np.ndarray, ...]) -> np.ndarray:
        """χ² of the terms at (``br``, ``ctau_m``) for data (central, σ_L, σ_R) of shape (n, k).

        ``br`` and ``ctau_m`` broadcast against (n,); returns shape (n,).
        """
        c, sl, sr = data
        value = self.predictions(br, ctau_m)
        return bifurcated_chi2(c, sl, sr, value, self.theory_sigma)

    def null_chi2(self, data: tuple[np.ndarray, ...]) -> np.ndarray:
        """χ² at ``B = 0`` for data of shape (n, k) → (n,)."""
        c = data[0]
        return bifurcated_chi2(*data, np.broadcast_to(self.sm, c.shape), self.theory_sigma)

    def minimise(self, data: tuple[np.ndarray, ...], lifetime_min_m: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Minimum of :meth:`chi2` over ``B ∈ [0, br_max]`` and ``cτ ∈ [lifetime_min_m, ∞]``.

        Parameters
        ----------
        data : tuple of numpy.ndarray, each shape (n, k)
            Central values, σ_L, σ_R.
        lifetime_min_m : float
            Smallest decay length cτ in metres (``inf``: the ALP never decays in the detector).

        Returns
        -------
        chi2_min, br, ctau_m : numpy.ndarray, each shape (n,)
            The minimum and where it is (cτ in metres, ``inf`` for a stable ALP).
        """
        lo = check_lifetime(lifetime_min_m)
        n = data[0].shape[0]
        out = [np.empty(n) for _ in range(3)]
        for start in range(0, n, _CHUNK):
            part = tuple(d[start:start + _CHUNK] for d in data)
            res = self._minimise_chunk(part, lo)
            for o, r in zip(out, res, strict=True):
                o[start:start + _CHUNK] = r
        return out[0], out[1], out[2]

    def _profile(self, prob: np.ndarray, data: tuple[np.ndarray, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """min over B of χ² for escape probabilities ``prob`` (n, g, k) → (χ², B), each (n, g).

        The χ² is convex in B with a continuous derivative; the derivative is evaluated at the
        points where a term changes side (sorted), which brackets the minimum in a segment where
        every term keeps its side, and there the minimum is the weighted least-squares solution.
        """
        c, sl, sr = (d[:, None, :] for d in data)
        a = self.ratio * prob
        y = c - self.sm
        th2 = self.theory_sigma**2
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            wl = 1.0 / (sl**2 + th2)
            wr = 1.0 / (sr**2 + th2)
            wl = np.where(np.isfinite(wl), wl, 1e300)
            wr = np.where(np.isfinite(wr), wr, 1e300)
            turn = np.where(a > 0, y / a, np.inf)

        def slope(b: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                r = a * b[..., None] - y
                return np.sum(a * r * np.where(r > 0, wr, wl), axis=-1)

        ends = np.sort(np.clip(turn, 0.0, self.br_max), axis=-1)
        lo = np.zeros(a.shape[:-1])
        hi = np.zeros(a.shape[:-1])
        found = slope(lo) >= 0
        for i in range(a.shape[-1] + 1):
            e = ends[..., i] if i < a.shape[-1] else np.full(lo.shape, self.br_max)
            new = ~found & (slope(e) >= 0)
            hi = np.where(new, e, hi)
            lo = np.where(found | new, lo, e)
            found |= new
        mid = 0.5 * (lo + hi)
        w = np.where(a * mid[..., None] > y, wr, wl)
        with np.errstate(all="ignore"):
            b = np.sum(w * a * y, axis=-1) / np.sum(w * a * a, axis=-1)
            b = np.where(found, np.clip(np.nan_to_num(b, nan=0.0), lo, hi), self.br_max)
            value = self.sm + a * b[..., None]
        chi2 = bifurcated_chi2(c, sl, sr, value, self.theory_sigma)
        # a zero uncertainty is an infinite wall; B = 0 is then the minimum
        null = bifurcated_chi2(c, sl, sr, np.broadcast_to(self.sm, a.shape), self.theory_sigma)
        worse = ~(chi2 < null)
        return np.where(worse, null, chi2), np.where(worse, 0.0, b)

    def _minimise_chunk(self, data: tuple[np.ndarray, ...], lo: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = data[0].shape[0]
        if not np.isfinite(lo):
            prob = np.broadcast_to(self.probability_inf, (n, 1, len(self.names)))
            chi2, b = self._profile(prob, data)
            return chi2[:, 0], b[:, 0], np.full(n, np.inf)
        top = max(math.log10(lo), math.log10(CTAU_SATURATED_M))
        grid = np.linspace(math.log10(lo), top, _GRID_SIZE)
        prob = np.concatenate([self.escape(10.0**grid), self.probability_inf[None, :]])
        chi2, b = self._profile(np.broadcast_to(prob, (n, *prob.shape)), data)
        i = np.argmin(chi2, axis=1)
        rows = np.arange(n)
        best, best_b = chi2[rows, i], b[rows, i]
        best_c = np.where(i == len(grid), np.inf, 10.0 ** grid[np.minimum(i, len(grid) - 1)])
        # golden-section search in log10 cτ between the grid neighbours of the best grid point
        left = grid[np.clip(i - 1, 0, len(grid) - 1)]
        right = grid[np.clip(i + 1, 0, len(grid) - 1)]
        ratio = (math.sqrt(5.0) - 1.0) / 2.0

        def at(lc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = self.escape(10.0**lc)[:, None, :]
            v, bb = self._profile(p, data)
            return v[:, 0], bb[:, 0]

        x1 = right - ratio * (right - left)
        x2 = left + ratio * (right - left)
        f1, f2 = at(x1)[0], at(x2)[0]
        for _ in range(_GOLDEN_STEPS):
            move = f1 < f2  # the minimum lies in [left, x2]
            new_right = np.where(move, x2, right)
            new_left = np.where(move, left, x1)
            new_x1 = np.where(move, new_right - ratio * (new_right - new_left), x2)
            new_x2 = np.where(move, x1, new_left + ratio * (new_right - new_left))
            kept = np.where(move, f1, f2)
            fresh = at(np.where(move, new_x1, new_x2))[0]
            f1, f2 = np.where(move, fresh, kept), np.where(move, kept, fresh)
            left, right, x1, x2 = new_left, new_right, new_x1, new_x2
        mid = 0.5 * (left + right)
        v, bb = at(mid)
        better = v < best
        return (np.where(better, v, best), np.where(better, bb, best_b),
                np.where(better, 10.0**mid, best_c))


def bifurcated_chi2(c: np.ndarray, sl: np.ndarray, sr: np.ndarray, value: np.ndarray,
          theory_sigma: np.ndarray) -> np.ndarray:
    """Sum of bifurcated-Gaussian χ² terms over the last axis.

    Parameters
    ----------
    c, sl, sr : numpy.ndarray, shape (..., k)
        Central values and the uncertainties used below (σ_L) and above (σ_R) them.
    value : numpy.ndarray, shape (..., k)
        Predictions.
    theory_sigma : numpy.ndarray, shape (k,)
        Added in quadrature.

    Returns
    -------
    numpy.ndarray, shape (...)
        χ² (a zero residual counts zero, whatever the uncertainty).
    """
    resid = c - value
    sigma = np.where(value > c, sr, sl)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
        terms = resid**2 / (sigma**2 + theory_sigma**2)
    terms = np.where(resid == 0, 0.0, terms)
    return np.sum(terms, axis=-1)


