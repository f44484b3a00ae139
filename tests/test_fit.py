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

from lecture_utils import alps, data, fit, smooth, stats
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


# --------------------------------------------------------------- from lecture_utils.smooth ---
def test_smoothed_surrogate_and_coordinates_are_re_exported() -> None:
    """The smoothed surrogate and the search coordinates live in lecture_utils.smooth (the sampler
    needs them too; tested in test_smooth.py); fit re-exports the same objects."""
    for name in ("SmoothedSurrogate", "SoftTreeEnsemble", "SEARCH_NAMES", "SEARCH_BOUNDS",
                 "DEFAULT_SMOOTHING", "to_search", "from_search"):
        assert getattr(fit, name) is getattr(smooth, name), name


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
    first = fit.best_fit(surrogate, 0, **kwargs)
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
    result = fit.best_fit(surrogate, seed=0)
    _, train_chi2 = sg.training_arrays("train")
    assert result.chi2_exact <= train_chi2.min() + validated_error, (
        result.chi2_exact, train_chi2.min(), validated_error)
    again = fit.best_fit(surrogate, seed=0)
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


def test_profiles_are_cached(smoothed, monkeypatch, tmp_path) -> None:
    """A profile on the saved course surrogate is stored once and read back bit for bit (a 1-D
    one with a working minimiser); other arguments are other entries; a damaged entry is
    recomputed."""
    from lecture_utils import _cache

    monkeypatch.setenv(_cache.ENV_VAR, str(tmp_path))
    start = fit._training_starts(1)[0]
    grid = np.linspace(6.6, 7.6, 3)
    first = fit.profile_1d("log10_fa", grid, start=start, smoothed=smoothed, progress=False)
    first_2d = fit.profile_2d(("cqL33", "cuR"), np.linspace(1.0, 3.0, 2), np.linspace(-1, 1, 2),
                              start=start, smoothed=smoothed, progress=False)

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached profile must not be recomputed")

    monkeypatch.setattr(stats, "profile_1d", no_scan)
    monkeypatch.setattr(stats, "profile_2d", no_scan)
    again = fit.profile_1d("log10_fa", grid, start=start, smoothed=smoothed)
    again_2d = fit.profile_2d(("cqL33", "cuR"), np.linspace(1.0, 3.0, 2), np.linspace(-1, 1, 2),
                              start=start, smoothed=smoothed)
    for a, b in ((first, again), (first_2d, again_2d)):
        assert a.chi2.tobytes() == b.chi2.tobytes() and a.params.tobytes() == b.params.tobytes()
        assert (a.valid == b.valid).all() and a.chi2_min == b.chi2_min
        assert a.best_fit.tobytes() == b.best_fit.tobytes() and a.names == b.names
    assert again.name == "log10_fa" and again.index == 0
    # the minimiser of a cached profile works: at a grid point it finds the scanned value, and it
    # agrees with the fresh profile's minimiser, both to MIGRAD's resolution on the smoothed
    # surrogate (a few 0.01 in χ²; the minima are flat)
    chi2_at, _ = again.profile_at(7.1)
    assert np.isfinite(chi2_at) and abs(chi2_at - again.chi2[1]) < 0.05
    assert abs(chi2_at - first.profile_at(7.1)[0]) < 0.05
    assert chi2_at > again.chi2_min - 0.05
    with pytest.raises(AssertionError, match="recomputed"):
        fit.profile_1d("log10_fa", grid, start=start, smoothed=smoothed, tol=0.05)
    for entry in _cache.cache_dir("profiles").iterdir():
        entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unusable"), pytest.raises(AssertionError):
        fit.profile_1d("log10_fa", grid, start=start, smoothed=smoothed)


