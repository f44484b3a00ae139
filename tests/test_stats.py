"""Tests of lecture_utils.stats: thresholds, χ², Wilks toys, profiles, MINOS, validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special
from scipy import stats as sps

from lecture_utils import stats

CLS = (0.6827, 0.9545, 0.9973)
DOFS = range(1, 7)

# An analytic quadratic χ²: a correlated 3-D Gaussian with known covariance and minimum 4.5.
COV3 = np.array([[1.0, 0.6, -0.3], [0.6, 2.0, 0.5], [-0.3, 0.5, 0.8]])
COV3_INV = np.linalg.inv(COV3)
XHAT3 = np.array([0.3, -1.2, 2.0])
CHI2_0 = 4.5


def quadratic_chi2(x: np.ndarray) -> float:
    d = np.asarray(x) - XHAT3
    return float(d @ COV3_INV @ d) + CHI2_0


def exact_interval(index: int, cl: float) -> tuple[float, float]:
    half = math.sqrt(sps.chi2.ppf(cl, 1) * COV3[index, index])
    return XHAT3[index] - half, XHAT3[index] + half


# ---------------------------------------------------------------------------------------------
# thresholds and conversions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dof", DOFS)
@pytest.mark.parametrize("cl", CLS)
def test_delta_chi2_equals_chi2_ppf(cl: float, dof: int) -> None:
    assert stats.delta_chi2(cl, dof=dof) == pytest.approx(sps.chi2.ppf(cl, dof), rel=1e-12)


@pytest.mark.parametrize("dof", DOFS)
def test_delta_chi2_from_nsigma_matches_cl(dof: int) -> None:
    for n in (1.0, 2.0, 3.0, 5.0):
        cl = stats.cl_from_nsigma(n)
        assert stats.delta_chi2(nsigma=n, dof=dof) == pytest.approx(
            sps.chi2.ppf(cl, dof), rel=1e-9)
    # one parameter: the n-sigma threshold is n squared
    assert stats.delta_chi2(nsigma=3.0, dof=1) == pytest.approx(9.0, rel=1e-12)


def test_well_known_thresholds() -> None:
    assert stats.delta_chi2(nsigma=1, dof=2) == pytest.approx(2.2957, abs=1e-4)
    assert stats.delta_chi2(0.95, dof=2) == pytest.approx(5.9915, abs=1e-4)


@pytest.mark.parametrize(("n", "cl"), [(1, 0.6827), (2, 0.9545), (3, 0.9973)])
def test_nsigma_to_cl_standard_values(n: int, cl: float) -> None:
    assert stats.cl_from_nsigma(n) == pytest.approx(cl, abs=1e-4)
    assert stats.nsigma_from_cl(cl) == pytest.approx(n, abs=1e-3)


def test_conversions_round_trip() -> None:
    ns = np.array([0.1, 0.5, 1.0, 1.7, 2.0, 3.0, 4.2, 6.0])
    np.testing.assert_allclose(stats.nsigma_from_cl(stats.cl_from_nsigma(ns)), ns, rtol=1e-9)
    # p-values keep precision far into the tail
    ns_tail = np.append(ns, [8.0, 12.0])
    np.testing.assert_allclose(stats.pvalue_to_nsigma(stats.nsigma_to_pvalue(ns_tail)), ns_tail,
                               rtol=1e-10)
    np.testing.assert_allclose(
        stats.pvalue_to_nsigma(stats.nsigma_to_pvalue(ns_tail, two_sided=False), two_sided=False),
        ns_tail, rtol=1e-10)
    cls = np.array([0.1, 0.5, 0.6827, 0.9, 0.99])
    np.testing.assert_allclose(stats.cl_from_nsigma(stats.nsigma_from_cl(cls)), cls, rtol=1e-12)
    for dof in DOFS:
        assert stats.cl_from_delta_chi2(stats.delta_chi2(0.9, dof=dof), dof) == pytest.approx(0.9)


def test_pvalue_conventions() -> None:
    assert stats.nsigma_to_pvalue(1.0) == pytest.approx(1 - stats.cl_from_nsigma(1.0), rel=1e-12)
    assert stats.nsigma_to_pvalue(5.0, two_sided=False) == pytest.approx(2.8665e-7, rel=1e-4)
    assert stats.nsigma_to_pvalue(5.0) == pytest.approx(2 * 2.8665e-7, rel=1e-4)
    assert isinstance(stats.cl_from_nsigma(2.0), float)
    assert stats.chi2_pvalue(17.0, 17) == pytest.approx(sps.chi2.sf(17.0, 17))


def test_delta_chi2_table() -> None:
    table = stats.delta_chi2_table()
    assert isinstance(table, pd.DataFrame)
    assert table.shape == (6, 3)
    assert list(table.index) == list(DOFS)
    for dof in DOFS:
        for cl in CLS:
            assert table.loc[dof, cl] == pytest.approx(sps.chi2.ppf(cl, dof), rel=1e-12)
    by_sigma = stats.delta_chi2_table(nsigmas=(1, 2), dofs=(1, 2))
    assert list(by_sigma.columns) == ["1σ", "2σ"]
    assert by_sigma.loc[1, "2σ"] == pytest.approx(4.0)


def test_region_constant_and_levels() -> None:
    assert stats.REGION_DELTA_CHI2 == 10.0
    levels = stats.contour_levels(nsigmas=(2, 1), dof=2)
    np.testing.assert_allclose(levels, [stats.delta_chi2(nsigma=1, dof=2),
                                        stats.delta_chi2(nsigma=2, dof=2)])
    mask = stats.region_mask(np.array([0.0, 2.0, 2.5, np.inf]), nsigma=1, dof=2)
    assert mask.tolist() == [True, True, False, False]


# ---------------------------------------------------------------------------------------------
# Gaussian χ²
# ---------------------------------------------------------------------------------------------


def test_chi2_independent_and_correlated() -> None:
    data = np.array([1.0, 2.0, 3.5])
    pred = np.array([1.2, 1.7, 3.0])
    sigma = np.array([0.1, 0.3, 0.5])
    expected = np.sum(((data - pred) / sigma) ** 2)
    assert stats.chi2_gaussian(data, sigma, prediction=pred) == pytest.approx(expected, rel=1e-12)
    assert stats.chi2_gaussian(data - pred, np.diag(sigma**2)) == pytest.approx(expected,
                                                                               rel=1e-12)
    theory = stats.covariance_from_correlation([0.2, 0.2, 0.2], 1.0)
    cov = stats.total_covariance(sigma, theory)
    np.testing.assert_allclose(cov, np.diag(sigma**2) + 0.04)
    r = data - pred
    assert stats.chi2_gaussian(data, cov, prediction=pred) == pytest.approx(
        r @ np.linalg.solve(cov, r), rel=1e-12)
    # batches: one χ² per row
    batch = np.stack([pred, pred + 0.1, pred - 0.2])
    chi2 = stats.GaussianChi2(data, cov)
    np.testing.assert_allclose(chi2(batch), [chi2(p) for p in batch], rtol=1e-12)
    # normalised likelihood: -2 ln L = χ² + ln det(2πC)
    log_l = stats.gaussian_log_likelihood(data, cov, prediction=pred)
    assert log_l == pytest.approx(sps.multivariate_normal(pred, cov).logpdf(data), rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_chi2_rejects_nan_and_inf(bad: float) -> None:
    with pytest.raises(ValueError, match="data contains"):
        stats.chi2_gaussian([1.0, bad], [1.0, 1.0], prediction=[0.0, 0.0])
    with pytest.raises(ValueError, match="prediction contains"):
        stats.chi2_gaussian([1.0, 0.0], [1.0, 1.0], prediction=[0.0, bad])
    with pytest.raises(ValueError, match="covariance"):
        stats.chi2_gaussian([1.0, 0.0], [[1.0, bad], [bad, 1.0]])


def test_chi2_rejects_bad_covariance() -> None:
    not_pd = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with pytest.raises(ValueError, match="not positive definite"):
        stats.chi2_gaussian([1.0, 0.0], not_pd)
    with pytest.raises(ValueError, match="not symmetric"):
        stats.chi2_gaussian([1.0, 0.0], [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="not positive definite"):
        stats.GaussianChi2([1.0, 0.0], stats.covariance_from_correlation([1.0, 1.0], 1.0))
    with pytest.raises(ValueError, match="shape mismatch"):
        stats.chi2_gaussian([1.0, 0.0, 2.0], np.eye(2))
    with pytest.raises(ValueError, match="shape mismatch"):
        stats.total_covariance([1.0, 2.0], np.eye(3))
    with pytest.raises(ValueError, match="correlation"):
        stats.covariance_from_correlation([1.0, 1.0], [[1.0, 1.5], [1.5, 1.0]])


# ---------------------------------------------------------------------------------------------
# Wilks' theorem with pseudo-experiments
# ---------------------------------------------------------------------------------------------

X_LINE = np.linspace(-1.0, 1.0, 15)
DESIGN = np.vander(X_LINE, 3, increasing=True)  # intercept, slope, curvature
SIGMA_LINE = 0.2 + 0.1 * X_LINE**2
THETA = np.array([1.0, -0.5, 0.3])


@pytest.mark.parametrize("k", [1, 2])
def test_wilks_fractions_match_nominal(k: int) -> None:
    t = stats.wilks_toys_linear(4000, DESIGN, SIGMA_LINE, THETA, n_poi=k, seed=20260101 + k)
    assert t.shape == (4000,)
    check = stats.wilks_check(t, dof=k)
    for cl in (0.6827, 0.9545):
        frac = np.mean(t < sps.chi2.ppf(cl, k))
        assert abs(frac - cl) <= 3 * math.sqrt(cl * (1 - cl) / t.size)
        assert check.table.loc[cl, "fraction"] == pytest.approx(frac)
    assert check.passed()
    assert check.ks_pvalue > 1e-3


def test_wilks_gaussian_means_with_correlations() -> None:
    # k independent-looking Gaussian means with a correlated covariance: identity design
    cov = np.array([[1.0, 0.8], [0.8, 2.0]])
    t = stats.wilks_toys_linear(3000, np.eye(2), cov, [0.0, 1.0], seed=7)
    assert stats.wilks_check(t, dof=2).passed()


def test_wilks_check_detects_wrong_dof() -> None:
    t2 = stats.wilks_toys_linear(4000, DESIGN, SIGMA_LINE, THETA, n_poi=2, seed=11)
    assert stats.wilks_check(t2, dof=2).passed()
    assert not stats.wilks_check(t2, dof=1).passed()
    assert not stats.wilks_check(t2, dof=3).passed()


def test_wilks_toys_seeded() -> None:
    a = stats.wilks_toys_linear(2000, DESIGN, SIGMA_LINE, THETA, n_poi=1, seed=5)
    b = stats.wilks_toys_linear(2000, DESIGN, SIGMA_LINE, THETA, n_poi=1, seed=5)
    c = stats.wilks_toys_linear(2000, DESIGN, SIGMA_LINE, THETA, n_poi=1, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1 = stats.wilks_toys_poisson(2000, [3.0, 4.0], seed=np.random.default_rng(9))
    g2 = stats.wilks_toys_poisson(2000, [3.0, 4.0], seed=np.random.default_rng(9))
    np.testing.assert_array_equal(g1, g2)
    with pytest.raises(ValueError, match="seed is required"):
        stats.wilks_toys_poisson(10, [3.0], seed=None)  # type: ignore[arg-type]


def test_wilks_is_only_asymptotic_for_poisson() -> None:
    small = stats.wilks_toys_poisson(5000, [1.0], seed=1)
    large = stats.wilks_toys_poisson(5000, [400.0], seed=1)
    assert stats.wilks_check(large, dof=1).passed()
    assert not stats.wilks_check(small, dof=1).passed()


def test_wilks_toys_are_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    # all toys are fitted in one pass: two least-squares solves (free fit and H0 fit, one column
    # per toy) and one Poisson likelihood-ratio evaluation, however many toys are drawn
    mu = np.array([5.0, 5.0])
    counts = np.random.default_rng(1).poisson(mu, size=(10_000, 2)).astype(float)
    expected = 2.0 * np.sum(mu - counts + special.xlogy(counts, counts / mu), axis=1)
    solves: list[tuple[int, ...]] = []
    xlogy_shapes: list[tuple[int, ...]] = []
    real_lstsq, real_xlogy = np.linalg.lstsq, special.xlogy

    def counting_lstsq(a: np.ndarray, b: np.ndarray, *args: object, **kwargs: object) -> tuple:
        solves.append(np.shape(b))
        return real_lstsq(a, b, *args, **kwargs)

    def counting_xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xlogy_shapes.append(np.shape(x))
        return real_xlogy(x, y)

    monkeypatch.setattr(np.linalg, "lstsq", counting_lstsq)
    monkeypatch.setattr(special, "xlogy", counting_xlogy)
    t = stats.wilks_toys_linear(10_000, DESIGN, SIGMA_LINE, THETA, n_poi=2, seed=1)
    assert t.shape == (10_000,)
    assert solves == [(DESIGN.shape[0], 10_000)] * 2
    g = stats.wilks_toys_poisson(10_000, mu, seed=1)
    assert xlogy_shapes == [(10_000, 2)]
    np.testing.assert_allclose(g, np.maximum(expected, 0.0), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# profiles, intervals, MINOS
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profile_x1() -> stats.Profile1D:
    return stats.profile_1d(quadratic_chi2, np.zeros(3), 1, np.linspace(-7.0, 5.0, 13),
                            progress=False)


def test_profile_1d_is_the_exact_profile(profile_x1: stats.Profile1D) -> None:
    exact = (profile_x1.grid - XHAT3[1]) ** 2 / COV3[1, 1]
    np.testing.assert_allclose(profile_x1.delta_chi2, exact, atol=1e-6)
    assert profile_x1.chi2_min == pytest.approx(CHI2_0, abs=1e-8)
    np.testing.assert_allclose(profile_x1.best_fit, XHAT3, atol=1e-4)
    # profiled nuisance parameters follow the conditional mean x_j + C_j1/C_11 (g - x_1)
    cond = XHAT3 + np.outer(profile_x1.grid - XHAT3[1], COV3[:, 1] / COV3[1, 1])
    np.testing.assert_allclose(profile_x1.params, cond, atol=1e-4)
    assert profile_x1.valid.all()
    frame = profile_x1.to_frame()
    assert list(frame.columns) == ["chi2", "delta_chi2", "x0", "x1", "x2"]


@pytest.mark.parametrize("cl", CLS)
def test_profile_interval_is_exact(profile_x1: stats.Profile1D, cl: float) -> None:
    interval = stats.interval_from_profile(profile_x1, cl)
    lo, hi = exact_interval(1, cl)
    assert interval.lower == pytest.approx(lo, abs=1e-6)
    assert interval.upper == pytest.approx(hi, abs=1e-6)
    assert interval.threshold == pytest.approx(sps.chi2.ppf(cl, 1))
    assert len(interval.segments) == 1


def test_refinement_beats_grid_interpolation(profile_x1: stats.Profile1D) -> None:
    lo, hi = exact_interval(1, 0.6827)
    coarse = stats.interval_from_profile(profile_x1, 0.6827, refine=False)
    assert abs(coarse.lower - lo) > 1e-3  # a 1-unit grid cannot locate the crossing...
    refined = stats.interval_from_profile(profile_x1, nsigma=2.0)
    lo2, hi2 = exact_interval(1, stats.cl_from_nsigma(2.0))
    assert refined.lower == pytest.approx(lo2, abs=1e-6)  # ...re-profiling can
    assert refined.upper == pytest.approx(hi2, abs=1e-6)


def test_interval_open_when_grid_too_short() -> None:
    prof = stats.profile_1d(quadratic_chi2, np.zeros(3), 0, np.linspace(-1.5, 1.0, 11),
                            progress=False)
    interval = prof.interval(nsigma=1)
    assert interval.lower == pytest.approx(exact_interval(0, stats.cl_from_nsigma(1))[0],
                                           abs=1e-6)
    assert interval.upper == math.inf


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("cl", [0.6827, 0.9545])
def test_minos_agrees_with_profile(index: int, cl: float) -> None:
    prof = stats.profile_1d(quadratic_chi2, np.zeros(3), index, np.linspace(-8.0, 8.0, 33),
                            progress=False)
    from_profile = stats.interval_from_profile(prof, cl)
    minos = stats.minos_interval(quadratic_chi2, np.zeros(3), index, cl)
    assert minos.method == "minos"
    assert minos.lower == pytest.approx(from_profile.lower, abs=1e-3)
    assert minos.upper == pytest.approx(from_profile.upper, abs=1e-3)
    lo, hi = exact_interval(index, cl)
    assert minos.lower == pytest.approx(lo, abs=1e-3)
    assert minos.upper == pytest.approx(hi, abs=1e-3)


def test_profile_2d_equals_exact_profile() -> None:
    gx, gy = np.linspace(-3.0, 3.0, 13), np.linspace(-1.0, 5.0, 11)
    prof = stats.profile_2d(quadratic_chi2, np.zeros(3), (0, 2), gx, gy, progress=False)
    assert prof.chi2.shape == (gy.size, gx.size)
    sub_inv = np.linalg.inv(COV3[np.ix_([0, 2], [0, 2])])
    dx, dy = np.meshgrid(gx - XHAT3[0], gy - XHAT3[2])
    exact = sub_inv[0, 0] * dx**2 + 2 * sub_inv[0, 1] * dx * dy + sub_inv[1, 1] * dy**2
    np.testing.assert_allclose(prof.delta_chi2, exact, atol=1e-6)
    np.testing.assert_allclose(prof.chi2, exact + CHI2_0, atol=1e-6)
    assert prof.valid.all()
    mask = prof.region_mask(nsigma=1)
    np.testing.assert_array_equal(mask, exact <= stats.delta_chi2(nsigma=1, dof=2))


def test_profile_non_quadratic_with_bounds() -> None:
    # χ² of a Poisson-like shape in a bounded parameter; one parameter only (no nuisance)
    def chi2(x: np.ndarray) -> float:
        mu = x[0]
        return 2.0 * (mu - 5.0 + 5.0 * math.log(5.0 / mu))

    prof = stats.profile_1d(chi2, [3.0], 0, np.linspace(0.5, 15.0, 30), bounds=[(0.1, None)],
                            progress=False)
    interval = prof.interval(nsigma=1)
    for end in (interval.lower, interval.upper):
        assert chi2(np.array([end])) - prof.chi2_min == pytest.approx(1.0, abs=1e-8)
    assert interval.lower < 5.0 < interval.upper
    assert interval.upper - 5.0 > 5.0 - interval.lower  # asymmetric, as it must be


def test_profile_finds_lower_minimum_than_start() -> None:
    # two minima; MIGRAD from x0 lands in the higher one, the scan finds the deeper one
    def chi2(x: np.ndarray) -> float:
        a, b = x
        return min((a - 2.0) ** 2 + 1.0, (a + 2.0) ** 2) + (b - 0.1 * a) ** 2

    prof = stats.profile_1d(chi2, [2.0, 0.5], 0, np.linspace(-4.0, 4.0, 41), progress=False)
    assert stats.make_minuit(chi2, [2.0, 0.5]).migrad().values[0] == pytest.approx(2.0, abs=1e-2)
    assert prof.best_fit[0] == pytest.approx(-2.0, abs=1e-3)
    assert prof.chi2_min == pytest.approx(0.0, abs=1e-6)
    assert prof.delta_chi2.min() >= -1e-12
    interval = prof.interval(0.6827)
    assert interval.lower < -2.0 < interval.upper


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cl", [0.0, 1.0, -0.1, 1.5, np.nan])
def test_bad_cl(cl: float) -> None:
    with pytest.raises(ValueError, match="cl"):
        stats.delta_chi2(cl)
    with pytest.raises(ValueError, match="cl"):
        stats.nsigma_from_cl(cl)


@pytest.mark.parametrize("dof", [0, -1, 1.5, np.nan, True])
def test_bad_dof(dof: float) -> None:
    with pytest.raises(ValueError, match="dof must be an integer >= 1"):
        stats.delta_chi2(0.68, dof=dof)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dof must be an integer >= 1"):
        stats.delta_chi2_table(dofs=[1, dof])  # type: ignore[list-item]


@pytest.mark.parametrize("nsigma", [0.0, -1.0, np.nan, np.inf])
def test_bad_nsigma(nsigma: float) -> None:
    with pytest.raises(ValueError, match="nsigma"):
        stats.cl_from_nsigma(nsigma)
    with pytest.raises(ValueError, match="nsigma"):
        stats.delta_chi2(nsigma=nsigma)


def test_bad_pvalue_and_ambiguous_arguments() -> None:
    for p in (0.0, 1.0, 2.0, np.nan):
        with pytest.raises(ValueError, match="pvalue"):
            stats.pvalue_to_nsigma(p)
    with pytest.raises(ValueError, match="exactly one"):
        stats.delta_chi2(0.68, nsigma=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        stats.delta_chi2()


def test_bad_profile_input(profile_x1: stats.Profile1D) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        stats.profile_1d(quadratic_chi2, np.zeros(3), 0, [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="out of range"):
        stats.profile_1d(quadratic_chi2, np.zeros(3), 3, [0.0, 1.0])
    with pytest.raises(ValueError, match="x0 contains NaN"):
        stats.profile_1d(quadratic_chi2, [0.0, np.nan, 0.0], 0, [0.0, 1.0])
    with pytest.raises(ValueError, match="bounds"):
        stats.profile_1d(quadratic_chi2, np.zeros(3), 0, [0.0, 1.0], bounds=[(0, 1)])
    with pytest.raises(ValueError, match="leaves the parameter bounds"):
        stats.profile_1d(quadratic_chi2, np.zeros(3), 0, [-1.0, 1.0],
                         bounds=[(0, 1), None, None])
    with pytest.raises(ValueError, match="different parameters"):
        stats.profile_2d(quadratic_chi2, np.zeros(3), (1, 1), [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="cl"):
        stats.interval_from_profile(profile_x1, 1.2)
    with pytest.raises(ValueError, match="NaN"):
        stats.profile_1d(lambda x: float("nan"), np.zeros(2), 0, [0.0, 1.0], progress=False)


def test_bad_toy_input() -> None:
    with pytest.raises(ValueError, match="n_toys"):
        stats.wilks_toys_linear(0, DESIGN, SIGMA_LINE, THETA, seed=1)
    with pytest.raises(ValueError, match="rank-deficient"):
        stats.wilks_toys_linear(10, np.ones((5, 2)), np.ones(5), [0.0, 0.0], seed=1)
    with pytest.raises(ValueError, match="n_poi"):
        stats.wilks_toys_linear(10, DESIGN, SIGMA_LINE, THETA, n_poi=4, seed=1)
    with pytest.raises(ValueError, match="not positive definite"):
        stats.wilks_toys_linear(10, np.eye(2), [[1.0, 2.0], [2.0, 1.0]], [0.0, 0.0], seed=1)
    with pytest.raises(ValueError, match="expected Poisson means must be > 0"):
        stats.wilks_toys_poisson(10, [0.0, 1.0], seed=1)


def test_quantile_table_matches_numpy_and_the_asymptotic_error() -> None:
    draws = np.random.default_rng(3).normal(size=(400, 2)) * [1.0, 2.0]
    table = stats.quantile_table(pd.DataFrame(draws, columns=["a", "b"]), seed=1)
    assert list(table.index) == ["a", "b"]
    assert table["q50"].to_numpy() == pytest.approx(np.quantile(draws, 0.5, axis=0))
    assert table["q16"].to_numpy() == pytest.approx(np.quantile(draws, 0.16, axis=0))
    # the median of n normal draws has standard error sqrt(pi/2) σ / sqrt(n): averaged over 40
    # independent samples, the bootstrap errors agree with it
    many = np.random.default_rng(4).normal(size=(400, 40))
    errors = stats.quantile_table(many, seed=2)["q50 error"]
    assert errors.mean() == pytest.approx(np.sqrt(np.pi / 2) / np.sqrt(400), rel=0.1)
    again = stats.quantile_table(pd.DataFrame(draws, columns=["a", "b"]), seed=1)
    pd.testing.assert_frame_equal(table, again)
    one = stats.quantile_table(draws[:, 0], quantiles=[0.5], seed=0)
    assert list(one.columns) == ["q50", "q50 error"]


@pytest.mark.parametrize(("values", "kwargs", "match"), [
    ([1.0], {}, "n ≥ 2"),
    ([1.0, np.nan, 2.0], {}, "NaN"),
    ([1.0, np.inf, 2.0], {}, "non-finite"),
    ([1.0, 2.0, 3.0], {"quantiles": [0.0, 0.5]}, "probabilities"),
    ([1.0, 2.0, 3.0], {"n_boot": 5}, "n_boot"),
])
def test_quantile_table_rejects_bad_input(values: list[float], kwargs: dict[str, object],
                                          match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.quantile_table(values, seed=0, **kwargs)
