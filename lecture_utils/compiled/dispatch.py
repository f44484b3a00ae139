"""The dispatcher: one booster with two backends, compiled C and XGBoost, and the measured
batch size from which XGBoost takes over.

Per batch, :class:`BoosterPredictor` calls the compiled library below a crossover batch size and
``xgboost.Booster.inplace_predict`` above it — nothing else: the XGBoost path adds an attribute
check and a NaN scan of the input, no copy. The crossover is *measured*
(:meth:`BoosterPredictor.calibrate`, side by side, paired, on distinct rows), because tl2cgen's
if-else code wins by a wide margin for a single row but can lose on large batches, where every
split is a data-dependent branch the processor mispredicts, while XGBoost's blocked traversal
chooses the next node arithmetically. With the ``"simd"`` layout the measured crossover is
usually infinite (compiled wins everywhere); the dispatcher stays as the guarantee for machines
and models where it does not. :func:`speed_table` times every backend per batch size.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from .inputs import check_matrix
from .runtime import CompiledModel, NanPolicy
from .timing import distinct_batches, measure
from .toolchain import CompilationError

__all__ = [
    "CALIBRATION_MARGIN",
    "CALIBRATION_ROWS",
    "Backend",
    "BoosterPredictor",
    "Calibration",
    "clear_calibrations",
    "default_threads",
    "speed_table",
]

Backend = Literal["auto", "compiled", "xgboost"]
"""Which backend a prediction uses: chosen by batch size (``"auto"``) or forced."""

_F32 = np.dtype(np.float32)

CALIBRATION_ROWS: int = 16384
"""Largest batch size of a calibration; the sample it uses has twice as many *distinct* rows. (A
few rows tiled to a large batch flatter the compiled code: the processor's branch predictor
learns the repeated rows, while XGBoost's traversal has little to learn.)"""

CALIBRATION_MARGIN: float = 0.25
"""The dispatcher prefers the compiled library only where it was measured this much faster."""


def default_threads() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class Calibration:
    """Measured times of both backends: ``sizes`` (batch sizes), median seconds per call
    ``compiled`` and ``xgboost``, ``speedup`` the paired ratio time(xgboost)/time(compiled)
    (:meth:`~lecture_utils.compiled.timing.Timings.ratio`; it decides), and the resulting
    ``crossover`` (rows; batches of this size or more go to XGBoost; ``inf``: always compiled):
    the compiled library must be faster by the factor ``1 + margin``. ``seconds``: the time the
    calibration took."""

    sizes: list[int]
    compiled: list[float]
    xgboost: list[float]
    crossover: float
    n_threads: int
    seconds: float
    margin: float = 0.0
    speedup: list[float] = field(default_factory=list)

    def table(self) -> Any:
        """As a :class:`pandas.DataFrame`: batch, µs per call of both backends (medians) and the
        paired speed-up xgboost/compiled."""
        import pandas as pd

        df = pd.DataFrame({"batch": self.sizes, "compiled_us": np.array(self.compiled) * 1e6,
                           "xgboost_us": np.array(self.xgboost) * 1e6})
        df["speedup"] = (self.speedup if len(self.speedup) == len(self.sizes)
                         else df["xgboost_us"] / df["compiled_us"])
        return df


def _crossover(sizes: Sequence[int], t_c: Sequence[float], t_x: Sequence[float]) -> float:
    """Batch size from which XGBoost is taken to be faster (sizes ascending): the geometric mean
    of the first size where XGBoost wins (``t_x < t_c``) and the size before it — 0 if that is
    the smallest size. A compiled "win" after that is taken as noise: the compiled library's
    advantage is a fixed overhead saved per call, which only shrinks with the batch size, and
    wrongly choosing it would make the dispatcher slower than XGBoost, while wrongly choosing
    XGBoost costs nothing against it. If the compiled library wins at every measured size, the
    crossover is extrapolated from the last two sizes (affine costs; ``inf`` if its cost grows
    no faster than XGBoost's)."""
    for j, (c, x) in enumerate(zip(t_c, t_x, strict=True)):
        if x < c:
            return 0.0 if j == 0 else math.sqrt(sizes[j - 1] * sizes[j])
    if len(sizes) < 2:
        return math.inf
    ds = sizes[-1] - sizes[-2]
    slope_c = (t_c[-1] - t_c[-2]) / ds
    slope_x = (t_x[-1] - t_x[-2]) / ds
    if slope_c <= slope_x:
        return math.inf
    return float(sizes[-1] + (t_x[-1] - t_c[-1]) / (slope_c - slope_x))


_CALIBRATIONS: dict[tuple[str, int], Calibration] = {}
_CALIBRATION_VERSION = 7  # of the procedure in BoosterPredictor.calibrate (part of the saved key)


def clear_calibrations() -> None:
    """Forget the calibrations memoised in this process (those saved beside the libraries stay)."""
    _CALIBRATIONS.clear()


class BoosterPredictor:
    """One booster with two backends — compiled C and ``xgboost`` — and a dispatcher between them.

    :meth:`predict` validates the input once
    (:func:`~lecture_utils.compiled.inputs.check_matrix`, ``nan_policy``), then sends a batch of
    ``n`` rows to the compiled library if ``n < crossover`` and to ``Booster.inplace_predict``
    otherwise (or to the backend named by ``backend``). Without a compiled library every batch
    goes to XGBoost. XGBoost runs on a private copy of the booster (made from the same bytes
    that were compiled) with ``nthread = n_threads``.

    Parameters
    ----------
    booster : xgboost.Booster or scikit-learn wrapper
        The model.
    compiled : CompiledModel or None
        Its compiled library, or ``None`` (XGBoost only).
    n_threads : int, optional
        Threads of both backends; default :func:`default_threads`.
    nan_policy : {"raise", "missing"}, optional
        NaN in the inputs is an error, or a missing value (XGBoost's semantics).
    crossover : float, optional
        Batch size (rows) from which XGBoost is used; default ``inf`` (always compiled) until
        :meth:`calibrate` measures it.

    Raises
    ------
    ValueError
        If ``nan_policy`` is neither ``"raise"`` nor ``"missing"``, or ``n_threads < 1``.
    """

    def __init__(self, booster: Any, compiled: CompiledModel | None, *,
                 n_threads: int | None = None, nan_policy: NanPolicy = "raise",
                 crossover: float | None = None) -> None:
        import xgboost as xgb

        if nan_policy not in ("raise", "missing"):
            raise ValueError(f"nan_policy must be 'raise' or 'missing', got {nan_policy!r}")
        booster = getattr(booster, "get_booster", lambda: booster)()
        self.raw = bytes(booster.save_raw("ubj"))
        self.booster = xgb.Booster(model_file=bytearray(self.raw))
        self.n_threads = int(n_threads) if n_threads else default_threads()
        if self.n_threads < 1:
            raise ValueError("n_threads must be ≥ 1")
        self.booster.set_param({"nthread": self.n_threads})
        self.compiled = compiled
        self.n_features = int(self.booster.num_features())
        self.n_trees = int(self.booster.num_boosted_rounds())
        self.nan_policy: NanPolicy = nan_policy
        self.calibration: Calibration | None = None
        if compiled is None:
            self.crossover = 0.0
        else:
            self.crossover = math.inf if crossover is None else float(crossover)

    def __repr__(self) -> str:
        kind = "compiled+xgboost" if self.compiled is not None else "xgboost only"
        return (f"BoosterPredictor({kind}, {self.n_trees} trees, {self.n_features} features, "
                f"crossover={self.crossover:g} rows, n_threads={self.n_threads})")

    @property
    def is_compiled(self) -> bool:
        """Whether a compiled library is available (``False`` after a fallback)."""
        return self.compiled is not None

    def backend_for(self, n: int) -> Literal["compiled", "xgboost"]:
        """The backend :meth:`predict` uses for a batch of ``n`` rows."""
        return "compiled" if self.compiled is not None and n < self.crossover else "xgboost"

    def predict(self, x: Any, *, margin: bool = False, backend: Backend = "auto") -> np.ndarray:
        """Predictions for model inputs ``x`` (n, n_features): float32, shape (n,).

        ``margin=True``: the raw score (for a classifier, the log-odds). ``backend``: ``"auto"``
        (dispatch by batch size), ``"compiled"`` or ``"xgboost"``. Apart from the input check
        (a few attribute tests, and a NaN scan for XGBoost under ``nan_policy="raise"``), the
        XGBoost backend is exactly ``Booster.inplace_predict`` on the (unchanged) input array.
        """
        return self._dispatch(check_matrix(x, self.n_features), margin, backend)

    def _dispatch(self, x: np.ndarray, margin: bool, backend: Backend) -> np.ndarray:
        """:meth:`predict` for a matrix that already passed ``check_matrix``."""
        if backend == "auto":
            use_compiled = self.compiled is not None and x.shape[0] < self.crossover
        elif backend == "compiled":
            if self.compiled is None:
                raise CompilationError("no compiled library (compilation fell back to xgboost)")
            use_compiled = True
        elif backend == "xgboost":
            use_compiled = False
        else:
            raise ValueError(f"backend must be 'auto', 'compiled' or 'xgboost', got {backend!r}")
        if use_compiled:
            return self.compiled._predict(x, margin, self.n_threads,  # type: ignore[union-attr]
                                          self.nan_policy)
        return self._xgboost(x, margin)

    def _xgboost(self, x: np.ndarray, margin: bool) -> np.ndarray:
        """``inplace_predict`` on a checked matrix; NaN policy applied (one pass: NaN propagates
        through ``min``, and only then are the rows counted)."""
        if x.shape[0] == 0:
            return np.empty(0, dtype=_F32)
        if self.nan_policy == "raise" and math.isnan(x.min()):
            bad = int(np.isnan(x).any(axis=1).sum())
            raise ValueError(f"model inputs contain NaN in {bad} row(s); pass "
                             "nan_policy='missing' to treat NaN as a missing value")
        out = self.booster.inplace_predict(x, predict_type="margin" if margin else "value")
        return out if out.dtype == _F32 and out.ndim == 1 else out.astype(_F32).reshape(-1)

    def calibrate(self, sample: np.ndarray, *, max_size: int = CALIBRATION_ROWS,
                  budget_s: float = 2.0,
                  rounds: int = 5, margin: float = CALIBRATION_MARGIN, reuse: bool = True
                  ) -> Calibration:
        """Measure both backends and set :attr:`crossover` (the result is cached).

        ``sample``: representative inputs (m, n_features), tiled to the batch sizes if fewer (use
        distinct rows, ideally ``2 · max_size``: see :data:`CALIBRATION_ROWS`). Both backends
        are timed side by side (:func:`~lecture_utils.compiled.timing.measure`, ``rounds`` blocks
        each) on a grid of batch sizes 1, 4, 16, … up to ``max_size`` rows, from small to large
        (at least two), until XGBoost wins (then it is taken to win at every larger size) or
        ``budget_s`` is spent. The crossover lies between that size and the one before
        (geometric mean); if the compiled library wins even at the largest measured size, it is
        extrapolated with affine costs. The compiled library counts as faster only if it wins by
        more than ``margin`` (relative): near parity the dispatcher keeps XGBoost, so that
        measurement noise cannot make it slower than ``inplace_predict``. (A grid, not a
        bisection: near parity one noisy comparison would steer a bisection anywhere.)

        The measurement is stored beside the library (per host, ``n_threads`` and ``margin``) and
        memoised in this process; ``reuse=False`` measures again and overwrites it.
        """
        if self.compiled is None:
            raise CompilationError("nothing to calibrate: no compiled library")
        memo_key = (self.compiled.key, self.n_threads)
        saved = self.compiled.path.parent / "calibration.json"
        host = (f"{platform.node()}/{os.cpu_count()}cpu/{self.n_threads}threads/margin{margin:g}"
                f"/v{_CALIBRATION_VERSION}")
        if reuse and memo_key not in _CALIBRATIONS and saved.exists():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                _CALIBRATIONS[memo_key] = Calibration(**json.loads(saved.read_text())[host])
        if reuse and memo_key in _CALIBRATIONS:
            self.calibration = _CALIBRATIONS[memo_key]
            self.crossover = self.calibration.crossover
            return self.calibration
        sample = check_matrix(sample, self.n_features)
        if len(sample) == 0:
            raise ValueError("calibration needs at least one sample row")
        t_start = time.perf_counter()
        timings: dict[int, tuple[float, float, float]] = {}

        def compiled_wins(n: int) -> bool:
            t = measure({"compiled": lambda xs: self._dispatch(xs, False, "compiled"),
                         "xgboost": lambda xs: self._dispatch(xs, False, "xgboost")},
                        distinct_batches(sample, n), rounds=rounds, block_s=0.01)
            # the paired ratio (median over rounds) is robust against load that changes during
            # the measurement; the compiled time it implies, inflated by the margin, is kept
            speedup = t.ratio("xgboost", "compiled")
            timings[n] = (t["compiled"], t["xgboost"], speedup)
            return speedup >= 1.0 + margin

        top = max(2, int(max_size))
        grid = sorted({min(4**k, top) for k in range(int(math.log(top, 4)) + 2)})
        for n in grid:
            if len(timings) >= 2 and time.perf_counter() - t_start > budget_s:
                break
            if not compiled_wins(n):
                break
        sizes = sorted(timings)
        t_c = [timings[n][0] for n in sizes]
        t_x = [timings[n][1] for n in sizes]
        speedup = [timings[n][2] for n in sizes]
        # the decision uses the paired speed-ups: compiled time "as paired", inflated by margin
        t_c_decisive = [x / r * (1.0 + margin) for x, r in zip(t_x, speedup, strict=True)]
        crossover = _crossover(sizes, t_c_decisive, t_x)
        cal = Calibration(sizes, t_c, t_x, crossover, self.n_threads,
                          time.perf_counter() - t_start, margin, speedup)
        _CALIBRATIONS[memo_key] = cal
        with contextlib.suppress(OSError, ValueError):  # read-only cache: keep it in memory
            table = json.loads(saved.read_text()) if saved.exists() else {}
            table[host] = asdict(cal)
            tmp = saved.with_name(f".{saved.name}.{uuid.uuid4().hex}")
            tmp.write_text(json.dumps(table, indent=1))
            os.replace(tmp, saved)
        self.calibration = cal
        self.crossover = cal.crossover
        return cal


def speed_table(predictor: BoosterPredictor, x: np.ndarray, sizes: Sequence[int], *,
                baselines: dict[str, Callable[[np.ndarray], Any]] | None = None,
                rounds: int = 3, block_s: float = 0.02, budget_s: float = 0.0,
                ratios: Sequence[tuple[str, str]] = (("inplace_predict", "compiled"),
                                                     ("inplace_predict", "dispatcher")),
                quartiles: bool = False) -> Any:
    """Median time per call (µs) of every backend on batches of ``n`` rows of ``x``, per size.

    Columns: ``batch``; each of ``baselines`` (name → function of the batch, e.g.
    ``XGBRegressor.predict``); ``inplace_predict`` (on the predictor's booster, same threads);
    ``compiled`` (if available); ``dispatcher`` (:meth:`BoosterPredictor.predict`); ``backend``
    (what the dispatcher chose); ``rounds`` (measured); and for each pair in ``ratios`` the
    paired ratio ``"a / b"`` (:meth:`~lecture_utils.compiled.timing.Timings.ratio`; > 1: b is
    faster) and, with ``quartiles``, its quartiles over rounds ``"a / b q25"``,
    ``"a / b q75"``. Different batches of ``x`` are used in turn; measured with
    :func:`~lecture_utils.compiled.timing.measure` (at least ``rounds`` rounds, more while
    ``budget_s`` seconds per batch size last). Returns a :class:`pandas.DataFrame`.
    """
    import pandas as pd

    x = check_matrix(x, predictor.n_features)
    rows = []
    for n in sizes:
        if not 0 < int(n) <= len(x):
            raise ValueError(f"batch size {n} outside 1..{len(x)}")
        funcs: dict[str, Callable[[np.ndarray], Any]] = dict(baselines or {})
        if predictor.is_compiled:
            funcs["compiled"] = lambda xs: predictor.predict(xs, backend="compiled")
        funcs["inplace_predict"] = predictor.booster.inplace_predict
        funcs["dispatcher"] = predictor.predict  # right after inplace_predict: tightest pairing
        t = measure(funcs, distinct_batches(x, int(n)), rounds=rounds, block_s=block_s,
                    budget_s=budget_s)
        row: dict[str, Any] = {"batch": int(n)} | {k: t[k] * 1e6 for k in funcs}
        row["rounds"] = len(t.rounds["dispatcher"])
        row["backend"] = predictor.backend_for(int(n))
        for a, b in ratios:
            if a in funcs and b in funcs:
                row[f"{a} / {b}"] = t.ratio(a, b)
                if quartiles:
                    row[f"{a} / {b} q25"], row[f"{a} / {b} q75"] = t.ratio_quartiles(a, b)
        rows.append(row)
    return pd.DataFrame(rows)
