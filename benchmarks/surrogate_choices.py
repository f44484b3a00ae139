"""Measure the design choices of the two-stage surrogate on the shipped data (train → hold-out).

Prints tables and writes ``lecture_utils/data/resources/surrogate_choices.json`` (with ``--write``):

1. feature transform: ``ratio`` (log10 f_a, c_i/f_a) vs ``raw`` (log10 f_a, c_i);
2. regressor margin: train the regressor on Δχ² < cut + margin for several margins;
3. refit on all training points after early stopping vs keep the early-stopped model;
4. how to handle the huge χ² values: the two-stage model vs one regressor on all points with the
   target capped (the tutorial capped at 80) or log-transformed;
5. a learning curve (hold-out error vs number of training points).

Every model uses the shipped hyperparameters (``surrogate.load_hyperparameters()``) and seed 0;
the hold-out set is only used for scoring. Run: ``python benchmarks/surrogate_choices.py``
(``--toy`` runs the same on the synthetic toy χ², for a quick check of the script).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lecture_utils import alps, data
from lecture_utils import surrogate as sg
from lecture_utils.stats import REGION_DELTA_CHI2


def _load(toy: bool, train_file: str | None, holdout_file: str | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if toy:
        from lecture_utils.testing import toy_dataset

        return (*toy_dataset(3000, seed=0), *toy_dataset(600, seed=1))
    tr = pd.read_csv(train_file) if train_file else data.load("train")
    ho = pd.read_csv(holdout_file) if holdout_file else data.load("holdout")
    cols = list(alps.PARAMETERS)
    return (tr[cols].to_numpy(), tr["chi2"].to_numpy(), ho[cols].to_numpy(),
            ho["chi2"].to_numpy())


def _row(label: str, model: sg.TwoStageSurrogate, seconds: float, pts: np.ndarray,
         chi2: np.ndarray) -> dict[str, Any]:
    return {"variant": label} | sg.validate(model, pts, chi2).summary() | {
        "gate_trees": model.metadata["training"]["gate"]["n_estimators"],
        "regressor_trees": model.metadata["training"]["regressor"]["n_estimators"],
        "fit_seconds": round(seconds, 2)}


def _fit(pts: np.ndarray, chi2: np.ndarray, hp: dict[str, Any], **kw: Any
         ) -> tuple[sg.TwoStageSurrogate, float]:
    settings = {k: hp["settings"][k] for k in sg.FIT_SETTINGS} | kw
    t0 = time.perf_counter()
    m = sg.TwoStageSurrogate.fit(pts, chi2, gate_params=hp["gate"],
                                 regressor_params=hp["regressor"], **settings)
    return m, time.perf_counter() - t0


def one_stage(pts: np.ndarray, chi2: np.ndarray, tpts: np.ndarray, tchi2: np.ndarray,
              hp: dict[str, Any], target: str) -> dict[str, Any]:
    """A single regressor on *all* points, target capped at χ²_min + 3·cut or log-transformed;
    scored on the hold-out region like the two-stage regressor."""
    chi2_min = float(chi2.min())
    if target == "capped":
        cap = chi2_min + 3 * REGION_DELTA_CHI2
        y, back = np.minimum(chi2, cap), (lambda z: z)
    else:
        y, back = np.log(chi2 - chi2_min + 1.0), (lambda z: np.exp(z) - 1.0 + chi2_min)
    transform = hp["settings"]["transform"]
    x = sg.features(pts, transform)
    tr, val = sg.split_indices(len(pts), 0, sg.VALIDATION_FRACTION)
    model = sg.stage_model("regressor", hp["regressor"], n_estimators=sg.MAX_ESTIMATORS, seed=0,
                           early_stopping_rounds=sg.EARLY_STOPPING_ROUNDS)
    t0 = time.perf_counter()
    model.fit(x[tr], y[tr], eval_set=[(x[val], y[val])], verbose=False)
    seconds = time.perf_counter() - t0
    booster = model.get_booster()[: model.best_iteration + 1]
    pred = back(booster.inplace_predict(sg.features(tpts, transform)))
    inside = tchi2 - chi2_min < REGION_DELTA_CHI2
    m = sg.regression_metrics(tchi2[inside], pred[inside])
    return {"variant": f"one regressor, {target} target", "n_region": m["n"], "mae": m["mae"],
            "rmse": m["rmse"], "bias": m["bias"], "regressor_trees": model.best_iteration + 1,
            "fit_seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--toy", action="store_true", help="synthetic toy χ² instead of the data")
    ap.add_argument("--write", action="store_true",
                    help="write lecture_utils/data/resources/surrogate_choices.json")
    ap.add_argument("--skip", nargs="*", default=[],
                    help="parts to skip: transform margin refit onestage learning")
    ap.add_argument("--train-file", default=None,
                    help="CSV of the training set instead of the shipped one (e.g. a partial "
                         "export made with `datasets.build(..., out_dir=…)`)")
    ap.add_argument("--holdout-file", default=None, help="CSV of the hold-out set")
    args = ap.parse_args()
    pts, chi2, tpts, tchi2 = _load(args.toy, args.train_file, args.holdout_file)
    hp = sg.load_hyperparameters()
    source = Path(hp["source"])
    out: dict[str, Any] = {"n_train": len(pts), "n_holdout": len(tpts), "toy": args.toy,
                           "hyperparameters": source.name if source.exists() else hp["source"],
                           "command": "python benchmarks/surrogate_choices.py --write"}
    pd.options.display.float_format = "{:.4g}".format
    pd.options.display.width = 200

    def show(name: str, rows: list[dict[str, Any]]) -> None:
        df = pd.DataFrame(rows)
        print(f"\n== {name}\n{df.to_string(index=False)}", flush=True)
        out[name] = rows

    if "transform" not in args.skip:
        show("transform", [_row(f"transform={t}", *_fit(pts, chi2, hp, transform=t), tpts, tchi2)
                           for t in sg.FEATURE_TRANSFORMS])
    if "margin" not in args.skip:
        rows = []
        for margin in (0.0, 1.0, 2.0, 4.0):
            m, s = _fit(pts, chi2, hp, regressor_margin=margin)
            r = _row(f"margin={margin:g}", m, s, tpts, tchi2)
            # error near the boundary: true Δχ² in [cut - 2, cut)
            d = tchi2 - m.chi2_min
            edge = (d >= REGION_DELTA_CHI2 - 2) & (d < REGION_DELTA_CHI2)
            r["mae_edge"] = sg.regression_metrics(tchi2[edge], m.predict_regressor(tpts)[edge])[
                "mae"]
            r["n_edge"] = int(edge.sum())
            rows.append(r)
        show("margin", rows)
    if "refit" not in args.skip:
        show("refit", [_row(f"refit={r}", *_fit(pts, chi2, hp, refit=r), tpts, tchi2)
                       for r in (True, False)])
    if "onestage" not in args.skip:
        m, s = _fit(pts, chi2, hp)
        show("huge_values", [_row("two-stage (gate + region regressor)", m, s, tpts, tchi2),
                             one_stage(pts, chi2, tpts, tchi2, hp, "capped"),
                             one_stage(pts, chi2, tpts, tchi2, hp, "log")])
    if "learning" not in args.skip:
        sizes = [n for n in (250, 500, 1000, 2000, 3000, 4000, 6000) if n < len(pts)] + [len(pts)]
        settings = {k: hp["settings"][k] for k in sg.FIT_SETTINGS if k != "seed"}
        lc = sg.learning_curve(pts, chi2, tpts, tchi2, sizes, seed=0, gate_params=hp["gate"],
                               regressor_params=hp["regressor"], **settings)
        show("learning_curve", lc.to_dict("records"))
    if args.write and not args.toy:
        path = sg.HYPERPARAMETERS_PATH.with_name("surrogate_choices.json")
        out["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out["train_file"] = args.train_file or "shipped train"
        out["holdout_file"] = args.holdout_file or "shipped holdout"
        out["train_data_hash"] = sg.training_data_hash(pts, chi2)
        path.write_text(json.dumps(out, indent=2, default=float) + "\n")
        print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
