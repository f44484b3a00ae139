"""The active learner on the ALP domain: bounds, GP inputs, region features and defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import alps
from ..stats import REGION_DELTA_CHI2
from .learner import Learner

__all__ = [
    "ALP_REGION_MODEL",
    "ALP_TRANSFORM_SCALE",
    "EFFECTIVE_COUPLING_SCALE",
    "alp_input_map",
    "alp_learner",
    "alp_parameter_bounds",
    "alp_region_features",
    "parameter_indices",
]


def alp_parameter_bounds(parameters: Sequence[str] = alps.PARAMETERS
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (k, 2) of the ALP domain and the log-scale flags (k,) for ``parameters``."""
    idx = parameter_indices(parameters)
    return alps.DOMAIN.bounds[idx], np.array([alps.PARAMETERS[i] == "fa" for i in idx])


EFFECTIVE_COUPLING_SCALE: float = 0.05
"""Scale g₀ of the effective couplings in :func:`alp_input_map` (g = c · 10⁶ GeV / f_a)."""


def alp_input_map(unit: np.ndarray) -> np.ndarray:
    """GP inputs for the full 6-D ALP learner: ``log10 f_a`` (unit scaled) and, per coupling, a
    signed logarithm of the effective coupling ``g = c · 10⁶ GeV / f_a``,
    ``sign(g) log(1 + |g| / g₀)`` scaled to [0, 1] (g₀ = :data:`EFFECTIVE_COUPLING_SCALE`).

    Why: at low energy the couplings enter as c/f_a; the region is a thin, f_a-dependent set in
    (f_a, c) but a thicker one in g, and the signed logarithm spreads the many points at small |g|
    (large f_a). ``benchmarks/active_learning.py`` compares it with the plain coordinates on the
    leading-log pool.

    Parameters
    ----------
    unit : numpy.ndarray, shape (n, 6)
        Unit-cube coordinates of :data:`lecture_utils.alps.DOMAIN`.

    Returns
    -------
    numpy.ndarray, shape (n, 6)

    Raises
    ------
    ValueError
        If ``unit`` is not of shape (n, 6).
    """
    u = np.asarray(unit, dtype=float)
    if u.ndim != 2 or u.shape[1] != len(alps.PARAMETERS):
        raise ValueError(f"alp_input_map needs (n, {len(alps.PARAMETERS)}) unit coordinates")
    points = alps.DOMAIN.from_unit(u)
    g = points[:, 1:] * (1.0e6 / points[:, :1])
    g_max = alps.DOMAIN.coupling[1] * 1.0e6 / alps.DOMAIN.fa_gev[0]
    scale = np.log1p(g_max / EFFECTIVE_COUPLING_SCALE)
    return np.column_stack([u[:, 0], 0.5 + 0.5 * np.sign(g) * np.log1p(
        np.abs(g) / EFFECTIVE_COUPLING_SCALE) / scale])


ALP_TRANSFORM_SCALE: float = 1.0
"""Default ``transform_scale`` of :func:`alp_learner`: the GP models ``log(1 + Δχ²)``.

Chosen on the leading-log pool with ``benchmarks/active_learning.py`` (on the toy problems
s = δ does better, hence the different general default of :class:`Learner`)."""


def alp_region_features(unit: np.ndarray) -> np.ndarray:
    """Inputs of the ALP learner's region committee: the course surrogate's physics features
    (:func:`lecture_utils.surrogate.features`, ``"running"``: log10 f_a, the couplings over f_a and
    the low-energy couplings after the leading-log running, over f_a) of unit-cube points (n, 6)
    of :data:`lecture_utils.alps.DOMAIN`; float64, shape (n, 14): the six ratio features and the
    eight of :data:`lecture_utils.surrogate.RUNNING_FEATURES`."""
    from ..surrogate import features

    u = np.asarray(unit, dtype=float)
    if u.ndim != 2 or u.shape[1] != len(alps.PARAMETERS):
        raise ValueError(f"alp_region_features needs (n, {len(alps.PARAMETERS)}) unit "
                         "coordinates")
    return features(alps.DOMAIN.from_unit(u), "running").astype(float)


ALP_REGION_MODEL: str = "committee"
"""Region model of :func:`alp_learner` over all six parameters (slices keep the GP).

The ALP χ² has cliffs that a GP smooths away, so even a GP conditioned on every pool point
misclassifies much of the region; the committee on the physics features
(:func:`alp_region_features`) follows them, and with it the choice of points matters
(``benchmarks/active_learning.py`` compares both with Latin hypercubes on the leading-log pool)."""


def alp_learner(parameters: Sequence[str] = alps.PARAMETERS, *, delta: float = REGION_DELTA_CHI2,
                seed: int = 0, **options: Any) -> Learner:
    """A :class:`Learner` over the ALP domain, or a slice of it.

    The bounds are those of :data:`lecture_utils.alps.DOMAIN` for ``parameters``, f_a
    logarithmic — the coordinates of :meth:`lecture_utils.alps.Domain.to_unit` —, and
    ``transform_scale`` is :data:`ALP_TRANSFORM_SCALE` unless given. Over all six parameters the
    region model is :data:`ALP_REGION_MODEL` on :func:`alp_region_features` unless
    ``region_model`` is given; slices use the GP.

    Parameters
    ----------
    parameters : sequence of str, optional
        The learner's inputs, distinct names from :data:`lecture_utils.alps.PARAMETERS`, in the
        order of the learner's coordinates; default all six. Points told to and asked from the
        learner have one column per parameter (f_a in GeV).
    delta : float, optional
        Width Δχ² of the region above the minimum (default
        :data:`~lecture_utils.stats.REGION_DELTA_CHI2`).
    seed : int, optional
        Seeds every random choice of the learner.
    **options
        Passed on to :class:`Learner`; ``input_map=alp_input_map`` gives effective-coupling GP
        inputs (all six parameters only).

    Returns
    -------
    Learner

    Raises
    ------
    ValueError
        For unknown or repeated ``parameters`` and for invalid :class:`Learner` options.
    """
    bounds, log_scale = alp_parameter_bounds(parameters)
    defaults: dict[str, Any] = {"transform_scale": ALP_TRANSFORM_SCALE}
    if (tuple(parameters) == alps.PARAMETERS
            and options.get("region_model", ALP_REGION_MODEL) == "committee"):
        defaults |= {"region_model": "committee", "region_features": alp_region_features}
    return Learner(bounds, delta, seed, log_scale=log_scale, **(defaults | dict(options)))


def parameter_indices(parameters: Sequence[str]) -> list[int]:
    """Positions of ``parameters`` in :data:`lecture_utils.alps.PARAMETERS`.

    Raises
    ------
    ValueError
        If ``parameters`` is empty, repeats a name or names an unknown parameter.
    """
    names = list(parameters)
    unknown = [p for p in names if p not in alps.PARAMETERS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"parameters must be distinct names from {alps.PARAMETERS}, got {names}")
    return [alps.PARAMETERS.index(p) for p in names]
