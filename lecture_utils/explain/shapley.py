"""SHAP explanations of the two-stage surrogate, as numbers and as figures.

A Shapley value splits one prediction ``f(x)`` among the inputs: ``f(x) = φ₀ + Σ_j φ_j(x)``, with
``φ₀`` the *base value* (the expected output) and ``φ_j`` the contribution of input ``j``
(Lundberg & Lee 2017). For tree ensembles the values are computed **exactly** in polynomial
time by TreeSHAP (Lundberg et al. 2020) (``shap.TreeExplainer``; for XGBoost models the
path-dependent variant runs in XGBoost's own C++ code). This module wraps it for
:class:`~lecture_utils.surrogate.TwoStageSurrogate`:

**stages**
    ``"regressor"`` explains the regressor's χ² (meaningful in the region of interest, where it
    was trained); ``"gate"`` explains the gate's **log-odds** ``logit p(x)`` (its raw margin —
    SHAP values add up on that scale, not on the probability scale).
**feature perturbation** (how "input j is absent" is modelled)
    ``"tree_path_dependent"``: ``E[f(x) | x_S]`` estimated by following the trees, weighting the
    branches that a missing input would take by how many *training* points went each way (the
    trees' cover). No background data, exact, fast (``O(T L D²)`` per point for ``T`` trees of
    ``L`` leaves and depth ``D``), and it also gives exact **interaction values**. It respects the
    correlations of the training design — which is region-enriched, so not independent.
    ``"interventional"``: ``E_b[f(x_S, b_{S̄})]`` averaged over a seeded **background sample**
    ``b`` — the inputs not in ``S`` are replaced by background values *independently* of ``x_S``
    (a causal "do" intervention). It answers "what if I changed only this input", ignores the
    correlations of the training data and costs ``O(T L B)`` per point for ``B`` background points.
    The two agree where the inputs are independent and the trees' cover matches the background;
    they differ where the design correlates the inputs.

**features versus parameters.** The trees see :func:`lecture_utils.surrogate.features`, e.g.
``log10(f_a/GeV)`` and the effective couplings ``c_i · 10⁶ GeV / f_a``, not the physical parameters.
SHAP values live in that feature space. The map is one feature per parameter, invertible, with a
triangular Jacobian (feature ``j`` depends on parameter ``j`` and, for the effective couplings, on
f_a) — :func:`feature_map` checks this numerically — so each attribution belongs to exactly one
parameter. Its meaning follows the feature: the ``c_i`` attribution is that of the *effective*
coupling ``c_i/f_a``, and the ``f_a`` attribution is the effect of the scale at fixed effective
couplings. Tables are indexed by the parameter names of :data:`lecture_utils.alps.PARAMETERS`;
figures label the features with physical symbols and units.

:func:`brute_force_shapley` evaluates the Shapley definition over all 2⁶ coalitions (both value
functions) — the reference TreeSHAP must reproduce, for teaching and for the tests.

Global summaries are returned as :class:`pandas.DataFrame` (:func:`global_importance`,
:func:`interaction_matrix`, :func:`interaction_importance`, :func:`compare_importance`); the plot
helpers draw them in the book style (:func:`lecture_utils.plotting.use_style`).

For the physics reading, :func:`observable_contributions` (χ² per measurement) and
:func:`low_energy_table` evaluate ALPaca through the per-point evaluation cache of
:mod:`lecture_utils.data` (:func:`~lecture_utils.data.cached_tables`, the cache behind
:func:`~lecture_utils.data.evaluate_cached`); :func:`coupling_response` gives the linear map from
the couplings at 4π f_a to the low-energy couplings; :func:`feature_line` and
:func:`interaction_contrast` place points along one feature, or around a point in two, in the
feature space the SHAP values refer to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import alps, data, smooth
from . import surrogate as sg

__all__ = [
    "DEFAULT_BACKGROUND_SIZE",
    "PERTURBATIONS",
    "PER_PARAMETER_TRANSFORMS",
    "SHAP_MIN_VERSION",
    "STAGES",
    "Explanation",
    "brute_force_shapley",
    "check_versions",
    "coalition_name",
    "compare_importance",
    "coupling_response",
    "explain",
    "feature_label",
    "feature_line",
    "feature_map",
    "global_importance",
    "interaction_contrast",
    "interaction_importance",
    "interaction_matrix",
    "low_energy_table",
    "observable_contributions",
    "plot_beeswarm",
    "plot_dependence",
    "plot_importance",
    "plot_interaction_heatmap",
    "plot_observable_scan",
    "plot_waterfall",
    "points_from_features",
    "sample_indices",
    "strongest_interaction",
]

Stage = Literal["gate", "regressor"]
Perturbation = Literal["tree_path_dependent", "interventional"]

STAGES: tuple[str, ...] = ("gate", "regressor")
"""The two stages of the surrogate that can be explained."""

PERTURBATIONS: tuple[str, ...] = ("tree_path_dependent", "interventional")
"""The two TreeSHAP variants (see the module docstring)."""

DEFAULT_BACKGROUND_SIZE: int = 100
"""Background points drawn (seeded) for the interventional variant; cost grows linearly with it."""

SHAP_MIN_VERSION: str = "0.54.1"
"""Oldest shap that reads models of xgboost ≥ 3.1 (their vector ``base_score``); DESIGN §6."""

_CHUNK_ROWS = 32  # rows per interventional shap call (see explain)

OUTPUT_LABELS: dict[str, str] = {"regressor": r"$\chi^2$", "gate": "gate log-odds"}
"""What the SHAP values of each stage add up to (plot labels)."""


# --------------------------------------------------------------------------------------------
# versions, input checks
# --------------------------------------------------------------------------------------------
def check_versions(shap_version: str | None = None, xgboost_version: str | None = None) -> None:
    """Raise :class:`RuntimeError` if shap is too old for the installed xgboost.

    shap releases before :data:`SHAP_MIN_VERSION` mis-read the vector ``base_score`` that xgboost
    ≥ 3.1 writes, giving base values and SHAP values that do not add up to the model output. The
    versions default to the installed ones (given explicitly in the tests).
    """
    from packaging.version import Version

    if shap_version is None:
        import shap

        shap_version = shap.__version__
    if xgboost_version is None:
        import xgboost

        xgboost_version = xgboost.__version__
    if Version(xgboost_version) >= Version("3.1") and \
            Version(shap_version) < Version(SHAP_MIN_VERSION):
        raise RuntimeError(
            f"shap {shap_version} cannot read models of xgboost {xgboost_version} (vector "
            f"base_score); install shap >= {SHAP_MIN_VERSION} (see requirements.lock)")


PER_PARAMETER_TRANSFORMS: tuple[str, ...] = ("ratio", "raw")
"""Feature transforms with one feature per parameter — the ones SHAP values can be reported for
per physical parameter (``"running"`` adds low-energy couplings that mix the parameters)."""


def _check_per_parameter(transform: str) -> str:
    sg.check_transform(transform)
    if transform not in PER_PARAMETER_TRANSFORMS:
        raise ValueError(
            f"feature transform {transform!r} is not one feature per parameter (its "
            f"{len(sg.feature_names(transform))} features include low-energy couplings that mix "
            f"the parameters), so SHAP values cannot be assigned to parameters; explain a "
            f"surrogate with one of {PER_PARAMETER_TRANSFORMS}, e.g. "
            "surrogate.default_surrogate(transform='ratio')")
    return transform


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    return stage


def _check_perturbation(perturbation: str) -> str:
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"unknown feature perturbation {perturbation!r}; choose one of "
                         f"{PERTURBATIONS}")
    return perturbation


def sample_indices(n_total: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample without replacement of ``size`` out of ``n_total`` items.

    ``size=None`` or ``size ≥ n_total`` returns all indices. The same seed gives the same sample.
    """
    if int(n_total) < 1:
        raise ValueError(f"need at least one item to sample from, got n_total = {n_total}")
    if size is None or int(size) >= int(n_total):
        return np.arange(int(n_total))
    if int(size) < 1:
        raise ValueError(f"sample size must be ≥ 1, got {size}")
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(int(n_total), size=int(size), replace=False))


