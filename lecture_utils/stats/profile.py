"""Minimisation with iminuit and profile likelihoods: scans, intervals, MINOS.

A **profile** minimises all other parameters at each fixed value of the parameter(s) of interest;
MIGRAD finds a minimum; MINOS finds the interval where the profiled χ² rises by a threshold Δχ²
above its minimum. χ² functions take one parameter array and return ``-2 ln L`` up to a constant
(``errordef = 1``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from iminuit import Minuit
from scipy import optimize
from scipy import stats as sps

from lecture_utils._progress import progress_bar

from ._checks import FloatArray, check_dof, finite_array
from .thresholds import delta_chi2, region_mask

__all__ = [
    "Bounds",
    "Chi2Function",
    "Interval",
    "Profile1D",
    "Profile2D",
    "interval_from_profile",
    "make_minuit",
    "minos_interval",
    "profile_1d",
    "profile_2d",
]

Chi2Function = Callable[[FloatArray], float]
Bounds = Sequence[tuple[float | None, float | None] | None]


def _threshold(cl: Any, nsigma: Any, dof: int) -> tuple[float, float]:
    """(Δχ² threshold, probability content) for exactly one of ``cl`` / ``nsigma``."""
    thr = float(delta_chi2(cl, nsigma=nsigma, dof=dof))
    content = float(cl) if cl is not None else float(sps.chi2.cdf(thr, dof))
    return thr, content



def _check_start(x0: Any) -> FloatArray:
    x = finite_array(x0, "x0")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array of parameters, got shape {x.shape}")
    return x


def _check_bounds(bounds: Bounds | None, npar: int) -> list[tuple[float, float]]:
    if bounds is None:
        return [(-math.inf, math.inf)] * npar
    if len(bounds) != npar:
        raise ValueError(f"shape mismatch: {len(bounds)} bounds for {npar} parameters")
    out = []
    for i, b in enumerate(bounds):
        lo, hi = (None, None) if b is None else b
        lo_f = -math.inf if lo is None else float(lo)
        hi_f = math.inf if hi is None else float(hi)
        if math.isnan(lo_f) or math.isnan(hi_f) or not lo_f < hi_f:
            raise ValueError(f"bounds[{i}] = {b!r} is not an interval (lower < upper)")
        out.append((lo_f, hi_f))
    return out


def _check_index(index: Any, npar: int, name: str = "index") -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise ValueError(f"{name} must be an integer parameter index, got {index!r}")
    if not 0 <= index < npar:
        raise ValueError(f"{name} = {index} is out of range for {npar} parameters")
    return int(index)


def _check_grid(grid: Any, name: str, bounds: tuple[float, float]) -> FloatArray:
    g = finite_array(grid, name)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 values, got shape {g.shape}")
    if not (np.diff(g) > 0).all():
        raise ValueError(f"{name} must be strictly increasing")
    if g[0] < bounds[0] or g[-1] > bounds[1]:
        raise ValueError(f"{name} [{g[0]:g}, {g[-1]:g}] leaves the parameter bounds {bounds}")
    return g


def make_minuit(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float | None = None,
) -> Minuit:
    """A :class:`iminuit.Minuit` for a χ² function of one parameter array, ready for MIGRAD.

    ``errordef`` is ``Minuit.LEAST_SQUARES`` (= 1: a χ², i.e. ``-2 ln L``), ``bounds`` become
    ``limits`` (``None`` = unbounded), ``names`` label the parameters (default ``x0, x1, …``).
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    if names is not None and len(names) != x.size:
        raise ValueError(f"shape mismatch: {len(names)} names for {x.size} parameters")
    m = Minuit(chi2_fn, x, grad=grad, name=None if names is None else tuple(names))
    m.errordef = Minuit.LEAST_SQUARES
    m.limits = lims
    if tol is not None:
        m.tol = tol
    return m


