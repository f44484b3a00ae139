"""The parameter space of the ALP fit: parameter names, units, the domain, input validation.

Parameters (order fixed by :data:`PARAMETERS`)
------------------------------------------------
``fa``
    the ALP decay constant f_a in GeV;
``cqL33, cuR, cdR, clL33, ceR``
    dimensionless ALP–fermion couplings at the scale Λ = 4π f_a in ALPaca's ``derivative_above``
    basis: c_qL and c_lL only in their (3,3) entry, c_uR, c_dR and c_eR flavour-universal
    (proportional to the unit matrix).

The ALP mass is fixed, m_a = :data:`MA_GEV`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PARAMETERS: tuple[str, ...] = ("fa", "cqL33", "cuR", "cdR", "clL33", "ceR")
"""Names of the six fit parameters, in the column order every array uses."""

UNITS: dict[str, str] = {"fa": "GeV", "cqL33": "", "cuR": "", "cdR": "", "clL33": "", "ceR": ""}
"""Units of each parameter ("" = dimensionless)."""

LABELS: dict[str, str] = {
    "fa": r"$f_a$ [GeV]",
    "cqL33": r"$c_{q_L}^{33}$",
    "cuR": r"$c_{u_R}$",
    "cdR": r"$c_{d_R}$",
    "clL33": r"$c_{\ell_L}^{33}$",
    "ceR": r"$c_{e_R}$",
}
"""LaTeX labels for plots."""

MA_GEV: float = 2.0
"""ALP mass m_a in GeV."""


@dataclass(frozen=True)
class Domain:
    """Box of the parameter space the data sets cover and the surrogates are trusted in.

    ``fa_gev`` is sampled log-uniformly, couplings uniformly.

    Choice: the reference tutorial covered f_a ∈ [9.9×10⁵, 3.3×10⁷] GeV with couplings in about
    [−3.5, 3.2]. Below ~10⁶ GeV the χ² explodes (10⁹–10²²), so nothing is gained there. The upper
    edge of f_a is extended to 5×10⁷ GeV (log10 f_a = 7.70) so that a prior centred at the
    tutorial's log10 f_a = 7.5 ± 0.2 does not sit on the edge of the data; beyond it all couplings
    over f_a are small and the χ² is the Standard-Model-like plateau. Couplings are symmetric,
    [−3.5, 3.5], covering the tutorial's range.

    Parameters
    ----------
    fa_gev : (float, float)
        Lower and upper edge of f_a in GeV.
    coupling : (float, float)
        Lower and upper edge of every coupling (dimensionless).
    """

    fa_gev: tuple[float, float] = (1.0e6, 5.0e7)
    coupling: tuple[float, float] = (-3.5, 3.5)

    @property
    def bounds(self) -> np.ndarray:
        """Physical bounds, shape (6, 2): [lower, upper] per parameter, :data:`PARAMETERS` order."""
        return np.array([self.fa_gev] + [self.coupling] * (len(PARAMETERS) - 1), dtype=float)

    @property
    def unit_bounds(self) -> np.ndarray:
        """Bounds in the sampling coordinates (log10 f_a, couplings), shape (6, 2)."""
        b = self.bounds.copy()
        b[0] = np.log10(b[0])
        return b

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of the unit hypercube, shape (n, 6), to physical parameters, shape (n, 6)."""
        u = np.asarray(u, dtype=float)
        lo, hi = self.unit_bounds.T
        x = lo + u * (hi - lo)
        x[:, 0] = 10.0 ** x[:, 0]
        return x

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`from_unit`."""
        x = np.array(points, dtype=float, copy=True)
        x[:, 0] = np.log10(x[:, 0])
        lo, hi = self.unit_bounds.T
        return (x - lo) / (hi - lo)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask, shape (n,), of the points inside the box (edges included)."""
        p = np.atleast_2d(np.asarray(points, dtype=float))
        lo, hi = self.bounds.T
        return np.all((p >= lo) & (p <= hi), axis=1)

    def as_dict(self) -> dict[str, Any]:
        """The box as a JSON-able record (edges and sampling laws), for provenance."""
        return {"fa_gev": list(self.fa_gev), "coupling": list(self.coupling),
                "fa_sampling": "log-uniform", "coupling_sampling": "uniform"}


DOMAIN = Domain()
"""The course's parameter domain."""

SM_LIKE_POINT: np.ndarray = np.array([1.0e7, 0.0, 0.0, 0.0, 0.0, 0.0])
"""A Standard-Model-like reference point, with all couplings zero (f_a is then irrelevant)."""


def validate_points(points: Any, *, allow_extrapolation: bool = False,
                    domain: Domain = DOMAIN) -> np.ndarray:
    """Check and convert ``points`` to a float array of shape (n, 6).

    Parameters
    ----------
    points : array-like, shape (n, 6) or (6,)
        Parameters in :data:`PARAMETERS` order, f_a in GeV. A single point of shape (6,) is
        returned as (1, 6).
    allow_extrapolation : bool
        Accept values outside ``domain``.
    domain : Domain
        The box the values must lie in.

    Returns
    -------
    numpy.ndarray, shape (n, 6)
        The points as float64.

    Raises
    ------
    ValueError
        Naming the offending parameter, for non-numeric input, a wrong shape, no points, NaN/inf
        values, f_a ≤ 0 or (unless ``allow_extrapolation``) values outside ``domain``.
    """
    try:
        arr = np.array(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"points must be numeric, shape (n, {len(PARAMETERS)}): {exc}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != len(PARAMETERS):
        raise ValueError(
            f"points must have shape (n, {len(PARAMETERS)}) with columns {PARAMETERS}; "
            f"got shape {np.shape(points)}")
    if arr.shape[0] == 0:
        raise ValueError("points is empty: need at least one point")
    bad = ~np.isfinite(arr)
    if bad.any():
        col = int(np.argwhere(bad)[0, 1])
        raise ValueError(f"parameter {PARAMETERS[col]!r} has non-finite values (NaN or inf) in "
                         f"{int(bad[:, col].sum())} point(s)")
    if (arr[:, 0] <= 0).any():
        raise ValueError("parameter 'fa' (f_a in GeV) must be > 0")
    if not allow_extrapolation:
        lo, hi = domain.bounds.T
        outside = (arr < lo) | (arr > hi)
        if outside.any():
            col = int(np.argwhere(outside)[0, 1])
            raise ValueError(
                f"parameter {PARAMETERS[col]!r} outside the domain [{lo[col]:g}, {hi[col]:g}] in "
                f"{int(outside[:, col].sum())} point(s); pass allow_extrapolation=True to evaluate "
                "anyway")
    return arr