# --------------------------------------------------------------------------------------------
# features ↔ parameters
# --------------------------------------------------------------------------------------------
def _symbol(parameter: str) -> str:
    """The LaTeX symbol of a parameter without unit, e.g. ``c_{q_L}^{33}``."""
    return alps.LABELS[parameter].split(" [")[0].strip("$")


def feature_label(parameter: str, transform: str = "ratio") -> str:
    """Plot label (LaTeX, with units) of the model feature that belongs to ``parameter``.

    ``fa`` → ``log10(f_a / GeV)``; a coupling → ``c_i · 10⁶ GeV / f_a`` (transform ``"ratio"``) or
    ``c_i`` (``"raw"``).
    """
    from .plotting import axis_label

    _check_per_parameter(transform)
    if parameter == alps.PARAMETERS[0]:
        return axis_label(parameter, log10=True)
    if transform == "raw":
        return axis_label(parameter)
    exponent = int(round(np.log10(sg.FA_REFERENCE_GEV)))
    return rf"${_symbol(parameter)}\cdot 10^{{{exponent}}}\,\mathrm{{GeV}}/f_a$"


def _short_feature_text(parameter: str, transform: str) -> str:
    """Plain-text name of the feature of ``parameter`` (for tables)."""
    if parameter == alps.PARAMETERS[0]:
        return "log10(fa/GeV)"
    if transform == "raw":
        return parameter
    return f"{parameter} × {sg.FA_REFERENCE_GEV:.0e} GeV / fa"


def feature_map(transform: str = "ratio", *, n_probe: int = 64, seed: int = 0) -> pd.DataFrame:
    """The correspondence model feature ↔ physical parameter, checked numerically.

    Returns one row per parameter (index :data:`alps.PARAMETERS`) with the feature's name, a
    plain-text description, its plot label and ``depends_on`` (the parameters the feature changes
    with). The check: on ``n_probe`` seeded points of :data:`alps.DOMAIN`, each parameter is moved
    by a small relative step and the features that respond are recorded. The map is accepted only
    if the Jacobian is triangular with a non-zero diagonal — feature ``j`` depends on parameter
    ``j`` and at most on f_a (the first) — i.e. one feature per parameter and an invertible
    transform; otherwise :class:`RuntimeError`.
    """
    _check_per_parameter(transform)
    names = sg.feature_names(transform)
    n_par = len(alps.PARAMETERS)
    rng = np.random.default_rng(int(seed))
    points = alps.DOMAIN.from_unit(rng.random((int(n_probe), n_par)))
    base = sg.features(points, transform).astype(np.float64)
    depends = np.zeros((n_par, n_par), dtype=bool)  # [feature, parameter]
    for k in range(n_par):
        moved = points.copy()
        step = 1e-3 * np.maximum(np.abs(moved[:, k]), 1.0)
        moved[:, k] += step
        diff = np.abs(sg.features(moved, transform).astype(np.float64) - base)
        depends[:, k] = (diff > 1e-6 * np.maximum(np.abs(base), 1.0)).any(axis=0)
    diagonal = np.diag(depends)
    off = depends.copy()
    np.fill_diagonal(off, False)
    off[:, 0] = False  # dependence on f_a (the common scale) is allowed
    if not diagonal.all() or off.any():
        raise RuntimeError(
            f"feature transform {transform!r} is not one feature per parameter: dependence "
            f"matrix [feature, parameter] =\n{depends.astype(int)}")
    rows = []
    for j, parameter in enumerate(alps.PARAMETERS):
        rows.append({"parameter": parameter, "feature": names[j],
                     "description": _short_feature_text(parameter, transform),
                     "label": feature_label(parameter, transform),
                     "depends_on": ", ".join(p for k, p in enumerate(alps.PARAMETERS)
                                             if depends[j, k])})
    return pd.DataFrame(rows).set_index("parameter")


