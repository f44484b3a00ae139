"""Tests of :mod:`lecture_utils.sampling`: priors, the log posterior, the ensemble loop and its
diagnostics, reproducibility, checkpoints, bad input, and the exact spot-checks.

Most tests use cheap analytic log-probabilities (Gaussians, AR(1) chains) or a surrogate trained
on the synthetic toy χ² of :mod:`lecture_utils.testing` (a test aid, not physics). The course's
surrogate and ALPaca appear only in the test marked ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import emcee
import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, sampling
from lecture_utils import compiled as cp
from lecture_utils import surrogate as sg
from lecture_utils.testing import toy_chi2


# ------------------------------------------------------------------------------------ helpers
class Gaussian:
    """A correlated Gaussian log density, vectorised: (n, d) → (n,), or (d,) → float."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.cov = np.asarray(cov, dtype=float)
        self.icov = np.linalg.inv(self.cov)

    def __call__(self, x: np.ndarray) -> np.ndarray | float:
        r = np.atleast_2d(x) - self.mean
        out = -0.5 * np.einsum("ij,jk,ik->i", r, self.icov, r)
        return float(out[0]) if np.ndim(x) == 1 else out


def gaussian_target(d: int = 3, seed: int = 1, scales: np.ndarray | None = None) -> Gaussian:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    cov = a @ a.T + d * np.eye(d)
    s = np.ones(d) if scales is None else np.asarray(scales, dtype=float)
    return Gaussian(rng.normal(size=d) * s, cov * np.outer(s, s))


def start(target: Gaussian, n_walkers: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.diag(target.cov))
    return target.mean + 0.1 * sd * rng.standard_normal((n_walkers, len(target.mean)))


class StubSurrogate:
    """The smallest object log_posterior accepts: an analytic χ² over the ALP domain."""

    def __init__(self, domain: np.ndarray | None = None) -> None:
        self.domain = alps.DOMAIN.bounds if domain is None else np.asarray(domain)
        self.chi2_min = 13.0
        self.cut = 10.0
        self.calls: list[int] = []

    def predict_smooth(self, points: np.ndarray) -> np.ndarray:
        self.calls.append(len(points))
        return toy_chi2(np.asarray(points))


@pytest.fixture(scope="module")
def toy_model(toy_surrogate: sg.TwoStageSurrogate) -> sg.TwoStageSurrogate:
    return toy_surrogate


# --------------------------------------------------------------------------------- priors
def test_prior_defaults_cover_the_domain_and_are_normalised() -> None:
    flat = sampling.make_prior("loguniform")
    np.testing.assert_allclose(flat.physical_bounds, alps.DOMAIN.bounds, rtol=1e-12)
    widths = np.diff(flat.bounds_array, axis=1).ravel()
    np.testing.assert_allclose(flat.log_prob(flat.bounds_array.mean(axis=1)),
                               -np.log(widths).sum())
    gauss = sampling.make_prior("gaussian", log10_fa_mean=7.5, log10_fa_sigma=0.2)
    # the truncated Gaussian integrates to one over log10 f_a (couplings: uniform)
    grid = np.linspace(*gauss.bounds_array[0], 20001)
    theta = np.tile(gauss.bounds_array.mean(axis=1), (grid.size, 1))
    theta[:, 0] = grid
    density = np.exp(gauss.log_prob(theta) + np.log(widths[1:]).sum())
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(gauss.log10_fa_density(grid), density, rtol=1e-12)
    assert gauss.log10_fa_density(7.8) == 0.0
    np.testing.assert_allclose(flat.log10_fa_density(grid), 1 / widths[0])
    # outside the support: -inf; draws stay inside and follow the truncated normal
    outside = theta[:2].copy()
    outside[0, 0] = gauss.bounds_array[0, 0] - 1e-9
    outside[1, 3] = 3.6
    assert np.all(gauss.log_prob(outside) == -np.inf)
    draws = gauss.sample(20000, seed=3)
    assert gauss.contains(draws).all()
    from scipy.stats import truncnorm

    lo, hi = gauss.bounds_array[0]
    ref = truncnorm((lo - 7.5) / 0.2, (hi - 7.5) / 0.2, loc=7.5, scale=0.2)
    assert draws[:, 0].mean() == pytest.approx(ref.mean(), abs=4 * ref.std() / np.sqrt(20000))
    assert "N(7.5, 0.2²)" in gauss.describe()


