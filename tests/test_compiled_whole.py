"""Tests of the whole-surrogate call: features, both compiled stages and the combinations in one
C call, against the stage-by-stage :class:`~lecture_utils.surrogate.TwoStageSurrogate`.

Models are toy surrogates (tens of trees of depth ≤ 4; :mod:`lecture_utils.testing`, a test aid,
not physics). No test asserts a timing.
"""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
from conftest import TEST_CACHE_VAR, TOY_FIT

from lecture_utils import _cache, alps
from lecture_utils import compiled as cp
from lecture_utils import surrogate as sg
from lecture_utils.compiled import whole as wh
from lecture_utils.testing import toy_dataset

pytestmark = pytest.mark.usefixtures("private_cache")  # tests/conftest.py


@pytest.fixture(scope="module")
def ratio_pair(toy_surrogate: sg.TwoStageSurrogate
               ) -> tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate]:
    return toy_surrogate, cp.compile_surrogate(toy_surrogate, crossover=None)


@pytest.fixture(scope="module")
def running_pair() -> tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate]:
    """A toy surrogate on the ``"running"`` features (the running table from the session's
    cache, where the other test modules find it too)."""
    old = os.environ[_cache.ENV_VAR]
    os.environ[_cache.ENV_VAR] = os.environ.get(TEST_CACHE_VAR, old)
    try:
        alps.running_table()  # memoised for this process
    finally:
        os.environ[_cache.ENV_VAR] = old
    model = sg.TwoStageSurrogate.fit(*toy_dataset(1500, seed=21), seed=3, transform="running",
                                     **TOY_FIT)
    return model, cp.compile_surrogate(model, crossover=None)


def _points(seed: int = 5) -> np.ndarray:
    """Random points of the whole domain, toy points, and boundary points: every corner
    coordinate exactly on the domain's edges, f_a on the running table's grid nodes."""
    rng = np.random.default_rng(seed)
    lo, hi = alps.DOMAIN.bounds.T
    edge = np.where(rng.random((64, 6)) < 0.5, lo, hi)
    grid = 10.0 ** np.linspace(*alps.DOMAIN.unit_bounds[0], alps.RUNNING_GRID_SIZE)
    on_grid = alps.DOMAIN.from_unit(rng.random((len(grid), 6)))
    on_grid[:, 0] = grid
    return np.concatenate([alps.DOMAIN.from_unit(rng.random((500, 6))),
                           toy_dataset(300, seed=23)[0], edge, on_grid])


def _close(got: np.ndarray, ref: np.ndarray, n_trees: int) -> None:
    np.testing.assert_allclose(got, ref, rtol=0, atol=cp.tolerance(ref, n_trees))