def points_from_features(x: Any, transform: str = "ratio") -> np.ndarray:
    """Inverse of :func:`lecture_utils.surrogate.features`: physical points (n, 6), float64.

    ``x`` (n, 6) or (6,) holds ``log10(f_a/GeV)`` and the couplings' features of ``transform``.
    Raises :class:`ValueError` for a wrong shape or non-finite values.
    """
    _check_per_parameter(transform)
    points = smooth.from_search(x)  # log10 f_a → f_a; shape and finiteness checked there
    if len(points) == 0:
        raise ValueError(f"features must have shape (n, {len(alps.PARAMETERS)}) with n ≥ 1")
    if transform == "ratio":
        points[:, 1:] = points[:, 1:] * points[:, :1] / sg.FA_REFERENCE_GEV
    return points


def _features64(points: np.ndarray, transform: str) -> np.ndarray:
    """:func:`lecture_utils.surrogate.features` without the final rounding to float32."""
    _check_per_parameter(transform)
    return sg.features_of(np.asarray(points, dtype=np.float64), transform, np.float64)


def feature_line(point: Any, parameter: str, n: int = 9, *, transform: str = "ratio",
                 domain: alps.Domain = alps.DOMAIN) -> tuple[np.ndarray, np.ndarray]:
    """Points along the feature of ``parameter`` through ``point``, the other features fixed.

    This is the direction a SHAP value of that feature refers to: for the ``"ratio"`` transform,
    moving ``f_a`` keeps the effective couplings ``c_i/f_a`` fixed (so all ``c_i`` scale with
    ``f_a``), and moving a coupling keeps ``f_a``. The line covers the part of the feature's range
    for which the physical point stays inside ``domain``, in ``n`` equal steps. Returns (feature
    values (n,), physical points (n, 6)).
    """
    k = _check_parameter(parameter)
    if int(n) < 2:
        raise ValueError(f"need n ≥ 2 points on the line, got {n}")
    p = sg.as_points(point)
    if p.shape[0] != 1:
        raise ValueError(f"feature_line takes one point, got {p.shape[0]}")
    x0 = _features64(p, transform)[0]
    if k == 0:
        lo_hi = domain.unit_bounds[0]  # log10(f_a/GeV)
    elif transform == "ratio":  # widest conceivable range of c · 10⁶ GeV / f_a, narrowed below
        lo_hi = domain.bounds[k] * sg.FA_REFERENCE_GEV / domain.fa_gev[0]
    else:
        lo_hi = domain.bounds[k]
    grid = np.linspace(lo_hi[0], lo_hi[1], 4001)
    trial = np.repeat(x0[None, :], len(grid), axis=0)
    trial[:, k] = grid
    inside = domain.contains(points_from_features(trial, transform))
    if not inside.any():
        raise ValueError(f"no point of the {parameter} line through {p[0]} lies in the domain")
    values = np.linspace(grid[inside].min(), grid[inside].max(), int(n))
    line = np.repeat(x0[None, :], int(n), axis=0)
    line[:, k] = values
    points = points_from_features(line, transform)
    lo, hi = domain.bounds.T
    return values, np.clip(points, lo, hi)  # clip: rounding at the edges only


def interaction_contrast(point: Any, pair: tuple[str, str], steps: tuple[float, float], *,
                         transform: str = "ratio", integrator: alps.Integrator = "leadinglog",
                         name: str = "physics") -> pd.DataFrame:
    """Which measurements make the effect of one parameter depend on another, at ``point``.

    Four points around ``point`` in feature space — feature ``a`` at ``x_a ± steps[0]/2``,
    feature ``b`` at ``x_b ± steps[1]/2``, everything else fixed — and per measurement the
    mixed difference ``Δ²χ²_k = χ²_k(a₊,b₊) − χ²_k(a₋,b₊) − χ²_k(a₊,b₋) + χ²_k(a₋,b₋)``: zero
    when the two effects add, non-zero when they interact (the finite-difference analogue of a
    SHAP interaction). Columns: ``contrast`` (Δ²χ²_k), ``effect_a`` (χ²_k(a₊,b₋) − χ²_k(a₋,b₋)),
    ``effect_b``; sorted by |contrast|; ``attrs["points"]`` holds the four physical points
    (order −−, +−, −+, ++) and ``attrs["steps"]`` the steps used: they are halved until all four
    corners lie in :data:`lecture_utils.alps.DOMAIN`. The χ² per measurement comes from
    :func:`observable_contributions` (cached).
    """
    a, b = pair
    ka, kb = _check_parameter(a), _check_parameter(b)
    if ka == kb:
        raise ValueError(f"need two different parameters, got {pair}")
    p = sg.as_points(point)
    if p.shape[0] != 1:
        raise ValueError(f"interaction_contrast takes one point, got {p.shape[0]}")
    x0 = _features64(p, transform)[0]
    signs = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], dtype=float)
    step = np.array([float(steps[0]), float(steps[1])])
    if not (np.isfinite(step).all() and (step > 0).all()):
        raise ValueError(f"steps must be positive numbers, got {steps}")
    for _ in range(12):  # halve the steps until the four corners lie in the domain
        corners = np.repeat(x0[None, :], 4, axis=0)
        corners[:, ka] += 0.5 * signs[:, 0] * step[0]
        corners[:, kb] += 0.5 * signs[:, 1] * step[1]
        points = points_from_features(corners, transform)
        if alps.DOMAIN.contains(points).all():
            break
        step = step / 2.0
    else:
        raise ValueError(f"the {a} × {b} contrast around {p[0]} cannot be placed in the domain")
    contributions = observable_contributions(points, integrator, name=name)
    columns = contributions.columns
    mm, pm, mp, pp = contributions.to_numpy()
    table = pd.DataFrame({"contrast": pp - mp - pm + mm, "effect_a": pm - mm,
                          "effect_b": mp - mm}, index=pd.Index(columns, name="measurement"))
    table = table.iloc[np.argsort(-np.abs(table["contrast"].to_numpy()), kind="stable")]
    table.attrs["points"] = points
    table.attrs["pair"] = (a, b)
    table.attrs["steps"] = (float(step[0]), float(step[1]))
    return table


