"""Likelihoods, χ², Wilks' theorem and profile likelihoods — the statistics every chapter uses.

This module is a leaf of the package: it imports nothing else from :mod:`lecture_utils` except the
progress-bar helper. Its vocabulary follows iminuit's: a **profile** minimises all other
parameters at each fixed value of the parameter(s) of interest; MIGRAD finds a minimum; MINOS finds
the interval where the profiled χ² rises by a threshold Δχ² above its minimum.

Conventions
-----------
* ``χ²`` means ``-2 ln L`` up to a parameter-independent constant (``errordef = 1`` in iminuit, i.e.
  ``Minuit.LEAST_SQUARES``). All χ² values are dimensionless.
* A confidence level ``cl`` is a probability in the open interval (0, 1).
* ``nsigma`` is the **two-sided** Gaussian-equivalent significance: ``n`` σ corresponds to the
  probability content of ``[μ - nσ, μ + nσ]`` of a normal distribution, ``CL = erf(n / √2)``, and to
  the p-value ``p = 1 - CL = 2 Φ(-n)``. So 1σ ↔ 68.27 %, 2σ ↔ 95.45 %, 3σ ↔ 99.73 %.
  (The one-sided "discovery" convention, 5σ ↔ 2.87 × 10⁻⁷, is available with ``two_sided=False`` in
  the p-value functions.)
* ``dof`` for a Δχ² threshold is the number of parameters of interest of the interval or region
  (1 for an interval, 2 for a 2-D region, …), not the number of measurements.

Every random draw takes an explicit ``seed`` (an ``int`` or a :class:`numpy.random.Generator`). Bad
input raises :class:`ValueError` naming the problem.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from iminuit import Minuit
from scipy import linalg, optimize, special
from scipy import stats as sps

from lecture_utils._progress import progress_bar

__all__ = [
    "REGION_DELTA_CHI2",
    "STANDARD_CLS",
    "GaussianChi2",
    "Interval",
    "Profile1D",
    "Profile2D",
    "WilksCheck",
    "chi2_gaussian",
    "chi2_pvalue",
    "cholesky_factor",
    "cl_from_delta_chi2",
    "cl_from_nsigma",
    "contour_levels",
    "covariance_from_correlation",
    "delta_chi2",
    "delta_chi2_table",
    "gaussian_log_likelihood",
    "interval_from_profile",
    "make_minuit",
    "minos_interval",
    "nsigma_from_cl",
    "nsigma_to_pvalue",
    "profile_1d",
    "profile_2d",
    "pvalue_to_nsigma",
    "region_mask",
    "total_covariance",
    "wilks_check",
    "wilks_toys_linear",
    "wilks_toys_poisson",
]

#: The course's default cut that defines the *region of interest* of the ALP fit: a point belongs to
#: the region when ``χ² - χ²_min < REGION_DELTA_CHI2``. The reference tutorial trained its surrogate
#: regressor on Δχ² < 10, and every later chapter imports this constant instead of retyping the
#: number. (For the 6 parameters of the ALP fit, Δχ² = 10 is ≈ 87.5 % CL, about 1.5σ; see
#: :func:`cl_from_delta_chi2`.)
REGION_DELTA_CHI2: float = 10.0

#: Probability contents of the 1σ, 2σ, 3σ two-sided Gaussian intervals, rounded as usually quoted.
STANDARD_CLS: tuple[float, ...] = (0.6827, 0.9545, 0.9973)

FloatArray = npt.NDArray[np.float64]
Chi2Function = Callable[[FloatArray], float]
Seed = int | np.random.Generator | np.random.SeedSequence
Bounds = Sequence[tuple[float | None, float | None] | None]


# --------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------


def _as_float_array(value: Any, name: str) -> FloatArray:
    """``value`` as a float array; ``ValueError`` naming ``name`` if not numeric or NaN."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {value!r}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: {value!r}")
    return arr


def _finite_array(value: Any, name: str) -> FloatArray:
    """Like :func:`_as_float_array` but also rejects ±inf."""
    arr = _as_float_array(value, name)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))
        raise ValueError(f"{name} contains non-finite values (inf) at positions {bad.tolist()}")
    return arr


def _scalar_or_array(arr: FloatArray) -> float | FloatArray:
    return float(arr) if arr.ndim == 0 else arr


def _check_cl(cl: Any, name: str = "cl") -> FloatArray:
    arr = _as_float_array(cl, name)
    if ((arr <= 0.0) | (arr >= 1.0)).any():
        raise ValueError(
            f"{name} must be a probability strictly between 0 and 1 (e.g. 0.6827), got {cl!r}"
        )
    return arr


def _check_nsigma(nsigma: Any) -> FloatArray:
    arr = _as_float_array(nsigma, "nsigma")
    if (arr <= 0.0).any() or not np.isfinite(arr).all():
        raise ValueError(f"nsigma must be a finite number > 0, got {nsigma!r}")
    return arr


def _check_pvalue(pvalue: Any) -> FloatArray:
    arr = _as_float_array(pvalue, "pvalue")
    if ((arr <= 0.0) | (arr >= 1.0)).any():
        raise ValueError(f"pvalue must lie strictly between 0 and 1, got {pvalue!r}")
    return arr


def _check_dof(dof: Any) -> int:
    if isinstance(dof, bool) or not isinstance(dof, numbers.Real):
        raise ValueError(f"dof must be an integer >= 1, got {dof!r}")
    if math.isnan(float(dof)) or not float(dof).is_integer() or dof < 1:
        raise ValueError(f"dof must be an integer >= 1, got {dof!r}")
    return int(dof)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _rng(seed: Seed | None) -> np.random.Generator:
    if seed is None:
        raise ValueError("seed is required (an int or a numpy.random.Generator) for reproducible "
                         "toys")
    return np.random.default_rng(seed)


def _threshold(cl: Any, nsigma: Any, dof: int) -> tuple[float, float]:
    """(Δχ² threshold, probability content) for exactly one of ``cl`` / ``nsigma``."""
    thr = float(delta_chi2(cl, nsigma=nsigma, dof=dof))
    content = float(cl) if cl is not None else float(sps.chi2.cdf(thr, dof))
    return thr, content


