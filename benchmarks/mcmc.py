"""Effective samples per second: the reference tutorial's MCMC stack vs ours, in one run.

    python benchmarks/mcmc.py [--budget 120] [--walkers 50] [--check-every 500] [--seed 0]

What a user compares is the whole stack, not one call pattern inside our library. Both stacks
sample the *same* posterior — the course's surrogate (:func:`lecture_utils.surrogate.
default_surrogate`, gate + regressor, smooth combination) with the log-uniform prior, in the
sampling coordinates θ = (log10 f_a/GeV, five couplings) — and are scored the same way: the
bulk ESS (rank-normalised, :func:`lecture_utils.sampling.diagnostics.rhat_ess`, each walker
one chain) of the chain after a burn-in of 2 τ_max (at most half the chain), minimum over the six
coordinates, divided by the wall-clock seconds of the whole sampling run (burn-in and
convergence checks included, setup excluded).

* **The tutorial's stack** (``04_sampling.ipynb`` and ``wrap_c_lib.py`` of the public
  repository ``Jorge-Alda/comcha_tutorial``), reproduced on our surrogate: each stage is
  imported with treelite and compiled with ``tl2cgen.export_lib`` (gcc, cached); emcee (50
  walkers, the tutorial's moves ``DEMove`` 0.995 + emcee's ``DESnookerMove`` 0.005, a float32
  blob with the log likelihood) calls the log posterior once per walker; the log posterior builds
  the point and its features in Python and calls each library through ctypes, one ``predict()``
  call per row in a Python loop (the tutorial's own wrapper; it does not use
  ``tl2cgen.Predictor``). The tutorial calls two libraries per walker, a gate (in a
  penalty) and a regressor; here they are our two stages, combined as in our log posterior, so
  both stacks sample one posterior (checked: the two log posteriors agree to float32 rounding).
  The walkers start at the 50 lowest-χ² training points (the tutorial: its 50 best data
  points), and the tutorial's stopping rule is checked every 50 steps: N > 60 τ and every τ
  changed by < 1 % (``get_autocorr_time(tol=0)``). The run is time-boxed (``--budget``
  seconds of sampling); if it stops before the rule holds, its time to convergence is
  *estimated* as max(60 τ_max, N) / (its steps per second), with τ of the time-boxed chain
  (a short chain underestimates τ, so the estimate is a lower bound), and the output says so.
* **Ours**: :func:`lecture_utils.sampling.sample_posterior` with its default settings unless
  ``--walkers`` / ``--check-every`` change them (50 walkers, DE 0.8 + snooker 0.2 moves, one
  compiled-surrogate call per half-ensemble, a check every 500 steps, convergence when
  N > 50 τ, τ stable to 2 %, R̂ < 1.01 and bulk and tail ESS > 400); its ``wall_seconds``
  (sampling) is the time to convergence.

Printed: both runs (steps, steps/s, evaluations/s, τ, R̂, min bulk ESS, ESS/s), the tutorial's
(estimated) time to convergence, and the ratio of ESS/s. The tutorial reported 64 steps/s =
3,200 evaluations/s and 3 min 41 s to convergence on its own machine (not measured here). The
last line reads ``ESS/s ratio vs tutorial stack: <x>; seconds to convergence: <t>`` (t: ours,
sampling only).
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import emcee
import numpy as np

from lecture_utils import sampling
from lecture_utils import surrogate as sg
from lecture_utils._cache import cache_dir, content_hash
from lecture_utils.sampling.diagnostics import rhat_ess

TUTORIAL_MOVES: tuple[tuple[str, float], ...] = (("DEMove", 0.995), ("DESnookerMove", 0.005))
"""The tutorial's moves (emcee's own classes) and their weights (``prob_snooker = 0.005``)."""
TUTORIAL_WALKERS: int = 50
"""The tutorial's ensemble size."""
TUTORIAL_TAU_FACTOR: float = 60.0
"""The tutorial's stopping rule: N > 60 τ for every parameter ..."""
TUTORIAL_TAU_RTOL: float = 0.01
"""... and every τ changed by less than 1 % since the previous check ..."""
TUTORIAL_CHECK_EVERY: int = 50
"""... checked every 50 steps."""


