"""lecture_utils.reweight: importance weights from the surrogate posterior to the exact one."""

from __future__ import annotations

import numpy as np
import pytest

from lecture_utils import alps, reweight


def gaussian_draws(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n draws with f_a fixed and c_qL33 ~ N(0, 1): the 'surrogate' χ² is c_qL33²."""
    rng = np.random.default_rng(seed)
    pts = np.zeros((n, len(alps.PARAMETERS)))
    pts[:, 0] = 1.0e7
    pts[:, 1] = rng.normal(size=n)
    return pts, pts[:, 1] ** 2


def test_equal_chi2_gives_equal_weights() -> None:
    pts, chi2 = gaussian_draws(200, 0)
    rw = reweight.reweight(pts, chi2, chi2 + 3.0)   # a constant offset cancels
    assert np.allclose(rw.weights, 1 / 200)
    assert rw.ess == pytest.approx(200)
    assert rw.reliable and rw.khat < reweight.KHAT_RELIABLE
    table = rw.summary()
    assert np.allclose(table["surrogate"].to_numpy(), table["reweighted"].to_numpy())


def test_reweighting_moves_a_gaussian_to_the_exact_mean() -> None:
    pts, chi2 = gaussian_draws(4000, 1)
    exact = (pts[:, 1] - 0.3) ** 2                   # exact posterior: N(0.3, 1)
    rw = reweight.reweight(pts, chi2, exact)
    assert rw.reliable
    raw = np.exp(rw.log_weights - rw.log_weights.max())
    assert np.corrcoef(raw, rw.weights)[0, 1] > 0.99  # smoothing only touches the tail
    table = rw.summary()
    mean = table.loc["cqL33", ("reweighted", "mean")]
    assert mean == pytest.approx(0.3, abs=4 / np.sqrt(rw.ess))
    assert table.loc["cqL33", ("surrogate", "mean")] == pytest.approx(0.0, abs=0.1)
    assert table.loc["log10_fa", ("reweighted", "q50")] == pytest.approx(7.0)
    assert 0 < rw.ess < 4000
    assert list(rw.frame().columns[-2:]) == ["log_weight", "weight"]


def test_excluded_and_failed_points_get_no_weight() -> None:
    pts, chi2 = gaussian_draws(100, 2)
    exact = chi2.copy()
    exact[:5] = np.inf
    exact[5:8] = np.nan
    rw = reweight.reweight(pts, chi2, exact)
    assert np.all(rw.weights[:8] == 0) and rw.weights.sum() == pytest.approx(1.0)
    assert rw.n_failed == 3 and rw.n_positive == 92


def test_a_heavy_tail_is_flagged_and_never_summarised_silently() -> None:
    pts, chi2 = gaussian_draws(300, 3)
    exact = chi2 - 6.0 * pts[:, 1] ** 2          # exact much wider than the proposal
    rw = reweight.reweight(pts, chi2, exact)
    assert rw.khat >= reweight.KHAT_RELIABLE and not rw.reliable
    assert "k̂" in rw.problems()[0]
    with pytest.raises(reweight.UnreliableWeightsError, match="not reliable"):
        rw.summary()
    assert rw.summary(allow_unreliable=True).shape[0] == 6


def test_too_few_positive_weights_are_flagged() -> None:
    pts, chi2 = gaussian_draws(30, 4)
    exact = np.full(30, np.inf)
    exact[:10] = chi2[:10]
    rw = reweight.reweight(pts, chi2, exact)
    assert not rw.reliable and any("positive weight" in p for p in rw.problems())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"draws": np.zeros((1, 6))}, "n ≥ 2"),
    ({"chi2_sampled": np.zeros(3)}, "shape"),
    ({"chi2_sampled": np.array([0.0, np.inf, 1.0, 2.0])}, "finite"),
    ({"chi2_exact": np.full(4, np.inf)}, "no draw"),
])
def test_bad_input(kwargs: dict[str, np.ndarray], match: str) -> None:
    pts, chi2 = gaussian_draws(4, 5)
    args = {"draws": pts, "chi2_sampled": chi2, "chi2_exact": chi2} | kwargs
    with pytest.raises(ValueError, match=match):
        reweight.reweight(**args)


def test_reweight_posterior_needs_an_alp_run() -> None:
    from lecture_utils import sampling

    toy = sampling.run_ensemble(lambda x: -0.5 * np.sum(x**2, axis=-1), np.random.default_rng(0)
                                .normal(size=(8, 2)), vectorize=True, seed=0, max_steps=200,
                                check_every=100)
    with pytest.raises(ValueError, match="ALP posterior"):
        reweight.reweight_posterior(toy, 10)
