"""Profile likelihoods of the ALP fit on the smoothed surrogate χ².

:func:`lecture_utils.fit.profile_1d` and :func:`lecture_utils.fit.profile_2d` (defined here,
re-exported by :mod:`lecture_utils.fit`) minimise the smoothed surrogate
(:class:`lecture_utils.smooth.SmoothedSurrogate`) over the nuisance parameters with MIGRAD
(:mod:`lecture_utils.stats`), from one or several starts, and cache the scans of a saved
surrogate.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
import warnings
import zipfile
from typing import Any

import numpy as np

from . import stats
from ._cache import cache_dir, code_fingerprint, content_hash
from .smooth import SEARCH_BOUNDS, SEARCH_NAMES, SmoothedSurrogate, to_search

__all__ = ["profile_1d", "profile_2d"]


def _search_index(name: str) -> int:
    if name == "fa":
        raise ValueError("profile f_a on a logarithmic grid: use the search coordinate 'log10_fa' "
                         "(grid values in log10(f_a / GeV))")
    if name not in SEARCH_NAMES:
        raise ValueError(f"unknown parameter {name!r}; choose one of {SEARCH_NAMES}")
    return SEARCH_NAMES.index(name)


def _profile_starts(start: Any) -> np.ndarray:
    if start is None:
        raise ValueError("give start: physical point(s) of shape (6,) or (k, 6), e.g. "
                         "best_fit(...).point")
    z = to_search(start)
    return np.clip(z, SEARCH_BOUNDS[:, 0], SEARCH_BOUNDS[:, 1])


def profile_1d(parameter: str, grid: Any, *, start: Any,
               smoothed: SmoothedSurrogate | None = None, tol: float = 0.1,
               progress: bool | None = None) -> stats.Profile1D:
    """Profile likelihood of one search coordinate on the smoothed surrogate χ².

    The nuisance parameters are minimised with MIGRAD (:func:`lecture_utils.stats.profile_1d`)
    on :meth:`SmoothedSurrogate.chi2_search`. With several starts (e.g. the minima of different
    branches of the fit) a scan runs from each, and the result is their lower envelope — a
    profile is a *global* minimum over the nuisance parameters, and a scan warm-started along one
    branch cannot jump to another. On a saved surrogate (the course's) the scan is cached
    (``cache_dir("profiles")``, keyed by the model files, the blur, the arguments and the code
    that computes it), so a rebuilt notebook reads it instead of minimising again.

    Parameters
    ----------
    parameter : str
        A name of :data:`SEARCH_NAMES`; f_a as ``"log10_fa"``.
    grid : array_like, shape (m,)
        Strictly increasing values of the parameter inside :data:`SEARCH_BOUNDS`, m ≥ 2; for
        ``"log10_fa"`` in log10(f_a/GeV).
    start : array_like, shape (6,) or (k, 6)
        One or several physical points (f_a in GeV) where MIGRAD starts, e.g.
        ``best_fit(...).point`` or :meth:`BestFit.starts`; clipped to the search bounds.
    smoothed : SmoothedSurrogate, optional
        The smoothed χ²; default ``SmoothedSurrogate()`` of the course's surrogate.
    tol : float, optional
        MIGRAD tolerance (EDM < 0.002·tol; 0.1 is Minuit's default — the surrogate is not more
        precise than that).
    progress : bool, optional
        Progress bar over the grid (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    lecture_utils.stats.Profile1D
        The profiled χ² (dimensionless) on ``grid``, shape (m,), MIGRAD's validity, and the global
        minimum. Its ``params`` (m, 6) and ``best_fit`` (6,) are in search coordinates
        (:func:`from_search` converts them).

    Raises
    ------
    ValueError
        Without ``start``, for ``"fa"`` (use ``"log10_fa"``) or an unknown ``parameter``, an
        invalid ``start``, or a grid that is not strictly increasing inside the bounds.
    """
    sm = SmoothedSurrogate() if smoothed is None else smoothed
    index = _search_index(parameter)
    starts = _profile_starts(start)
    key = _profile_key(sm, "profile_1d", index, np.asarray(grid, dtype=float), starts, tol)
    cached = _read_profile(key)
    if cached is not None:
        return stats.Profile1D.from_scan(
            sm.chi2_for_minuit, index, cached["grid"], cached["chi2"], cached["params"],
            cached["valid"], cached["best_fit"], float(cached["chi2_min"]),
            bounds=SEARCH_BOUNDS.tolist(), names=SEARCH_NAMES, tol=tol)
    runs = [stats.profile_1d(sm.chi2_for_minuit, z0, index, grid, bounds=SEARCH_BOUNDS.tolist(),
                             names=SEARCH_NAMES, tol=tol, progress=progress)
            for z0 in starts]
    if len(runs) == 1:
        result = runs[0]
    else:
        chi2 = np.array([r.chi2 for r in runs])
        pick = np.argmin(chi2, axis=0)
        cols = np.arange(chi2.shape[1])
        best_run = runs[int(np.argmin([r.chi2_min for r in runs]))]
        result = dataclasses.replace(
            best_run, chi2=chi2[pick, cols],
            params=np.array([runs[r].params[c] for c, r in enumerate(pick)]),
            valid=np.array([runs[r].valid[c] for c, r in enumerate(pick)]))
    _write_profile(key, grid=result.grid, chi2=result.chi2, params=result.params,
                   valid=result.valid, best_fit=result.best_fit, chi2_min=result.chi2_min)
    return result


def profile_2d(parameters: tuple[str, str], grid_x: Any, grid_y: Any, *, start: Any,
               smoothed: SmoothedSurrogate | None = None, tol: float = 0.1,
               progress: bool | None = None) -> stats.Profile2D:
    """Profile likelihood of two search coordinates on the smoothed surrogate χ².

    As :func:`profile_1d`, on a grid of two coordinates (:func:`lecture_utils.stats.profile_2d`),
    with the lower envelope over the runs from each ``start``, cached like :func:`profile_1d`.

    Parameters
    ----------
    parameters : tuple of (str, str)
        Two names of :data:`SEARCH_NAMES` (x, then y); f_a as ``"log10_fa"``.
    grid_x : array_like, shape (m_x,)
        Strictly increasing values of the first parameter inside :data:`SEARCH_BOUNDS`, m_x ≥ 2;
        for ``"log10_fa"`` in log10(f_a/GeV).
    grid_y : array_like, shape (m_y,)
        The same for the second parameter.
    start : array_like, shape (6,) or (k, 6)
        One or several physical points (f_a in GeV) where MIGRAD starts.
    smoothed : SmoothedSurrogate, optional
        The smoothed χ²; default ``SmoothedSurrogate()`` of the course's surrogate.
    tol : float, optional
        MIGRAD tolerance (as in :func:`profile_1d`).
    progress : bool, optional
        Progress bar over the grid (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    lecture_utils.stats.Profile2D
        The profiled χ² ``chi2[j, i]`` at ``(grid_x[i], grid_y[j])``, shape (m_y, m_x), with
        ``params`` (m_y, m_x, 6) and ``best_fit`` (6,) in search coordinates, MIGRAD's validity
        and the global minimum.

    Raises
    ------
    ValueError
        Unless ``parameters`` names two known search coordinates (``"fa"``: use
        ``"log10_fa"``); without ``start`` or for an invalid one; or for grids that are not
        strictly increasing inside the bounds.
    """
    sm = SmoothedSurrogate() if smoothed is None else smoothed
    if len(parameters) != 2:
        raise ValueError(f"parameters must name two search coordinates, got {parameters!r}")
    indices = (_search_index(parameters[0]), _search_index(parameters[1]))
    starts = _profile_starts(start)
    key = _profile_key(sm, "profile_2d", indices, np.asarray(grid_x, dtype=float),
                       np.asarray(grid_y, dtype=float), starts, tol)
    cached = _read_profile(key)
    if cached is not None:
        return stats.Profile2D(
            indices=indices, names=tuple(SEARCH_NAMES), x=cached["x"], y=cached["y"],
            chi2=cached["chi2"], params=cached["params"], valid=cached["valid"],
            best_fit=cached["best_fit"], chi2_min=float(cached["chi2_min"]))
    runs = [stats.profile_2d(sm.chi2_for_minuit, z0, indices, grid_x, grid_y,
                             bounds=SEARCH_BOUNDS.tolist(), names=SEARCH_NAMES, tol=tol,
                             progress=progress)
            for z0 in starts]
    if len(runs) == 1:
        result = runs[0]
    else:
        chi2 = np.array([r.chi2 for r in runs])
        pick = np.argmin(chi2, axis=0)
        best_run = runs[int(np.argmin([r.chi2_min for r in runs]))]
        rows, cols = np.indices(pick.shape)
        params = np.array([r.params for r in runs])[pick, rows, cols]
        valid = np.array([r.valid for r in runs])[pick, rows, cols]
        result = stats.Profile2D(
            indices=best_run.indices, names=best_run.names, x=best_run.x, y=best_run.y,
            chi2=chi2[pick, rows, cols], params=params, valid=valid, best_fit=best_run.best_fit,
            chi2_min=best_run.chi2_min)
    _write_profile(key, x=result.x, y=result.y, chi2=result.chi2, params=result.params,
                   valid=result.valid, best_fit=result.best_fit, chi2_min=result.chi2_min)
    return result


def _profile_key(sm: SmoothedSurrogate, *items: Any) -> str | None:
    """Cache key of a profile on ``sm``: the saved model's files, the blur, the arguments and the
    code that computes it; ``None`` (no caching) for a model that was never saved."""
    meta = sm.surrogate.metadata
    if not meta.get("data_hash") or not meta.get("model_sha256"):
        return None
    parts = [np.asarray(i).tolist() if isinstance(i, np.ndarray) else i for i in items]
    return content_hash("fit.profile", meta["data_hash"], meta["model_sha256"],
                        type(sm.surrogate).__name__, sm.smoothing.tolist(), parts,
                        code_fingerprint("lecture_utils.stats", "lecture_utils.smooth",
                                         "lecture_utils.surrogate", "lecture_utils.profiles"))[:24]


def _read_profile(key: str | None) -> dict[str, np.ndarray] | None:
    """The arrays of a cached profile, or ``None`` (not cached, or unreadable: recomputed)."""
    if key is None:
        return None
    path = cache_dir("profiles") / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # damaged
        warnings.warn(f"cached profile {path} unusable ({type(exc).__name__}: {exc}); "
                      "recomputing", UserWarning, stacklevel=3)
        return None


def _write_profile(key: str | None, **arrays: Any) -> None:
    if key is None:
        return
    path = cache_dir("profiles") / f"{key}.npz"
    tmp = path.with_name(f".{key}.{uuid.uuid4().hex}.tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