# --------------------------------------------------------------------------------------------
# SHAP values
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """SHAP values of one stage of a surrogate at ``n`` points.

    ``values`` (n, 6) float64 in the units of the stage's output (χ² for the regressor, log-odds
    for the gate), columns in :data:`alps.PARAMETERS` order (one feature per parameter, see
    :func:`feature_map`); ``base_value`` the expected output φ₀; ``output`` (n,) the model's raw
    margin at the points (``base_value + values.sum(1)`` reproduces it, see
    :meth:`additivity_error`); ``points`` (n, 6) physical parameters (f_a in GeV); ``features``
    (n, 6) float32 model inputs; ``interactions`` (n, 6, 6) exact interaction values (path-dependent
    only) or ``None``; ``n_background``/``seed``: background size and seed of the interventional
    variant (``None`` for path-dependent).
    """

    stage: str
    perturbation: str
    values: np.ndarray
    base_value: float
    output: np.ndarray
    points: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    transform: str
    interactions: np.ndarray | None = None
    n_background: int | None = None
    seed: int | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names, one per column of :attr:`values`."""
        return alps.PARAMETERS

    @property
    def output_label(self) -> str:
        """Plot label of the explained output (χ² or gate log-odds)."""
        return OUTPUT_LABELS[self.stage]

    def additivity_error(self) -> float:
        """Largest ``|base_value + Σ_j values[:, j] − output|`` over the points (efficiency)."""
        return float(np.max(np.abs(self.base_value + self.values.sum(axis=1) - self.output)))

    def frame(self) -> pd.DataFrame:
        """The SHAP values as a DataFrame (n rows, columns :data:`alps.PARAMETERS`)."""
        return pd.DataFrame(self.values, columns=list(self.parameters))

    def subset(self, mask_or_index: Any) -> Explanation:
        """The explanation restricted to some points (boolean mask or integer indices)."""
        sel = np.asarray(mask_or_index)
        if sel.dtype == bool and sel.shape != (len(self),):
            raise ValueError(f"boolean mask must have shape ({len(self)},), got {sel.shape}")
        return Explanation(
            stage=self.stage, perturbation=self.perturbation, values=self.values[sel],
            base_value=self.base_value, output=self.output[sel], points=self.points[sel],
            features=self.features[sel], feature_names=self.feature_names,
            transform=self.transform,
            interactions=None if self.interactions is None else self.interactions[sel],
            n_background=self.n_background, seed=self.seed)

    def _require_interactions(self) -> np.ndarray:
        if self.interactions is None:
            raise ValueError("this explanation has no interaction values; compute them with "
                             "explain(..., interactions=True) (path-dependent only)")
        return self.interactions


def _booster(surrogate: sg.TwoStageSurrogate, stage: str) -> Any:
    return getattr(surrogate, _check_stage(stage))


def _base_value(expected: Any) -> float:
    arr = np.asarray(expected, dtype=float).reshape(-1)
    if arr.size != 1:
        raise RuntimeError(f"expected one base value for a single-output model, got {arr.size}")
    return float(arr[0])


def explain(surrogate: sg.TwoStageSurrogate, points: Any, *, stage: Stage = "regressor",
            perturbation: Perturbation = "tree_path_dependent", background: Any = None,
            n_background: int = DEFAULT_BACKGROUND_SIZE, seed: int = 0,
            interactions: bool = False) -> Explanation:
    """SHAP values of one stage of ``surrogate`` at physical ``points`` (n, 6) with TreeSHAP.

    Parameters
    ----------
    surrogate
        A fitted :class:`~lecture_utils.surrogate.TwoStageSurrogate` (or subclass).
    points
        Physical points, array (n, 6) / (6,) in :data:`alps.PARAMETERS` order (f_a in GeV) or a
        DataFrame with those columns. NaN/inf, a wrong shape or f_a ≤ 0 raise :class:`ValueError`;
        points outside the training domain give the surrogate's ``OutOfDomainWarning``.
    stage
        ``"regressor"`` (χ²) or ``"gate"`` (log-odds of the region).
    perturbation
        ``"tree_path_dependent"`` (no background) or ``"interventional"`` (see module docstring).
    background
        Interventional only: physical points (m, 6) the absent inputs are drawn from; default the
        explained ``points``. A seeded sample of ``n_background`` of them is used.
    interactions
        Also compute the exact interaction values (n, 6, 6); path-dependent only.

    Returns
    -------
    Explanation
        whose ``base_value + values.sum(1)`` equals the stage's raw margin to float32 rounding.
    """
    import shap

    check_versions()
    _check_per_parameter(surrogate.transform)
    _check_stage(stage)
    _check_perturbation(perturbation)
    x = surrogate.checked_features(points)
    pts = sg.as_points(points)
    model = _booster(surrogate, stage)
    n_bg: int | None = None
    used_seed: int | None = None
    if perturbation == "tree_path_dependent":
        if background is not None:
            raise ValueError("background points are only used by perturbation='interventional'; "
                             "the path-dependent variant weights branches by the training cover")
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    else:
        if interactions:
            raise ValueError("exact interaction values exist only for "
                             "perturbation='tree_path_dependent' (shap does not support "
                             "interventional interactions)")
        if int(n_background) < 1:
            raise ValueError(f"n_background must be ≥ 1, got {n_background}")
        bg_points = pts if background is None else sg.as_points(background)
        bg = sg.features(bg_points, surrogate.transform)
        idx = sample_indices(len(bg), int(n_background), seed)
        n_bg, used_seed = int(len(idx)), int(seed)
        explainer = shap.TreeExplainer(model, data=bg[idx], feature_perturbation="interventional",
                                       model_output="raw")
    if perturbation == "interventional":
        # shap's C++ loop prints a progress bar to stderr once a call runs for ~10 s; short calls
        # (same arithmetic, same result) keep notebook output clean on slow machines
        values = np.concatenate([np.asarray(explainer.shap_values(x[i:i + _CHUNK_ROWS]),
                                            dtype=np.float64).reshape(-1, x.shape[1])
                                 for i in range(0, len(x), _CHUNK_ROWS)])
    else:
        values = np.asarray(explainer.shap_values(x), dtype=np.float64)
    base = _base_value(explainer.expected_value)
    inter = None
    if interactions:
        inter = np.asarray(explainer.shap_interaction_values(x), dtype=np.float64)
    output = model.get_booster().inplace_predict(x, predict_type="margin").astype(np.float64)
    if values.shape != x.shape:
        raise RuntimeError(f"shap returned SHAP values of shape {values.shape} for inputs of shape "
                           f"{x.shape}")
    return Explanation(stage=stage, perturbation=perturbation, values=values, base_value=base,
                       output=output, points=pts, features=x,
                       feature_names=tuple(surrogate.feature_names),
                       transform=surrogate.transform, interactions=inter,
                       n_background=n_bg, seed=used_seed)


def _tree_arrays(booster: Any) -> list[tuple[np.ndarray, ...]]:
    """Per tree: (left child, right child, split feature, threshold or leaf value, cover)."""
    import json

    model = json.loads(bytes(booster.save_raw("json")))
    trees = []
    for t in model["learner"]["gradient_booster"]["model"]["trees"]:
        trees.append((np.asarray(t["left_children"], dtype=np.int64),
                      np.asarray(t["right_children"], dtype=np.int64),
                      np.asarray(t["split_indices"], dtype=np.int64),
                      np.asarray(t["split_conditions"], dtype=np.float32),
                      np.asarray(t["sum_hessian"], dtype=np.float64)))
    return trees


def _path_expectation(tree: tuple[np.ndarray, ...], x: np.ndarray, known: np.ndarray) -> float:
    """E[tree(x) | x_S] the path-dependent way (Algorithm 1 of Lundberg et al. 2020): follow the
    split where the feature is in S (``known``), otherwise average both children weighted by the
    training cover."""
    left, right, feature, value, cover = tree

    def g(node: int, weight: float) -> float:
        if left[node] == -1:
            return weight * float(value[node])
        f = feature[node]
        if known[f]:
            return g(int(left[node] if x[f] < value[node] else right[node]), weight)
        lc, rc = int(left[node]), int(right[node])
        return (g(lc, weight * cover[lc] / cover[node])
                + g(rc, weight * cover[rc] / cover[node]))

    return g(0, 1.0)


def coalition_name(parameters: Any) -> str:
    """Label of a coalition: ``"{fa, cuR}"`` (parameters in :data:`alps.PARAMETERS` order),
    ``"∅"`` for the empty one."""
    names = sorted(parameters, key=alps.PARAMETERS.index)
    return "{" + ", ".join(names) + "}" if names else "∅"


def brute_force_shapley(surrogate: sg.TwoStageSurrogate, point: Any, *,
                        stage: Stage = "regressor",
                        perturbation: Perturbation = "tree_path_dependent",
                        background: Any = None) -> tuple[np.ndarray, float, pd.Series]:
    """Shapley values of ONE point from the definition, enumerating all 2⁶ coalitions.

    ``φ_j = Σ_{S ∌ j} |S|! (M − |S| − 1)! / M! · [v(S ∪ {j}) − v(S)]`` with the coalition value
    ``v(S)`` the expected output when only the inputs in ``S`` are known: path-dependent —
    ``E[f | x_S]`` by walking every tree with the training cover as weights; interventional — the
    mean of ``f(x_S, b_S̄)`` over all rows ``b`` of ``background`` (physical points, required).
    Cost ``O(2^M)`` coalitions — fine for our six parameters, hopeless for hundreds of features;
    this is the reference that TreeSHAP (:func:`explain`) reproduces in polynomial time.

    Returns ``(values (6,), base value v(∅), coalition values v(S) as a Series indexed by
    :func:`coalition_name`)``, in the stage's output units (χ² or log-odds).
    """
    from itertools import combinations
    from math import factorial

    _check_per_parameter(surrogate.transform)
    _check_stage(stage)
    _check_perturbation(perturbation)
    x = surrogate.checked_features(point)
    if x.shape[0] != 1:
        raise ValueError(f"brute_force_shapley explains one point, got {x.shape[0]}")
    booster = _booster(surrogate, stage).get_booster()
    n_feat = x.shape[1]
    subsets = [frozenset(c) for k in range(n_feat + 1) for c in combinations(range(n_feat), k)]
    value: dict[frozenset[int], float] = {}
    if perturbation == "tree_path_dependent":
        if background is not None:
            raise ValueError("background points are only used by perturbation='interventional'")
        trees = _tree_arrays(booster)
        everything = np.ones(n_feat, dtype=bool)
        leaf_sum = sum(_path_expectation(t, x[0], everything) for t in trees)
        offset = float(booster.inplace_predict(x, predict_type="margin")[0]) - leaf_sum
        for s in subsets:
            known = np.zeros(n_feat, dtype=bool)
            known[list(s)] = True
            value[s] = offset + sum(_path_expectation(t, x[0], known) for t in trees)
    else:
        if background is None:
            raise ValueError("perturbation='interventional' needs background points")
        bg = sg.features(sg.as_points(background), surrogate.transform)
        stacked = np.repeat(bg[None, :, :], len(subsets), axis=0)
        for i, s in enumerate(subsets):
            stacked[i][:, list(s)] = x[0, list(s)]
        margin = booster.inplace_predict(stacked.reshape(-1, n_feat), predict_type="margin")
        means = np.asarray(margin, dtype=np.float64).reshape(len(subsets), len(bg)).mean(axis=1)
        value = {s: float(m) for s, m in zip(subsets, means, strict=True)}
    phi = np.zeros(n_feat)
    for j in range(n_feat):
        for s in subsets:
            if j not in s:
                w = factorial(len(s)) * factorial(n_feat - len(s) - 1) / factorial(n_feat)
                phi[j] += w * (value[s | {j}] - value[s])
    coalitions = pd.Series(
        {coalition_name(alps.PARAMETERS[k] for k in sorted(s)): v for s, v in value.items()},
        name=f"v(S) [{stage}]")
    coalitions.index.name = "S"
    return phi, value[frozenset()], coalitions


# --------------------------------------------------------------------------------------------
# global summaries (data)
# --------------------------------------------------------------------------------------------
def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| per parameter, largest first.

    Index: parameter names; columns ``feature`` (what the trees see), ``mean_abs_shap`` (units of
    the stage's output), ``share`` (fraction of the summed mean |SHAP|), ``mean_shap`` (signed
    mean: ≈ 0 for path-dependent values on the training distribution) and ``rank`` (1 = most
    important).
    """
    mean_abs = np.abs(explanation.values).mean(axis=0)
    total = float(mean_abs.sum())
    table = pd.DataFrame({
        "feature": [_short_feature_text(p, explanation.transform) for p in alps.PARAMETERS],
        "mean_abs_shap": mean_abs,
        "share": mean_abs / total if total > 0 else np.zeros_like(mean_abs),
        "mean_shap": explanation.values.mean(axis=0),
    }, index=pd.Index(list(alps.PARAMETERS), name="parameter"))
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table.attrs["stage"] = explanation.stage
    table.attrs["transform"] = explanation.transform
    return table


