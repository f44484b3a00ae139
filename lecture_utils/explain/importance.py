"""Global summaries of SHAP values as tables: importance rankings and pair interactions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import alps
from .features import check_parameter, feature_description
from .shapley import Explanation

__all__ = [
    "compare_importance",
    "global_importance",
    "interaction_importance",
    "interaction_matrix",
    "strongest_interaction",
]


def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean ``|SHAP|`` per parameter, largest first.

    Parameters
    ----------
    explanation : Explanation
        SHAP values of one stage of a surrogate at n points
        (:func:`~lecture_utils.explain.explain`).

    Returns
    -------
    pandas.DataFrame
        One row per parameter, sorted by decreasing ``mean_abs_shap``; index ``parameter``
        (names from :data:`lecture_utils.alps.PARAMETERS`), columns:

        ``feature``
            what the trees see;
        ``mean_abs_shap``
            mean ``|SHAP|`` over the points, in units of the stage's output (χ² for the
            regressor, log-odds for the gate);
        ``share``
            fraction of the summed mean ``|SHAP|``;
        ``mean_shap``
            signed mean: ≈ 0 for path-dependent values on the training distribution;
        ``rank``
            1 = most important.

        ``attrs["stage"]`` and ``attrs["transform"]`` record the explained stage and the
        feature transform.
    """
    mean_abs = np.abs(explanation.values).mean(axis=0)
    total = float(mean_abs.sum())
    table = pd.DataFrame({
        "feature": [feature_description(p, explanation.transform) for p in alps.PARAMETERS],
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
    """Mean ``|SHAP|`` per parameter of several explanations side by side (one column per key).

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
    phi = explanation.require_interactions()
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
    check_parameter(parameter)
    row = interaction_matrix(explanation).loc[parameter].drop(parameter)
    return str(row.idxmax())