@pytest.mark.parametrize("which", ["ratio_pair", "running_pair"])
def test_whole_call_matches_the_stage_by_stage_surrogate(which: str,
                                                         request: pytest.FixtureRequest) -> None:
    model, fast = request.getfixturevalue(which)
    assert fast.whole is not None and fast.whole.transform == model.transform
    pts = _points()
    n_gate = fast.predictors["gate"].n_trees
    n_reg = fast.predictors["regressor"].n_trees
    # features: float64 arithmetic rounded once to float32, as in numpy (a 5-term product may
    # round differently in float64; after float32 rounding at most one float32 step)
    x, x_ref = fast.features(pts), model.features(pts)
    assert x.dtype == np.float32 and x.shape == x_ref.shape
    np.testing.assert_array_max_ulp(x, x_ref, maxulp=1)
    assert (x == x_ref).mean() > 0.999
    # the stages against the compiled stages on the reference features: same libraries
    exact = {"gate": fast.predictors["gate"], "regressor": fast.predictors["regressor"]}
    same = np.all(x == x_ref, axis=1)
    np.testing.assert_array_equal(
        fast.gate_logit(pts)[same],
        exact["gate"].predict(x_ref, margin=True, backend="compiled")[same].astype(float))
    np.testing.assert_array_equal(
        fast.predict_regressor(pts)[same],
        exact["regressor"].predict(x_ref, backend="compiled")[same].astype(float))
    # and against XGBoost (float32 rounding)
    logit = model.gate_logit(pts)
    _close(fast.gate_logit(pts), logit, n_gate)
    _close(fast.gate_probability(pts), model.gate_probability(pts), n_gate)
    _close(fast.predict_regressor(pts), model.predict_regressor(pts), n_reg)
    got_logit, got_reg = fast.stage_outputs(pts)
    assert got_logit.flags.c_contiguous and got_reg.flags.c_contiguous
    _close(got_logit, logit, n_gate)
    _close(got_reg, model.predict_regressor(pts), n_reg)
    clear = np.abs(logit - model.logit_threshold()) > cp.tolerance(logit, n_gate)
    hard, hard_ref = fast.predict(pts), model.predict(pts)
    np.testing.assert_array_equal(np.isinf(hard)[clear], np.isinf(hard_ref)[clear])
    both = np.isfinite(hard) & np.isfinite(hard_ref)
    assert both.sum() > 10
    _close(hard[both], hard_ref[both], n_reg)
    smooth_ref = model.predict_smooth(pts)
    _close(fast.predict_smooth(pts), smooth_ref, n_reg + int(np.ceil(model.penalty_scale)) * n_gate)
    # the combinations in C are the surrogate's formulas applied to the compiled stages
    np.testing.assert_array_equal(fast.predict(pts),
                                  np.where(got_logit >= model.logit_threshold(), got_reg, np.inf))
    np.testing.assert_array_equal(
        fast.predict_smooth(pts),
        sg.smooth_combination(got_reg, got_logit, logit_threshold=model.logit_threshold(),
                              chi2_edge=model.chi2_min + model.cut,
                              penalty_scale=model.penalty_scale))


def test_whole_call_is_used_and_agrees_with_the_dispatcher_path(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate],
        monkeypatch: pytest.MonkeyPatch) -> None:
    model, fast = ratio_pair
    pts = _points(8)
    calls = {"n": 0}
    run = fast.whole._run

    def counting(*args):
        result = run(*args)
        calls["n"] += result is not NotImplemented  # a declined fast path evaluates nothing
        return result

    monkeypatch.setattr(fast.whole, "_run", counting)
    got = fast.predict_smooth(pts)
    assert calls["n"] == 1  # one C call for the whole batch
    monkeypatch.setattr(fast, "whole", None)  # the stage-by-stage path of the same object
    np.testing.assert_array_equal(got, fast.predict_smooth(pts))


def test_single_points_lists_dataframes_and_float32(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate]) -> None:
    import pandas as pd

    model, fast = ratio_pair
    pts = _points(9)[:20]
    ref = fast.predict_smooth(pts)
    assert fast.predict_smooth(pts[3]).shape == (1,)
    assert fast.predict_smooth(pts[3])[0] == ref[3]
    assert fast.predict_smooth(pts[3].tolist())[0] == ref[3]
    df = pd.DataFrame(pts[:, ::-1], columns=list(alps.PARAMETERS)[::-1])
    np.testing.assert_array_equal(fast.predict_smooth(df), ref)
    np.testing.assert_array_equal(fast.predict_smooth(np.asfortranarray(pts)), ref)
    np.testing.assert_array_equal(fast.predict_smooth(pts[::-1][::-1].copy()), ref)
    as32 = pts.astype(np.float32)
    np.testing.assert_array_equal(fast.predict_smooth(as32), model_free(fast, as32))
    frozen = pts.copy()
    frozen.setflags(write=False)
    np.testing.assert_array_equal(fast.predict_smooth(frozen), ref)


def model_free(fast: cp.CompiledSurrogate, points: np.ndarray) -> np.ndarray:
    """The whole call on points converted to float64 explicitly."""
    return fast.whole.evaluate(points.astype(np.float64), "smooth")[0]


@pytest.mark.parametrize("bad", [
    [[np.nan, 1, 1, 1, 1, 1]], [[1e7, np.inf, 0, 0, 0, 0]], [[0.0, 1, 1, 1, 1, 1]],
    [[-1e7, 1, 1, 1, 1, 1]], np.zeros((0, 6)), np.zeros((3, 5)), np.zeros((2, 3, 6)),
    [["a"] * 6]])
