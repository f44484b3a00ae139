"""Argument checks shared by the active-learning modules (learner, committee, runs, comparisons)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_bounds", "check_points", "check_positive_int"]


def check_bounds(bounds: Any) -> np.ndarray:
    """Validate a box of ``d`` inputs.

    Parameters
    ----------
    bounds : array_like, shape (d, 2)
        Lower and upper bound of every input (lower < upper, all finite).

    Returns
    -------
    numpy.ndarray, shape (d, 2)
        The bounds as float64 (a copy).

    Raises
    ------
    ValueError
        For non-numeric input, a shape other than (d, 2) with d ≥ 1, non-finite entries or a
        lower bound not below its upper bound.
    """
    try:
        b = np.array(bounds, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bounds must be a numeric (d, 2) array: {exc}") from None
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1:
        raise ValueError(f"bounds must have shape (d, 2) with d >= 1, got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bounds must be finite")
    bad = np.flatnonzero(b[:, 0] >= b[:, 1])
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"bounds of dimension {i}: lower {b[i, 0]:g} must be < upper "
                         f"{b[i, 1]:g}")
    return b


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (``bool`` is refused).

    Raises
    ------
    ValueError
        ``"<name> must be a positive integer, got <value>"`` otherwise.
    """
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_points(points: Any, bounds: np.ndarray, name: str = "points") -> np.ndarray:
    """Validate points inside a box.

    Parameters
    ----------
    points : array_like, shape (n, d) or (d,)
        Points in physical units; a single point (d,) is promoted to shape (1, d).
    bounds : numpy.ndarray, shape (d, 2)
        The box (as returned by :func:`check_bounds`); points may exceed it by 10⁻⁹ of its width.
    name : str
        How the error messages call the points.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        The points as float64 (a copy).

    Raises
    ------
    ValueError
        For non-numeric input, a wrong shape, no points, NaN/inf or points outside the box.
    """
    dim = len(bounds)
    try:
        p = np.array(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, shape (n, {dim}): {exc}") from None
    if p.ndim == 1 and p.size == dim:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {p.shape}")
    if len(p) == 0:
        raise ValueError(f"{name} is empty: need at least one point")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contain NaN or inf")
    span = bounds[:, 1] - bounds[:, 0]
    outside = (p < bounds[:, 0] - 1e-9 * span) | (p > bounds[:, 1] + 1e-9 * span)
    if outside.any():
        col = int(np.argwhere(outside)[0, 1])
        raise ValueError(f"{int(outside.any(axis=1).sum())} of the {name} lie outside the "
                         f"bounds (first in dimension {col}: [{bounds[col, 0]:g}, "
                         f"{bounds[col, 1]:g}])")
    return p
