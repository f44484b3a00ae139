"""Wilks' theorem checked with pseudo-experiments (toys).

:func:`wilks_toys_linear` and :func:`wilks_toys_poisson` draw seeded toys of the likelihood-ratio
statistic ``-2 ln λ``; :func:`wilks_check` compares them with the χ² distribution that Wilks'
theorem predicts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special
from scipy import stats as sps

from ._checks import FloatArray, as_float_array, check_cl, check_dof, finite_array
from .gaussian import GaussianChi2
from .thresholds import STANDARD_CLS, delta_chi2

__all__ = ["Seed", "WilksCheck", "wilks_check", "wilks_toys_linear", "wilks_toys_poisson"]

Seed = int | np.random.Generator | np.random.SeedSequence


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _rng(seed: Seed | None) -> np.random.Generator:
    if seed is None:
        raise ValueError("seed is required (an int or a numpy.random.Generator) for reproducible "
                         "toys")
    return np.random.default_rng(seed)


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
        Number of pseudo-experiments; all toys are drawn and fitted in one vectorised pass
        (two least-squares solves in total, not one per toy).
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

    Returns
    -------
    numpy.ndarray
        ``-2 ln λ`` of each toy, shape ``(n_toys,)``, clipped at 0 (dimensionless).

    Raises
    ------
    ValueError
        For bad counts, NaN/inf, shape mismatches, a rank-deficient design, a covariance that is
        not positive definite, or a missing ``seed``.
    """
    n_toys = _check_positive_int(n_toys, "n_toys")
    x = finite_array(design, "design")
    if x.ndim != 2:
        raise ValueError(f"design must be 2-D (n_data, n_par), got shape {x.shape}")
    n_data, n_par = x.shape
    if n_data < n_par:
        raise ValueError(f"design has fewer rows ({n_data}) than parameters ({n_par})")
    theta = finite_array(theta_true, "theta_true")
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
    mu = finite_array(expected, "expected")
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
    """Compare toy values of ``-2 ln λ`` with the χ²_dof distribution.

    A Kolmogorov–Smirnov test against χ²_dof and, for each CL in ``cls``, the fraction of toys
    below ``delta_chi2(cl, dof=dof)`` with its binomial uncertainty.

    Parameters
    ----------
    t : array_like, shape (n_toys,)
        Toy values of ``-2 ln λ`` (e.g. from :func:`wilks_toys_linear` or
        :func:`wilks_toys_poisson`); at least 2.
    dof : int
        Degrees of freedom of the χ² distribution that Wilks' theorem predicts, ≥ 1.
    cls : iterable of float, optional
        Confidence levels, each in (0, 1); default 0.6827 and 0.9545.

    Returns
    -------
    WilksCheck
        ``n_toys``, ``dof``, the Kolmogorov–Smirnov ``ks_statistic`` and ``ks_pvalue``, and
        ``table``, one row per CL (index ``CL``) with columns ``threshold`` (Δχ²), ``fraction``
        (of toys below it), ``sigma`` (binomial standard deviation of the fraction) and ``pull``.

    Raises
    ------
    ValueError
        If ``t`` is not a 1-D numeric array of at least 2 values or contains NaN, if ``dof`` is
        not an integer ≥ 1, or if a CL is not in (0, 1).
    """
    k = check_dof(dof)
    values = as_float_array(t, "t")
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"t must be a 1-D array of at least 2 toys, got shape {values.shape}")
    n = values.size
    ks = sps.kstest(values, sps.chi2(k).cdf)
    rows = {}
    for cl in cls:
        c = float(check_cl(cl))
        thr = float(delta_chi2(c, dof=k))
        frac = float(np.mean(values < thr))
        sigma = math.sqrt(c * (1.0 - c) / n)
        rows[c] = {"threshold": thr, "fraction": frac, "sigma": sigma, "pull": (frac - c) / sigma}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "CL"
    return WilksCheck(n, k, float(ks.statistic), float(ks.pvalue), table)
