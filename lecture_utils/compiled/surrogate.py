"""The compiled surrogate: both boosters of a surrogate compiled, behind the dispatcher.

:func:`compile_booster` compiles one booster and wraps it in a
:class:`~lecture_utils.compiled.dispatch.BoosterPredictor` — with a fallback: no compiler, or a
failed build or verification, gives a :class:`CompilationFallbackWarning` and predictions from
XGBoost (identical to the surrogate's).
:func:`compile_surrogate` does that for both stages of a
:class:`~lecture_utils.surrogate.TwoStageSurrogate`. The surrogate calls them through two hooks:
:class:`CompiledSurrogate` overrides ``TwoStageSurrogate._raw`` (the stages, for batches the
dispatcher sends to XGBoost and after a fallback) and, where both stages are compiled, sends every
prediction method through the whole-surrogate call of :mod:`~lecture_utils.compiled.whole`
(features, both stages and the combination in one C call).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from ..surrogate import OutOfDomainWarning, TwoStageSurrogate, as_points
from .build import DEFAULT_OPTIONS, CompileOptions, clear_libraries, compile_booster_library
from .dispatch import (
    CALIBRATION_ROWS,
    Backend,
    BoosterPredictor,
    clear_calibrations,
)
from .inputs import probe_matrix
from .runtime import CompiledModel, NanPolicy
from .toolchain import CompilationError, CompilationFallbackWarning
from .whole import MODES, WholeSurrogate

log = logging.getLogger(__name__)
_ANY_ROWS = 2**62

__all__ = ["CompiledSurrogate", "clear_memo", "compile_booster", "compile_surrogate"]


def clear_memo() -> None:
    """Forget the libraries and calibrations memoised in this process (the disk cache stays)."""
    clear_libraries()
    clear_calibrations()


def compile_booster(booster: Any, *, options: CompileOptions = DEFAULT_OPTIONS,
                    compiler: str | os.PathLike[str] | None = None,
                    n_threads: int | None = None, nan_policy: NanPolicy = "raise",
                    crossover: float | Literal["measure", "remeasure"] | None = "measure",
                    sample: np.ndarray | None = None, use_cache: bool = True,
                    calibration_budget_s: float = 4.0, label: str = "booster"
                    ) -> BoosterPredictor:
    """Compile an XGBoost booster (or sklearn wrapper) into a :class:`BoosterPredictor`.

    ``crossover``: ``"measure"`` (default: :meth:`BoosterPredictor.calibrate` on ``sample``, or
    on :func:`~lecture_utils.compiled.inputs.probe_matrix` rows; a measurement cached for this
    library, host and thread count is reused), ``"remeasure"`` (measure again), a number of
    rows, or ``None`` (always compiled). If compiling fails for any reason, a
    :class:`CompilationFallbackWarning` is emitted and the predictor uses XGBoost for every batch
    (``label`` names the model in that warning).
    """
    try:
        compiled: CompiledModel | None = compile_booster_library(
            booster, options=options, compiler=compiler, sample=sample, use_cache=use_cache)
    except CompilationError as exc:
        warnings.warn(f"could not compile the {label} ({exc}); its predictions come from "
                      "xgboost instead (identical results, slower for small batches)",
                      CompilationFallbackWarning, stacklevel=2)
        compiled = None
    measured = crossover in ("measure", "remeasure")
    fixed = None if crossover is None or measured else float(crossover)  # type: ignore[arg-type]
    pred = BoosterPredictor(booster, compiled, n_threads=n_threads, nan_policy=nan_policy,
                            crossover=fixed)
    if compiled is not None and measured:
        cal_x = sample if sample is not None else probe_matrix(
            pred.booster, max_rows=1024, min_rows=2 * CALIBRATION_ROWS)
        pred.calibrate(cal_x, budget_s=calibration_budget_s, reuse=crossover == "measure")
    return pred


_STAGES = ("gate", "regressor")


@dataclass
class CompiledSurrogate(TwoStageSurrogate):
    """A :class:`~lecture_utils.surrogate.TwoStageSurrogate` whose two boosters are compiled.

    Where both stages are compiled, every prediction method (:meth:`predict`,
    :meth:`predict_smooth`, :meth:`stage_outputs`, :meth:`gate_logit`, :meth:`gate_probability`,
    :meth:`predict_regressor`) and :meth:`features` is one call of :attr:`whole` (a
    :class:`~lecture_utils.compiled.whole.WholeSurrogate`: features, both stages and the
    combination in C) — with the same validation, out-of-domain warning and results (within
    float32 rounding) as the inherited methods. Otherwise, and for batches at or above a stage's
    crossover under ``backend="auto"``, the inherited methods run, and the boosters are evaluated
    by :class:`BoosterPredictor` (compiled C below the measured crossover, XGBoost above) through
    ``TwoStageSurrogate._raw``. Build it with :func:`compile_surrogate`. ``predictors`` maps
    ``"gate"``/``"regressor"`` to the stage predictors; ``backend`` forces ``"compiled"`` or
    ``"xgboost"`` for every call (default ``"auto"``).
    """

    predictors: dict[str, BoosterPredictor] = field(default_factory=dict, repr=False,
                                                    compare=False)
    backend: Backend = field(default="auto", compare=False)
    whole: WholeSurrogate | None = field(default=None, repr=False, compare=False)

    def _raw(self, stage: str, x: np.ndarray, *, margin: bool) -> np.ndarray:
        """Output of stage ``stage`` for validated float32 features ``x`` (n, n_features),
        float64 (n,): the hook of :class:`~lecture_utils.surrogate.TwoStageSurrogate` through
        which every inherited prediction method evaluates the boosters — here through the stage's
        :class:`BoosterPredictor` (after :meth:`load`, without predictors: XGBoost)."""
        pred = self.predictors.get(stage)
        if pred is None:
            return super()._raw(stage, x, margin=margin)
        # x comes from _inputs: C-contiguous float32 with the model's features (checked when
        # the predictors were attached), so it goes to the dispatcher without a second check
        return pred._dispatch(x, margin, self.backend).astype(float)

    def _whole(self, points: Any, mode: int, warn: bool = True) -> np.ndarray | None:
        """``points`` through :attr:`whole` (validated once, warned about once per model), or
        ``None`` where the inherited method is to run."""
        whole = self.whole
        if whole is None or self.backend == "xgboost":
            return None
        # one C call for ready single points (and batches when every batch size is compiled)
        result = whole._run(whole._model, points, mode, whole.n_threads,
                            1 if self.backend == "auto" else _ANY_ROWS)
        if result is NotImplemented:
            if not whole.ready(points):
                points = np.ascontiguousarray(as_points(points))
            n = len(points) if points.ndim == 2 else 1
            if n > 1 and self.backend == "auto" and n >= min(
                    p.crossover for p in self.predictors.values()):
                return None
            result = whole._evaluate(points, mode)
        elif result is None:
            result = whole._evaluate(points, mode)  # invalid values: raises as_points' error
        out, outside = result
        if outside and warn and not self._warned_domain:
            self._warned_domain = True
            n = out.shape[-1] if mode == MODES["stages"] else len(out)
            warnings.warn(f"{outside} of {n} point(s) lie outside the training domain; tree "
                          "predictions there are constant extrapolations and meaningless (check "
                          "surrogate.in_domain(points); warned once per surrogate)",
                          OutOfDomainWarning, stacklevel=3)
        return out

    def predict(self, points: Any) -> np.ndarray:  # noqa: D102 - the inherited docstring
        out = self._whole(points, 0)
        return super().predict(points) if out is None else out

    def predict_smooth(self, points: Any) -> np.ndarray:  # noqa: D102
        out = self._whole(points, 1)
        return super().predict_smooth(points) if out is None else out

    def gate_logit(self, points: Any) -> np.ndarray:  # noqa: D102
        out = self._whole(points, 2)
        return super().gate_logit(points) if out is None else out

    def gate_probability(self, points: Any) -> np.ndarray:  # noqa: D102
        out = self._whole(points, 3)
        return super().gate_probability(points) if out is None else out

    def predict_regressor(self, points: Any) -> np.ndarray:  # noqa: D102
        out = self._whole(points, 4)
        return super().predict_regressor(points) if out is None else out

    def stage_outputs(self, points: Any) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        out = self._whole(points, 5)
        if out is None:
            return super().stage_outputs(points)
        return out[0], out[1]

    def features(self, points: Any) -> np.ndarray:  # noqa: D102
        out = self._whole(points, MODES["features"], warn=False)
        return super().features(points) if out is None else out

    @property
    def is_compiled(self) -> bool:
        """Whether both stages have a compiled library (``False`` after a fallback)."""
        return all(self.predictors.get(s) is not None and self.predictors[s].is_compiled
                   for s in _STAGES)

    def backend_for(self, n: int) -> dict[str, str]:
        """Which backend each stage uses for a batch of ``n`` points."""
        if self.backend != "auto":
            return dict.fromkeys(_STAGES, self.backend)
        return {s: p.backend_for(n) for s, p in self.predictors.items()}

    def compile_info(self) -> dict[str, Any]:
        """Per stage: trees, library path and cache status, build times, crossover (rows)."""
        out: dict[str, Any] = {}
        for s, p in self.predictors.items():
            c = p.compiled
            out[s] = {"n_trees": p.n_trees, "compiled": c is not None,
                      "crossover": p.crossover, "n_threads": p.n_threads}
            if c is not None:
                out[s] |= {"library": str(c.path), "cache": c.info.get("cache"),
                           "codegen_s": c.info.get("codegen_s"),
                           "compile_s": c.info.get("compile_s"),
                           "generated_lines": c.info.get("generated_lines")}
        return out


def compile_surrogate(surrogate: TwoStageSurrogate, *, options: CompileOptions = DEFAULT_OPTIONS,
                      compiler: str | os.PathLike[str] | None = None,
                      n_threads: int | None = None, nan_policy: NanPolicy = "raise",
                      crossover: float | Literal["measure", "remeasure"] | None = "measure",
                      use_cache: bool = True, calibration_budget_s: float = 8.0,
                      seed: int = 0) -> CompiledSurrogate:
    """Compile both stages of ``surrogate``; same ``predict``/``gate_probability``/… interface.

    Libraries are built with treelite → tl2cgen → the C compiler and cached under
    ``cache_dir("compiled")`` by the model bytes, compiler version, tl2cgen version and
    ``options``; a second call with the same model loads them from the cache instead of compiling.
    Each stage evaluates batches below its *crossover* (a number of rows) with the compiled
    library and larger ones with XGBoost. Without a working compiler the result warns and predicts
    with XGBoost — the same numbers as ``surrogate``.

    Parameters
    ----------
    surrogate : TwoStageSurrogate
        The fitted surrogate to compile.
    options : CompileOptions, optional
        How each booster is compiled (:class:`~lecture_utils.compiled.build.CompileOptions`;
        part of the cache key).
    compiler : str or os.PathLike, optional
        The C compiler; default ``$LECTURE_UTILS_CC``, else ``$CC``, else ``gcc``.
    n_threads : int, optional
        Threads of both backends; default the surrogate's own XGBoost setting (``n_jobs``; 1 for a
        loaded or default surrogate, see
        :meth:`~lecture_utils.surrogate.TwoStageSurrogate.set_n_jobs`), so that above the
        crossover the compiled surrogate runs exactly the XGBoost computation of ``surrogate``.
        Pass the number of free cores for large vectorised batches.
    nan_policy : {"raise", "missing"}, optional
        What a NaN in the model inputs means: an error, or a missing value (XGBoost's
        default-direction semantics).
    crossover : {"measure", "remeasure"}, float or None, optional
        ``"measure"``: measured once per stage on features of seeded random points of the
        training domain and cached beside the library; ``"remeasure"``: measure again; a number:
        fixed crossover in rows; ``None``: always compiled.
    use_cache : bool, optional
        Reuse and store compiled libraries in the cache.
    calibration_budget_s : float, optional
        Time for measuring the crossovers, in seconds, shared equally by the two stages.
    seed : int, optional
        Seed of the random points the crossover is measured on.

    Returns
    -------
    CompiledSurrogate
        A :class:`~lecture_utils.surrogate.TwoStageSurrogate` with the same gate, regressor and
        (a copy of the) metadata, predicting through the compiled stages.

    Raises
    ------
    ValueError
        If a stage's booster takes a different number of features than the surrogate defines.

    Warns
    -----
    CompilationFallbackWarning
        For a stage that could not be compiled (no compiler, a failed build or verification);
        that stage predicts with XGBoost.
    """
    if n_threads is None:  # the surrogate's own XGBoost setting (1 unless changed, set_n_jobs)
        n_threads = int(surrogate.regressor.get_params().get("n_jobs") or 0) or None
    rng = np.random.default_rng(seed)
    lo, hi = surrogate.domain.T
    u = rng.random((2 * CALIBRATION_ROWS, len(lo)))
    pts = lo + u * (hi - lo)
    pts[:, 0] = np.exp(np.log(lo[0]) + u[:, 0] * (np.log(hi[0]) - np.log(lo[0])))
    sample = surrogate.features(pts)
    preds = {}
    for stage in _STAGES:
        preds[stage] = compile_booster(
            getattr(surrogate, stage), options=options, compiler=compiler, n_threads=n_threads,
            nan_policy=nan_policy, crossover=crossover, sample=sample, use_cache=use_cache,
            calibration_budget_s=calibration_budget_s / 2, label=stage)
    n_inputs = len(surrogate.feature_names)
    for stage, pred in preds.items():
        if pred.n_features != n_inputs:
            raise ValueError(f"the {stage} booster takes {pred.n_features} features, the "
                             f"surrogate defines {n_inputs}")
    whole = None
    if all(p.compiled is not None for p in preds.values()):
        try:
            whole = WholeSurrogate.of(surrogate, preds["gate"].compiled,  # type: ignore[arg-type]
                                      preds["regressor"].compiled,  # type: ignore[arg-type]
                                      n_threads=preds["regressor"].n_threads)
        except CompilationError as exc:
            log.info("whole-surrogate call unavailable (%s); stage by stage", exc)
    init = {f.name: getattr(surrogate, f.name) for f in fields(TwoStageSurrogate) if f.init}
    init["metadata"] = json.loads(json.dumps(surrogate.metadata))
    return CompiledSurrogate(**init, predictors=preds, whole=whole)
