"""The axion-like particle (ALP) fit: parameter space and the exact χ² from ALPaca.

This is the *expensive model* of the course. Everything downstream (engine, data, surrogates)
treats :func:`chi2` as the ground truth.

Six parameters (:data:`PARAMETERS`): the ALP decay constant f_a in GeV and five dimensionless
ALP–fermion couplings at Λ = 4π f_a; the ALP mass is m_a = :data:`MA_GEV` = 2 GeV. The couplings
are run from 4π f_a to m_a with one of three integrators (``"exact"``, ``"leadinglog"``,
``"tabulated"``) and the χ² is ALPaca's sector ``'all'``. ALPaca's random draws are made
deterministic, so χ² is a pure function of the point.

Submodules
----------
:mod:`~lecture_utils.alps.space`
    parameter names, units, the domain, input validation;
:mod:`~lecture_utils.alps.wrapper`
    ALPaca's lazy import, the determinism convention, the integrators, ALPaca's own running;
:mod:`~lecture_utils.alps.running`
    the running as a linear map tabulated in f_a (feature tables, the ``"tabulated"`` integrator);
:mod:`~lecture_utils.alps.likelihood`
    :func:`chi2`, :func:`chi2_breakdown`, the couplings at m_a;
:mod:`~lecture_utils.alps.derived`
    the per-measurement table and derived physical quantities;
:mod:`~lecture_utils.alps.terms`
    every term of the χ² with its prediction, from ALPaca's building blocks.

Every public name is re-exported here: use ``alps.<name>``. To replace a function in a test,
patch it where it is looked up: callers outside this package use ``alps.<name>``, calls inside it
use the submodule (e.g. ``alps.likelihood.couplings_low``).
"""

from .derived import (
    BELLE2_BKINV,
    DERIVED_COLUMNS,
    OBSERVABLE_COLUMNS,
    derived_quantities,
    observable_table,
)
from .likelihood import (
    LOW_ENERGY_COLUMNS,
    chi2,
    chi2_breakdown,
    couplings_low,
    low_energy_couplings,
    point_couplings,
)
from .running import (
    RUNNING_COUPLINGS,
    RUNNING_GRID_SIZE,
    SHIPPED_EXACT_RUNNING,
    SLOPE_COUPLINGS,
    TABULATED_GRID_SIZE,
    VA_BELOW_ENTRIES,
    VA_BELOW_LAYOUT,
    VA_BELOW_SIZE,
    RunningTable,
    build_exact_running_table,
    coupling_slopes,
    couplings_response,
    exact_running_key,
    exact_running_table,
    running_response,
    running_table,
    running_table_key,
    save_running_table,
    shipped_exact_running_path,
    tabulated_couplings,
)
from .space import (
    DOMAIN,
    LABELS,
    MA_GEV,
    PARAMETERS,
    SM_LIKE_POINT,
    UNITS,
    Domain,
    validate_points,
)
from .terms import (
    KSTAR_INVISIBLE,
    TERM_COLUMNS,
    Term,
    TermPredictions,
    escape_probability,
    fit_terms,
    kstar_columns_swapped,
    term_data,
    term_predictions,
)
from .wrapper import (
    INTEGRATORS,
    SECTOR,
    THEORY_UNCERTAINTY_SEED,
    VEGAS_SEED,
    Integrator,
    alpaca_version,
    check_integrator,
    convention,
    couplings_high,
    load_alpaca,
    quiet,
    run_alpaca,
)

__all__ = [
    # space
    "PARAMETERS", "UNITS", "LABELS", "MA_GEV", "Domain", "DOMAIN", "SM_LIKE_POINT",
    "validate_points",
    # wrapper
    "SECTOR", "THEORY_UNCERTAINTY_SEED", "VEGAS_SEED", "Integrator", "INTEGRATORS",
    "check_integrator", "quiet", "load_alpaca", "alpaca_version", "convention", "couplings_high",
    "run_alpaca",
    # running
    "VA_BELOW_ENTRIES", "VA_BELOW_LAYOUT", "VA_BELOW_SIZE", "RUNNING_COUPLINGS",
    "RUNNING_GRID_SIZE", "running_response", "RunningTable", "running_table_key", "running_table",
    "TABULATED_GRID_SIZE", "SHIPPED_EXACT_RUNNING", "couplings_response", "exact_running_key",
    "build_exact_running_table", "save_running_table", "shipped_exact_running_path",
    "exact_running_table", "tabulated_couplings", "SLOPE_COUPLINGS", "coupling_slopes",
    # likelihood
    "couplings_low", "chi2", "chi2_breakdown", "LOW_ENERGY_COLUMNS", "low_energy_couplings",
    "point_couplings",
    # derived
    "OBSERVABLE_COLUMNS", "observable_table", "DERIVED_COLUMNS", "BELLE2_BKINV",
    "derived_quantities",
    # terms
    "TERM_COLUMNS", "KSTAR_INVISIBLE", "Term", "TermPredictions", "fit_terms",
    "term_predictions", "escape_probability", "term_data", "kstar_columns_swapped",
]
