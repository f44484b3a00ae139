"""Model features ↔ physical parameters: the space SHAP values refer to.

The trees see :func:`lecture_utils.surrogate.features` (e.g. ``log10(f_a/GeV)`` and the effective
couplings ``c_i · 10⁶ GeV / f_a``), not the physical parameters. This module checks that the map
is one feature per parameter (:func:`feature_map`), inverts it (:func:`points_from_features`),
labels the features, and places points along one feature (:func:`feature_line`) or around a
point in two (:func:`interaction_contrast`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import alps, smooth
from .. import surrogate as sg
from .physics import observable_contributions

__all__ = [
    "PER_PARAMETER_TRANSFORMS",
    "check_parameter",
    "check_per_parameter",
    "feature_description",
    "feature_label",
    "feature_line",
    "feature_map",
    "interaction_contrast",
    "points_from_features",
]

PER_PARAMETER_TRANSFORMS: tuple[str, ...] = ("ratio", "raw")
"""Feature transforms with one feature per parameter — the ones SHAP values can be reported for
per physical parameter (``"running"`` adds low-energy couplings that mix the parameters)."""


def check_per_parameter(transform: str) -> str:
    sg.check_transform(transform)
    if transform not in PER_PARAMETER_TRANSFORMS:
        raise ValueError(
            f"feature transform {transform!r} is not one feature per parameter (its "
            f"{len(sg.feature_names(transform))} features include low-energy couplings that mix "
            f"the parameters), so SHAP values cannot be assigned to parameters; explain a "
            f"surrogate with one of {PER_PARAMETER_TRANSFORMS}, e.g. "
            "surrogate.default_surrogate(transform='ratio')")
    return transform


def check_parameter(parameter: str) -> int:
    """Column index of ``parameter`` in :data:`lecture_utils.alps.PARAMETERS`.

    Raises
    ------
    ValueError
        If ``parameter`` is not one of the parameter names.
    """
    if parameter not in alps.PARAMETERS:
        raise ValueError(f"unknown parameter {parameter!r}; choose one of {alps.PARAMETERS}")
    return alps.PARAMETERS.index(parameter)


def _symbol(parameter: str) -> str:
    """The LaTeX symbol of a parameter without unit, e.g. ``c_{q_L}^{33}``."""
    return alps.LABELS[parameter].split(" [")[0].strip("$")


def feature_label(parameter: str, transform: str = "ratio") -> str:
    """Plot label (LaTeX, with units) of the model feature that belongs to ``parameter``.

    ``fa`` → ``log10(f_a / GeV)``; a coupling → ``c_i · 10⁶ GeV / f_a`` (transform ``"ratio"``) or
    ``c_i`` (``"raw"``).
    """
    from ..plotting import axis_label

    check_per_parameter(transform)
    if parameter == alps.PARAMETERS[0]:
        return axis_label(parameter, log10=True)
    if transform == "raw":
        return axis_label(parameter)
    exponent = int(round(np.log10(sg.FA_REFERENCE_GEV)))
    return rf"${_symbol(parameter)}\cdot 10^{{{exponent}}}\,\mathrm{{GeV}}/f_a$"


def feature_description(parameter: str, transform: str) -> str:
    """Plain-text name of the feature of ``parameter`` (for tables)."""
    if parameter == alps.PARAMETERS[0]:
        return "log10(fa/GeV)"
    if transform == "raw":
        return parameter
    return f"{parameter} × {sg.FA_REFERENCE_GEV:.0e} GeV / fa"


def feature_map(transform: str = "ratio", *, n_probe: int = 64, seed: int = 0) -> pd.DataFrame:
    """The correspondence model feature ↔ physical parameter, checked numerically.

    Returns one row per parameter (index :data:`alps.PARAMETERS`) with the feature's name, a
    plain-text description, its plot label and ``depends_on`` (the parameters the feature changes
    with). The check: on ``n_probe`` seeded points of :data:`alps.DOMAIN`, each parameter is moved
    by a small relative step and the features that respond are recorded. The map is accepted only
    if the Jacobian is triangular with a non-zero diagonal — feature ``j`` depends on parameter
    ``j`` and at most on f_a (the first) — i.e. one feature per parameter and an invertible
    transform; otherwise :class:`RuntimeError`.
    """
    check_per_parameter(transform)
    names = sg.feature_names(transform)
    n_par = len(alps.PARAMETERS)
    rng = np.random.default_rng(int(seed))
    points = alps.DOMAIN.from_unit(rng.random((int(n_probe), n_par)))
    base = sg.features(points, transform).astype(np.float64)
    depends = np.zeros((n_par, n_par), dtype=bool)  # [feature, parameter]
    for k in range(n_par):
        moved = points.copy()
        step = 1e-3 * np.maximum(np.abs(moved[:, k]), 1.0)
        moved[:, k] += step
        diff = np.abs(sg.features(moved, transform).astype(np.float64) - base)
        depends[:, k] = (diff > 1e-6 * np.maximum(np.abs(base), 1.0)).any(axis=0)
    diagonal = np.diag(depends)
    off = depends.copy()
    np.fill_diagonal(off, False)
    off[:, 0] = False  # dependence on f_a (the common scale) is allowed
    if not diagonal.all() or off.any():
        raise RuntimeError(
            f"feature transform {transform!r} is not one feature per parameter: dependence "
            f"matrix [feature, parameter] =\n{depends.astype(int)}")
    rows = []
    for j, parameter in enumerate(alps.PARAMETERS):
        rows.append({"parameter": parameter, "feature": names[j],
                     "description": feature_description(parameter, transform),
                     "label": feature_label(parameter, transform),
                     "depends_on": ", ".join(p for k, p in enumerate(alps.PARAMETERS)
                                             if depends[j, k])})
    return pd.DataFrame(rows).set_index("parameter")


def points_from_features(x: Any, transform: str = "ratio") -> np.ndarray:
    """Inverse of :func:`lecture_utils.surrogate.features`: physical points (n, 6), float64.

    ``x`` (n, 6) or (6,) holds ``log10(f_a/GeV)`` and the couplings' features of ``transform``.
    Raises :class:`ValueError` for a wrong shape or non-finite values.
    """
    check_per_parameter(transform)
    points = smooth.from_search(x)  # log10 f_a → f_a; shape and finiteness checked there
    if len(points) == 0:
        raise ValueError(f"features must have shape (n, {len(alps.PARAMETERS)}) with n ≥ 1")
    if transform == "ratio":
        points[:, 1:] = points[:, 1:] * points[:, :1] / sg.FA_REFERENCE_GEV
    return points


def _features64(points: np.ndarray, transform: str) -> np.ndarray:
    """:func:`lecture_utils.surrogate.features` without the final rounding to float32."""
    check_per_parameter(transform)
    return sg.features_of(np.asarray(points, dtype=np.float64), transform, np.float64)


def feature_line(point: Any, parameter: str, n: int = 9, *, transform: str = "ratio",
                 domain: alps.Domain = alps.DOMAIN) -> tuple[np.ndarray, np.ndarray]:
    """Points along the feature of ``parameter`` through ``point``, the other features fixed.

    This is the direction a SHAP value of that feature refers to: for the ``"ratio"`` transform,
    moving ``f_a`` keeps the effective couplings ``c_i/f_a`` fixed (so all ``c_i`` scale with
    ``f_a``), and moving a coupling keeps ``f_a``.

    Parameters
    ----------
    point
        One physical point, shape (6,) or (1, 6), f_a in GeV.
    parameter
        Name in :data:`lecture_utils.alps.PARAMETERS` whose feature is varied.
    n
        Number of points on the line (≥ 2), equally spaced in the feature.
    transform
        Feature transform, one of :data:`PER_PARAMETER_TRANSFORMS`.
    domain
        The line covers the part of the feature's range for which the physical point stays
        inside this domain.

    Returns
    -------
    values : numpy.ndarray
        Feature values, shape (n,).
    points : numpy.ndarray
        Physical points, shape (n, 6).

    Raises
    ------
    ValueError
        For an unknown parameter or transform, ``n < 2``, more than one point, or a line that
        does not meet the domain.
    """
    k = check_parameter(parameter)
    if int(n) < 2:
        raise ValueError(f"need n ≥ 2 points on the line, got {n}")
    p = sg.as_points(point)
    if p.shape[0] != 1:
        raise ValueError(f"feature_line takes one point, got {p.shape[0]}")
    x0 = _features64(p, transform)[0]
    if k == 0:
        lo_hi = domain.unit_bounds[0]  # log10(f_a/GeV)
    elif transform == "ratio":  # widest conceivable range of c · 10⁶ GeV / f_a, narrowed below
        lo_hi = domain.bounds[k] * sg.FA_REFERENCE_GEV / domain.fa_gev[0]
    else:
        lo_hi = domain.bounds[k]
    grid = np.linspace(lo_hi[0], lo_hi[1], 4001)
    trial = np.repeat(x0[None, :], len(grid), axis=0)
    trial[:, k] = grid
    inside = domain.contains(points_from_features(trial, transform))
    if not inside.any():
        raise ValueError(f"no point of the {parameter} line through {p[0]} lies in the domain")
    values = np.linspace(grid[inside].min(), grid[inside].max(), int(n))
    line = np.repeat(x0[None, :], int(n), axis=0)
    line[:, k] = values
    points = points_from_features(line, transform)
    lo, hi = domain.bounds.T
    return values, np.clip(points, lo, hi)  # clip: rounding at the edges only


def interaction_contrast(point: Any, pair: tuple[str, str], steps: tuple[float, float], *,
                         transform: str = "ratio", integrator: alps.Integrator = "leadinglog",
                         name: str = "physics") -> pd.DataFrame:
    """Which measurements make the effect of one parameter depend on another, at ``point``.

    Four points around ``point`` in feature space — feature ``a`` at ``x_a ± steps[0]/2``,
    feature ``b`` at ``x_b ± steps[1]/2``, everything else fixed — and per measurement the
    mixed difference ``Δ²χ²_k = χ²_k(a₊,b₊) − χ²_k(a₋,b₊) − χ²_k(a₊,b₋) + χ²_k(a₋,b₋)``: zero
    when the two effects add, non-zero when they interact (the finite-difference analogue of a
    SHAP interaction). Columns: ``contrast`` (Δ²χ²_k), ``effect_a`` (χ²_k(a₊,b₋) − χ²_k(a₋,b₋)),
    ``effect_b``; sorted by |contrast|; ``attrs["points"]`` holds the four physical points
    (order −−, +−, −+, ++) and ``attrs["steps"]`` the steps used: they are halved until all four
    corners lie in :data:`lecture_utils.alps.DOMAIN`. The χ² per measurement comes from
    :func:`observable_contributions` (cached).
    """
    a, b = pair
    ka, kb = check_parameter(a), check_parameter(b)
    if ka == kb:
        raise ValueError(f"need two different parameters, got {pair}")
    p = sg.as_points(point)
    if p.shape[0] != 1:
        raise ValueError(f"interaction_contrast takes one point, got {p.shape[0]}")
    x0 = _features64(p, transform)[0]
    signs = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], dtype=float)
    step = np.array([float(steps[0]), float(steps[1])])
    if not (np.isfinite(step).all() and (step > 0).all()):
        raise ValueError(f"steps must be positive numbers, got {steps}")
    for _ in range(12):  # halve the steps until the four corners lie in the domain
        corners = np.repeat(x0[None, :], 4, axis=0)
        corners[:, ka] += 0.5 * signs[:, 0] * step[0]
        corners[:, kb] += 0.5 * signs[:, 1] * step[1]
        points = points_from_features(corners, transform)
        if alps.DOMAIN.contains(points).all():
            break
        step = step / 2.0
    else:
        raise ValueError(f"the {a} × {b} contrast around {p[0]} cannot be placed in the domain")
    contributions = observable_contributions(points, integrator, name=name)
    columns = contributions.columns
    mm, pm, mp, pp = contributions.to_numpy()
    table = pd.DataFrame({"contrast": pp - mp - pm + mm, "effect_a": pm - mm,
                          "effect_b": mp - mm}, index=pd.Index(columns, name="measurement"))
    table = table.iloc[np.argsort(-np.abs(table["contrast"].to_numpy()), kind="stable")]
    table.attrs["points"] = points
    table.attrs["pair"] = (a, b)
    table.attrs["steps"] = (float(step[0]), float(step[1]))
    return table
