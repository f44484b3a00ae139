"""Gaussian measurements: covariances, Cholesky factors, χ² and log-likelihood.

A covariance is given either as a vector of standard deviations ``(n,)`` (independent
measurements) or as an ``(n, n)`` matrix; χ² is ``rᵀ C⁻¹ r`` with ``r = data - prediction``,
computed with the Cholesky factor (no explicit inverse).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import linalg

from ._checks import FloatArray, finite_array, scalar_or_array

__all__ = [
    "GaussianChi2",
    "chi2_gaussian",
    "cholesky_factor",
    "covariance_from_correlation",
    "gaussian_log_likelihood",
    "total_covariance",
]


def _check_covariance_component(cov: Any, name: str) -> FloatArray:
    c = finite_array(cov, name)
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
    s = finite_array(sigma, "sigma")
    if s.ndim != 1:
        raise ValueError(f"sigma must be 1-D, got shape {s.shape}")
    if (s < 0).any():
        raise ValueError("sigma must be >= 0")
    rho = finite_array(correlation, "correlation")
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
        d = finite_array(data, "data")
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
        r = finite_array(residuals, "residuals")
        if r.ndim == 0 or r.shape[-1] != self.n:
            raise ValueError(
                f"shape mismatch: residuals of shape {r.shape} for {self.n} measurements"
            )
        flat = r.reshape(-1, self.n).T
        z = linalg.solve_triangular(self.cholesky, flat, lower=True, check_finite=False)
        return z.T.reshape(r.shape)

    def __call__(self, prediction: npt.ArrayLike) -> float | FloatArray:
        """χ² for predictions of shape ``(n,)`` (a float) or ``(..., n)`` (an array ``(...)``)."""
        p = finite_array(prediction, "prediction")
        z = self.whiten(self.data - p)
        return scalar_or_array(np.sum(z**2, axis=-1))

    def log_likelihood(self, prediction: npt.ArrayLike) -> float | FloatArray:
        """``ln L = -χ²/2 - ln det(2πC)/2`` (natural log, normalised multivariate Gaussian)."""
        chi2 = np.asarray(self(prediction))
        log_det = 2.0 * np.sum(np.log(np.diag(self.cholesky)))
        return scalar_or_array(-0.5 * chi2 - 0.5 * (log_det + self.n * math.log(2 * math.pi)))


def _residual_and_covariance(data: npt.ArrayLike, cov: npt.ArrayLike,
                             prediction: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    """``data − prediction`` and the covariance as float arrays, checked finite and matching."""
    d = finite_array(data, "data")
    if prediction is not None:
        d = d - finite_array(prediction, "prediction")
    c = np.asarray(cov, dtype=float)
    if d.ndim == 0 or c.ndim not in (1, 2) or d.shape[-1] != c.shape[0]:
        raise ValueError(
            f"shape mismatch: data of shape {d.shape} but covariance of shape {c.shape}"
        )
    return d, c


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
    d, c = _residual_and_covariance(data, cov, prediction)
    z = GaussianChi2(np.zeros(c.shape[0]), c).whiten(d)
    return scalar_or_array(np.sum(z**2, axis=-1))


def gaussian_log_likelihood(
    data: npt.ArrayLike, cov: npt.ArrayLike, *, prediction: npt.ArrayLike | None = None
) -> float | FloatArray:
    """Normalised Gaussian log-likelihood ``ln L = -χ²/2 - ln det(2πC)/2``; arguments as in
    :func:`chi2_gaussian`. So ``-2 ln L = χ² + const``: χ² differences are likelihood ratios."""
    d, c = _residual_and_covariance(data, cov, prediction)
    return GaussianChi2(np.zeros(c.shape[0]), c).log_likelihood(-d)