def test_prior_bad_input() -> None:
    with pytest.raises(ValueError, match="'fa'.*leaves the domain"):
        sampling.make_prior(fa_range_gev=(1e5, 1e7))
    with pytest.raises(ValueError, match="'cuR'.*leaves the domain"):
        sampling.make_prior(coupling_range=[(-1, 1), (-4, 1), (-1, 1), (-1, 1), (-1, 1)])
    with pytest.raises(ValueError, match="empty"):
        sampling.make_prior(coupling_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="log10_fa_sigma"):
        sampling.make_prior("gaussian", log10_fa_sigma=0.0)
    with pytest.raises(ValueError, match="unknown prior kind"):
        sampling.make_prior("flat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fa_range_gev"):
        sampling.make_prior(fa_range_gev=(2e7, 1e7))


# ------------------------------------------------------------------------- the log posterior
def test_log_posterior_formula_and_support() -> None:
    stub = StubSurrogate()
    prior = sampling.make_prior("gaussian")
    pts = alps.DOMAIN.from_unit(np.random.default_rng(0).random((50, 6)))
    pts[0, 2] = 3.49
    out = sampling.log_posterior(pts, stub, prior)
    expected = prior.log_prob(sampling.to_sampling(pts)) - 0.5 * (toy_chi2(pts) - 13.0)
    np.testing.assert_array_equal(out, expected)
    # outside the prior support: -inf, and the surrogate is not even asked
    narrow = sampling.make_prior(coupling_range=(-3.0, 3.0))
    stub.calls.clear()
    out = sampling.log_posterior(pts, stub, narrow)
    inside = narrow.contains(sampling.to_sampling(pts))
    assert 0 < inside.sum() < len(pts)
    assert np.all(out[~inside] == -np.inf) and np.isfinite(out[inside]).all()
    assert stub.calls == [int(inside.sum())]


def test_log_posterior_bad_input() -> None:
    stub = StubSurrogate()
    pts = np.array([[1e7, 0.1, 0.2, 0.3, 0.4, 0.5]])
    with pytest.raises(ValueError, match="non-finite"):
        sampling.log_posterior(np.array([[1e7, np.nan, 0, 0, 0, 0]]), stub, "loguniform")
    with pytest.raises(ValueError, match="shape"):
        sampling.log_posterior(np.ones((2, 5)), stub, "loguniform")
    small = StubSurrogate(domain=np.array([[1e6, 2e7]] + [[-3.0, 3.0]] * 5))
    with pytest.raises(ValueError, match="'fa'.*surrogate's training domain"):
        sampling.log_posterior(pts, small, "loguniform")
    ok = sampling.make_prior(fa_range_gev=(1e6, 2e7), coupling_range=(-3, 3))
    assert np.isfinite(sampling.log_posterior(pts, small, ok)).all()
    with pytest.raises(ValueError, match="prior must be"):
        sampling.log_posterior(pts, stub, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["xgboost", "compiled"])
def test_vectorised_and_per_walker_log_posteriors_agree_exactly(
        toy_model: sg.TwoStageSurrogate, private_cache: None, backend: str) -> None:
    model: sg.TwoStageSurrogate = toy_model
    if backend == "compiled":
        model = cp.compile_surrogate(toy_model, crossover=None, calibration_budget_s=0.1)
        assert model.is_compiled
    prior = sampling.make_prior("gaussian")
    theta = prior.sample(300, seed=4)
    theta[::7, 0] = 6.05  # small f_a: outside the gate, the smooth penalty is active
    pts = sampling.to_physical(theta)
    batch = sampling.log_posterior(pts, model, prior)
    single = np.array([sampling.log_posterior(p[None, :], model, prior)[0] for p in pts])
    np.testing.assert_array_equal(batch, single)
    assert np.isfinite(batch).all()
    assert (model.gate_probability(pts) < model.threshold).any()


