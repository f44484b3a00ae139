"""Exact vs tabulated running: cost per point and agreement, side by side in one process.

    python benchmarks/tabulated.py [--n 8] [--seed 0]

Evaluates the same seeded hold-out points (inside the region of interest) with
``integrator="exact"`` (ALPaca's numerical running per point) and ``integrator="tabulated"``
(the exact running per unit coupling, tabulated once in f_a:
:func:`lecture_utils.alps.exact_running_table`), serially in this process after ALPaca is
imported and primed. Prints both timings, the χ² differences and, last,
``speedup: <x>; max |Δχ²|: <y>``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lecture_utils import alps, data
from lecture_utils.stats import REGION_DELTA_CHI2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    holdout = data.load("holdout")
    region = holdout[holdout["chi2"] < holdout["chi2"].min() + REGION_DELTA_CHI2]
    pick = region.sample(n=args.n, random_state=args.seed)
    points = pick[list(alps.PARAMETERS)].to_numpy()
    alps.load_alpaca()                      # import and prime ALPaca before timing
    alps.exact_running_table()          # load the shipped table before timing
    alps.chi2(points[:1], "tabulated")  # first χ² call sets up ALPaca's observables

    timings, values = {}, {}
    for integrator in ("exact", "tabulated"):
        t0 = time.perf_counter()
        values[integrator] = alps.chi2(points, integrator)
        timings[integrator] = (time.perf_counter() - t0) / len(points)
        print(f"{integrator:>10}: {timings[integrator]:.3f} s per point")
    diff = np.abs(values["tabulated"] - values["exact"])
    stored = np.abs(values["exact"] - pick["chi2"].to_numpy())
    print(f"exact recomputed vs stored: max |Δχ²| {stored.max():.2e}")
    print(f"tabulated vs exact: mean |Δχ²| {diff.mean():.4f}, max {diff.max():.4f}")
    print(f"speedup: {timings['exact'] / timings['tabulated']:.1f}; max |Δχ²|: {diff.max():.4f}")


if __name__ == "__main__":
    main()
