"""The renormalisation-group running from 4π f_a to m_a as a linear map, tabulated in f_a.

Matching and running are linear in the couplings: for a fixed f_a the couplings at m_a are a
matrix (the *response*) times the five couplings at 4π f_a. This module tabulates that matrix on a
uniform grid of log10 f_a across :data:`~lecture_utils.alps.space.DOMAIN` and interpolates it
linearly (:class:`RunningTable`):

:func:`running_table`
    the leading-log running of the few low-energy couplings the surrogates use as features
    (:data:`RUNNING_COUPLINGS`), built once per machine and cached;
:func:`exact_running_table`
    ALPaca's numerical evolution of every ``VA_below`` coupling (:data:`VA_BELOW_LAYOUT`), shipped
    with the package. It backs the integrator ``"tabulated"`` (:func:`tabulated_couplings`): the
    exact evolution without running it per point. It differs from ALPaca's per-point ``"exact"``
    running by the tolerance of ALPaca's own ODE solution (``scipy``, ``rtol=1e-3``);
:func:`coupling_slopes`
    that exact map at one f_a as a table: which coupling at 4π f_a feeds which coupling at m_a.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._paths import RESOURCES_DIR
from .._resources import worker_count
from .space import DOMAIN, MA_GEV, PARAMETERS
from .wrapper import (
    Integrator,
    alpaca_version,
    check_integrator,
    load_alpaca,
    quiet,
    run_alpaca,
)

VA_BELOW_ENTRIES: dict[str, tuple[str, int, int]] = {
    "cbs": ("cdV", 1, 2),
    "cee_A": ("ceA", 0, 0),
    "cmumu_A": ("ceA", 1, 1),
    "ctautau_A": ("ceA", 2, 2),
    "cuu_A": ("cuA", 0, 0),
    "ccc_A": ("cuA", 1, 1),
    "cdd_A": ("cdA", 0, 0),
    "css_A": ("cdA", 1, 1),
    "cnu33": ("cnu", 2, 2),
}
"""Where each named low-energy coupling sits in ALPaca's ``VA_below`` couplings at m_a: (key, row,
column). The one place these positions are written."""


VA_BELOW_LAYOUT: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("cuV", (2, 2)), ("cuA", (2, 2)), ("cdV", (3, 3)), ("cdA", (3, 3)), ("ceV", (3, 3)),
    ("ceA", (3, 3)), ("cnu", (3, 3)), ("cG", ()), ("cgamma", ()))
"""Every entry of ALPaca's ``VA_below`` couplings at m_a (key, shape), in the order in which
:func:`couplings_response` flattens them (55 complex numbers)."""

VA_BELOW_SIZE: int = sum(math.prod(shape) for _, shape in VA_BELOW_LAYOUT)
"""Number of complex entries of ALPaca's ``VA_below`` couplings (:data:`VA_BELOW_LAYOUT`)."""


# --------------------------------------------------------------------------------------------
# the linear running map, tabulated in f_a (model inputs for the surrogates)
# --------------------------------------------------------------------------------------------
RUNNING_COUPLINGS: tuple[tuple[str, str, int, int, str], ...] = (
    ("cbs_re", *VA_BELOW_ENTRIES["cbs"], "real"),
    ("cbs_im", *VA_BELOW_ENTRIES["cbs"], "imag"),
    *((name, *VA_BELOW_ENTRIES[name], "real") for name in (
        "cmumu_A", "ctautau_A", "cuu_A", "ccc_A", "cdd_A", "css_A", "cnu33")),
)
"""Low-energy couplings at m_a tabulated by :func:`running_table`: (name, ALPaca ``VA_below`` key,
row, column, part); the first two are always the real and imaginary part of c_bs. ``cbs`` =
(c_dV)_{sb} mediates B → K a; the axial lepton and quark couplings set the ALP's decay widths
(and so whether it escapes the detector); ``cnu33`` the tau-neutrino coupling. All dimensionless.
"""

RUNNING_GRID_SIZE: int = 41
"""Number of log10 f_a nodes of :func:`running_table` across :data:`DOMAIN`."""