# --------------------------------------------------------------------------------------------
# the tutorial's stack on our surrogate
# --------------------------------------------------------------------------------------------
def tutorial_libraries(model: sg.TwoStageSurrogate, *, units: int = 8,
                       nthread: int = 2) -> dict[str, Path]:
    """Compile both stages the tutorial's way: treelite import, ``tl2cgen.export_lib`` (gcc).

    Parameters
    ----------
    model : TwoStageSurrogate
        The surrogate whose ``gate`` and ``regressor`` boosters are compiled.
    units : int, optional
        tl2cgen ``parallel_comp`` (translation units; only the build time depends on it).
    nthread : int, optional
        Compiler processes of ``export_lib``.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"gate": .so, "regressor": .so}``, cached under the package's cache folder, keyed by
        the boosters' bytes, the tl2cgen and treelite versions and ``units``.
    """
    import tl2cgen
    import treelite

    out = {}
    for stage in ("gate", "regressor"):
        booster = getattr(model, stage).get_booster()
        raw = bytes(booster.save_raw("ubj"))
        key = content_hash("tutorial-stack", raw, tl2cgen.__version__, treelite.__version__,
                           int(units))
        path = cache_dir("tutorial-stack", key[:16]) / f"{stage}.so"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.so")
            tl2cgen.export_lib(treelite.frontend.from_xgboost(booster), toolchain="gcc",
                               libpath=tmp, params={"parallel_comp": int(units)},
                               nthread=int(nthread))
            tmp.replace(path)
        out[stage] = path
    return out