# --------------------------------------------------------------------------------------------------
# confidence levels, significances, thresholds
# --------------------------------------------------------------------------------------------------


def cl_from_nsigma(nsigma: npt.ArrayLike) -> float | FloatArray:
    """Probability content of a two-sided ``nsigma`` Gaussian interval, ``CL = erf(n/√2)``.

    ``nsigma``: scalar or array, each > 0. Returns a float for scalar input, else an array of the
    same shape. For large significances (n ≳ 7) the CL rounds to 1 in double precision; work with
    p-values (:func:`nsigma_to_pvalue`) there.
    """
    n = _check_nsigma(nsigma)
    return _scalar_or_array(special.erf(n / math.sqrt(2.0)))


def nsigma_from_cl(cl: npt.ArrayLike) -> float | FloatArray:
    """Two-sided Gaussian-equivalent significance of a confidence level: ``n = √2 erf⁻¹(CL)``.

    Inverse of :func:`cl_from_nsigma`. ``cl``: scalar or array in (0, 1).
    """
    c = _check_cl(cl)
    return _scalar_or_array(math.sqrt(2.0) * special.erfinv(c))


def nsigma_to_pvalue(nsigma: npt.ArrayLike, *, two_sided: bool = True) -> float | FloatArray:
    """p-value of an ``nsigma`` deviation: ``2 Φ(-n)`` (two-sided, default) or ``Φ(-n)``.

    Computed with the normal survival function, so it stays accurate far in the tail
    (5σ two-sided: 5.7 × 10⁻⁷).
    """
    n = _check_nsigma(nsigma)
    p = sps.norm.sf(n)
    return _scalar_or_array(2.0 * p if two_sided else p)


def pvalue_to_nsigma(pvalue: npt.ArrayLike, *, two_sided: bool = True) -> float | FloatArray:
    """Gaussian-equivalent significance of a p-value in (0, 1): ``Φ⁻¹(1 - p/2)`` (two-sided).

    Inverse of :func:`nsigma_to_pvalue` with the same ``two_sided`` convention. A one-sided
    p-value ≥ 0.5 would give n ≤ 0 and raises ``ValueError``.
    """
    p = _check_pvalue(pvalue)
    n = sps.norm.isf(p / 2.0 if two_sided else p)
    if (n <= 0).any():
        raise ValueError(f"pvalue {pvalue!r} corresponds to a significance <= 0")
    return _scalar_or_array(n)


def delta_chi2(
    cl: npt.ArrayLike | None = None, *, nsigma: npt.ArrayLike | None = None, dof: int = 1
) -> float | FloatArray:
    """Δχ² threshold of a confidence interval/region for ``dof`` parameters of interest.

    Give exactly one of ``cl`` (probability in (0, 1)) or ``nsigma`` (two-sided
    Gaussian-equivalent significance, > 0). The result is the ``cl`` quantile of the χ² distribution
    with ``dof`` degrees of freedom, ``scipy.stats.chi2.ppf(cl, dof)``; for ``nsigma`` it is
    computed from the p-value, ``scipy.stats.chi2.isf(2 Φ(-n), dof)``, so it stays accurate for
    large n. Examples: 1σ is
    Δχ² = 1 for one parameter and 2.30 for two.

    Returns a float (dimensionless) for scalar input, an array for array input.
    """
    if (cl is None) == (nsigma is None):
        raise ValueError("give exactly one of cl (a probability) or nsigma (a significance)")
    k = _check_dof(dof)
    if cl is not None:
        return _scalar_or_array(sps.chi2.ppf(_check_cl(cl), k))
    p = np.asarray(nsigma_to_pvalue(nsigma))
    return _scalar_or_array(sps.chi2.isf(p, k))


def cl_from_delta_chi2(delta: npt.ArrayLike, dof: int = 1) -> float | FloatArray:
    """Probability content of the region ``Δχ² ≤ delta`` for ``dof`` parameters: ``chi2.cdf``.

    Inverse of :func:`delta_chi2`. ``delta`` must be ≥ 0.
    """
    k = _check_dof(dof)
    d = _as_float_array(delta, "delta")
    if (d < 0).any():
        raise ValueError(f"delta must be >= 0, got {delta!r}")
    return _scalar_or_array(sps.chi2.cdf(d, k))


def chi2_pvalue(chi2: npt.ArrayLike, dof: int) -> float | FloatArray:
    """Goodness-of-fit p-value ``P(χ²_dof ≥ chi2)``; ``dof`` = measurements − fitted parameters."""
    k = _check_dof(dof)
    c = _as_float_array(chi2, "chi2")
    if (c < 0).any():
        raise ValueError(f"chi2 must be >= 0, got {chi2!r}")
    return _scalar_or_array(sps.chi2.sf(c, k))


def delta_chi2_table(
    cls: Iterable[float] | None = STANDARD_CLS,
    dofs: Iterable[int] = range(1, 7),
    *,
    nsigmas: Iterable[float] | None = None,
) -> pd.DataFrame:
    """Table of Δχ² thresholds: one row per ``dof`` (number of parameters of interest), one column
    per confidence level — the analogue of flavio's ``delta_chi2(nsigma, dof)``.

    With ``nsigmas`` given, the columns are significances (labelled ``"1σ"``, ``"2σ"``, …) instead
    of ``cls``. Shape: ``(len(dofs), len(cls or nsigmas))``.
    """
    dof_list = [_check_dof(k) for k in dofs]
    if not dof_list:
        raise ValueError("dofs is empty")
    if nsigmas is not None:
        ns = [float(n) for n in nsigmas]
        if not ns:
            raise ValueError("nsigmas is empty")
        data = {f"{n:g}σ": [delta_chi2(nsigma=n, dof=k) for k in dof_list] for n in ns}
        columns = pd.Index(list(data), name="nσ")
    else:
        if cls is None:
            raise ValueError("give cls or nsigmas")
        cl_list = [float(c) for c in cls]
        if not cl_list:
            raise ValueError("cls is empty")
        data = {c: [delta_chi2(c, dof=k) for k in dof_list] for c in cl_list}
        columns = pd.Index(cl_list, name="CL")
    table = pd.DataFrame(data, index=pd.Index(dof_list, name="dof"))
    table.columns = columns
    return table