def test_invalid_points_raise_the_surrogates_errors(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate], bad: object) -> None:
    model, fast = ratio_pair
    for arr in (bad, np.array(bad, dtype=float) if not isinstance(bad, list) or bad[0][0] != "a"
                else bad):
        with pytest.raises(ValueError) as ref:
            model.predict_smooth(arr)
        for method in ("predict_smooth", "predict", "stage_outputs", "features"):
            with pytest.raises(ValueError) as got:
                getattr(fast, method)(arr)
            assert str(got.value) == str(ref.value), method


def test_out_of_domain_points_warn_once_with_the_same_message(
        toy_surrogate: sg.TwoStageSurrogate) -> None:
    pts = _points(11)[:50]
    pts[[2, 7], 1] = alps.DOMAIN.bounds[1, 1] + 1.0
    pts[9, 0] = alps.DOMAIN.bounds[0, 0] / 2
    messages = []
    for compiled in (False, True):
        model = sg.TwoStageSurrogate(toy_surrogate.gate, toy_surrogate.regressor,
                                     dict(toy_surrogate.metadata))
        if compiled:
            model = cp.compile_surrogate(model, crossover=None)
            assert model.whole is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.features(pts)  # features never warn
            model.predict_smooth(pts)
            model.predict(pts)
        domain = [w for w in caught if issubclass(w.category, sg.OutOfDomainWarning)]
        assert len(domain) == 1
        if compiled:
            assert domain[0].filename == __file__  # attributed to the caller
        messages.append(str(domain[0].message))
    assert messages[0] == messages[1]
    assert messages[0].startswith("3 of 50 point(s)")
    for method in ("stage_outputs", "gate_logit"):  # every prediction method counts alike
        model = cp.compile_surrogate(toy_surrogate, crossover=None)
        with pytest.warns(sg.OutOfDomainWarning, match="^3 of 50 point"):
            getattr(model, method)(pts)


def test_whole_call_validates_shapes_and_dtypes_like_the_stage_call(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate]) -> None:
    _, fast = ratio_pair
    whole = fast.whole
    pts = _points(12)[:10]
    ref = whole.evaluate(pts, "smooth")[0]
    np.testing.assert_array_equal(whole.evaluate(pts.astype(np.float32), "smooth")[0],
                                  whole.evaluate(pts.astype(np.float32).astype(float),
                                                 "smooth")[0])
    assert whole.evaluate(pts[0], "hard")[0].shape == (1,)
    stages, outside = whole.evaluate(pts, "stages")
    assert stages.shape == (2, 10) and outside == 0
    assert whole.evaluate(pts, "features")[0].dtype == np.float32
    np.testing.assert_array_equal(ref, whole.evaluate(pts, "smooth")[0])
    for error, arg in [(TypeError, pts.tolist()), (TypeError, pts.astype(int)),
                       (TypeError, np.ones((3, 6), np.float16)), (ValueError, pts[:, :5]),
                       (ValueError, pts[:0]), (ValueError, pts[None]),
                       (ValueError, np.asfortranarray(pts)), (ValueError, pts[::2])]:
        with pytest.raises(error):
            whole.evaluate(arg, "smooth")
    with pytest.raises(ValueError, match="mode"):
        whole.evaluate(pts, "median")  # type: ignore[arg-type]
    # the extension itself refuses what it was not made for (an exception, never a crash)
    for error, args in [(TypeError, (whole._model, pts.astype(np.float32), 1, 1)),
                        (TypeError, (whole._model, np.asfortranarray(pts), 1, 1)),
                        (ValueError, (whole._model, pts[:, :5].copy(), 1, 1)),
                        (ValueError, (whole._model, pts, 99, 1)),
                        (ValueError, (object(), pts, 1, 1)),
                        (TypeError, (whole._model, pts))]:
        with pytest.raises(error):
            whole._run(*args)
    # its fast path declines (NotImplemented) whatever is not ready, and more rows than allowed
    for arg in (pts.tolist(), pts.astype(np.float32), np.asfortranarray(pts), pts[:, :5].copy(),
                pts[:0], pts[None]):
        assert whole._run(whole._model, arg, 1, 1, 100) is NotImplemented
    assert whole._run(whole._model, pts, 1, 1, 9) is NotImplemented
    np.testing.assert_array_equal(whole._run(whole._model, pts, 1, 1, 10)[0], ref)


