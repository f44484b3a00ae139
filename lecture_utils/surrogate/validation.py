"""Validation of a surrogate against exact χ²: regression and gate metrics, region agreement,
calibration, learning curves.

:func:`validate` compares a :class:`~lecture_utils.surrogate.TwoStageSurrogate` with exact χ² at
points it never saw and returns a :class:`ValidationReport`; :func:`learning_curve` repeats that
for nested training subsets and :func:`learning_curve_fit` extrapolates the error to a target.
The metric functions (:func:`regression_metrics`, :func:`gate_metrics`, :func:`iou`,
:func:`region_iou`, …) work on plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..stats import delta_chi2
from .inputs import as_points
from .model import DEFAULT_THRESHOLD, TwoStageSurrogate
from .training import check_chi2

__all__ = [
    "ValidationReport",
    "confusion_counts",
    "gate_metrics",
    "iou",
    "learning_curve",
    "learning_curve_fit",
    "paired_comparison",
    "pointwise_log_loss",
    "region_iou",
    "regression_metrics",
    "reliability_curve",
    "validate",
]


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAE, RMSE, mean bias (pred − true), largest |error| and count of two (n,) arrays."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D arrays of equal length")
    if len(t) == 0:
        return {"n": 0, "mae": float("nan"), "rmse": float("nan"), "bias": float("nan"),
                "max_abs": float("nan")}
    r = p - t
    return {"n": int(len(t)), "mae": float(np.mean(np.abs(r))),
            "rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)),
            "max_abs": float(np.max(np.abs(r)))}


def iou(a: Any, b: Any) -> float:
    """Intersection over union |a ∧ b| / |a ∨ b| of two boolean masks (1.0 if both empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("masks must have the same shape")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def confusion_counts(truth: Any, predicted: Any) -> dict[str, int]:
    """Counts tp, fp, tn, fn of two boolean arrays (positive = in the region)."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if t.shape != p.shape:
        raise ValueError("arrays must have the same shape")
    return {"tp": int((t & p).sum()), "fp": int((~t & p).sum()),
            "tn": int((~t & ~p).sum()), "fn": int((t & ~p).sum())}


PROBABILITY_CLIP: float = 1e-15
"""Gate probabilities are clipped to [PROBABILITY_CLIP, 1 − PROBABILITY_CLIP] for the log-loss."""


def pointwise_log_loss(labels: Any, probability: Any) -> np.ndarray:
    """Log-loss of each point, −[y ln p + (1 − y) ln(1 − p)], shape (n,), with ``p`` clipped by
    :data:`PROBABILITY_CLIP`; its mean is the gate's log-loss."""
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probability, dtype=float), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def gate_metrics(labels: Any, probability: Any, threshold: float = DEFAULT_THRESHOLD
                 ) -> dict[str, float]:
    """ROC AUC, Brier score, log-loss, accuracy and confusion counts of a probabilistic gate.

    ``labels`` boolean (n,), ``probability`` in [0, 1] (n,); the confusion is taken at
    ``p ≥ threshold``. AUC is NaN if only one class is present.
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probability, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("labels and probability must be 1-D arrays of equal length")
    if ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    both = 0 < y.sum() < len(y)
    out: dict[str, float] = {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(pointwise_log_loss(y, p).mean()),
        "accuracy": float(np.mean(y == (p >= threshold))),
        "threshold": float(threshold),
    }
    return out | confusion_counts(y, p >= threshold)


def reliability_curve(labels: Any, probability: Any, n_bins: int = 10) -> pd.DataFrame:
    """Calibration table: per probability bin the mean predicted probability, the observed
    fraction of positives and the count (empty bins dropped). Equal-width bins on [0, 1]."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    b = np.clip(np.digitize(p, edges[1:-1]), 0, int(n_bins) - 1)
    rows = []
    for k in range(int(n_bins)):
        m = b == k
        if m.any():
            rows.append({"bin_low": edges[k], "bin_high": edges[k + 1],
                         "mean_predicted": float(p[m].mean()),
                         "fraction_positive": float(y[m].mean()), "count": int(m.sum())})
    return pd.DataFrame(rows)


def region_iou(chi2_true: Any, chi2_pred: Any, chi2_min: float, cl: float, dof: int
               ) -> dict[str, float]:
    """Agreement of the confidence regions ``χ² − chi2_min < stats.delta_chi2(cl, dof)``.

    Both masks use the same reference ``chi2_min``, so the comparison isolates the surrogate's
    error from the estimate of the minimum. Returns the threshold, IoU and the two region sizes.
    ``chi2_pred`` may be ``+inf`` (outside the gate).
    """
    thr = float(delta_chi2(cl, dof=dof))
    t = np.asarray(chi2_true, dtype=float) - chi2_min < thr
    p = np.asarray(chi2_pred, dtype=float) - chi2_min < thr
    return {"cl": float(cl), "dof": int(dof), "delta_chi2": thr, "iou": iou(t, p),
            "n_true": int(t.sum()), "n_pred": int(p.sum()), "n_both": int((t & p).sum())}