def contour_levels(
    cls: Iterable[float] | None = None, *, nsigmas: Iterable[float] | None = None, dof: int = 2
) -> FloatArray:
    """Sorted Δχ² levels for drawing confidence regions (``matplotlib.pyplot.contour(levels=…)``).

    Give ``cls`` or ``nsigmas``; ``dof`` is the number of parameters of the region (2 for a plane).
    Shape ``(len(cls or nsigmas),)``.
    """
    if (cls is None) == (nsigmas is None):
        raise ValueError("give exactly one of cls or nsigmas")
    if cls is not None:
        levels = [delta_chi2(c, dof=dof) for c in cls]
    else:
        assert nsigmas is not None
        levels = [delta_chi2(nsigma=n, dof=dof) for n in nsigmas]
    if not levels:
        raise ValueError("no confidence levels given")
    return np.sort(np.asarray(levels, dtype=float))


def region_mask(
    delta: npt.ArrayLike,
    cl: float | None = None,
    *,
    nsigma: float | None = None,
    dof: int = 2,
) -> npt.NDArray[np.bool_]:
    """Boolean mask of the confidence region ``Δχ² ≤ threshold(cl or nsigma, dof)``.

    ``delta``: Δχ² values of any shape (NaN not allowed; +inf is outside). Same shape returned.
    """
    d = _as_float_array(delta, "delta")
    thr = delta_chi2(cl, nsigma=nsigma, dof=dof)
    return d <= thr


# --------------------------------------------------------------------------------------------------
# Gaussian likelihood and χ²
# --------------------------------------------------------------------------------------------------


