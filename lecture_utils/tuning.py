"""Hyperparameter tuning of the two-stage surrogate with optuna — seeded, pruned, resumable.

One study per stage (``"gate"``, ``"regressor"``) explores :data:`SEARCH_SPACE` (the reference
tutorial's box: depth 2–8, learning rate 0.01–0.3 (log scale), γ 0–5, min_child_weight 1–10,
subsample and colsample_bytree 0.5–1, α and λ 0–1.2); the number of trees is not searched but found
by early stopping in every trial.

Objective
    Each trial fits the stage on the training part of the seeded split of
    :func:`lecture_utils.surrogate.training_split` and returns the best validation score —
    log-loss for the gate, MAE inside the region cut for the regressor
    (:data:`lecture_utils.surrogate.STAGE_METRIC`). This is exactly the split and metric that
    :meth:`~lecture_utils.surrogate.TwoStageSurrogate.fit` early-stops on, so the tuned values
    transfer one-to-one. With ``folds=k ≥ 2`` each trial is instead scored by stratified k-fold
    cross-validation (mean of the k early-stopped validation scores; pruning watches the first
    fold). The fixed split is the cheap default for a training set of thousands of points; with a
    few hundred, its ~20 % validation part is so small that TPE would tune to its noise, and the
    k-fold mean is worth k times the cost (the shipped study records which was used). The
    ``"holdout"`` data set is never used here — it is kept for the final, unbiased validation.
Sampler
    :class:`optuna.samplers.TPESampler`, re-created before every batch of trials with a seed
    derived from ``(seed, number of finished trials)``. A study is therefore a deterministic
    function of its settings and its own history: rerunning with the same seed gives the same
    trials, and a run that was interrupted and resumed gives the same trials as one that was not.
Pruning
    :class:`optuna.pruners.MedianPruner` fed every :data:`REPORT_EVERY` boosting rounds by an
    XGBoost callback (:class:`PruningCallback`): a trial whose validation score is worse than the
    median of the finished trials at the same round is stopped. Reporting every round (as
    optuna-integration's ``XGBoostPruningCallback`` does) would cost one SQLite write per tree.
Storage and resumption
    A persistent SQLite database (default ``cache_dir("tuning")/studies.db``). :func:`tune` loads
    the study of the given name if it exists, checks that its recorded settings match, marks trials
    left running by a killed process as failed, and continues until ``n_trials`` trials finished.
Parallelism that stays reproducible
    optuna's ``n_jobs > 1`` draws the sampler seed at random, and independent workers
    pulling from one storage see each other's trials in a timing-dependent order. Here the main
    process *asks* a batch of ``batch_size`` trials, separate worker processes (``workers``)
    evaluate them — each reporting to the shared storage for pruning — and the main process *tells*
    the results in trial order once the whole batch is done. Pruning compares only with trials
    of earlier batches. The result depends on ``batch_size`` but not on ``workers``.

Command line: :func:`main` (``python -m lecture_utils tune …``) runs both studies on the shipped
training sets (:data:`lecture_utils.surrogate.TRAINING_SETS`) and writes the best values with
the settings and results to :data:`lecture_utils.surrogate.HYPERPARAMETERS_PATH`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import xgboost as xgb
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from . import surrogate as sg
from ._cache import cache_dir
from ._progress import progress_bar
from .stats import REGION_DELTA_CHI2

__all__ = [
    "REPORT_EVERY",
    "SEARCH_SPACE",
    "STAGES",
    "PruningCallback",
    "TuningSettings",
    "best_hyperparameters",
    "default_storage",
    "evaluate",
    "fold_indices",
    "load_study",
    "make_pruner",
    "objective",
    "study_name",
    "study_record",
    "stage_arrays",
    "stage_folds",
    "suggest_params",
    "tune",
    "write_hyperparameters",
]

STAGES: tuple[str, ...] = ("gate", "regressor")

SEARCH_SPACE: dict[str, BaseDistribution] = {
    "max_depth": IntDistribution(2, 8),
    "learning_rate": FloatDistribution(0.01, 0.3, log=True),
    "gamma": FloatDistribution(0.0, 5.0),
    "min_child_weight": FloatDistribution(1.0, 10.0),
    "subsample": FloatDistribution(0.5, 1.0),
    "colsample_bytree": FloatDistribution(0.5, 1.0),
    "reg_alpha": FloatDistribution(0.0, 1.2),
    "reg_lambda": FloatDistribution(0.0, 1.2),
}
"""The searched XGBoost parameters and their ranges (at least those of the reference tutorial)."""

REPORT_EVERY: int = 25
"""Boosting rounds between two reports to the pruner."""

_STAGE_DIRECTION = "minimize"


@dataclass(frozen=True)
class TuningSettings:
    """Everything that defines a study besides its trials (recorded in the study, checked on
    resume). ``data_hash`` identifies the training data (:func:`surrogate.training_data_hash`)."""

    stage: str
    seed: int = 0
    batch_size: int = 1
    transform: str = "ratio"
    cut: float = REGION_DELTA_CHI2
    regressor_margin: float = sg.REGRESSOR_MARGIN
    validation_fraction: float = sg.VALIDATION_FRACTION
    max_estimators: int = sg.MAX_ESTIMATORS
    early_stopping_rounds: int = sg.EARLY_STOPPING_ROUNDS
    report_every: int = REPORT_EVERY
    pruner_startup_trials: int = 5
    pruner_warmup_rounds: int = 100
    folds: int = 1
    start_from_defaults: bool = True
    data_hash: str = ""
    n_points: int = 0

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; choose one of {STAGES}")
        if self.batch_size < 1 or self.report_every < 1:
            raise ValueError("batch_size and report_every must be ≥ 1")
        if self.folds < 1:
            raise ValueError("folds must be ≥ 1 (1 = the fixed validation split)")


def default_storage() -> str:
    """SQLite URL of the default persistent study database under the package cache."""
    return f"sqlite:///{cache_dir('tuning') / 'studies.db'}"


def _storage(url: str) -> optuna.storages.BaseStorage:
    if url.startswith("sqlite"):
        # several processes write intermediate values: wait for the lock instead of failing
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    return optuna.storages.RDBStorage(url)


def make_pruner(settings: TuningSettings) -> optuna.pruners.MedianPruner:
    """Median pruner: compare from ``pruner_startup_trials`` finished trials on, after
    ``pruner_warmup_rounds`` boosting rounds."""
    return optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials,
                                       n_warmup_steps=settings.pruner_warmup_rounds)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(old)


# --------------------------------------------------------------------------------------------
# data and objective
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageArrays:
    """Training and validation arrays of one stage (features float32 (m, 6), targets (m,))."""

    stage: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    data_hash: str


def stage_arrays(points: Any, chi2: Any, stage: str, *, transform: str = "ratio",
                 cut: float = REGION_DELTA_CHI2, regressor_margin: float = sg.REGRESSOR_MARGIN,
                 seed: int = 0, validation_fraction: float = sg.VALIDATION_FRACTION
                 ) -> StageArrays:
    """The arrays :meth:`TwoStageSurrogate.fit` early-stops ``stage`` on (same split, same seed)."""
    sp = sg.training_split(points, chi2, transform=transform, cut=cut,  # type: ignore[arg-type]
                           regressor_margin=regressor_margin, seed=seed,
                           validation_fraction=validation_fraction)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    return StageArrays(stage, *sp.stage_data(stage), sp.data_hash)


def fold_indices(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Seeded stratified k-fold partition: ``k`` sorted index arrays covering ``range(n)``.

    Within each class of ``labels`` the items are shuffled and dealt round-robin to the folds, so
    every fold has the class proportions of the whole set (±1 item)."""
    if k < 2:
        raise ValueError("k-fold needs k ≥ 2")
    rng = np.random.default_rng([int(seed), 0xF01D5])
    fold = np.empty(len(labels), dtype=int)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        fold[idx] = np.arange(len(idx)) % k
    return [np.flatnonzero(fold == i) for i in range(k)]