def load_predictor(path: Path) -> Callable[[Any], np.ndarray]:
    """The tutorial's ctypes wrapper of a tl2cgen library: rows → float32 raw scores (n,).

    As in its ``wrap_c_lib.load_c_lib``: the input becomes a C-contiguous float32 matrix, and
    tl2cgen's ``predict(data, pred_margin=1, result)`` is called once per row in a Python loop
    (a float32 row is a valid array of tl2cgen's 4-byte ``Entry`` union). ``pred_margin=1``
    returns the raw score: the gate's log-odds, the regressor's χ².
    """
    lib = ctypes.cdll.LoadLibrary(str(path))
    lib.predict.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_int,
                            ctypes.POINTER(ctypes.c_float)]
    lib.predict.restype = None

    def predict(x: Any) -> np.ndarray:
        rows = np.ascontiguousarray(np.array(x, dtype=np.float32, order="C"))
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        out = np.zeros(len(rows), dtype=np.float32)
        for i in range(len(rows)):
            row = np.ascontiguousarray(rows[i])
            lib.predict(row.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.c_int(1),
                        out[i:i + 1].ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out

    return predict


class TutorialLogPosterior:
    """Our log posterior evaluated the tutorial's way: one walker θ (6,) per call.

    Returns ``(log posterior, log likelihood)`` (the tutorial's blob). The point and its
    features are built in Python for the one walker (:func:`lecture_utils.surrogate.
    features_of`), each stage is one call of a :func:`load_predictor` wrapper, and the stages
    are combined as in our posterior (:func:`lecture_utils.surrogate.smooth_combination`),
    ``log π(θ) − (χ² − χ²_min)/2``. ``n_points`` counts the calls.
    """

    def __init__(self, model: sg.TwoStageSurrogate, prior: sampling.Prior,
                 libraries: dict[str, Path]) -> None:
        self.gate = load_predictor(libraries["gate"])
        self.regressor = load_predictor(libraries["regressor"])
        self.prior = prior
        self.transform = model.transform
        self.chi2_min = float(model.chi2_min)
        self.chi2_edge = float(model.chi2_min + model.cut)
        self.logit_threshold = float(model.logit_threshold())
        self.penalty_scale = float(model.penalty_scale)
        self.n_points = 0

    def __call__(self, theta: np.ndarray) -> tuple[float, float]:
        self.n_points += 1
        log_prior = float(self.prior.log_prob(theta)[0])
        if not math.isfinite(log_prior):
            return -math.inf, -math.inf
        point = np.array([[10.0 ** theta[0], *theta[1:]]])
        x = sg.features_of(point, self.transform)
        logit = self.gate(x)
        chi2_reg = self.regressor(x)
        chi2 = sg.smooth_combination(chi2_reg, logit, logit_threshold=self.logit_threshold,
                                     chi2_edge=self.chi2_edge,
                                     penalty_scale=self.penalty_scale)[0]
        log_lh = -0.5 * (float(chi2) - self.chi2_min)
        return log_prior + log_lh, log_lh


def tutorial_start(prior: sampling.Prior, n_walkers: int) -> np.ndarray:
    """θ of the ``n_walkers`` lowest-χ² training points inside the prior support, (n, 6).

    The tutorial starts its walkers at the best points of its data set (sorted by χ²)."""
    points, chi2 = sg.training_arrays()
    theta = sampling.to_sampling(points)
    inside = prior.contains(theta)
    order = np.argsort(np.where(inside, chi2, np.inf), kind="stable")[:int(n_walkers)]
    return theta[order]


@dataclass
class TutorialRun:
    """A time-boxed run of the tutorial's sampler loop (:func:`run_tutorial`)."""

    chain: np.ndarray
    seconds: float
    tau: np.ndarray
    converged: bool
    acceptance: float

    @property
    def n_steps(self) -> int:
        return int(self.chain.shape[0])


def run_tutorial(fn: TutorialLogPosterior, p0: np.ndarray, *, budget: float, seed: int,
                 max_steps: int = 50_000) -> TutorialRun:
    """The tutorial's sampling loop, stopped by its rule or after ``budget`` seconds.

    Parameters
    ----------
    fn : TutorialLogPosterior
        The per-walker log posterior (returns a float32 blob).
    p0 : numpy.ndarray, shape (n_walkers, 6)
        Starting walkers (θ).
    budget : float
        Wall-clock seconds after which the loop stops at its next check (every 50 steps).
    seed : int
        Seeds emcee's random state.
    max_steps : int, optional
        The tutorial's ``max_n``.

    Returns
    -------
    TutorialRun
        The chain (n_steps, n_walkers, 6), the seconds of the loop (checks included), the last
        τ (``get_autocorr_time(tol=0)``), whether the tutorial's rule held, the mean acceptance.
    """
    moves = [(getattr(emcee.moves, name)(), weight) for name, weight in TUTORIAL_MOVES]
    sampler = emcee.EnsembleSampler(len(p0), p0.shape[1], fn, moves=moves,
                                    blobs_dtype=np.float32)
    state = emcee.State(p0, random_state=np.random.RandomState(seed).get_state())  # noqa: NPY002
    old_tau = np.full(p0.shape[1], np.inf)
    tau = old_tau
    converged = False
    t0 = time.perf_counter()
    for _ in sampler.sample(state, iterations=int(max_steps), progress=False):
        if sampler.iteration % TUTORIAL_CHECK_EVERY:
            continue
        tau = sampler.get_autocorr_time(tol=0)
        converged = bool(np.all(tau * TUTORIAL_TAU_FACTOR < sampler.iteration)
                         and np.all(np.abs(old_tau - tau) / tau < TUTORIAL_TAU_RTOL))
        if converged or time.perf_counter() - t0 > budget:
            break
        old_tau = tau
    seconds = time.perf_counter() - t0
    return TutorialRun(sampler.get_chain(), seconds, np.asarray(tau, dtype=float), converged,
                       float(np.mean(sampler.acceptance_fraction)))


def post_burn_in_stats(chain: np.ndarray, tau: np.ndarray) -> tuple[int, float, float]:
    """(burn-in steps, max R̂, min bulk ESS) of a chain (n_steps, n_walkers, 6).

    Burn-in: 2 τ_max, at most half the chain (as :func:`lecture_utils.sampling.
    sample_posterior` does); R̂ and bulk ESS from
    :func:`lecture_utils.sampling.diagnostics.rhat_ess`."""
    finite = np.isfinite(tau).all()
    burn = min(int(math.ceil(2.0 * float(tau.max()))), len(chain) // 2) if finite \
        else len(chain) // 2
    rhat, bulk, _ = rhat_ess(chain[burn:])
    return burn, float(np.max(rhat)), float(np.min(bulk))


# --------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=120.0,
                    help="wall-clock seconds of the tutorial's time-boxed run")
    ap.add_argument("--walkers", type=int, default=sampling.DEFAULT_N_WALKERS,
                    help="walkers of our run (sample_posterior's default)")
    ap.add_argument("--check-every", type=int, default=sampling.DEFAULT_CHECK_EVERY,
                    help="steps between our convergence checks (sample_posterior's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    plain = sg.default_surrogate()
    prior = sampling.make_prior("loguniform")
    libraries = tutorial_libraries(plain)
    t_libs = time.perf_counter() - t0
    ours = sampling.default_sampling_surrogate()
    tutorial = TutorialLogPosterior(plain, prior, libraries)
    p0 = tutorial_start(prior, TUTORIAL_WALKERS)

    # the two stacks sample one posterior: compare the log posteriors on seeded prior draws and
    # the starting points
    probe = np.vstack([prior.sample(200, args.seed), p0])
    ours_lp = np.asarray(sampling.LogPosterior(ours, prior)(probe))
    tut_lp = np.array([tutorial(t)[0] for t in probe])
    diff = float(np.max(np.abs(ours_lp - tut_lp)))
    tutorial.n_points = 0
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; surrogate "
          f"{plain.transform} features, {plain.gate.get_booster().num_boosted_rounds()} + "
          f"{plain.regressor.get_booster().num_boosted_rounds()} trees; tl2cgen libraries "
          f"ready in {t_libs:.1f} s (cached after the first run); the two log posteriors differ "
          f"by at most {diff:.1e} on {len(probe)} points")

    run = run_tutorial(tutorial, p0, budget=args.budget, seed=args.seed)
    burn, rhat_t, ess_t = post_burn_in_stats(run.chain, run.tau)
    steps_s = run.n_steps / run.seconds
    rate_t = ess_t / run.seconds
    print(f"tutorial stack ({TUTORIAL_WALKERS} walkers, DE 0.995 + DESnooker 0.005, one "
          f"ctypes call per stage per walker): {run.n_steps} steps in {run.seconds:.1f} s = "
          f"{steps_s:.0f} steps/s, {tutorial.n_points / run.seconds:.0f} evaluations/s; "
          f"acceptance {run.acceptance:.2f}; load {os.getloadavg()[0]:.2f}")
    print(f"  tau max {run.tau.max():.0f} steps (N/tau min {run.n_steps / run.tau.max():.0f}); "
          f"after a burn-in of {burn} steps: R-hat max {rhat_t:.3f}, bulk ESS min {ess_t:.0f} "
          f"-> {rate_t:.2f} ESS/s")
    if run.converged:
        t_conv = run.seconds
        print(f"  converged by the tutorial's rule (N > 60 tau, tau stable to 1 %) after "
              f"{t_conv:.0f} s")
    else:
        t_conv = max(TUTORIAL_TAU_FACTOR * float(run.tau.max()), run.n_steps) / steps_s
        print(f"  not converged within the {args.budget:.0f} s budget: estimated time to the "
              f"tutorial's rule >= {t_conv:.0f} s (max(60 tau_max, N) / steps per second, tau "
              f"of the time-boxed chain)")
    print("  for reference, the tutorial reported 64 steps/s = 3,200 evaluations/s and "
          "3 min 41 s to convergence on its own machine (not measured here)")

    result = sampling.sample_posterior(ours, prior=prior, seed=args.seed, progress=False,
                                       n_walkers=args.walkers, check_every=args.check_every)
    d = result.diagnostics()
    ess_o = float(d["ess_bulk"].min())
    rate_o = ess_o / result.wall_seconds
    print(f"ours (sample_posterior: {result.n_walkers} walkers, {sampling.DEFAULT_MOVES}, "
          f"vectorised, checks every {args.check_every} steps): converged={result.converged} after "
          f"{result.n_steps} steps in {result.wall_seconds:.1f} s = "
          f"{result.n_steps / result.wall_seconds:.0f} steps/s, "
          f"{result.n_evaluations / result.wall_seconds:.0f} evaluations/s (+ mode search "
          f"{result.setup_seconds:.1f} s); acceptance {result.acceptance_fraction.mean():.2f}; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"  tau max {d['tau'].max():.0f} steps (N/tau min {d['n_over_tau'].min():.0f}); "
          f"R-hat max {d['rhat'].max():.4f}; bulk ESS min {ess_o:.0f}, tail ESS min "
          f"{d['ess_tail'].min():.0f} -> {rate_o:.1f} ESS/s "
          f"({ess_o / (result.wall_seconds + result.setup_seconds):.1f} with the mode search)")
    ratio = rate_o / rate_t
    print(f"time to convergence: tutorial stack {t_conv:.0f} s"
          f"{'' if run.converged else ' (estimated)'}, ours {result.wall_seconds:.1f} s "
          f"({t_conv / result.wall_seconds:.0f}x)")
    print(f"ESS/s ratio vs tutorial stack: {ratio:.1f}; seconds to convergence: "
          f"{result.wall_seconds:.1f}")


if __name__ == "__main__":
    main()