def _check_covariance_component(cov: Any, name: str) -> FloatArray:
    c = _finite_array(cov, name)
    if c.ndim == 1:
        if (c < 0).any():
            raise ValueError(f"{name}: standard deviations must be >= 0, got {c.tolist()}")
        return np.diag(c**2)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"{name} must be a vector of σ or a square matrix, got shape {c.shape}")
    scale = max(float(np.abs(c).max()), np.finfo(float).tiny)
    if not np.allclose(c, c.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError(f"{name} is not symmetric")
    if (np.diag(c) < 0).any():
        raise ValueError(f"{name} has negative variances on its diagonal")
    return c


def covariance_from_correlation(sigma: npt.ArrayLike, correlation: npt.ArrayLike) -> FloatArray:
    """Covariance ``C_ij = σ_i ρ_ij σ_j`` from standard deviations and a correlation matrix.

    ``sigma``: shape ``(n,)``, same units as the measurements. ``correlation``: shape ``(n, n)``
    with unit diagonal, or a scalar ρ used for every off-diagonal entry (ρ = 1: fully correlated,
    e.g. a common theory uncertainty). Returns shape ``(n, n)`` in units².
    """
    s = _finite_array(sigma, "sigma")
    if s.ndim != 1:
        raise ValueError(f"sigma must be 1-D, got shape {s.shape}")
    if (s < 0).any():
        raise ValueError("sigma must be >= 0")
    rho = _finite_array(correlation, "correlation")
    if rho.ndim == 0:
        rho = np.full((s.size, s.size), float(rho))
        np.fill_diagonal(rho, 1.0)
    if rho.shape != (s.size, s.size):
        raise ValueError(
            f"shape mismatch: {s.size} standard deviations but correlation of shape {rho.shape}"
        )
    if not np.allclose(np.diag(rho), 1.0) or (np.abs(rho) > 1.0 + 1e-12).any():
        raise ValueError("correlation must have unit diagonal and entries in [-1, 1]")
    if not np.allclose(rho, rho.T):
        raise ValueError("correlation is not symmetric")
    return np.outer(s, s) * rho


def total_covariance(*components: npt.ArrayLike) -> FloatArray:
    """Total covariance of independent error sources: experimental ⊕ theory ⊕ …

    Each component is a vector of standard deviations ``(n,)`` (independent errors) or a
    covariance matrix ``(n, n)``; independent sources add as covariances (errors in quadrature).
    Components may be singular (e.g. a fully correlated theory error); positive-definiteness of the
    *sum* is checked when it is used (:func:`cholesky_factor`). Returns shape ``(n, n)`` in units of
    the data squared.
    """
    if not components:
        raise ValueError("total_covariance needs at least one component")
    mats = [_check_covariance_component(c, f"covariance component {i}")
            for i, c in enumerate(components)]
    shapes = {m.shape for m in mats}
    if len(shapes) != 1:
        raise ValueError(f"shape mismatch between covariance components: {sorted(shapes)}")
    return np.sum(mats, axis=0)


def cholesky_factor(cov: npt.ArrayLike) -> FloatArray:
    """Lower-triangular ``L`` with ``L Lᵀ = cov``; ``cov`` is ``(n,)`` σ values or ``(n, n)``.

    Raises ``ValueError`` if the covariance is not symmetric positive definite (the message gives
    the smallest eigenvalue) or contains NaN/inf.
    """
    c = _check_covariance_component(cov, "covariance")
    try:
        factor = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        eig = float(np.linalg.eigvalsh(c).min())
        raise ValueError(
            f"covariance matrix is not positive definite (smallest eigenvalue {eig:.3g})"
        ) from None
    return factor


class GaussianChi2:
    """χ² of fixed Gaussian measurements against predictions, ``rᵀ C⁻¹ r`` with ``r = data - pred``.

    The Cholesky factor of the covariance is computed once, so calling the object inside a fit is
    cheap. ``data``: shape ``(n,)``. ``cov``: ``(n,)`` standard deviations (independent
    measurements) or an ``(n, n)`` covariance, e.g. from :func:`total_covariance`.
    """

    def __init__(self, data: npt.ArrayLike, cov: npt.ArrayLike) -> None:
        d = _finite_array(data, "data")
        if d.ndim != 1:
            raise ValueError(f"data must be 1-D (one entry per measurement), got shape {d.shape}")
        c = np.asarray(cov, dtype=float)
        n_cov = c.shape[0] if c.ndim >= 1 else 0
        if c.ndim not in (1, 2) or n_cov != d.size:
            raise ValueError(
                f"shape mismatch: {d.size} measurements but covariance of shape {c.shape}"
            )
        self.data: FloatArray = d
        self.cholesky: FloatArray = cholesky_factor(c)
        self.n: int = d.size

    def whiten(self, residuals: npt.ArrayLike) -> FloatArray:
        """``L⁻¹ r`` for residuals of shape ``(..., n)``: independent unit-Gaussian pulls."""
        r = _finite_array(residuals, "residuals")
        if r.ndim == 0 or r.shape[-1] != self.n:
            raise ValueError(
                f"shape mismatch: residuals of shape {r.shape} for {self.n} measurements"
            )
        flat = r.reshape(-1, self.n).T
        z = linalg.solve_triangular(self.cholesky, flat, lower=True, check_finite=False)
        return z.T.reshape(r.shape)

    def __call__(self, prediction: npt.ArrayLike) -> float | FloatArray:
        """χ² for predictions of shape ``(n,)`` (a float) or ``(..., n)`` (an array ``(...)``)."""
        p = _finite_array(prediction, "prediction")
        z = self.whiten(self.data - p)
        return _scalar_or_array(np.sum(z**2, axis=-1))

    def log_likelihood(self, prediction: npt.ArrayLike) -> float | FloatArray:
        """``ln L = -χ²/2 - ln det(2πC)/2`` (natural log, normalised multivariate Gaussian)."""
        chi2 = np.asarray(self(prediction))
        log_det = 2.0 * np.sum(np.log(np.diag(self.cholesky)))
        return _scalar_or_array(-0.5 * chi2 - 0.5 * (log_det + self.n * math.log(2 * math.pi)))


def chi2_gaussian(
    data: npt.ArrayLike, cov: npt.ArrayLike, *, prediction: npt.ArrayLike | None = None
) -> float | FloatArray:
    """χ² = rᵀ C⁻¹ r of Gaussian measurements, solved with a Cholesky factor (no explicit inverse).

    Parameters
    ----------
    data
        Measurements, shape ``(n,)`` — or residuals ``data - prediction`` when ``prediction`` is
        ``None``. A batch ``(..., n)`` gives one χ² per row.
    cov
        ``(n,)`` standard deviations for independent measurements, or an ``(n, n)`` covariance
        (experimental ⊕ theory, see :func:`total_covariance`), in units of the data (squared).
    prediction
        Model predictions broadcastable to ``data``.

    Returns a float for a single data vector, an array of shape ``(...)`` for a batch.
    Raises ``ValueError`` for NaN/inf, shape mismatch or a covariance that is not positive definite.
    """
    d = _finite_array(data, "data")
    if prediction is not None:
        d = d - _finite_array(prediction, "prediction")
    c = np.asarray(cov, dtype=float)
    if d.ndim == 0 or c.ndim not in (1, 2) or d.shape[-1] != c.shape[0]:
        raise ValueError(
            f"shape mismatch: data of shape {d.shape} but covariance of shape {c.shape}"
        )
    z = GaussianChi2(np.zeros(c.shape[0]), c).whiten(d)
    return _scalar_or_array(np.sum(z**2, axis=-1))


def gaussian_log_likelihood(
    data: npt.ArrayLike, cov: npt.ArrayLike, *, prediction: npt.ArrayLike | None = None
) -> float | FloatArray:
    """Normalised Gaussian log-likelihood ``ln L = -χ²/2 - ln det(2πC)/2``; arguments as in
    :func:`chi2_gaussian`. So ``-2 ln L = χ² + const``: χ² differences are likelihood ratios."""
    d = _finite_array(data, "data")
    if prediction is not None:
        d = d - _finite_array(prediction, "prediction")
    c = np.asarray(cov, dtype=float)
    if d.ndim == 0 or c.ndim not in (1, 2) or d.shape[-1] != c.shape[0]:
        raise ValueError(
            f"shape mismatch: data of shape {d.shape} but covariance of shape {c.shape}"
        )
    return GaussianChi2(np.zeros(c.shape[0]), c).log_likelihood(-d)


# --------------------------------------------------------------------------------------------------
# Wilks' theorem with pseudo-experiments
# --------------------------------------------------------------------------------------------------


def wilks_toys_linear(
    n_toys: int,
    design: npt.ArrayLike,
    cov: npt.ArrayLike,
    theta_true: npt.ArrayLike,
    *,
    n_poi: int | None = None,
    seed: Seed,
) -> FloatArray:
    """Pseudo-experiments for a linear Gaussian model: ``-2 ln λ`` per toy, shape ``(n_toys,)``.

    Model: ``y = X θ + ε`` with ``ε ~ N(0, C)``. Each toy draws pseudo-data ``y`` at the true
    ``θ``, fits all parameters by (generalised) least squares, ``χ²_min``, and fits again with the
    first ``n_poi`` parameters fixed to their true values and the remaining (nuisance) parameters
    free, ``χ²(H0)``. The test statistic ``-2 ln λ = χ²(H0) - χ²_min`` follows χ² with ``n_poi``
    degrees of freedom *exactly* for this linear model, whatever the number of nuisances.

    Parameters
    ----------
    n_toys
        Number of pseudo-experiments (vectorised: 10⁴ toys take milliseconds).
    design
        Design matrix ``X``, shape ``(n_data, n_par)``, full column rank, ``n_data ≥ n_par``.
    cov
        ``(n_data,)`` standard deviations or ``(n_data, n_data)`` covariance of the measurements.
    theta_true
        True parameters, shape ``(n_par,)``.
    n_poi
        Number of parameters of interest (the first ``n_poi``); default all ``n_par``.
    seed
        ``int`` or ``numpy.random.Generator``; the same seed gives identical toys.
    """
    n_toys = _check_positive_int(n_toys, "n_toys")
    x = _finite_array(design, "design")
    if x.ndim != 2:
        raise ValueError(f"design must be 2-D (n_data, n_par), got shape {x.shape}")
    n_data, n_par = x.shape
    if n_data < n_par:
        raise ValueError(f"design has fewer rows ({n_data}) than parameters ({n_par})")
    theta = _finite_array(theta_true, "theta_true")
    if theta.shape != (n_par,):
        raise ValueError(f"shape mismatch: theta_true of shape {theta.shape}, design has {n_par} "
                         "columns")
    k = n_par if n_poi is None else _check_positive_int(n_poi, "n_poi")
    if k > n_par:
        raise ValueError(f"n_poi = {k} exceeds the number of parameters {n_par}")
    chi2 = GaussianChi2(x @ theta, cov)
    rng = _rng(seed)
    xw = chi2.whiten(x.T).T                                   # L⁻¹ X, (n_data, n_par)
    if np.linalg.matrix_rank(xw) < n_par:
        raise ValueError("design matrix is rank-deficient: parameters are not identifiable")
    noise = rng.standard_normal((n_toys, n_data)) @ chi2.cholesky.T   # ε ~ N(0, C)
    pseudo_data = chi2.data + noise                           # (n_toys, n_data)
    yw = chi2.whiten(pseudo_data).T                           # whitened, (n_data, n_toys)

    def _chi2_min(design_w: FloatArray, target: FloatArray) -> FloatArray:
        if design_w.shape[1] == 0:
            return np.sum(target**2, axis=0)
        coef, *_ = np.linalg.lstsq(design_w, target, rcond=None)
        return np.sum((target - design_w @ coef) ** 2, axis=0)

    chi2_min = _chi2_min(xw, yw)
    chi2_h0 = _chi2_min(xw[:, k:], yw - xw[:, :k] @ theta[:k, None])
    return np.maximum(chi2_h0 - chi2_min, 0.0)


def wilks_toys_poisson(n_toys: int, expected: npt.ArrayLike, *, seed: Seed) -> FloatArray:
    """Pseudo-experiments for ``k`` Poisson counts: ``-2 ln λ`` per toy, shape ``(n_toys,)``.

    H0 fixes the ``k`` Poisson means to ``expected`` (shape ``(k,)``, events, each > 0); the
    alternative leaves them free (maximum-likelihood estimate = observed counts ``n``). Then
    ``-2 ln λ = 2 Σ_i [μ_i - n_i + n_i ln(n_i/μ_i)]``. Wilks' theorem says this tends to χ²_k only
    *asymptotically*, as the means grow: for means of a few events the distribution is discrete and
    visibly different — a useful counter-example.
    """
    n_toys = _check_positive_int(n_toys, "n_toys")
    mu = _finite_array(expected, "expected")
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"expected must be a non-empty 1-D array, got shape {mu.shape}")
    if (mu <= 0).any():
        raise ValueError("expected Poisson means must be > 0")
    counts = _rng(seed).poisson(mu, size=(n_toys, mu.size)).astype(float)
    t = 2.0 * np.sum(mu - counts + special.xlogy(counts, counts / mu), axis=1)
    return np.maximum(t, 0.0)


