"""SHAP explanations of the two-stage surrogate, as numbers and as figures.

A Shapley value splits one prediction ``f(x)`` among the inputs: ``f(x) = φ₀ + Σ_j φ_j(x)``, with
``φ₀`` the *base value* (the expected output) and ``φ_j`` the contribution of input ``j``
(Lundberg & Lee 2017). For tree ensembles the values are computed **exactly** in polynomial
time by TreeSHAP (Lundberg et al. 2020) (``shap.TreeExplainer``; for XGBoost models the
path-dependent variant runs in XGBoost's own C++ code). This subpackage wraps it for
:class:`~lecture_utils.surrogate.TwoStageSurrogate`:

**stages**
    ``"regressor"`` explains the regressor's χ² (meaningful in the region of interest, where it
    was trained); ``"gate"`` explains the gate's **log-odds** ``logit p(x)`` (its raw margin —
    SHAP values add up on that scale, not on the probability scale).
**feature perturbation** (how "input j is absent" is modelled)
    ``"tree_path_dependent"``: ``E[f(x) | x_S]`` estimated by following the trees, weighting the
    branches that a missing input would take by how many *training* points went each way (the
    trees' cover). No background data, exact, fast (``O(T L D²)`` per point for ``T`` trees of
    ``L`` leaves and depth ``D``), and it also gives exact **interaction values**. It respects the
    correlations of the training design — which is region-enriched, so not independent.
    ``"interventional"``: ``E_b[f(x_S, b_{S̄})]`` averaged over a seeded **background sample**
    ``b`` — the inputs not in ``S`` are replaced by background values *independently* of ``x_S``
    (a causal "do" intervention). It answers "what if I changed only this input", ignores the
    correlations of the training data and costs ``O(T L B)`` per point for ``B`` background points.
    The two agree where the inputs are independent and the trees' cover matches the background;
    they differ where the design correlates the inputs.

**features versus parameters.** The trees see :func:`lecture_utils.surrogate.features`, e.g.
``log10(f_a/GeV)`` and the effective couplings ``c_i · 10⁶ GeV / f_a``, not the physical parameters.
SHAP values live in that feature space. The map is one feature per parameter, invertible, with a
triangular Jacobian (feature ``j`` depends on parameter ``j`` and, for the effective couplings, on
f_a) — :func:`feature_map` checks this numerically — so each attribution belongs to exactly one
parameter. Its meaning follows the feature: the ``c_i`` attribution is that of the *effective*
coupling ``c_i/f_a``, and the ``f_a`` attribution is the effect of the scale at fixed effective
couplings. Tables are indexed by the parameter names of :data:`lecture_utils.alps.PARAMETERS`;
figures label the features with physical symbols and units.

:func:`brute_force_shapley` evaluates the Shapley definition over all 2⁶ coalitions (both value
functions) — the reference TreeSHAP must reproduce, for teaching and for the tests.

Global summaries are returned as :class:`pandas.DataFrame` (:func:`global_importance`,
:func:`interaction_matrix`, :func:`interaction_importance`, :func:`compare_importance`); the plot
helpers draw them in the book style (:func:`lecture_utils.plotting.use_style`).

For the physics reading, :func:`observable_contributions` (χ² per measurement) and
:func:`low_energy_table` evaluate ALPaca through the per-point evaluation cache of
:mod:`lecture_utils.data` (:func:`~lecture_utils.data.cached_tables`, the cache behind
:func:`~lecture_utils.data.evaluate_cached`); :func:`coupling_response` gives the linear map from
the couplings at 4π f_a to the low-energy couplings; :func:`feature_line` and
:func:`interaction_contrast` place points along one feature, or around a point in two, in the
feature space the SHAP values refer to.

Submodules
----------
:mod:`~lecture_utils.explain.shapley`
    :class:`Explanation`, :func:`explain` (TreeSHAP), :func:`brute_force_shapley`, version check.
:mod:`~lecture_utils.explain.features`
    the feature ↔ parameter map, feature labels, :func:`feature_line`, :func:`interaction_contrast`.
:mod:`~lecture_utils.explain.importance`
    global importance and interaction tables.
:mod:`~lecture_utils.explain.physics`
    χ² per measurement and low-energy couplings from the ALPaca evaluation cache.
:mod:`~lecture_utils.explain.plots`
    the ``plot_*`` figures.

Every public name is re-exported here, so ``explain.explain`` etc. work as before.
"""

from .features import (
    PER_PARAMETER_TRANSFORMS,
    feature_label,
    feature_line,
    feature_map,
    interaction_contrast,
    points_from_features,
)
from .importance import (
    compare_importance,
    global_importance,
    interaction_importance,
    interaction_matrix,
    strongest_interaction,
)
from .physics import coupling_response, low_energy_table, observable_contributions
from .plots import (
    plot_beeswarm,
    plot_dependence,
    plot_importance,
    plot_interaction_heatmap,
    plot_observable_scan,
    plot_waterfall,
)
from .shapley import (
    DEFAULT_BACKGROUND_SIZE,
    OUTPUT_LABELS,
    PERTURBATIONS,
    SHAP_MIN_VERSION,
    STAGES,
    Explanation,
    brute_force_shapley,
    check_versions,
    coalition_name,
    explain,
    sample_indices,
)

__all__ = [
    "DEFAULT_BACKGROUND_SIZE",
    "OUTPUT_LABELS",
    "PERTURBATIONS",
    "PER_PARAMETER_TRANSFORMS",
    "SHAP_MIN_VERSION",
    "STAGES",
    "Explanation",
    "brute_force_shapley",
    "check_versions",
    "coalition_name",
    "compare_importance",
    "coupling_response",
    "explain",
    "feature_label",
    "feature_line",
    "feature_map",
    "global_importance",
    "interaction_contrast",
    "interaction_importance",
    "interaction_matrix",
    "low_energy_table",
    "observable_contributions",
    "plot_beeswarm",
    "plot_dependence",
    "plot_importance",
    "plot_interaction_heatmap",
    "plot_observable_scan",
    "plot_waterfall",
    "points_from_features",
    "sample_indices",
    "strongest_interaction",
]
