"""Confidence levels, significances and Δχ² thresholds.

Conversions between a confidence level ``cl``, the two-sided Gaussian-equivalent significance
``nsigma`` and p-values, the Δχ² threshold of an interval or region for ``dof`` parameters of
interest, and the course's region-of-interest cut :data:`REGION_DELTA_CHI2`. The conventions are
those of :mod:`lecture_utils.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special
from scipy import stats as sps

from ._checks import FloatArray, as_float_array, check_cl, check_dof, scalar_or_array

__all__ = [
    "REGION_DELTA_CHI2",
    "STANDARD_CLS",
    "chi2_pvalue",
    "cl_from_delta_chi2",
    "cl_from_nsigma",
    "contour_levels",
    "delta_chi2",
    "delta_chi2_table",
    "nsigma_from_cl",
    "nsigma_to_pvalue",
    "pvalue_to_nsigma",
    "region_mask",
]

#: The course's default cut that defines the *region of interest* of the ALP fit: a point belongs to
#: the region when ``χ² - χ²_min < REGION_DELTA_CHI2``. The reference tutorial trained its surrogate
#: regressor on Δχ² < 10, and every later chapter imports this constant instead of retyping the
#: number. (For the 6 parameters of the ALP fit, Δχ² = 10 is ≈ 87.5 % CL, about 1.5σ; see
#: :func:`cl_from_delta_chi2`.)
REGION_DELTA_CHI2: float = 10.0

#: Probability contents of the 1σ, 2σ, 3σ two-sided Gaussian intervals, rounded as usually quoted.
STANDARD_CLS: tuple[float, ...] = (0.6827, 0.9545, 0.9973)


def _check_nsigma(nsigma: Any) -> FloatArray:
    arr = as_float_array(nsigma, "nsigma")
    if (arr <= 0.0).any() or not np.isfinite(arr).all():
        raise ValueError(f"nsigma must be a finite number > 0, got {nsigma!r}")
    return arr


def _check_pvalue(pvalue: Any) -> FloatArray:
    arr = as_float_array(pvalue, "pvalue")
    if ((arr <= 0.0) | (arr >= 1.0)).any():
        raise ValueError(f"pvalue must lie strictly between 0 and 1, got {pvalue!r}")
    return arr



def cl_from_nsigma(nsigma: npt.ArrayLike) -> float | FloatArray:
    """Probability content of a two-sided ``nsigma`` Gaussian interval, ``CL = erf(n/√2)``.

    ``nsigma``: scalar or array, each > 0. Returns a float for scalar input, else an array of the
    same shape. For large significances (n ≳ 7) the CL rounds to 1 in double precision; work with
    p-values (:func:`nsigma_to_pvalue`) there.
    """
    n = _check_nsigma(nsigma)
    return scalar_or_array(special.erf(n / math.sqrt(2.0)))


def nsigma_from_cl(cl: npt.ArrayLike) -> float | FloatArray:
    """Two-sided Gaussian-equivalent significance of a confidence level: ``n = √2 erf⁻¹(CL)``.

    Inverse of :func:`cl_from_nsigma`. ``cl``: scalar or array in (0, 1).
    """
    c = check_cl(cl)
    return scalar_or_array(math.sqrt(2.0) * special.erfinv(c))


def nsigma_to_pvalue(nsigma: npt.ArrayLike, *, two_sided: bool = True) -> float | FloatArray:
    """p-value of an ``nsigma`` deviation: ``2 Φ(-n)`` (two-sided, default) or ``Φ(-n)``.

    Computed with the normal survival function, so it stays accurate far in the tail
    (5σ two-sided: 5.7 × 10⁻⁷).
    """
    n = _check_nsigma(nsigma)
    p = sps.norm.sf(n)
    return scalar_or_array(2.0 * p if two_sided else p)


def pvalue_to_nsigma(pvalue: npt.ArrayLike, *, two_sided: bool = True) -> float | FloatArray:
    """Gaussian-equivalent significance of a p-value in (0, 1): ``Φ⁻¹(1 - p/2)`` (two-sided).

    Inverse of :func:`nsigma_to_pvalue` with the same ``two_sided`` convention. A one-sided
    p-value ≥ 0.5 would give n ≤ 0 and raises ``ValueError``.
    """
    p = _check_pvalue(pvalue)
    n = sps.norm.isf(p / 2.0 if two_sided else p)
    if (n <= 0).any():
        raise ValueError(f"pvalue {pvalue!r} corresponds to a significance <= 0")
    return scalar_or_array(n)


def delta_chi2(
    cl: npt.ArrayLike | None = None, *, nsigma: npt.ArrayLike | None = None, dof: int = 1
) -> float | FloatArray:
    """Δχ² threshold of a confidence interval/region for ``dof`` parameters of interest.

    Give exactly one of ``cl`` or ``nsigma``. The result is the ``cl`` quantile of the χ²
    distribution with ``dof`` degrees of freedom, ``scipy.stats.chi2.ppf(cl, dof)``; for
    ``nsigma`` it is computed from the p-value, ``scipy.stats.chi2.isf(2 Φ(-n), dof)``, so it stays
    accurate for large n. Examples: 1σ is Δχ² = 1 for one parameter and 2.30 for two.

    Parameters
    ----------
    cl : float or array_like, optional
        Confidence level(s), probabilities strictly between 0 and 1.
    nsigma : float or array_like, optional
        Two-sided Gaussian-equivalent significance(s), each > 0.
    dof : int, optional
        Number of parameters of interest (degrees of freedom), ≥ 1.

    Returns
    -------
    float or numpy.ndarray
        The Δχ² threshold (dimensionless): a float for scalar input, an array of the input's shape
        for array input.

    Raises
    ------
    ValueError
        If both or neither of ``cl`` and ``nsigma`` are given, for a ``cl`` outside (0, 1), an
        ``nsigma`` ≤ 0, non-numeric or NaN input, or a ``dof`` that is not an integer ≥ 1.
    """
    if (cl is None) == (nsigma is None):
        raise ValueError("give exactly one of cl (a probability) or nsigma (a significance)")
    k = check_dof(dof)
    if cl is not None:
        return scalar_or_array(sps.chi2.ppf(check_cl(cl), k))
    p = np.asarray(nsigma_to_pvalue(nsigma))
    return scalar_or_array(sps.chi2.isf(p, k))


def cl_from_delta_chi2(delta: npt.ArrayLike, dof: int = 1) -> float | FloatArray:
    """Probability content of the region ``Δχ² ≤ delta`` for ``dof`` parameters: ``chi2.cdf``.

    Inverse of :func:`delta_chi2`. ``delta`` must be ≥ 0.
    """
    k = check_dof(dof)
    d = as_float_array(delta, "delta")
    if (d < 0).any():
        raise ValueError(f"delta must be >= 0, got {delta!r}")
    return scalar_or_array(sps.chi2.cdf(d, k))


def chi2_pvalue(chi2: npt.ArrayLike, dof: int) -> float | FloatArray:
    """Goodness-of-fit p-value ``P(χ²_dof ≥ chi2)``; ``dof`` = measurements − fitted parameters."""
    k = check_dof(dof)
    c = as_float_array(chi2, "chi2")
    if (c < 0).any():
        raise ValueError(f"chi2 must be >= 0, got {chi2!r}")
    return scalar_or_array(sps.chi2.sf(c, k))


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
    dof_list = [check_dof(k) for k in dofs]
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
    d = as_float_array(delta, "delta")
    thr = delta_chi2(cl, nsigma=nsigma, dof=dof)
    return d <= thr
