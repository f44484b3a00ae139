"""Likelihoods, χ², Wilks' theorem and profile likelihoods — the statistics every chapter uses.

This subpackage is a leaf of the package: it imports nothing else from :mod:`lecture_utils`
except the progress-bar helper. Its vocabulary follows iminuit's: a **profile** minimises all other
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

Submodules
----------
:mod:`~lecture_utils.stats.thresholds`
    confidence levels, significances, p-values and Δχ² thresholds; :data:`REGION_DELTA_CHI2`.
:mod:`~lecture_utils.stats.gaussian`
    covariances, Cholesky factors, Gaussian χ² and log-likelihood.
:mod:`~lecture_utils.stats.wilks`
    pseudo-experiments of ``-2 ln λ`` and their comparison with Wilks' χ² distribution.
:mod:`~lecture_utils.stats.profile`
    iminuit set-up, 1-D/2-D profile likelihoods, profile and MINOS intervals.
:mod:`~lecture_utils.stats.quantiles`
    sample quantiles with their bootstrap uncertainty.

Every public name is re-exported here, so ``stats.delta_chi2`` etc. work as before.
"""

from .gaussian import (
    GaussianChi2,
    chi2_gaussian,
    cholesky_factor,
    covariance_from_correlation,
    gaussian_log_likelihood,
    total_covariance,
)
from .profile import (
    Interval,
    Profile1D,
    Profile2D,
    interval_from_profile,
    make_minuit,
    minos_interval,
    profile_1d,
    profile_2d,
)
from .quantiles import quantile_table
from .thresholds import (
    REGION_DELTA_CHI2,
    STANDARD_CLS,
    chi2_pvalue,
    cl_from_delta_chi2,
    cl_from_nsigma,
    contour_levels,
    delta_chi2,
    delta_chi2_table,
    nsigma_from_cl,
    nsigma_to_pvalue,
    pvalue_to_nsigma,
    region_mask,
)
from .wilks import WilksCheck, wilks_check, wilks_toys_linear, wilks_toys_poisson

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
    "quantile_table",
    "pvalue_to_nsigma",
    "region_mask",
    "total_covariance",
    "wilks_check",
    "wilks_toys_linear",
    "wilks_toys_poisson",
]