class _Minimiser:
    """One Minuit object reused for many fits with different fixed parameters (warm starts)."""

    def __init__(self, chi2_fn: Chi2Function, x0: FloatArray, bounds: list[tuple[float, float]],
                 names: Sequence[str] | None, grad: Any, tol: float) -> None:
        self.fn = chi2_fn
        self.npar = x0.size
        self.bounds = bounds
        self.calls = 0
        self.minuit = make_minuit(self._fcn, x0, bounds=bounds, names=names, grad=grad, tol=tol)
        self.names: tuple[str, ...] = tuple(self.minuit.parameters)

    def _fcn(self, x: FloatArray) -> float:
        self.calls += 1
        value = float(self.fn(np.asarray(x, dtype=float)))
        if math.isnan(value):
            raise ValueError(f"chi2_fn returned NaN at parameters {np.asarray(x).tolist()}")
        return value

    def fit(self, start: FloatArray, fixed: dict[int, float]) -> tuple[float, FloatArray, bool]:
        """Minimise over the parameters not in ``fixed`` from ``start``; (χ², params, valid)."""
        x = np.array(start, dtype=float)
        for i, v in fixed.items():
            x[i] = v
        for i, (lo, hi) in enumerate(self.bounds):
            x[i] = min(max(x[i], lo), hi)
        if len(fixed) == self.npar:
            return self._fcn(x), x, True
        m = self.minuit
        m.values = x
        m.fixed = [i in fixed for i in range(self.npar)]
        m.migrad()
        return float(m.fval), np.array(m.values, dtype=float), bool(m.valid)

    def fit_no_worse_than_origin(self, start: FloatArray, fixed: dict[int, float],
                                 origin: FloatArray) -> tuple[float, FloatArray, bool]:
        """:meth:`fit` from ``start``, but never above a fit from ``origin`` with ``fixed`` applied.

        A warm-started scan can stay on one branch of a multi-modal χ². So the χ² at ``origin``
        (the caller's starting point) with the fixed parameters moved to their values is computed
        (one χ² call); only if it is lower than the warm-started result is the fit repeated from
        there, and the lower of the two results is returned as (χ², params, valid).
        """
        result = self.fit(start, fixed)
        cold = np.array(origin, dtype=float)
        for i, v in fixed.items():
            cold[i] = v
        if self.fn(cold) < result[0]:
            retry = self.fit(cold, fixed)
            if retry[0] < result[0]:
                return retry
        return result

    def lower_global_minimum(self, chi2: FloatArray, params: FloatArray, chi2_min: float,
                             best: FloatArray) -> tuple[float, FloatArray]:
        """The global minimum ``(χ²_min, best fit)`` after a scan with profiled ``chi2`` (any
        shape) and ``params`` (``chi2.shape + (n_par,)``).

        If the scan went below ``chi2_min``, the global fit is redone from the lowest scan point
        and kept when it is lower; ``χ²_min`` never exceeds the lowest scanned χ².
        """
        lowest = float(chi2.min())
        if lowest < chi2_min:
            flat = params.reshape(-1, params.shape[-1])
            refit, refit_best, _ = self.fit(flat[int(np.argmin(chi2))], {})
            if refit < chi2_min:
                chi2_min, best = refit, refit_best
            chi2_min = min(chi2_min, lowest)
        return float(chi2_min), best


# --------------------------------------------------------------------------------------------------
# profile likelihood
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Interval:
    """A confidence interval ``[lower, upper]`` for one parameter (same units as the parameter).

    ``lower``/``upper`` are ``-inf``/``+inf`` where the profiled Δχ² did not reach the threshold
    inside the scanned range (or MINOS failed on that side). ``segments`` lists every disjoint
    piece of ``Δχ² ≤ threshold`` seen in a profile scan (one for a unimodal profile).
    """

    best: float
    lower: float
    upper: float
    cl: float
    threshold: float
    method: str
    segments: tuple[tuple[float, float], ...] = ()

    @property
    def errors(self) -> tuple[float, float]:
        """Asymmetric errors ``(lower - best, upper - best)`` as MINOS reports them."""
        return self.lower - self.best, self.upper - self.best

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def __str__(self) -> str:
        lo, hi = self.errors
        return (f"{self.best:.6g} {lo:+.4g}/{hi:+.4g}  [{self.lower:.6g}, {self.upper:.6g}] "
                f"at {self.cl:.2%} CL (Δχ² = {self.threshold:.4g}, {self.method})")


