"""The χ² of the ALP fit and the couplings at m_a, from ALPaca.

:func:`chi2` is the *expensive model* of the course: everything downstream (engine, data,
surrogates) treats it as the ground truth. It is ALPaca's total χ² of the sector
:data:`~lecture_utils.alps.wrapper.SECTOR` at m_a = :data:`~lecture_utils.alps.space.MA_GEV`, after
running the couplings from 4π f_a to m_a (``match_run(m_a, 'VA_below')``) with one of three
integrators (fidelities):

``"exact"``
    ALPaca's numerical renormalisation-group evolution (``scipy``), per point;
``"leadinglog"``
    the leading-logarithm approximation, good for steering where to look, not a substitute for
    exact values;
``"tabulated"``
    the exact evolution without running it per point: matching and running are linear in the
    couplings, so ALPaca's numerical evolution of each unit coupling is tabulated once on a grid of
    f_a (:func:`~lecture_utils.alps.running.exact_running_table`, shipped) and applied to the
    point's couplings; what remains is ALPaca's χ² at m_a (mostly the ALP's three-body decay
    widths). It differs from ``"exact"`` by ALPaca's own ODE tolerance (``scipy`` ``rtol=1e-3``);
    where the difference is largest, ALPaca's default evolution is itself that far from the
    converged solution (``rtol=1e-9``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .running import VA_BELOW_ENTRIES, tabulated_couplings
from .space import MA_GEV, validate_points
from .wrapper import SECTOR, Integrator, check_integrator, load_alpaca, quiet, run_alpaca


def couplings_low(point: np.ndarray, integrator: Integrator = "exact") -> Any:
    """ALPaca ``ALPcouplings`` run to m_a in the ``VA_below`` basis for one point of shape (6,).

    ``"exact"`` and ``"leadinglog"`` run ALPaca (:func:`~lecture_utils.alps.wrapper.run_alpaca`);
    ``"tabulated"`` applies the shipped exact running table
    (:func:`~lecture_utils.alps.running.tabulated_couplings`).
    """
    check_integrator(integrator)
    if integrator == "tabulated":
        return tabulated_couplings(np.asarray(point, dtype=float)[None, :])[0]
    return run_alpaca(point, integrator)


def _chi2_list(points: np.ndarray, integrator: Integrator) -> Any:
    """ALPaca's χ² result object (per-measurement χ² and dofs) for validated ``points`` (n, 6)."""
    alpaca = load_alpaca()
    from alpaca.sectors import default_sectors

    if integrator == "tabulated":
        low = tabulated_couplings(points)
    else:
        low = [couplings_low(p, integrator) for p in points]
    with quiet():
        return alpaca.statistics.get_chi2(
            default_sectors[SECTOR], MA_GEV, np.array(low, dtype=object), points[:, 0].copy(),
            integrator="no_rge")[0]


def chi2(points: Any, integrator: Integrator = "exact", *,
         allow_extrapolation: bool = False) -> np.ndarray:
    """Total χ² of ALPaca's ``'all'`` sector at m_a = 2 GeV.

    Parameters
    ----------
    points : array, shape (n, 6) (or (6,) for one point)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order; f_a in GeV.
    integrator : "exact", "leadinglog" or "tabulated"
        Renormalisation-group running from 4π f_a to m_a: ALPaca's numerical evolution, its
        leading-log approximation, or the numerical evolution tabulated in f_a
        (:func:`~lecture_utils.alps.running.exact_running_table`; equal to "exact" within
        ALPaca's ODE tolerance, and cheaper: no running per point, only the χ² at m_a, mostly
        the ALP's three-body widths, remains).
    allow_extrapolation : bool
        Evaluate points outside :data:`~lecture_utils.alps.space.DOMAIN` instead of raising.

    Returns
    -------
    numpy.ndarray, shape (n,)
        χ² (dimensionless). A pure function of the point (see the determinism convention in
        :mod:`lecture_utils.alps.wrapper`).
    """
    check_integrator(integrator)
    arr = validate_points(points, allow_extrapolation=allow_extrapolation)
    return _total(_chi2_list(arr, integrator), len(arr))


def _total(result: Any, n: int) -> np.ndarray:
    """Sum of the per-measurement χ², shape (n,), independent of summation order.

    ALPaca's own ``chi2_tot`` sums in the iteration order of a hash-ordered set, so totals differ in
    the last bits between processes. We sum the same terms (NaN terms count as zero, as ALPaca's
    ``nansum`` does) with ``math.fsum``, which is correctly rounded whatever the order.
    """
    terms = np.array([np.broadcast_to(np.asarray(v, dtype=float), (n,))
                      for v in result.chi2_dict.values()]).reshape(-1, n)
    terms = np.where(np.isnan(terms), 0.0, terms)
    out = np.empty(n)
    for j in range(n):
        col = terms[:, j]
        out[j] = np.inf if np.isinf(col).any() else math.fsum(col)
    return out