def compare_importance(explanations: Mapping[str, Explanation]) -> pd.DataFrame:
    """Mean |SHAP| per parameter of several explanations side by side (one column per key).

    Rows are ordered by the first explanation's ranking; a ``rank_<key>`` column per key gives
    each ranking.
    """
    if not explanations:
        raise ValueError("need at least one explanation to compare")
    tables = {k: global_importance(e) for k, e in explanations.items()}
    first = next(iter(tables.values()))
    out = pd.DataFrame(index=first.index)
    for key, table in tables.items():
        out[key] = table["mean_abs_shap"].reindex(out.index)
    for key, table in tables.items():
        out[f"rank_{key}"] = table["rank"].reindex(out.index)
    return out


def interaction_matrix(explanation: Explanation) -> pd.DataFrame:
    """Mean |interaction| per pair as a symmetric 6×6 table (index and columns: parameters).

    Off-diagonal entries are the mean of ``|Φ_ij + Φ_ji|`` — the whole interaction of the pair
    (TreeSHAP splits it equally between the two orderings); diagonal entries are the mean
    ``|Φ_jj|``, the main effects. Units of the stage's output.
    """
    phi = explanation._require_interactions()
    pair = np.abs(phi + np.swapaxes(phi, 1, 2)).mean(axis=0)
    np.fill_diagonal(pair, np.abs(np.diagonal(phi, axis1=1, axis2=2)).mean(axis=0))
    names = list(alps.PARAMETERS)
    return pd.DataFrame(pair, index=pd.Index(names, name="parameter"), columns=names)