def test_hard_combination_is_the_smooth_one_restricted_to_the_gate(
        toy_model: sg.TwoStageSurrogate) -> None:
    prior = sampling.make_prior()
    pts = sampling.to_physical(prior.sample(400, seed=6))
    smooth = sampling.log_posterior(pts, toy_model, prior)
    hard = sampling.log_posterior(pts, toy_model, prior, combination="hard")
    accepts = toy_model.gate_probability(pts) >= toy_model.threshold
    assert 0 < accepts.sum() < len(pts)
    np.testing.assert_array_equal(hard[accepts], smooth[accepts])
    assert np.all(hard[~accepts] == -np.inf) and np.isfinite(smooth).all()
    with pytest.raises(ValueError, match="unknown combination"):
        sampling.log_posterior(pts, toy_model, prior, combination="soft")  # type: ignore[arg-type]
    res = sampling.sample_posterior(toy_model, n_walkers=14, max_steps=40, check_every=20,
                                    combination="hard", progress=False)
    assert np.all(toy_model.gate_probability(res.samples) >= toy_model.threshold)
    assert res.settings["combination"] == "hard"


def test_vectorised_and_per_walker_runs_give_the_same_chain(
        toy_model: sg.TwoStageSurrogate) -> None:
    kw = {"n_walkers": 16, "seed": 5, "max_steps": 60, "check_every": 30, "progress": False}
    vec = sampling.sample_posterior(toy_model, **kw)
    per = sampling.sample_posterior(toy_model, vectorize=False, **kw)
    np.testing.assert_array_equal(vec.chain, per.chain)
    np.testing.assert_array_equal(vec.chain_log_prob, per.chain_log_prob)
    assert vec.n_evaluations == per.n_evaluations == 16 * (60 + 1)  # + the initial state
    assert not vec.converged  # 60 steps are far too few
    with pytest.raises(sampling.NotConvergedError, match="did not converge"):
        vec.summary()
    with pytest.warns(UserWarning, match="did not converge"):
        table = vec.summary(allow_unconverged=True)
    assert not table["converged"].any()
    assert list(table.index) == ["fa", "log10_fa", *alps.PARAMETERS[1:]]
    assert (vec.samples[:, 0] > 0).all() and vec.samples.shape[1] == 6
    np.testing.assert_allclose(np.log10(vec.samples[:, 0]), vec.log10_fa)


# ------------------------------------------------------------------------- the sampler loop
def test_known_gaussian_posterior_is_recovered() -> None:
    target = gaussian_target(d=3, seed=1)
    res = sampling.run_ensemble(target, start(target, 24, seed=2), seed=7, max_steps=20000,
                                check_every=500, progress=False)
    assert res.converged, res.reasons
    assert res.n_steps > 50 * res.tau.max()
    sd = np.sqrt(np.diag(target.cov))
    ess = np.minimum(res.ess_bulk, res.ess_tail)
    # posterior mean within 4 Monte-Carlo standard errors
    assert np.all(np.abs(res.samples.mean(axis=0) - target.mean) < 4 * sd / np.sqrt(ess))
    # covariance: every element within 4 standard errors, se(cov_ij) ≈ sqrt((c_ii c_jj + c_ij²)/n)
    cov = np.cov(res.samples, rowvar=False)
    se = np.sqrt((np.outer(np.diag(target.cov), np.diag(target.cov)) + target.cov**2)
                 / ess.min())
    assert np.all(np.abs(cov - target.cov) < 4 * se)
    assert 0.1 < res.acceptance_fraction.mean() < 0.6
    assert res.burn_in >= int(2 * res.tau.max()) and res.thin >= 1
    assert len(res.samples) == len(res.log_prob)


def test_snooker_move_samples_a_badly_scaled_gaussian() -> None:
    """The snooker update alone, on a target whose scales span four decades (affine
    invariance): variances and means come out right."""
    target = gaussian_target(d=4, seed=2, scales=np.array([100.0, 1.0, 0.01, 10.0]))
    sampler = emcee.EnsembleSampler(32, 4, target, vectorize=True,
                                    moves=sampling.SnookerMove())
    state = emcee.State(start(target, 32, seed=3),
                        random_state=np.random.RandomState(3).get_state())
    sampler.run_mcmc(state, 6000, progress=False)
    chain = sampler.get_chain(discard=1000)
    tau = sampling.autocorr_time(chain)
    flat = chain.reshape(-1, 4)
    n_eff = flat.shape[0] / tau.max()
    sd = np.sqrt(np.diag(target.cov))
    assert np.all(np.abs(flat.mean(axis=0) - target.mean) < 4 * sd / np.sqrt(n_eff))
    np.testing.assert_allclose(flat.var(axis=0) / np.diag(target.cov), 1.0,
                               atol=4 * np.sqrt(2 / n_eff))
    assert sampler.acceptance_fraction.mean() > 0.1