@dataclass(frozen=True, eq=False)
class Profile1D:
    """Profile χ² of one parameter; all other parameters minimised at each grid value.

    Attributes: ``index``/``name`` of the profiled parameter; ``grid`` shape ``(m,)``; ``chi2``
    shape ``(m,)`` — the profiled χ²; ``params`` shape ``(m, n_par)`` — the full best-fit
    parameter vector at each grid value (the profiled nuisance parameters); ``valid`` shape
    ``(m,)`` — MIGRAD's validity; ``best_fit`` shape ``(n_par,)`` and ``chi2_min`` — the global
    minimum.
    """

    index: int
    name: str
    names: tuple[str, ...]
    grid: FloatArray
    chi2: FloatArray
    params: FloatArray
    valid: npt.NDArray[np.bool_]
    best_fit: FloatArray
    chi2_min: float
    _minimiser: _Minimiser = field(repr=False)

    @property
    def delta_chi2(self) -> FloatArray:
        """``chi2 - chi2_min``, shape ``(m,)``."""
        return self.chi2 - self.chi2_min

    def to_frame(self) -> pd.DataFrame:
        """The scan as a table: grid value, χ², Δχ² and every parameter's profiled value."""
        frame = pd.DataFrame(self.params, columns=list(self.names))
        frame.insert(0, "delta_chi2", self.delta_chi2)
        frame.insert(0, "chi2", self.chi2)
        frame.index = pd.Index(self.grid, name=self.name)
        return frame

    def profile_at(
        self, value: float, start: npt.ArrayLike | None = None
    ) -> tuple[float, FloatArray]:
        """Profiled χ² and best-fit parameters at one more ``value`` of the parameter (a fresh
        MIGRAD warm-started from ``start`` or the nearest grid point)."""
        if start is None:
            start = self.params[int(np.argmin(np.abs(self.grid - value)))]
        chi2, params, _ = self._minimiser.fit(np.asarray(start, float), {self.index: float(value)})
        return chi2, params

    def interval(self, cl: float | None = None, *, nsigma: float | None = None, dof: int = 1,
                 refine: bool = True) -> Interval:
        """Shortcut for :func:`interval_from_profile`."""
        return interval_from_profile(self, cl, nsigma=nsigma, dof=dof, refine=refine)

    @classmethod
    def from_scan(cls, chi2_fn: Chi2Function, index: int, grid: npt.ArrayLike,
                  chi2: npt.ArrayLike, params: npt.ArrayLike, valid: npt.ArrayLike,
                  best_fit: npt.ArrayLike, chi2_min: float, *, bounds: Bounds | None = None,
                  names: Sequence[str] | None = None, grad: Any = None,
                  tol: float = 0.1) -> Profile1D:
        """A profile from the stored results of a scan of ``chi2_fn`` (e.g. read from a cache),
        with a minimiser of ``chi2_fn`` for :meth:`profile_at` and refined intervals.

        Parameters are those of :func:`profile_1d` and the attributes of :class:`Profile1D`;
        ``params`` has shape (m, n_par) and ``best_fit`` shape (n_par,).
        """
        best = _check_start(best_fit)
        lims = _check_bounds(bounds, best.size)
        i = _check_index(index, best.size)
        mini = _Minimiser(chi2_fn, best, lims, names, grad, tol)
        return cls(i, mini.names[i], mini.names, np.asarray(grid, dtype=float),
                   np.asarray(chi2, dtype=float), np.asarray(params, dtype=float),
                   np.asarray(valid, dtype=bool), best, float(chi2_min), mini)