def interaction_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |interaction| per pair of parameters, strongest first.

    One row per unordered pair (15 for 6 parameters) with columns ``parameter_1``,
    ``parameter_2``, ``mean_abs_interaction`` (mean ``|Φ_ij + Φ_ji|``), ``share`` (fraction of the
    summed pair interactions), ``main_effect_ratio`` (the pair's interaction over the larger of the
    two main effects, mean ``|Φ_jj|``) and ``rank``.
    """
    matrix = interaction_matrix(explanation).to_numpy()
    names = alps.PARAMETERS
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            main = max(matrix[i, i], matrix[j, j])
            rows.append({"parameter_1": names[i], "parameter_2": names[j],
                         "mean_abs_interaction": matrix[i, j],
                         "main_effect_ratio": matrix[i, j] / main if main > 0 else np.nan})
    table = pd.DataFrame(rows)
    total = float(table["mean_abs_interaction"].sum())
    table["share"] = table["mean_abs_interaction"] / total if total > 0 else 0.0
    table = table.sort_values("mean_abs_interaction", ascending=False, kind="stable",
                              ignore_index=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table[["parameter_1", "parameter_2", "mean_abs_interaction", "share",
                  "main_effect_ratio", "rank"]]


def strongest_interaction(explanation: Explanation, parameter: str) -> str:
    """The parameter that interacts most strongly (mean |Φ_ij + Φ_ji|) with ``parameter``."""
    _check_parameter(parameter)
    row = interaction_matrix(explanation).loc[parameter].drop(parameter)
    return str(row.idxmax())


def _check_parameter(parameter: str) -> int:
    if parameter not in alps.PARAMETERS:
        raise ValueError(f"unknown parameter {parameter!r}; choose one of {alps.PARAMETERS}")
    return alps.PARAMETERS.index(parameter)


# --------------------------------------------------------------------------------------------
# the physics reading: cached ALPaca evaluations
# --------------------------------------------------------------------------------------------
def observable_contributions(points: Any, integrator: alps.Integrator = "leadinglog", *,
                             name: str = "physics", progress: bool | None = None
                             ) -> pd.DataFrame:
    """χ² contribution of every measurement at each point, shape (n, n_measurements).

    Columns ``"<observable> (<experiment>)"`` (those with dof > 0 at m_a, as in
    :func:`lecture_utils.alps.chi2_breakdown`), one row per point in input order; each row sums to
    :func:`lecture_utils.alps.chi2` at that point. Costs one ALPaca χ² per point (≈ 1–2 s with
    the leading-log running); every point is cached on disk by
    :func:`lecture_utils.data.cached_tables` (the per-point evaluation cache, kind
    ``"breakdown"``), so a later call — in any process, with any set of points containing it —
    reads it. ``name`` labels the cache entries written.
    """
    rows = []
    for b in data.cached_tables("breakdown", points, integrator, name=name, progress=progress):
        keys = b["observable"].astype(str) + " (" + b["experiment"].astype(str) + ")"
        rows.append(dict(zip(keys, b["chi2"], strict=True)))
    return pd.DataFrame(rows).fillna(0.0)


def low_energy_table(points: Any, integrator: alps.Integrator = "leadinglog", *,
                     name: str = "physics", progress: bool | None = None) -> pd.DataFrame:
    """:func:`lecture_utils.alps.low_energy_couplings` of ``points`` (n, 6), each point cached on
    disk by :func:`lecture_utils.data.cached_table` (kind ``"low-energy"``; columns
    :data:`lecture_utils.alps.LOW_ENERGY_COLUMNS`, one row per point)."""
    table = data.cached_table("low-energy", points, integrator, name=name, progress=progress)
    return table[list(alps.LOW_ENERGY_COLUMNS)]


def coupling_response(fa_gev: float, integrator: alps.Integrator = "leadinglog", *,
                      columns: Sequence[str] = ("cbs_re", "cbs_im", "cmumu_A", "cee_A",
                                                "ctautau_A", "cnu33"),
                      name: str = "physics") -> pd.DataFrame:
    """Low-energy couplings at m_a produced by one unit of each coupling at Λ = 4π f_a.

    Row ``c_i``: :func:`lecture_utils.alps.low_energy_couplings` at the point with f_a =
    ``fa_gev`` (GeV), ``c_i = 1`` and all other couplings 0, for the requested ``columns``. The
    renormalisation-group running and the matching are linear in the couplings, so the low-energy
    couplings of any point with this f_a are ``Σ_i c_i · row_i`` (the chapter checks this). All
    dimensionless.
    """
    fa = float(fa_gev)
    if not np.isfinite(fa) or fa <= 0:
        raise ValueError(f"fa_gev must be a positive number of GeV, got {fa_gev!r}")
    unknown = [c for c in columns if c not in alps.LOW_ENERGY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown low-energy columns {unknown}; choose from "
                         f"{alps.LOW_ENERGY_COLUMNS}")
    couplings = alps.PARAMETERS[1:]
    unit = np.zeros((len(couplings), len(alps.PARAMETERS)))
    unit[:, 0] = fa
    unit[:, 1:] = np.eye(len(couplings))
    table = low_energy_table(unit, integrator, name=name)
    out = table[list(columns)].copy()
    out.index = pd.Index(list(couplings), name="coupling at 4π f_a")
    return out


# --------------------------------------------------------------------------------------------
# figures (matplotlib, book style)
# --------------------------------------------------------------------------------------------
def _axes(ax: Any, figsize: tuple[float, float] | None = None) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def plot_waterfall(explanation: Explanation, index: int = 0, *, ax: Any = None,
                   title: str | None = None) -> Any:
    """Waterfall of one point: from the base value, each parameter's SHAP value in turn (largest
    |value| last, next to the output), ending at the model output. Returns the Axes.

    Bars pointing right (vermillion) raise the output, bars pointing left (blue) lower it; each
    row is labelled with the parameter's physical value (f_a in GeV, couplings at 4π f_a) and the
    feature the trees see.
    """
    from .plotting import PALETTE, axis_label

    n = len(explanation)
    if not -n <= int(index) < n:
        raise ValueError(f"index {index} out of range for {n} explained point(s)")
    values = explanation.values[int(index)]
    order = np.argsort(np.abs(values))  # smallest first (bottom)
    fig, ax = _axes(ax, (7.0, 4.2))
    start = explanation.base_value + values[order].cumsum() - values[order]
    y = np.arange(len(order))
    colours = [PALETTE[3] if values[k] > 0 else PALETTE[0] for k in order]
    ax.barh(y, values[order], left=start, color=colours, height=0.6)
    labels = []
    for k in order:
        p = alps.PARAMETERS[k]
        phys = explanation.points[int(index), k]
        name = axis_label(p).split(" [")[0]
        if p == alps.PARAMETERS[0]:
            labels.append(f"{name} = {phys:.3g} GeV")
        else:
            labels.append(f"{name} = {phys:+.2f}  ({explanation.features[int(index), k]:+.3f})")
    ax.set_yticks(y, labels)
    for yy, k, s in zip(y, order, start, strict=True):
        v = values[k]
        ax.annotate(f"{v:+.3g}", (s + v, yy), xytext=(3 if v >= 0 else -3, 0),
                    textcoords="offset points", va="center", ha="left" if v >= 0 else "right",
                    fontsize=9)
    out = explanation.output[int(index)]
    ax.axvline(explanation.base_value, color="0.4", ls=":", lw=1.2)
    ax.axvline(out, color="0.1", ls="--", lw=1.2)
    ax.set_xlabel(f"{explanation.output_label} ({explanation.stage}): base value "
                  f"{explanation.base_value:.3g} (dotted) → output {out:.3g} (dashed)")
    ax.grid(axis="y", visible=False)
    lo = min(explanation.base_value, out, float((start + values[order]).min()), float(start.min()))
    hi = max(explanation.base_value, out, float((start + values[order]).max()), float(start.max()))
    pad = 0.15 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    if title:
        ax.set_title(title)
    return ax


def plot_importance(explanation_or_table: Explanation | pd.DataFrame, *, ax: Any = None,
                    title: str | None = None) -> Any:
    """Bar chart of mean |SHAP| per parameter (largest on top). Returns the Axes."""
    from .plotting import PALETTE

    if isinstance(explanation_or_table, Explanation):
        table = global_importance(explanation_or_table)
        xlabel = f"mean |SHAP| [{explanation_or_table.output_label}]"
    else:
        table = explanation_or_table
        xlabel = "mean |SHAP|"
    fig, ax = _axes(ax, (6.0, 3.6))
    rows = table.iloc[::-1]
    labels = [feature_label(p, table.attrs.get("transform", "ratio")) for p in rows.index]
    ax.barh(np.arange(len(rows)), rows["mean_abs_shap"], color=PALETTE[0], height=0.6)
    ax.set_yticks(np.arange(len(rows)), labels)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title)
    return ax


def plot_beeswarm(explanation: Explanation, *, ax: Any = None, max_points: int | None = 2000,
                  seed: int = 0, title: str | None = None) -> Any:
    """SHAP value of every point, one row per parameter (most important on top), coloured by the
    feature's value (low → high within its row). Vertical jitter is seeded. Returns the Axes."""
    import matplotlib as mpl

    from .plotting import SEQUENTIAL_CMAP

    idx = sample_indices(len(explanation), max_points, seed)
    values = explanation.values[idx]
    feats = explanation.features[idx].astype(np.float64)
    table = global_importance(explanation)
    order = [alps.PARAMETERS.index(p) for p in table.index[::-1]]
    fig, ax = _axes(ax, (7.0, 4.2))
    rng = np.random.default_rng(int(seed))
    cmap = mpl.colormaps[SEQUENTIAL_CMAP]
    for row, k in enumerate(order):
        f = feats[:, k]
        ranks = pd.Series(f).rank(pct=True).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, size=len(f))
        ax.scatter(values[:, k], row + jitter, c=cmap(ranks), s=8, alpha=0.8, linewidths=0)
    ax.axvline(0.0, color="0.3", lw=1)
    ax.set_yticks(np.arange(len(order)),
                  [feature_label(alps.PARAMETERS[k], explanation.transform) for k in order])
    ax.set_xlabel(f"SHAP value [{explanation.output_label}]")
    ax.grid(axis="y", visible=False)
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(0, 1))
    cbar = fig.colorbar(sm, ax=ax, ticks=[0, 1], pad=0.01)
    cbar.ax.set_yticklabels(["low", "high"])
    cbar.set_label("feature value (rank in its row)")
    if title:
        ax.set_title(title)
    return ax


