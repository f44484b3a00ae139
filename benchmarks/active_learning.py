"""Active learning vs Latin-hypercube sampling at equal budgets (medians over seeds).

    python benchmarks/active_learning.py [--seeds 5] [--quick] [--live-seeds 0] [--only-live]

(a) Analytic toy functions with known regions (teaching aids, not physics): Himmelblau and Branin
    (2-D), Hartmann (6-D). Both methods evaluate the function live; the learner starts from a
    seeded LHS and asks batches; the baseline is a seeded LHS of the full budget fitted by an
    identical learner. Scores on a uniform reference sample against the true minimum.

(b) The ALP fit with the **leading-log** χ² as the truth. Live leading-log evaluation (~0.9 s per
    point per core) is too expensive for a multi-seed study, so this part is **pool-based**: both
    methods may only "evaluate" points that the data-set recipe already evaluated with the
    leading-log integrator — the committed stores ``datasets/train/{prescan,focus}`` (the pool,
    ≈5,200 points) — and are scored on the independent hold-out recipe's leading-log points
    ``datasets/holdout/{prescan,focus}`` (the reference: its Latin hypercube ``prescan``, which
    samples the box uniformly, and its region-enriched ``focus`` points, reported separately). The
    "LHS" baseline is a seeded LHS of the budget, each point replaced by its nearest free pool
    point. The true region is Δχ² < REGION_DELTA_CHI2 relative to the smallest χ² of pool and
    reference together. Because the pool itself is region-enriched, the pool restricts what active
    learning can choose from. A GP fitted to the *whole* pool is printed for comparison, and the
    output transforms of the learner are compared at one budget.

    The points each method chose are then used as training sets of the course's **two-stage
    surrogate** (gradient-boosted trees, shipped tuned hyperparameters) — which is what a training
    set is for — and validated on the same reference; the surrogate trained on the whole pool shows
    where that curve saturates.

(c) With ``--live-seeds N`` (default 0: it takes ~10 min per seed): the ALP comparison without
    a pool — both methods evaluate the χ² **live** through the engine (cached per point by
    :func:`lecture_utils.data.evaluate_cached` under the name ``al-live``, so a rerun is quick),
    exactly like the toys in (a): the learner from a 50-point seeded LHS in batches of 25, the
    baseline a seeded LHS of each budget. The truth (``--live-truth``) is by default the
    **tabulated exact** χ² (ALPaca's exact running tabulated, ≈0.3 s per point), scored on the
    shipped ``dense`` set — 20,000 points with the same χ² (a 4,000-point Latin hypercube and
    16,000 region-enriched points) — against its smallest χ²; ``leadinglog`` uses the hold-out's
    leading-log points as in (b). This removes the pool's restriction on what the learner may
    choose.

The ALP learner is :func:`lecture_utils.active.alp_learner`: its region model is the committee of
boosted-tree classifiers on physics features (``ALP_REGION_MODEL``); (b) also prints the GP learner
(``region_model="gp"``) on the same pool for comparison.

Region error = (points wrongly inside + wrongly outside) / points truly inside, on the reference
(for the surrogate: its gate's confusion). Region MAE (gated) = mean |predicted − true χ²| over the
true-region reference points that the learner also classifies inside; the surrogate's region MAE is
its regressor's error on all true-region points (the tutorial's definition).

Exact-evaluation estimate: a power law ``MAE = a n^(−b)`` is fitted to the median region MAE versus
budget (learner; surrogate on active points; surrogate on LHS points) on the leading-log pool and
solved for the tutorial's 0.143. This assumes that the exact χ² is as learnable as the leading-log
one (their difference inside the region has a standard deviation of ~0.5) and that the
power law holds beyond the measured budgets — an extrapolation, stated as such.

The last line reads ``region-error ratio LHS/AL: <x>`` — for the ALP problem at the largest
budget, on the whole reference: from the live comparison (c) when it ran, else from the pool (b).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("LECTURE_UTILS_PROGRESS", "0")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lecture_utils import active, alps, data  # noqa: E402
from lecture_utils import surrogate as sg  # noqa: E402
from lecture_utils.stats import REGION_DELTA_CHI2  # noqa: E402

TUTORIAL_REGION_MAE = sg.TUTORIAL_REGION_MAE  # quoted once, in lecture_utils.surrogate

TOYS: dict[str, tuple[list[int], int]] = {
    "himmelblau": ([40, 80], 8),
    "branin": ([40, 80], 8),
    "hartmann6": ([100, 200], 10),
}
"""Toy problem → (budgets, batch size)."""

ALP_BUDGETS = [100, 200, 400, 800]


class LiveALPProblem:
    """The ALP fit as a problem for :func:`active.compare_on_function`: live evaluations with
    ``integrator`` through the engine (failed ones count as far outside).

    ``"tabulated"`` (default; ALPaca's exact running, tabulated — ≈0.3 s per point): reference =
    the shipped ``dense`` set (20,000 points with the same χ²: its 4,000-point Latin hypercube
    ``dense-prescan`` and its region-enriched ``dense-focus``), true minimum = its smallest χ².
    ``"leadinglog"``: reference = the hold-out's leading-log points, minimum = the smallest
    leading-log χ² of pool and reference."""

    delta = REGION_DELTA_CHI2
    dim = len(alps.PARAMETERS)

    def __init__(self, integrator: str = "tabulated") -> None:
        self.integrator = integrator
        self.name = f"alp-{integrator}-live"
        if integrator == "tabulated":
            dense = data.load("dense")
            self.ref_x = dense[list(alps.PARAMETERS)].to_numpy(dtype=float)
            self.ref_y = dense["chi2"].to_numpy(dtype=float)
            self.ref_labels = dense["origin"].to_numpy()
            self.minimum = float(self.ref_y.min())
        else:
            _, pool_y, self.ref_x, self.ref_y, self.ref_labels = alp_arrays()
            self.minimum = float(min(pool_y.min(), self.ref_y.min()))
        self.n_evaluations = 0
        self.pool = None                  # one worker pool for all batches (started lazily)

    def surrogate_on(self, method: str, budget: int, learner: active.Learner) -> dict[str, float]:
        """The course's two-stage surrogate trained on the learner's evaluated points, validated
        on the reference (:func:`active.surrogate_scores`), columns prefixed ``surrogate_``."""
        scores = active.surrogate_scores(learner.points, learner.values, self.ref_x, self.ref_y,
                                         chi2_min=self.minimum)
        return {f"surrogate_{k}": v for k, v in scores.items() if k != "n_train"}

    def function(self, x: np.ndarray) -> np.ndarray:
        from lecture_utils import engine

        if self.pool is None:
            self.pool = engine.local_pool(2)
        self.n_evaluations += len(x)
        chi2 = data.evaluate_cached(np.asarray(x), self.integrator, name="al-live",
                                    executor=self.pool)["chi2"].to_numpy(dtype=float)
        return np.where(np.isfinite(chi2), chi2, 1e12)

    def reference(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ref_x, self.ref_y

    def learner(self, seed: int = 0, **options: object) -> active.Learner:
        return active.alp_learner(seed=seed, **options)


def part_c(seeds: range, budgets: list[int], integrator: str = "tabulated") -> pd.DataFrame:
    problem = LiveALPProblem(integrator)
    rows = []
    try:
        for seed in seeds:
            t0 = time.perf_counter()
            res = active.compare_on_function(problem, budgets, seed=seed, n_initial=50,
                                             batch_size=25, on_budget=problem.surrogate_on)
            rows.append(res)
            print(f"  ALP live ({integrator}), seed {seed}: {time.perf_counter() - t0:.0f} s "
                  f"({problem.n_evaluations} evaluations so far)", flush=True)
            print(res[["method", "budget", "region_error", "iou", "surrogate_region_error",
                       "surrogate_region_mae"]].to_string(), flush=True)
    finally:
        if problem.pool is not None:
            problem.pool.shutdown()
    return pd.concat(rows, ignore_index=True)


def report_live(live: pd.DataFrame) -> pd.DataFrame:
    """Print the live comparison (c): the learners' region error, the surrogate trained on each
    design's points, and the surrogate's learning curve extrapolated to the tutorial's MAE.
    Returns the learners' median region-error table."""
    live_err = _median_table(live, ["budget"], "region_error")
    sur = {"learner region error": live_err,
           "surrogate gate region error": _median_table(live, ["budget"],
                                                        "surrogate_region_error"),
           "surrogate region MAE": _median_table(live, ["budget"], "surrogate_region_mae")}
    print(pd.concat(sur, axis=1).to_string())
    for method in ("active", "lhs"):
        curve = sur["surrogate region MAE"][method]
        fit = active.learning_curve_fit(curve.index.to_numpy(), curve.to_numpy(),
                                        TUTORIAL_REGION_MAE)
        print(f"learning curve (surrogate on {method} points, live): MAE = {fit['a']:.3g} "
              f"n^({-fit['b']:.3g}) over n = {list(curve.index)}; reaches "
              f"{TUTORIAL_REGION_MAE} at n ≈ {fit['n_target']:.3g} (extrapolated)")
    return live_err


def _median_table(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    table = df.groupby([*by, "method"])[value].median().unstack("method")
    table["LHS/AL"] = table["lhs"] / table["active"]
    return table


def part_a(seeds: range) -> pd.DataFrame:
    rows = []
    for name, (budgets, batch) in TOYS.items():
        problem = active.TOY_PROBLEMS[name]
        t0 = time.perf_counter()
        for seed in seeds:
            res = active.compare_on_function(problem, budgets, seed=seed, batch_size=batch,
                                             n_reference=50_000)
            rows.append(res.assign(problem=name))
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return pd.concat(rows, ignore_index=True)


def alp_arrays() -> tuple[np.ndarray, ...]:
    pool = active.leadinglog_pool("train")
    ref = active.leadinglog_pool("holdout")
    cols = list(alps.PARAMETERS)
    return (pool[cols].to_numpy(), pool["chi2"].to_numpy(), ref[cols].to_numpy(),
            ref["chi2"].to_numpy(), ref["origin"].to_numpy())


def part_b(seeds: range, budgets: list[int], region_model: str | None = None
           ) -> tuple[pd.DataFrame, float, list[active.PoolComparison]]:
    """Pool comparison with :func:`active.alp_learner` (its default region model, or
    ``region_model``)."""
    options = {} if region_model is None else {"region_model": region_model}

    def factory(seed: int) -> active.Learner:
        return active.alp_learner(seed=seed, **options)

    pool_x, pool_y, ref_x, ref_y, ref_origin = alp_arrays()
    value_min = float(min(pool_y.min(), ref_y.min()))
    rows, runs = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        res = active.compare_on_pool(pool_x, pool_y, ref_x, ref_y, budgets, seed=seed,
                                     n_initial=50, batch_size=25, value_min=value_min,
                                     ref_labels=ref_origin, learner_factory=factory)
        rows.append(res.metrics)
        runs.append(res)
        print(f"  ALP pool ({region_model or 'default'}), seed {seed}: "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return pd.concat(rows, ignore_index=True), value_min, runs


def surrogate_on_chosen(runs: list[active.PoolComparison], budgets: list[int],
                        value_min: float) -> pd.DataFrame:
    """The course's two-stage surrogate (shipped tuned hyperparameters) trained on the pool
    points each method chose, validated on the reference (:func:`active.surrogate_scores`):
    regressor MAE on the true region and the gate's region error; plus the whole pool."""
    pool_x, pool_y, ref_x, ref_y, _ = alp_arrays()

    def scores(idx: np.ndarray) -> dict[str, float]:
        return active.surrogate_scores(pool_x[idx], pool_y[idx], ref_x, ref_y,
                                       chi2_min=value_min)

    rows = []
    for seed, run in enumerate(runs):
        for b in budgets:
            for method, idx in (("active", run.chosen["active"][:b]),
                                ("lhs", run.chosen[f"lhs-{b}"])):
                rows.append({"seed": seed, "budget": b, "method": method}
                            | scores(np.asarray(idx)))
    rows.append({"seed": -1, "budget": len(pool_x), "method": "whole pool"}
                | scores(np.arange(len(pool_x))))
    return pd.DataFrame(rows)


def whole_pool(value_min: float, region_model: str) -> dict[str, float]:
    """The learner's region model conditioned on the whole pool (all ≈5,200 points)."""
    pool_x, pool_y, ref_x, ref_y, _ = alp_arrays()
    learner = active.alp_learner(seed=0, max_points=len(pool_x), region_model=region_model)
    learner.tell(pool_x, pool_y)
    return active.region_metrics(ref_y, learner.region_estimate(ref_x), learner.predict(ref_x),
                                 value_min=value_min, delta=REGION_DELTA_CHI2)


TRANSFORM_VARIANTS: dict[str, dict[str, object]] = {
    "log1p, s = 1 (alp_learner default)": {},
    "log1p, s = delta": {"transform_scale": REGION_DELTA_CHI2},
    "cap at 3 delta": {"transform": "cap"},
}
"""Output transforms compared (``"none"`` is hopeless for χ² values up to 1e16)."""


def transforms(seeds: range, budget: int, value_min: float) -> pd.DataFrame:
    """GP learner with each output transform at one budget (the choice is measured)."""
    pool_x, pool_y, ref_x, ref_y, _ = alp_arrays()
    rows = []
    for name, options in TRANSFORM_VARIANTS.items():
        for seed in seeds:
            res = active.compare_on_pool(
                pool_x, pool_y, ref_x, ref_y, [budget], seed=seed, n_initial=50, batch_size=25,
                value_min=value_min, methods=("active",),
                learner_factory=lambda seed, o=options: active.alp_learner(
                seed=seed, region_model="gp", **o))
            rows.append(res.metrics.assign(transform=name))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="seeds per comparison (medians)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, smaller ALP budgets")
    ap.add_argument("--live-seeds", type=int, default=0,
                    help="seeds of the live comparison (c), budgets ALP_BUDGETS")
    ap.add_argument("--live-truth", default="tabulated", choices=("tabulated", "leadinglog"),
                    help="χ² evaluated live in (c)")
    ap.add_argument("--only-live", action="store_true", help="run only (c)")
    args = ap.parse_args()
    n_seeds = 2 if args.quick else args.seeds
    seeds = range(n_seeds)
    budgets = ALP_BUDGETS[:3] if args.quick else ALP_BUDGETS
    pd.set_option("display.width", 120)
    pd.options.display.float_format = "{:.3g}".format
    t_start = time.perf_counter()
    if args.only_live:
        live = part_c(range(max(1, args.live_seeds)), budgets, args.live_truth)
        live_err = report_live(live)
        print(f"region-error ratio LHS/AL: {float(live_err['LHS/AL'].iloc[-1]):.2f}")
        return

    print(f"(a) analytic toy functions, {n_seeds} seeds (live evaluations)", flush=True)
    toys = part_a(seeds)
    print(_median_table(toys, ["problem", "budget"], "region_error").to_string())
    print("median region MAE:")
    print(_median_table(toys, ["problem", "budget"], "region_mae").to_string())

    print(f"\n(b) ALP fit, leading-log χ² as truth, pool-based, {n_seeds} seeds", flush=True)
    alp, value_min, runs = part_b(seeds, budgets)
    err = _median_table(alp, ["reference", "budget"], "region_error")
    print(f"median region error, ALP learner (region model {active.ALP_REGION_MODEL!r}; "
          "reference: all = hold-out prescan + focus):")
    print(err.to_string())

    gp_alp, _, _ = part_b(seeds, budgets, region_model="gp")
    gp_err = _median_table(gp_alp, ["reference", "budget"], "region_error")
    print("the same with the GP learner (region_model='gp'), median region error:")
    print(gp_err.loc["all"].to_string())
    mae = _median_table(gp_alp, ["reference", "budget"], "region_mae_gated")
    print("GP learner: median gated region MAE [χ²] (the GP's values behind its own estimate):")
    print(mae.loc["all"].to_string())
    for model in active.REGION_MODELS:
        whole = whole_pool(value_min, model)
        print(f"{model} conditioned on the whole pool ({whole['n_reference']} reference points): "
              f"region error {whole['region_error']:.3f}")

    tr = transforms(range(min(n_seeds, 3)), budgets[-2], value_min)
    print(f"output transform of the GP learner at budget {budgets[-2]} (median):")
    print(tr.groupby("transform")[["region_error", "region_mae_gated"]].median().to_string())

    t0 = time.perf_counter()
    sur_all = surrogate_on_chosen(runs[:3], budgets, value_min)
    sur = sur_all[sur_all["method"] != "whole pool"]
    whole_sur = sur_all[sur_all["method"] == "whole pool"].iloc[0]
    print(f"\ntwo-stage surrogate trained on the chosen pool points ({min(3, n_seeds)} seeds, "
          f"{time.perf_counter() - t0:.0f} s), validated on the whole reference:")
    sur_err = _median_table(sur, ["budget"], "region_error")
    sur_mae = _median_table(sur, ["budget"], "region_mae")
    print(pd.concat({"gate region error": sur_err, "regressor region MAE": sur_mae},
                    axis=1).to_string())
    print(f"surrogate trained on the whole pool ({int(whole_sur['budget'])} points): gate region "
          f"error {whole_sur['region_error']:.3f}, regressor region MAE "
          f"{whole_sur['region_mae']:.3f}")

    for name, curve in (("GP learner, gated region MAE", mae.loc["all", "active"]),
                        ("surrogate on active points, region MAE", sur_mae["active"]),
                        ("surrogate on LHS points, region MAE", sur_mae["lhs"])):
        fit = active.learning_curve_fit(curve.index.to_numpy(), curve.to_numpy(),
                                        TUTORIAL_REGION_MAE)
        print(f"learning curve ({name}): MAE = {fit['a']:.3g} n^({-fit['b']:.3g}) over "
              f"n = {list(curve.index)}; reaches {TUTORIAL_REGION_MAE} at n ≈ "
              f"{fit['n_target']:.3g} (extrapolated; exact assumed as learnable as leading-log)")

    live_err = None
    if args.live_seeds > 0:
        print(f"\n(c) ALP fit, {args.live_truth} χ² evaluated live, {args.live_seeds} seed(s)",
              flush=True)
        live = part_c(range(args.live_seeds), budgets, args.live_truth)
        live_err = report_live(live)

    toy_ratios = {name: float(_median_table(toys[toys["problem"] == name], ["budget"],
                                            "region_error")["LHS/AL"].iloc[-1])
                  for name in TOYS}
    ratio = float(err.loc[("all", budgets[-1]), "LHS/AL"])
    if live_err is not None:
        print(f"pool-based (b) ratio at {budgets[-1]}: {ratio:.2f}; the last line is the live "
              "comparison (c): real evaluations, no pool restricting the learner")
        ratio = float(live_err["LHS/AL"].iloc[-1])
    print("toy ratios at the largest budget: "
          + ", ".join(f"{k} {v:.2f}" for k, v in toy_ratios.items())
          + f"; total {time.perf_counter() - t_start:.0f} s")
    print(f"region-error ratio LHS/AL: {ratio:.2f}")


if __name__ == "__main__":
    main()
