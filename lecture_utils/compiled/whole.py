"""The whole surrogate in one compiled call: features, both stages and the combination.

:class:`WholeSurrogate` evaluates a :class:`~lecture_utils.surrogate.TwoStageSurrogate` whose
two stages are compiled libraries from *physical points*: the features (``"raw"``, ``"ratio"``
and ``"running"``; for ``"running"`` the tabulated running of
:func:`lecture_utils.alps.running_table`, interpolated linearly in log10 f_a — a 9 × 5
matrix–vector product per point), the gate, the regressor and the hard or smooth combination all
run in C, in blocks of rows that stay in the processor's first-level cache, one call per batch
(``csrc/whole.c``, a CPython extension built once per machine with :func:`build_extension`).

The arithmetic is the surrogate's: features in float64 rounded once to float32, the smooth
combination in float64 in the same order. Results equal the stage-by-stage path within float32
rounding (the summation order of the 5-term products may differ from numpy's ``matmul`` by one
float64 rounding, which the float32 features almost never see). Points are validated like
:func:`~lecture_utils.surrogate.as_points` (the same errors) and counted outside the domain like
:meth:`~lecture_utils.surrogate.TwoStageSurrogate.in_domain`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import numpy as np

from .. import alps
from ..surrogate import FA_REFERENCE_GEV, SMOOTH_RAMP, TwoStageSurrogate, as_points
from .codegen import c_source
from .runtime import CompiledModel, build_extension
from .toolchain import CompilationError

__all__ = ["MODES", "WHOLE_SOURCE", "Mode", "WholeSurrogate", "check_points", "whole_extension"]

log = logging.getLogger(__name__)

WHOLE_SOURCE: str = c_source("whole.c")
"""C source of the whole-surrogate extension (``csrc/whole.c``)."""

Mode = Literal["hard", "smooth", "logit", "probability", "regressor", "stages", "features"]
MODES: dict[str, int] = {"hard": 0, "smooth": 1, "logit": 2, "probability": 3, "regressor": 4,
                         "stages": 5, "features": 6}
"""What :meth:`WholeSurrogate.evaluate` returns, and the code ``csrc/whole.c`` knows it by."""

_TRANSFORMS = {"raw": 0, "ratio": 1, "running": 2}
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_EXTENSION: list[Any] = []  # [module or None], once per process


def whole_extension(compiler: str | os.PathLike[str] | None = None) -> Any | None:
    """The whole-surrogate extension (built once and cached), or ``None`` if it cannot be built.

    Parameters
    ----------
    compiler : str or os.PathLike, optional
        The C compiler; only the first call in a process builds or loads the extension.

    Returns
    -------
    module or None
        The extension (functions ``model`` and ``run``, see ``csrc/whole.c``), or ``None``
        without a C compiler or Python's headers.
    """
    if not _EXTENSION:
        try:
            module = build_extension("_lu_whole", WHOLE_SOURCE, compiler,
                                     ("-ffp-contract=off", "-fno-math-errno"))
        except (CompilationError, OSError, ImportError) as exc:
            log.info("whole-surrogate extension unavailable (%s)", exc)
            module = None
        _EXTENSION.append(module)
    return _EXTENSION[0]


def check_points(points: Any) -> np.ndarray:
    """Validate a matrix of physical points for C and return it as C-contiguous float64 (n, 6).

    * not a :class:`numpy.ndarray` → :class:`TypeError`;
    * not 2-D (n, 6) (or a single point (6,)), or no rows → :class:`ValueError`;
    * not C-contiguous or misaligned → :class:`ValueError`;
    * dtype float64 → used as is; float32 → converted (exactly); any other dtype →
      :class:`TypeError`.

    Values (NaN, ±inf, f_a ≤ 0) are checked in C; such points raise the
    :func:`~lecture_utils.surrogate.as_points` errors.

    Parameters
    ----------
    points : numpy.ndarray
        Physical points in :data:`lecture_utils.alps.PARAMETERS` order, shape (n, 6) or (6,).

    Returns
    -------
    numpy.ndarray
        float64, shape (n, 6) or (6,) (unchanged shape).
    """
    n_par = len(alps.PARAMETERS)
    if not isinstance(points, np.ndarray):
        raise TypeError(f"points must be a numpy array, got {type(points).__name__}")
    if points.ndim not in (1, 2) or points.shape[-1] != n_par or (
            points.ndim == 2 and points.shape[0] == 0):
        raise ValueError(f"points must have shape (n, {n_par}) with n ≥ 1, or ({n_par},); got "
                         f"shape {points.shape}")
    if points.dtype != _F64 and points.dtype != _F32:
        raise TypeError(f"points must be float64 (or float32), got dtype {points.dtype}")
    if not points.flags.c_contiguous:
        raise ValueError("points must be C-contiguous (row-major); use np.ascontiguousarray")
    if not points.flags.aligned:
        raise ValueError("points are not aligned in memory; pass a copy (points.copy())")
    return points if points.dtype == _F64 else points.astype(np.float64)


class WholeSurrogate:
    """A surrogate's features, compiled stages and combinations behind one C call per batch.

    Build it with :meth:`of`.

    Parameters
    ----------
    transform : {"raw", "ratio", "running"}
        The feature transform (for ``"running"`` the running table of
        :func:`lecture_utils.alps.running_table` is copied into the extension).
    domain : array_like
        Training-domain bounds, shape (6, 2), physical units.
    constants : sequence of float
        The gate's threshold as log-odds, the region's edge χ²_min + cut, the penalty scale (χ² per
        unit of log-odds) and the smooth ramp (log-odds).
    gate, regressor : CompiledModel or None
        The compiled libraries of the two stages; both ``None``: features only (every other
        mode raises :class:`ValueError`).
    n_threads : int, optional
        Threads for large batches (one per :func:`~lecture_utils.compiled.rows_per_thread` rows
        of the two stages' trees together).

    Raises
    ------
    CompilationError
        If the extension cannot be built.
    ValueError
        If a library takes another number of features than the transform makes.
    """

    def __init__(self, transform: str, domain: Any, constants: Any, gate: CompiledModel | None,
                 regressor: CompiledModel | None, *, n_threads: int = 1) -> None:
        from ..surrogate import feature_names
        from .runtime import rows_per_thread

        ext = whole_extension()
        if ext is None:
            raise CompilationError("the whole-surrogate extension cannot be built")
        n_features = len(feature_names(transform))  # type: ignore[arg-type]
        if (gate is None) != (regressor is None):
            raise ValueError("give both stage libraries, or neither (features only)")
        libs = [lib for lib in (gate, regressor) if lib is not None]
        for lib in libs:
            if lib.n_features != n_features:
                raise ValueError(f"{lib.path} takes {lib.n_features} features, the "
                                 f"{transform!r} transform makes {n_features}")
        self.transform = transform
        self.n_features = n_features
        self.n_threads = max(1, int(n_threads))
        self.domain = np.array(domain, dtype=float).reshape(len(alps.PARAMETERS), 2)
        self.constants = tuple(float(c) for c in constants)
        if transform == "running":
            table = alps.running_table()
            grid = np.ascontiguousarray(table.log10_fa, dtype=float)
            response = np.ascontiguousarray(table.response, dtype=float)
            slope = np.ascontiguousarray(np.diff(response, axis=0)
                                         / np.diff(grid)[:, None, None])
        else:
            grid = response = slope = np.zeros(0)
        self.libraries = (gate, regressor)  # kept alive: the extension holds their addresses
        self._run = ext.run
        self._model = ext.model(*(lib._fn_address for lib in libs) if libs else (0, 0),
                                _TRANSFORMS[transform], grid, response, slope,
                                np.ascontiguousarray(self.domain),
                                np.array([*self.constants, FA_REFERENCE_GEV]),
                                rows_per_thread(sum(lib.n_trees for lib in libs) or 1))

    @classmethod
    def of(cls, surrogate: TwoStageSurrogate, gate: CompiledModel, regressor: CompiledModel, *,
           n_threads: int = 1) -> WholeSurrogate:
        """The whole-surrogate call of ``surrogate`` with its compiled ``gate`` and
        ``regressor`` libraries (see the class)."""
        constants = (surrogate.logit_threshold(), surrogate.chi2_min + surrogate.cut,
                     surrogate.penalty_scale, SMOOTH_RAMP)
        return cls(surrogate.transform, surrogate.domain, constants, gate, regressor,
                   n_threads=n_threads)

    @classmethod
    def features_only(cls, surrogate: TwoStageSurrogate, *, n_threads: int = 1
                      ) -> WholeSurrogate:
        """The features of ``surrogate``'s transform in C (mode ``"features"`` only), for
        evaluations that replace the trees (:class:`lecture_utils.smooth.SmoothedSurrogate`)."""
        return cls(surrogate.transform, surrogate.domain, (0.0, 0.0, 0.0, 1.0), None, None,
                   n_threads=n_threads)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        # pickling rebuilds the extension's model from the same settings in the new process
        return (WholeSurrogate, (self.transform, self.domain.tolist(), self.constants,
                                 *self.libraries), {"n_threads": self.n_threads})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.n_threads = int(state["n_threads"])

    def __repr__(self) -> str:
        return (f"WholeSurrogate({self.transform!r} features, {self.n_features} inputs, "
                f"n_threads={self.n_threads})")
    def evaluate(self, points: Any, mode: Mode = "smooth") -> tuple[np.ndarray, int]:
        """Evaluate the surrogate at ``points``: what ``mode`` names, and the count of points
        outside the domain.

        Parameters
        ----------
        points : numpy.ndarray
            Physical points (n, 6) or (6,), checked by :func:`check_points`.
        mode : {"hard", "smooth", "logit", "probability", "regressor", "stages", "features"}
            ``"hard"``/``"smooth"``: the combinations (float64 (n,), χ²); ``"logit"``: the gate's
            log-odds, ``"probability"`` its probability, ``"regressor"`` the regressor's χ²
            (float64 (n,)); ``"stages"``: gate log-odds and regressor χ² (float64 (2, n));
            ``"features"``: the model inputs (float32 (n, n_features)).

        Returns
        -------
        values : numpy.ndarray
            As described for ``mode``.
        n_outside : int
            Points outside the training domain.

        Raises
        ------
        TypeError, ValueError
            For a matrix that :func:`check_points` refuses, an unknown ``mode``, or invalid point
            values (the errors of :func:`~lecture_utils.surrogate.as_points`).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
        return self._evaluate(check_points(points), MODES[mode])

    def _evaluate(self, points: np.ndarray, mode: int) -> tuple[np.ndarray, int]:
        """:meth:`evaluate` for checked points and a mode code."""
        result = self._run(self._model, points, mode, self.n_threads)
        if result is None:  # a NaN, an infinity or f_a ≤ 0: the reference check raises
            as_points(points)
            raise ValueError("points hold invalid values")  # pragma: no cover - as_points raised
        return result

    def ready(self, points: Any) -> bool:
        """Whether ``points`` can go to C as they are: a float64, aligned, C-contiguous array of
        shape (n, 6), n ≥ 1, or (6,) (the fast path; anything else is converted first)."""
        if type(points) is np.ndarray and points.dtype is _F64:
            flags = points.flags
            return bool(flags.c_contiguous and flags.aligned and points.shape[-1] == 6
                        and 0 < points.ndim <= 2 and points.size)
        return False
