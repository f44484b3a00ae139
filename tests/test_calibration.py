"""The ALP significance calibrated by pseudo-experiments, and ALPaca's χ² term by term."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from lecture_utils import alps, calibration, fit
from lecture_utils.calibration import ReducedModel

POINTS = np.array([
    [1.0e7, 1.0, 0.5, -0.3, 0.2, 0.1],
    [5.0e6, -0.8, 1.2, 0.4, -1.0, 0.6],
    [3.0e6, 2.5, -1.0, 0.0, 0.5, -2.0],
    alps.SM_LIKE_POINT,
])


def _toy_model(k: int = 1, *, sigma_left: float = 1.0, sigma_right: float = 1.0,
               central: float = 0.0, truncate: bool = False,
               probability: np.ndarray | None = None) -> ReducedModel:
    """A synthetic reduced model (no ALPaca): ``k`` terms, escape probability ``probability``
    on a grid of log10 cτ from −4 to 5 (default: a smooth step), ratios 1."""
    grid = np.linspace(-4.0, 5.0, 901)
    if probability is None:
        probability = np.stack([np.exp(-10.0 ** (-grid + 0.3 * j)) for j in range(k)], axis=1)
    return ReducedModel(
        names=tuple((f"t{j}", "toy") for j in range(k)), ratio=np.ones(k), sm=np.zeros(k),
        theory_sigma=np.zeros(k), central=np.full(k, central),
        sigma_left=np.full(k, sigma_left), sigma_right=np.full(k, sigma_right),
        zero_edge=np.zeros(k, dtype=int), truncate=truncate, log10_ctau=grid,
        probability=probability, probability_inf=np.ones(k), br_max=1.0e3)


# --------------------------------------------------------------------------- no ALPaca needed
@pytest.mark.parametrize(("left", "right"), [(1.0, 1.0), (0.5, 2.0), (3.0, 0.7)])
def test_pseudo_data_have_the_split_normal_mean_and_spread(left: float, right: float) -> None:
    model = _toy_model(sigma_left=left, sigma_right=right)
    x, below = model.pseudo_data(200_000, seed=1)
    # the likelihood uses σ_R when the prediction lies above the data: data below the mode
    down, up = right, left
    mean = math.sqrt(2.0 / math.pi) * (up - down)
    var = (1.0 - 2.0 / math.pi) * (up - down) ** 2 + up * down
    n = len(x)
    assert abs(x.mean() - mean) < 5.0 * math.sqrt(var / n)
    assert abs(x.std() / math.sqrt(var) - 1.0) < 0.01
    assert abs(below.mean() - down / (down + up)) < 5.0 * math.sqrt(0.25 / n)
    np.testing.assert_array_equal(x[:, 0] < 0, below[:, 0])


def test_representation_truncates_at_zero_like_the_files() -> None:
    model = ReducedModel(
        names=(("a", "x"), ("b", "x"), ("c", "x")), ratio=np.ones(3), sm=np.zeros(3),
        theory_sigma=np.zeros(3), central=np.full(3, 1.0), sigma_left=np.full(3, 2.0),
        sigma_right=np.full(3, 3.0), zero_edge=np.array([0, 1, 2]), truncate=True,
        log10_ctau=np.array([0.0, 1.0]), probability=np.ones((2, 3)), probability_inf=np.ones(3),
        br_max=10.0)
    c, sl, sr = model.represent(np.array([[1.5, 1.5, 1.5], [-1.0, -1.0, -1.0]]))
    np.testing.assert_array_equal(c, [[1.5, 1.5, 1.5], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(sl, [[1.5, 1.5, 2.0], [0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(sr, [[3.0, 3.0, 1.5], [3.0, 3.0, 0.0]])


def test_minimiser_matches_a_brute_force_grid() -> None:
    model = _toy_model(k=3, sigma_left=0.8, sigma_right=1.5)
    x, _ = model.pseudo_data(12, seed=7)
    x = x + np.array([1.0, 2.0, 0.5])  # some signal-like pseudo-data
    data = model.represent(x)
    chi2_min, br, ctau = model.minimise(data, 1e-3)
    lc = np.linspace(-3.0, 5.0, 401)
    b = np.concatenate([np.linspace(0.0, 6.0, 1201), np.geomspace(6.0, 1.0e3, 300)])
    for i in range(len(x)):
        d = tuple(v[i:i + 1] for v in data)
        pred = model.predictions(b[:, None] * np.ones(len(lc)), 10.0 ** lc[None, :] * np.ones(
            (len(b), 1)))
        brute = np.sum((d[0] - pred) ** 2 / np.where(pred > d[0], d[2], d[1]) ** 2, axis=-1)
        assert chi2_min[i] <= brute.min() + 1e-9
        assert chi2_min[i] >= brute.min() - 0.02
        np.testing.assert_allclose(model.chi2(br[i], ctau[i], d)[0], chi2_min[i], atol=1e-9)


def test_boundary_toys_follow_the_half_chi2_mixture() -> None:
    model = _toy_model()
    q, br, ctau = calibration.toy_q(model, 100_000, seed=11, lifetime_min_m=np.inf)
    assert np.isinf(ctau).all()
    n = len(q)
    assert abs(np.mean(q == 0.0) - 0.5) < 5.0 * math.sqrt(0.25 / n)
    np.testing.assert_array_equal(q == 0.0, br == 0.0)
    for c in (0.5, 1.0, 2.71, 4.0, 9.0):
        p_toys = np.mean(q >= c)
        p_mix = 0.5 * sps.chi2.sf(c, 1)
        assert abs(p_toys - p_mix) < 5.0 * math.sqrt(p_mix * (1 - p_mix) / n) + 1e-5


def test_a_free_lifetime_makes_large_q_more_likely_than_the_mixture() -> None:
    model = _toy_model(k=3)
    q_free, _, _ = calibration.toy_q(model, 20_000, seed=3, lifetime_min_m=1e-3)
    q_fixed, _, _ = calibration.toy_q(model, 20_000, seed=3, lifetime_min_m=np.inf)
    assert np.all(q_free >= q_fixed - 1e-9)
    assert np.mean(q_free >= 4.0) > np.mean(q_fixed >= 4.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"treatment": "symmetric"}, "unknown treatment"),
    ({"n_toys": 0}, "n_toys"),
    ({"n_toys": 2.5}, "n_toys"),
    ({"lifetime_min_m": -1.0}, "lifetime_min_m"),
    ({"lifetime_min_m": 0.0}, "lifetime_min_m"),
    ({"lifetime_min_m": float("nan")}, "lifetime_min_m"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_input_gets_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit.calibrated_significance(**{"n_toys": 10, **kwargs})


def test_escape_probability_rejects_bad_decay_lengths() -> None:
    with pytest.raises(ValueError, match="ctau_m"):
        alps.escape_probability("B+ -> K+ alp", "Belle II", [-1.0])


# --------------------------------------------------------------------------- ALPaca's terms
def _check_terms(points: np.ndarray) -> None:
    tp = alps.term_predictions(points)
    ref = alps.chi2(points, "tabulated")
    np.testing.assert_allclose(tp.total(), ref, rtol=1e-9, atol=0)
    for i, p in enumerate(points):
        bd = alps.chi2_breakdown(p, "tabulated")
        seen = set()
        for obs, exp, c, dof in bd.itertuples(index=False):
            j = tp.index(obs, exp)
            seen.add(j)
            assert tp.dof[i, j] == dof
            assert np.nan_to_num(tp.chi2[i, j]) == pytest.approx(c, rel=1e-9, abs=1e-300)
        rest = [j for j in range(len(tp.terms)) if j not in seen]
        assert np.all(np.nan_to_num(tp.chi2[i, rest]) == 0.0)
    sm = int(np.flatnonzero((points == alps.SM_LIKE_POINT).all(axis=1))[0])
    in_fit = np.isfinite(tp.central[sm])
    kinds = tp.terms["kind"][in_fit].value_counts()
    assert kinds["measurement"] == 17
    assert in_fit.sum() == 77


def test_term_predictions_reproduce_alpaca_term_by_term_and_in_total() -> None:
    _check_terms(POINTS[[0, 3]])


@pytest.mark.slow
def test_term_predictions_reproduce_alpaca_across_the_domain() -> None:
    rng = np.random.default_rng(2)
    _check_terms(np.vstack([POINTS, alps.DOMAIN.from_unit(rng.random((4, 6)))]))


def test_the_kstar_columns_are_still_swapped_in_alpaca() -> None:
    assert alps.kstar_columns_swapped(), (
        "ALPaca now reads experimental_data/invisible/Babar_BKstarinv.txt with positive "
        "uncertainties: the BaBar B+ -> K*+ column swap looks fixed. Check the new values, "
        "make calibration.reduced_model read them directly for 'as-is' (the 'corrected' "
        "treatment is then the same), and update docs/alpaca-bug-report.md.")
    d = alps.term_data(*alps.KSTAR_INVISIBLE)
    # mirrored: σ_L = central − upper edge, σ_R = 0 − central
    assert d["sigma_right"] == pytest.approx(-d["central"], rel=1e-12)


def test_reduced_model_reproduces_the_library() -> None:
    lib = calibration.prediction_library()
    model = calibration.reduced_model("as-is", library=lib)
    cols = [lib.index(*name) for name in calibration.REDUCED_TERMS]
    base = lib.arrays["branching_ratio"][:, cols[0]]
    ok = base > 0
    assert ok.sum() > 250
    pred = model.predictions(base[ok], lib.arrays["ctau_m"][ok])
    exact = lib.arrays["prediction"][ok][:, cols]
    np.testing.assert_allclose(pred - model.sm, exact - model.sm, rtol=0.01, atol=0)
    check = calibration.reduction_check(lib, model)
    assert check.loc[check["reduced"], "max_rel_error"].max() < 0.01
    # in the fit region the other measurements do not move ...
    others = check[~check["reduced"]]
    measurements = others[others["kind"] == "measurement"]
    assert len(measurements) == 14
    assert measurements["max_chi2_shift"].max() < calibration.OTHER_MEASUREMENTS_BOUND
    # ... and the only limits that bite are displaced-vertex searches (they depend on the
    # lifetime and on BR(a → μμ), not on (B, cτ) alone)
    biting = others[(others["kind"] == "limit") & (others["max_chi2_shift"] > 0)]
    assert set(biting["decay_type"]) == {"displaced"}
    assert (check.loc[check["reduced"], "max_chi2_shift"] > 0.1).all()


def test_observed_q_matches_the_full_fit() -> None:
    result = fit.calibrated_significance(n_toys=1000, seed=0)
    record = calibration.validation_record()
    data = next(f for f in record["fits"] if f["label"] == "data")
    assert abs(result.q_obs - data["q_6d"]) < 0.05
    assert result.q_obs == pytest.approx(data["q_reduced"], abs=1e-9)
    toys = [f for f in record["fits"] if f["label"] != "data"]
    assert len(toys) >= 3
    for f in toys:
        assert abs(f["q_6d"] - f["q_reduced"]) < 0.05, f["label"]


@pytest.mark.slow
def test_shipped_full_fit_is_alpacas_chi2() -> None:
    data = next(f for f in calibration.validation_record()["fits"] if f["label"] == "data")
    pts = np.array([data["point_6d"], alps.SM_LIKE_POINT])
    chi2 = alps.chi2(pts, "tabulated")
    assert chi2[0] == pytest.approx(data["chi2_min_6d"], rel=1e-9)
    assert chi2[1] - chi2[0] == pytest.approx(data["q_6d"], rel=1e-9)


def test_fixed_seed_gives_identical_results() -> None:
    model = calibration.reduced_model("corrected")
    fresh = [calibration.toy_q(model, 3000, seed=5, lifetime_min_m=0.01) for _ in range(2)]
    for x, y in zip(*fresh, strict=True):
        np.testing.assert_array_equal(x, y)
    a = fit.calibrated_significance(n_toys=3000, seed=5, treatment="corrected")
    b = fit.calibrated_significance(n_toys=3000, seed=5, treatment="corrected")  # cached
    c = fit.calibrated_significance(n_toys=3000, seed=6, treatment="corrected")
    np.testing.assert_array_equal(a.q_toys, fresh[0][0])
    np.testing.assert_array_equal(a.ctau_toys_m, fresh[0][2])
    np.testing.assert_array_equal(a.q_toys, b.q_toys)
    np.testing.assert_array_equal(a.br_toys, b.br_toys)
    assert a.p_value == b.p_value
    assert not np.array_equal(a.q_toys, c.q_toys)
    assert "calibrated Z" in a.summary()


def test_observed_data_are_their_own_representation() -> None:
    for treatment in ("as-is", "corrected"):
        model = calibration.reduced_model(treatment)
        c, sl, sr = model.represent(model.central[None, :])
        np.testing.assert_allclose(c[0], model.central)
        np.testing.assert_allclose(sl[0], model.sigma_left)
        np.testing.assert_allclose(sr[0], model.sigma_right)


def test_shipped_library_has_provenance() -> None:
    lib = calibration.prediction_library()
    prov = lib.provenance
    assert prov["command"].startswith("python -m lecture_utils term-library")
    assert prov["convention"]["alpaca_version"] == alps.alpaca_version()
    assert len(lib.points) == 1 + prov["n_domain"] + prov["n_region"]
    assert set(lib.origin) == {"sm", "domain", "region"}
    assert lib.arrays["chi2"].shape == (len(lib.points), len(lib.terms))
    assert prov["br_max"] >= np.nanmax(lib.arrays["branching_ratio"][:, lib.index(
        *calibration.REDUCED_TERMS[0])])


def test_command_line_knows_the_new_commands() -> None:
    from lecture_utils.cli import build_parser

    args = build_parser().parse_args(["term-library", "--n-domain", "3", "--seed", "2"])
    assert (args.n_domain, args.n_region, args.seed) == (3, 150, 2)
    args = build_parser().parse_args(["significance-validation", "--n-toys", "4"])
    assert (args.n_toys, args.treatment) == (4, "as-is")


@pytest.mark.slow
def test_rebuilding_the_library_reproduces_the_shipped_rows(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "lib.npz"
    calibration.build_prediction_library(n_domain=2, n_region=1, seed=0, path=path)
    small = calibration.prediction_library(path)
    shipped = calibration.prediction_library()
    cols = [shipped.index(o, e) for o, e in zip(small.terms["observable"],
                                                 small.terms["experiment"], strict=True)]
    for row in (0, 1, 2):  # the SM-like point and the first two domain points
        np.testing.assert_array_equal(small.points[row], shipped.points[row])
        np.testing.assert_allclose(small.arrays["chi2"][row], shipped.arrays["chi2"][row, cols],
                                   rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("treatment", ["as-is", "corrected", "gaussian"])
def test_every_toy_has_a_finite_nonnegative_q(treatment: str) -> None:
    r = fit.calibrated_significance(n_toys=20_000, seed=1, treatment=treatment)
    assert np.isfinite(r.q_toys).all() and (r.q_toys >= 0).all()
    assert ((r.br_toys >= 0) & (r.br_toys <= calibration.reduced_model(treatment).br_max)).all()
    assert (r.ctau_toys_m >= 0.01).all()
    # the fit at the data's best point reproduces the minimum it reports
    model = calibration.reduced_model(treatment)
    chi2 = model.chi2(r.br_obs, r.ctau_obs_m, model.observed())[0]
    assert chi2 == pytest.approx(r.chi2_min_obs, abs=1e-9)


def test_pseudo_data_of_the_alp_terms_have_the_right_mean_and_spread() -> None:
    for treatment in calibration.TREATMENTS:
        model = calibration.reduced_model(treatment)
        x, _ = model.pseudo_data(100_000, seed=4)
        down = np.hypot(model.sigma_right, model.theory_sigma)
        up = np.hypot(model.sigma_left, model.theory_sigma)
        mean = model.sm + math.sqrt(2.0 / math.pi) * (up - down)
        std = np.sqrt((1.0 - 2.0 / math.pi) * (up - down) ** 2 + up * down)
        assert np.all(np.abs(x.mean(axis=0) - mean) < 5.0 * std / math.sqrt(len(x)))
        np.testing.assert_allclose(x.std(axis=0), std, rtol=0.01)