_RUNNING_TABLE_VERSION = 1


def running_response(fa_gev: float) -> np.ndarray:
    """Leading-log low-energy couplings per unit coupling at Λ = 4π f_a, shape (9, 5), float64.

    Entry ``[k, i]`` is :data:`RUNNING_COUPLINGS` ``k`` at m_a for the point with f_a = ``fa_gev``
    (GeV), coupling ``i`` (:data:`PARAMETERS` ``[1:]`` order) = 1 and the others 0: the rows of
    :func:`couplings_response` (leading log) that the surrogate's features use. The leading-log
    solution is exactly linear in the couplings, hence ``low = response @ c`` for any couplings
    ``c`` (5,) at this f_a (tested). Five ALPaca runs.
    """
    full = couplings_response(fa_gev, "leadinglog")
    out = np.empty((len(RUNNING_COUPLINGS), len(PARAMETERS) - 1))
    for k, (_, key, row, col, part) in enumerate(RUNNING_COUPLINGS):
        out[k] = getattr(full[_layout_index(key, row, col)], part)
    return out


def _layout_index(key: str, row: int, col: int) -> int:
    """Position of ``values[key][row, col]`` in :func:`_flatten_va_below`'s vector."""
    i = 0
    for k, shape in VA_BELOW_LAYOUT:
        if k == key:
            return i + (row * shape[1] + col if shape else 0)
        i += math.prod(shape)
    raise KeyError(key)


@dataclass(frozen=True)
class RunningTable:
    """:func:`running_response` on a uniform grid of log10(f_a/GeV), linear in between.

    ``log10_fa`` shape (g,), uniformly spaced and increasing; ``response`` shape (g, k, 5) (real
    for :func:`running_table`'s k = 9 couplings, complex for :func:`exact_running_table`'s 55).
    Beyond the grid the end intervals are extrapolated linearly (the map is almost exactly linear in
    log f_a).
    """

    log10_fa: np.ndarray
    response: np.ndarray

    def __post_init__(self) -> None:
        grid = np.asarray(self.log10_fa, dtype=float)
        if grid.ndim != 1 or len(grid) < 2 or self.response.shape[0] != len(grid):
            raise ValueError("need ≥ 2 grid nodes and one response matrix per node")
        step = (grid[-1] - grid[0]) / (len(grid) - 1)
        if not step > 0 or not np.allclose(np.diff(grid), step, rtol=1e-9, atol=0.0):
            raise ValueError("the log10 f_a grid must be uniform and increasing")
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_slope",
                           np.diff(self.response, axis=0) / np.diff(grid)[:, None, None])

    def at(self, log10_fa: np.ndarray) -> np.ndarray:
        """Interpolated responses at ``log10_fa`` (n,), shape (n, k, 5)."""
        lf = np.asarray(log10_fa, dtype=float)
        k = self._interval(lf)
        return self.response[k] + (lf - self.log10_fa[k])[:, None, None] * self._slope[k]

    def _interval(self, lf: np.ndarray) -> np.ndarray:
        """Index of the grid interval of each ``lf`` (the end intervals beyond the grid), computed
        from the uniform spacing."""
        grid = self.log10_fa
        return np.minimum(np.maximum(((lf - grid[0]) / self._step).astype(np.intp), 0),
                          len(grid) - 2)

    def slope_at(self, log10_fa: np.ndarray) -> np.ndarray:
        """d response / d log10 f_a at ``log10_fa`` (n,), shape (n, k, 5): the slope of the
        interval each point falls in (the interpolant is piecewise linear)."""
        return self._slope[self._interval(np.asarray(log10_fa, dtype=float))]

    def low_energy(self, points: np.ndarray) -> np.ndarray:
        """Low-energy couplings of validated ``points`` (n, 6), shape (n, k): the interpolated
        map applied to each point's couplings. No checks."""
        return np.matmul(self.at(np.log10(points[:, 0])), points[:, 1:, None])[:, :, 0]


_RUNNING_MEMO: dict[str, RunningTable] = {}


