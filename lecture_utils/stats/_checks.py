"""Input checks shared by the submodules of :mod:`lecture_utils.stats`.

Each check converts its argument to the type the calculation needs and raises
:class:`ValueError` naming the argument and the problem otherwise.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "as_float_array",
    "check_cl",
    "check_dof",
    "finite_array",
    "scalar_or_array",
]

FloatArray = npt.NDArray[np.float64]


def as_float_array(value: Any, name: str) -> FloatArray:
    """``value`` as a float array.

    Raises
    ------
    ValueError
        If ``value`` is not numeric or contains NaN; the message names ``name``.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {value!r}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: {value!r}")
    return arr


def finite_array(value: Any, name: str) -> FloatArray:
    """Like :func:`as_float_array` but also rejects ±inf (the message lists their positions)."""
    arr = as_float_array(value, name)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.ravel()))
        raise ValueError(f"{name} contains non-finite values (inf) at positions {bad.tolist()}")
    return arr


def scalar_or_array(arr: FloatArray) -> float | FloatArray:
    """A Python ``float`` for a 0-d array, the array itself otherwise."""
    return float(arr) if arr.ndim == 0 else arr


def check_cl(cl: Any, name: str = "cl") -> FloatArray:
    """``cl`` as a float array of probabilities strictly between 0 and 1 (else ``ValueError``)."""
    arr = as_float_array(cl, name)
    if ((arr <= 0.0) | (arr >= 1.0)).any():
        raise ValueError(
            f"{name} must be a probability strictly between 0 and 1 (e.g. 0.6827), got {cl!r}"
        )
    return arr


def check_dof(dof: Any) -> int:
    """``dof`` as an ``int`` ≥ 1; ``ValueError`` for bools, NaN, non-integers and values < 1."""
    if isinstance(dof, bool) or not isinstance(dof, numbers.Real):
        raise ValueError(f"dof must be an integer >= 1, got {dof!r}")
    if math.isnan(float(dof)) or not float(dof).is_integer() or dof < 1:
        raise ValueError(f"dof must be an integer >= 1, got {dof!r}")
    return int(dof)