@dataclass(frozen=True, eq=False)
class WilksCheck:
    """Goodness of the χ²_dof approximation for an ensemble of ``-2 ln λ`` values.

    ``table`` has one row per confidence level: the Δχ² ``threshold``, the observed ``fraction`` of
    toys below it, the binomial standard deviation ``sigma = sqrt(CL (1 - CL) / n_toys)`` of that
    fraction, and the ``pull = (fraction - CL) / sigma``.
    """

    n_toys: int
    dof: int
    ks_statistic: float
    ks_pvalue: float
    table: pd.DataFrame

    def passed(self, max_pull: float = 3.0) -> bool:
        """True when every observed fraction is within ``max_pull`` binomial σ of its CL."""
        return bool((self.table["pull"].abs() <= max_pull).all())

    def __str__(self) -> str:
        lines = [
            f"Wilks check: {self.n_toys} toys against χ² with {self.dof} dof",
            f"  Kolmogorov–Smirnov: D = {self.ks_statistic:.4f}, p-value = {self.ks_pvalue:.3g}",
        ]
        for cl, row in self.table.iterrows():
            lines.append(
                f"  CL {cl:.4f}: Δχ² < {row['threshold']:.3f} holds for "
                f"{row['fraction']:.4f} ± {row['sigma']:.4f} of toys (pull {row['pull']:+.2f})"
            )
        return "\n".join(lines)


def wilks_check(
    t: npt.ArrayLike, dof: int, cls: Iterable[float] = STANDARD_CLS[:2]
) -> WilksCheck:
    """Compare toy values of ``-2 ln λ`` (shape ``(n_toys,)``) with the χ²_dof distribution.

    Returns a :class:`WilksCheck`: a Kolmogorov–Smirnov test and, for each CL in ``cls``, the
    fraction of toys below ``delta_chi2(cl, dof=dof)`` with its binomial uncertainty.
    """
    k = _check_dof(dof)
    values = _as_float_array(t, "t")
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"t must be a 1-D array of at least 2 toys, got shape {values.shape}")
    n = values.size
    ks = sps.kstest(values, sps.chi2(k).cdf)
    rows = {}
    for cl in cls:
        c = float(_check_cl(cl))
        thr = float(delta_chi2(c, dof=k))
        frac = float(np.mean(values < thr))
        sigma = math.sqrt(c * (1.0 - c) / n)
        rows[c] = {"threshold": thr, "fraction": frac, "sigma": sigma, "pull": (frac - c) / sigma}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "CL"
    return WilksCheck(n, k, float(ks.statistic), float(ks.pvalue), table)


# --------------------------------------------------------------------------------------------------
# minimisation with iminuit
# --------------------------------------------------------------------------------------------------


def _check_start(x0: Any) -> FloatArray:
    x = _finite_array(x0, "x0")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array of parameters, got shape {x.shape}")
    return x


def _check_bounds(bounds: Bounds | None, npar: int) -> list[tuple[float, float]]:
    if bounds is None:
        return [(-math.inf, math.inf)] * npar
    if len(bounds) != npar:
        raise ValueError(f"shape mismatch: {len(bounds)} bounds for {npar} parameters")
    out = []
    for i, b in enumerate(bounds):
        lo, hi = (None, None) if b is None else b
        lo_f = -math.inf if lo is None else float(lo)
        hi_f = math.inf if hi is None else float(hi)
        if math.isnan(lo_f) or math.isnan(hi_f) or not lo_f < hi_f:
            raise ValueError(f"bounds[{i}] = {b!r} is not an interval (lower < upper)")
        out.append((lo_f, hi_f))
    return out