def test_threads_and_pickling_do_not_change_results(
        running_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate]) -> None:
    _, fast = running_pair
    pts = alps.DOMAIN.from_unit(np.random.default_rng(13).random((20_000, 6)))
    one = fast.whole.evaluate(pts, "stages")[0]
    threaded = wh.WholeSurrogate(fast.whole.transform, fast.whole.domain, fast.whole.constants,
                                 *fast.whole.libraries, n_threads=3)
    np.testing.assert_array_equal(threaded.evaluate(pts, "stages")[0], one)
    again = pickle.loads(pickle.dumps(fast))
    assert again.whole is not None
    np.testing.assert_array_equal(again.stage_outputs(pts)[1], one[1])


def test_backends_and_crossover_choose_the_path(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate],
        monkeypatch: pytest.MonkeyPatch) -> None:
    model, fast = ratio_pair
    pts = _points(14)[:40]
    used = {"n": 0}
    run = fast.whole._run

    def counting(*args):
        result = run(*args)
        used["n"] += result is not NotImplemented  # a declined fast path evaluates nothing
        return result

    monkeypatch.setattr(fast.whole, "_run", counting)
    monkeypatch.setattr(fast, "backend", "xgboost")
    np.testing.assert_array_equal(fast.predict_regressor(pts), model.predict_regressor(pts))
    assert used["n"] == 0
    monkeypatch.setattr(fast, "backend", "auto")
    for p in fast.predictors.values():
        monkeypatch.setattr(p, "crossover", 10.0)
    fast.predict_smooth(pts)  # 40 rows ≥ crossover: stage by stage, through the dispatcher
    assert used["n"] == 0
    fast.predict_smooth(pts[:1])  # one point: always the whole call
    fast.predict_smooth(pts[:5])
    assert used["n"] == 2


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_simd_walk_of_shallow_trees_matches_xgboost(depth: int) -> None:
    """The "simd" walk takes its first four levels from loads and blends, not gathers: trees of
    depth 1–5 give XGBoost's results, missing values included."""
    import xgboost as xgb

    rng = np.random.default_rng(depth)
    x = rng.normal(size=(1500, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    y = np.nan_to_num(x[:, 0]) ** 2 + np.sin(3 * np.nan_to_num(x[:, 1]))
    model = xgb.XGBRegressor(n_estimators=37, max_depth=depth, n_jobs=1, random_state=0).fit(x, y)
    booster = model.get_booster()
    pred = cp.compile_booster(model, crossover=None, nan_policy="missing")
    assert pred.compiled is not None and pred.compiled.info["layout"] == "simd"
    ref = booster.inplace_predict(x)
    np.testing.assert_allclose(pred.predict(x), ref, rtol=0, atol=cp.tolerance(ref, 37))


def test_smoothed_surrogate_takes_its_features_from_the_compiled_library(
        ratio_pair: tuple[sg.TwoStageSurrogate, cp.CompiledSurrogate],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lecture_utils import smooth

    model, fast = ratio_pair
    pts = _points(15)[:30]
    for sur in (model, fast):
        smoothed = smooth.SmoothedSurrogate(sur)
        np.testing.assert_array_equal(smoothed._features(pts), model.features(pts))
        seen: list[int] = []
        features = smoothed._features
        monkeypatch.setattr(smoothed, "_features",
                            lambda p, f=features, s=seen: s.append(len(p)) or f(p))
        reference = smoothed.chi2(pts)
        assert seen == [len(pts)]
        monkeypatch.setattr(smoothed, "_features", sur.features)
        np.testing.assert_array_equal(smoothed.chi2(pts), reference)
