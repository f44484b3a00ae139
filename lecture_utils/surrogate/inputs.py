"""The surrogate's model inputs: validated physical points and their feature matrices.

Three feature transforms (:data:`FEATURE_TRANSFORMS`):

``"ratio"``
    ``log10(f_a / GeV)`` and the effective couplings ``c_i · 10⁶ GeV / f_a`` (the physics depends
    on c_i/f_a at low energies); 6 features.
``"raw"``
    ``log10(f_a / GeV)`` and the raw couplings; 6 features.
``"running"`` (the course's choice)
    the ratio features plus the low-energy couplings :data:`RUNNING_FEATURES` at m_a over f_a,
    read off the tabulated linear leading-log running (:func:`lecture_utils.alps.running_table`):
    what the observables see — |c_bs| for the production B → K a, the axial lepton and
    light-quark couplings for the decay — where the running mixes the couplings (e.g. c_μμ
    depends on c_uR − c_qL33 and c_eR), which axis-aligned splits can only staircase;
    6 + 8 = 14 features.

The three are compared on the hold-out set in the surrogate chapter and in
``benchmarks/surrogate_choices.py``. Feature matrices are float32, the precision the trees split
in, so every backend (xgboost, compiled C) sees identical inputs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import alps

__all__ = [
    "FA_REFERENCE_GEV",
    "FEATURE_TRANSFORMS",
    "RUNNING_FEATURES",
    "Transform",
    "as_points",
    "check_transform",
    "feature_names",
    "feature_table_key",
    "features",
    "features_of",
]

Transform = Literal["ratio", "raw", "running"]
FEATURE_TRANSFORMS: tuple[str, ...] = ("ratio", "raw", "running")
"""Available feature transforms (see :func:`features`)."""

FA_REFERENCE_GEV: float = 1.0e6
"""Reference scale of the effective couplings: feature ``c_i · FA_REFERENCE_GEV / f_a`` (O(1))."""


def check_transform(transform: str) -> str:
    """Return ``transform`` unchanged if it names a feature transform.

    Parameters
    ----------
    transform : str
        One of :data:`FEATURE_TRANSFORMS`.

    Returns
    -------
    str
        ``transform``.

    Raises
    ------
    ValueError
        If ``transform`` is not one of :data:`FEATURE_TRANSFORMS`.
    """
    if transform not in FEATURE_TRANSFORMS:
        raise ValueError(f"unknown feature transform {transform!r}; choose one of "
                         f"{FEATURE_TRANSFORMS}")
    return transform


RUNNING_FEATURES: tuple[str, ...] = ("cbs_abs",) + tuple(
    name for name, *_ in alps.RUNNING_COUPLINGS[2:])  # [0:2]: c_bs real and imaginary part
"""Low-energy couplings (:data:`lecture_utils.alps.RUNNING_COUPLINGS`; ``cbs_abs`` = |c_bs|) that
the ``"running"`` transform adds to the ``"ratio"`` features, each times 10⁶ GeV / f_a."""


def feature_names(transform: Transform = "ratio") -> tuple[str, ...]:
    """Names of the model inputs of ``transform``.

    Parameters
    ----------
    transform : {"ratio", "raw", "running"}
        The feature transform.

    Returns
    -------
    tuple of str
        6 names (:data:`alps.PARAMETERS` order) for ``"ratio"`` and ``"raw"``; for ``"running"``
        the 6 ratio features and then one per :data:`RUNNING_FEATURES` (14 in all).

    Raises
    ------
    ValueError
        For an unknown ``transform``.
    """
    check_transform(transform)
    if transform == "raw":
        return ("log10_fa",) + tuple(alps.PARAMETERS[1:])
    ratio = ("log10_fa",) + tuple(f"{p}_per_fa" for p in alps.PARAMETERS[1:])
    if transform == "ratio":
        return ratio
    return ratio + tuple(f"{c}_per_fa" for c in RUNNING_FEATURES)


def feature_table_key(transform: str) -> str | None:
    """Key of the tabulated running (:func:`lecture_utils.alps.running_table_key`) that the
    features of ``transform`` depend on; ``None`` for transforms that use no table."""
    return alps.running_table_key() if transform == "running" else None


def as_points(points: Any) -> np.ndarray:
    """Validate physical points and return them as float64, shape (n, 6).

    Points outside the domain are *not* rejected here (see
    :meth:`~lecture_utils.surrogate.TwoStageSurrogate.in_domain`).

    Parameters
    ----------
    points : array_like or pandas.DataFrame
        Shape (n, 6) or (6,) in :data:`alps.PARAMETERS` order (f_a in GeV, couplings
        dimensionless), or a DataFrame with (at least) those columns, which are taken by name.

    Returns
    -------
    numpy.ndarray
        float64, shape (n, 6).

    Raises
    ------
    ValueError
        For a wrong number of columns, missing column names, NaN/inf values or f_a ≤ 0.
    """
    if isinstance(points, pd.DataFrame):
        missing = [p for p in alps.PARAMETERS if p not in points.columns]
        if missing:
            raise ValueError(f"DataFrame lacks parameter columns {missing}; need "
                             f"{list(alps.PARAMETERS)}")
        points = points[list(alps.PARAMETERS)].to_numpy(dtype=float)
    return alps.validate_points(points, allow_extrapolation=True)


def features(points: Any, transform: Transform = "ratio") -> np.ndarray:
    """Model-input matrix of physical ``points``.

    ``"ratio"``: ``[log10(f_a/GeV), c_i · 10⁶ GeV / f_a for the five couplings]``;
    ``"raw"``: ``[log10(f_a/GeV), c_i]``; ``"running"``: the ratio features followed by the
    low-energy couplings :data:`RUNNING_FEATURES` at m_a times 10⁶ GeV / f_a, from the tabulated
    leading-log running (:func:`lecture_utils.alps.running_table`; |c_bs| for the b → s coupling).
    Computed in float64 and rounded once to float32.

    Parameters
    ----------
    points : array_like or pandas.DataFrame
        Physical points, as accepted by :func:`as_points`.
    transform : {"ratio", "raw", "running"}
        The feature transform.

    Returns
    -------
    numpy.ndarray
        float32, shape (n, len(feature_names(transform))), C-contiguous.

    Raises
    ------
    ValueError
        For an unknown ``transform`` or invalid points (see :func:`as_points`).
    """
    check_transform(transform)
    return features_of(as_points(points), transform)


def features_of(p: np.ndarray, transform: str, dtype: Any = np.float32) -> np.ndarray:
    """:func:`features` of already validated points, without any checks.

    The ufuncs compute in float64 (the type of their inputs) and round once into the float32
    output, so the result is bit-identical to computing in float64 and converting afterwards —
    without the temporaries (this runs on every prediction, often for one point).

    Parameters
    ----------
    p : numpy.ndarray
        float64, shape (n, 6), as returned by :func:`as_points`.
    transform : str
        One of :data:`FEATURE_TRANSFORMS` (not checked).
    dtype : numpy dtype, optional
        Output type; ``float`` keeps float64 (for finite differences).

    Returns
    -------
    numpy.ndarray
        Shape (n, n_features), of type ``dtype``.
    """
    n_par = len(alps.PARAMETERS)
    out = np.empty((len(p), n_par + (len(RUNNING_FEATURES) if transform == "running" else 0)),
                   dtype=dtype)
    fa = p[:, :1]
    np.log10(fa, out=out[:, :1])
    if transform == "raw":
        out[:, 1:] = p[:, 1:]
        return out
    scale = FA_REFERENCE_GEV / fa
    np.multiply(p[:, 1:], scale, out=out[:, 1:n_par])
    if transform == "running":
        low = alps.running_table().low_energy(p)  # columns of alps.RUNNING_COUPLINGS
        low[:, 1] = np.hypot(low[:, 0], low[:, 1])  # |c_bs|
        np.multiply(low[:, 1:], scale, out=out[:, n_par:])
    return out