def _check_index(index: Any, npar: int, name: str = "index") -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise ValueError(f"{name} must be an integer parameter index, got {index!r}")
    if not 0 <= index < npar:
        raise ValueError(f"{name} = {index} is out of range for {npar} parameters")
    return int(index)


def _check_grid(grid: Any, name: str, bounds: tuple[float, float]) -> FloatArray:
    g = _finite_array(grid, name)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 values, got shape {g.shape}")
    if not (np.diff(g) > 0).all():
        raise ValueError(f"{name} must be strictly increasing")
    if g[0] < bounds[0] or g[-1] > bounds[1]:
        raise ValueError(f"{name} [{g[0]:g}, {g[-1]:g}] leaves the parameter bounds {bounds}")
    return g


def make_minuit(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float | None = None,
) -> Minuit:
    """A :class:`iminuit.Minuit` for a χ² function of one parameter array, ready for MIGRAD.

    ``errordef`` is ``Minuit.LEAST_SQUARES`` (= 1: a χ², i.e. ``-2 ln L``), ``bounds`` become
    ``limits`` (``None`` = unbounded), ``names`` label the parameters (default ``x0, x1, …``).
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    if names is not None and len(names) != x.size:
        raise ValueError(f"shape mismatch: {len(names)} names for {x.size} parameters")
    m = Minuit(chi2_fn, x, grad=grad, name=None if names is None else tuple(names))
    m.errordef = Minuit.LEAST_SQUARES
    m.limits = lims
    if tol is not None:
        m.tol = tol
    return m


class _Minimiser:
    """One Minuit object reused for many fits with different fixed parameters (warm starts)."""

    def __init__(self, chi2_fn: Chi2Function, x0: FloatArray, bounds: list[tuple[float, float]],
                 names: Sequence[str] | None, grad: Any, tol: float) -> None:
        self.fn = chi2_fn
        self.npar = x0.size
        self.bounds = bounds
        self.calls = 0
        self.minuit = make_minuit(self._fcn, x0, bounds=bounds, names=names, grad=grad, tol=tol)
        self.names: tuple[str, ...] = tuple(self.minuit.parameters)

    def _fcn(self, x: FloatArray) -> float:
        self.calls += 1
        value = float(self.fn(np.asarray(x, dtype=float)))
        if math.isnan(value):
            raise ValueError(f"chi2_fn returned NaN at parameters {np.asarray(x).tolist()}")
        return value

    def fit(self, start: FloatArray, fixed: dict[int, float]) -> tuple[float, FloatArray, bool]:
        """Minimise over the parameters not in ``fixed`` from ``start``; (χ², params, valid)."""
        x = np.array(start, dtype=float)
        for i, v in fixed.items():
            x[i] = v
        for i, (lo, hi) in enumerate(self.bounds):
            x[i] = min(max(x[i], lo), hi)
        if len(fixed) == self.npar:
            return self._fcn(x), x, True
        m = self.minuit
        m.values = x
        m.fixed = [i in fixed for i in range(self.npar)]
        m.migrad()
        return float(m.fval), np.array(m.values, dtype=float), bool(m.valid)


def _global_fit(mini: _Minimiser, start: FloatArray) -> tuple[float, FloatArray, bool]:
    return mini.fit(start, {})


# --------------------------------------------------------------------------------------------------
# profile likelihood
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Interval:
    """A confidence interval ``[lower, upper]`` for one parameter (same units as the parameter).

    ``lower``/``upper`` are ``-inf``/``+inf`` where the profiled Δχ² did not reach the threshold
    inside the scanned range (or MINOS failed on that side). ``segments`` lists every disjoint
    piece of ``Δχ² ≤ threshold`` seen in a profile scan (one for a unimodal profile).
    """

    best: float
    lower: float
    upper: float
    cl: float
    threshold: float
    method: str
    segments: tuple[tuple[float, float], ...] = ()

    @property
    def errors(self) -> tuple[float, float]:
        """Asymmetric errors ``(lower - best, upper - best)`` as MINOS reports them."""
        return self.lower - self.best, self.upper - self.best

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def __str__(self) -> str:
        lo, hi = self.errors
        return (f"{self.best:.6g} {lo:+.4g}/{hi:+.4g}  [{self.lower:.6g}, {self.upper:.6g}] "
                f"at {self.cl:.2%} CL (Δχ² = {self.threshold:.4g}, {self.method})")


@dataclass(frozen=True, eq=False)
class Profile1D:
    """Profile χ² of one parameter; all other parameters minimised at each grid value.

    Attributes: ``index``/``name`` of the profiled parameter; ``grid`` shape ``(m,)``; ``chi2``
    shape ``(m,)`` — the profiled χ²; ``params`` shape ``(m, n_par)`` — the full best-fit
    parameter vector at each grid value (the profiled nuisance parameters); ``valid`` shape
    ``(m,)`` — MIGRAD's validity; ``best_fit`` shape ``(n_par,)`` and ``chi2_min`` — the global
    minimum.
    """

    index: int
    name: str
    names: tuple[str, ...]
    grid: FloatArray
    chi2: FloatArray
    params: FloatArray
    valid: npt.NDArray[np.bool_]
    best_fit: FloatArray
    chi2_min: float
    _minimiser: _Minimiser = field(repr=False)

    @property
    def delta_chi2(self) -> FloatArray:
        """``chi2 - chi2_min``, shape ``(m,)``."""
        return self.chi2 - self.chi2_min

    def to_frame(self) -> pd.DataFrame:
        """The scan as a table: grid value, χ², Δχ² and every parameter's profiled value."""
        frame = pd.DataFrame(self.params, columns=list(self.names))
        frame.insert(0, "delta_chi2", self.delta_chi2)
        frame.insert(0, "chi2", self.chi2)
        frame.index = pd.Index(self.grid, name=self.name)
        return frame

    def profile_at(
        self, value: float, start: npt.ArrayLike | None = None
    ) -> tuple[float, FloatArray]:
        """Profiled χ² and best-fit parameters at one more ``value`` of the parameter (a fresh
        MIGRAD warm-started from ``start`` or the nearest grid point)."""
        if start is None:
            start = self.params[int(np.argmin(np.abs(self.grid - value)))]
        chi2, params, _ = self._minimiser.fit(np.asarray(start, float), {self.index: float(value)})
        return chi2, params

    def interval(self, cl: float | None = None, *, nsigma: float | None = None, dof: int = 1,
                 refine: bool = True) -> Interval:
        """Shortcut for :func:`interval_from_profile`."""
        return interval_from_profile(self, cl, nsigma=nsigma, dof=dof, refine=refine)