@pytest.mark.parametrize(("move", "scales"), [
    (sampling.DEMove, np.array([100.0, 1.0, 0.01])),        # DE: any affine map
    (sampling.SnookerMove, np.array([1000.0, 1000.0, 1000.0])),  # snooker: a change of units
])
def test_moves_are_invariant(move: type, scales: np.ndarray) -> None:
    """Same seed, rescaled target and start: the chain is the rescaled chain. Ensemble dynamics
    amplify rounding differences (~×1.3 per step), so only a short chain can be compared."""
    target = gaussian_target(d=3, seed=5)
    scaled = Gaussian(target.mean * scales, target.cov * np.outer(scales, scales))
    p0 = start(target, 20, seed=6)
    kw = {"seed": 4, "max_steps": 20, "check_every": 20, "stop_when_converged": False,
          "progress": False}
    a = sampling.run_ensemble(target, p0, moves=move(), **kw)
    b = sampling.run_ensemble(scaled, p0 * scales, moves=move(), **kw)
    np.testing.assert_allclose(b.chain / scales, a.chain, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(a.acceptance_fraction, b.acceptance_fraction)
    assert a.acceptance_fraction.mean() > 0.05


def test_vectorised_accept_reproduces_emcee_bit_for_bit() -> None:
    """Our DEMove (accept step vectorised) and emcee's DEMove give the identical chain."""
    target = gaussian_target(d=3, seed=3)
    p0 = start(target, 20, seed=4)
    chains = []
    for move in (emcee.moves.DEMove(), sampling.DEMove()):
        sampler = emcee.EnsembleSampler(20, 3, target, vectorize=True, moves=move)
        sampler.run_mcmc(emcee.State(p0, random_state=np.random.RandomState(9).get_state()),
                         200, progress=False)
        chains.append(sampler.get_chain())
    np.testing.assert_array_equal(chains[0], chains[1])
    assert len(np.unique(chains[0][:, 0, 0])) > 20  # the walkers moved


def test_seeded_run_is_reproducible() -> None:
    target = gaussian_target(d=3, seed=4)
    p0 = start(target, 16, seed=5)
    kw = {"max_steps": 300, "check_every": 100, "progress": False}
    a = sampling.run_ensemble(target, p0, seed=11, **kw)
    b = sampling.run_ensemble(target, p0, seed=11, **kw)
    c = sampling.run_ensemble(target, p0, seed=12, **kw)
    np.testing.assert_array_equal(a.chain, b.chain)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.chain, c.chain)


def test_checkpoint_resume_continues_the_same_chain(tmp_path: Path) -> None:
    target = gaussian_target(d=3, seed=6)
    p0 = start(target, 16, seed=7)
    kw = {"check_every": 100, "progress": False, "tau_factor": 1e6}  # never converges
    full = sampling.run_ensemble(target, p0, seed=3, max_steps=500, **kw)
    path = tmp_path / "chain.npz"
    first = sampling.run_ensemble(target, p0, seed=3, max_steps=300, backend_path=path,
                                  run_key="k", **kw)
    assert path.exists() and first.n_steps == 300 and not first.settings["resumed"]
    np.testing.assert_array_equal(first.chain, full.chain[:300])
    resumed = sampling.run_ensemble(target, p0, seed=3, max_steps=500, backend_path=path,
                                    run_key="k", **kw)
    assert resumed.settings["resumed"] and resumed.n_steps == 500
    np.testing.assert_array_equal(resumed.chain, full.chain)
    np.testing.assert_array_equal(resumed.chain_log_prob, full.chain_log_prob)
    np.testing.assert_array_equal(resumed.acceptance_fraction, full.acceptance_fraction)
    pd.testing.assert_frame_equal(resumed.checks, full.checks)
    # a checkpoint of another run is refused
    with pytest.raises(ValueError, match="different run"):
        sampling.run_ensemble(target, p0, seed=3, max_steps=600, backend_path=path,
                              run_key="other", **kw)
    with pytest.raises(ValueError, match="holds"):
        sampling.run_ensemble(target, start(target, 18, seed=7), seed=3, max_steps=600,
                              backend_path=path, run_key="k", **kw)


