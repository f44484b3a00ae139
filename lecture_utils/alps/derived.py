"""What lies behind a χ² value: the per-measurement table and derived physical quantities.

:func:`observable_table` takes ALPaca's χ² of one point apart measurement by measurement
(prediction, uncertainties, escape probability, pull); :func:`derived_quantities` computes the
couplings and decay properties of the ALP (width, decay length, Belle II signal) at each point.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .likelihood import chi2_breakdown, couplings_low, point_couplings
from .space import MA_GEV, validate_points
from .wrapper import SECTOR, Integrator, check_integrator, load_alpaca, quiet

OBSERVABLE_COLUMNS: tuple[str, ...] = (
    "observable", "experiment", "inspire_id", "kind", "measured", "sigma", "prediction",
    "theory_sigma", "escape_probability", "chi2", "pull")
"""Columns of :func:`observable_table`."""


def _prediction(measurement: Any, transition: Any, couplings: Any, fa: float) -> dict[str, float]:
    """One measurement at one point, following ``alpaca.statistics.chisquared.chi2_obs`` step by
    step (same functions, same order) so that the pieces of the χ² can be shown."""
    from alpaca.statistics import chisquared as cs

    ma = MA_GEV
    if measurement.decay_type == "flat":
        prob, ctau = 1.0, None
    else:
        dw = cs.total_decay_width(ma, couplings, fa, 0.0)["DW_SM"]
        ctau = 1e-7 * cs.hbarc_GeVnm / dw
        prob = float(np.asarray(measurement.decay_probability(
            np.atleast_1d(ctau), np.atleast_1d(ma), theta=None, br_dark=np.atleast_1d(0.0))
        ).reshape(-1)[0])
    if transition in cs.mixing_observables:
        br = cs.meson_mixing(transition, ma, couplings, fa)
    elif cs.particle_aliases.get(transition, "") in cs.meson_widths:
        br = cs.decay_width(transition, ma, couplings, fa, 0.0)
    elif isinstance(transition, str):
        br = cs.branching_ratio(transition, ma, couplings, fa, 0.0)
    else:
        br = cs.cross_section(transition[0], ma, couplings, transition[1], fa, 0.0)
    ma_arr, ctau_arr = np.atleast_1d(ma), np.atleast_1d(ctau if ctau is not None else np.nan)
    ctau_in = None if ctau is None else ctau_arr

    def scalar(x: Any) -> float:
        return float(np.real(np.asarray(x, dtype=complex)).reshape(-1)[0])

    central = scalar(measurement.get_central(ma_arr, ctau_in))
    s_left = scalar(measurement.get_sigma_left(ma_arr, ctau_in))
    s_right = scalar(measurement.get_sigma_right(ma_arr, ctau_in))
    sm_pred, sm_unc = float(cs.get_th_value(transition)), float(cs.get_th_uncert(transition))
    value = prob * scalar(br) + sm_pred
    if measurement.conf_level is None:
        sigma = abs(s_right if value > central else s_left)
        chi2_value = (central - value) ** 2 / (sigma**2 + sm_unc**2)
        kind = "measurement"
        pull = (value - central) / np.sqrt(sigma**2 + sm_unc**2)
    else:
        sigma = abs(s_right)
        chi2_value = (central - value) ** 2 / sigma**2 if value > central else 0.0
        kind = f"upper limit ({measurement.conf_level:.0%} CL)"
        pull = (value - central) / sigma if value > central else 0.0
    if not np.isfinite(value):
        # ALPaca has no prediction here; its nansum counts the term as zero — so do we
        kind, chi2_value, pull = kind + " (no ALP prediction; counts 0)", 0.0, np.nan
    return {"kind": kind, "measured": central, "sigma": sigma, "prediction": value,
            "theory_sigma": sm_unc, "escape_probability": prob, "chi2": chi2_value,
            "pull": pull}


def observable_table(point: Any, integrator: Integrator = "exact", *,
                     allow_extrapolation: bool = False) -> pd.DataFrame:
    """The χ² at one point taken apart, one row per measurement in the fit.

    Each measurement that enters the fit at m_a (those of
    :func:`~lecture_utils.alps.likelihood.chi2_breakdown`, in the same order: decreasing
    contribution) with its prediction, uncertainties, escape probability and pull.

    Parameters
    ----------
    point : array_like, shape (6,) or (1, 6)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order; f_a in GeV.
    integrator : {"exact", "leadinglog", "tabulated"}, optional
        The running from 4π f_a to m_a, as in :func:`~lecture_utils.alps.likelihood.chi2`.
    allow_extrapolation : bool, optional
        Evaluate a point outside :data:`~lecture_utils.alps.space.DOMAIN` instead of raising.

    Returns
    -------
    pandas.DataFrame
        One row per measurement, columns :data:`OBSERVABLE_COLUMNS`:

        ``observable``, ``experiment``, ``inspire_id``
            the measurement, as ALPaca names it;
        ``kind``
            a measurement or an upper limit (with its confidence level); marked "no ALP
            prediction; counts 0" where ALPaca has no prediction;
        ``measured``, ``sigma``
            the experimental central value (or limit) and the uncertainty used on the side of
            the prediction;
        ``prediction``
            ALP prediction (plus SM value where ALPaca adds one);
        ``theory_sigma``
            theory uncertainty added in quadrature;
        ``escape_probability``
            probability that the ALP decays where the measurement needs it (e.g. outside the
            detector for B → K a with an invisible ALP; 1 for observables without an on-shell
            ALP);
        ``chi2``
            contribution to the χ² (dimensionless);
        ``pull``
            signed (prediction − measured)/σ, zero for a satisfied upper limit.

        The ``chi2`` column reproduces ALPaca's per-measurement χ² (checked in the tests) and
        sums to
        :func:`~lecture_utils.alps.likelihood.chi2` at the same point.

    Raises
    ------
    ValueError
        For more than one point, an invalid point
        (:func:`~lecture_utils.alps.space.validate_points`) or an unknown ``integrator``.
    """
    arr = validate_points(point, allow_extrapolation=allow_extrapolation)
    if arr.shape[0] != 1:
        raise ValueError(f"observable_table takes one point, got {arr.shape[0]}")
    alpaca = load_alpaca()
    from alpaca.experimental_data.measurements_exp import get_measurements

    p = arr[0]
    low = couplings_low(p, integrator)
    breakdown = chi2_breakdown(p, integrator, allow_extrapolation=True)
    rows = []
    sector = alpaca.sectors.default_sectors[SECTOR]
    lookup = {(o if isinstance(o, str) else str(o)): o for o in sector.observables}
    for obs_name, experiment in zip(breakdown["observable"], breakdown["experiment"],
                                    strict=True):
        transition = lookup[obs_name]
        with quiet():
            measurement = get_measurements(transition)[experiment]
            pieces = _prediction(measurement, transition, low, float(p[0]))
        inspire = measurement.inspire_id
        rows.append({"observable": obs_name, "experiment": experiment,
                     "inspire_id": inspire if isinstance(inspire, str) else ", ".join(inspire),
                     **pieces})
    return pd.DataFrame(rows, columns=list(OBSERVABLE_COLUMNS))


# --------------------------------------------------------------------------------------------
# derived physical quantities
# --------------------------------------------------------------------------------------------
DERIVED_COLUMNS: tuple[str, ...] = (
    "ct", "cbs_re", "cbs_im", "cbs_abs", "cbs_phase", "cmumu_A", "width_gev", "ctau_m",
    "escape_probability", "br_BKa", "br_BKa_escaping")
"""Columns of :func:`derived_quantities`."""

BELLE2_BKINV: tuple[str, str] = ("B+ -> K+ alp", "Belle II")
"""(ALPaca transition, experiment) of the Belle II B⁺ → K⁺ + invisible measurement."""

_CM_PER_M: float = 100.0


def _decay_quantities(low: Any, fa_gev: float) -> dict[str, float]:
    """ALP width, decay length, Belle II escape probability and BR(B⁺→K⁺a) for couplings ``low``
    at m_a (ALPaca ``VA_below`` basis), with the same ALPaca functions and conventions as the χ²
    (:func:`_prediction`): cτ = ħc/Γ in cm, passed to the measurement's ``decay_probability``."""
    from alpaca.decays.decays import branching_ratio
    from alpaca.experimental_data.measurements_exp import get_measurements
    from alpaca.statistics import chisquared as cs

    transition, experiment = BELLE2_BKINV
    with quiet():
        width = float(np.real(cs.total_decay_width(MA_GEV, low, fa_gev, 0.0)["DW_SM"]))
        # no coupling to SM particles (e.g. the SM-like point): the ALP never decays
        ctau_cm = 1e-7 * float(cs.hbarc_GeVnm) / width if width > 0 else math.inf
        measurement = get_measurements(transition)[experiment]
        prob = float(np.asarray(measurement.decay_probability(
            np.atleast_1d(ctau_cm), np.atleast_1d(MA_GEV), theta=None,
            br_dark=np.atleast_1d(0.0))).reshape(-1)[0])
        br = float(np.real(np.asarray(
            branching_ratio(transition, MA_GEV, low, fa_gev, 0.0))).reshape(-1)[0])
    return {"width_gev": width, "ctau_m": ctau_cm / _CM_PER_M, "escape_probability": prob,
            "br_BKa": br, "br_BKa_escaping": prob * br}