@dataclass(frozen=True, eq=False)
class Profile2D:
    """Profile χ² of two parameters on a grid; all others minimised at each grid point.

    Arrays follow matplotlib's convention for ``contour(x, y, z)``: ``chi2[j, i]`` is the profiled
    χ² at ``(x[i], y[j])``, shape ``(len(y), len(x))``; ``params`` has shape
    ``(len(y), len(x), n_par)``.
    """

    indices: tuple[int, int]
    names: tuple[str, ...]
    x: FloatArray
    y: FloatArray
    chi2: FloatArray
    params: FloatArray
    valid: npt.NDArray[np.bool_]
    best_fit: FloatArray
    chi2_min: float

    @property
    def delta_chi2(self) -> FloatArray:
        """``chi2 - chi2_min``, shape ``(len(y), len(x))``."""
        return self.chi2 - self.chi2_min

    def region_mask(self, cl: float | None = None, *, nsigma: float | None = None,
                    dof: int = 2) -> npt.NDArray[np.bool_]:
        """Grid points inside the joint confidence region (``dof = 2`` by default)."""
        return region_mask(self.delta_chi2, cl, nsigma=nsigma, dof=dof)


def _outward(n: int, start: int) -> list[int]:
    """Indices ``start, start+1, …, n-1, start-1, …, 0``: a scan that begins near the minimum."""
    return list(range(start, n)) + list(range(start - 1, -1, -1))


def profile_1d(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    index: int,
    grid: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float = 1e-4,
    progress: bool | None = None,
) -> Profile1D:
    """Profile likelihood scan of parameter ``index`` of any χ² function.

    Parameters
    ----------
    chi2_fn
        ``chi2_fn(params) -> float`` with ``params`` of shape ``(n_par,)`` — χ² = -2 ln L + const.
    x0
        Starting point, shape ``(n_par,)``; MIGRAD first finds the global minimum from here.
    index
        Which parameter to profile.
    grid
        Strictly increasing values of that parameter, shape ``(m,)``.
    bounds
        Optional ``(lower, upper)`` per parameter (``None`` for unbounded), passed to Minuit.
    names, grad
        Parameter names and an optional analytic gradient, passed to :class:`iminuit.Minuit`.
    tol
        MIGRAD tolerance: it stops when the expected distance to the minimum is below
        ``0.002 · tol`` in χ² (the default is 1000× stricter than Minuit's, so that Δχ² crossings
        are located to ~10⁻⁷ of the parameter's error).
    progress
        Show a progress bar (default: environment ``LECTURE_UTILS_PROGRESS``).

    At each grid value the other parameters are minimised with MIGRAD, warm-started from the
    neighbouring grid value; the scan starts at the grid value nearest the best fit and walks
    outwards. Where ``x0`` with the parameter moved to the grid value has a lower χ² than the
    warm-started fit (a scan can stay on one branch of a multi-modal χ²), the fit is repeated from
    there and the lower result kept. If the scan finds a lower χ² than the global fit, the global
    fit is redone from there.
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    i = _check_index(index, x.size)
    g = _check_grid(grid, "grid", lims[i])
    mini = _Minimiser(chi2_fn, x, lims, names, grad, tol)
    chi2_min, best, _ = _global_fit(mini, x)

    m = g.size
    chi2 = np.empty(m)
    params = np.empty((m, x.size))
    valid = np.zeros(m, dtype=bool)
    start = int(np.argmin(np.abs(g - best[i])))
    for k in progress_bar(_outward(m, start), progress=progress, total=m,
                          desc=f"profile {mini.names[i]}"):
        if k == start:
            seed_point = best
        else:
            seed_point = params[k - 1] if k > start else params[k + 1]
        chi2[k], params[k], valid[k] = mini.fit(seed_point, {i: g[k]})
        # a warm start can stay on a branch of the fit: never report more than a fit started
        # from the caller's point with the parameter moved (one χ² call; a fit only if it wins)
        cold = x.copy()
        cold[i] = g[k]
        if chi2_fn(cold) < chi2[k]:
            c, p, v = mini.fit(cold, {i: g[k]})
            if c < chi2[k]:
                chi2[k], params[k], valid[k] = c, p, v

    if chi2.min() < chi2_min:
        refit, refit_best, _ = _global_fit(mini, params[int(np.argmin(chi2))])
        if refit < chi2_min:
            chi2_min, best = refit, refit_best
        chi2_min = min(chi2_min, float(chi2.min()))
    return Profile1D(i, mini.names[i], mini.names, g, chi2, params, valid, best, float(chi2_min),
                     mini)


def profile_2d(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    indices: tuple[int, int],
    grid_x: npt.ArrayLike,
    grid_y: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float = 1e-4,
    progress: bool | None = None,
) -> Profile2D:
    """Profile likelihood of two parameters ``indices = (ix, iy)`` on the grid ``grid_x × grid_y``.

    Arguments as in :func:`profile_1d`; ``grid_x`` (shape ``(mx,)``) and ``grid_y`` (``(my,)``) are
    strictly increasing. Each grid point is warm-started from its already-profiled neighbour on the
    side of the best fit. Returns a :class:`Profile2D` with arrays of shape ``(my, mx)``; confidence
    regions use Δχ² thresholds with ``dof = 2`` (:func:`contour_levels`, :func:`region_mask`).
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    if len(indices) != 2:
        raise ValueError(f"indices must be two parameter indices, got {indices!r}")
    ix = _check_index(indices[0], x.size, "indices[0]")
    iy = _check_index(indices[1], x.size, "indices[1]")
    if ix == iy:
        raise ValueError("indices must name two different parameters")
    gx = _check_grid(grid_x, "grid_x", lims[ix])
    gy = _check_grid(grid_y, "grid_y", lims[iy])
    mini = _Minimiser(chi2_fn, x, lims, names, grad, tol)
    chi2_min, best, _ = _global_fit(mini, x)

    ny, nx = gy.size, gx.size
    chi2 = np.empty((ny, nx))
    params = np.empty((ny, nx, x.size))
    valid = np.zeros((ny, nx), dtype=bool)
    i0 = int(np.argmin(np.abs(gx - best[ix])))
    j0 = int(np.argmin(np.abs(gy - best[iy])))
    order = [(j, i) for j in _outward(ny, j0) for i in _outward(nx, i0)]
    for j, i in progress_bar(order, progress=progress, total=len(order),
                             desc=f"profile {mini.names[ix]}, {mini.names[iy]}"):
        if (j, i) == (j0, i0):
            seed_point = best
        elif j == j0:
            seed_point = params[j, i - 1] if i > i0 else params[j, i + 1]
        else:
            seed_point = params[j - 1, i] if j > j0 else params[j + 1, i]
        chi2[j, i], params[j, i], valid[j, i] = mini.fit(seed_point, {ix: gx[i], iy: gy[j]})
        cold = x.copy()       # as in profile_1d: never above a fit from the caller's point
        cold[ix], cold[iy] = gx[i], gy[j]
        if chi2_fn(cold) < chi2[j, i]:
            c, p, v = mini.fit(cold, {ix: gx[i], iy: gy[j]})
            if c < chi2[j, i]:
                chi2[j, i], params[j, i], valid[j, i] = c, p, v

    if chi2.min() < chi2_min:
        jm, im = np.unravel_index(int(np.argmin(chi2)), chi2.shape)
        refit, refit_best, _ = _global_fit(mini, params[jm, im])
        if refit < chi2_min:
            chi2_min, best = refit, refit_best
        chi2_min = min(chi2_min, float(chi2.min()))
    return Profile2D((ix, iy), mini.names, gx, gy, chi2, params, valid, best, float(chi2_min))