@dataclass
class ValidationReport:
    """Hold-out validation of a surrogate (see :func:`validate`). All χ² dimensionless."""

    chi2_min: float
    cut: float
    regression: dict[str, float]
    regression_gated: dict[str, float]
    gate: dict[str, float]
    regions: pd.DataFrame
    reliability: pd.DataFrame
    residuals: pd.DataFrame

    def summary(self) -> dict[str, float]:
        """The headline numbers: region MAE/RMSE, gate AUC/Brier, IoU of each region."""
        out = {"n_region": self.regression["n"], "mae": self.regression["mae"],
               "rmse": self.regression["rmse"], "bias": self.regression["bias"],
               "auc": self.gate["auc"], "brier": self.gate["brier"],
               "accuracy": self.gate["accuracy"], "fn": self.gate["fn"], "fp": self.gate["fp"]}
        for _, r in self.regions.iterrows():
            out[f"iou_{round(100 * r['cl'])}_dof{int(r['dof'])}"] = float(r["iou"])
        return out


def validate(surrogate: TwoStageSurrogate, points: Any, chi2: Any, *,
             chi2_min: float | None = None, cls: Sequence[float] = (0.68, 0.95),
             dofs: Sequence[int] = (2,), n_bins: int = 10) -> ValidationReport:
    """Compare a surrogate with exact χ² at points it never saw (e.g. the ``"holdout"`` set).

    * the truth region is ``χ² − chi2_min < surrogate.cut``, with ``chi2_min`` defaulting to the
      surrogate's training minimum (the convention the gate was trained with);
    * regressor MAE/RMSE on the true-region points (``regression``), and the same restricted to the
      region points the gate also accepts (``regression_gated``);
    * gate AUC, Brier score, log-loss, confusion at the working threshold, reliability table;
    * IoU of the regions ``Δχ² < stats.delta_chi2(cl, dof)`` for each ``cl`` in ``cls`` and ``dof``
      in ``dofs`` (default dof = 2: the 6-D sets whose projections are the 2-D profile-likelihood
      regions of the corner plots), truth vs the hard combination, same ``chi2_min``;
    * ``residuals``: a table (true χ², regressor χ², gate probability, in-region flag, gate
      acceptance).

    Parameters
    ----------
    surrogate : TwoStageSurrogate
        The model to judge (a compiled one works too).
    points : array_like or pandas.DataFrame
        Physical points, shape (n, 6) (see :func:`~lecture_utils.surrogate.as_points`).
    chi2 : array_like
        Their exact χ², shape (n,); ``+inf`` allowed, NaN not.
    chi2_min : float, optional
        Reference minimum of both regions; default ``surrogate.chi2_min``.
    cls : sequence of float, optional
        Confidence levels of the compared regions.
    dofs : sequence of int, optional
        Degrees of freedom of the compared regions.
    n_bins : int, optional
        Bins of the reliability table.

    Returns
    -------
    ValidationReport

    Raises
    ------
    ValueError
        For invalid points or χ² values.
    """
    pts = as_points(points)
    c = check_chi2(chi2, len(pts))
    ref = surrogate.chi2_min if chi2_min is None else float(chi2_min)
    logit, reg = surrogate.stage_outputs(pts)
    prob = 1.0 / (1.0 + np.exp(-logit))
    hard = np.where(logit >= surrogate.logit_threshold(), reg, np.inf)
    inside = c - ref < surrogate.cut
    accepted = logit >= surrogate.logit_threshold()
    regions = pd.DataFrame([region_iou(c, hard, ref, cl, d) for d in dofs for cl in cls])
    residuals = pd.DataFrame({"chi2": c, "chi2_regressor": reg, "gate_probability": prob,
                              "in_region": inside, "accepted": accepted})
    return ValidationReport(
        chi2_min=ref, cut=surrogate.cut,
        regression=regression_metrics(c[inside], reg[inside]),
        regression_gated=regression_metrics(c[inside & accepted], reg[inside & accepted]),
        gate=gate_metrics(inside, prob, surrogate.threshold),
        regions=regions, reliability=reliability_curve(inside, prob, n_bins),
        residuals=residuals)