@functools.cache
def running_table_key() -> str:
    """Content hash naming the table: ALPaca version, m_a, grid, tabulated couplings."""
    from .._cache import content_hash

    return content_hash("running-table", _RUNNING_TABLE_VERSION, alpaca_version(), MA_GEV,
                        DOMAIN.unit_bounds[0].tolist(), RUNNING_GRID_SIZE,
                        [list(c) for c in RUNNING_COUPLINGS])[:24]


def running_table(*, progress: bool | None = None) -> RunningTable:
    """The course's :class:`RunningTable` (:data:`RUNNING_GRID_SIZE` nodes across the domain).

    Built once per machine with ALPaca (leading log; 5 runs per grid node) and cached under
    ``cache_dir("running", key)`` (:func:`running_table_key`); deterministic, so every process
    gets the identical table.
    """
    from .._cache import building, cache_dir
    from .._progress import progress_bar

    key = running_table_key()
    if key in _RUNNING_MEMO:
        return _RUNNING_MEMO[key]
    path = cache_dir("running") / f"{key}.npz"
    with building(path):  # one process runs ALPaca, the others wait and read its table
        table = _load_running_table(path, key) if path.exists() else None  # unreadable: rebuild
        if table is None:
            grid = np.linspace(*DOMAIN.unit_bounds[0], RUNNING_GRID_SIZE)
            response = np.array([running_response(10.0 ** g) for g in progress_bar(
                grid, progress=progress, desc="running table (leading log)", unit="f_a")])
            table = RunningTable(grid, response)
            save_running_table(table, path, key)
    _RUNNING_MEMO[key] = table
    return table


# --------------------------------------------------------------------------------------------
# the exact running, tabulated: integrator "tabulated"
# --------------------------------------------------------------------------------------------
TABULATED_GRID_SIZE: int = 41
"""Number of log10 f_a nodes of :func:`exact_running_table` across :data:`DOMAIN`."""

_TABULATED_VERSION = 1
SHIPPED_EXACT_RUNNING: str = "exact_running_table.npz"
"""File name of the shipped exact running table in ``lecture_utils/data/resources`` (rebuild with
``python -m lecture_utils running-table``)."""


def _flatten_va_below(values: dict[str, Any]) -> np.ndarray:
    """ALPaca ``VA_below`` values → complex vector (:data:`VA_BELOW_SIZE`,)."""
    if set(values) != {k for k, _ in VA_BELOW_LAYOUT}:
        raise RuntimeError(f"ALPaca's VA_below couplings have keys {sorted(values)}, expected "
                           f"{[k for k, _ in VA_BELOW_LAYOUT]}")
    return np.concatenate([np.asarray(values[k], dtype=complex).reshape(-1)
                           for k, _ in VA_BELOW_LAYOUT])


def _unflatten_va_below(vector: np.ndarray) -> dict[str, Any]:
    """Inverse of :func:`_flatten_va_below`, with ALPaca's types (complex ``numpy.matrix`` and
    ``complex128`` scalars)."""
    out: dict[str, Any] = {}
    i = 0
    with warnings.catch_warnings():  # numpy discourages np.matrix; ALPaca's values are matrices
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        for key, shape in VA_BELOW_LAYOUT:
            size = math.prod(shape)
            block = vector[i:i + size]
            out[key] = np.matrix(block.reshape(shape)) if shape else np.complex128(block[0])
            i += size
    return out