def interval_from_profile(
    profile: Profile1D,
    cl: float | None = None,
    *,
    nsigma: float | None = None,
    dof: int = 1,
    refine: bool = True,
    xtol: float = 1e-12,
) -> Interval:
    """Confidence interval where the profiled Δχ² stays below ``delta_chi2(cl or nsigma, dof)``.

    The grid brackets each crossing of the threshold; with ``refine=True`` (default) the crossing is
    then located with Brent's method (:func:`scipy.optimize.brentq`, absolute tolerance ``xtol``)
    on the *re-profiled* χ² — each evaluation is a fresh MIGRAD of the nuisance parameters — so the
    endpoints do not depend on the grid spacing (an exact quadratic χ² is reproduced to ~1e-8).
    ``refine=False`` interpolates linearly between grid points.

    Returns an :class:`Interval` around the best fit (``-inf``/``+inf`` where the scan does not
    reach the threshold); all disjoint pieces are in ``Interval.segments``. ``dof`` other than 1
    gives the projection of a ``dof``-dimensional joint region onto this parameter.
    """
    if not isinstance(profile, Profile1D):
        raise ValueError(f"profile must be a Profile1D from profile_1d, got {type(profile)!r}")
    thr, content = _threshold(cl, nsigma, _check_dof(dof))
    g = profile.grid
    f = profile.delta_chi2 - thr

    def excess(value: float, start: FloatArray) -> float:
        chi2, _ = profile.profile_at(value, start)
        return chi2 - profile.chi2_min - thr

    crossings: list[float] = []
    for k in range(g.size - 1):
        if (f[k] <= 0) == (f[k + 1] <= 0):
            continue
        lin = g[k] + (g[k + 1] - g[k]) * f[k] / (f[k] - f[k + 1])
        root = lin
        if refine:
            near = profile.params[k] if abs(f[k]) < abs(f[k + 1]) else profile.params[k + 1]
            try:
                root = optimize.brentq(excess, g[k], g[k + 1], args=(near,), xtol=xtol,
                                       rtol=4 * np.finfo(float).eps)
            except ValueError:  # re-minimisation moved an end point across the threshold
                root = lin
        crossings.append(float(root))

    inside_start = f[0] <= 0
    edges = ([-math.inf] if inside_start else []) + crossings
    if len(edges) % 2:
        edges.append(math.inf)
    segments = tuple((edges[2 * s], edges[2 * s + 1]) for s in range(len(edges) // 2))
    best = float(profile.best_fit[profile.index])
    lower, upper = -math.inf, math.inf
    if segments:
        containing = [s for s in segments if s[0] <= best <= s[1]]
        if not containing:  # best fit outside the scanned range: take the nearest segment
            containing = [min(segments, key=lambda s: min(abs(s[0] - best), abs(s[1] - best)))]
        lower, upper = containing[0]
    return Interval(best, lower, upper, content, thr, "profile", segments)


def minos_interval(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    index: int,
    cl: float | None = None,
    *,
    nsigma: float | None = None,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float | None = 1e-4,
) -> Interval:
    """The 1-D interval from iminuit: MIGRAD for the minimum, then MINOS for parameter ``index``.

    MINOS follows the profiled χ² to where it rises by ``chi2.ppf(cl, 1)`` (``errordef = 1``).
    Give ``cl`` or ``nsigma``. A side where MINOS is invalid (e.g. it hits a limit) is ``±inf``.
    ``tol`` is Minuit's tolerance (default 1000× stricter than Minuit's 0.1, as in
    :func:`profile_1d`; ``None`` keeps Minuit's default).
    """
    _, content = _threshold(cl, nsigma, 1)
    m = make_minuit(chi2_fn, x0, bounds=bounds, names=names, grad=grad, tol=tol)
    i = _check_index(index, len(m.parameters))
    m.migrad()
    if not m.valid:
        raise RuntimeError(f"MIGRAD did not converge:\n{m.fmin}")
    m.minos(i, cl=content)
    me = m.merrors[m.parameters[i]]
    best = float(m.values[i])
    lower = best + me.lower if me.lower_valid else -math.inf
    upper = best + me.upper if me.upper_valid else math.inf
    thr = float(sps.chi2.ppf(content, 1))
    return Interval(best, float(lower), float(upper), content, thr, "minos", ((lower, upper),))
