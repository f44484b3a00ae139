"""The physics reading of the explanations: cached ALPaca evaluations.

:func:`observable_contributions` (χ² per measurement) and :func:`low_energy_table` evaluate ALPaca
through the per-point evaluation cache of :mod:`lecture_utils.data`;
:func:`coupling_response` gives the linear map from the couplings at 4π f_a to the low-energy
couplings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import alps, data

__all__ = ["coupling_response", "low_energy_table", "observable_contributions"]


def observable_contributions(points: Any, integrator: alps.Integrator = "leadinglog", *,
                             name: str = "physics", progress: bool | None = None
                             ) -> pd.DataFrame:
    """χ² contribution of every measurement at each point, shape (n, n_measurements).

    Columns ``"<observable> (<experiment>)"`` (those with dof > 0 at m_a, as in
    :func:`lecture_utils.alps.chi2_breakdown`), one row per point in input order; each row sums to
    :func:`lecture_utils.alps.chi2` at that point. Costs one ALPaca χ² per point not yet cached;
    every point is cached on disk by :func:`lecture_utils.data.cached_tables` (the per-point
    evaluation cache, kind ``"breakdown"``), so a later call — in any process, with any set of
    points containing it — reads it.

    Parameters
    ----------
    points
        Physical points, shape (n, 6) or (6,), f_a in GeV.
    integrator
        ALPaca's running: ``"leadinglog"`` or ``"exact"`` (part of the cache key).
    name
        Label of the cache entries written.
    progress
        Show a progress bar (default: environment ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    pandas.DataFrame
        Shape (n, n_measurements), dimensionless χ² contributions; 0 where a measurement does not
        contribute at a point.
    """
    rows = []
    for b in data.cached_tables("breakdown", points, integrator, name=name, progress=progress):
        keys = b["observable"].astype(str) + " (" + b["experiment"].astype(str) + ")"
        rows.append(dict(zip(keys, b["chi2"], strict=True)))
    return pd.DataFrame(rows).fillna(0.0)


def low_energy_table(points: Any, integrator: alps.Integrator = "leadinglog", *,
                     name: str = "physics", progress: bool | None = None) -> pd.DataFrame:
    """:func:`lecture_utils.alps.low_energy_couplings` of ``points`` (n, 6), each point cached on
    disk by :func:`lecture_utils.data.cached_table` (kind ``"low-energy"``; columns
    :data:`lecture_utils.alps.LOW_ENERGY_COLUMNS`, one row per point)."""
    table = data.cached_table("low-energy", points, integrator, name=name, progress=progress)
    return table[list(alps.LOW_ENERGY_COLUMNS)]


def coupling_response(fa_gev: float, integrator: alps.Integrator = "leadinglog", *,
                      columns: Sequence[str] = ("cbs_re", "cbs_im", "cmumu_A", "cee_A",
                                                "ctautau_A", "cnu33"),
                      name: str = "physics") -> pd.DataFrame:
    """Low-energy couplings at m_a produced by one unit of each coupling at Λ = 4π f_a.

    Row ``c_i``: :func:`lecture_utils.alps.low_energy_couplings` at the point with f_a =
    ``fa_gev`` (GeV), ``c_i = 1`` and all other couplings 0, for the requested ``columns``. The
    renormalisation-group running and the matching are linear in the couplings, so the low-energy
    couplings of any point with this f_a are ``Σ_i c_i · row_i`` (the chapter checks this). All
    dimensionless.
    """
    fa = float(fa_gev)
    if not np.isfinite(fa) or fa <= 0:
        raise ValueError(f"fa_gev must be a positive number of GeV, got {fa_gev!r}")
    unknown = [c for c in columns if c not in alps.LOW_ENERGY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown low-energy columns {unknown}; choose from "
                         f"{alps.LOW_ENERGY_COLUMNS}")
    couplings = alps.PARAMETERS[1:]
    unit = np.zeros((len(couplings), len(alps.PARAMETERS)))
    unit[:, 0] = fa
    unit[:, 1:] = np.eye(len(couplings))
    table = low_energy_table(unit, integrator, name=name)
    out = table[list(columns)].copy()
    out.index = pd.Index(list(couplings), name="coupling at 4π f_a")
    return out
