"""Tests of the compiled surrogate: agreement with XGBoost, cache, fallback, input checks,
dispatcher.

Models are tiny (tens of trees of depth ≤ 4) so that each compiles in about a second; the surrogate
is trained on the synthetic toy χ² of :mod:`lecture_utils.testing` (a test aid, not physics). Every
library goes to a temporary cache folder (``$LECTURE_UTILS_CACHE``). No test asserts a timing.
"""

from __future__ import annotations

import math
import os
import stat
import sysconfig
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from lecture_utils import _cache, alps, data
from lecture_utils import compiled as cp
from lecture_utils import surrogate as sg
from lecture_utils.testing import toy_dataset

pytestmark = pytest.mark.usefixtures("private_cache")  # tests/conftest.py


@pytest.fixture(scope="module")
def model(toy_surrogate: sg.TwoStageSurrogate) -> sg.TwoStageSurrogate:
    return toy_surrogate


@pytest.fixture(scope="module")
def compiled(model: sg.TwoStageSurrogate) -> cp.CompiledSurrogate:
    return cp.compile_surrogate(model, calibration_budget_s=0.2)


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    """Hold-out-like inputs: toy points never trained on, uniform points of the whole domain
    and, where shipped, the real hold-out points."""
    rng = np.random.default_rng(5)
    parts = [toy_dataset(400, seed=22)[0], alps.DOMAIN.from_unit(rng.random((400, 6)))]
    if "holdout" in data.available():
        parts.append(data.load("holdout")[list(alps.PARAMETERS)].to_numpy(dtype=float))
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def booster_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    return x, x[:, 0] ** 2 + np.sin(3 * x[:, 1]) + 0.1 * rng.normal(size=2000)


@pytest.fixture(scope="module")
def regressor(booster_data: tuple[np.ndarray, np.ndarray]) -> xgb.XGBRegressor:
    x, y = booster_data
    return xgb.XGBRegressor(n_estimators=25, max_depth=4, n_jobs=1, random_state=0).fit(x, y)


@pytest.fixture(scope="module")
def predictor(regressor: xgb.XGBRegressor) -> cp.BoosterPredictor:
    return cp.compile_booster(regressor, crossover=None)


def _close(got: np.ndarray, ref: np.ndarray, n_trees: int) -> None:
    np.testing.assert_allclose(got, ref, rtol=0, atol=cp.tolerance(ref, n_trees))


# ------------------------------------------------------------------ agreement with the booster
def test_both_stages_and_combinations_match_xgboost(model: sg.TwoStageSurrogate,
                                                    compiled: cp.CompiledSurrogate,
                                                    points: np.ndarray) -> None:
    assert compiled.is_compiled
    compiled.backend = "compiled"
    try:
        n_gate = compiled.predictors["gate"].n_trees
        n_reg = compiled.predictors["regressor"].n_trees
        _close(compiled.gate_logit(points), model.gate_logit(points), n_gate)
        _close(compiled.gate_probability(points), model.gate_probability(points), n_gate)
        _close(compiled.predict_regressor(points), model.predict_regressor(points), n_reg)
        # combined: hard (same accept/reject pattern, same finite values) and smooth
        logit = model.gate_logit(points)
        clear = np.abs(logit - model.logit_threshold()) > cp.tolerance(logit, n_gate)
        hard, hard_ref = compiled.predict(points), model.predict(points)
        np.testing.assert_array_equal(np.isinf(hard)[clear], np.isinf(hard_ref)[clear])
        both = np.isfinite(hard) & np.isfinite(hard_ref)
        assert both.sum() > 10
        _close(hard[both], hard_ref[both], n_reg)
        smooth_ref = model.predict_smooth(points)
        _close(compiled.predict_smooth(points), smooth_ref,
               n_reg + int(np.ceil(model.penalty_scale)) * n_gate)
        np.testing.assert_array_equal(compiled.in_domain(points), model.in_domain(points))
    finally:
        compiled.backend = "auto"


def test_single_points_and_dataframes(model: sg.TwoStageSurrogate,
                                      compiled: cp.CompiledSurrogate, points: np.ndarray) -> None:
    import pandas as pd

    one = points[0]
    assert compiled.predict_smooth(one).shape == (1,)
    _close(compiled.predict_smooth(one), model.predict_smooth(one), 200)
    df = pd.DataFrame(points[:5, ::-1], columns=list(alps.PARAMETERS)[::-1])
    _close(compiled.predict_regressor(df), model.predict_regressor(points[:5]), 200)


def test_booster_level_matches_on_split_boundaries_and_infinities(
        regressor: xgb.XGBRegressor, predictor: cp.BoosterPredictor) -> None:
    booster = regressor.get_booster()
    x = cp.probe_matrix(booster)
    extra = np.array([[np.inf, -np.inf, 0, 0, 0, 0], [-np.inf, np.inf, 1e30, -1e30, 0, 0]],
                     dtype=np.float32)
    x = np.concatenate([x, extra])
    for margin in (False, True):
        ref = booster.inplace_predict(x, predict_type="margin" if margin else "value")
        _close(predictor.predict(x, margin=margin, backend="compiled"), ref, predictor.n_trees)