# ------------------------------------------------------------------------- caching, tests ---
def test_cached_table_reads_its_cache(tmp_path, monkeypatch) -> None:
    """fit.cached_table goes through the per-point evaluation cache of lecture_utils.data: the
    table equals ALPaca's, one entry per point, and a second call runs no ALPaca."""
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    pts = np.array([[1.0e7, 1.0, 0.5, -0.3, 0.2, 0.1], [2.0e7, -1.0, 0.0, 0.3, 0.0, 1.1]])
    first = fit.cached_table(alps.low_energy_couplings, pts, "leadinglog", name="t")
    pd.testing.assert_frame_equal(first, alps.low_energy_couplings(pts, "leadinglog"))
    assert len(list((tmp_path / "evaluations" / "points" / "low-energy").glob("*.json"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("ALPaca called although the table is cached")

    monkeypatch.setattr(alps.likelihood, "couplings_low", fail)
    pd.testing.assert_frame_equal(
        fit.cached_table(alps.low_energy_couplings, pts, "leadinglog", name="t"), first)
    # the same points through explain's helper (another caller, another name): the same entries
    from lecture_utils import explain

    pd.testing.assert_frame_equal(explain.low_energy_table(pts[::-1], "leadinglog"),
                                  first.iloc[::-1].reset_index(drop=True))
    with pytest.raises(ValueError, match="supports"):
        fit.cached_table(alps.chi2, pts, "leadinglog")
    with pytest.raises(ValueError, match="unknown integrator"):
        fit.cached_table(alps.low_energy_couplings, pts, "nlo")
    with pytest.raises(ValueError, match="takes one point"):
        fit.cached_table(alps.observable_table, pts, "leadinglog")


def test_best_fit_batches_its_exact_evaluations(surrogate, tmp_path, monkeypatch) -> None:
    """The exact stage needs few engine calls: one for the candidates, one for the polish's
    initial simplex (evaluated beforehand, and found in the cache by the Nelder–Mead: the first
    polish evaluations are exactly those points), then one per further step. The χ² is a
    stand-in (a test aid): a bowl in search coordinates."""
    from lecture_utils import engine

    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    monkeypatch.setenv(data.SEED_ENV_VAR, "0")  # no shipped values of the real χ²
    centre = np.array([7.0, 1.0, -0.5, 0.3, 0.0, 0.2])

    def bowl(points, integrator="exact", **kwargs):
        z = fit.to_search(points)
        return 15.0 + (((z - centre) / np.ptp(fit.SEARCH_BOUNDS, axis=1)) ** 2).sum(axis=1) * 100

    monkeypatch.setattr(alps, "chi2", bowl)
    monkeypatch.setattr(alps, "load_alpaca", lambda: None)
    candidates = pd.DataFrame(fit.from_search([[7.2, 1.5, 0.0, 0.0, 0.0, 0.0],
                                               [6.8, 0.5, -1.0, 0.5, 0.5, 0.5]]),
                              columns=list(alps.PARAMETERS))
    candidates["chi2_surrogate"] = [14.0, 15.0]
    candidates["origin"] = "train"
    monkeypatch.setattr(fit, "surrogate_minima", lambda *a, **k: candidates.copy())
    real = engine.evaluate
    calls: list[np.ndarray] = []

    def recording(points, *args, **kwargs):
        calls.append(np.array(points))
        return real(points, *args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", recording)
    budget = 9
    result = fit.best_fit(surrogate, 0, top_k=2, polish_budget=budget, progress=False)
    m = len(fit.SEARCH_NAMES)
    assert len(result.polish) == budget
    assert len(calls) == 2 + (budget - (m + 1))
    np.testing.assert_array_equal(calls[0], candidates[list(alps.PARAMETERS)].to_numpy())
    prefetched = calls[1]
    assert len(prefetched) in (m, m + 1)    # the start vertex may equal the candidate bit by bit
    np.testing.assert_array_equal(result.polish[list(alps.PARAMETERS)].to_numpy()[m + 1 - len(
        prefetched):m + 1], prefetched)
    evaluated = np.r_[bowl(candidates[list(alps.PARAMETERS)].to_numpy()),
                      result.polish["chi2_exact"]]
    assert result.chi2_exact == evaluated.min() and result.n_exact == 2 + budget


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