def stage_folds(points: Any, chi2: Any, stage: str, *, folds: int = 1, transform: str = "ratio",
                cut: float = REGION_DELTA_CHI2, regressor_margin: float = sg.REGRESSOR_MARGIN,
                seed: int = 0, validation_fraction: float = sg.VALIDATION_FRACTION
                ) -> list[StageArrays]:
    """The train/validation arrays a trial is scored on.

    ``folds=1``: one element, the fixed seeded split of :func:`stage_arrays` (the split the final
    training early-stops on). ``folds=k ≥ 2``: k-fold cross-validation over all training points,
    stratified by region membership; in fold i the gate trains on the other folds, the regressor on
    their points with Δχ² < cut + margin, and both are scored on fold i (the regressor on its points
    inside the cut). Worth its k-fold cost when the training set is small and one split's
    validation score is noisy.
    """
    if folds == 1:
        return [stage_arrays(points, chi2, stage, transform=transform, cut=cut,
                             regressor_margin=regressor_margin, seed=seed,
                             validation_fraction=validation_fraction)]
    sp = sg.training_split(points, chi2, transform=transform, cut=cut,  # type: ignore[arg-type]
                           regressor_margin=regressor_margin, seed=seed,
                           validation_fraction=validation_fraction)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    reg = sp.chi2 - sp.chi2_min < cut + regressor_margin
    out = []
    for val in fold_indices(sp.inside, int(folds), seed):
        train = np.setdiff1d(np.arange(len(sp.chi2)), val)
        if stage == "gate":
            y = sp.inside.astype(np.int32)
            out.append(StageArrays(stage, sp.x[train], y[train], sp.x[val], y[val],
                                   sp.data_hash))
        else:
            tr, va = train[reg[train]], val[sp.inside[val]]
            out.append(StageArrays(stage, sp.x[tr], sp.chi2[tr], sp.x[va], sp.chi2[va],
                                   sp.data_hash))
    return out


