"""The course surrogate at the region's edge: its gate and regressor on the shipped hold-out and
on the edge hold-out (``python -m lecture_utils edge-holdout``: points on rays walked out of the
region and bisected at its edge χ² = χ²_min + 10, never used for training or selection).

Run: ``python benchmarks/gate_edges.py``. For each set: points, region points, the gate's ROC AUC,
the fraction of points it misclassifies at its working threshold (false negatives: region points
rejected; false positives: outside points accepted), the regressor's MAE on the region points.
The edge set is shown whole, without the band |Δχ² − 10| < 2 around the edge (where a
classifier of finite resolution must err), and as its final bisection pairs (a hair apart: any
smooth classifier gets one of each pair wrong unless its threshold falls between them). The last
line reads ``edge hold-out: gate AUC <a>; misclassified <m> %; region MAE <r>`` (outside the band).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lecture_utils import alps, data
from lecture_utils import surrogate as sg
from lecture_utils.stats import REGION_DELTA_CHI2

BAND = 2.0
"""Half-width in Δχ² of the band around the edge left out of the second edge row."""


def report(model: sg.TwoStageSurrogate, frame: pd.DataFrame, label: str) -> dict[str, float]:
    rep = sg.validate(model, frame[list(alps.PARAMETERS)].to_numpy(), frame["chi2"].to_numpy())
    gate = rep.gate
    wrong = (gate["fn"] + gate["fp"]) / len(frame)
    res = rep.residuals
    print(f"{label:>34}: {len(frame):5d} points, {int(res['in_region'].sum()):4d} in the region; "
          f"gate AUC {gate['auc']:.4f}, misclassified {100 * wrong:4.1f} % (rejected region "
          f"points {gate['fn']}, accepted outside points {gate['fp']}); region MAE "
          f"{rep.regression['mae']:.3f}")
    return {"auc": gate["auc"], "wrong": wrong, "mae": rep.regression["mae"],
            "residuals": res}


def main() -> None:
    model = sg.default_surrogate()
    report(model, data.load("holdout"), "hold-out")
    edge = data.load("edge_holdout")
    delta = edge["chi2"] - model.chi2_min
    whole = report(model, edge, "edge hold-out, all")
    banded = report(model, edge[np.abs(delta - REGION_DELTA_CHI2) >= BAND],
                    f"edge hold-out, |Δχ² − {REGION_DELTA_CHI2:g}| ≥ {BAND:g}")
    report(model, edge[edge["pair"] >= 0], "edge hold-out, the final pairs")
    res = whole["residuals"]
    accepted_far = res[~res["in_region"] & res["accepted"]]
    far = accepted_far[accepted_far["chi2"] - model.chi2_min > 3 * REGION_DELTA_CHI2]
    print(f"accepted outside points with Δχ² > {3 * REGION_DELTA_CHI2:g} (cliffs): {len(far)}")
    gap = edge.loc[edge["pair"] >= 0, "gap"].to_numpy()
    print(f"edge pairs: {edge['pair'].max() + 1}, median gap {np.median(gap):.4f} of the "
          "domain's side")
    print(f"edge hold-out: gate AUC {banded['auc']:.4f}; misclassified "
          f"{100 * banded['wrong']:.1f} %; region MAE {banded['mae']:.3f}")


if __name__ == "__main__":
    main()