def plot_dependence(explanation: Explanation, parameter: str, *, color_by: str | None = "auto",
                    x_quantiles: tuple[float, float] | None = None, ax: Any = None,
                    title: str | None = None) -> Any:
    """SHAP value of ``parameter`` against its feature value, coloured by another parameter.

    ``color_by="auto"`` colours by the parameter that interacts most strongly with it
    (:func:`strongest_interaction`; needs interaction values), a parameter name colours by that
    parameter's feature, ``None`` draws one colour (signed couplings on a diverging map centred on
    zero, saturating at the 95th percentile of |value|). Vertical spread at fixed feature value is
    the effect of the other inputs — the interactions. ``x_quantiles`` (e.g. ``(0.01, 0.99)``)
    limits the horizontal axis to that quantile range of the feature, for long-tailed features;
    the number of points outside is written in the axis label. Returns the Axes.
    """
    from .plotting import DIVERGING_CMAP, PALETTE, SEQUENTIAL_CMAP

    k = _check_parameter(parameter)
    if color_by == "auto":
        color_by = strongest_interaction(explanation, parameter)
    fig, ax = _axes(ax, (6.4, 4.0))
    x = explanation.features[:, k].astype(np.float64)
    y = explanation.values[:, k]
    if color_by is None:
        ax.scatter(x, y, s=10, color=PALETTE[0], alpha=0.8, linewidths=0)
    else:
        c_idx = _check_parameter(color_by)
        c = explanation.features[:, c_idx].astype(np.float64)
        if c_idx == 0:
            cmap, norm = SEQUENTIAL_CMAP, None
        else:
            import matplotlib as mpl

            lim = float(np.percentile(np.abs(c), 95)) or float(np.max(np.abs(c))) or 1.0
            cmap, norm = DIVERGING_CMAP, mpl.colors.Normalize(-lim, lim, clip=True)
        sc = ax.scatter(x, y, c=c, cmap=cmap, norm=norm, s=10, alpha=0.9, linewidths=0)
        cbar = fig.colorbar(sc, ax=ax, pad=0.01)
        cbar.set_label(feature_label(color_by, explanation.transform))
    ax.axhline(0.0, color="0.3", lw=1)
    xlabel = feature_label(parameter, explanation.transform)
    if x_quantiles is not None:
        lo, hi = np.quantile(x, x_quantiles)
        pad = 0.03 * (hi - lo if hi > lo else 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        hidden = int(((x < lo - pad) | (x > hi + pad)).sum())
        if hidden:
            xlabel += f"  ({hidden} points outside the range shown)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"SHAP value [{explanation.output_label}]")
    if title:
        ax.set_title(title)
    return ax


def plot_interaction_heatmap(explanation: Explanation, *, ax: Any = None,
                             title: str | None = None) -> Any:
    """Heat map of the mean |interaction| of each pair (off-diagonal, :func:`interaction_matrix`);
    the diagonal (main effects) is written in grey, not coloured. Returns the Axes."""
    from .plotting import SEQUENTIAL_CMAP

    matrix = interaction_matrix(explanation).to_numpy()
    pairs = np.ma.masked_array(matrix, mask=np.eye(len(matrix), dtype=bool))
    fig, ax = _axes(ax, (6.4, 5.2))
    im = ax.imshow(pairs, cmap=SEQUENTIAL_CMAP)
    labels = [alps.LABELS[p].split(" [")[0] for p in alps.PARAMETERS]
    ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.grid(False)
    vmax = float(pairs.max()) if pairs.count() else 1.0
    for i in range(len(matrix)):
        for j in range(len(matrix)):
            if i == j:
                ax.text(j, i, f"({matrix[i, j]:.2g})", ha="center", va="center", fontsize=8,
                        color="0.45")
            else:
                ax.text(j, i, f"{matrix[i, j]:.2g}", ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] < 0.6 * vmax else "black")
    cbar = fig.colorbar(im, ax=ax, pad=0.02)
    cbar.set_label(f"mean |interaction| [{explanation.output_label}]")
    if title:
        ax.set_title(title)
    return ax


