"""Figures of SHAP explanations in the book style (matplotlib; every helper returns the Axes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import alps
from .features import check_parameter, feature_label
from .importance import global_importance, interaction_matrix, strongest_interaction
from .shapley import Explanation, sample_indices

__all__ = [
    "plot_beeswarm",
    "plot_dependence",
    "plot_importance",
    "plot_interaction_heatmap",
    "plot_observable_scan",
    "plot_waterfall",
]


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
    from ..plotting import PALETTE, axis_label

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
    """Bar chart of mean ``|SHAP|`` per parameter (largest on top). Returns the Axes."""
    from ..plotting import PALETTE

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

    from ..plotting import SEQUENTIAL_CMAP

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
    from ..plotting import DIVERGING_CMAP, PALETTE, SEQUENTIAL_CMAP

    k = check_parameter(parameter)
    if color_by == "auto":
        color_by = strongest_interaction(explanation, parameter)
    fig, ax = _axes(ax, (6.4, 4.0))
    x = explanation.features[:, k].astype(np.float64)
    y = explanation.values[:, k]
    if color_by is None:
        ax.scatter(x, y, s=10, color=PALETTE[0], alpha=0.8, linewidths=0)
    else:
        c_idx = check_parameter(color_by)
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
    from ..plotting import SEQUENTIAL_CMAP

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
    from ..plotting import PALETTE

    if len(values) != len(contributions):
        raise ValueError(f"{len(values)} line values but {len(contributions)} rows of "
                         "contributions")
    check_parameter(parameter)
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