def couplings_response(fa_gev: float, integrator: Integrator = "exact") -> np.ndarray:
    """ALPaca's low-energy couplings per unit coupling at Λ = 4π f_a, complex, shape
    (:data:`VA_BELOW_SIZE`, 5).

    Column ``i`` is every ``VA_below`` entry at m_a (:data:`VA_BELOW_LAYOUT` order) for the point
    with f_a = ``fa_gev`` (GeV), coupling ``i`` (:data:`PARAMETERS` ``[1:]`` order) = 1 and the
    others 0. The matching and the running are linear in the couplings, so ``response @ c`` is
    the run of any couplings ``c`` (5,) at this f_a: exactly for the leading log, and for the
    exact (``scipy``) evolution up to the tolerance of ALPaca's ODE solution (tested). Five
    ALPaca runs.

    Raises
    ------
    ValueError
        For a non-positive or non-finite ``fa_gev``, and for ``integrator="tabulated"`` (this
        function runs ALPaca).
    """
    fa = float(fa_gev)
    if not np.isfinite(fa) or fa <= 0:
        raise ValueError(f"fa_gev must be a positive number of GeV, got {fa_gev!r}")
    if integrator == "tabulated":
        raise ValueError("couplings_response runs ALPaca; use integrator 'exact' or 'leadinglog'")
    check_integrator(integrator)
    columns = []
    for i in range(len(PARAMETERS) - 1):
        point = np.zeros(len(PARAMETERS))
        point[0], point[1 + i] = fa, 1.0
        columns.append(_flatten_va_below(run_alpaca(point, integrator).values))
    return np.array(columns).T


@functools.cache
def exact_running_key() -> str:
    """Content hash naming the exact running table: ALPaca version, m_a, grid, layout."""
    from .._cache import content_hash

    return content_hash("exact-running-table", _TABULATED_VERSION, alpaca_version(), MA_GEV,
                        DOMAIN.unit_bounds[0].tolist(), TABULATED_GRID_SIZE,
                        [[k, list(shape)] for k, shape in VA_BELOW_LAYOUT])[:24]


def _exact_response(log10_fa: float) -> np.ndarray:
    return couplings_response(10.0 ** log10_fa, "exact")


def build_exact_running_table(*, workers: int | None = None,
                              progress: bool | None = None) -> RunningTable:
    """Run ALPaca's exact evolution per unit coupling on :data:`TABULATED_GRID_SIZE` nodes of
    log10 f_a (5 runs per node), in ``workers`` processes (default: all cores;
    1 = in this process). Deterministic: every node is a pure function of its f_a."""
    from concurrent.futures import ProcessPoolExecutor

    from .._progress import progress_bar

    grid = np.linspace(*DOMAIN.unit_bounds[0], TABULATED_GRID_SIZE)
    n = worker_count(workers)
    bar = progress_bar(total=len(grid), progress=progress, desc="exact running table",
                       unit="f_a")
    try:
        if n <= 1:
            response = []
            for g in grid:
                response.append(_exact_response(float(g)))
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=n) as ex:
                response = []
                for r in ex.map(_exact_response, grid.tolist()):
                    response.append(r)
                    bar.update(1)
    finally:
        bar.close()
    return RunningTable(grid, np.array(response))


def save_running_table(table: RunningTable, path: str | os.PathLike[str], key: str) -> None:
    """Write ``table`` (and its ``key``) to ``path`` (.npz), atomically."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, log10_fa=table.log10_fa, response=table.response, key=np.array(key))
    os.replace(tmp, path)


def _load_running_table(path: Any, key: str) -> RunningTable | None:
    """The table saved at ``path`` if it carries ``key``; ``None`` if it is missing, unreadable
    or stale (then the caller rebuilds it)."""
    try:
        with np.load(path) as f:
            if str(f["key"]) != key:
                return None
            return RunningTable(f["log10_fa"], f["response"])
    except (OSError, ValueError, KeyError):
        return None


def shipped_exact_running_path() -> Any:
    """Path of the shipped exact running table (in ``lecture_utils/data/resources``)."""
    return RESOURCES_DIR / SHIPPED_EXACT_RUNNING


def exact_running_table(*, progress: bool | None = None,
                        workers: int | None = None) -> RunningTable:
    """ALPaca's exact running per unit coupling on :data:`TABULATED_GRID_SIZE` nodes of
    log10 f_a: a :class:`RunningTable` whose ``response`` has shape (41, 55, 5), complex.

    Shipped with the package (``lecture_utils/data/resources/exact_running_table.npz``, checked by
    :func:`exact_running_key`); with another ALPaca version it is rebuilt once per machine
    (:func:`build_exact_running_table`) and cached under ``cache_dir("running")``.
    """
    from .._cache import cache_dir

    key = exact_running_key()
    if key in _RUNNING_MEMO:
        return _RUNNING_MEMO[key]
    table = _load_running_table(shipped_exact_running_path(), key)
    path = cache_dir("running") / f"exact-{key}.npz"
    if table is None and path.exists():
        table = _load_running_table(path, key)
    if table is None:
        table = build_exact_running_table(workers=workers, progress=progress)
        save_running_table(table, path, key)
    _RUNNING_MEMO[key] = table
    return table


def tabulated_couplings(points: np.ndarray) -> list[Any]:
    """ALPaca ``ALPcouplings`` at m_a (``VA_below``) for validated ``points`` (n, 6) from
    :func:`exact_running_table`: the exact running per unit coupling, interpolated linearly in
    log10 f_a, applied to each point's couplings. No ALPaca run."""
    alpaca = load_alpaca()
    vectors = exact_running_table().low_energy(np.asarray(points, dtype=float))
    with quiet():
        return [alpaca.ALPcouplings(_unflatten_va_below(v), scale=MA_GEV, basis="VA_below")
                for v in vectors]