@dataclass(frozen=True, eq=False)
class Profile2D:
    """Profile χ² of two parameters on a grid; all others minimised at each grid point.

    Arrays follow matplotlib's convention for ``contour(x, y, z)``: ``chi2[j, i]`` is the profiled
    χ² at ``(x[i], y[j])``, shape ``(len(y), len(x))``; ``params`` has shape
    ``(len(y), len(x), n_par)``.
    """

    indices: tuple[int, int]
    names: tuple[str, ...]
    x: FloatArray
    y: FloatArray
    chi2: FloatArray
    params: FloatArray
    valid: npt.NDArray[np.bool_]
    best_fit: FloatArray
    chi2_min: float

    @property
    def delta_chi2(self) -> FloatArray:
        """``chi2 - chi2_min``, shape ``(len(y), len(x))``."""
        return self.chi2 - self.chi2_min

    def region_mask(self, cl: float | None = None, *, nsigma: float | None = None,
                    dof: int = 2) -> npt.NDArray[np.bool_]:
        """Grid points inside the joint confidence region (``dof = 2`` by default)."""
        return region_mask(self.delta_chi2, cl, nsigma=nsigma, dof=dof)


def _outward(n: int, start: int) -> list[int]:
    """Indices ``start, start+1, …, n-1, start-1, …, 0``: a scan that begins near the minimum."""
    return list(range(start, n)) + list(range(start - 1, -1, -1))