def test_classifier_margin_and_probability(booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = booster_data
    clf = xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(x, (y > 1).astype(int))
    pred = cp.compile_booster(clf, crossover=None)
    b = clf.get_booster()
    _close(pred.predict(x, margin=True), b.inplace_predict(x, predict_type="margin"), 15)
    prob = pred.predict(x)
    assert np.all((prob > 0) & (prob < 1))
    _close(prob, clf.predict_proba(x)[:, 1], 15)


def test_verification_rejects_a_library_of_another_model(
        regressor: xgb.XGBRegressor, predictor: cp.BoosterPredictor,
        booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = booster_data
    other = xgb.XGBRegressor(n_estimators=25, max_depth=4, n_jobs=1, random_state=1,
                             subsample=0.5).fit(x, y)
    cp.build._verify(predictor.compiled, regressor.get_booster())  # its own model: passes
    with pytest.raises(cp.CompilationError, match="disagrees"):
        cp.build._verify(predictor.compiled, other.get_booster())


# ------------------------------------------------------------------------------ input checks
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda x: x[:, :5].copy(), ValueError, "6 features"),
        (lambda x: np.hstack([x, x[:, :1]]), ValueError, "6 features"),
        (lambda x: x[0], ValueError, "2-D"),
        (lambda x: x[:, :, None], ValueError, "2-D"),
        (lambda x: np.asfortranarray(x), ValueError, "C-contiguous"),
        (lambda x: np.hstack([x, x])[:, :6], ValueError, "C-contiguous"),
        (lambda x: x[::2], ValueError, "C-contiguous"),
        (lambda x: x.astype(np.int64), TypeError, "float32"),
        (lambda x: x.astype(np.float16), TypeError, "float32"),
        (lambda x: x.astype(object), TypeError, "float32"),
        (lambda x: x.tolist(), TypeError, "numpy array"),
    ],
)
def test_bad_inputs_raise_before_reaching_c(predictor: cp.BoosterPredictor, make, error,
                                            match: str) -> None:
    x = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)
    for backend in ("compiled", "xgboost", "auto"):
        with pytest.raises(error, match=match):
            predictor.predict(make(x), backend=backend)


def test_float64_is_rounded_to_float32_and_empty_batches(predictor: cp.BoosterPredictor) -> None:
    x64 = np.random.default_rng(2).normal(size=(50, 6))
    x32 = x64.astype(np.float32)
    for backend in ("compiled", "xgboost"):
        np.testing.assert_array_equal(predictor.predict(x64, backend=backend),
                                      predictor.predict(x32, backend=backend))
        out = predictor.predict(np.empty((0, 6), np.float32), backend=backend)
        assert out.shape == (0,) and out.dtype == np.float32


def test_nan_policy(regressor: xgb.XGBRegressor, predictor: cp.BoosterPredictor) -> None:
    x = np.random.default_rng(3).normal(size=(600, 6)).astype(np.float32)
    x[::7, 2] = np.nan
    x[::11, 0] = np.nan
    for backend in ("compiled", "xgboost"):
        with pytest.raises(ValueError, match="NaN in"):
            predictor.predict(x, backend=backend)
    missing = cp.compile_booster(regressor, crossover=None, nan_policy="missing")
    ref = regressor.get_booster().inplace_predict(x)  # XGBoost: NaN = missing value
    _close(missing.predict(x, backend="compiled"), ref, missing.n_trees)
    np.testing.assert_array_equal(missing.predict(x, backend="xgboost"), ref)
    with pytest.raises(ValueError, match="nan_policy"):
        cp.BoosterPredictor(regressor, None, nan_policy="ignore")  # type: ignore[arg-type]


def test_surrogate_inputs_are_validated(compiled: cp.CompiledSurrogate) -> None:
    with pytest.raises(ValueError):
        compiled.predict(np.ones((3, 5)))
    with pytest.raises(ValueError):
        compiled.predict(np.full((2, 6), np.nan))


def test_out_of_domain_warning_is_inherited(model: sg.TwoStageSurrogate) -> None:
    c = cp.compile_surrogate(model, crossover=None)
    far = alps.DOMAIN.bounds[:, 1] * 10
    with pytest.warns(sg.OutOfDomainWarning):
        c.predict(far)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c.predict(far)  # once per surrogate