SLOPE_COUPLINGS: tuple[str, ...] = (
    "cbs_re", "cbs_im", *(name for name in VA_BELOW_ENTRIES if name != "cbs"))
"""Rows of :func:`coupling_slopes`: the real and imaginary part of c_bs, then the real part of
every other named low-energy coupling (:data:`VA_BELOW_ENTRIES`)."""


def coupling_slopes(fa_gev: float) -> pd.DataFrame:
    """How each named low-energy coupling at m_a depends on the five couplings at Λ = 4π f_a.

    Read off the shipped exact running (:func:`exact_running_table`, interpolated linearly in
    log10 f_a): since matching and running are linear in the couplings, the entry in row ``k``,
    column ``i`` is the derivative d c_k(m_a) / d c_i(4π f_a) — the low-energy coupling ``k`` for
    coupling ``i`` = 1 and the others 0. For example ``slopes.loc["cbs_re", "cqL33"]`` is the
    b → s coupling per unit third-generation doublet coupling.

    Parameters
    ----------
    fa_gev : float
        The ALP decay constant f_a in GeV, inside :data:`~lecture_utils.alps.space.DOMAIN`.

    Returns
    -------
    pandas.DataFrame
        Shape (10, 5), float64, dimensionless. Index: :data:`SLOPE_COUPLINGS` (``cbs_re``,
        ``cbs_im``, ``cee_A``, ``cmumu_A``, ``ctautau_A``, ``cuu_A``, ``ccc_A``, ``cdd_A``,
        ``css_A``, ``cnu33``: ALPaca ``VA_below`` entries at m_a); columns: the couplings
        :data:`~lecture_utils.alps.space.PARAMETERS` ``[1:]`` (``cqL33``, ``cuR``, ``cdR``,
        ``clL33``, ``ceR``).

    Raises
    ------
    ValueError
        If ``fa_gev`` is not a finite number inside the domain's f_a range.
    """
    fa = float(fa_gev)
    lo, hi = DOMAIN.unit_bounds[0]
    if not np.isfinite(fa) or fa <= 0 or not lo - 1e-9 <= math.log10(fa) <= hi + 1e-9:
        raise ValueError(f"fa_gev must lie in [{10.0 ** lo:.3g}, {10.0 ** hi:.3g}] GeV, "
                         f"got {fa_gev!r}")
    response = exact_running_table().at(np.array([math.log10(fa)]))[0]   # (55, 5), complex
    rows = []
    for name in SLOPE_COUPLINGS:
        entry = VA_BELOW_ENTRIES["cbs" if name.startswith("cbs_") else name]
        value = response[_layout_index(*entry)]
        rows.append(value.imag if name == "cbs_im" else value.real)
    return pd.DataFrame(np.array(rows), index=pd.Index(SLOPE_COUPLINGS, name="at m_a"),
                        columns=pd.Index(PARAMETERS[1:], name="at 4π f_a"))