def plot_observable_scan(values: np.ndarray, contributions: pd.DataFrame, parameter: str, *,
                         transform: str = "ratio", top: int = 5,
                         curves: Mapping[str, np.ndarray] | None = None, ax: Any = None,
                         title: str | None = None) -> Any:
    """χ² per measurement along a :func:`feature_line` (log scale), with the ``top`` measurements
    that vary most drawn separately, the rest summed, and optional total-χ² ``curves`` (e.g.
    ``{"surrogate": …, "exact": …}``) overlaid in black/grey. Returns the Axes."""
    from .plotting import PALETTE

    if len(values) != len(contributions):
        raise ValueError(f"{len(values)} line values but {len(contributions)} rows of "
                         "contributions")
    _check_parameter(parameter)
    fig, ax = _axes(ax, (7.0, 4.4))
    spread = (contributions.max() - contributions.min()).sort_values(ascending=False)
    shown = list(spread.index[: int(top)])
    floor = 1e-2
    for colour, col in zip(PALETTE, shown, strict=False):
        ax.plot(values, np.maximum(contributions[col], floor), marker="o", ms=3, color=colour,
                label=col)
    rest = contributions.drop(columns=shown).sum(axis=1)
    ax.plot(values, np.maximum(rest, floor), color="0.6", ls=":", label="all other measurements")
    for (label, curve), style in zip((curves or {}).items(), ("-", "--", "-."), strict=False):
        ax.plot(values, curve, color="black", ls=style, lw=1.4, label=label)
    ax.set_yscale("log")
    ax.set_xlabel(feature_label(parameter, transform))
    ax.set_ylabel(r"$\chi^2$ contribution")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    return ax
