"""lecture_utils.smooth: search coordinates, soft trees and the smoothed surrogate (with the
course's surrogate and the shipped hold-out set)."""

from __future__ import annotations

import numpy as np
import pytest

from lecture_utils import alps, data, smooth, stats
from lecture_utils import surrogate as sg


@pytest.fixture(scope="module")
def course_surrogate() -> sg.TwoStageSurrogate:
    return sg.default_surrogate()


@pytest.fixture(scope="module")
def course_smoothed(course_surrogate: sg.TwoStageSurrogate) -> smooth.SmoothedSurrogate:
    return smooth.SmoothedSurrogate(course_surrogate)


@pytest.fixture(scope="module")
def course_holdout() -> tuple[np.ndarray, np.ndarray]:
    frame = data.load("holdout")
    return frame[list(alps.PARAMETERS)].to_numpy(), frame["chi2"].to_numpy()


def _lowest_training_point() -> np.ndarray:
    points, chi2 = sg.training_arrays("train")
    return points[int(np.argmin(chi2))]


def test_search_coordinates_roundtrip() -> None:
    pts = np.array([[1.0e6, 1.0, -2.0, 0.5, 3.5, -3.5], [5.0e7, 0, 0, 0, 0, 0]])
    z = smooth.to_search(pts)
    np.testing.assert_allclose(z[:, 0], [6.0, np.log10(5e7)])
    np.testing.assert_allclose(smooth.from_search(z), pts, rtol=1e-14)
    np.testing.assert_allclose(smooth.SEARCH_BOUNDS, alps.DOMAIN.unit_bounds)
    assert smooth.SEARCH_NAMES[0] == "log10_fa" and smooth.SEARCH_NAMES[1:] == alps.PARAMETERS[1:]
    with pytest.raises(ValueError, match="shape"):
        smooth.from_search(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        smooth.from_search([7.0, np.nan, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="fa"):
        smooth.to_search([-1.0, 0, 0, 0, 0, 0])


def test_soft_trees_reproduce_xgboost_without_blur(course_surrogate, course_smoothed,
                                                   course_holdout) -> None:
    points, _ = course_holdout
    x = course_surrogate.features(points).astype(float)
    margins = course_smoothed.trees.margin(x)
    np.testing.assert_allclose(margins[:, 0], course_surrogate.gate_logit(points), atol=1e-4)
    np.testing.assert_allclose(margins[:, 1], course_surrogate.predict_regressor(points), atol=1e-4)


def test_smoothed_tends_to_the_surrogate(course_surrogate, course_smoothed, course_holdout) -> None:
    points, chi2 = course_holdout
    inside = chi2 - course_surrogate.chi2_min < stats.REGION_DELTA_CHI2
    reference = course_surrogate.predict_smooth(points)
    tiny = smooth.SmoothedSurrogate(course_surrogate, smoothing=[1e-7] * 6)
    # (XGBoost sums its trees in float32: agreement to ~1e-5, as without blur)
    assert np.median(np.abs(tiny.chi2(points) - reference)) < 1e-4
    # the default blur changes the surrogate by much less than the surrogate's own error
    shift = np.abs(course_smoothed.chi2(points) - reference)[inside].mean()
    error = np.abs(reference - chi2)[inside].mean()
    assert shift < 0.5 * error, (shift, error)


def test_smoothed_is_differentiable(course_smoothed) -> None:
    """Finite differences converge for the smoothed χ² (they are 0 or huge for raw trees)."""
    z = smooth.to_search(_lowest_training_point())[0]
    z = np.clip(z, smooth.SEARCH_BOUNDS[:, 0] + 0.1, smooth.SEARCH_BOUNDS[:, 1] - 0.1)
    sigma = np.asarray(smooth.DEFAULT_SMOOTHING)
    nonzero = 0
    for k in range(6):
        e = np.zeros(6)
        e[k] = 1.0
        grads = []
        for h in (1e-2 * sigma[k], 1e-3 * sigma[k]):
            f = course_smoothed.chi2_search
            grads.append((f(z + h * e) - f(z - h * e)) / (2 * h))
        assert grads[0] == pytest.approx(grads[1], rel=2e-2, abs=1e-3), (k, grads)
        nonzero += abs(grads[1]) > 1e-6
    assert nonzero >= 3  # a genuinely varying function, not a plateau


def test_feature_blur_is_the_first_order_propagation_of_the_search_blur() -> None:
    """The analytic blur of every feature equals σ propagated with a central-difference Jacobian
    of :func:`features` (computed here independently, in float64)."""
    pts = alps.DOMAIN.from_unit(np.random.default_rng(4).random((30, 6)))
    pts[0, 1:] = [1.0, 1.0, 0.3, -0.2, 0.5]  # c_t = 0: c_bs small, |c_bs| still differentiable
    for transform in ("ratio", "running"):
        smoothed = smooth.SmoothedSurrogate(sg.default_surrogate(transform=transform))
        sigma = smoothed.feature_sigma(pts)
        z = smooth.to_search(pts)
        variance = 0.0
        step = 1e-6
        for j, width in enumerate(smoothed.smoothing):
            e = np.zeros(6)
            e[j] = step
            up = sg.features_of(smooth.from_search(z + e), transform, np.float64)
            down = sg.features_of(smooth.from_search(z - e), transform, np.float64)
            variance = variance + ((up - down) / (2 * step) * width) ** 2
        assert sigma.shape == (30, len(sg.feature_names(transform)))
        assert np.isfinite(sigma).all() and (sigma > 0).all()
        np.testing.assert_allclose(sigma, np.sqrt(variance), rtol=1e-5, err_msg=transform)


def test_smoothed_bad_input(course_surrogate, course_smoothed) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        smooth.SmoothedSurrogate(course_surrogate, smoothing=[0.1] * 5)
    with pytest.raises(ValueError, match="smoothing"):
        smooth.SmoothedSurrogate(course_surrogate, smoothing=[0.0] * 6)
    with pytest.raises(ValueError, match="TwoStageSurrogate"):
        smooth.SmoothedSurrogate("not a model")
    with pytest.raises(ValueError, match="finite search coordinates"):
        course_smoothed.chi2_search([7.0, np.inf, 0, 0, 0, 0])
    n_features = len(course_surrogate.feature_names)
    with pytest.raises(ValueError, match="sigma"):
        course_smoothed.trees.margin(np.zeros((1, n_features)), np.zeros((1, n_features)))
    with pytest.raises(ValueError, match="shape"):
        course_smoothed.trees.margin(np.zeros((1, n_features + 1)))