def test_sample_posterior_checkpoint_key_covers_the_settings(
        toy_model: sg.TwoStageSurrogate, tmp_path: Path) -> None:
    path = tmp_path / "alp.npz"
    kw = {"n_walkers": 14, "max_steps": 40, "check_every": 20, "progress": False,
          "backend_path": path}
    a = sampling.sample_posterior(toy_model, seed=1, **kw)
    b = sampling.sample_posterior(toy_model, seed=1, **kw)  # resumes: nothing left to do
    assert b.settings["resumed"]
    np.testing.assert_array_equal(a.chain, b.chain)
    with pytest.raises(ValueError, match="different run"):
        sampling.sample_posterior(toy_model, seed=2, **kw)
    with pytest.raises(ValueError, match="different run"):
        sampling.sample_posterior(toy_model, seed=1, prior="gaussian", **kw)


def test_hdf5_checkpoint_needs_h5py(tmp_path: Path) -> None:
    target = gaussian_target(d=3, seed=6)
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="h5py"):
            sampling.run_ensemble(target, start(target, 16, seed=1), max_steps=10,
                                  backend_path=tmp_path / "c.h5", progress=False)
        return
    kw = {"check_every": 50, "progress": False, "tau_factor": 1e6}
    p0 = start(target, 16, seed=1)
    full = sampling.run_ensemble(target, p0, seed=2, max_steps=200, **kw)
    sampling.run_ensemble(target, p0, seed=2, max_steps=100, backend_path=tmp_path / "c.h5",
                          run_key="k", **kw)
    again = sampling.run_ensemble(target, p0, seed=2, max_steps=200,
                                  backend_path=tmp_path / "c.h5", run_key="k", **kw)
    np.testing.assert_array_equal(again.chain, full.chain)


# ----------------------------------------------------------------------------- diagnostics
def ar1(phi: float, n_chains: int, n_draws: int, seed: int) -> np.ndarray:
    """Stationary AR(1) chains x_t = φ x_{t−1} + √(1−φ²) ε_t, shape (n_draws, n_chains, 1)."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_draws, n_chains))
    x = np.empty_like(eps)
    x[0] = eps[0]
    s = np.sqrt(1 - phi**2)
    for t in range(1, n_draws):
        x[t] = phi * x[t - 1] + s * eps[t]
    return x[:, :, None]


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_diagnostics_of_ar1_chains_match_theory(phi: float) -> None:
    chain = ar1(phi, n_chains=16, n_draws=20000, seed=1)
    d = sampling.chain_diagnostics(chain)
    tau_theory = (1 + phi) / (1 - phi)
    n_total = chain.shape[0] * chain.shape[1]
    assert d["tau"][0] == pytest.approx(tau_theory, rel=0.08)
    assert d["ess_bulk"][0] == pytest.approx(n_total / tau_theory, rel=0.15)
    assert d["ess_tail"][0] > 0.3 * n_total / tau_theory
    assert abs(d["rhat"][0] - 1.0) < 0.01


@pytest.mark.parametrize("n_draws", [2, 37, 1000, 4097])
def test_autocorr_time_is_emcees_estimator(n_draws: int) -> None:
    """Our batched real-FFT τ equals emcee's own integrated_time (per-walker complex FFTs)."""
    chain = np.concatenate([ar1(0.9, 12, n_draws, seed=4), ar1(0.3, 12, n_draws, seed=5)], axis=2)
    ours = sampling.autocorr_time(chain)
    scaled = chain / np.max(np.abs(chain), axis=(0, 1))
    np.testing.assert_allclose(ours, emcee.autocorr.integrated_time(scaled, tol=0), rtol=1e-12)


