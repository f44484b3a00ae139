"""Model inputs: the check every matrix passes before its pointer reaches C, the probe inputs
that verify a library, and the tolerance of the comparison with XGBoost.

Policy of :func:`check_matrix`: float32 is used as is, float64 is rounded to float32 (a copy;
XGBoost does the same internally), every other dtype raises :class:`TypeError`; a matrix that is
not C-contiguous raises :class:`ValueError` (no hidden copy in hot loops: call
:func:`numpy.ascontiguousarray` yourself); ``±inf`` is allowed (it compares like in XGBoost).
NaN is handled by the callers' ``nan_policy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .codegen import tree_dicts

__all__ = ["check_matrix", "probe_matrix", "tolerance"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_EPS32 = float(np.finfo(np.float32).eps)


def check_matrix(x: Any, n_features: int) -> np.ndarray:
    """Validate a model-input matrix for C and return it as C-contiguous float32, shape (n, f).

    * not a :class:`numpy.ndarray` → :class:`TypeError`;
    * not 2-D, or ``x.shape[1] != n_features`` → :class:`ValueError`;
    * not C-contiguous (e.g. a column slice or a transpose) or misaligned → :class:`ValueError`;
    * dtype float32 → used as is (no copy); float64 → rounded to float32 (a copy, the conversion
      XGBoost applies too); any other dtype → :class:`TypeError`.

    NaN is checked separately (see ``nan_policy`` of
    :class:`~lecture_utils.compiled.dispatch.BoosterPredictor`).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"model inputs must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"model inputs must be 2-D (n, {n_features}), got shape {x.shape}")
    if x.shape[1] != n_features:
        raise ValueError(f"model inputs need {n_features} features (columns), got {x.shape[1]}")
    dtype = x.dtype
    if dtype is not _F32 and dtype != _F32 and dtype != _F64:
        raise TypeError(f"model inputs must be float32 (or float64, rounded to float32), got "
                        f"dtype {x.dtype}")
    flags = x.flags
    if not flags.c_contiguous:
        raise ValueError("model inputs must be C-contiguous (row-major); use "
                         "np.ascontiguousarray(x)")
    if not flags.aligned:
        raise ValueError("model inputs are not aligned in memory; pass a copy (x.copy())")
    if dtype is not _F32 and dtype == _F64:
        x = x.astype(np.float32)
    return x


def tolerance(reference: np.ndarray, n_trees: int) -> float:
    """Largest expected |compiled − XGBoost| for outputs ``reference`` of an ``n_trees`` model.

    Both sum ``n_trees`` float32 leaf values, in different order and with leaves written as
    8-digit literals by tl2cgen; the bound allows one float32 rounding per tree at the size of the
    largest output: ``n_trees · eps32 · max(1, max|reference|)``.
    """
    ref = np.asarray(reference, dtype=float)
    big = float(np.max(np.abs(ref[np.isfinite(ref)]), initial=1.0))
    return max(1, int(n_trees)) * _EPS32 * max(1.0, big)


def probe_matrix(booster: Any, *, max_rows: int = 4096, seed: int = 0,
                 min_rows: int = 16) -> np.ndarray:
    """Inputs that exercise every split boundary of ``booster``: float32, shape (m, n_features).

    For each distinct (feature, threshold) split, one row with that feature exactly *at* the
    threshold and one a float32 step *below* it; the other features are drawn uniformly over the
    range of their thresholds. A compiled model that rounds a threshold wrongly, or swaps ``<`` and
    ``≤``, disagrees with XGBoost on these rows. At most ``max_rows`` probe rows (a seeded
    subset), padded with uniform rows to at least ``min_rows`` rows.
    """
    n_features = int(booster.num_features())
    splits: set[tuple[int, float]] = set()
    for tree in tree_dicts(booster):
        for f, t, left in zip(tree["split_indices"], tree["split_conditions"],
                              tree["left_children"], strict=True):
            if left != -1:
                splits.add((int(f), float(np.float32(t))))
    rng = np.random.default_rng(seed)
    items = sorted(splits)
    if 2 * len(items) > max_rows:
        pick = rng.choice(len(items), size=max_rows // 2, replace=False)
        items = [items[i] for i in np.sort(pick)]
    lo = np.full(n_features, -1.0)
    hi = np.full(n_features, 1.0)
    for f in range(n_features):
        ts = [t for g, t in splits if g == f]
        if ts:
            width = max(max(ts) - min(ts), 1e-3)
            lo[f], hi[f] = min(ts) - 0.1 * width, max(ts) + 0.1 * width
    m = max(2 * len(items), int(min_rows))
    x = rng.uniform(lo, hi, size=(m, n_features)).astype(np.float32)
    for i, (f, t) in enumerate(items):
        x[2 * i, f] = t
        x[2 * i + 1, f] = np.nextafter(np.float32(t), np.float32(-np.inf))
    return np.ascontiguousarray(x)
