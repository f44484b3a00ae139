"""The capstone's machinery: best fit, smoothed surrogate for profiles, exact checks, significance.

The surrogate is the course's default one (trained on the shipped data). Exact ALPaca evaluations
cost seconds each; they go through the evaluation cache, so a second run is fast. The full default
best fit (≈20 exact evaluations on a cold cache) is a slow test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, data, fit, stats
from lecture_utils import surrogate as sg


@pytest.fixture(scope="module")
def surrogate():
    return sg.default_surrogate()


@pytest.fixture(scope="module")
def smoothed(surrogate):
    return fit.SmoothedSurrogate(surrogate)


@pytest.fixture(scope="module")
def holdout():
    frame = data.load("holdout")
    return frame[list(alps.PARAMETERS)].to_numpy(), frame["chi2"].to_numpy()


@pytest.fixture(scope="module")
def validated_error(surrogate, holdout) -> float:
    """The surrogate's hold-out RMS error inside the region of interest (χ² units)."""
    points, chi2 = holdout
    return float(sg.validate(surrogate, points, chi2).regression["rmse"])


# ------------------------------------------------------------------------------ coordinates ---
def test_search_coordinates_roundtrip() -> None:
    pts = np.array([[1.0e6, 1.0, -2.0, 0.5, 3.5, -3.5], [5.0e7, 0, 0, 0, 0, 0]])
    z = fit.to_search(pts)
    np.testing.assert_allclose(z[:, 0], [6.0, np.log10(5e7)])
    np.testing.assert_allclose(fit.from_search(z), pts, rtol=1e-14)
    np.testing.assert_allclose(fit.SEARCH_BOUNDS, alps.DOMAIN.unit_bounds)
    assert fit.SEARCH_NAMES[0] == "log10_fa" and fit.SEARCH_NAMES[1:] == alps.PARAMETERS[1:]
    with pytest.raises(ValueError, match="shape"):
        fit.from_search(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        fit.from_search([7.0, np.nan, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="fa"):
        fit.to_search([-1.0, 0, 0, 0, 0, 0])


# -------------------------------------------------------------------------- smoothed trees ---
def test_soft_trees_reproduce_xgboost_without_blur(surrogate, smoothed, holdout) -> None:
    points, _ = holdout
    x = surrogate.features(points).astype(float)
    margins = smoothed.trees.margin(x)
    np.testing.assert_allclose(margins[:, 0], surrogate.gate_logit(points), atol=1e-4)
    np.testing.assert_allclose(margins[:, 1], surrogate.predict_regressor(points), atol=1e-4)


def test_smoothed_tends_to_the_surrogate(surrogate, smoothed, holdout) -> None:
    points, chi2 = holdout
    inside = chi2 - surrogate.chi2_min < stats.REGION_DELTA_CHI2
    reference = surrogate.predict_smooth(points)
    tiny = fit.SmoothedSurrogate(surrogate, smoothing=[1e-7] * 6)
    # (XGBoost sums its trees in float32: agreement to ~1e-5, as without blur)
    assert np.median(np.abs(tiny.chi2(points) - reference)) < 1e-4
    # the default blur changes the surrogate by much less than the surrogate's own error
    shift = np.abs(smoothed.chi2(points) - reference)[inside].mean()
    error = np.abs(reference - chi2)[inside].mean()
    assert shift < 0.5 * error, (shift, error)


def test_smoothed_is_differentiable(smoothed, surrogate) -> None:
    """Finite differences converge for the smoothed χ² (they are 0 or huge for raw trees)."""
    z = fit.to_search(fit._training_starts(1))[0]
    z = np.clip(z, fit.SEARCH_BOUNDS[:, 0] + 0.1, fit.SEARCH_BOUNDS[:, 1] - 0.1)
    sigma = np.asarray(fit.DEFAULT_SMOOTHING)
    nonzero = 0
    for k in range(6):
        e = np.zeros(6)
        e[k] = 1.0
        grads = []
        for h in (1e-2 * sigma[k], 1e-3 * sigma[k]):
            grads.append((smoothed.chi2_search(z + h * e) - smoothed.chi2_search(z - h * e))
                         / (2 * h))
        assert grads[0] == pytest.approx(grads[1], rel=2e-2, abs=1e-3), (k, grads)
        nonzero += abs(grads[1]) > 1e-6
    assert nonzero >= 3  # a genuinely varying function, not a plateau


def test_smoothed_bad_input(surrogate, smoothed) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        fit.SmoothedSurrogate(surrogate, smoothing=[0.1] * 5)
    with pytest.raises(ValueError, match="smoothing"):
        fit.SmoothedSurrogate(surrogate, smoothing=[0.0] * 6)
    with pytest.raises(ValueError, match="TwoStageSurrogate"):
        fit.SmoothedSurrogate("not a model")
    with pytest.raises(ValueError, match="finite search coordinates"):
        smoothed.chi2_search([7.0, np.inf, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="sigma"):
        smoothed.trees.margin(np.zeros((1, 6)), np.zeros((1, 6)))


# ------------------------------------------------------------------------- surrogate stage ---
def test_surrogate_minima_deterministic_and_lower(surrogate) -> None:
    a = fit.surrogate_minima(surrogate, seed=3, n_starts=4, maxfev=200)
    b = fit.surrogate_minima(surrogate, seed=3, n_starts=4, maxfev=200)
    pd.testing.assert_frame_equal(a, b)
    c = fit.surrogate_minima(surrogate, seed=4, n_starts=4, maxfev=200)
    assert not np.array_equal(a[list(alps.PARAMETERS)].to_numpy(),
                              c[list(alps.PARAMETERS)].to_numpy())
    assert list(a.columns) == [*alps.PARAMETERS, "chi2_surrogate", "origin"]
    assert a["chi2_surrogate"].is_monotonic_increasing
    assert alps.DOMAIN.contains(a[list(alps.PARAMETERS)].to_numpy()).all()
    # Nelder–Mead never ends above its start: the lowest minimum is at most the surrogate's value
    # at the lowest training points it started from
    starts = fit._training_starts(2)
    assert a["chi2_surrogate"].iloc[0] <= surrogate.predict_smooth(starts).min() + 1e-12


def test_fixed_parameters(surrogate) -> None:
    minima = fit.surrogate_minima(surrogate, seed=0, n_starts=2, maxfev=100,
                                  fixed={"cuR": 0.0, "fa": 2.0e7})
    assert (minima["cuR"] == 0.0).all()
    np.testing.assert_allclose(minima["fa"], 2.0e7, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown parameter 'cxx'"):
        fit.surrogate_minima(surrogate, fixed={"cxx": 0.0})
    with pytest.raises(ValueError, match="outside the domain"):
        fit.surrogate_minima(surrogate, fixed={"cuR": 9.0})
    with pytest.raises(ValueError, match="must be a number"):
        fit.surrogate_minima(surrogate, fixed={"cuR": "zero"})
    with pytest.raises(ValueError, match="nothing to fit"):
        fit.surrogate_minima(surrogate, fixed=dict.fromkeys(alps.PARAMETERS[1:], 0.0) | {
            "fa": 1e7})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": -1}, "seed"),
    ({"n_starts": 1}, "n_starts"),
    ({"seed": 1.5}, "seed"),
])
def test_surrogate_minima_bad_input(surrogate, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit.surrogate_minima(surrogate, **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"top_k": 0}, "top_k"),
    ({"polish_budget": -1}, "polish_budget"),
    ({"polish_step": 0.0}, "polish_step"),
    ({"surrogate": object()}, "TwoStageSurrogate"),
])
def test_best_fit_bad_input(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit.best_fit(**kwargs)


# ----------------------------------------------------------------------------- exact stage ---
def test_best_fit_deterministic_and_exact(surrogate) -> None:
    """A small best fit (2 exact candidates, 2 polish steps): same seed → same result, and its
    exact χ² is ALPaca's value at its point."""
    kwargs = {"n_starts": 4, "top_k": 2, "polish_budget": 2, "progress": False}
    first = alps.best_fit(surrogate, 0, **kwargs)
    again = fit.best_fit(surrogate, 0, **kwargs)
    np.testing.assert_array_equal(first.point, again.point)
    assert first.chi2_exact == again.chi2_exact
    assert first.chi2_surrogate == again.chi2_surrogate
    assert first.n_exact == 4 and len(first.polish) == 2
    assert first.point.shape == (6,) and alps.DOMAIN.contains(first.point[None, :]).all()
    # the chosen point is the lowest exact χ² of everything evaluated
    evaluated = np.r_[first.candidates["chi2_exact"].dropna(), first.polish["chi2_exact"]]
    assert first.chi2_exact == np.nanmin(evaluated)
    assert first.chi2_surrogate == pytest.approx(
        surrogate.predict_smooth(first.point[None, :])[0], rel=1e-12)
    # the cached value is ALPaca's, computed afresh here
    assert first.chi2_exact == pytest.approx(alps.chi2(first.point, "exact")[0], rel=1e-12)
    series = first.as_series()
    assert series["log10_fa"] == pytest.approx(math.log10(first.point[0]))
    starts = first.starts(3, min_distance=0.1)
    np.testing.assert_array_equal(starts[0], first.point)
    z = fit.to_search(starts) / (fit.SEARCH_BOUNDS[:, 1] - fit.SEARCH_BOUNDS[:, 0])
    for i in range(len(starts)):
        for j in range(i):
            assert np.linalg.norm(z[i] - z[j]) >= 0.1
    with pytest.raises(ValueError, match="n must be"):
        first.starts(0)


@pytest.mark.slow
def test_default_best_fit_beats_the_training_set(surrogate, validated_error) -> None:
    """The default best fit's exact χ² is not above the lowest exact χ² of the training data,
    allowing for the surrogate's validated (hold-out RMS) error."""
    result = alps.best_fit(surrogate, seed=0)
    _, train_chi2 = sg.training_arrays("train")
    assert result.chi2_exact <= train_chi2.min() + validated_error, (
        result.chi2_exact, train_chi2.min(), validated_error)
    again = alps.best_fit(surrogate, seed=0)
    np.testing.assert_array_equal(result.point, again.point)


# ---------------------------------------------------------------------------------- profiles ---
def test_profile_1d_on_the_smoothed_surrogate(smoothed) -> None:
    start = fit._training_starts(1)[0]
    grid = np.linspace(6.6, 7.6, 4)
    profile = fit.profile_1d("log10_fa", grid, start=start, smoothed=smoothed, progress=False)
    assert isinstance(profile, stats.Profile1D)
    assert profile.name == "log10_fa" and profile.index == 0
    assert np.isfinite(profile.chi2).all()
    assert (profile.delta_chi2 >= -1e-9).all()
    # the profile is a minimum over the nuisances: never above the smoothed χ² at the start's
    # couplings with f_a moved to the grid value
    z0 = fit.to_search(start)[0]
    for value, chi2 in zip(grid, profile.chi2, strict=True):
        z = z0.copy()
        z[0] = value
        assert chi2 <= smoothed.chi2_search(z) + 1e-6
    np.testing.assert_array_equal(profile.params[:, 0], grid)
    with pytest.raises(ValueError, match="log10_fa"):
        fit.profile_1d("fa", grid, start=start, smoothed=smoothed)
    with pytest.raises(ValueError, match="unknown parameter"):
        fit.profile_1d("cxx", grid, start=start, smoothed=smoothed)
    with pytest.raises(ValueError, match="start"):
        fit.profile_1d("cuR", grid, start=None, smoothed=smoothed)


def test_profile_envelope_over_starts(smoothed) -> None:
    """Several starts: the profile is the lower envelope of the single-start scans."""
    starts = fit._training_starts(6)[[0, 5]]
    grid = np.linspace(6.6, 7.6, 3)
    single = [fit.profile_1d("log10_fa", grid, start=p, smoothed=smoothed, progress=False)
              for p in starts]
    both = fit.profile_1d("log10_fa", grid, start=starts, smoothed=smoothed, progress=False)
    np.testing.assert_array_equal(both.chi2, np.minimum(single[0].chi2, single[1].chi2))
    assert both.chi2_min == min(s.chi2_min for s in single)
    pick = np.argmin([single[0].chi2, single[1].chi2], axis=0)
    for k, r in enumerate(pick):
        np.testing.assert_array_equal(both.params[k], single[r].params[k])


def test_profile_2d_shape(smoothed) -> None:
    start = fit._training_starts(1)[0]
    profile = fit.profile_2d(("cqL33", "cuR"), np.linspace(1.0, 3.0, 3), np.linspace(-1, 1, 2),
                             start=start, smoothed=smoothed, progress=False)
    assert profile.chi2.shape == (2, 3) and np.isfinite(profile.chi2).all()
    with pytest.raises(ValueError, match="two"):
        fit.profile_2d(("cqL33",), [0, 1], [0, 1], start=start, smoothed=smoothed)


# ------------------------------------------------------------------------- caching, tests ---
def test_cached_table_reads_its_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    pts = np.array([[1.0e7, 1.0, 0.5, -0.3, 0.2, 0.1]])
    first = fit.cached_table(alps.low_energy_couplings, pts, "leadinglog", name="t")
    pd.testing.assert_frame_equal(first, alps.low_energy_couplings(pts, "leadinglog"))
    assert len(list((tmp_path / "tables" / "t").glob("*.pkl"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("ALPaca called although the table is cached")

    monkeypatch.setattr(alps, "couplings_low", fail)
    pd.testing.assert_frame_equal(
        fit.cached_table(alps.low_energy_couplings, pts, "leadinglog", name="t"), first)
    with pytest.raises(ValueError, match="supports"):
        fit.cached_table(alps.chi2, pts, "leadinglog")
    with pytest.raises(ValueError, match="unknown integrator"):
        fit.cached_table(alps.low_energy_couplings, pts, "nlo")


def test_significance() -> None:
    one = fit.significance(20.0, 11.0, dof=1)
    assert one["delta_chi2"] == pytest.approx(9.0)
    assert one["nsigma"] == pytest.approx(3.0, rel=1e-9)
    assert one["pvalue"] == pytest.approx(stats.nsigma_to_pvalue(3.0), rel=1e-9)
    five = fit.significance(20.0, 11.0, dof=5)
    assert five["nsigma"] < one["nsigma"] and five["dof"] == 5
    assert fit.significance(11.0, 11.0, dof=5)["nsigma"] == 0.0
    with pytest.raises(ValueError, match="fits worse"):
        fit.significance(10.0, 11.0, dof=1)
    with pytest.raises(ValueError, match="finite"):
        fit.significance(math.inf, 11.0, dof=1)
    with pytest.raises(ValueError, match="dof"):
        fit.significance(20.0, 11.0, dof=0)


@pytest.mark.slow
def test_posterior_is_cached(tmp_path, monkeypatch) -> None:
    """fit.posterior stores its result: a second call loads the same chain without sampling."""
    from lecture_utils import sampling

    def private_cache(*parts: str):  # only fit's own cache moves; models stay cached
        path = tmp_path.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    monkeypatch.setattr(fit, "cache_dir", private_cache)
    first = fit.posterior("gaussian", seed=1, progress=False)
    assert first.converged
    assert len(list((tmp_path / "posteriors").glob("posterior-*.pkl"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("sampled again although the result is cached")

    monkeypatch.setattr(sampling, "sample_posterior", fail)
    again = fit.posterior("gaussian", seed=1, progress=False)
    np.testing.assert_array_equal(first.samples, again.samples)
    pd.testing.assert_frame_equal(first.summary(), again.summary())
    with pytest.raises(ValueError, match="seed"):
        fit.posterior("gaussian", seed=-1)
