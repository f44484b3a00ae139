"""Compiled surrogate vs XGBoost: latency and throughput per batch size, side by side in one run.

    python benchmarks/compiled.py [--model default|toy] [--repeats 5] [--budget 8] [--threads N]
                                  [--explore]

Backends, all on the regressor stage of the surrogate and the same float32 feature matrices:

* ``XGBRegressor.predict`` — the scikit-learn wrapper (what the tutorial timed), ``n_jobs`` =
  ``--threads``;
* ``predict(DMatrix)`` — ``Booster.predict(xgb.DMatrix(x))``, the classic path;
* ``inplace_predict`` — ``Booster.inplace_predict(x)`` with ``nthread`` = ``--threads`` (the
  baseline of the last line), and for information also with one thread;
* ``compiled`` — the tl2cgen library through one C call per batch (``--threads`` threads);
* ``dispatcher`` — :class:`lecture_utils.compiled.BoosterPredictor`: compiled below the measured
  crossover, ``inplace_predict`` above it.

Within each batch size the backends are timed side by side by
:func:`lecture_utils.compiled.measure`: interleaved blocks of calls on different batches, each
block after a short pause (so that XGBoost's OpenMP threads stop spinning), at least ``--repeats``
rounds and more while ``--budget`` seconds per batch size last; times are medians over all calls,
ratios are paired (median over rounds of the ratio within a round), so load from other processes
hits all backends alike. The ratios are the result, not the absolute times.

The model is :func:`lecture_utils.surrogate.default_surrogate` if its shipped training data
are present, otherwise (or with ``--model toy``) a stand-in trained on the synthetic toy χ² with the
default hyperparameters (depth 6, up to 500 trees; a test aid, not physics). Libraries are compiled
into a fresh temporary cache, so the compile time printed is a cold build.

``--explore`` also compiles the regressor with other layouts and options (the ``"simd"``
layout's scalar walk, ``-O2``, row by row; the branch-free ``"arrays"`` layout; tl2cgen's if-else
code with and without folded missing-value tests, tl2cgen's own row-wise layout, other block
sizes, ``-O0``/``-O2``, branch annotation from the training features, ``quantize``) and prints
their build time, verification result and single-threaded speed relative to the default, paired
(the measurements behind :data:`lecture_utils.compiled.DEFAULT_OPTIONS`).

The machine's load matters: XGBoost's OpenMP threads wait for each other at the end of every
parallel region, so on a machine whose cores are busy with other work a multi-threaded
``inplace_predict`` of even one row can take milliseconds. ``--threads 1`` removes that effect
from all backends; run both.

The stage table ends with ``single-row speedup: <x>; worst batch ratio vs inplace_predict: <y>``
with ``x`` = time of ``XGBRegressor.predict`` / time of the dispatcher for one row and ``y`` the
smallest ratio time(inplace_predict) / time(dispatcher) over all batch sizes, both with
``--threads`` threads; ratios are paired (median over rounds of the ratio within a round). The
table also shows the ratio against ``inplace_predict`` with one thread.

Then the **whole surrogate** from physical points (features — for ``"running"`` the interpolated
running table —, gate, regressor, smooth combination), per batch size, on distinct random points
of the domain:

* ``surrogate (xgboost)`` — ``TwoStageSurrogate.predict_smooth`` of the plain surrogate: numpy
  features, both stages by ``inplace_predict`` with ``--threads`` threads, numpy combination
  (the same work as the compiled call);
* ``whole (compiled)`` — ``CompiledSurrogate.predict_smooth``: one call of the compiled
  whole-surrogate extension (:mod:`lecture_utils.compiled.whole`), ``--threads`` threads;
* ``stage by stage`` — the same compiled surrogate with its whole-surrogate call switched off
  (numpy features, one compiled call per stage, numpy combination), for information.

The last line reads ``single-point speedup (whole surrogate): <x>; worst batch ratio vs
inplace_predict: <y>`` with ``x`` = time(surrogate (xgboost)) / time(whole (compiled)) for one
point and ``y`` the smallest such ratio over all batch sizes (paired ratios).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
import time
import warnings
from typing import Any

import numpy as np

BATCHES = (1, 10, 100, 1_000, 10_000, 100_000)


def load_model(which: str) -> tuple[Any, str]:
    """The surrogate to benchmark and a description of it."""
    from lecture_utils import surrogate as sg
    from lecture_utils.testing import toy_dataset

    if which == "default":
        try:
            return sg.default_surrogate(), "default_surrogate() (shipped training data)"
        except FileNotFoundError as exc:
            print(f"note: default_surrogate() unavailable ({str(exc).splitlines()[0][:90]}…); "
                  "using the toy stand-in")
    pts, chi2 = toy_dataset(20_000, seed=1)
    model = sg.TwoStageSurrogate.fit(pts, chi2, max_estimators=500, seed=0, n_jobs=2)
    return model, "toy stand-in (synthetic χ², default hyperparameters, ≤ 500 trees)"


def inputs(model: Any, n: int, seed: int = 7) -> np.ndarray:
    """Features of hold-out-like points: half region-enriched toy points, half uniform."""
    from lecture_utils import alps
    from lecture_utils.testing import toy_dataset

    rng = np.random.default_rng(seed)
    pts = np.concatenate([toy_dataset(n // 2 + 1, seed=seed + 1)[0],
                          alps.DOMAIN.from_unit(rng.random((n - n // 2, 6)))])[:n]
    return model.features(pts[rng.permutation(n)])


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.3f} s "


def explore(model: Any, x: np.ndarray, repeats: int) -> None:
    """Build the regressor with other options; verify each against XGBoost and time it."""
    from lecture_utils import compiled as cp
    from lecture_utils import surrogate as sg

    booster = model.regressor.get_booster().copy()
    booster.set_param({"nthread": 1})
    half = -(-booster.num_boosted_rounds() // 2)
    try:  # branch statistics from the training inputs (what a sampler mostly visits)
        sample = model.features(sg.training_arrays("train")[0])
        sample_what = "training features"
    except FileNotFoundError:
        sample = np.ascontiguousarray(x[:2000])
        sample_what = "benchmark inputs"
    default = "simd O1 blk1024 *"
    ie = {"layout": "if-else"}
    variants = {
        default: cp.CompileOptions(),                      # * = DEFAULT_OPTIONS
        "simd, O2": cp.CompileOptions(opt_level=2),
        "simd, row-wise": cp.CompileOptions(block_rows=0),
        "simd, scalar walk": cp.CompileOptions(),          # built with $LECTURE_UTILS_SIMD=scalar
        "arrays layout": cp.CompileOptions(layout="arrays"),
        "arrays layout, O2": cp.CompileOptions(layout="arrays", opt_level=2),
        "if-else 8/unit fold": cp.CompileOptions(**ie),
        "if-else, no fold": cp.CompileOptions(**ie, fold_missing=False),
        "if-else, row-wise": cp.CompileOptions(**ie, block_rows=0),
        "tl2cgen layout": cp.CompileOptions(**ie, trees_per_unit=half, block_rows=0,
                                            fold_missing=False),
        "if-else, blk256": cp.CompileOptions(**ie, block_rows=256),
        "if-else, O0": cp.CompileOptions(**ie, opt_level=0),
        "if-else, O2": cp.CompileOptions(**ie, opt_level=2),
        "if-else, annotate_in": cp.CompileOptions(**ie, annotate=True),
        "if-else, quantize": cp.CompileOptions(**ie, quantize=True),
    }
    print(f"\noption exploration (regressor, single-threaded; annotation from {sample_what}; "
          "paired ratios to the default, < 1: faster)")
    libs: dict[str, Any] = {}
    for name, opt in variants.items():
        t0 = time.perf_counter()
        try:
            scalar = name == "simd, scalar walk"
            if scalar:
                os.environ[cp.SIMD_ENV] = "scalar"
            try:
                lib = cp.compile_booster_library(booster, options=opt, use_cache=False,
                                                 sample=sample if opt.annotate else None)
            finally:
                if scalar:
                    del os.environ[cp.SIMD_ENV]
            libs[name] = lib
            status = "verified"
        except cp.CompilationError as exc:
            status = "REJECTED: " + str(exc).splitlines()[0][:110]
        print(f"  {name:<26} build {time.perf_counter() - t0:6.1f} s   {status}")
    funcs: dict[str, Any] = {k: v.predict for k, v in libs.items()}
    funcs["inplace_predict (1 thr)"] = booster.inplace_predict
    results = {}
    for n in (1, 64, 10_000):
        batches = [np.ascontiguousarray(x[i * n:(i + 1) * n]) for i in range(len(x) // n)]
        results[n] = cp.measure(funcs, batches, rounds=max(3, repeats) * (3 if n < 100 else 1),
                                block_s=0.01)
    print(f"  {'options':<26}" + "".join(f"{f'µs/row @{n}':>14}{'ratio':>7}" for n in results))
    for k in funcs:
        print(f"  {k:<26}" + "".join(f"{t[k] * 1e6 / n:>14.3f}{t.ratio(k, default):>7.2f}"
                                     for n, t in results.items()))


def whole_surrogate_rows(model: Any, comp: Any, n_threads: int, rounds: int,
                         budget: float) -> list[tuple[int, float]]:
    """Time the whole surrogate per batch size (see the module docstring); print the table and
    return (batch, paired ratio surrogate (xgboost) / whole (compiled)) per batch size."""
    from lecture_utils import compiled as cp

    plain = copy.deepcopy(model).set_n_jobs(n_threads)  # inplace_predict with n_threads
    staged = copy.copy(comp)
    staged.whole = None  # the same compiled stages, called one by one
    if comp.whole is None:
        print("\nwhole surrogate: no whole-surrogate call (compilation fell back)")
    lo, hi = model.domain.T
    u = np.random.default_rng(3).random((2 * max(BATCHES), 6))
    points = lo + u * (hi - lo)
    points[:, 0] = np.exp(np.log(lo[0]) + u[:, 0] * (np.log(hi[0]) - np.log(lo[0])))
    for n in BATCHES[:3]:  # the three paths agree (float32 rounding)
        ref = plain.predict_smooth(points[:n])
        np.testing.assert_allclose(comp.predict_smooth(points[:n]), ref, rtol=1e-5, atol=1e-3)
    funcs = {"surrogate (xgboost)": plain.predict_smooth, "whole (compiled)": comp.predict_smooth,
             "stage by stage": staged.predict_smooth}
    print(f"\nwhole surrogate from physical points ({model.transform!r} features, both stages, "
          f"smooth combination), median time per call, {n_threads} thread(s); paired ratios")
    print(f"{'batch':>7}" + "".join(f"{k:>22}" for k in funcs)
          + f"{'xgboost / whole':>17}{'q25–q75':>14}{'staged / whole':>16}{'rounds':>8}")
    rows = []
    for n in BATCHES:
        batches = cp.timing.distinct_batches(points, n)
        t = cp.measure(funcs, batches, rounds=rounds, block_s=0.01, budget_s=budget)
        q25, q75 = t.ratio_quartiles("surrogate (xgboost)", "whole (compiled)")
        ratio = t.ratio("surrogate (xgboost)", "whole (compiled)")
        rows.append((n, ratio))
        print(f"{n:>7}" + "".join(f"{fmt(t[k]):>22}" for k in funcs)
              + f"{ratio:>17.2f}{q25:>8.2f}–{q75:.2f}"
              + f"{t.ratio('stage by stage', 'whole (compiled)'):>16.2f}"
              + f"{len(t.rounds['whole (compiled)']):>8}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("default", "toy"), default="default")
    ap.add_argument("--repeats", type=int, default=5, help="rounds per batch size (≥ 3)")
    ap.add_argument("--budget", type=float, default=8.0,
                    help="seconds per batch size: more rounds while they last (default 8)")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: all CPUs)")
    ap.add_argument("--explore", action="store_true", help="also compare compile options")
    ap.add_argument("--keep-cache", action="store_true",
                    help="use the normal cache instead of a fresh temporary one")
    args = ap.parse_args()

    import xgboost as xgb

    from lecture_utils import compiled as cp

    tmp = None
    if not args.keep_cache:
        tmp = tempfile.TemporaryDirectory(prefix="lecture_utils_bench_")
        os.environ["LECTURE_UTILS_CACHE"] = tmp.name
    model, what = load_model(args.model)
    n_threads = args.threads or cp.default_threads()
    x_all = inputs(model, max(BATCHES))

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always", cp.CompilationFallbackWarning)
        comp = cp.compile_surrogate(model, n_threads=n_threads)
    t_build = time.perf_counter() - t0
    cp.clear_memo()
    t0 = time.perf_counter()
    cp.compile_surrogate(model, n_threads=n_threads)
    t_load = time.perf_counter() - t0
    pred = comp.predictors["regressor"]
    info = comp.compile_info()

    reg = copy.deepcopy(model.regressor)  # every XGBoost path runs with n_threads threads
    reg.set_params(n_jobs=n_threads)
    booster = pred.booster  # the dispatcher's own copy: nthread = n_threads
    booster_1 = booster.copy()
    booster_1.set_param({"nthread": 1})
    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
          f"threads {n_threads}")
    print(f"model: {what}; gate {info['gate']['n_trees']} trees, regressor "
          f"{info['regressor']['n_trees']} trees; xgboost {xgb.__version__}")
    if not pred.is_compiled:
        print("compilation FAILED: every backend below is xgboost")
    for stage in ("gate", "regressor"):
        s = info[stage]
        if s["compiled"]:
            print(f"compile {stage:<9}: code generation {s['codegen_s']:.1f} s, gcc "
                  f"{s['compile_s']:.1f} s, {s['generated_lines']:,} lines of C; crossover "
                  f"{s['crossover']:.0f} rows")
    print(f"compile_surrogate: cold build (both stages, verification, calibration) "
          f"{t_build:.1f} s; cached load {t_load * 1e3:.0f} ms")
    if pred.calibration is not None:
        print("calibration (regressor):")
        print(pred.calibration.table().to_string(index=False, float_format="%.1f"))

    names = ("XGBRegressor.predict", "predict(DMatrix)", "inplace (1 thread)",
             "inplace_predict", "compiled", "dispatcher")
    pairs = (("XGBRegressor.predict", "dispatcher"), ("inplace_predict", "compiled"),
             ("inplace_predict", "dispatcher"), ("inplace (1 thread)", "dispatcher"))
    table = cp.speed_table(
        pred, x_all, BATCHES, rounds=max(3, args.repeats), ratios=pairs, budget_s=args.budget,
        quartiles=True,
        baselines={"XGBRegressor.predict": reg.predict,
                   "predict(DMatrix)": lambda x: booster.predict(xgb.DMatrix(x,
                                                                             nthread=n_threads)),
                   "inplace (1 thread)": booster_1.inplace_predict})
    for n in BATCHES:
        x = np.ascontiguousarray(x_all[:n])
        ref = booster.inplace_predict(x)
        assert np.allclose(pred.predict(x), ref, rtol=0, atol=cp.tolerance(ref, pred.n_trees))

    print(f"\nmedian time per call (regressor stage; backends measured side by side; "
          f"XGBoost and compiled with {n_threads} thread(s) unless noted)")
    print(f"{'batch':>7}" + "".join(f"{k:>21}" for k in names) + f"{'dispatch':>10}")
    for _, r in table.iterrows():
        print(f"{int(r['batch']):>7}"
              + "".join(f"{fmt(r[k] * 1e-6) if k in r else '—':>21}" for k in names)
              + f"{r['backend']:>10}")
    print("\npaired ratios a / b of the times (> 1: b is faster; median over rounds)")
    heads = [f"{a.split('.')[0].split(' (')[0]}{' 1thr' if '1 thread' in a else ''} / {b}"
             for a, b in pairs]
    print(f"{'batch':>7}{'rows/s dispatcher':>19}" + "".join(f"{h:>27}" for h in heads)
          + f"{'rounds':>8}{'inplace / dispatcher q25–q75':>30}")
    key = "inplace_predict / dispatcher"
    for _, r in table.iterrows():
        print(f"{int(r['batch']):>7}{r['batch'] / (r['dispatcher'] * 1e-6):>19,.0f}"
              + "".join(f"{r.get(f'{a} / {b}', float('nan')):>27.2f}" for a, b in pairs)
              + f"{int(r['rounds']):>8}{r[key + ' q25']:>21.2f} – {r[key + ' q75']:.2f}")

    same = np.ascontiguousarray(x_all[:1])
    t_same = cp.measure({"XGBRegressor.predict": lambda: reg.predict(same),
                         "dispatcher": lambda: pred.predict(same)}, rounds=max(3, args.repeats))
    print(f"\none row, the SAME row every call (how the tutorial timed it; the branch predictor "
          f"learns the row): XGBRegressor.predict {fmt(t_same['XGBRegressor.predict']).strip()}, "
          f"dispatcher {fmt(t_same['dispatcher']).strip()} "
          f"({t_same.ratio('XGBRegressor.predict', 'dispatcher'):.1f}×); the table above cycles "
          f"through different rows")

    whole_table = whole_surrogate_rows(model, comp, n_threads, max(3, args.repeats),
                                       args.budget)

    if args.explore:
        explore(model, x_all, max(3, args.repeats))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    first = table.iloc[0]
    single = first["XGBRegressor.predict / dispatcher"]
    worst = float(table["inplace_predict / dispatcher"].min())
    if tmp is not None:
        tmp.cleanup()
    print(f"single-row speedup: {single:.1f}; worst batch ratio vs inplace_predict: {worst:.2f}")
    ratios = [r for _, r in whole_table]
    print(f"single-point speedup (whole surrogate): {ratios[0]:.1f}; worst batch ratio vs "
          f"inplace_predict: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
