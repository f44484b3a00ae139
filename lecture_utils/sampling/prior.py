"""Sampling coordinates and priors of the ALP posterior.

The sampler works in θ = (log10(f_a/GeV), five couplings) (:data:`SAMPLING_NAMES`, the
surrogate's search coordinates); every density here is a density in θ. A :class:`Prior` is flat on
the couplings and, on f_a, log-uniform or a truncated Gaussian in log10 f_a; :func:`make_prior`
refuses a box that leaves the surrogate's domain.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import alps, smooth

__all__ = [
    "FA_MAX_TUTORIAL_GEV",
    "LOG10_FA_TUTORIAL",
    "SAMPLING_NAMES",
    "Prior",
    "PriorKind",
    "as_prior",
    "check_inside",
    "make_prior",
    "to_physical",
    "to_sampling",
]


SAMPLING_NAMES: tuple[str, ...] = smooth.SEARCH_NAMES
"""Names of the sampling coordinates θ (log10 f_a/GeV and the five couplings)."""


LOG10_FA_TUTORIAL: tuple[float, float] = (7.5, 0.2)
"""The reference tutorial's Gaussian prior on log10(f_a/GeV): mean, standard deviation."""

FA_MAX_TUTORIAL_GEV: float = 3.3e7
"""Upper end of the reference tutorial's training domain in f_a (GeV): its surrogate, and so its
posterior, stop there."""


# --------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------
def to_sampling(points: Any) -> np.ndarray:
    """Physical points (n, 6) → sampling coordinates θ (n, 6): f_a replaced by log10(f_a/GeV).

    The sampling coordinates are the surrogate's search coordinates
    (:func:`lecture_utils.smooth.to_search`). Raises :class:`ValueError` for a wrong shape,
    non-finite values or f_a ≤ 0.
    """
    return smooth.to_search(points)


def to_physical(theta: Any) -> np.ndarray:
    """Sampling coordinates θ (n, 6) → physical points (n, 6), f_a = 10^θ₀ GeV
    (:func:`lecture_utils.smooth.from_search`; wrong shape or non-finite → ValueError)."""
    return smooth.from_search(theta)


# --------------------------------------------------------------------------------------------
# priors
# --------------------------------------------------------------------------------------------
PriorKind = Literal["loguniform", "gaussian"]


