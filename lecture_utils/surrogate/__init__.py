"""The two-stage gradient-boosted-tree surrogate of the ALP χ², its persistence and its validation.

The exact χ² (:func:`lecture_utils.alps.chi2`) costs seconds per point; a boosted-tree prediction
costs microseconds. :class:`TwoStageSurrogate` combines a **gate** (a classifier for the region of
interest Δχ² < :data:`lecture_utils.stats.REGION_DELTA_CHI2`) and a **regressor** (χ² inside the
region), with a hard combination (:meth:`~TwoStageSurrogate.predict`) and a smooth one for
samplers and optimisers (:meth:`~TwoStageSurrogate.predict_smooth`).

Submodules, each one job:

:mod:`~lecture_utils.surrogate.features`
    validated points (:func:`as_points`) and the model inputs (:func:`features`, transforms
    ``"ratio"``, ``"raw"`` and ``"running"``);
:mod:`~lecture_utils.surrogate.training`
    training data for the two stages: seeded splits (:func:`training_split`) and the XGBoost
    estimator of each stage (:func:`stage_model`);
:mod:`~lecture_utils.surrogate.model`
    :class:`TwoStageSurrogate`: fitting, predictions, save/load;
:mod:`~lecture_utils.surrogate.validation`
    hold-out metrics (:func:`validate`, :class:`ValidationReport`) and learning curves;
:mod:`~lecture_utils.surrogate.course`
    the course's model: shipped hyperparameters and data, the cached :func:`default_surrogate`.

The differentiable version for gradient-based minimisers and the search coordinates shared by the
fit and the sampler are in :mod:`lecture_utils.smooth`.
"""

from .course import (
    COURSE_CURVE_SIZES,
    FIT_SETTINGS,
    HYPERPARAMETERS_PATH,
    TRAINING_SETS,
    TUTORIAL_N_TRAIN,
    TUTORIAL_REGION_MAE,
    course_early_stopping_curve,
    course_learning_curve,
    default_surrogate,
    fit_settings,
    load_hyperparameters,
    resolve_surrogate,
    training_arrays,
)
from .inputs import (
    FA_REFERENCE_GEV,
    FEATURE_TRANSFORMS,
    RUNNING_FEATURES,
    Transform,
    as_points,
    check_transform,
    feature_names,
    feature_table_key,
    features,
    features_of,
)
from .model import (
    DEFAULT_THRESHOLD,
    FORMAT_VERSION,
    PENALTY_SCALE,
    SMOOTH_RAMP,
    OutOfDomainWarning,
    SurrogateMetadataError,
    TwoStageSurrogate,
    smooth_combination,
)
from .training import (
    DEFAULT_HYPERPARAMETERS,
    EARLY_STOPPING_ROUNDS,
    MAX_ESTIMATORS,
    REGRESSOR_MARGIN,
    STAGE_METRIC,
    STAGE_OBJECTIVE,
    VALIDATION_FRACTION,
    EarlyStoppingCurve,
    TrainingSplit,
    check_chi2,
    early_stopping_curve,
    split_indices,
    stage_model,
    training_data_hash,
    training_split,
)
from .validation import (
    ValidationReport,
    confusion_counts,
    gate_metrics,
    iou,
    learning_curve,
    learning_curve_fit,
    paired_comparison,
    region_iou,
    regression_metrics,
    reliability_curve,
    validate,
)

__all__ = [
    "COURSE_CURVE_SIZES",
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_THRESHOLD",
    "EARLY_STOPPING_ROUNDS",
    "FA_REFERENCE_GEV",
    "FEATURE_TRANSFORMS",
    "FIT_SETTINGS",
    "FORMAT_VERSION",
    "HYPERPARAMETERS_PATH",
    "MAX_ESTIMATORS",
    "PENALTY_SCALE",
    "REGRESSOR_MARGIN",
    "RUNNING_FEATURES",
    "SMOOTH_RAMP",
    "STAGE_METRIC",
    "STAGE_OBJECTIVE",
    "TRAINING_SETS",
    "TUTORIAL_N_TRAIN",
    "TUTORIAL_REGION_MAE",
    "VALIDATION_FRACTION",
    "EarlyStoppingCurve",
    "OutOfDomainWarning",
    "SurrogateMetadataError",
    "TrainingSplit",
    "Transform",
    "TwoStageSurrogate",
    "ValidationReport",
    "as_points",
    "check_chi2",
    "check_transform",
    "early_stopping_curve",
    "confusion_counts",
    "course_early_stopping_curve",
    "course_learning_curve",
    "default_surrogate",
    "feature_names",
    "feature_table_key",
    "features",
    "features_of",
    "fit_settings",
    "gate_metrics",
    "iou",
    "learning_curve",
    "learning_curve_fit",
    "load_hyperparameters",
    "paired_comparison",
    "region_iou",
    "regression_metrics",
    "reliability_curve",
    "resolve_surrogate",
    "smooth_combination",
    "split_indices",
    "stage_model",
    "training_arrays",
    "training_data_hash",
    "training_split",
    "validate",
]