def profile_1d(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    index: int,
    grid: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float = 1e-4,
    progress: bool | None = None,
) -> Profile1D:
    """Profile likelihood scan of parameter ``index`` of any χ² function.

    Parameters
    ----------
    chi2_fn
        ``chi2_fn(params) -> float`` with ``params`` of shape ``(n_par,)`` — χ² = -2 ln L + const.
    x0
        Starting point, shape ``(n_par,)``; MIGRAD first finds the global minimum from here.
    index
        Which parameter to profile.
    grid
        Strictly increasing values of that parameter, shape ``(m,)``.
    bounds
        Optional ``(lower, upper)`` per parameter (``None`` for unbounded), passed to Minuit.
    names, grad
        Parameter names and an optional analytic gradient, passed to :class:`iminuit.Minuit`.
    tol
        MIGRAD tolerance: it stops when the expected distance to the minimum is below
        ``0.002 · tol`` in χ² (the default 10⁻⁴ is 1000× stricter than Minuit's 0.1, so that
        Δχ² crossings can be located precisely).
    progress
        Show a progress bar (default: environment ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    Profile1D
        The profiled χ², the nuisance parameters and MIGRAD's validity at each grid value, and
        the global minimum.

    Raises
    ------
    ValueError
        For a bad start, bounds, index or grid (not strictly increasing, outside the bounds), or
        when ``chi2_fn`` returns NaN.

    Notes
    -----
    At each grid value the other parameters are minimised with MIGRAD, warm-started from the
    neighbouring grid value; the scan starts at the grid value nearest the best fit and walks
    outwards. Where ``x0`` with the parameter moved to the grid value has a lower χ² than the
    warm-started fit (a scan can stay on one branch of a multi-modal χ²), the fit is repeated from
    there and the lower result kept. If the scan finds a lower χ² than the global fit, the global
    fit is redone from there.
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    i = _check_index(index, x.size)
    g = _check_grid(grid, "grid", lims[i])
    mini = _Minimiser(chi2_fn, x, lims, names, grad, tol)
    chi2_min, best, _ = mini.fit(x, {})

    m = g.size
    chi2 = np.empty(m)
    params = np.empty((m, x.size))
    valid = np.zeros(m, dtype=bool)
    start = int(np.argmin(np.abs(g - best[i])))
    for k in progress_bar(_outward(m, start), progress=progress, total=m,
                          desc=f"profile {mini.names[i]}"):
        if k == start:
            seed_point = best
        else:
            seed_point = params[k - 1] if k > start else params[k + 1]
        chi2[k], params[k], valid[k] = mini.fit_no_worse_than_origin(seed_point, {i: g[k]}, x)

    chi2_min, best = mini.lower_global_minimum(chi2, params, chi2_min, best)
    return Profile1D(i, mini.names[i], mini.names, g, chi2, params, valid, best, chi2_min, mini)


def profile_2d(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    indices: tuple[int, int],
    grid_x: npt.ArrayLike,
    grid_y: npt.ArrayLike,
    *,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float = 1e-4,
    progress: bool | None = None,
) -> Profile2D:
    """Profile likelihood of two parameters ``indices = (ix, iy)`` on the grid ``grid_x × grid_y``.

    Arguments as in :func:`profile_1d`; ``grid_x`` (shape ``(mx,)``) and ``grid_y`` (``(my,)``) are
    strictly increasing. Each grid point is warm-started from its already-profiled neighbour on the
    side of the best fit. Returns a :class:`Profile2D` with arrays of shape ``(my, mx)``; confidence
    regions use Δχ² thresholds with ``dof = 2`` (:func:`contour_levels`, :func:`region_mask`).
    """
    x = _check_start(x0)
    lims = _check_bounds(bounds, x.size)
    if len(indices) != 2:
        raise ValueError(f"indices must be two parameter indices, got {indices!r}")
    ix = _check_index(indices[0], x.size, "indices[0]")
    iy = _check_index(indices[1], x.size, "indices[1]")
    if ix == iy:
        raise ValueError("indices must name two different parameters")
    gx = _check_grid(grid_x, "grid_x", lims[ix])
    gy = _check_grid(grid_y, "grid_y", lims[iy])
    mini = _Minimiser(chi2_fn, x, lims, names, grad, tol)
    chi2_min, best, _ = mini.fit(x, {})

    ny, nx = gy.size, gx.size
    chi2 = np.empty((ny, nx))
    params = np.empty((ny, nx, x.size))
    valid = np.zeros((ny, nx), dtype=bool)
    i0 = int(np.argmin(np.abs(gx - best[ix])))
    j0 = int(np.argmin(np.abs(gy - best[iy])))
    order = [(j, i) for j in _outward(ny, j0) for i in _outward(nx, i0)]
    for j, i in progress_bar(order, progress=progress, total=len(order),
                             desc=f"profile {mini.names[ix]}, {mini.names[iy]}"):
        if (j, i) == (j0, i0):
            seed_point = best
        elif j == j0:
            seed_point = params[j, i - 1] if i > i0 else params[j, i + 1]
        else:
            seed_point = params[j - 1, i] if j > j0 else params[j + 1, i]
        chi2[j, i], params[j, i], valid[j, i] = mini.fit_no_worse_than_origin(
            seed_point, {ix: gx[i], iy: gy[j]}, x)

    chi2_min, best = mini.lower_global_minimum(chi2, params, chi2_min, best)
    return Profile2D((ix, iy), mini.names, gx, gy, chi2, params, valid, best, chi2_min)


def interval_from_profile(
    profile: Profile1D,
    cl: float | None = None,
    *,
    nsigma: float | None = None,
    dof: int = 1,
    refine: bool = True,
    xtol: float = 1e-12,
) -> Interval:
    """Confidence interval where the profiled Δχ² stays below ``delta_chi2(cl or nsigma, dof)``.

    The grid brackets each crossing of the threshold; with ``refine=True`` the crossing is then
    located with Brent's method (:func:`scipy.optimize.brentq`) on the *re-profiled* χ² — each
    evaluation is a fresh MIGRAD of the nuisance parameters — so the endpoints do not depend on the
    grid spacing. ``refine=False`` interpolates linearly between grid points.

    Parameters
    ----------
    profile : Profile1D
        A profile scan from :func:`profile_1d`.
    cl : float, optional
        Confidence level, a probability in (0, 1). Give exactly one of ``cl`` and ``nsigma``.
    nsigma : float, optional
        Two-sided Gaussian-equivalent significance, > 0.
    dof : int, optional
        Degrees of freedom of the threshold (:func:`delta_chi2`). Other than 1, the interval is
        the projection of a ``dof``-dimensional joint region onto this parameter.
    refine : bool, optional
        Locate each crossing on the re-profiled χ² (default) instead of interpolating linearly
        on the grid.
    xtol : float, optional
        Absolute tolerance of Brent's method, in the units of the profiled parameter.

    Returns
    -------
    Interval
        The interval around the best fit (``-inf``/``+inf`` where the scan does not reach the
        threshold), in the units of the profiled parameter; all disjoint pieces are in
        ``Interval.segments``.

    Raises
    ------
    ValueError
        If ``profile`` is not a :class:`Profile1D`, or for invalid ``cl``, ``nsigma`` or ``dof``
        (:func:`delta_chi2`).
    """
    if not isinstance(profile, Profile1D):
        raise ValueError(f"profile must be a Profile1D from profile_1d, got {type(profile)!r}")
    thr, content = _threshold(cl, nsigma, check_dof(dof))
    g = profile.grid
    f = profile.delta_chi2 - thr

    def excess(value: float, start: FloatArray) -> float:
        chi2, _ = profile.profile_at(value, start)
        return chi2 - profile.chi2_min - thr

    crossings: list[float] = []
    for k in range(g.size - 1):
        if (f[k] <= 0) == (f[k + 1] <= 0):
            continue
        lin = g[k] + (g[k + 1] - g[k]) * f[k] / (f[k] - f[k + 1])
        root = lin
        if refine:
            near = profile.params[k] if abs(f[k]) < abs(f[k + 1]) else profile.params[k + 1]
            try:
                root = optimize.brentq(excess, g[k], g[k + 1], args=(near,), xtol=xtol,
                                       rtol=4 * np.finfo(float).eps)
            except ValueError:  # re-minimisation moved an end point across the threshold
                root = lin
        crossings.append(float(root))

    inside_start = f[0] <= 0
    edges = ([-math.inf] if inside_start else []) + crossings
    if len(edges) % 2:
        edges.append(math.inf)
    segments = tuple((edges[2 * s], edges[2 * s + 1]) for s in range(len(edges) // 2))
    best = float(profile.best_fit[profile.index])
    lower, upper = -math.inf, math.inf
    if segments:
        containing = [s for s in segments if s[0] <= best <= s[1]]
        if not containing:  # best fit outside the scanned range: take the nearest segment
            containing = [min(segments, key=lambda s: min(abs(s[0] - best), abs(s[1] - best)))]
        lower, upper = containing[0]
    return Interval(best, lower, upper, content, thr, "profile", segments)


def minos_interval(
    chi2_fn: Chi2Function,
    x0: npt.ArrayLike,
    index: int,
    cl: float | None = None,
    *,
    nsigma: float | None = None,
    bounds: Bounds | None = None,
    names: Sequence[str] | None = None,
    grad: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tol: float | None = 1e-4,
) -> Interval:
    """The 1-D interval from iminuit: MIGRAD for the minimum, then MINOS for parameter ``index``.

    MINOS follows the profiled χ² to where it rises by ``chi2.ppf(cl, 1)`` (``errordef = 1``).
    Give ``cl`` or ``nsigma``. A side where MINOS is invalid (e.g. it hits a limit) is ``±inf``.
    ``tol`` is Minuit's tolerance (default 1000× stricter than Minuit's 0.1, as in
    :func:`profile_1d`; ``None`` keeps Minuit's default).
    """
    _, content = _threshold(cl, nsigma, 1)
    m = make_minuit(chi2_fn, x0, bounds=bounds, names=names, grad=grad, tol=tol)
    i = _check_index(index, len(m.parameters))
    m.migrad()
    if not m.valid:
        raise RuntimeError(f"MIGRAD did not converge:\n{m.fmin}")
    m.minos(i, cl=content)
    me = m.merrors[m.parameters[i]]
    best = float(m.values[i])
    lower = best + me.lower if me.lower_valid else -math.inf
    upper = best + me.upper if me.upper_valid else math.inf
    thr = float(sps.chi2.ppf(content, 1))
    return Interval(best, float(lower), float(upper), content, thr, "minos", ((lower, upper),))
