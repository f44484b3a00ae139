"""Quantiles of a finite sample with their Monte-Carlo (bootstrap) uncertainty.

A 68 % interval read off a few dozen posterior draws is itself uncertain: :func:`quantile_table`
gives each quantile with the standard deviation of its bootstrap replicas, so that a table of
intervals says how many of its digits mean something.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._checks import finite_array

__all__ = ["quantile_table"]


def quantile_table(values: Any, quantiles: Sequence[float] = (0.16, 0.5, 0.84), *,
                   n_boot: int = 2000, seed: int | np.random.Generator) -> pd.DataFrame:
    """Sample quantiles of each column and their bootstrap standard errors.

    Parameters
    ----------
    values : array_like or pandas.DataFrame
        Draws, shape (n,) or (n, k); a DataFrame keeps its column names. Every value must be
        finite and n ≥ 2.
    quantiles : sequence of float, optional
        Probabilities in (0, 1).
    n_boot : int, optional
        Bootstrap replicas (resampling the n draws with replacement), ≥ 10.
    seed : int or numpy.random.Generator
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per column of ``values``; for each probability ``q`` a column ``q<100 q>`` (the
        sample quantile, numpy's linear interpolation) and ``q<100 q> error`` (the standard
        deviation of the bootstrap replicas of that quantile).

    Raises
    ------
    ValueError
        For non-finite values, fewer than two draws, a probability outside (0, 1) or
        ``n_boot < 10``.
    """
    frame = values if isinstance(values, pd.DataFrame) else None
    arr = finite_array(values, "values")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"values must have shape (n,) or (n, k) with n ≥ 2, got {arr.shape}")
    probs = np.asarray(quantiles, dtype=float)
    if probs.ndim != 1 or probs.size == 0 or not np.all((probs > 0) & (probs < 1)):
        raise ValueError(f"quantiles must be probabilities in (0, 1), got {quantiles}")
    if int(n_boot) < 10:
        raise ValueError(f"n_boot must be ≥ 10, got {n_boot}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = arr.shape[0]
    estimate = np.quantile(arr, probs, axis=0)                      # (q, k)
    replicas = np.quantile(arr[rng.integers(0, n, size=(int(n_boot), n))], probs, axis=1)
    error = replicas.std(axis=1, ddof=1)                            # (q, k)
    names = list(frame.columns) if frame is not None else list(range(arr.shape[1]))
    table = {}
    for i, p in enumerate(probs):
        label = f"q{100 * p:g}"
        table[label] = estimate[i]
        table[f"{label} error"] = error[i]
    return pd.DataFrame(table, index=names)