@dataclass(frozen=True)
class Prior:
    """A prior density in the sampling coordinates θ (see :mod:`lecture_utils.sampling`).

    ``bounds``: the support, shape (6, 2) as nested tuples, in θ (log10 f_a, couplings) — flat on
    the couplings. ``kind="loguniform"``: flat in log10 f_a on its interval;
    ``kind="gaussian"``: normal in log10 f_a with ``log10_fa_mean``/``log10_fa_sigma``, truncated
    to the interval (normalised after truncation). Build one with :func:`make_prior`.
    """

    kind: PriorKind
    bounds: tuple[tuple[float, float], ...]
    log10_fa_mean: float | None = None
    log10_fa_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("loguniform", "gaussian"):
            raise ValueError(f"unknown prior kind {self.kind!r}; choose 'loguniform' or "
                             "'gaussian'")
        b = np.asarray(self.bounds, dtype=float)
        if b.shape != (len(SAMPLING_NAMES), 2) or not np.isfinite(b).all():
            raise ValueError(f"prior bounds must be finite, shape ({len(SAMPLING_NAMES)}, 2)")
        bad = np.flatnonzero(~(b[:, 0] < b[:, 1]))
        if bad.size:
            raise ValueError(f"prior interval of {SAMPLING_NAMES[bad[0]]!r} is empty: "
                             f"{b[bad[0]].tolist()}")
        if self.kind == "gaussian":
            if self.log10_fa_mean is None or self.log10_fa_sigma is None:
                raise ValueError("a Gaussian prior needs log10_fa_mean and log10_fa_sigma")
            if not (math.isfinite(self.log10_fa_mean) and self.log10_fa_sigma > 0
                    and math.isfinite(self.log10_fa_sigma)):
                raise ValueError("log10_fa_mean must be finite and log10_fa_sigma > 0, got "
                                 f"{self.log10_fa_mean}, {self.log10_fa_sigma}")

    @property
    def bounds_array(self) -> np.ndarray:
        """Support in θ, shape (6, 2) (a copy)."""
        return np.array(self.bounds, dtype=float)

    @functools.cached_property
    def _low_high(self) -> tuple[np.ndarray, np.ndarray]:
        b = np.array(self.bounds, dtype=float)
        return b[:, 0].copy(), b[:, 1].copy()

    @property
    def physical_bounds(self) -> np.ndarray:
        """Support in physical parameters (f_a in GeV), shape (6, 2)."""
        b = self.bounds_array.copy()
        b[0] = 10.0 ** b[0]
        return b

    def _log_norm_fa(self) -> float:
        lo, hi = self.bounds_array[0]
        if self.kind == "loguniform":
            return -math.log(hi - lo)
        from scipy.special import ndtr

        mu, sd = float(self.log10_fa_mean), float(self.log10_fa_sigma)  # type: ignore[arg-type]
        mass = float(ndtr((hi - mu) / sd) - ndtr((lo - mu) / sd))
        if mass <= 0:
            raise ValueError("the Gaussian prior on log10 f_a has no mass inside its interval")
        return -math.log(sd * math.sqrt(2 * math.pi) * mass)

    @functools.cached_property
    def _log_norm(self) -> float:
        widths = np.diff(self.bounds_array[1:], axis=1).ravel()
        return self._log_norm_fa() - float(np.log(widths).sum())

    def contains(self, theta: Any) -> np.ndarray:
        """Boolean mask (n,) of sampling-coordinate points inside the support (edges included)."""
        t = np.atleast_2d(np.asarray(theta, dtype=float))
        lo, hi = self._low_high
        return np.all((t >= lo) & (t <= hi), axis=1)

    def log_prob(self, theta: Any) -> np.ndarray:
        """Normalised log prior density in θ, shape (n,); ``-inf`` outside the support."""
        t = np.atleast_2d(np.asarray(theta, dtype=float))
        out = np.full(len(t), -np.inf)
        inside = self.contains(t)
        const = self._log_norm
        if self.kind == "loguniform":
            out[inside] = const
        else:
            z = (t[inside, 0] - float(self.log10_fa_mean)) / float(self.log10_fa_sigma)  # type: ignore[arg-type]
            out[inside] = const - 0.5 * z**2
        return out

    def log10_fa_density(self, log10_fa: Any) -> np.ndarray:
        """Marginal prior density of log10(f_a/GeV) (couplings integrated out), same shape as
        ``log10_fa``; 0 outside the f_a range."""
        x = np.asarray(log10_fa, dtype=float)
        lo, hi = self.bounds_array[0]
        log_density = np.full(x.shape, self._log_norm_fa())
        if self.kind == "gaussian":
            z = (x - float(self.log10_fa_mean)) / float(self.log10_fa_sigma)  # type: ignore[arg-type]
            log_density = log_density - 0.5 * z**2
        return np.where((x >= lo) & (x <= hi), np.exp(log_density), 0.0)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` seeded draws from the prior, sampling coordinates, shape (n, 6)."""
        from scipy.stats import truncnorm

        rng = np.random.default_rng(seed)
        lo, hi = self.bounds_array.T
        t = lo + rng.random((int(n), len(lo))) * (hi - lo)
        if self.kind == "gaussian":
            mu, sd = float(self.log10_fa_mean), float(self.log10_fa_sigma)  # type: ignore[arg-type]
            t[:, 0] = truncnorm.rvs((lo[0] - mu) / sd, (hi[0] - mu) / sd, loc=mu, scale=sd,
                                    size=int(n), random_state=rng)
        return t

    def describe(self) -> str:
        """One line: the prior in words."""
        b = self.bounds_array
        fa = (f"log10 f_a ~ U[{b[0, 0]:.3g}, {b[0, 1]:.3g}]" if self.kind == "loguniform" else
              f"log10 f_a ~ N({self.log10_fa_mean:g}, {self.log10_fa_sigma:g}²) on "
              f"[{b[0, 0]:.3g}, {b[0, 1]:.3g}]")
        same = np.all(b[1:] == b[1])
        cs = (f"couplings ~ U[{b[1, 0]:g}, {b[1, 1]:g}]" if same else
              "couplings ~ " + ", ".join(f"{n}∈[{lo:g}, {hi:g}]"
                                         for n, (lo, hi) in zip(SAMPLING_NAMES[1:], b[1:],
                                                                strict=True)))
        return f"{fa}; {cs}"


def check_inside(bounds_theta: np.ndarray, domain_physical: np.ndarray, what: str) -> None:
    """Check that a box in sampling coordinates lies inside a physical box.

    Parameters
    ----------
    bounds_theta : numpy.ndarray, shape (6, 2)
        The box in θ (log10 f_a, couplings).
    domain_physical : array_like, shape (6, 2)
        The physical box (f_a in GeV).
    what : str
        Name of the physical box in the error message (e.g. ``"domain"``).

    Raises
    ------
    ValueError
        If ``domain_physical`` has the wrong shape or the θ box leaves it (beyond rounding).
    """
    dom = np.asarray(domain_physical, dtype=float).copy()
    if dom.shape != (len(SAMPLING_NAMES), 2):
        raise ValueError(f"{what} must have shape (6, 2), got {dom.shape}")
    dom[0] = np.log10(dom[0])
    tol = 1e-12 * np.maximum(1.0, np.abs(dom))
    for k, name in enumerate(SAMPLING_NAMES):
        lo, hi = bounds_theta[k]
        if lo < dom[k, 0] - tol[k, 0] or hi > dom[k, 1] + tol[k, 1]:
            phys = alps.PARAMETERS[k]
            shown = (f"[{10**lo:.4g}, {10**hi:.4g}] GeV" if k == 0 else f"[{lo:g}, {hi:g}]")
            dshown = (f"[{10**dom[0, 0]:.4g}, {10**dom[0, 1]:.4g}] GeV" if k == 0 else
                      f"[{dom[k, 0]:g}, {dom[k, 1]:g}]")
            raise ValueError(f"prior range of {phys!r} ({name}) {shown} leaves the {what} "
                             f"{dshown}; the surrogate is not trained there")


def make_prior(kind: PriorKind = "loguniform", *,
               log10_fa_mean: float = LOG10_FA_TUTORIAL[0],
               log10_fa_sigma: float = LOG10_FA_TUTORIAL[1],
               fa_range_gev: tuple[float, float] | None = None,
               coupling_range: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
               domain: np.ndarray | None = None) -> Prior:
    """Build a :class:`Prior`.

    Parameters
    ----------
    kind : ``"loguniform"`` or ``"gaussian"``
        Flat in log10 f_a, or log10 f_a ~ N(``log10_fa_mean``, ``log10_fa_sigma``²) truncated to
        the f_a range (default the tutorial's 7.5 ± 0.2, :data:`LOG10_FA_TUTORIAL`).
    log10_fa_mean, log10_fa_sigma : float
        Mean and standard deviation of the Gaussian in log10(f_a/GeV) (``"gaussian"`` only).
    fa_range_gev : (float, float), optional
        (low, high) of f_a in GeV; default the domain's.
    coupling_range : (float, float) or sequence of five pairs, optional
        One (low, high) for all five couplings or one pair each; default the domain's.
    domain : numpy.ndarray, shape (6, 2), optional
        Physical box the prior must stay inside (default :data:`lecture_utils.alps.DOMAIN`;
        pass ``surrogate.domain`` to check against a surrogate).

    Returns
    -------
    Prior

    Raises
    ------
    ValueError
        For a range outside ``domain``, an empty range, f_a ≤ 0 or a wrong shape.
    """
    dom = alps.DOMAIN.bounds if domain is None else np.asarray(domain, dtype=float)
    if dom.shape != (len(SAMPLING_NAMES), 2):
        raise ValueError(f"domain must have shape (6, 2), got {dom.shape}")
    fa = tuple(dom[0]) if fa_range_gev is None else tuple(float(v) for v in fa_range_gev)
    if len(fa) != 2 or not (0 < fa[0] < fa[1]) or not all(map(math.isfinite, fa)):
        raise ValueError("fa_range_gev must be (low, high) in GeV with 0 < low < high, got "
                         f"{fa_range_gev}")
    if coupling_range is None:
        cr = [tuple(r) for r in dom[1:]]
    else:
        arr = np.asarray(coupling_range, dtype=float)
        if arr.shape == (2,):
            cr = [tuple(arr)] * (len(SAMPLING_NAMES) - 1)
        elif arr.shape == (len(SAMPLING_NAMES) - 1, 2):
            cr = [tuple(r) for r in arr]
        else:
            raise ValueError("coupling_range must be one (low, high) pair or five pairs, got "
                             f"shape {arr.shape}")
    bounds = ((math.log10(fa[0]), math.log10(fa[1])),) + tuple(
        (float(lo), float(hi)) for lo, hi in cr)
    prior = Prior(kind, bounds, float(log10_fa_mean) if kind == "gaussian" else None,
                  float(log10_fa_sigma) if kind == "gaussian" else None)
    check_inside(prior.bounds_array, dom, "domain")
    return prior


def as_prior(prior: Prior | str) -> Prior:
    """``prior`` itself, or :func:`make_prior` of a kind name (``"loguniform"``/``"gaussian"``).

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(prior, Prior):
        return prior
    if isinstance(prior, str):
        return make_prior(prior)  # type: ignore[arg-type]
    raise ValueError(f"prior must be a Prior or 'loguniform'/'gaussian', got {prior!r}")
