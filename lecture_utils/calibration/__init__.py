"""How significant is the ALP? A significance calibrated by pseudo-experiments.

Wilks' theorem does not apply to the ALP fit: under the null hypothesis (all couplings zero) f_a
and the ALP lifetime do not exist, and the signal strength sits on the boundary of its range. This
module calibrates the likelihood ratio with pseudo-experiments instead.

The reduced model
-----------------
Of ALPaca's terms (:func:`lecture_utils.alps.fit_terms`) only three react to the ALP in the fit
region (:data:`REDUCED_TERMS`: B⁺ → K⁺ a at Belle II and BaBar, B⁺ → K*⁺ a at BaBar, all with an
invisible, escaping ALP). Their predictions are ``SM_j + r_j · P_j(cτ) · B`` with ``B`` =
BR(B⁺ → K⁺ a), the fixed ratio ``r_j`` of the channel's branching ratio to ``B`` and ALPaca's
escape probability ``P_j`` of the measurement, a function of the decay length cτ only. The test
statistic is then a function of two effective parameters, ``B ∈ [0, B_max]`` (``B_max``: the
largest BR over the domain) and ``cτ ∈ [cτ_min, ∞]``:

    q = χ²(B = 0) − min_{B, cτ} χ²(B, cτ),

summed over the three terms (the other terms are the same at both points and cancel). For each
cτ the χ² is convex in ``B`` (a sum of bifurcated parabolas), so its minimum is found exactly by
trying every assignment of sides; cτ is scanned on a grid in log cτ and refined by golden-section
search. :func:`prediction_library` ships ALPaca's term-by-term predictions at a few hundred
points, on which the reduction is checked (:func:`reduction_check`).

Pseudo-experiments
------------------
Under the null each term's pseudo-measurement is drawn as its likelihood says: a split normal with
mode at the Standard-Model prediction, width ``σ_R`` (with the theory uncertainty in quadrature)
below the mode and ``σ_L`` above it (a bifurcated Gaussian χ² read as a density in the data). The
published intervals are cut at zero, and each toy is represented the same way (``treatment``
``"as-is"`` and ``"corrected"``): central value ``ĉ = max(x, 0)``; where the file's lower edge is
zero at every mass (BaBar) the uncertainty towards zero equals ``ĉ``, elsewhere (Belle II) it is
cut at ``ĉ``. Limits and the measurements that do not react to the ALP are kept at their observed
values: they do not change ``q``. Treatments:

``"as-is"``
    ALPaca's likelihood as implemented, including the mirrored BaBar B⁺ → K*⁺ error bars
    (:func:`lecture_utils.alps.kstar_columns_swapped`);
``"corrected"``
    the B⁺ → K*⁺ columns read as the file stores them (lower uncertainty = central value);
``"gaussian"``
    symmetric Gaussians with the mean of the two (corrected) uncertainties, no truncation.
"""

from .library import (
    PREDICTION_LIBRARY,
    PredictionLibrary,
    build_prediction_library,
    library_path,
    prediction_library,
)
from .model import (
    CTAU_SATURATED_M,
    REDUCED_TERMS,
    TREATMENTS,
    ReducedModel,
    bifurcated_chi2,
    check_count,
    check_lifetime,
    check_treatment,
)
from .toys import (
    OTHER_MEASUREMENTS_BOUND,
    CalibratedSignificance,
    branching_ratio_ratios,
    calibrated_significance,
    reduced_model,
    reduction_check,
    toy_q,
    toy_q_from_data,
)
from .validation import VALIDATION_FILE, build_validation, full_chi2, validation_record

__all__ = [
    "CTAU_SATURATED_M", "OTHER_MEASUREMENTS_BOUND", "PREDICTION_LIBRARY", "REDUCED_TERMS",
    "TREATMENTS", "VALIDATION_FILE", "CalibratedSignificance", "PredictionLibrary",
    "ReducedModel", "bifurcated_chi2", "branching_ratio_ratios", "build_prediction_library",
    "build_validation", "calibrated_significance", "check_count", "check_lifetime",
    "check_treatment", "full_chi2", "library_path", "prediction_library", "reduced_model",
    "reduction_check", "toy_q", "toy_q_from_data", "validation_record",
]