def test_convergence_is_decided_on_the_full_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """R̂/ESS are screened on a thinned chain, but the check that declares convergence (and the
    result's diagnostics) use every step."""
    # a short chain: thin by τ/2 (patched where run_ensemble reads it)
    monkeypatch.setattr(sampling.ensemble, "SCREEN_THIN_TAUS", 0.5)
    target = gaussian_target(d=3, seed=6)
    p0 = np.random.default_rng(6).normal(size=(16, 3))
    res = sampling.run_ensemble(target, p0, seed=6, max_steps=6000, check_every=250)
    assert res.converged
    assert int(sampling.ensemble.SCREEN_THIN_TAUS * res.tau.min()) > 1  # the screen did thin
    last = res.checks.iloc[-1]
    assert last["converged"] and last["rhat_max"] == pytest.approx(res.rhat.max(), rel=1e-12)
    assert last["ess_min"] == pytest.approx(min(res.ess_bulk.min(), res.ess_tail.min()),
                                            rel=1e-12)
    full = sampling.chain_diagnostics(res.chain[res.burn_in:])
    np.testing.assert_allclose(res.rhat, full["rhat"], rtol=1e-12)


def test_stuck_walker_gives_infinite_tau() -> None:
    chain = ar1(0.5, n_chains=8, n_draws=500, seed=3)
    chain = np.concatenate([chain, chain + 1.0], axis=2)
    chain[:, 3, 1] = 0.7  # one walker never moves in the second parameter
    tau = sampling.autocorr_time(chain)
    assert np.isfinite(tau[0]) and tau[1] == np.inf
    with pytest.raises(ValueError, match="non-finite"):
        sampling.autocorr_time(np.full((10, 4, 1), np.nan))


