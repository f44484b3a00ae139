"""Active learning of the region Δχ² < δ: a Gaussian-process learner with an ask/tell interface.

A χ² evaluation costs seconds; a space-filling design (Latin hypercube) spends most of them where
the χ² is astronomically large. An *active learner* fits a cheap statistical model — a Gaussian
process (GP) — to the points evaluated so far and asks for the next points where they help most.
Here "help" means: locate the **region** ``{x : f(x) < min f + delta}`` (for a χ², the Δχ² region
of :data:`lecture_utils.stats.REGION_DELTA_CHI2`), not only the minimum.

The learner (:class:`Learner`)
    ``tell(points, values)`` adds evaluated points (any points: an initial design, a data set, the
    learner's own proposals); ``ask(n)`` proposes ``n`` distinct new points (a batch, to be
    evaluated in parallel); ``region_estimate(points)`` says which points the learner currently
    believes inside the region; :meth:`Learner.stop_reason` implements the stopping rule.

Coordinates
    Inputs are mapped to the unit cube (``log_scale`` dimensions logarithmically — f_a is sampled
    log-uniformly in this course), so every length scale of the GP is in units of the box width.

Output transform (``transform``)
    χ² values span 10¹–10²² over the ALP box. A GP on raw values would model the wall at small f_a
    and be useless in the region. The GP is therefore fitted to a monotone transform of
    ``Δ = f − min f`` (the minimum over the evaluated points): ``"log1p"`` (default)
    ``y = log(1 + Δ / s)``, ``"cap"`` ``y = min(Δ, cap)``, or ``"none"`` ``y = Δ``. The region is
    ``y < T(delta)`` in every case. The scale s is ``delta`` by default (chosen on the toy
    problems) and :data:`ALP_TRANSFORM_SCALE` = 1 in :func:`alp_learner` (chosen on the
    leading-log ALP χ²; ``benchmarks/active_learning.py`` compares them).

Batches
    Each batch mixes acquisitions: with a region acquisition every fourth pick (``ei_fraction``)
    uses expected improvement, since the region is defined relative to the minimum; a region pick
    with no informative candidate left falls back to EI as well.

Model and acquisitions
    see :mod:`lecture_utils.active.gp` (re-exported here): Matérn-5/2 kernel with ARD length
    scales and white noise; expected improvement (with the standard deviation), lower confidence
    bound, the *straddle* score of Bryan et al. (2005) for the region's boundary (default), and
    the misclassification probability; batches by the kriging believer. Hyperparameters are
    re-optimised (warm-started from the previous ones) only when the training set has grown by the
    factor ``refit_growth``; in between only the posterior is recomputed, so a step costs one
    Cholesky factorisation.

Region model (``region_model``)
    ``"gp"`` (default): the region estimate is the GP's posterior mean below the threshold, and
    the region picks maximise the region acquisition. ``"committee"``: a committee of boosted-tree
    classifiers of region membership on ``region_features`` (:mod:`lecture_utils.active.committee`,
    :class:`ClassifierCommittee`) gives the region estimate (mean probability > 1/2), the region
    probability and the region picks (uncertainty sampling with damped disagreement); the GP still
    models the values (:meth:`Learner.predict`, :meth:`Learner.posterior`) and makes the EI picks.
    The ALP χ² has cliffs that a GP smooths away: :func:`alp_learner` uses the committee on the
    surrogate's physics features over all six parameters (:data:`ALP_REGION_MODEL`).

Candidates
    ``ask`` maximises the acquisition over a seeded candidate set — half uniform in the box, half
    Gaussian perturbations (three scales) of the evaluated points that lie in or near the region —
    so it scales to 6-D without a global optimiser; or over a given finite pool (``candidates=``).

Real runs (:func:`run_active`) evaluate each batch with the engine into a resumable store per
batch; the provenance records which design proposed each point (``origin`` ``"lhs"`` or
``"active"``). :func:`extend_train` uses that to extend the shipped exact training set.

Stopping rule
    ``"budget"`` (number of evaluated points reaches ``budget``), ``"stable"`` (the region estimate
    on a fixed seeded monitor sample changed by at most ``stable_tol`` — as a fraction of the
    union of the old and new estimates — at each of the last ``patience`` tells) or
    ``"uncertainty"`` (the expected fraction of misclassified monitor points, relative to the
    estimated region size, fell to ``uncertainty_tol`` or below).

Toy functions (:data:`TOY_PROBLEMS`) — Forrester (1-D), Himmelblau and Branin (2-D), Hartmann (6-D)
— are **teaching and testing aids** with known regions; the physics is only ever the ALPaca χ².

Submodules
    :mod:`~lecture_utils.active.learner` (:class:`Learner`), :mod:`~lecture_utils.active.gp`
    (GP, acquisitions), :mod:`~lecture_utils.active.committee` (:class:`ClassifierCommittee`),
    :mod:`~lecture_utils.active.alp` (the learner on the ALP domain),
    :mod:`~lecture_utils.active.toys` (toy problems), :mod:`~lecture_utils.active.compare`
    (comparisons at equal budget, region metrics), :mod:`~lecture_utils.active.runs` (runs with
    the engine, training-set extension), :mod:`~lecture_utils.active.validation` (argument
    checks).
"""


from __future__ import annotations

from ..surrogate import learning_curve_fit
from .alp import (
    ALP_REGION_MODEL,
    ALP_TRANSFORM_SCALE,
    EFFECTIVE_COUPLING_SCALE,
    alp_input_map,
    alp_learner,
    alp_parameter_bounds,
    alp_region_features,
)
from .committee import COMMITTEE_DEFAULTS, ClassifierCommittee
from .compare import (
    PoolComparison,
    compare_on_function,
    compare_on_pool,
    leadinglog_pool,
    region_metrics,
)
from .gp import (
    ACQUISITIONS,
    REGION_ACQUISITIONS,
    GaussianProcess,
    acquisition_score,
    expected_improvement,
    lower_confidence_bound,
    make_kernel,
    misclassification_probability,
    straddle,
)
from .learner import REGION_MODELS, TRANSFORMS, Learner
from .runs import ActiveRun, extend_train, holdout_gain, load_run, run_active, surrogate_scores
from .toys import TOY_PROBLEMS, ToyProblem, branin, forrester, hartmann6, himmelblau

__all__ = [
    "ACQUISITIONS",
    "ALP_REGION_MODEL",
    "ALP_TRANSFORM_SCALE",
    "COMMITTEE_DEFAULTS",
    "EFFECTIVE_COUPLING_SCALE",
    "REGION_MODELS",
    "REGION_ACQUISITIONS",
    "TOY_PROBLEMS",
    "TRANSFORMS",
    "ActiveRun",
    "ClassifierCommittee",
    "GaussianProcess",
    "Learner",
    "PoolComparison",
    "ToyProblem",
    "acquisition_score",
    "alp_input_map",
    "alp_learner",
    "alp_parameter_bounds",
    "alp_region_features",
    "branin",
    "compare_on_function",
    "compare_on_pool",
    "expected_improvement",
    "extend_train",
    "forrester",
    "hartmann6",
    "himmelblau",
    "holdout_gain",
    "leadinglog_pool",
    "learning_curve_fit",
    "load_run",
    "lower_confidence_bound",
    "make_kernel",
    "misclassification_probability",
    "region_metrics",
    "run_active",
    "straddle",
    "surrogate_scores",
]
