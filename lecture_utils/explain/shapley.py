"""SHAP values of the two-stage surrogate: TreeSHAP (:func:`explain`) and the brute-force
Shapley definition it must reproduce (:func:`brute_force_shapley`).

See :mod:`lecture_utils.explain` for the stages and the two feature perturbations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import alps
from .. import surrogate as sg
from .features import check_per_parameter

__all__ = [
    "DEFAULT_BACKGROUND_SIZE",
    "OUTPUT_LABELS",
    "PERTURBATIONS",
    "SHAP_MIN_VERSION",
    "STAGES",
    "Explanation",
    "brute_force_shapley",
    "check_versions",
    "coalition_name",
    "explain",
    "sample_indices",
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
"""Oldest shap that reads models of xgboost ≥ 3.1: older releases mis-read their vector
``base_score``, so base values and SHAP values would not add up to the model output
(:func:`check_versions`)."""

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

    def require_interactions(self) -> np.ndarray:
        """The interaction values (n, 6, 6).

        Raises
        ------
        ValueError
            If the explanation was computed without ``interactions=True``.
        """
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
    check_per_parameter(surrogate.transform)
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

    Returns
    -------
    values : numpy.ndarray
        Shapley values, shape (6,), in the stage's output units (χ² or log-odds).
    base : float
        The base value ``v(∅)``.
    coalitions : pandas.Series
        Every coalition value ``v(S)``, indexed by :func:`coalition_name`.

    Raises
    ------
    ValueError
        For more than one point, an unknown stage or perturbation, a transform that is not one
        feature per parameter, or background points given to (or missing from) the wrong variant.
    """
    from itertools import combinations
    from math import factorial

    check_per_parameter(surrogate.transform)
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