class PruningCallback(xgb.callback.TrainingCallback):
    """XGBoost training callback reporting the validation metric to an optuna trial every
    ``every`` rounds and raising :class:`optuna.TrialPruned` when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str, every: int = REPORT_EVERY) -> None:
        super().__init__()
        self.trial, self.metric, self.every = trial, metric, int(every)

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        step = epoch + 1
        if step % self.every:
            return False
        value = float(evals_log["validation_0"][self.metric][-1])
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at round {step} ({self.metric}={value:.5g})")
        return False


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """Draw (or read back) one point of :data:`SEARCH_SPACE` for ``trial``."""
    out: dict[str, Any] = {}
    for name, dist in SEARCH_SPACE.items():
        if isinstance(dist, IntDistribution):
            out[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        else:
            assert isinstance(dist, FloatDistribution)
            out[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return out


def evaluate(params: Mapping[str, Any], arrays: StageArrays | Sequence[StageArrays],
             settings: TuningSettings, trial: optuna.Trial | None = None) -> tuple[float, int]:
    """Fit one stage with ``params`` and early stopping on each split of ``arrays``; return the
    mean best validation score and the mean number of trees (rounded).

    With a ``trial``, the first split's validation curve is reported every
    ``settings.report_every`` rounds for pruning (may raise :class:`optuna.TrialPruned`)."""
    splits = [arrays] if isinstance(arrays, StageArrays) else list(arrays)
    scores, trees = [], []
    for i, arr in enumerate(splits):
        metric = sg.STAGE_METRIC[arr.stage]
        callbacks = ([PruningCallback(trial, metric, settings.report_every)]
                     if trial is not None and i == 0 else None)
        model = sg.stage_model(arr.stage, params, n_estimators=settings.max_estimators,
                               seed=settings.seed, n_jobs=1,
                               early_stopping_rounds=settings.early_stopping_rounds,
                               callbacks=callbacks)
        model.fit(arr.x_train, arr.y_train, eval_set=[(arr.x_val, arr.y_val)], verbose=False)
        n_trees = int(model.best_iteration) + 1
        scores.append(float(model.evals_result()["validation_0"][metric][n_trees - 1]))
        trees.append(n_trees)
    return float(np.mean(scores)), int(round(float(np.mean(trees))))


def objective(trial: optuna.Trial, arrays: StageArrays | Sequence[StageArrays],
              settings: TuningSettings) -> float:
    """The optuna objective of a stage: suggest, fit with pruning, return the validation score.

    Usable directly with ``study.optimize(lambda t: objective(t, arrays, settings), …)``; also
    stores the early-stopped number of trees as user attribute ``n_estimators``.
    """
    params = suggest_params(trial)
    score, n_trees = evaluate(params, arrays, settings, trial)
    trial.set_user_attr("n_estimators", n_trees)
    return score


# --------------------------------------------------------------------------------------------
# the tuning loop
# --------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(arrays: list[StageArrays], settings: TuningSettings, storage: str,
                 study_name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _WORKER.update(arrays=arrays, settings=settings, storage=storage, study_name=study_name)


def _run_trial(trial_id: int) -> tuple[str, float | None, int | None]:
    """Evaluate one asked trial in a worker process: ('complete'|'pruned', value, n_trees)."""
    settings: TuningSettings = _WORKER["settings"]
    study = optuna.load_study(study_name=_WORKER["study_name"],
                              storage=_storage(_WORKER["storage"]),
                              sampler=optuna.samplers.RandomSampler(seed=0),
                              pruner=make_pruner(settings))
    trial = optuna.trial.Trial(study, trial_id)
    return _evaluate_trial(trial, _WORKER["arrays"], settings)


def _evaluate_trial(trial: optuna.Trial, arrays: list[StageArrays], settings: TuningSettings
                    ) -> tuple[str, float | None, int | None]:
    try:
        score, n_trees = evaluate(suggest_params(trial), arrays, settings, trial)
    except optuna.TrialPruned:
        return "pruned", None, None
    trial.set_user_attr("n_estimators", n_trees)   # before tell: finished trials are frozen
    return "complete", score, n_trees


def _batch_seed(seed: int, n_finished: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(n_finished)]).generate_state(1)[0])


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def load_study(study_name: str, storage: str | None = None) -> optuna.Study:
    """Open an existing study (read-only use: plots, best trial)."""
    return optuna.load_study(study_name=study_name, storage=_storage(storage or default_storage()))


def _open_study(study_name: str, storage: str, settings: TuningSettings) -> optuna.Study:
    study = optuna.create_study(study_name=study_name, storage=_storage(storage),
                                direction=_STAGE_DIRECTION, pruner=make_pruner(settings),
                                sampler=optuna.samplers.TPESampler(seed=settings.seed),
                                load_if_exists=True)
    recorded = study.user_attrs.get("settings")
    current = asdict(settings)
    if recorded is None:
        study.set_user_attr("settings", current)
        study.set_user_attr("search_space", {k: repr(v) for k, v in SEARCH_SPACE.items()})
        if settings.start_from_defaults:   # trial 0: the untuned defaults, as a baseline to beat
            study.enqueue_trial(dict(sg.DEFAULT_HYPERPARAMETERS[settings.stage]))
    elif recorded != json.loads(json.dumps(current)):
        diff = {k: (recorded.get(k), v) for k, v in current.items() if recorded.get(k) != v}
        raise ValueError(f"study {study_name!r} in {storage} was created with other settings "
                         f"(recorded, requested): {diff}; choose another study name")
    # trials left RUNNING by a killed process can never finish: mark them failed
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
    return study


def tune(points: Any, chi2: Any, stage: str, *, study_name: str, storage: str | None = None,
         n_trials: int = 50, seed: int = 0, batch_size: int = 1, workers: int = 1,
         timeout: float | None = None, transform: str = "ratio",
         regressor_margin: float = sg.REGRESSOR_MARGIN,
         max_estimators: int = sg.MAX_ESTIMATORS,
         early_stopping_rounds: int = sg.EARLY_STOPPING_ROUNDS,
         report_every: int = REPORT_EVERY, pruner_startup_trials: int = 5,
         pruner_warmup_rounds: int = 100, folds: int = 1, start_from_defaults: bool = True,
         progress: bool | None = None) -> optuna.Study:
    """Run (or resume) the study ``study_name`` of ``stage`` until ``n_trials`` trials finished.

    Each trial fits the stage with hyperparameters drawn from :data:`SEARCH_SPACE` and early
    stopping, and is scored on validation data (log-loss for the gate, MAE inside the region cut
    for the regressor); unpromising trials are pruned. An existing study of that name is resumed
    if its recorded settings match. ``batch_size`` trials are asked at a time and evaluated by
    ``workers`` separate processes; the trials depend on ``seed``, ``batch_size``, the data and
    the settings, not on ``workers`` (the module :mod:`lecture_utils.tuning` explains how).

    Parameters
    ----------
    points : array_like or pandas.DataFrame, shape (n, 6)
        Physical training points (f_a in GeV) — the shipped
        :data:`~lecture_utils.surrogate.TRAINING_SETS` in the course.
    chi2 : array_like, shape (n,)
        Their exact χ².
    stage : {"gate", "regressor"}
        The stage to tune.
    study_name : str
        Name of the study in ``storage``; a study of that name is resumed.
    storage : str, optional
        Optuna storage URL; default :func:`default_storage` (SQLite under the package cache).
    n_trials : int, optional
        Finished (complete or pruned) trials to reach, counting those of a resumed study; ≥ 1.
    seed : int, optional
        Seed of the validation split, of the sampler and of XGBoost.
    batch_size : int, optional
        Trials asked at a time, ≥ 1; changes the trials.
    workers : int, optional
        Processes that evaluate a batch, ≥ 1; does not change the trials.
    timeout : float, optional
        Seconds after which the run stops between batches — a safety cap that makes the number of
        trials machine-dependent; use ``n_trials`` for reproducible studies.
    transform : {"ratio", "raw", "running"}, optional
        Feature transform (:func:`~lecture_utils.surrogate.features`).
    regressor_margin : float, optional
        The regressor trains on Δχ² < cut + ``regressor_margin``.
    max_estimators : int, optional
        Upper bound on the trees per trial.
    early_stopping_rounds : int, optional
        Patience of early stopping, in boosting rounds.
    report_every : int, optional
        Boosting rounds between two reports to the pruner, ≥ 1.
    pruner_startup_trials : int, optional
        Finished trials before the median pruner starts comparing.
    pruner_warmup_rounds : int, optional
        Boosting rounds of a trial before it can be pruned.
    folds : int, optional
        1: the fixed validation split; k ≥ 2: k-fold cross-validation (:func:`stage_folds`).
    start_from_defaults : bool, optional
        Make a new study's first trial the untuned
        :data:`~lecture_utils.surrogate.DEFAULT_HYPERPARAMETERS`, so that the result is never
        worse than that baseline on the tuning score.
    progress : bool, optional
        Progress bar over the trials (default: ``LECTURE_UTILS_PROGRESS``).

    Returns
    -------
    optuna.Study
        The study; each complete trial's value is its validation score, and its user attribute
        ``n_estimators`` the early-stopped number of trees.

    Raises
    ------
    ValueError
        For an unknown ``stage``; ``n_trials``, ``workers``, ``batch_size``, ``report_every`` or
        ``folds`` below 1; invalid training data (:func:`~lecture_utils.surrogate.training_split`);
        or an existing study of that name recorded with other settings.

    Notes
    -----
    With ``workers > 1`` the workers are *spawned* processes: in a script, call this under
    ``if __name__ == "__main__":`` (notebooks need nothing special).
    """
    arrays = stage_folds(points, chi2, stage, folds=folds, transform=transform,
                         regressor_margin=regressor_margin, seed=seed)
    settings = TuningSettings(stage=stage, seed=seed, batch_size=batch_size, transform=transform,
                              regressor_margin=regressor_margin,
                              max_estimators=max_estimators,
                              early_stopping_rounds=early_stopping_rounds,
                              report_every=report_every,
                              pruner_startup_trials=pruner_startup_trials,
                              pruner_warmup_rounds=pruner_warmup_rounds,
                              folds=folds, start_from_defaults=start_from_defaults,
                              data_hash=arrays[0].data_hash,
                              n_points=len(np.asarray(chi2)))
    if int(n_trials) < 1 or int(workers) < 1:
        raise ValueError("n_trials and workers must be ≥ 1")
    storage = storage or default_storage()
    t0 = time.perf_counter()
    with _quiet_optuna():
        study = _open_study(study_name, storage, settings)
        n_done = n_start = len(_finished(study))
        pool = None
        if workers > 1:
            import multiprocessing as mp

            pool = ProcessPoolExecutor(int(workers), mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker,
                                       initargs=(arrays, settings, storage, study_name))
        bar = progress_bar(total=int(n_trials), initial=min(n_done, int(n_trials)),
                           progress=progress, desc=f"tuning {stage}")
        try:
            while n_done < n_trials:
                if timeout is not None and time.perf_counter() - t0 > timeout:
                    break
                study.sampler = optuna.samplers.TPESampler(seed=_batch_seed(seed, n_done))
                k = min(int(batch_size), int(n_trials) - n_done)
                asked = [study.ask(fixed_distributions=SEARCH_SPACE) for _ in range(k)]
                if pool is None:
                    results = [_evaluate_trial(t, arrays, settings) for t in asked]
                else:
                    results = list(pool.map(_run_trial, [t._trial_id for t in asked]))
                for trial, (state, value, _) in zip(asked, results, strict=True):
                    if state == "pruned":
                        study.tell(trial, state=TrialState.PRUNED)
                    else:
                        study.tell(trial, value)
                n_done += k
                bar.update(k)
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown()
        if len(_finished(study)) > n_start:   # time spent evaluating trials, summed over runs
            wall = float(study.user_attrs.get("wall_seconds", 0.0)) + time.perf_counter() - t0
            study.set_user_attr("wall_seconds", wall)
    return study


def best_hyperparameters(study: optuna.Study) -> dict[str, Any]:
    """The best trial's XGBoost parameters (ready for :meth:`TwoStageSurrogate.fit`)."""
    return dict(study.best_trial.params)


