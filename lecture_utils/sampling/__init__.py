"""MCMC on the surrogate posterior: emcee with vectorised log-posteriors, diagnostics, checkpoints.

The posterior of the six ALP parameters given the flavour data is

.. math::

    p(\\theta \\mid d) \\propto \\exp\\left[-\\tfrac12 \\chi^2(\\theta)\\right] \\pi(\\theta),

with χ² replaced by the surrogate's **smooth** combination
(:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth`: finite everywhere, equal to the
regressor inside the gate and growing with the gate's certainty outside) and π a :class:`Prior`;
``combination="hard"`` uses the hard combination instead (zero posterior outside the gate).
The posterior is only as good as the surrogate where the chain goes: :func:`spot_check` evaluates
the exact ALPaca χ² at posterior draws.

Coordinates
    The sampler works in the *sampling coordinates* ``θ = (log10(f_a/GeV), c_qL33, c_uR, c_dR,
    c_lL33, c_eR)`` (:data:`SAMPLING_NAMES`): f_a spans more than a decade, and a step of fixed
    size in log10 f_a is a step of fixed *relative* size in f_a. Every density in this module
    (prior and posterior) is a density in θ, i.e. with respect to ``d log10 f_a · dc``. Results
    are reported in physical parameters (:data:`lecture_utils.alps.PARAMETERS` order, f_a in GeV)
    and, for f_a, also as log10 f_a.
Priors
    flat boxes on the couplings (inside the surrogate's training domain) and, on f_a, either
    log-uniform (flat in log10 f_a over the box) or a Gaussian in log10 f_a truncated to the box
    (the reference tutorial used log10 f_a = 7.5 ± 0.2). A prior box that leaves the surrogate
    domain is refused: the trees are constant extrapolations there.
Sampler
    :class:`emcee.EnsembleSampler` with ``vectorize=True`` — the whole half-ensemble that a move
    updates is one batch call of the (compiled) surrogate — and a mix of differential-evolution
    moves (:data:`DEFAULT_MOVES`). Every random draw is seeded: the initial ball, the move choice
    and the proposals (emcee's :class:`numpy.random.RandomState`, passed in the initial
    :class:`emcee.State`), so a run is bit-reproducible and a checkpointed run resumed later
    continues the *same* chain.
Convergence
    checked every ``check_every`` steps: the chain is longer than ``tau_factor`` (50) integrated
    autocorrelation times, τ changed by less than ``tau_rtol`` since the previous check, and,
    after discarding a burn-in of 2 τ_max steps, the rank-normalised split R̂ of every parameter
    is below ``rhat_max`` and its bulk and tail effective sample sizes (arviz) exceed ``min_ess``
    (screened first on a chain thinned by τ_min / 10, :data:`SCREEN_THIN_TAUS`, since the full
    rank-normalised statistics are costly on long chains; the full values decide).
    The kept samples are thinned by τ_min / 2. A chain that stops at ``max_steps`` without meeting
    all criteria is marked ``converged=False``, and :meth:`PosteriorResult.summary` refuses to
    summarise it unless asked explicitly.

Submodules
    :mod:`~lecture_utils.sampling.prior` (coordinates, :class:`Prior`),
    :mod:`~lecture_utils.sampling.posterior` (log posterior, starting points),
    :mod:`~lecture_utils.sampling.mh` (textbook Metropolis–Hastings),
    :mod:`~lecture_utils.sampling.diagnostics` (τ, R̂, ESS), :mod:`~lecture_utils.sampling.moves`
    (differential-evolution moves), :mod:`~lecture_utils.sampling.backend` (checkpoints),
    :mod:`~lecture_utils.sampling.ensemble` (the sampler loop, :class:`PosteriorResult`) and
    :mod:`~lecture_utils.sampling.course` (the course's ALP posterior, spot-checks).

Import order: this package is a *use* of the surrogate: it imports :mod:`lecture_utils.alps`,
:mod:`lecture_utils.smooth` and, where needed, :mod:`lecture_utils.surrogate`,
:mod:`lecture_utils.compiled` (the default surrogate) and :mod:`lecture_utils.data` (exact
spot-checks); no earlier stage imports it.
"""

from __future__ import annotations

from .backend import NpzBackend
from .course import (
    DEFAULT_N_WALKERS,
    chain_profile,
    default_sampling_surrogate,
    sample_posterior,
    spot_check,
    spot_check_summary,
)
from .diagnostics import TAIL_PROB, autocorr_time, chain_diagnostics
from .ensemble import (
    BURN_IN_TAUS,
    DEFAULT_CHECK_EVERY,
    DEFAULT_MAX_STEPS,
    MIN_ESS,
    RHAT_MAX,
    SCREEN_THIN_TAUS,
    TAU_FACTOR,
    TAU_RTOL,
    THIN_TAUS,
    NotConvergedError,
    PosteriorResult,
    run_ensemble,
)
from .mh import metropolis
from .moves import DEFAULT_MOVES, DEMove, SnookerMove, default_moves
from .posterior import COMBINATIONS, LogPosterior, initial_ball, log_posterior, posterior_mode
from .prior import (
    FA_MAX_TUTORIAL_GEV,
    LOG10_FA_TUTORIAL,
    SAMPLING_NAMES,
    Prior,
    as_prior,
    make_prior,
    to_physical,
    to_sampling,
)

__all__ = [
    "BURN_IN_TAUS",
    "COMBINATIONS",
    "DEFAULT_CHECK_EVERY",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MOVES",
    "DEFAULT_N_WALKERS",
    "FA_MAX_TUTORIAL_GEV",
    "LOG10_FA_TUTORIAL",
    "MIN_ESS",
    "RHAT_MAX",
    "SAMPLING_NAMES",
    "SCREEN_THIN_TAUS",
    "TAIL_PROB",
    "TAU_FACTOR",
    "TAU_RTOL",
    "THIN_TAUS",
    "DEMove",
    "LogPosterior",
    "NotConvergedError",
    "NpzBackend",
    "PosteriorResult",
    "Prior",
    "SnookerMove",
    "as_prior",
    "autocorr_time",
    "chain_diagnostics",
    "chain_profile",
    "default_sampling_surrogate",
    "default_moves",
    "initial_ball",
    "log_posterior",
    "make_prior",
    "metropolis",
    "posterior_mode",
    "run_ensemble",
    "sample_posterior",
    "spot_check",
    "spot_check_summary",
    "to_physical",
    "to_sampling",
]