def derived_quantities(points: Any, integrator: Integrator = "exact", *,
                       allow_extrapolation: bool = False) -> pd.DataFrame:
    """Couplings and decay properties of the ALP at each point.

    All computed by ALPaca after running the couplings from 4π f_a to m_a with ``integrator``
    (the same running as :func:`~lecture_utils.alps.likelihood.chi2`). Costs one running per
    point plus ALPaca's total decay width.

    Parameters
    ----------
    points : array_like, shape (n, 6) or (6,)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order; f_a in GeV.
    integrator : {"exact", "leadinglog", "tabulated"}, optional
        The running from 4π f_a to m_a, as in :func:`~lecture_utils.alps.likelihood.chi2`.
    allow_extrapolation : bool, optional
        Evaluate points outside :data:`~lecture_utils.alps.space.DOMAIN` instead of raising.

    Returns
    -------
    pandas.DataFrame
        One row per point, columns :data:`DERIVED_COLUMNS`:

        ``ct``
            c_t = c_uR − c_qL^33 at Λ = 4π f_a (dimensionless);
        ``cbs_re``, ``cbs_im``, ``cbs_abs``, ``cbs_phase``
            the flavour-violating coupling (c_dV)_{sb} at m_a (dimensionless; phase in
            radians) — the coupling of B → K a; mostly the CKM rotation of c_qL^33 into the
            down-quark mass basis, plus a small running contribution ∝ c_t
            (:func:`~lecture_utils.alps.coupling_slopes`);
        ``cmumu_A``
            the axial muon coupling (c_eA)_{22} at m_a (B_s → μμ);
        ``width_gev``
            total ALP decay width into Standard-Model particles, GeV;
        ``ctau_m``
            proper decay length cτ = ħc/Γ in **metres** (``inf`` where Γ = 0: no decay);
        ``escape_probability``
            probability that the ALP from B⁺ → K⁺ a decays outside Belle II (ALPaca's model of
            the Belle II measurement: boost of the B decay, detector size) — the factor by which
            the invisible signal is reduced;
        ``br_BKa``
            BR(B⁺ → K⁺ a);
        ``br_BKa_escaping``
            BR(B⁺ → K⁺ a) × escape probability: what Belle II sees as B⁺ → K⁺ + invisible.

    Raises
    ------
    ValueError
        For an unknown ``integrator`` or invalid points
        (:func:`~lecture_utils.alps.space.validate_points`).
    """
    check_integrator(integrator)
    arr = validate_points(points, allow_extrapolation=allow_extrapolation)
    rows = []
    for p in arr:
        low, couplings = point_couplings(p, integrator)
        rows.append(couplings | _decay_quantities(low, float(p[0])))
    return pd.DataFrame(rows, columns=list(DERIVED_COLUMNS))