def chi2_breakdown(point: Any, integrator: Integrator = "exact", *,
                   allow_extrapolation: bool = False) -> pd.DataFrame:
    """Per-measurement χ² contributions at one point.

    Parameters
    ----------
    point : array, shape (6,) or (1, 6)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order; f_a in GeV.
    integrator : "exact", "leadinglog" or "tabulated"
        As in :func:`chi2`.
    allow_extrapolation : bool
        Evaluate a point outside the domain instead of raising.

    Returns
    -------
    pandas.DataFrame
        One row per measurement that enters the fit at m_a (dof > 0), sorted by decreasing
        contribution, with columns ``observable``, ``experiment``, ``chi2``, ``dof``. The
        ``chi2`` column sums to :func:`chi2` at the same point.

    Raises
    ------
    ValueError
        For more than one point, or an invalid point
        (:func:`~lecture_utils.alps.space.validate_points`).
    """
    arr = validate_points(point, allow_extrapolation=allow_extrapolation)
    if arr.shape[0] != 1:
        raise ValueError(f"chi2_breakdown takes one point, got {arr.shape[0]}")
    result = _chi2_list(arr, integrator)
    rows = []
    for (obs, experiment), value in result.chi2_dict.items():
        dof = int(np.asarray(result.dofs_dict[(obs, experiment)]).reshape(-1)[0])
        c = float(np.nan_to_num(np.asarray(value, dtype=float).reshape(-1)[0]))
        if dof > 0:
            rows.append({"observable": obs if isinstance(obs, str) else str(obs),
                         "experiment": experiment, "chi2": c, "dof": dof})
    df = pd.DataFrame(rows, columns=["observable", "experiment", "chi2", "dof"])
    return df.sort_values("chi2", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------------------------
# couplings at m_a
# --------------------------------------------------------------------------------------------
LOW_ENERGY_COLUMNS: tuple[str, ...] = (
    "ct", "cbs_re", "cbs_im", "cbs_abs", "cmumu_A", "cee_A", "ctautau_A", "cnu33")
"""Columns of :func:`low_energy_couplings`."""


def low_energy_couplings(points: Any, integrator: Integrator = "exact", *,
                         allow_extrapolation: bool = False) -> pd.DataFrame:
    """Derived couplings for each point (shape (n, 6)) → DataFrame with :data:`LOW_ENERGY_COLUMNS`.

    ``ct``
        c_t = c_uR − c_qL^33 at Λ = 4π f_a (the top-quark coupling, whose loops feed the
        lepton couplings at m_a);
    ``cbs_re``, ``cbs_im``, ``cbs_abs``
        the flavour-violating vector coupling (c_dV)_{sb} at m_a, which mediates B → K a: mostly
        the CKM rotation of c_qL^33 into the down-quark mass basis, plus a small running
        contribution from c_uR (:func:`~lecture_utils.alps.coupling_slopes`);
    ``cmumu_A``, ``cee_A``, ``ctautau_A``
        axial lepton couplings (c_eA)_{ii} at m_a (B_s → μμ and a → ℓℓ);
    ``cnu33``
        the tau-neutrino coupling at m_a.

    All dimensionless, in ALPaca's ``VA_below`` basis at m_a =
    :data:`~lecture_utils.alps.space.MA_GEV`.
    """
    arr = validate_points(points, allow_extrapolation=allow_extrapolation)
    rows = [point_couplings(p, integrator)[1] for p in arr]
    return pd.DataFrame(rows, columns=list(LOW_ENERGY_COLUMNS))


def point_couplings(point: np.ndarray, integrator: Integrator) -> tuple[Any, dict[str, float]]:
    """Run one point to m_a and read the named couplings off the result.

    Shared by :func:`low_energy_couplings` and
    :func:`lecture_utils.alps.derived.derived_quantities`.

    Parameters
    ----------
    point : numpy.ndarray, shape (6,)
        A validated point, :data:`~lecture_utils.alps.space.PARAMETERS` order, f_a in GeV.
    integrator : "exact", "leadinglog" or "tabulated"
        The running (:func:`couplings_low`).

    Returns
    -------
    low : alpaca.ALPcouplings
        ALPaca's couplings at m_a (``VA_below`` basis).
    couplings : dict of str to float
        ``ct``, ``cbs_re``, ``cbs_im``, ``cbs_abs``, ``cbs_phase`` (radians), ``cmumu_A``,
        ``cee_A``, ``ctautau_A``, ``cnu33`` (see :func:`low_energy_couplings`; all
        dimensionless).
    """
    low = couplings_low(point, integrator)
    values = low.values
    cbs = _entry(values, "cbs")
    return low, {
        "ct": point[2] - point[1],
        "cbs_re": cbs.real, "cbs_im": cbs.imag, "cbs_abs": abs(cbs),
        "cbs_phase": float(np.angle(cbs)),
        **{name: _entry(values, name).real for name in ("cmumu_A", "cee_A", "ctautau_A", "cnu33")},
    }




def _entry(values: dict[str, Any], name: str) -> complex:
    """The coupling ``name`` (:data:`~lecture_utils.alps.running.VA_BELOW_ENTRIES`) from ALPaca's
    ``ALPcouplings.values``."""
    key, row, col = VA_BELOW_ENTRIES[name]
    return complex(np.asarray(values[key])[row, col])
