"""Compiled surrogates: a tree ensemble turned into a C shared library, and when to use it.

A boosted-tree model is a sum of decision trees; predicting one point means walking every tree from
its root to a leaf and adding up the leaves. XGBoost does that with a general-purpose interpreter of
its tree arrays, which has a fixed overhead per call however small the batch. **Compilation**
turns the trees into C (treelite imports the model, tl2cgen writes the C, gcc compiles it), so
one point costs a few microseconds. tl2cgen writes each tree as nested ``if (x[f] < threshold)``
statements; by default this package replaces those by the ``"simd"`` layout
(:func:`simd_tree_source`): every tree padded to a perfect binary tree, eight trees walked at
once with vector instructions and no branch at all.

What this package adds around treelite/tl2cgen, by submodule:

* :mod:`~lecture_utils.compiled.codegen` — the C: **one C call per batch** (a small shim,
  :data:`SHIM_SOURCE`, loops over the rows of a C-contiguous float32 matrix inside the library,
  on up to ``n_threads`` POSIX threads, so no Python loop runs per row); **the "simd" layout**
  (a walk step is two vector gathers — node codes, thresholds —, a permutation that fetches the
  eight feature values — two and a blend for 9–16 features, the course's surrogate has 14 —,
  two comparisons and integer arithmetic for the child index 2i + 1 + go_right — on the first
  four levels, where a lane can only be at 1, 2, 4 or 8 nodes, plain loads and blends replace the
  gathers: nothing for the processor to mispredict, and eight trees per instruction; with AVX2,
  checked when a library loads, four such walks run side by side; without it a scalar loop
  walks the same tables with bit-identical sums); **one comparison per split** in tl2cgen's
  if-else code (:func:`fold_missing_checks`). The fixed C is in ``csrc/`` (package data).
* :mod:`~lecture_utils.compiled.inputs` — **input validation before any pointer reaches C**
  (:func:`check_matrix`): a wrong shape, dtype or memory layout is a Python exception, never a
  crash; NaN raises by default, or is a *missing value* with XGBoost's default-direction
  semantics when ``nan_policy="missing"``.
* :mod:`~lecture_utils.compiled.build` — options (:class:`CompileOptions`), the build, a
  **content-addressed cache** under ``cache_dir("compiled")`` and the **verification** of every
  new library against XGBoost on split-boundary inputs (:func:`probe_matrix`).
* :mod:`~lecture_utils.compiled.runtime` — loading a library and calling it through a tiny
  CPython extension (:func:`fast_caller`) instead of ctypes.
* :mod:`~lecture_utils.compiled.dispatch` — **a dispatcher** (:class:`BoosterPredictor`):
  compiled below a measured crossover batch size, ``xgboost.Booster.inplace_predict`` above it.
* :mod:`~lecture_utils.compiled.timing` — side-by-side timing (:func:`measure`).
* :mod:`~lecture_utils.compiled.surrogate` — :func:`compile_booster` with its **fallback** (no
  compiler, or a failed build or verification, gives a :class:`CompilationFallbackWarning` and
  predictions from XGBoost, identical to the surrogate's), and :class:`CompiledSurrogate`, which
  overrides only ``TwoStageSurrogate._raw``.
* :mod:`~lecture_utils.compiled.whole` — **the whole surrogate in one C call**
  (:class:`WholeSurrogate`): from physical points, the features (the running table interpolated
  in C), both compiled stages and the hard or smooth combination, in blocks of rows, one call
  per batch; :class:`CompiledSurrogate` sends its prediction methods through it.
* :mod:`~lecture_utils.compiled.toolchain` — finding and running the C compiler.

The layout and option choices of :data:`DEFAULT_OPTIONS` are measured with
``benchmarks/compiled.py --threads 1 --explore`` (results in ``benchmarks/RESULTS.md``).

Compiled and XGBoost predictions agree to float32 rounding, not bit for bit: the leaf values are
added in another order (the ``"simd"`` layout sums eight lanes separately; tl2cgen's if-else code
writes the leaves as 8-digit decimal literals) and the base score last, so sums differ by a few
units in the last place (bounded by :func:`tolerance`).
"""

from __future__ import annotations

from .build import (
    DEFAULT_OPTIONS,
    FORMAT_VERSION,
    CompileOptions,
    capture_output,
    compile_booster_library,
    generated_sources,
)
from .codegen import (
    ARRAY_INTERLEAVE,
    LAYOUTS,
    SHIM_SOURCE,
    SIMD_ENV,
    SIMD_LANES,
    SIMD_MAX_DEPTH,
    array_tree_source,
    fold_missing_checks,
    simd_tree_source,
    tree_dicts,
)
from .dispatch import (
    CALIBRATION_MARGIN,
    CALIBRATION_ROWS,
    Backend,
    BoosterPredictor,
    Calibration,
    default_threads,
    speed_table,
)
from .inputs import check_matrix, probe_matrix, tolerance
from .runtime import (
    CALLER_SOURCE,
    WORK_PER_THREAD,
    CompiledModel,
    NanPolicy,
    build_extension,
    fast_caller,
    rows_per_thread,
)
from .surrogate import CompiledSurrogate, clear_memo, compile_booster, compile_surrogate
from .timing import Timings, measure
from .toolchain import (
    COMPILER_ENV,
    CompilationError,
    CompilationFallbackWarning,
    find_compiler,
)
from .whole import MODES, WHOLE_SOURCE, Mode, WholeSurrogate, check_points, whole_extension

__all__ = [
    "ARRAY_INTERLEAVE",
    "CALIBRATION_MARGIN",
    "CALIBRATION_ROWS",
    "CALLER_SOURCE",
    "COMPILER_ENV",
    "DEFAULT_OPTIONS",
    "FORMAT_VERSION",
    "LAYOUTS",
    "MODES",
    "SHIM_SOURCE",
    "SIMD_ENV",
    "SIMD_LANES",
    "SIMD_MAX_DEPTH",
    "WHOLE_SOURCE",
    "WORK_PER_THREAD",
    "Backend",
    "BoosterPredictor",
    "Calibration",
    "CompilationError",
    "CompilationFallbackWarning",
    "CompileOptions",
    "CompiledModel",
    "CompiledSurrogate",
    "Mode",
    "NanPolicy",
    "Timings",
    "WholeSurrogate",
    "array_tree_source",
    "build_extension",
    "check_matrix",
    "check_points",
    "clear_memo",
    "compile_booster",
    "capture_output",
    "compile_booster_library",
    "compile_surrogate",
    "default_threads",
    "fast_caller",
    "find_compiler",
    "fold_missing_checks",
    "generated_sources",
    "measure",
    "probe_matrix",
    "rows_per_thread",
    "simd_tree_source",
    "speed_table",
    "tolerance",
    "tree_dicts",
    "whole_extension",
]
