"""Active learning against space-filling designs at equal budgets, and the region metrics.

:func:`region_metrics` scores a region estimate on a reference sample; :func:`compare_on_function`
runs the comparison with live evaluations of a toy problem, :func:`compare_on_pool` on already
evaluated points (e.g. :func:`leadinglog_pool`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import qmc

from ..stats import REGION_DELTA_CHI2
from .learner import Learner
from .toys import ToyProblem
from .validation import check_positive_int

__all__ = [
    "PoolComparison",
    "compare_on_function",
    "compare_on_pool",
    "leadinglog_pool",
    "region_metrics",
]


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def region_metrics(true_values: Any, estimate: Any, predicted: Any, *, value_min: float,
                   delta: float) -> dict[str, float]:
    """How well a region estimate and a prediction match the truth on a reference sample.

    Parameters
    ----------
    true_values : array_like, shape (n,)
        True function values at the reference points.
    estimate : array_like of bool, shape (n,)
        The estimated region membership.
    predicted : array_like, shape (n,)
        Predicted function values.
    value_min, delta : float
        The true region is ``true_values < value_min + delta``.

    Returns
    -------
    dict
        ``n_reference``, ``n_true_region``, ``region_error`` — misclassified points (false inside
        + false outside) divided by the number of true region points —, the two counts
        ``false_inside`` and ``false_outside``, ``iou``, ``region_mae`` (mean |predicted − true|
        over the true region points; NaN if there are none) and ``region_mae_gated`` (the same
        over the true region points the estimate also puts inside — the analogue of the
        two-stage surrogate's regressor error behind its gate).

    Raises
    ------
    ValueError
        If the three arrays are not 1-D of equal length.
    """
    t = np.asarray(true_values, dtype=float)
    e = np.asarray(estimate, dtype=bool)
    p = np.asarray(predicted, dtype=float)
    if not (t.shape == e.shape == p.shape) or t.ndim != 1:
        raise ValueError("true_values, estimate and predicted must be 1-D arrays of equal length")
    truth = t < value_min + delta
    fp, fn = int((e & ~truth).sum()), int((~e & truth).sum())
    union = int((e | truth).sum())
    n_true = int(truth.sum())
    both = truth & e

    def mae(sel: np.ndarray) -> float:
        return float(np.mean(np.abs(p[sel] - t[sel]))) if sel.any() else float("nan")

    return {"n_reference": int(len(t)), "n_true_region": n_true,
            "region_error": (fp + fn) / max(1, n_true), "false_inside": fp, "false_outside": fn,
            "iou": 1.0 if union == 0 else int(both.sum()) / union,
            "region_mae": mae(truth), "region_mae_gated": mae(both)}


# --------------------------------------------------------------------------------------------
# comparisons at equal budget
# --------------------------------------------------------------------------------------------
def _learner_metrics(learner: Learner, ref_points: np.ndarray, ref_values: np.ndarray,
                     value_min: float, delta: float) -> dict[str, float]:
    return region_metrics(ref_values, learner.region_estimate(ref_points),
                          learner.predict(ref_points), value_min=value_min, delta=delta)


def compare_on_function(problem: ToyProblem, budgets: Sequence[int], *, seed: int = 0,
                        n_initial: int | None = None, batch_size: int = 5,
                        n_reference: int = 20000, learner_options: Mapping[str, Any] | None = None,
                        on_budget: Callable[[str, int, Learner], Mapping[str, Any]] | None = None
                        ) -> pd.DataFrame:
    """Active learning vs Latin hypercube at equal budgets on a toy problem (live evaluations).

    The learner starts from a seeded LHS of ``n_initial`` points (default ``max(2, 5·d)``) and
    asks batches of ``batch_size`` until each budget (batches are cut to hit every budget); the
    baseline is a fresh seeded LHS of the full budget fitted by an identical learner. Both are
    scored by :func:`region_metrics` on a uniform reference sample against the *true* minimum.
    ``on_budget(method, budget, learner)``, if given, is called after each score and its entries
    are added to that row (e.g. a surrogate trained on ``learner.points``). Returns one row per
    (method, budget).
    """
    opts = dict(learner_options or {})
    n0 = max(2, 5 * problem.dim) if n_initial is None else check_positive_int(n_initial, "n")
    ref_pts, ref_vals = problem.reference(n_reference, seed=10_000 + seed)
    budgets = sorted(check_positive_int(b, "budget") for b in budgets)
    if budgets[0] < n0:
        raise ValueError(f"budgets must be >= n_initial ({n0})")
    rows = []
    active = problem.learner(seed, **opts)
    x0 = active.initial_design(n0)
    active.tell(x0, problem.function(x0))
    for b in budgets:
        while active.n_evaluated < b:
            x = active.ask(min(batch_size, b - active.n_evaluated))
            active.tell(x, problem.function(x))
        lhs = problem.learner(seed, **opts)
        x = lhs.initial_design(b, seed=seed + 7919 * b)
        lhs.tell(x, problem.function(x))
        for method, learner in (("active", active), ("lhs", lhs)):
            extra = {} if on_budget is None else dict(on_budget(method, b, learner))
            rows.append({"method": method, "budget": b, "seed": seed}
                        | _learner_metrics(learner, ref_pts, ref_vals, problem.minimum,
                                           problem.delta) | extra)
    return pd.DataFrame(rows)


def _match_to_pool(unit_design: np.ndarray, pool_unit: np.ndarray,
                   used: np.ndarray | None = None) -> np.ndarray:
    """Greedy nearest-neighbour matching of design points to distinct unused pool points."""
    taken = np.zeros(len(pool_unit), dtype=bool) if used is None else used.copy()
    if len(unit_design) > int((~taken).sum()):
        raise ValueError(f"cannot match {len(unit_design)} design points to "
                         f"{int((~taken).sum())} free pool points")
    tree = cKDTree(pool_unit)
    out = np.empty(len(unit_design), dtype=int)
    for i, u in enumerate(unit_design):
        k = min(len(pool_unit), 64)
        _, nn = tree.query(u, k=k)
        nn = np.atleast_1d(nn)
        free = nn[~taken[nn]]
        if free.size == 0:
            cand = np.flatnonzero(~taken)
            free = cand[[int(np.argmin(((pool_unit[cand] - u) ** 2).sum(axis=1)))]]
        out[i] = free[0]
        taken[free[0]] = True
    return out


@dataclass
class PoolComparison:
    """Result of :func:`compare_on_pool`: a metrics table and the chosen pool indices."""

    metrics: pd.DataFrame
    chosen: dict[str, np.ndarray] = field(default_factory=dict)


def compare_on_pool(pool_points: Any, pool_values: Any, ref_points: Any, ref_values: Any,
                    budgets: Sequence[int], *, learner_factory: Callable[[int], Learner],
                    seed: int = 0, n_initial: int = 50, batch_size: int = 25,
                    value_min: float | None = None, delta: float = REGION_DELTA_CHI2,
                    methods: Sequence[str] = ("active", "lhs"),
                    ref_labels: Any = None) -> PoolComparison:
    """Pool-based active learning vs Latin hypercube at equal budgets, on already-evaluated data.

    Both methods may only "evaluate" points of the pool (their values are looked up):

    * ``"active"``: a seeded LHS of ``n_initial`` points, each matched to its nearest free pool
      point (unit-cube coordinates of the learner), then batches chosen by
      :meth:`Learner.select` among the remaining pool points (cut to hit every budget);
    * ``"lhs"``: for each budget a fresh seeded LHS of that size matched to the pool the same way
      — a space-filling design restricted to the points we have values for;
    * ``"random"``: a seeded uniform subset of the pool (note: a region-enriched pool makes this
      a design that already knows where the region is).

    Each fit is scored by :func:`region_metrics` on the reference sample, the true region being
    ``ref_values < value_min + delta`` (``value_min`` defaults to the smallest value of pool and
    reference together). ``learner_factory(seed=seed)`` builds a fresh learner (bounds, options).
    With ``ref_labels`` (n_ref,) the metrics are also reported per label (column ``reference``;
    ``"all"`` for the whole sample).
    """
    pool_pts = np.asarray(pool_points, dtype=float)
    pool_vals = np.asarray(pool_values, dtype=float)
    ref_pts = np.asarray(ref_points, dtype=float)
    ref_vals = np.asarray(ref_values, dtype=float)
    if len(pool_pts) != len(pool_vals) or len(ref_pts) != len(ref_vals):
        raise ValueError("points and values must have the same length")
    if not (np.all(np.isfinite(pool_vals)) and np.all(np.isfinite(ref_vals))):
        raise ValueError("pool and reference values must be finite (drop failed points)")
    vmin = float(min(pool_vals.min(), ref_vals.min())) if value_min is None else float(value_min)
    budgets = sorted(check_positive_int(b, "budget") for b in budgets)
    if budgets[0] < n_initial or budgets[-1] > len(pool_pts):
        raise ValueError(f"budgets must lie between n_initial ({n_initial}) and the pool size "
                         f"({len(pool_pts)})")
    unknown = set(methods) - {"active", "lhs", "random"}
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}")
    rows: list[dict[str, Any]] = []
    chosen: dict[str, np.ndarray] = {}
    probe = learner_factory(seed=seed)
    pool_unit = np.clip(probe.to_unit(pool_pts), 0.0, 1.0)

    labels = None if ref_labels is None else np.asarray(ref_labels)
    if labels is not None and labels.shape != (len(ref_pts),):
        raise ValueError("ref_labels must have one entry per reference point")

    def score(method: str, learner: Learner, b: int) -> None:
        estimate, predicted = learner.region_estimate(ref_pts), learner.predict(ref_pts)
        groups = [("all", slice(None))]
        if labels is not None:
            groups += [(str(g), labels == g) for g in np.unique(labels)]
        for name, sel in groups:
            rows.append({"method": method, "budget": b, "seed": seed, "reference": name}
                        | region_metrics(ref_vals[sel], estimate[sel], predicted[sel],
                                         value_min=vmin, delta=delta))

    if "active" in methods:
        learner = learner_factory(seed=seed)
        u0 = qmc.LatinHypercube(d=probe.dim, seed=np.random.default_rng([seed, 11])).random(
            n_initial)
        idx = list(_match_to_pool(u0, pool_unit))
        learner.tell(pool_pts[idx], pool_vals[idx])
        used = np.zeros(len(pool_pts), dtype=bool)
        used[idx] = True
        for b in budgets:
            while learner.n_evaluated < b:
                free = np.flatnonzero(~used)
                pick = free[learner.select(min(batch_size, b - learner.n_evaluated),
                                           pool_pts[free])]
                used[pick] = True
                idx.extend(pick.tolist())
                learner.tell(pool_pts[pick], pool_vals[pick])
            score("active", learner, b)
        chosen["active"] = np.asarray(idx)
    for b in budgets:
        if "lhs" in methods:
            u = qmc.LatinHypercube(d=probe.dim, seed=np.random.default_rng([seed, 12, b])).random(
                b)
            idx_l = _match_to_pool(u, pool_unit)
            learner = learner_factory(seed=seed)
            learner.tell(pool_pts[idx_l], pool_vals[idx_l])
            score("lhs", learner, b)
            chosen[f"lhs-{b}"] = idx_l
        if "random" in methods:
            idx_r = np.random.default_rng([seed, 13, b]).choice(len(pool_pts), b, replace=False)
            learner = learner_factory(seed=seed)
            learner.tell(pool_pts[idx_r], pool_vals[idx_r])
            score("random", learner, b)
            chosen[f"random-{b}"] = idx_r
    return PoolComparison(pd.DataFrame(rows), chosen)


def leadinglog_pool(name: str = "train", workdir: str | Path | None = None) -> pd.DataFrame:
    """The leading-log χ² points that the recipe of data set ``name`` evaluated (its ``prescan``
    Latin hypercube and its ``focus`` points around the prescan region), successful ones only.

    Columns: the six parameters, ``chi2`` (leading-log), ``origin``. By default the pool shipped
    with the package (:func:`lecture_utils.datasets.shipped_pool`, exported with the data set);
    with ``workdir``, read from the recipe's stores ``<workdir>/<name>/{prescan,focus}``
    (:func:`lecture_utils.datasets.stores_pool`; a missing store raises
    :class:`~lecture_utils.data.StoreError` naming it).
    """
    from .. import datasets

    if workdir is None:
        return datasets.shipped_pool(name)
    return datasets.stores_pool(Path(workdir) / name)
