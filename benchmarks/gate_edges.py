"""The course surrogate at the region's edge: its gate and regressor on the shipped hold-out and
on the edge hold-out (``python -m lecture_utils edge-holdout``: pairs of points a few bisection
steps apart on both sides of the edge χ² = χ²_min + 10, never used for training or selection).

Run: ``python benchmarks/gate_edges.py``. For each set: points, region points, the gate's ROC AUC,
the fraction of points the gate misclassifies at its working threshold (false negatives: region
points rejected; false positives: outside points accepted), and the regressor's MAE on the region
points. The last line reads ``edge hold-out: gate AUC <a>; misclassified <m> %; region MAE <r>``.
"""

from __future__ import annotations

import numpy as np

from lecture_utils import alps, data
from lecture_utils import surrogate as sg


def report(model: sg.TwoStageSurrogate, name: str) -> dict[str, float]:
    frame = data.load(name)
    rep = sg.validate(model, frame[list(alps.PARAMETERS)].to_numpy(), frame["chi2"].to_numpy())
    gate = rep.gate
    n = len(frame)
    wrong = (gate["fn"] + gate["fp"]) / n
    res = rep.residuals
    print(f"{name:>13}: {n:5d} points, {int(res['in_region'].sum()):4d} in the region; gate AUC "
          f"{gate['auc']:.4f}, misclassified {100 * wrong:.1f} % (rejected region points "
          f"{gate['fn']}, accepted outside points {gate['fp']}); region MAE "
          f"{rep.regression['mae']:.3f}")
    return {"auc": gate["auc"], "wrong": wrong, "mae": rep.regression["mae"]}


def main() -> None:
    model = sg.default_surrogate()
    report(model, "holdout")
    edge = report(model, "edge_holdout")
    frame = data.load("edge_holdout")
    gap = frame["gap"].to_numpy()
    print(f"edge pairs: {frame['pair'].nunique()}, median gap {np.median(gap):.4f} of the "
          "domain's side")
    print(f"edge hold-out: gate AUC {edge['auc']:.4f}; misclassified {100 * edge['wrong']:.1f} %; "
          f"region MAE {edge['mae']:.3f}")


if __name__ == "__main__":
    main()