def study_record(study: optuna.Study) -> dict[str, Any]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    best = study.best_trial
    return {"study_name": study.study_name, "settings": study.user_attrs.get("settings"),
            "search_space": study.user_attrs.get("search_space"),
            "sampler": "TPESampler, reseeded per batch from (seed, finished trials)",
            "pruner": "MedianPruner",
            "n_trials": len(states), "n_complete": states.count(TrialState.COMPLETE),
            "n_pruned": states.count(TrialState.PRUNED), "n_failed": states.count(TrialState.FAIL),
            "wall_seconds": round(float(study.user_attrs.get("wall_seconds", 0.0)), 1),
            "best_trial": best.number, "best_value": best.value,
            "best_n_estimators": best.user_attrs.get("n_estimators")}


def write_hyperparameters(gate: optuna.Study, regressor: optuna.Study, *,
                          path: str | Path = sg.HYPERPARAMETERS_PATH,
                          data_set: str = ",".join(sg.TRAINING_SETS), command: str = "") -> Path:
    """Write both studies' best parameters, with the settings and results of the studies, to
    ``path`` in the format :func:`lecture_utils.surrogate.load_hyperparameters` reads."""
    gs = gate.user_attrs["settings"]
    rs = regressor.user_attrs["settings"]
    for key in ("transform", "regressor_margin", "seed", "validation_fraction", "cut",
                "max_estimators", "early_stopping_rounds", "data_hash", "n_points"):
        if gs[key] != rs[key]:
            raise ValueError(f"gate and regressor studies differ in {key!r}: {gs[key]} vs "
                             f"{rs[key]}")
    doc = {
        "format_version": 1,
        "description": "Tuned XGBoost hyperparameters of the two-stage surrogate "
                       "(lecture_utils.surrogate.default_surrogate), produced by "
                       "lecture_utils.tuning. Trials were scored on the training set only (fixed "
                       "validation split if settings.folds == 1, else stratified k-fold CV); the "
                       "hold-out set was not used. Rerun 'command' to reproduce (it resumes).",
        "gate": {"params": best_hyperparameters(gate),
                 "validation_metric": sg.STAGE_METRIC["gate"],
                 "validation_score": gate.best_value},
        "regressor": {"params": best_hyperparameters(regressor),
                      "validation_metric": sg.STAGE_METRIC["regressor"],
                      "validation_score": regressor.best_value},
        "settings": {"transform": gs["transform"], "regressor_margin": gs["regressor_margin"],
                     "seed": gs["seed"], "validation_fraction": gs["validation_fraction"],
                     "refit": True, "max_estimators": gs["max_estimators"],
                     "early_stopping_rounds": gs["early_stopping_rounds"]},
        "study": {"data_set": data_set, "data_hash": gs["data_hash"],
                  "n_points": gs["n_points"], "cut": gs["cut"],
                  "gate": study_record(gate), "regressor": study_record(regressor),
                  "command": command, "versions": {"optuna": optuna.__version__,
                                                   "xgboost": xgb.__version__},
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def data_sets(spec: str) -> tuple[str, ...]:
    """Shipped data set names from a ``--data`` value: comma-separated, order kept."""
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    if not names:
        raise ValueError(f"--data names no data set: {spec!r}")
    return names


def study_name(prefix: str, stage: str, transform: str, data_hash: str) -> str:
    """Name of a CLI study: ``PREFIX-STAGE-TRANSFORM-DATAHASH8`` (a study resumes by name, so
    everything its settings depend on that the CLI varies is in the name)."""
    return f"{prefix}-{stage}-{transform}-{data_hash[:8]}"
