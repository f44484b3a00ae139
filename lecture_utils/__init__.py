"""lecture_utils — the tested implementations behind the lecture book
*Machine-learning surrogates for global fits*.

The modules form layers; data flows one way, and a module imports only the layers below it::

    cli             every command (python -m lecture_utils …)
    fit             the ALP fit: best fit, profiles, posterior
    sampling, active, explain, explorer, calibration
                    MCMC, active learning, SHAP, the explorer, the ALP's significance
                    calibrated by pseudo-experiments
    smooth          search coordinates, the smoothed surrogate
    compiled, tuning
                    the surrogate in C; hyperparameter studies
    surrogate, datasets
                    the two-stage surrogate; recipes of the shipped data
    data            stores, the per-point cache, the shipped data sets
    engine          parallel evaluation of the expensive χ²
    design          space-filling designs
    testing         a toy χ² for examples and tests
    plotting        the book's figure style
    alps            ALPaca, the χ², the running, derived quantities
    stats           statistics without physics

Modules named on one line do not import each other.

``import lecture_utils as lu`` is cheap: the modules and the names of the student API below load
on first use. Every other name stays importable from its module (``lu.surrogate.features``).
The generic profile-likelihood tools of chapter 1 are :func:`lecture_utils.stats.profile_1d` and
:func:`lecture_utils.stats.profile_2d`; ``lu.profile_1d`` and ``lu.profile_2d`` are the ALP fit's
(:mod:`lecture_utils.fit`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

MODULES: tuple[str, ...] = (
    "active", "alps", "calibration", "cli", "compiled", "data", "datasets", "design", "engine",
    "explain", "explorer", "fit", "plotting", "profiles", "reweight", "sampling", "smooth",
    "stats",
    "surrogate",
    "testing", "tuning")
"""The public modules, importable as attributes of the package."""

_STUDENT_API: dict[str, str] = {
    # the physics
    "PARAMETERS": "alps", "DOMAIN": "alps", "SM_LIKE_POINT": "alps", "chi2": "alps",
    "chi2_breakdown": "alps", "observable_table": "alps", "derived_quantities": "alps",
    # statistics
    "REGION_DELTA_CHI2": "stats", "delta_chi2": "stats", "interval_from_profile": "stats",
    "wilks_check": "stats",
    # data
    "evaluate_cached": "data",
    # the surrogate, compiled and tuned
    "TwoStageSurrogate": "surrogate", "default_surrogate": "surrogate", "validate": "surrogate",
    "SmoothedSurrogate": "smooth", "compile_surrogate": "compiled", "tune": "tuning",
    # its uses
    "Learner": "active", "alp_learner": "active",
    "brute_force_shapley": "explain", "global_importance": "explain",
    "sample_posterior": "sampling", "run_ensemble": "sampling",
    # the fit
    "best_fit": "fit", "profile_1d": "fit", "profile_2d": "fit", "posterior": "fit",
    "spot_check": "fit", "significance": "fit",
    # figures
    "use_style": "plotting", "axis_label": "plotting", "PALETTE": "plotting",
}

__all__ = ["__version__", *MODULES, *sorted(_STUDENT_API)]


def __getattr__(name: str) -> Any:
    if name in MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _STUDENT_API.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