# ------------------------------------------------------------------------------------- cache
def test_cache_hit_and_invalidation(booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = booster_data
    reg = xgb.XGBRegressor(n_estimators=12, max_depth=3, n_jobs=1, random_state=7).fit(x, y)
    first = cp.compile_booster_library(reg)
    assert first.info["cache"] == "miss" and first.path.exists()
    again = cp.compile_booster_library(reg)
    assert again.info["cache"] == "hit" and again.path == first.path
    cp.clear_memo()  # a new process: loads from disk
    disk = cp.compile_booster_library(reg)
    assert disk.info["cache"] == "hit" and disk.path == first.path
    # a changed model (one tree fewer, then retrained) never reuses the library
    fewer = cp.compile_booster_library(reg.get_booster()[:11])
    assert fewer.key != first.key and fewer.info["cache"] == "miss"
    reg.fit(x, y + 1.0)
    changed = cp.compile_booster_library(reg)
    assert changed.key not in (first.key, fewer.key) and changed.info["cache"] == "miss"
    _close(changed.predict(x), reg.get_booster().inplace_predict(x), 12)
    # other options → another library
    o0 = cp.compile_booster_library(reg, options=cp.CompileOptions(opt_level=0, trees_per_unit=5))
    assert o0.key != changed.key
    np.testing.assert_allclose(o0.predict(x), changed.predict(x), rtol=0, atol=1e-6)


def test_blocked_traversal_gives_the_same_bits_as_row_by_row(
        regressor: xgb.XGBRegressor, predictor: cp.BoosterPredictor) -> None:
    assert predictor.compiled.info["block_rows"] > 0  # the default library is blocked
    assert predictor.compiled.info["translation_units"] > 1
    rowwise = cp.compile_booster_library(regressor, options=cp.CompileOptions(block_rows=0))
    assert rowwise.info["block_rows"] == 0
    x = np.random.default_rng(10).normal(size=(3000, 6)).astype(np.float32)
    x[::13, 1] = np.nan
    for margin in (False, True):
        for threads in (1, 3):
            np.testing.assert_array_equal(
                predictor.compiled.predict(x, margin=margin, n_threads=threads,
                                           nan_policy="missing"),
                rowwise.predict(x, margin=margin, nan_policy="missing"))
        for i in (0, 13, 14):  # single rows take the row-wise path of the blocked library
            np.testing.assert_array_equal(
                predictor.compiled.predict(x[i:i + 1], margin=margin, nan_policy="missing"),
                rowwise.predict(x[i:i + 1], margin=margin, nan_policy="missing"))


def test_corrupt_cached_library_is_rebuilt(booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = booster_data
    reg = xgb.XGBRegressor(n_estimators=8, max_depth=3, n_jobs=1, random_state=8).fit(x, y)
    lib = cp.compile_booster_library(reg)
    cp.clear_memo()
    broken = lib.path.with_name("broken.so")  # replace the file, as a crash or disk error would
    broken.write_bytes(b"not a library")
    os.replace(broken, lib.path)
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = cp.compile_booster_library(reg)
    assert rebuilt.info["cache"] == "miss"
    _close(rebuilt.predict(x), reg.get_booster().inplace_predict(x), 8)


# ---------------------------------------------------------------------------------- fallback
def _fake_compiler(folder: Path) -> Path:
    """A 'compiler' that answers --version but fails to compile anything."""
    path = folder / "broken-cc"
    path.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'broken-cc 1.0'; exit 0; fi\n"
                    "echo 'broken-cc: internal error' >&2\nexit 3\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize("how", ["missing", "environment", "failing"])
def test_fallback_to_xgboost(model: sg.TwoStageSurrogate, points: np.ndarray, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    compiler: str | None = None
    if how == "missing":
        compiler = str(tmp_path / "no-such-compiler")
    elif how == "environment":
        monkeypatch.setenv(cp.COMPILER_ENV, str(tmp_path / "no-such-compiler"))
    else:
        compiler = str(_fake_compiler(tmp_path))
    cp.clear_memo()
    with pytest.warns(cp.CompilationFallbackWarning,
                      match="internal error" if how == "failing" else "no working C compiler"):
        c = cp.compile_surrogate(model, compiler=compiler)
    assert not c.is_compiled
    assert c.backend_for(1) == {"gate": "xgboost", "regressor": "xgboost"}
    for name in ("predict", "predict_smooth", "gate_probability", "gate_logit",
                 "predict_regressor"):
        np.testing.assert_array_equal(getattr(c, name)(points), getattr(model, name)(points))
    with pytest.raises(cp.CompilationError):
        c.predictors["gate"].predict(model.features(points), backend="compiled")
    assert not list(_cache.cache_dir("compiled").glob(".*.tmp"))  # no half-built entries left


# -------------------------------------------------------------------------------- dispatcher
def test_dispatcher_gives_the_same_results_whichever_backend(
        model: sg.TwoStageSurrogate, compiled: cp.CompiledSurrogate, points: np.ndarray) -> None:
    results = {}
    for backend in ("compiled", "xgboost", "auto"):
        compiled.backend = backend
        results[backend] = (compiled.predict(points), compiled.predict_smooth(points))
    compiled.backend = "auto"
    np.testing.assert_array_equal(results["xgboost"][0], model.predict(points))  # bit-identical
    np.testing.assert_array_equal(results["xgboost"][1], model.predict_smooth(points))
    auto = compiled.backend_for(len(points))
    for i, _ in enumerate(("hard", "smooth")):
        a, c, x = results["auto"][i], results["compiled"][i], results["xgboost"][i]
        if len(set(auto.values())) == 1:  # both stages on one backend: exactly its numbers
            np.testing.assert_array_equal(a, results[next(iter(auto.values()))][i])
        fin = np.isfinite(c) & np.isfinite(x)
        _close(c[fin], x[fin], 200)


def test_dispatch_follows_the_crossover(predictor: cp.BoosterPredictor) -> None:
    x = np.random.default_rng(4).normal(size=(300, 6)).astype(np.float32)
    ref_c = predictor.predict(x, backend="compiled")
    ref_x = predictor.predict(x, backend="xgboost")
    _close(ref_c, ref_x, predictor.n_trees)
    old = predictor.crossover
    try:
        predictor.crossover = 100.0
        assert predictor.backend_for(99) == "compiled" and predictor.backend_for(100) == "xgboost"
        np.testing.assert_array_equal(predictor.predict(x[:99]), ref_c[:99])
        np.testing.assert_array_equal(predictor.predict(x), ref_x)
        predictor.crossover = math.inf
        np.testing.assert_array_equal(predictor.predict(x), ref_c)
        predictor.crossover = 0.0
        np.testing.assert_array_equal(predictor.predict(x), ref_x)
    finally:
        predictor.crossover = old
    with pytest.raises(ValueError, match="backend"):
        predictor.predict(x, backend="gpu")  # type: ignore[arg-type]


def test_crossover_rule() -> None:
    sizes = [1, 10, 100, 1000]
    # compiled wins small batches, xgboost from 100 rows on
    assert cp.dispatch._crossover(sizes, [1, 2, 20, 200], [50, 50, 10, 100]) == pytest.approx(
        math.sqrt(10 * 100))
    # the first xgboost win decides; a later compiled "win" counts as noise (conservative)
    assert cp.dispatch._crossover(sizes, [1, 2, 20, 60], [50, 50, 10, 100]) == pytest.approx(
        math.sqrt(10 * 100))
    assert cp.dispatch._crossover(sizes, [60, 2, 20, 200], [50, 50, 10, 100]) == 0.0
    # xgboost everywhere
    assert cp.dispatch._crossover(sizes, [9, 9, 20, 200], [1, 1, 10, 100]) == 0.0
    # compiled still wins at the largest size: extrapolate the affine costs (slopes per row
    # 0.1 compiled, 0.05 xgboost → they meet 44 / 0.05 = 880 rows later)
    assert cp.dispatch._crossover(sizes, [1, 2, 11, 101], [50, 50, 100, 145]) == pytest.approx(1880)
    # equal or smaller compiled slope: compiled forever
    assert cp.dispatch._crossover(sizes, [1, 2, 11, 101], [50, 50, 60, 150]) == math.inf
    assert cp.dispatch._crossover([1], [1.0], [2.0]) == math.inf


def test_calibration_is_measured_and_cached(compiled: cp.CompiledSurrogate) -> None:
    for stage, pred in compiled.predictors.items():
        cal = pred.calibration
        assert cal is not None, stage
        assert cal.sizes == sorted(cal.sizes) and cal.sizes[0] == 1
        assert len(cal.compiled) == len(cal.xgboost) == len(cal.sizes) >= 2
        assert all(t > 0 for t in cal.compiled + cal.xgboost)
        assert 0.0 <= pred.crossover == cal.crossover
        assert list(cal.table().columns) == ["batch", "compiled_us", "xgboost_us", "speedup"]
    pred = compiled.predictors["regressor"]
    sample = np.zeros((4, 6), np.float32)
    first = pred.calibrate(sample, max_size=64, budget_s=0.05, reuse=False)
    assert pred.calibrate(sample) is first  # memoised: not measured again
    cp.clear_memo()  # a new process: the measurement is read back from the cache
    again = pred.calibrate(sample)
    assert again is not first and again == first and pred.crossover == first.crossover
    assert pred.calibrate(sample, max_size=8, reuse=False) is not first


def test_threads_do_not_change_results(regressor: xgb.XGBRegressor) -> None:
    n = 4 * cp.rows_per_thread(regressor.n_estimators) + 3
    x = np.random.default_rng(6).normal(size=(n, 6)).astype(np.float32)
    outs = [cp.compile_booster(regressor, crossover=None, n_threads=k).predict(x)
            for k in (1, 2, 3)]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    one = cp.compile_booster(regressor, crossover=None, n_threads=1)
    with ThreadPoolExecutor(4) as pool:  # the library is re-entrant; ctypes drops the GIL
        chunks = list(pool.map(lambda i: one.predict(np.ascontiguousarray(x[i::4])), range(4)))
    for i, chunk in enumerate(chunks):
        np.testing.assert_array_equal(chunk, outs[0][i::4])
    with pytest.raises(ValueError, match="n_threads"):
        cp.BoosterPredictor(regressor, None, n_threads=-1)


# ------------------------------------------------------------------------------- information
def test_compile_info_and_generated_code(compiled: cp.CompiledSurrogate) -> None:
    info = compiled.compile_info()
    assert set(info) == {"gate", "regressor"}
    for stage in info.values():
        assert stage["compiled"] and Path(stage["library"]).exists()
        assert stage["generated_lines"] > stage["n_trees"]
    library = compiled.predictors["regressor"].compiled
    assert library.info["layout"] == "simd"  # the default
    text = library.excerpt(40)
    assert "perfect binary trees" in text and "lu_walk_scalar" in text
    assert max(map(len, text.splitlines())) <= 120  # the node tables are cut short
    if_else = cp.compile_booster_library(compiled.regressor,
                                         options=cp.CompileOptions(layout="if-else"))
    assert if_else.info["layout"] == "if-else"
    assert "fvalue <" in if_else.excerpt(20) and "result[0] +=" in if_else.excerpt(20)
    assert list(compiled.feature_names) == compiled.metadata["feature_names"]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="opt_level"):
        cp.CompileOptions(opt_level=4)
    with pytest.raises(ValueError, match="trees_per_unit"):
        cp.CompileOptions(trees_per_unit=0)
    with pytest.raises(ValueError, match="block_rows"):
        cp.CompileOptions(block_rows=-1)
    with pytest.raises(ValueError, match="layout"):
        cp.CompileOptions(layout="switch")  # type: ignore[arg-type]
    for option in ({"quantize": True}, {"annotate": True}):
        with pytest.raises(ValueError, match="if-else"):
            cp.CompileOptions(**option)  # type: ignore[arg-type]
        cp.CompileOptions(layout="if-else", **option)  # type: ignore[arg-type]
    assert cp.find_compiler("/definitely/not/a/compiler") is None


def test_pickle_round_trip_reloads_the_cached_library(compiled: cp.CompiledSurrogate,
                                                      points: np.ndarray) -> None:
    import pickle

    again = pickle.loads(pickle.dumps(compiled))
    assert again.is_compiled
    again.backend = compiled.backend = "compiled"
    try:
        np.testing.assert_array_equal(again.predict_smooth(points), compiled.predict_smooth(points))
    finally:
        compiled.backend = "auto"


def test_uncached_build_leaves_nothing_on_disk(regressor: xgb.XGBRegressor) -> None:
    root = _cache.cache_dir("compiled")
    before = set(root.iterdir())
    lib = cp.compile_booster_library(regressor, use_cache=False)
    assert lib.info["cache"] == "off" and set(root.iterdir()) == before
    x = np.random.default_rng(9).normal(size=(20, 6)).astype(np.float32)
    _close(lib.predict(x), regressor.get_booster().inplace_predict(x), lib.n_trees)


# ------------------------------------------------------------------- folded missing-value tests
def test_fold_missing_checks_rewrites_both_default_directions() -> None:
    code = ("if ( (data[3].missing != -1) && (data[3].fvalue < (float)0.5)) {\n"
            "if ( !(data[0].missing != -1) || (data[0].fvalue < (float)-1.25e-05)) {\n"
            "if ( (data[2].missing != -1) && (data[1].fvalue < (float)2)) {\n")  # not a pattern
    folded, n = cp.fold_missing_checks(code)
    assert n == 2
    assert "if ( (data[3].fvalue < (float)0.5)) {" in folded
    assert "if ( !(data[0].fvalue >= (float)-1.25e-05)) {" in folded
    assert "(data[2].missing != -1) && (data[1].fvalue < (float)2)" in folded  # left alone


@pytest.fixture(scope="module")
def missing_trained() -> xgb.XGBRegressor:
    """A booster trained on data with missing values: splits of both default directions."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    y = x[:, 0] + np.where(np.isnan(x[:, 1]), 2.0, x[:, 1]) ** 2
    x[rng.random(x.shape) < 0.2] = np.nan
    y = y + np.where(np.isnan(x[:, 0]), -3.0, 0.0) + np.where(np.isnan(x[:, 2]), 3.0, 0.0)
    return xgb.XGBRegressor(n_estimators=30, max_depth=4, n_jobs=1, random_state=0).fit(x, y)


def test_folded_library_keeps_xgboost_missing_value_semantics(
        missing_trained: xgb.XGBRegressor) -> None:
    booster = missing_trained.get_booster()
    code = "".join(cp.generated_sources(booster).values())
    assert "!(data[" in code and ") && (data[" in code  # both default directions occur
    folded = cp.compile_booster_library(booster, options=cp.CompileOptions(layout="if-else"))
    plain = cp.compile_booster_library(booster, options=cp.CompileOptions(layout="if-else",
                                                                          fold_missing=False))
    assert folded.info["folded_splits"] > 0 and plain.info["folded_splits"] == 0
    assert folded.key != plain.key
    x = np.random.default_rng(13).normal(size=(4000, 6)).astype(np.float32)
    x[np.random.default_rng(14).random(x.shape) < 0.3] = np.nan
    x[:50] = np.nan
    x[50:60, 3] = np.inf
    x[60:70, 1] = -np.inf
    ref = booster.inplace_predict(x)
    for lib in (folded, plain):
        _close(lib.predict(x, nan_policy="missing"), ref, lib.n_trees)


def test_arrays_layout_matches_xgboost(missing_trained: xgb.XGBRegressor,
                                      booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    """The branch-free node-array layout: same predictions as XGBoost (verified at build on the
    split boundaries), with missing values of both default directions, ±inf, margins of a
    classifier; a library of its own (another cache key)."""
    booster = missing_trained.get_booster()
    arrays = cp.compile_booster_library(booster, options=cp.CompileOptions(layout="arrays"))
    assert arrays.key != cp.compile_booster_library(booster).key
    assert "LU_CHILD" in arrays.excerpt(80)
    x = np.random.default_rng(15).normal(size=(3000, 6)).astype(np.float32)
    x[np.random.default_rng(16).random(x.shape) < 0.3] = np.nan
    x[:20] = np.nan
    x[20:30, 0], x[30:40, 1] = np.inf, -np.inf
    _close(arrays.predict(x, nan_policy="missing"), booster.inplace_predict(x), arrays.n_trees)
    _close(arrays.predict(x[:1], nan_policy="missing"), booster.inplace_predict(x[:1]),
           arrays.n_trees)                                  # the single-row path
    x_c, y_c = booster_data
    clf = xgb.XGBClassifier(n_estimators=40, max_depth=5, n_jobs=1, random_state=0).fit(
        x_c, y_c > np.median(y_c))
    lib = cp.compile_booster_library(clf, options=cp.CompileOptions(layout="arrays"))
    _close(lib.predict(x_c, margin=True),
           clf.get_booster().inplace_predict(x_c, predict_type="margin"), lib.n_trees)


def test_verification_rejects_a_wrong_array_default_direction(
        missing_trained: xgb.XGBRegressor, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cp.array_tree_source
    monkeypatch.setattr(cp.build, "array_tree_source",  # every missing value takes the other side
                        lambda trees: real(trees).replace("& LU_DEFR[n]", "& !LU_DEFR[n]"))
    with pytest.raises(cp.CompilationError, match="with missing values"):
        cp.compile_booster_library(missing_trained, use_cache=False,
                                   options=cp.CompileOptions(layout="arrays"))


def test_verification_catches_a_wrong_missing_value_direction(
        missing_trained: xgb.XGBRegressor, monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(code: str) -> tuple[str, int]:  # sends every missing value left
        return cp.codegen._SPLIT_DEFAULT_RIGHT.subn(r"!(data[\1].fvalue >= \2)", code)

    monkeypatch.setattr(cp.build, "fold_missing_checks", wrong)
    with pytest.raises(cp.CompilationError, match="with missing values"):
        cp.compile_booster_library(missing_trained, use_cache=False,
                                   options=cp.CompileOptions(layout="if-else"))


def _missing_inputs(n: int, n_features: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, n_features)).astype(np.float32)
    x[np.random.default_rng(seed + 1).random(x.shape) < 0.3] = np.nan
    x[:20] = np.nan
    x[20:30, 0], x[30:40, 1] = np.inf, -np.inf
    return x


def test_simd_layout_matches_xgboost(missing_trained: xgb.XGBRegressor,
                                    booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    """The default layout: perfect trees walked eight at a time. Same predictions as XGBoost with
    missing values of both default directions, ±inf, single rows, a tree count that is not a
    multiple of 8, classifier margins, and more than 8 features (feature values gathered)."""
    booster = missing_trained.get_booster()
    simd = cp.compile_booster_library(booster)
    assert simd.info["layout"] == "simd" and simd.n_trees % cp.SIMD_LANES != 0
    x = _missing_inputs(3000, 6, 17)
    _close(simd.predict(x, nan_policy="missing"), booster.inplace_predict(x), simd.n_trees)
    for i in (0, 25, 35, 99):  # the single-row path
        _close(simd.predict(x[i:i + 1], nan_policy="missing"),
               booster.inplace_predict(x[i:i + 1]), simd.n_trees)
    x_c, y_c = booster_data
    clf = xgb.XGBClassifier(n_estimators=40, max_depth=5, n_jobs=1, random_state=0).fit(
        x_c, y_c > np.median(y_c))
    lib = cp.compile_booster_library(clf)
    _close(lib.predict(x_c, margin=True),
           clf.get_booster().inplace_predict(x_c, predict_type="margin"), lib.n_trees)
    # 9–16 features: two permutations and a blend; more: a gather from memory
    for n_features in (11, 16, 19):
        wide = _missing_inputs(2000, n_features, 19)
        clean = np.where(np.isfinite(wide), wide, 0.0)
        y_w = (clean[:, 0] - 2 * clean[:, 9] + np.isnan(wide[:, n_features - 1])
               + clean[:, n_features - 2])
        reg = xgb.XGBRegressor(n_estimators=21, max_depth=3, n_jobs=1, random_state=0).fit(
            np.where(np.isinf(wide), np.nan, wide), y_w)  # XGBoost trains on NaN, not on inf
        lib = cp.compile_booster_library(reg)
        used = {int(f[1:]) for f in reg.get_booster().trees_to_dataframe()["Feature"]
                if f != "Leaf"}
        assert {0, 9, n_features - 2} <= used  # splits on both halves (and beyond 16)
        _close(lib.predict(wide, nan_policy="missing"), reg.get_booster().inplace_predict(wide),
               lib.n_trees)


def test_simd_scalar_and_vector_walks_give_the_same_bits(
        missing_trained: xgb.XGBRegressor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without AVX2 (forced here with $LECTURE_UTILS_SIMD) a scalar loop walks the same tables
    in the same order: bit-identical sums on every machine."""
    x = _missing_inputs(2000, 6, 21)
    fast = cp.compile_booster_library(missing_trained, use_cache=False)
    monkeypatch.setenv(cp.SIMD_ENV, "scalar")
    slow = cp.compile_booster_library(missing_trained, use_cache=False)  # a fresh dlopen
    assert slow.info["simd"] == "scalar"
    if not fast.info["simd"] == "avx2":
        pytest.skip("this processor has no AVX2: only the scalar walk can run")
    for rows in (x, x[3:4], x[25:26]):
        np.testing.assert_array_equal(fast.predict(rows, nan_policy="missing"),
                                      slow.predict(rows, nan_policy="missing"))
    # the 9–16-feature fetch (two permutations and a blend) against the same scalar walk
    wide = _missing_inputs(1000, 14, 23)
    reg = xgb.XGBRegressor(n_estimators=19, max_depth=4, n_jobs=1, random_state=0).fit(
        np.where(np.isinf(wide), np.nan, wide),
        np.where(np.isfinite(wide), wide, 0.0) @ np.linspace(-1.0, 1.0, 14))
    monkeypatch.delenv(cp.SIMD_ENV)
    fast = cp.compile_booster_library(reg, use_cache=False)
    monkeypatch.setenv(cp.SIMD_ENV, "scalar")
    slow = cp.compile_booster_library(reg, use_cache=False)
    assert (fast.info["simd"], slow.info["simd"]) == ("avx2", "scalar")
    np.testing.assert_array_equal(fast.predict(wide, nan_policy="missing"),
                                  slow.predict(wide, nan_policy="missing"))


def test_simd_layout_leaves_deep_trees_to_the_arrays_layout(
        booster_data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = booster_data
    deep = xgb.XGBRegressor(n_estimators=3, max_depth=cp.SIMD_MAX_DEPTH + 2, n_jobs=1,
                            random_state=0).fit(np.repeat(x, 4, axis=0),
                                                np.repeat(y, 4) + np.arange(4 * len(y)) % 97)
    depth = max(map(cp.codegen.tree_depth, cp.tree_dicts(deep)))
    assert depth > cp.SIMD_MAX_DEPTH
    lib = cp.compile_booster_library(deep)
    assert lib.info["layout"] == "arrays"
    _close(lib.predict(x), deep.get_booster().inplace_predict(x), lib.n_trees)


def test_verification_rejects_a_wrong_simd_default_direction(
        missing_trained: xgb.XGBRegressor, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cp.codegen._perfect_tree

    def flipped(tree: dict, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        code, thr, leaf = real(tree, depth)  # every missing value takes the other side
        return code ^ np.int32(-(1 << 31)), thr, leaf

    monkeypatch.setattr(cp.codegen, "_perfect_tree", flipped)
    with pytest.raises(cp.CompilationError, match="with missing values"):
        cp.compile_booster_library(missing_trained, use_cache=False)


def test_fast_caller_checks_its_arrays(predictor: cp.BoosterPredictor) -> None:
    """The CPython extension that calls the libraries refuses anything but the arrays it was
    made for (a Python exception, never a crash), and ctypes gives the same bits."""
    caller = cp.fast_caller()
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("this Python has no C headers: the libraries are called through ctypes")
    assert caller is not None  # with gcc and Python's headers the extension must build
    library = predictor.compiled
    x = np.random.default_rng(23).normal(size=(50, 6)).astype(np.float32)
    out = np.empty(50, dtype=np.float32)
    fn = library._fn_address
    assert caller.call(fn, x, out, False, False, 1, 8) == 0
    np.testing.assert_array_equal(out, library.predict(x))
    bad_calls = [
        (TypeError, (fn, x.astype(np.float64), out, 0, 0, 1, 8)),
        (TypeError, (fn, np.asfortranarray(x), out, 0, 0, 1, 8)),
        (TypeError, (fn, x, out[::2], 0, 0, 1, 8)),
        (TypeError, (fn, x[0], out, 0, 0, 1, 8)),
        (TypeError, (fn, x.tolist(), out, 0, 0, 1, 8)),
        (ValueError, (fn, x, out[:10], 0, 0, 1, 8)),
        (ValueError, (fn, x[:0], out[:0], 0, 0, 1, 8)),
        (ValueError, (0, x, out, 0, 0, 1, 8)),
        (TypeError, (fn, x, out)),
    ]
    frozen = out.copy()
    frozen.setflags(write=False)
    bad_calls.append((TypeError, (fn, x, frozen, 0, 0, 1, 8)))
    for error, args in bad_calls:
        with pytest.raises(error):
            caller.call(*args)
    ref = library.predict(x, margin=True, n_threads=2)
    library._caller = None  # the ctypes path
    try:
        np.testing.assert_array_equal(library.predict(x, margin=True, n_threads=2), ref)
        np.testing.assert_array_equal(library.predict(x[:1]), out[:1])
    finally:
        library._caller = caller


# ----------------------------------------------------------------------- structure and overhead
def test_compiled_surrogate_inherits_validation_and_overrides_the_hooks() -> None:
    for name in ("delta_chi2", "checked_features", "in_domain"):
        assert getattr(cp.CompiledSurrogate, name) is getattr(sg.TwoStageSurrogate, name), name
    assert cp.CompiledSurrogate._raw is not sg.TwoStageSurrogate._raw


def test_surrogate_call_validates_once_and_skips_the_matrix_check(
        compiled: cp.CompiledSurrogate, points: np.ndarray,
        monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {"as_points": 0, "check_matrix": 0}
    as_points, check_matrix = sg.as_points, cp.check_matrix

    def count_points(p):
        counts["as_points"] += 1
        return as_points(p)

    def count_matrix(x, n):
        counts["check_matrix"] += 1
        return check_matrix(x, n)

    monkeypatch.setattr(sg.model, "as_points", count_points)  # where checked_features finds it
    for module in (cp.dispatch, cp.runtime):  # where the predictors look it up
        monkeypatch.setattr(module, "check_matrix", count_matrix)
    monkeypatch.setattr(compiled, "whole", None)  # the stage-by-stage path
    compiled.predict_smooth(points[:3])
    assert counts == {"as_points": 1, "check_matrix": 0}


def test_xgboost_backend_is_plain_inplace_predict_and_scans_for_nan(
        regressor: xgb.XGBRegressor, predictor: cp.BoosterPredictor) -> None:
    x = np.random.default_rng(15).normal(size=(500, 6)).astype(np.float32)
    x[3, 2], x[4, 0] = np.inf, -np.inf  # infinities are values, not missing
    ref = predictor.booster.inplace_predict(x)
    got = predictor.predict(x, backend="xgboost")
    assert got.dtype == np.float32 and got.shape == (500,)
    np.testing.assert_array_equal(got, ref)
    x[7, 5] = np.nan
    x[9, 1] = np.nan
    with pytest.raises(ValueError, match="NaN in 2 row"):
        predictor.predict(x, backend="xgboost")


def test_calibration_grid_stops_at_the_first_loss(predictor: cp.BoosterPredictor,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibration logic with synthetic timings: compiled 1 µs + 1 µs/row, xgboost 100 µs +
    0.25 µs/row, so compiled wins (with the 25 % margin) up to ~100 rows."""
    measured: list[int] = []

    def fake_measure(funcs, inputs, **kwargs):
        n = len(inputs[0])
        measured.append(n)
        t_c, t_x = 1e-6 * (1 + n), 1e-6 * (100 + 0.25 * n)
        return cp.Timings({"compiled": np.array([t_c]), "xgboost": np.array([t_x])},
                          {"compiled": np.array([t_c]), "xgboost": np.array([t_x])})

    monkeypatch.setattr(cp.dispatch, "measure", fake_measure)
    old = predictor.crossover
    try:
        cal = predictor.calibrate(np.zeros((4, 6), np.float32), max_size=16384, budget_s=60,
                                  reuse=False, margin=0.25)
    finally:
        predictor.crossover = old
        predictor.calibration = None
        cp.clear_memo()
        (predictor.compiled.path.parent / "calibration.json").unlink(missing_ok=True)
    assert measured == [1, 4, 16, 64, 256]  # the first loss ends the grid
    assert cal.sizes == measured
    assert cal.crossover == pytest.approx(math.sqrt(64 * 256))
    np.testing.assert_allclose(cal.compiled, [1e-6 * (1 + n) for n in measured])


def test_read_only_inputs_reach_c_too(predictor: cp.BoosterPredictor) -> None:
    x = np.random.default_rng(16).normal(size=(40, 6)).astype(np.float32)
    ref = predictor.predict(x, backend="compiled")
    frozen = x.copy()
    frozen.setflags(write=False)  # the cheap address lookup refuses it; the fallback takes over
    np.testing.assert_array_equal(predictor.predict(frozen, backend="compiled"), ref)
    np.testing.assert_array_equal(predictor.predict(x[:1], backend="compiled"), ref[:1])
    for view in (x[5:6], x[5:9], frozen[7:8]):  # views into the middle of a buffer
        start = 5 if view.base is x else 7
        np.testing.assert_array_equal(predictor.predict(view, backend="compiled"),
                                      ref[start:start + len(view)])


# ------------------------------------------------------------------------------- measurement
def test_measure_alternates_the_order_and_pairs_rounds() -> None:
    order: list[str] = []
    funcs = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    t = cp.measure(funcs, rounds=4, block_s=1e-9, max_calls=1, pause_s=0.0)
    assert all(len(t.rounds[k]) == 4 and len(t.calls[k]) == 4 for k in funcs)
    # first calls (untimed); then per round one call per function (each call is longer than
    # block_s, so the call after the pause is itself the sample)
    assert len(order) == 3 + 4 * 3
    rounds = [order[3 + 3 * i: 3 + 3 * (i + 1)] for i in range(4)]
    assert rounds == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"], ["c", "b", "a"]]
    lo, hi = t.ratio_quartiles("a", "b")
    assert lo <= t.ratio("a", "b") <= hi


def test_speed_table_columns(predictor: cp.BoosterPredictor) -> None:
    x = np.random.default_rng(17).normal(size=(64, 6)).astype(np.float32)
    table = cp.speed_table(predictor, x, [1, 8], rounds=1, block_s=1e-4, quartiles=True,
                           baselines={"copy": np.copy})
    assert list(table["batch"]) == [1, 8] and list(table["rounds"]) == [1, 1]
    for col in ("copy", "compiled", "inplace_predict", "dispatcher",
                "inplace_predict / dispatcher", "inplace_predict / dispatcher q25"):
        assert (table[col] > 0).all(), col
    assert set(table["backend"]) <= {"compiled", "xgboost"}
    with pytest.raises(ValueError, match="batch size"):
        cp.speed_table(predictor, x, [65])