def test_a_chain_with_a_stuck_walker_is_reported_not_converged() -> None:
    """A move that never moves walker 0: τ = inf, burn-in half the chain, not converged."""
    target = gaussian_target(d=2, seed=2)

    def proposal(x: np.ndarray, random: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        q = x + 0.5 * random.randn(*x.shape)
        q[0] = x[0]
        return q, np.zeros(len(x))

    res = sampling.run_ensemble(target, start(target, 8, seed=1),
                                moves=emcee.moves.MHMove(proposal), max_steps=400,
                                check_every=200, progress=False)
    assert np.all(res.tau == np.inf)
    assert not res.converged and res.burn_in == 200 and res.thin == 1
    with pytest.raises(sampling.NotConvergedError, match="τ changed"):
        res.summary()


def test_rhat_flags_chains_that_disagree() -> None:
    chain = ar1(0.5, n_chains=8, n_draws=4000, seed=2)
    chain[:, :4] += 1.0  # half of the chains sit elsewhere
    d = sampling.chain_diagnostics(chain)
    assert d["rhat"][0] > 1.1


def test_metropolis_samples_a_gaussian_and_mixes_slower_than_the_ensemble() -> None:
    target = gaussian_target(d=2, seed=8)
    chain, acc = sampling.metropolis(target, target.mean, 40000, step_size=1.0, seed=1)
    assert chain.shape == (40001, 2) and 0.05 < acc < 0.95
    tau = sampling.autocorr_time(chain[1000:, None, :])
    n_eff = (len(chain) - 1000) / tau.max()
    sd = np.sqrt(np.diag(target.cov))
    assert np.all(np.abs(chain[1000:].mean(axis=0) - target.mean) < 4 * sd / np.sqrt(n_eff))
    with pytest.raises(ValueError, match="step_size"):
        sampling.metropolis(target, target.mean, 10, step_size=0.0, seed=1)
    with pytest.raises(ValueError, match="x0"):
        sampling.metropolis(target, [np.nan, 0.0], 10, step_size=1.0, seed=1)


# ------------------------------------------------------------------------------- bad input
def test_run_ensemble_bad_input() -> None:
    target = gaussian_target(d=3, seed=1)
    p0 = start(target, 16, seed=1)
    bad = p0.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sampling.run_ensemble(target, bad, max_steps=10, progress=False)
    with pytest.raises(ValueError, match="at least 2 × ndim = 6 walkers"):
        sampling.run_ensemble(target, p0[:5], max_steps=10, progress=False)
    with pytest.raises(ValueError, match="linearly independent"):
        sampling.run_ensemble(target, np.tile(target.mean, (16, 1)), max_steps=10,
                              progress=False)

    def flat_box(x: np.ndarray) -> np.ndarray:
        return np.where(np.all(np.abs(x) < 1, axis=1), 0.0, -np.inf)

    with pytest.raises(ValueError, match="non-finite log probability"):
        sampling.run_ensemble(flat_box, p0 + 10, max_steps=10, progress=False)


def test_sample_posterior_bad_input(toy_model: sg.TwoStageSurrogate) -> None:
    with pytest.raises(ValueError, match="at least 2 × 6 = 12 walkers"):
        sampling.sample_posterior(toy_model, n_walkers=10, progress=False)
    p0 = sampling.to_physical(sampling.make_prior().sample(14, seed=0))
    p0[2, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        sampling.sample_posterior(toy_model, n_walkers=14, initial_state=p0, progress=False)
    outside = sampling.to_physical(sampling.make_prior().sample(14, seed=0))
    outside[0, 1] = 5.0
    with pytest.raises(ValueError, match="non-finite log probability"):
        sampling.sample_posterior(toy_model, n_walkers=14, initial_state=outside,
                                  max_steps=10, progress=False)
    with pytest.raises(ValueError, match="unknown keyword"):
        sampling.sample_posterior(toy_model, n_walkers=14, max_steps=10, progress=False,
                                  rhat=1.1)


def test_initial_ball_and_mode(toy_model: sg.TwoStageSurrogate) -> None:
    prior = sampling.make_prior()
    center, lp = sampling.posterior_mode(toy_model, prior, seed=0, n_random=512, n_starts=2,
                                         max_evaluations=200)
    again = sampling.posterior_mode(toy_model, prior, seed=0, n_random=512, n_starts=2,
                                    max_evaluations=200)
    np.testing.assert_array_equal(center, again[0])
    draws = prior.sample(512, seed=0)
    assert lp >= sampling.log_posterior(sampling.to_physical(draws), toy_model, prior).max()
    ball = sampling.initial_ball(center, 20, prior, seed=1)
    assert ball.shape == (20, 6) and prior.contains(ball).all()
    np.testing.assert_array_equal(ball, sampling.initial_ball(center, 20, prior, seed=1))
    with pytest.raises(ValueError, match="outside the prior support"):
        sampling.initial_ball(center + 10, 20, prior, seed=1)


def test_chain_profile_is_the_binned_minimum(toy_model: sg.TwoStageSurrogate) -> None:
    res = sampling.sample_posterior(toy_model, n_walkers=14, max_steps=60, check_every=30,
                                    progress=False)
    grid = np.linspace(6.0, 7.7, 6)
    prof = sampling.chain_profile(res, grid)
    theta = res.chain[res.burn_in:].reshape(-1, 6)
    pts = sampling.to_physical(theta)
    delta = toy_model.predict_smooth(pts) - toy_model.chi2_min
    nearest = np.argmin(np.abs(theta[:, :1] - grid), axis=1)
    for k in range(len(grid)):
        inside = nearest == k
        assert prof.loc[k, "n_points"] == inside.sum()
        if inside.any():
            assert prof.loc[k, "delta_chi2"] == pytest.approx(delta[inside].min(), abs=1e-9)
            best = prof.loc[k, list(alps.PARAMETERS)].to_numpy(dtype=float)
            assert toy_model.predict_smooth(best[None])[0] - toy_model.chi2_min == \
                pytest.approx(delta[inside].min(), abs=1e-9)
        else:
            assert np.isnan(prof.loc[k, "delta_chi2"])
    assert prof["n_points"].sum() == len(theta)
    with pytest.raises(ValueError, match="strictly increasing"):
        sampling.chain_profile(res, [7.0, 6.0])


# ---------------------------------------------------------------------------- spot-checks
def test_spot_check_table(toy_model: sg.TwoStageSurrogate,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The plumbing of spot_check, with the engine replaced by the toy χ² (a test aid)."""
    from lecture_utils import data

    seen: list[np.ndarray] = []

    def fake_evaluate_cached(points, integrator="exact", *, name="checks", **kw):
        seen.append(np.asarray(points))
        assert integrator == "exact" and name == "mcmc"
        return pd.DataFrame({"chi2": toy_chi2(np.asarray(points)), "status": "ok"})

    monkeypatch.setattr(data, "evaluate_cached", fake_evaluate_cached)
    res = sampling.sample_posterior(toy_model, n_walkers=14, max_steps=40, check_every=20,
                                    progress=False)
    table = sampling.spot_check(res, 12, seed=3)
    again = sampling.spot_check(res, 12, seed=3)
    pd.testing.assert_frame_equal(table, again)
    assert len(table) == 12 and table["sample_index"].is_unique
    np.testing.assert_array_equal(table[list(alps.PARAMETERS)].to_numpy(),
                                  res.samples[table["sample_index"]])
    np.testing.assert_allclose(table["chi2_exact"], toy_chi2(seen[0]))
    np.testing.assert_allclose(table["error"], table["chi2_surrogate"] - table["chi2_exact"])
    np.testing.assert_allclose(table["chi2_surrogate"], toy_model.predict_smooth(seen[0]))
    with pytest.raises(ValueError, match="n must be"):
        sampling.spot_check(res, 0, seed=1)
    summary = sampling.spot_check_summary(table)
    assert summary.loc["all", "draws"] == 12
    assert summary.loc["gate accepts", "draws"] + summary.loc["gate rejects", "draws"] == 12
    assert summary.loc["all", "share in exact region"] == pytest.approx(table["in_region"].mean())
    inside = table[table["in_region"]]
    if len(inside):
        assert summary.loc["all", "MAE in region"] == pytest.approx(inside["error"].abs().mean())
    with pytest.raises(ValueError, match="not a spot_check table"):
        sampling.spot_check_summary(table.drop(columns="error"))


@pytest.fixture(scope="module")
def course_posterior() -> sampling.PosteriorResult:
    return sampling.sample_posterior(progress=False)


@pytest.mark.slow
def test_course_posterior_converges_and_is_spot_checked(
        course_posterior: sampling.PosteriorResult) -> None:
    """End to end: the course's compiled surrogate, default settings, converged; 40 posterior
    draws evaluated with the exact ALPaca χ² (cached after the first run)."""
    res = course_posterior
    assert res.converged, res.reasons
    assert res.n_steps > sampling.TAU_FACTOR * res.tau.max()
    assert (res.rhat < sampling.RHAT_MAX).all()
    assert (np.minimum(res.ess_bulk, res.ess_tail) > sampling.MIN_ESS).all()
    table = res.summary()
    lo, hi = res.prior.bounds_array[0]
    assert lo <= table.loc["log10_fa", "q02.5"] < table.loc["log10_fa", "q97.5"] <= hi
    checks = sampling.spot_check(res, 40, seed=1, workers=2)
    assert len(checks) == 40 and checks["chi2_exact"].notna().all()
    assert res.prior.contains(sampling.to_sampling(checks[list(alps.PARAMETERS)])).all()
    summary = sampling.spot_check_summary(checks)
    assert summary.loc["all", "draws"] == 40


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,  # the share sits at the bound; its last draw can differ between machines
    reason="known failure: the gate accepts points on cliffs of the exact χ² (a displaced-vertex "
           "search switching on, the ALP no longer escaping), so about a fifth of the posterior "
           "draws lie outside the exact region; the gate must improve before this passes")
def test_course_posterior_lies_where_the_exact_chi2_agrees(
        course_posterior: sampling.PosteriorResult) -> None:
    """The posterior is trusted only where the surrogate is: most posterior draws must lie in
    the exact region of interest, and there the surrogate must be accurate to ~1 χ² unit."""
    checks = sampling.spot_check(course_posterior, 40, seed=1, workers=2)
    summary = sampling.spot_check_summary(checks)
    assert summary.loc["all", "share in exact region"] > 0.8
    assert summary.loc["all", "MAE in region"] < 1.0


def test_diagnostics_import_arviz_without_log_messages() -> None:
    """arviz announces its plotting backend at INFO level on import; a reader of the book (whose
    root logger may be at INFO) must not see it."""
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(level=logging.INFO)\n"
            "import numpy as np\n"
            "from lecture_utils.sampling import diagnostics\n"
            "diagnostics.rhat_ess(np.random.default_rng(0).normal(size=(50, 4, 2)))\n"
            "logging.getLogger('arviz').info('after the import: shown')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "INFO:arviz:after the import: shown" in proc.stderr  # the filter is removed again
    assert "backend" not in proc.stderr, proc.stderr