def learning_curve(points: Any, chi2: Any, test_points: Any, test_chi2: Any,
                   sizes: Sequence[int], *, seed: int = 0, chi2_min: float | None = None,
                   **fit_kwargs: Any) -> pd.DataFrame:
    """Hold-out error versus number of training points.

    For each ``n`` in ``sizes`` a surrogate is fit on the first ``n`` points of one seeded
    permutation of the training set (nested subsets) and validated on the test set against one
    common reference ``chi2_min``.

    Parameters
    ----------
    points, chi2 : array_like
        Training points (n, 6) and their exact χ² (n,).
    test_points, test_chi2 : array_like
        Validation points (m, 6) and their exact χ² (m,).
    sizes : sequence of int
        Training-set sizes, each in 1..n.
    seed : int, optional
        Seed of the permutation and of every fit.
    chi2_min : float, optional
        Common reference minimum; default: the minimum of the full training set.
    **fit_kwargs
        Passed to :meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit`.

    Returns
    -------
    pandas.DataFrame
        One row per size: ``n_train`` and the columns of :meth:`ValidationReport.summary`
        (mae, rmse, auc, brier, IoU of each region, …).

    Raises
    ------
    ValueError
        For a size outside 1..n or invalid data.
    """
    pts = as_points(points)
    c = check_chi2(chi2, len(pts))
    ref = float(c.min()) if chi2_min is None else float(chi2_min)
    order = np.random.default_rng(seed).permutation(len(pts))
    rows = []
    for n in sizes:
        if not 0 < int(n) <= len(pts):
            raise ValueError(f"size {n} outside 1..{len(pts)}")
        idx = order[: int(n)]
        model = TwoStageSurrogate.fit(pts[idx], c[idx], seed=seed, **fit_kwargs)
        rep = validate(model, test_points, test_chi2, chi2_min=ref)
        rows.append({"n_train": int(n)} | rep.summary())
    return pd.DataFrame(rows)


def learning_curve_fit(n: Any, error: Any, target: float) -> dict[str, float]:
    """Fit ``error = a · n^(−b)`` (least squares in log–log) and solve for ``error = target``.

    Parameters
    ----------
    n : array_like
        Training-set sizes.
    error : array_like
        The error at each size; non-positive or non-finite values are ignored.
    target : float
        The error to reach.

    Returns
    -------
    dict
        ``a``, ``b`` and ``n_target`` (inf if the error does not decrease).

    Raises
    ------
    ValueError
        If fewer than two usable errors remain.
    """
    n_arr = np.asarray(n, dtype=float)
    e_arr = np.asarray(error, dtype=float)
    ok = np.isfinite(e_arr) & (e_arr > 0) & (n_arr > 0)
    if ok.sum() < 2:
        raise ValueError("need at least two positive errors to fit a learning curve")
    slope, intercept = np.polyfit(np.log(n_arr[ok]), np.log(e_arr[ok]), 1)
    b = -float(slope)
    a = float(np.exp(intercept))
    n_target = float((a / target) ** (1.0 / b)) if b > 0 else float("inf")
    return {"a": a, "b": b, "n_target": n_target}


def paired_comparison(report_a: ValidationReport, report_b: ValidationReport) -> pd.DataFrame:
    """Per-point paired comparison of two surrogates validated on the same points.

    Each point contributes the difference of its losses under ``b`` and ``a``: the absolute
    regressor error on the points truly inside the region, and the gate's log-loss on every
    point. The standard error of the mean difference is that of the per-point differences, so
    the verdict accounts for the correlation between the two models' errors on the same points.

    Parameters
    ----------
    report_a, report_b : ValidationReport
        :func:`validate` reports of two models on the same points with the same ``chi2_min``.

    Returns
    -------
    pandas.DataFrame
        Rows ``"regressor |error| (region)"`` and ``"gate log-loss (all points)"``; columns
        ``a``, ``b`` (mean losses), ``b - a`` (mean paired difference), ``standard error`` (of
        ``b - a``), ``z`` (their ratio) and ``n`` (points).

    Raises
    ------
    ValueError
        If the reports were not made on the same points, χ² and reference minimum.
    """
    ra, rb = report_a.residuals, report_b.residuals
    if (len(ra) != len(rb) or report_a.chi2_min != report_b.chi2_min
            or not np.array_equal(ra["chi2"].to_numpy(), rb["chi2"].to_numpy())):
        raise ValueError("the two reports must validate the same points (same χ² and chi2_min)")
    inside = ra["in_region"].to_numpy()
    labels = inside.astype(float)

    def abs_error(r: pd.DataFrame) -> np.ndarray:
        return np.abs(r["chi2_regressor"].to_numpy() - r["chi2"].to_numpy())[inside]

    def log_loss(r: pd.DataFrame) -> np.ndarray:
        return pointwise_log_loss(labels, r["gate_probability"].to_numpy())

    rows = {}
    for name, loss in (("regressor |error| (region)", abs_error),
                       ("gate log-loss (all points)", log_loss)):
        la, lb = loss(ra), loss(rb)
        diff = lb - la
        n = len(diff)
        se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        mean = float(diff.mean()) if n else float("nan")
        rows[name] = {"a": float(la.mean()) if n else float("nan"),
                      "b": float(lb.mean()) if n else float("nan"), "b - a": mean,
                      "standard error": se,
                      "z": mean / se if se > 0 else (0.0 if mean == 0 else float("inf")),
                      "n": n}
    return pd.DataFrame(rows).T.astype({"n": int})
