"""Compiled surrogates: a tree ensemble turned into a C shared library, and when to use it.

A boosted-tree model is a sum of decision trees; predicting one point means walking every tree from
its root to a leaf and adding up the leaves. XGBoost does that with a general-purpose interpreter of
its tree arrays, which costs ~0.1–0.5 ms of fixed overhead per call however small the batch.
**Compilation** turns the trees into C (treelite imports the model, tl2cgen writes the C, gcc
compiles it), so one point costs a few microseconds. tl2cgen writes each tree as nested
``if (x[f] < threshold)`` statements; by default this module replaces those by the ``"simd"``
layout (:func:`simd_tree_source`): every tree padded to a perfect binary tree, eight trees
walked at once with vector instructions and no branch at all.

What this module adds around treelite/tl2cgen:

* **one C call per batch** — a small C shim (:data:`SHIM_SOURCE`) loops over the rows of a
  C-contiguous float32 matrix inside the library (on up to ``n_threads`` POSIX threads), so no
  Python loop runs per row; the call itself goes through a tiny CPython extension
  (:func:`fast_caller`, ~0.3 µs) instead of ctypes (~3.5 µs, as long as the trees take);
* **the "simd" layout** (default): a walk step is two vector gathers (node codes, thresholds), a
  permutation that fetches the eight feature values (two and a blend for 9–16 features, the
  course's surrogate has 14), two comparisons and integer arithmetic for
  the child index 2i + 1 + go_right — nothing for the processor to mispredict, and eight trees
  per instruction. With AVX2 (checked when a library loads) four such walks run side by side;
  without it a scalar loop walks the same tables with bit-identical sums;
* **input validation before any pointer reaches C** (:func:`check_matrix`): a wrong shape, dtype or
  memory layout is a Python exception, never a crash. Policy: float32 is used as is, float64 is
  rounded to float32 (a copy; XGBoost does the same internally), every other dtype raises
  :class:`TypeError`; a matrix that is not C-contiguous raises :class:`ValueError` (no hidden copy
  in hot loops: call :func:`numpy.ascontiguousarray` yourself); ``±inf`` is allowed (it compares
  like in XGBoost); NaN raises by default, or is treated as a *missing value* with XGBoost's
  default-direction semantics when ``nan_policy="missing"``;
* **a content-addressed cache** under ``cache_dir("compiled")``: the key hashes the model's
  serialized bytes (UBJSON), the compiler and its version, the tl2cgen and treelite versions, the
  compile options and this module's source (shim and code generators), so a changed model — or
  changed generated code — never reuses a stale library;
* **one comparison per split** (:func:`fold_missing_checks`): tl2cgen tests "value present, and
  below the threshold" with two branches; since the shim encodes a missing value as a NaN bit
  pattern, one float comparison gives the same branch for every input;
* **verification**: every freshly built library is compared with XGBoost on inputs placed exactly
  on, and one float32 step below, the model's split thresholds (:func:`probe_matrix`) — the inputs
  where a wrong comparison would show — and on the same inputs with missing values. A library
  that disagrees is rejected;
* **fallback**: no compiler, or a failed build or verification, gives a
  :class:`CompilationFallbackWarning` and predictions from XGBoost (identical to the surrogate's);
* **a dispatcher** (:class:`BoosterPredictor`): per batch it calls the compiled library below a
  crossover batch size and ``xgboost.Booster.inplace_predict`` above it — nothing else: the
  XGBoost path adds an attribute check and a NaN scan of the input, no copy. The crossover is
  *measured* (:meth:`BoosterPredictor.calibrate`, side by side, paired, on distinct rows),
  because tl2cgen's if-else code wins by a wide margin for a single row but loses on large
  batches, where every split is a data-dependent branch the processor mispredicts, while
  XGBoost's blocked traversal chooses the next node arithmetically (DESIGN §6). With the
  ``"simd"`` layout the measured crossover is usually infinite (compiled wins everywhere); the
  dispatcher stays as the guarantee for machines and models where it does not.

The surrogate calls it through one hook: :class:`CompiledSurrogate` overrides only
``TwoStageSurrogate._raw`` and inherits validation (once per call), features and both
combinations.

Layout and option choices (:data:`DEFAULT_OPTIONS`), measured with
``benchmarks/compiled.py --threads 1 --explore`` on the course regressor (235 trees, depth 6;
single-threaded; an otherwise idle 2-core Xeon VM with AVX2/AVX-512; paired time ratios to the
default at 1 / 64 / 10⁴ rows, > 1 = slower than the default): ``"simd"`` at ``-O2`` 0.90 / 1.04 /
1.06 (noise level; kept ``-O1``); ``"simd"`` row by row instead of blocks of 1024 rows 1.00 /
1.13 / 1.13; the ``"simd"`` tables walked by the portable scalar loop 2.5 / 4.5 / 4.6; the
``"arrays"`` layout (:func:`array_tree_source`: node tables with child indices, four trees side
by side, no perfect-tree padding, no vector instructions) 2.0 / 3.5 / 3.5; tl2cgen's if-else code
— with the shim's blocked traversal (1024 rows through one unit of 8 trees, so the unit's code
stays in the instruction cache) and the folded missing-value tests (:func:`fold_missing_checks`)
— 3.0 / 3.8 / 3.4, and its variants: no folding 3.3 / 4.0 / 3.6 (and a 17 % larger library), row
by row 3.1 / 5.0 / 4.9, tl2cgen's own layout (2 translation units, row by row) 3.2 / 5.4 / 5.2,
blocks of 256 3.1 / 3.8 / 3.5, ``-O0`` 3.9 / 4.8 / 4.3, ``-O2`` 3.2 / 3.8 / 3.4, branch
annotation from the training features (``annotate_in``) 3.0 / 3.6 / 3.3 (within noise of the
plain if-else code, and it needs representative inputs at compile time). ``inplace_predict`` on
one thread: 72 / 7.3 / 2.7. Builds: ``"simd"`` ~1 s per stage, if-else 2–4 s. Absolute: one row
of the regressor 2.7 µs through the whole Python call, 1.15 µs per row in batches. (Since then the
course's surrogate has 14 features, fetched by two permutations and a blend: regressor of 247
trees 4.3 µs for one row, 1.7 µs per row in batches of 10³, 56× / 3.0× faster than one-thread
``inplace_predict`` — measured in a slower phase of the same VM, where XGBoost took 235 µs.)

tl2cgen's ``quantize`` is **wrong** in tl2cgen 1.0: it prints the quantization thresholds with 8
significant digits, which do not round-trip float32, so inputs within one float32 step of such a
threshold take the wrong branch (11 of 2,730 split-boundary probes of the course regressor,
errors up to 0.04 in χ²). The verification above rejects it; it stays available (off, if-else
layout only) as a teaching example.

Compiled and XGBoost predictions agree to float32 rounding, not bit for bit: the leaf values are
added in another order (the ``"simd"`` layout sums eight lanes separately; tl2cgen's if-else code
writes the leaves as 8-digit decimal literals) and the base score last, so sums differ by a few
units in the last place (bounded by :func:`tolerance`).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._cache import cache_dir, code_fingerprint, content_hash
from .surrogate import TwoStageSurrogate

__all__ = [
    "CALIBRATION_MARGIN",
    "CALIBRATION_ROWS",
    "CALLER_SOURCE",
    "ARRAY_INTERLEAVE",
    "SIMD_ENV",
    "SIMD_LANES",
    "SIMD_MAX_DEPTH",
    "COMPILER_ENV",
    "DEFAULT_OPTIONS",
    "LAYOUTS",
    "BoosterPredictor",
    "Calibration",
    "CompilationError",
    "CompilationFallbackWarning",
    "CompileOptions",
    "CompiledModel",
    "CompiledSurrogate",
    "Timings",
    "array_tree_source",
    "check_matrix",
    "clear_memo",
    "compile_booster",
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
]

log = logging.getLogger(__name__)

FORMAT_VERSION: int = 1
"""Version of the cache layout and of the shim's ABI; part of every cache key."""

COMPILER_ENV: str = "LECTURE_UTILS_CC"
"""Environment variable naming the C compiler (else ``$CC``, else ``gcc``)."""

CALIBRATION_ROWS: int = 16384
"""Largest batch size of a calibration; the sample it uses has twice as many *distinct* rows. (A
few rows tiled to a large batch flatter the compiled code: the processor's branch predictor
learns the repeated rows — measured 1.3–2.4× — while XGBoost's traversal has little to learn.)"""

CALIBRATION_MARGIN: float = 0.25
"""The dispatcher prefers the compiled library only where it was measured this much faster."""

WORK_PER_THREAD: int = 131072
"""The C shim starts another thread only for every ``WORK_PER_THREAD / n_trees`` rows (at least
8), i.e. for ~1–4 ms of work: starting a thread costs ~20–50 µs on an idle machine, but on a busy
one a new thread can wait milliseconds for a core (measured: 100 rows of a 500-tree model took
2.5× longer on 2 threads than on 1 with both cores loaded)."""


def rows_per_thread(n_trees: int) -> int:
    """Fewest rows worth a thread of their own for a model of ``n_trees`` trees."""
    return max(8, -(-WORK_PER_THREAD // max(1, int(n_trees))))


NanPolicy = Literal["raise", "missing"]
Backend = Literal["auto", "compiled", "xgboost"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_EPS32 = float(np.finfo(np.float32).eps)

SHIM_SOURCE: str = r"""
/* lecture_utils batch shim: one call predicts a whole C-contiguous float32 matrix.
   Included by the generated file lu_shim.c, which defines before it:
     LU_NUM_FEATURE, LU_ABI_VERSION, LU_BLOCK (rows per block; 0: row by row through predict()),
     and, if LU_BLOCK > 0: LU_N_UNITS, the array lu_units[] of the tree units predict_unit<k>
     in the order predict() calls them, and lu_base(result) = predict()'s base-score step. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#if N_TARGET * MAX_N_CLASS != 1
#error "lecture_utils compiles single-output models only"
#endif
#define LU_API __attribute__((visibility("default")))
#define LU_MAX_THREADS 256

typedef struct {
  const float* x; float* out; int64_t begin, end; int margin, nan_missing; int64_t nan_rows;
} lu_job;

/* Copy row i into an Entry row; NaN becomes a missing value. Returns 1 if the row is to be
   skipped (it holds NaN and NaN is not allowed). */
static int lu_load(const lu_job* j, int64_t i, union Entry* row) {
  const float* xi = j->x + i * (int64_t)LU_NUM_FEATURE;
  int has_nan = 0;
  for (int k = 0; k < LU_NUM_FEATURE; ++k) {
    const float v = xi[k];
    if (isnan(v)) { has_nan = 1; row[k].missing = -1; } else { row[k].fvalue = v; }
  }
  return has_nan && !j->nan_missing;
}

/* Row by row through tl2cgen's predict(). */
static void lu_run_rows(lu_job* j) {
  union Entry row[LU_NUM_FEATURE];
  for (int64_t i = j->begin; i < j->end; ++i) {
    if (lu_load(j, i, row)) { j->nan_rows++; j->out[i] = NAN; continue; }
    float result[1] = {0.0f};
    predict(row, j->margin, result);
    j->out[i] = result[0];
  }
}

#if LU_BLOCK > 0
/* Blocked traversal: a block of rows goes through one unit of trees before the next unit, so
   the unit's code stays in the instruction cache. Per row, the additions happen in the same
   order as in predict(), so the results are identical to it. */
static void lu_run_blocked(lu_job* j) {
  union Entry rows[LU_BLOCK][LU_NUM_FEATURE];
  unsigned char skip[LU_BLOCK];
  for (int64_t b0 = j->begin; b0 < j->end; b0 += LU_BLOCK) {
    const int m = (int)(j->end - b0 < LU_BLOCK ? j->end - b0 : LU_BLOCK);
    float* out = j->out + b0;
    for (int i = 0; i < m; ++i) {
      skip[i] = (unsigned char)lu_load(j, b0 + i, rows[i]);
      j->nan_rows += skip[i];
      out[i] = 0.0f;
    }
    for (int u = 0; u < LU_N_UNITS; ++u) {
      void (*const unit)(union Entry*, float*) = lu_units[u];
      for (int i = 0; i < m; ++i) if (!skip[i]) unit(rows[i], out + i);
    }
    for (int i = 0; i < m; ++i) {
      if (skip[i]) { out[i] = NAN; continue; }
      lu_base(out + i);
      if (!j->margin) postprocess(out + i);
    }
  }
}

/* One row has no code to reuse: it skips the blocked loop's bookkeeping (measured ~4 % faster). */
static void lu_run(lu_job* j) {
  if (j->end - j->begin > 1) lu_run_blocked(j); else lu_run_rows(j);
}
#else
static void lu_run(lu_job* j) { lu_run_rows(j); }
#endif

static void* lu_thread(void* p) { lu_run((lu_job*)p); return NULL; }

LU_API int32_t lu_abi_version(void) { return LU_ABI_VERSION; }
LU_API int32_t lu_num_feature(void) { return LU_NUM_FEATURE; }

/* Predict n rows of x (n x LU_NUM_FEATURE, row-major) into out (n) on up to nthread threads
   (at most one per min_rows_per_thread rows). Returns the number of rows holding NaN (those rows
   get NaN) when nan_missing == 0, else 0 (NaN = missing value). */
LU_API int64_t lu_predict_batch(const float* x, int64_t n, int32_t margin, int32_t nan_missing,
                                int32_t nthread, int64_t min_rows_per_thread, float* out) {
  if (n <= 0) return 0;
  if (min_rows_per_thread < 1) min_rows_per_thread = 1;
  const int64_t most = n / min_rows_per_thread;
  if (nthread > most) nthread = (int32_t)most;
  if (nthread > LU_MAX_THREADS) nthread = LU_MAX_THREADS;
  if (nthread < 1) nthread = 1;
  lu_job jobs[LU_MAX_THREADS];
  pthread_t threads[LU_MAX_THREADS];
  int started[LU_MAX_THREADS];
  const int64_t chunk = (n + nthread - 1) / nthread;
  for (int t = 0; t < nthread; ++t) {
    jobs[t].x = x; jobs[t].out = out; jobs[t].margin = margin;
    jobs[t].nan_missing = nan_missing; jobs[t].nan_rows = 0;
    jobs[t].begin = t * chunk < n ? t * chunk : n;
    jobs[t].end = (t + 1) * chunk < n ? (t + 1) * chunk : n;
  }
  for (int t = 1; t < nthread; ++t)
    started[t] = pthread_create(&threads[t], NULL, lu_thread, &jobs[t]) == 0;
  lu_run(&jobs[0]);
  int64_t nan_rows = jobs[0].nan_rows;
  for (int t = 1; t < nthread; ++t) {
    if (started[t]) pthread_join(threads[t], NULL); else lu_run(&jobs[t]);
    nan_rows += jobs[t].nan_rows;
  }
  return nan_rows;
}
"""
"""C source of the batch shim compiled into every library (part of the cache key)."""

_PREDICT_BODY = re.compile(
    r"void predict\(union Entry\* data, int pred_margin, float\* result\) \{\s*"
    r"unsigned int tmp;\s*((?:predict_unit\d+\(data, result\);\s*)+)"
    r"(// Apply base_scores.*?)// Apply postprocessor\s*"
    r"if \(!pred_margin\) \{ postprocess\(result\); \}\s*\}", re.S)


def _shim_prelude(main_c: str, n_features: int, block_rows: int) -> tuple[str, int]:
    """The definitions ``lu_shim.c`` puts before :data:`SHIM_SOURCE`; returns (text, block).

    Blocking needs the tree units and the base-score step of the generated ``predict()``; if its
    layout is not the one expected (another tl2cgen version, quantization), the shim falls back
    to calling ``predict()`` row by row (block 0).
    """
    block = min(int(block_rows), max(1, 65536 // (4 * n_features)))
    m = _PREDICT_BODY.search(main_c)
    lines = ['#include "header.h"', f"#define LU_NUM_FEATURE {n_features}",
             f"#define LU_ABI_VERSION {_ABI_VERSION}"]
    if block <= 0 or m is None or "quantize" in main_c:
        return "\n".join([*lines, "#define LU_BLOCK 0", ""]), 0
    units = re.findall(r"predict_unit(\d+)\(", m.group(1))
    lines += [f"#define LU_BLOCK {block}", f"#define LU_N_UNITS {len(units)}",
              "static void (*const lu_units[])(union Entry*, float*) = {"
              + ", ".join(f"predict_unit{u}" for u in units) + "};",
              "static inline void lu_base(float* result) {", m.group(2).strip(), "}", ""]
    return "\n".join(lines), block


_ABI_VERSION = 1

# tl2cgen tests a split as "is the value present, and below the threshold?" — two branches:
#   default right:  (data[k].missing != -1) && (data[k].fvalue < T)
#   default left:  !(data[k].missing != -1) || (data[k].fvalue < T)
_SPLIT_DEFAULT_RIGHT = re.compile(
    r"\(data\[(\d+)\]\.missing != -1\) && \(data\[\1\]\.fvalue < (\(float\)[^()\s]+)\)")
_SPLIT_DEFAULT_LEFT = re.compile(
    r"!\(data\[(\d+)\]\.missing != -1\) \|\| \(data\[\1\]\.fvalue < (\(float\)[^()\s]+)\)")


def fold_missing_checks(code: str) -> tuple[str, int]:
    """Rewrite tl2cgen's two-test splits into one float comparison each; returns (code, count).

    The shim stores a missing value as ``missing = -1``, whose bits (0xFFFFFFFF) read as a float
    are a NaN, and it never passes a NaN that is *not* missing. Every comparison with NaN is
    false, so ``(missing != -1) && (x < T)`` equals ``x < T`` (missing → right) and
    ``!(missing != -1) || (x < T)`` equals ``!(x >= T)`` (missing → left) for every input,
    ±inf included (gcc keeps IEEE semantics without ``-ffast-math``). One branch per split
    instead of two: smaller code, fewer instructions. Splits of any other form are left as they
    are; every library is verified against XGBoost, missing values included.
    """
    code, n_right = _SPLIT_DEFAULT_RIGHT.subn(r"(data[\1].fvalue < \2)", code)
    code, n_left = _SPLIT_DEFAULT_LEFT.subn(r"!(data[\1].fvalue >= \2)", code)
    return code, n_right + n_left


LAYOUTS: tuple[str, ...] = ("if-else", "arrays", "simd")
"""Code layouts of the trees (:class:`CompileOptions` ``layout``)."""

ARRAY_INTERLEAVE: int = 4
"""Trees walked side by side by the ``"arrays"`` layout (independent chains of loads overlap)."""


def _c_float(v: Any) -> str:
    """A float32 value as a C literal that reads back to the same float32 (shortest round-trip
    decimal; NAN/INFINITY spelled out)."""
    x = np.float32(v)
    if np.isnan(x):
        return "NAN"
    if np.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return repr(float(x)) + "f"


def _c_table(name: str, ctype: str, items: Sequence[Any], aligned: bool = False) -> str:
    """``static const ctype name[n] = {...};`` (items already formatted or ints)."""
    attr = " __attribute__((aligned(32)))" if aligned else ""
    return f"static const {ctype} {name}[{len(items)}]{attr} = {{{','.join(map(str, items))}}};\n"


def _tree_depth(tree: dict[str, Any]) -> int:
    """Number of split levels of an XGBoost JSON tree (0 for a single leaf)."""
    left, right = tree["left_children"], tree["right_children"]
    depth, level = 0, [0]
    while True:
        level = [c for i in level if left[i] != -1 for c in (left[i], right[i])]
        if not level:
            return depth
        depth += 1


def array_tree_source(trees: Sequence[dict[str, Any]], function: str = "predict_unit0") -> str:
    """C source of ``void function(union Entry* data, float* result)`` adding the leaf values of
    all ``trees`` (XGBoost JSON dicts) to ``result[0]`` — the ``"arrays"`` layout.

    Each tree is a table of nodes (feature, threshold, children, default direction, value); a
    row walks it with ``node = child[2·node + go_right]``, ``go_right = (x ≥ threshold) or
    (x missing and the default is right)`` — arithmetic, no data-dependent branch, so nothing to
    mispredict. Leaves point to themselves, so every walk takes the same number of steps (the
    deepest tree's depth), and :data:`ARRAY_INTERLEAVE` trees are walked at once. A missing value
    arrives as a NaN bit pattern (see :func:`fold_missing_checks`); NaN compares false. Thresholds
    and leaves are written as the exact float32 values (shortest round-trip decimal).
    """
    feat: list[int] = []
    thr: list[str] = []
    child: list[int] = []
    right_default: list[int] = []
    value: list[str] = []
    roots: list[int] = []

    depth = max((_tree_depth(t) for t in trees), default=0)
    for tree in trees:
        left, right = tree["left_children"], tree["right_children"]
        off = len(feat)
        roots.append(off)
        for i, (lc, cond) in enumerate(zip(left, tree["split_conditions"], strict=True)):
            if lc == -1:  # leaf: both children are itself
                feat.append(0)
                thr.append("INFINITY")
                child += [off + i, off + i]
                right_default.append(0)
                value.append(_c_float(cond))
            else:
                feat.append(int(tree["split_indices"][i]))
                thr.append(_c_float(cond))
                child += [off + lc, off + int(right[i])]
                right_default.append(0 if int(tree["default_left"][i]) else 1)
                value.append("0.0f")
    n_trees, k = len(roots), ARRAY_INTERLEAVE
    table = _c_table
    walk = "\n".join(f"      n{j} = LU_STEP(n{j});" for j in range(k))
    return (
        '#include "header.h"\n'
        f"/* {n_trees} trees as node arrays (lecture_utils 'arrays' layout) */\n"
        + table("LU_FEAT", "uint16_t", feat) + table("LU_THR", "float", thr)
        + table("LU_CHILD", "int32_t", child) + table("LU_DEFR", "uint8_t", right_default)
        + table("LU_VALUE", "float", value) + table("LU_ROOT", "int32_t", roots or [0])
        + f"#define LU_N_TREES {n_trees}\n#define LU_DEPTH {depth}\n"
        "#define LU_STEP(n) LU_CHILD[2 * (n) + ((data[LU_FEAT[n]].fvalue >= LU_THR[n]) | "
        "((data[LU_FEAT[n]].fvalue != data[LU_FEAT[n]].fvalue) & LU_DEFR[n]))]\n"
        f"void {function}(union Entry* data, float* result) {{\n"
        "  float sum = 0.0f;\n  int t = 0;\n"
        f"  for (; t + {k} <= LU_N_TREES; t += {k}) {{\n"
        + "".join(f"    int32_t n{j} = LU_ROOT[t + {j}];\n" for j in range(k))
        + "    for (int d = 0; d < LU_DEPTH; ++d) {\n" + walk + "\n    }\n"
        + "".join(f"    sum += LU_VALUE[n{j}];\n" for j in range(k))
        + "  }\n"
        "  for (; t < LU_N_TREES; ++t) {\n    int32_t n = LU_ROOT[t];\n"
        "    for (int d = 0; d < LU_DEPTH; ++d) n = LU_STEP(n);\n    sum += LU_VALUE[n];\n  }\n"
        "  result[0] += sum;\n}\n")


class CompilationError(RuntimeError):
    """Building, loading or verifying a compiled library failed."""


class CompilationFallbackWarning(UserWarning):
    """A model could not be compiled; predictions come from XGBoost instead (same results)."""


SIMD_LANES: int = 8
"""Trees walked at once by the ``"simd"`` layout (one AVX2 register of 32-bit lanes)."""

SIMD_MAX_DEPTH: int = 10
"""Deepest trees the ``"simd"`` layout accepts (a tree is padded to 2^depth leaves)."""

SIMD_ENV: str = "LECTURE_UTILS_SIMD"
"""Environment variable read when a ``"simd"`` library is loaded: ``scalar`` forces the portable
path (for tests and comparisons); anything else lets the processor's features decide."""


def _perfect_tree(tree: dict[str, Any], depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One XGBoost tree as a perfect binary tree of ``depth`` levels, in breadth-first order.

    Returns (code, threshold, leaf): int32 (2^depth − 1,) with the feature index in the low bits
    and the sign bit set where a missing value goes right; float32 thresholds; float32
    (2^depth,) leaf values. A leaf above the last level becomes a chain of pass-through nodes
    (feature 0, threshold NaN — every comparison with NaN is false, so the walk goes left, and a
    missing value goes left too) and its value fills every leaf slot below it.
    """
    n_inner = (1 << depth) - 1
    code = np.zeros(n_inner, dtype=np.int32)
    thr = np.full(n_inner, np.nan, dtype=np.float32)
    leaf = np.zeros(1 << depth, dtype=np.float32)
    left, right = tree["left_children"], tree["right_children"]
    cond, feat, dleft = tree["split_conditions"], tree["split_indices"], tree["default_left"]
    stack = [(0, 0, 0)]  # (xgboost node, position, level)
    while stack:
        node, pos, level = stack.pop()
        if left[node] == -1:  # a leaf: fill the leaf slots below this position
            first = (pos + 1) * (1 << (depth - level)) - 1 - n_inner
            leaf[first: first + (1 << (depth - level))] = np.float32(cond[node])
            continue
        if level >= depth:
            raise CompilationError(f"tree deeper than {depth} levels")
        code[pos] = int(feat[node]) | (0 if int(dleft[node]) else -(1 << 31))
        thr[pos] = np.float32(cond[node])
        stack += [(int(left[node]), 2 * pos + 1, level + 1),
                  (int(right[node]), 2 * pos + 2, level + 1)]
    return code, thr, leaf


def simd_tree_source(trees: Sequence[dict[str, Any]], n_features: int,
                     function: str = "predict_unit0") -> str:
    """C source of ``void function(union Entry* data, float* result)`` adding the leaf values of
    all ``trees`` (XGBoost JSON dicts) to ``result[0]`` — the ``"simd"`` layout.

    Every tree is padded to a perfect binary tree of the deepest tree's depth D
    (:func:`_perfect_tree`), so a node's children sit at 2i + 1 and 2i + 2 and every walk takes D
    steps: i ← 2i + 1 + go_right, go_right = (x ≥ threshold) or (x missing and the default is
    right). :data:`SIMD_LANES` trees are stored interleaved (node i of the 8 trees side by side)
    and walked at once: with AVX2 each step is two gathers (node codes, thresholds), a
    permutation that fetches the feature values (≤ 8 features; ≤ 16: two permutations and a
    blend; a gather otherwise), two
    comparisons and integer arithmetic — no branch at all. Without AVX2 (checked once when the
    library loads, :data:`SIMD_ENV` can force it) a scalar loop walks the same tables in the same
    order, so both paths give bit-identical sums: each lane adds its trees in order, then the
    lanes are added in a fixed order. Trees deeper than :data:`SIMD_MAX_DEPTH` are refused.
    """
    depth = max((_tree_depth(t) for t in trees), default=0)
    depth = max(depth, 1)
    if depth > SIMD_MAX_DEPTH:
        raise CompilationError(f"the 'simd' layout takes trees of depth ≤ {SIMD_MAX_DEPTH}, "
                               f"got {depth}")
    lanes = SIMD_LANES
    n_groups = max(1, -(-len(trees) // lanes))
    n_inner, n_leaf = (1 << depth) - 1, 1 << depth
    code = np.zeros((n_groups, lanes, n_inner), dtype=np.int32)
    thr = np.full((n_groups, lanes, n_inner), np.nan, dtype=np.float32)
    leaf = np.zeros((n_groups, lanes, n_leaf), dtype=np.float32)
    for t, tree in enumerate(trees):
        code[t // lanes, t % lanes], thr[t // lanes, t % lanes], leaf[t // lanes, t % lanes] = \
            _perfect_tree(tree, depth)

    def table(name: str, ctype: str, arr: np.ndarray, fmt: Callable[[Any], str]) -> str:
        flat = arr.transpose(0, 2, 1).ravel()  # [group][node][lane]
        return _c_table(name, ctype, [fmt(v) for v in flat], aligned=True)

    # how the walk fetches the eight feature values: one register permutation (≤ 8 features),
    # two permutations and a blend (≤ 16), or a gather from memory (more)
    fetch = 1 if n_features <= lanes else 2 if n_features <= 2 * lanes else 0
    return (
        '#include "header.h"\n#include <string.h>\n'
        f"/* {len(trees)} trees as perfect binary trees of depth {depth}, {lanes} walked at once "
        "(lecture_utils 'simd' layout) */\n"
        f"#define LU_D {depth}\n#define LU_NI {n_inner}\n#define LU_NL {n_leaf}\n"
        f"#define LU_G {n_groups}\n#define LU_NF {n_features}\n"
        + table("LU_CODE", "int32_t", code, lambda v: str(int(v)))
        + table("LU_THR", "float", thr, _c_float)
        + table("LU_LEAF", "float", leaf, _c_float)
        + _SIMD_WALK.replace("LU_NF_KIND", str(fetch))
        .replace("predict_unit0", function).replace("LU_SIMD_ENV", SIMD_ENV))


_SIMD_WALK = r"""
/* The lanes are added in one fixed order by both paths. */
static inline float lu_hsum(const float* a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static void lu_walk_scalar(const float* x, float* result) {
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  for (int g = 0; g < LU_G; ++g) {
    const int32_t* c = LU_CODE + g * LU_NI * 8;
    const float* t = LU_THR + g * LU_NI * 8;
    for (int l = 0; l < 8; ++l) {
      int32_t i = 0;
      for (int d = 0; d < LU_D; ++d) {
        const int32_t k = i * 8 + l, code = c[k];
        const float v = x[code & 0x7fffffff];
        i = 2 * i + 1 + ((v >= t[k]) | ((v != v) & (code < 0)));
      }
      acc[l] += LU_LEAF[(g * LU_NL + (i - LU_NI)) * 8 + l];
    }
  }
  result[0] += lu_hsum(acc);
}

static void (*lu_walk)(const float*, float*) = lu_walk_scalar;

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx2")))
static void lu_walk_avx2(const float* x, float* result) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i inner = _mm256_set1_epi32(LU_NI);
#if LU_NF_KIND == 1
  float xb[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(xb, x, sizeof(float) * LU_NF);
  const __m256 xv = _mm256_loadu_ps(xb);
#elif LU_NF_KIND == 2
  float xb[16] = {0.0f};
  memcpy(xb, x, sizeof(float) * LU_NF);
  const __m256 xlo = _mm256_loadu_ps(xb), xhi = _mm256_loadu_ps(xb + 8);
#else
  const __m256i low = _mm256_set1_epi32(0x7fffffff);
#endif
  __m256 acc = _mm256_setzero_ps();
#if LU_NF_KIND == 1
#define LU_FETCH(code) _mm256_permutevar8x32_ps(xv, code)
#elif LU_NF_KIND == 2
  /* features 0-7 from xlo, 8-15 from xhi (the permutation reads the low 3 bits of the code);
     bit 3 of the feature index, shifted into the sign bit, picks the half */
#define LU_FETCH(code) _mm256_blendv_ps(_mm256_permutevar8x32_ps(xlo, code),                \
    _mm256_permutevar8x32_ps(xhi, code), _mm256_castsi256_ps(_mm256_slli_epi32(code, 28)))
#else
#define LU_FETCH(code) _mm256_i32gather_ps(x, _mm256_and_si256(code, low), 4)
#endif
  /* one step of the walk of group g, lane indices i */
#define LU_STEP(g, i) do {                                                              \
    const __m256i k_ = _mm256_add_epi32(_mm256_slli_epi32(i, 3), lane);                 \
    const __m256i code_ = _mm256_i32gather_epi32((const int*)(LU_CODE + (g) * LU_NI * 8), k_, 4); \
    const __m256 thr_ = _mm256_i32gather_ps(LU_THR + (g) * LU_NI * 8, k_, 4);             \
    const __m256 v_ = LU_FETCH(code_);                                                  \
    const __m256i ge_ = _mm256_castps_si256(_mm256_cmp_ps(v_, thr_, _CMP_GE_OQ));       \
    const __m256i nan_ = _mm256_castps_si256(_mm256_cmp_ps(v_, v_, _CMP_UNORD_Q));      \
    const __m256i dr_ = _mm256_srai_epi32(_mm256_and_si256(nan_, code_), 31);         \
    const __m256i go_ = _mm256_or_si256(ge_, dr_);                                      \
    i = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i, i), one), go_);           \
  } while (0)
#define LU_LEAFV(g, i) _mm256_i32gather_ps(LU_LEAF + (g) * LU_NL * 8,                    \
    _mm256_add_epi32(_mm256_slli_epi32(_mm256_sub_epi32(i, inner), 3), lane), 4)
  int g = 0;
  for (; g + 4 <= LU_G; g += 4) {  /* four independent walks side by side */
    __m256i i0 = _mm256_setzero_si256(), i1 = i0, i2 = i0, i3 = i0;
    for (int d = 0; d < LU_D; ++d) {
      LU_STEP(g, i0); LU_STEP(g + 1, i1); LU_STEP(g + 2, i2); LU_STEP(g + 3, i3);
    }
    acc = _mm256_add_ps(acc, LU_LEAFV(g, i0));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 1, i1));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 2, i2));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 3, i3));
  }
  for (; g < LU_G; ++g) {
    __m256i i0 = _mm256_setzero_si256();
    for (int d = 0; d < LU_D; ++d) LU_STEP(g, i0);
    acc = _mm256_add_ps(acc, LU_LEAFV(g, i0));
  }
  float a[8];
  _mm256_storeu_ps(a, acc);
  result[0] += lu_hsum(a);
}

__attribute__((constructor)) static void lu_pick_walk(void) {
  const char* force = getenv("LU_SIMD_ENV");
  __builtin_cpu_init();
  if (!(force && strcmp(force, "scalar") == 0) && __builtin_cpu_supports("avx2"))
    lu_walk = lu_walk_avx2;
}
#endif

__attribute__((visibility("default"))) int32_t lu_simd_avx2(void) {
  return lu_walk != lu_walk_scalar;
}

void predict_unit0(union Entry* data, float* result) { lu_walk((const float*)data, result); }
"""


@dataclass(frozen=True)
class CompileOptions:
    """How a booster is compiled (every field is part of the cache key).

    ``opt_level``: gcc ``-O`` level (0–3); ``trees_per_unit``: trees per C function and
    translation unit (tl2cgen ``parallel_comp`` = ⌈trees / trees_per_unit⌉; the units compile in
    parallel, and small units keep the code of one unit in the instruction cache);
    ``block_rows``: rows that pass through one unit before the next (blocked traversal; 0: each
    row through all trees, tl2cgen's own ``predict()``); ``jobs``: gcc processes at once;
    ``quantize``: tl2cgen's threshold quantization (off: incorrect in tl2cgen 1.0, see the module
    docstring); ``annotate``: branch annotation from sample inputs (tl2cgen ``annotate_in``; needs
    ``sample`` in :func:`compile_booster`; no measurable gain here); ``fold_missing``: one
    comparison per split instead of tl2cgen's two tests (:func:`fold_missing_checks`; 1–6 % faster);
    ``timeout_s``: limit for each compiler process, seconds; ``layout``: ``"simd"`` (the default:
    perfect binary trees walked eight at a time with vector instructions,
    :func:`simd_tree_source`; trees deeper than :data:`SIMD_MAX_DEPTH` get ``"arrays"``),
    ``"arrays"`` (node arrays walked without branches, :func:`array_tree_source`) or
    ``"if-else"`` (tl2cgen's own nested branches — the code chapter 5 shows). For ``"simd"`` and
    ``"arrays"`` tl2cgen still writes ``predict()``, the base score and the post-processing
    around the trees; ``fold_missing``, ``trees_per_unit`` and ``annotate`` concern the if-else
    layout only.
    """

    opt_level: int = 1
    trees_per_unit: int = 8
    block_rows: int = 1024
    jobs: int = 2
    quantize: bool = False
    annotate: bool = False
    fold_missing: bool = True
    timeout_s: float = 1800.0
    layout: Literal["if-else", "arrays", "simd"] = "simd"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layout != "if-else" and (self.quantize or self.annotate):
            raise ValueError("quantize and annotate change tl2cgen's if-else code: use them "
                             "with layout='if-else'")
        if self.opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0, 1, 2 or 3, got {self.opt_level!r}")
        if int(self.trees_per_unit) < 1 or int(self.jobs) < 1:
            raise ValueError("trees_per_unit and jobs must be ≥ 1")
        if int(self.block_rows) < 0:
            raise ValueError("block_rows must be ≥ 0")
        if not self.timeout_s > 0:
            raise ValueError("timeout_s must be > 0")

    def key(self) -> dict[str, Any]:
        """The fields that change the library (not ``jobs`` nor ``timeout_s``)."""
        return {"opt_level": self.opt_level, "trees_per_unit": int(self.trees_per_unit),
                "block_rows": int(self.block_rows), "quantize": bool(self.quantize),
                "annotate": bool(self.annotate), "fold_missing": bool(self.fold_missing),
                **({"layout": self.layout} if self.layout != "if-else" else {})}


DEFAULT_OPTIONS = CompileOptions()
"""The ``"simd"`` layout at ``-O1`` in blocks of 1024 rows (see the module docstring)."""


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def check_matrix(x: Any, n_features: int) -> np.ndarray:
    """Validate a model-input matrix for C and return it as C-contiguous float32, shape (n, f).

    * not a :class:`numpy.ndarray` → :class:`TypeError`;
    * not 2-D, or ``x.shape[1] != n_features`` → :class:`ValueError`;
    * not C-contiguous (e.g. a column slice or a transpose) or misaligned → :class:`ValueError`;
    * dtype float32 → used as is (no copy); float64 → rounded to float32 (a copy, the conversion
      XGBoost applies too); any other dtype → :class:`TypeError`.

    NaN is checked separately (see ``nan_policy`` of :class:`BoosterPredictor`).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"model inputs must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"model inputs must be 2-D (n, {n_features}), got shape {x.shape}")
    if x.shape[1] != n_features:
        raise ValueError(f"model inputs need {n_features} features (columns), got {x.shape[1]}")
    dtype = x.dtype
    if dtype is not _F32 and dtype != _F32 and dtype != _F64:
        raise TypeError(f"model inputs must be float32 (or float64, rounded to float32), got "
                        f"dtype {x.dtype}")
    flags = x.flags
    if not flags.c_contiguous:
        raise ValueError("model inputs must be C-contiguous (row-major); use "
                         "np.ascontiguousarray(x)")
    if not flags.aligned:
        raise ValueError("model inputs are not aligned in memory; pass a copy (x.copy())")
    if dtype is not _F32 and dtype == _F64:
        x = x.astype(np.float32)
    return x


def tolerance(reference: np.ndarray, n_trees: int) -> float:
    """Largest expected |compiled − XGBoost| for outputs ``reference`` of an ``n_trees`` model.

    Both sum ``n_trees`` float32 leaf values, in different order and with leaves written as
    8-digit literals by tl2cgen; the bound allows one float32 rounding per tree at the size of the
    largest output: ``n_trees · eps32 · max(1, max|reference|)``.
    """
    ref = np.asarray(reference, dtype=float)
    big = float(np.max(np.abs(ref[np.isfinite(ref)]), initial=1.0))
    return max(1, int(n_trees)) * _EPS32 * max(1.0, big)


def _model_json(raw_json: bytes) -> list[dict[str, Any]]:
    model = json.loads(raw_json)
    return model["learner"]["gradient_booster"]["model"]["trees"]


def tree_dicts(booster: Any) -> list[dict[str, Any]]:
    """The trees of an XGBoost booster (or scikit-learn wrapper) as XGBoost's JSON dicts
    (``left_children``, ``split_indices``, ``split_conditions``, ``default_left``, …) — the input
    of :func:`simd_tree_source` and :func:`array_tree_source`."""
    booster = getattr(booster, "get_booster", lambda: booster)()
    return _model_json(bytes(booster.save_raw("json")))


def probe_matrix(booster: Any, *, max_rows: int = 4096, seed: int = 0,
                 min_rows: int = 16) -> np.ndarray:
    """Inputs that exercise every split boundary of ``booster``: float32, shape (m, n_features).

    For each distinct (feature, threshold) split, one row with that feature exactly *at* the
    threshold and one a float32 step *below* it; the other features are drawn uniformly over the
    range of their thresholds. A compiled model that rounds a threshold wrongly, or swaps ``<`` and
    ``≤``, disagrees with XGBoost on these rows. At most ``max_rows`` probe rows (a seeded
    subset), padded with uniform rows to at least ``min_rows`` rows.
    """
    n_features = int(booster.num_features())
    splits: set[tuple[int, float]] = set()
    for tree in tree_dicts(booster):
        for f, t, left in zip(tree["split_indices"], tree["split_conditions"],
                              tree["left_children"], strict=True):
            if left != -1:
                splits.add((int(f), float(np.float32(t))))
    rng = np.random.default_rng(seed)
    items = sorted(splits)
    if 2 * len(items) > max_rows:
        pick = rng.choice(len(items), size=max_rows // 2, replace=False)
        items = [items[i] for i in np.sort(pick)]
    lo = np.full(n_features, -1.0)
    hi = np.full(n_features, 1.0)
    for f in range(n_features):
        ts = [t for g, t in splits if g == f]
        if ts:
            width = max(max(ts) - min(ts), 1e-3)
            lo[f], hi[f] = min(ts) - 0.1 * width, max(ts) + 0.1 * width
    m = max(2 * len(items), int(min_rows))
    x = rng.uniform(lo, hi, size=(m, n_features)).astype(np.float32)
    for i, (f, t) in enumerate(items):
        x[2 * i, f] = t
        x[2 * i + 1, f] = np.nextafter(np.float32(t), np.float32(-np.inf))
    return np.ascontiguousarray(x)


# --------------------------------------------------------------------------------------------
# compiler and build
# --------------------------------------------------------------------------------------------
def find_compiler(compiler: str | os.PathLike[str] | None = None) -> tuple[str, str] | None:
    """The C compiler to use: ``(absolute path, first line of --version)``, or ``None``.

    ``compiler`` (a name on ``PATH`` or a path) wins; else ``$LECTURE_UTILS_CC``, ``$CC``,
    ``gcc``. ``None`` if it does not exist or does not answer ``--version``.
    """
    name = str(compiler or os.environ.get(COMPILER_ENV) or os.environ.get("CC") or "gcc")
    path = shutil.which(name)
    if path is None:
        return None
    return _compiler_version(path)


_COMPILER_MEMO: dict[str, tuple[str, str] | None] = {}


def _compiler_version(path: str) -> tuple[str, str] | None:
    if path not in _COMPILER_MEMO:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=60, check=True).stdout
            _COMPILER_MEMO[path] = (path, (out.strip().splitlines() or ["unknown"])[0])
        except (OSError, subprocess.SubprocessError):
            _COMPILER_MEMO[path] = None
    return _COMPILER_MEMO[path]


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Capture tl2cgen's chatter: Python ``print`` (its log callback) and C-level stderr
    (the bundled treelite's version notice)."""
    buf = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as err, contextlib.redirect_stdout(buf):
        try:
            fd = os.dup(2)
        except OSError:  # no real stderr (some embedded interpreters): nothing to capture
            yield buf
            return
        try:
            os.dup2(err.fileno(), 2)
            yield buf
        finally:
            os.dup2(fd, 2)
            os.close(fd)
            err.seek(0)
            buf.write(err.read().decode(errors="replace"))


def generated_sources(booster: Any, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The C code tl2cgen generates for ``booster`` (file name → text), for reading.

    ``params``: tl2cgen compiler parameters (default none: one ``main.c`` holding every tree).
    Nothing is compiled or cached; tl2cgen's log messages are suppressed.
    """
    import tl2cgen
    import treelite

    booster = getattr(booster, "get_booster", lambda: booster)()
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        model = treelite.frontend.from_xgboost(booster)
        tl2cgen.generate_c_code(model, tmp, dict(params or {}))
        return {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}


def _versions() -> dict[str, str]:
    import tl2cgen
    import treelite
    import xgboost

    return {"tl2cgen": tl2cgen.__version__, "treelite": treelite.__version__,
            "xgboost": xgboost.__version__}


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


_MODULE_SOURCE: str = code_fingerprint(__name__)
"""A fingerprint of this module's code, part of every library key: the shim, the layouts' code
generators and the split rewriting all live here, so a change to any of them never reuses a stale
library."""


def _library_key(raw: bytes, compiler: tuple[str, str], options: CompileOptions,
                 sample: np.ndarray | None) -> str:
    v = _versions()
    extra = [] if not options.annotate or sample is None else [sample.tobytes()]
    return content_hash("compiled-booster", FORMAT_VERSION, raw, list(compiler),
                        v["tl2cgen"], v["treelite"], options.key(), _MODULE_SOURCE,
                        platform.machine(), *extra)[:32]


def _run_compiler(cmd: list[str], cwd: Path, timeout_s: float) -> None:
    """Run one compiler/linker command; any failure is a :class:`CompilationError`."""
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompilationError(f"{Path(cmd[0]).name} failed to run: {exc}") from exc
    if res.returncode != 0:
        raise CompilationError(f"{' '.join(Path(c).name for c in cmd[:3])} … exited with "
                               f"{res.returncode}:\n{res.stderr[-2000:]}")


def _build(raw: bytes, n_features: int, compiler: tuple[str, str], options: CompileOptions,
           sample: np.ndarray | None, target: Path) -> dict[str, Any]:
    """Generate C with tl2cgen, compile it with the shim and write ``target/model.so``."""
    import tl2cgen
    import treelite
    import xgboost as xgb

    booster = xgb.Booster(model_file=bytearray(raw))
    src = target / "src"
    src.mkdir(parents=True)
    t0 = time.perf_counter()
    with _quiet() as chatter:
        model = treelite.frontend.from_xgboost(booster)
        n_units = max(1, -(-int(booster.num_boosted_rounds()) // int(options.trees_per_unit)))
        if options.layout != "if-else":
            n_units = 1  # one function walks all trees; tl2cgen writes main.c around it
        params: dict[str, Any] = {"parallel_comp": n_units}
        if options.quantize:
            params["quantize"] = 1
        if options.annotate:
            if sample is None:
                raise CompilationError("annotate=True needs sample inputs to count branches")
            tl2cgen.annotate_branch(model, tl2cgen.DMatrix(sample), target / "annotation.json",
                                    nthread=1)
            params["annotate_in"] = str(target / "annotation.json")
        tl2cgen.generate_c_code(model, src, params)
    (target / "tl2cgen.log").write_text(chatter.getvalue())
    n_folded, layout = 0, options.layout
    if layout != "if-else":
        units = sorted(src.glob("tu*.c"))
        if [u.name for u in units] != ["tu0.c"]:
            raise CompilationError(f"unexpected tl2cgen layout {[u.name for u in units]}")
        trees = tree_dicts(booster)
        if layout == "simd" and max(map(_tree_depth, trees), default=0) > SIMD_MAX_DEPTH:
            layout = "arrays"  # a perfect tree of that depth would be too large
        units[0].write_text(array_tree_source(trees) if layout == "arrays"
                            else simd_tree_source(trees, n_features))
    elif options.fold_missing:
        for p in sorted(src.glob("*.c")):
            code, n = fold_missing_checks(p.read_text())
            p.write_text(code)
            n_folded += n
    t_gen = time.perf_counter() - t0
    prelude, block = _shim_prelude((src / "main.c").read_text(), n_features, options.block_rows)
    (src / "lu_shim.c").write_text(prelude + SHIM_SOURCE)
    sources = sorted(src.glob("*.c"))
    n_lines = sum(len(p.read_text().splitlines()) for p in sources if p.name != "lu_shim.c")
    cc = compiler[0]
    flags = [f"-O{options.opt_level}", "-fPIC", "-std=gnu99", "-pthread",
             "-fvisibility=hidden", "-Werror=incompatible-pointer-types",
             "-Werror=implicit-function-declaration"]

    def run(cmd: list[str]) -> None:
        _run_compiler(cmd, src, options.timeout_s)

    t1 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, int(options.jobs))) as pool:
        list(pool.map(lambda p: run([cc, "-c", *flags, p.name, "-o", p.stem + ".o"]), sources))
    run([cc, "-shared", "-pthread", "-o", str(target / "model.so"),
         *[p.stem + ".o" for p in sources], "-lm"])
    t_cc = time.perf_counter() - t1
    # keep a readable excerpt of the generated code, drop the (large) sources and objects
    first = [p for p in sources if p.name == "tu0.c"] or [p for p in sources if p.name == "main.c"]
    excerpt = "\n".join(line if len(line) <= 120 else line[:100] + " … (cut)"
                        for line in first[0].read_text().splitlines()[:80]) if first else ""
    shutil.rmtree(src, ignore_errors=True)
    return {"codegen_s": t_gen, "compile_s": t_cc, "generated_lines": n_lines,
            "layout": layout,
            "translation_units": len(sources) - 1, "block_rows": block, "excerpt": excerpt,
            "folded_splits": n_folded}


# --------------------------------------------------------------------------------------------
# the call from Python into a library
# --------------------------------------------------------------------------------------------
CALLER_SOURCE: str = r"""
/* lecture_utils fast caller: a CPython extension with one function,
     call(fn, x, out, margin, nan_missing, nthread, min_rows_per_thread) -> int,
   that checks x (2-D C-contiguous aligned float32, at least one row) and out (1-D writable
   C-contiguous aligned float32 of len(x)) with numpy's C API and then calls
   fn = the address of a library's lu_predict_batch, with the GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>

typedef int64_t (*lu_batch_fn)(const float*, int64_t, int32_t, int32_t, int32_t, int64_t,
                               float*);

static int lu_ok(PyObject* o, int ndim, int writable) {
  if (!PyArray_Check(o)) return 0;
  PyArrayObject* a = (PyArrayObject*)o;
  const int need = NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                   (writable ? NPY_ARRAY_WRITEABLE : 0);
  return PyArray_NDIM(a) == ndim && PyArray_TYPE(a) == NPY_FLOAT32 &&
         PyArray_ISNOTSWAPPED(a) && (PyArray_FLAGS(a) & need) == need;
}

static PyObject* lu_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  (void)self;
  if (nargs != 7) {
    PyErr_SetString(PyExc_TypeError, "call() takes 7 arguments");
    return NULL;
  }
  if (!lu_ok(args[1], 2, 0) || !lu_ok(args[2], 1, 1)) {
    PyErr_SetString(PyExc_TypeError, "call(): x must be a 2-D and out a writable 1-D "
                    "C-contiguous aligned float32 array");
    return NULL;
  }
  PyArrayObject* x = (PyArrayObject*)args[1];
  PyArrayObject* out = (PyArrayObject*)args[2];
  const npy_intp n = PyArray_DIM(x, 0);
  if (PyArray_DIM(out, 0) != n || n < 1) {
    PyErr_SetString(PyExc_ValueError, "call(): out must have len(x) >= 1 elements");
    return NULL;
  }
  void* fn = PyLong_AsVoidPtr(args[0]);
  const long margin = PyLong_AsLong(args[3]), nan_missing = PyLong_AsLong(args[4]);
  const long nthread = PyLong_AsLong(args[5]);
  const long long min_rows = PyLong_AsLongLong(args[6]);
  if (PyErr_Occurred()) return NULL;
  if (fn == NULL) {
    PyErr_SetString(PyExc_ValueError, "call(): null function");
    return NULL;
  }
  const float* xp = (const float*)PyArray_DATA(x);
  float* op = (float*)PyArray_DATA(out);
  int64_t bad;
  Py_BEGIN_ALLOW_THREADS
  bad = ((lu_batch_fn)fn)(xp, (int64_t)n, (int32_t)margin, (int32_t)nan_missing,
                          (int32_t)nthread, (int64_t)min_rows, op);
  Py_END_ALLOW_THREADS
  return PyLong_FromLongLong((long long)bad);
}

static PyMethodDef lu_methods[] = {
  {"call", (PyCFunction)(void (*)(void))lu_call, METH_FASTCALL, "predict a batch (private)"},
  {NULL, NULL, 0, NULL}};

static struct PyModuleDef lu_module = {PyModuleDef_HEAD_INIT, "LU_MODULE_NAME", NULL, -1,
                                       lu_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_LU_MODULE_NAME(void) {
  import_array();
  return PyModule_Create(&lu_module);
}
"""
"""C source of the CPython extension that calls the libraries (see :func:`fast_caller`)."""

_CALLER: list[Any] = []  # [module or None], once per process


def fast_caller(compiler: str | os.PathLike[str] | None = None) -> Any | None:
    """The compiled caller extension (built once and cached), or ``None`` if it cannot be built.

    A ctypes call converts seven Python arguments and two array addresses on every call —
    about 3.5 µs, as long as walking the course's 235 trees for one row. This small CPython
    extension (:data:`CALLER_SOURCE`, compiled with the same C compiler against this Python's
    and numpy's headers, cached by their versions) checks the two arrays with numpy's C API and
    makes the call in ~0.3 µs. Without the headers or a compiler it is ``None`` and
    :class:`CompiledModel` keeps using ctypes (same results, slower single rows).
    """
    if _CALLER:
        return _CALLER[0]
    import importlib.machinery
    import importlib.util
    import sysconfig

    module = None
    try:
        cc = find_compiler(compiler)
        include = sysconfig.get_paths()["include"]
        if cc is None or not (Path(include) / "Python.h").exists():
            raise CompilationError("no C compiler or no Python headers")
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        key = content_hash("caller", CALLER_SOURCE, list(cc), sys.version, np.__version__,
                           platform.machine(), suffix)[:16]
        name = f"_lu_caller_{key}"
        folder = cache_dir("compiled", "caller")
        path = folder / f"{name}{suffix}"
        if not path.exists():
            tmp = folder / f".{name}.{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                src = tmp / "caller.c"
                src.write_text(CALLER_SOURCE.replace("LU_MODULE_NAME", name))
                _run_compiler([cc[0], "-shared", "-fPIC", "-O2", "-std=gnu99", f"-I{include}",
                               f"-I{np.get_include()}", src.name, "-o", path.name], tmp, 120.0)
                os.replace(tmp / path.name, path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise CompilationError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (CompilationError, OSError, ImportError) as exc:
        log.info("fast caller unavailable (%s); using ctypes", exc)
        module = None
    _CALLER.append(module)
    return module


@dataclass
class CompiledModel:
    """One booster compiled to a shared library and loaded with ctypes.

    Build it with :func:`compile_booster`. :meth:`predict` takes a validated float32 matrix
    (n, n_features) and returns float32 (n,) in ONE C call.
    """

    path: Path
    key: str
    n_features: int
    n_trees: int
    info: dict[str, Any]
    _fn: Any = field(repr=False)
    _rows_per_thread: int = field(init=False, repr=False)
    _caller: Any = field(init=False, repr=False)
    _fn_address: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows_per_thread = rows_per_thread(self.n_trees)
        self._caller = fast_caller()
        self._fn_address = int(ctypes.cast(self._fn, ctypes.c_void_p).value or 0)

    @classmethod
    def load(cls, folder: Path, n_features: int, n_trees: int) -> CompiledModel:
        """Load ``folder/model.so`` (checks the checksum, ABI version and feature count)."""
        folder = Path(folder)
        info = json.loads((folder / "build.json").read_text())
        lib_path = folder / "model.so"
        if _sha256(lib_path) != info.get("sha256"):
            raise CompilationError(f"{lib_path} does not match its recorded checksum")
        try:
            lib = ctypes.CDLL(str(lib_path), mode=os.RTLD_LOCAL)
        except OSError as exc:
            raise CompilationError(f"cannot load {lib_path}: {exc}") from exc
        lib.lu_abi_version.restype = ctypes.c_int32
        lib.lu_num_feature.restype = ctypes.c_int32
        if lib.lu_abi_version() != _ABI_VERSION or lib.lu_num_feature() != n_features:
            raise CompilationError(f"{lib_path}: ABI {lib.lu_abi_version()} / "
                                   f"{lib.lu_num_feature()} features, expected {_ABI_VERSION} / "
                                   f"{n_features}")
        if hasattr(lib, "lu_simd_avx2"):  # which walk the library picked when it loaded
            lib.lu_simd_avx2.restype = ctypes.c_int32
            info["simd"] = "avx2" if lib.lu_simd_avx2() else "scalar"
        fn = lib.lu_predict_batch
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                       ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p]
        fn.restype = ctypes.c_int64
        return cls(lib_path, folder.name, n_features, n_trees, info, fn)

    def predict(self, x: np.ndarray, *, margin: bool = False, n_threads: int = 1,
                nan_policy: NanPolicy = "raise") -> np.ndarray:
        """Predictions for ``x`` (validated by :func:`check_matrix`), float32, shape (n,).

        ``margin=True``: raw score before the objective's transform (the gate's log-odds).
        ``n_threads``: at most this many threads (one per :func:`rows_per_thread` rows).
        """
        x = check_matrix(x, self.n_features)
        return self._predict(x, margin, n_threads, nan_policy)

    def _predict(self, x: np.ndarray, margin: bool, n_threads: int,
                 nan_policy: NanPolicy) -> np.ndarray:
        # x is already C-contiguous float32 with n_features columns (check_matrix). This is the
        # hot path of single-point predictions: no work here that could be done once.
        n = x.shape[0]
        out = np.empty(n, dtype=_F32)
        if n == 0:
            return out
        if self._caller is not None:
            bad = self._caller.call(self._fn_address, x, out, margin, nan_policy == "missing",
                                    n_threads, self._rows_per_thread)
        else:
            bad = self._fn(_address(x), n, margin, nan_policy == "missing", n_threads,
                           self._rows_per_thread, _address(out))
        if bad:
            raise ValueError(f"model inputs contain NaN in {bad} row(s); pass "
                             "nan_policy='missing' to treat NaN as a missing value (XGBoost's "
                             "semantics)")
        return out

    def excerpt(self, n_lines: int = 30) -> str:
        """The first ``n_lines`` of the generated C code of the first translation unit."""
        return "\n".join(str(self.info.get("excerpt", "")).splitlines()[:n_lines])

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickling (e.g. for a process pool) reloads the library from the cache in the new process
        return (CompiledModel.load, (self.path.parent, self.n_features, self.n_trees))


def _address(a: np.ndarray) -> int:
    """Address of the first element of a non-empty array. ``ctypes.c_char.from_buffer`` is about
    three times cheaper than ``a.ctypes.data`` (which builds a helper object) — it matters on
    the single-row path; read-only arrays, which it refuses, take the slower way."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return int(a.ctypes.data)


_LOADED: dict[str, CompiledModel] = {}


def clear_memo() -> None:
    """Forget the libraries and calibrations memoised in this process (the disk cache stays)."""
    _LOADED.clear()
    _CALIBRATIONS.clear()


def compile_booster_library(booster: Any, *, options: CompileOptions = DEFAULT_OPTIONS,
                            compiler: str | os.PathLike[str] | None = None,
                            sample: np.ndarray | None = None, use_cache: bool = True,
                            verify: bool = True) -> CompiledModel:
    """Compile one XGBoost ``booster`` (or fetch it from the cache); raise on any failure.

    Raises :class:`CompilationError` if no compiler is found, the build fails, or the verification
    against XGBoost on :func:`probe_matrix` inputs fails. ``use_cache=False`` always builds and
    keeps nothing on disk (the library lives on in this process only; it cannot be pickled).
    """
    booster = getattr(booster, "get_booster", lambda: booster)()
    cc = find_compiler(compiler)
    if cc is None:
        raise CompilationError(f"no working C compiler "
                               f"({compiler or os.environ.get(COMPILER_ENV) or 'gcc'!s}); "
                               f"set ${COMPILER_ENV} or install gcc")
    raw = bytes(booster.save_raw("ubj"))
    n_features, n_trees = int(booster.num_features()), int(booster.num_boosted_rounds())
    if sample is not None:
        sample = check_matrix(sample, n_features)
    key = _library_key(raw, cc, options, sample)
    root = cache_dir("compiled")
    folder = root / key
    if use_cache and key in _LOADED and (folder / "model.so").exists():
        _LOADED[key].info["cache"] = "hit"
        return _LOADED[key]
    if use_cache and (folder / "build.json").exists():
        try:
            model = CompiledModel.load(folder, n_features, n_trees)
            model.info["cache"] = "hit"
            _LOADED[key] = model
            return model
        except (CompilationError, OSError, ValueError) as exc:
            warnings.warn(f"cached library {folder} unusable ({exc}); rebuilding",
                          UserWarning, stacklevel=2)
    tmp = root / f".{key}.{uuid.uuid4().hex}.tmp"
    log.info("compiling a %d-tree booster with %s (options %s)", n_trees, cc[1], options.key())
    try:
        tmp.mkdir(parents=True)
        try:
            info = _build(raw, n_features, cc, options, sample, tmp)
        except CompilationError:
            raise
        except Exception as exc:  # tl2cgen/treelite errors, I/O problems
            raise CompilationError(f"code generation failed: {type(exc).__name__}: {exc}") \
                from exc
        info |= {"key": key, "compiler": list(cc), "options": asdict(options),
                 "versions": _versions(), "n_trees": n_trees, "n_features": n_features,
                 "sha256": _sha256(tmp / "model.so"), "created": time.time()}
        (tmp / "build.json").write_text(json.dumps(info, indent=2))
        model = CompiledModel.load(tmp, n_features, n_trees)
        if verify:
            _verify(model, booster)
        if not use_cache:
            # the loaded library stays mapped in memory after its folder is deleted
            shutil.rmtree(tmp, ignore_errors=True)
            model.info["cache"] = "off"
            return model
        # Library files are never rewritten in place (a loaded library is memory-mapped); the
        # entry is installed by renaming the folder. The model stays loaded from the temporary
        # name: dlopen of the final name could return a library loaded earlier under it.
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
            model.path = folder / "model.so"
        except OSError:  # another process installed the same key first: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
            model = CompiledModel.load(folder, n_features, n_trees)
        model.info["cache"] = "miss"
        _LOADED[key] = model
        return model
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _verify(model: CompiledModel, booster: Any) -> None:
    """Compare the library with XGBoost on the split-boundary probe inputs, and on the same
    inputs with missing values (NaN, XGBoost's default directions); raise if they differ."""
    x = probe_matrix(booster)
    x_missing = x.copy()
    n_features = x.shape[1]
    rows = np.arange(len(x))
    x_missing[rows, rows % n_features] = np.nan  # one missing feature per row, in turn
    x_missing[rows % 7 == 0] = np.nan  # and rows with nothing present
    checks: tuple[tuple[np.ndarray, NanPolicy], ...] = ((x, "raise"), (x_missing, "missing"))
    for inputs, nan_policy in checks:
        for margin in (True, False):
            ref = booster.inplace_predict(inputs, predict_type="margin" if margin else "value")
            got = model.predict(inputs, margin=margin, nan_policy=nan_policy)
            err = np.abs(got.astype(float) - ref.astype(float))
            tol = tolerance(ref, model.n_trees)
            if not np.all(err <= tol):
                i = int(np.argmax(err))
                what = "split-boundary inputs" + (" with missing values"
                                                  if nan_policy == "missing" else "")
                raise CompilationError(
                    f"compiled library disagrees with XGBoost on {int((err > tol).sum())} of "
                    f"{len(x)} {what} (worst |Δ| = {err[i]:.3g} > tolerance {tol:.3g}, "
                    f"margin={margin}); options {model.info.get('options')}")


# --------------------------------------------------------------------------------------------
# dispatcher
# --------------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """Measured times of both backends: ``sizes`` (batch sizes), median seconds per call
    ``compiled`` and ``xgboost``, ``speedup`` the paired ratio time(xgboost)/time(compiled)
    (:meth:`Timings.ratio`; it decides), and the resulting ``crossover`` (rows; batches of this
    size or more go to XGBoost; ``inf``: always compiled): the compiled library must be faster
    by the factor ``1 + margin``. ``seconds``: the time the calibration took."""

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


class BoosterPredictor:
    """One booster with two backends — compiled C and ``xgboost`` — and a dispatcher between them.

    :meth:`predict` validates the input once (:func:`check_matrix`, ``nan_policy``), then sends a
    batch of ``n`` rows to the compiled library if ``n < crossover`` and to
    ``Booster.inplace_predict`` otherwise (or to the backend named by ``backend``). Without a
    compiled library every batch goes to XGBoost. XGBoost runs on a private copy of the booster
    (made from the same bytes that were compiled) with ``nthread = n_threads``.
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
        """:meth:`predict` for a matrix that already passed :func:`check_matrix`."""
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
        are timed side by side (:func:`measure`, ``rounds`` blocks each) on a grid of batch
        sizes 1, 4, 16, … up to ``max_size`` rows, from small to large (at least two), until
        XGBoost wins (then it is taken to win at every larger size) or ``budget_s`` is spent.
        The crossover lies between that size and the one before (geometric mean); if the
        compiled library wins even at the largest measured size, it is extrapolated with affine
        costs (see :func:`_crossover`). The compiled library counts as
        faster only if it wins by more than ``margin`` (relative): near parity the dispatcher
        keeps XGBoost, so that measurement noise cannot make it slower than ``inplace_predict``.
        (A grid, not a bisection: near parity one noisy comparison would steer a bisection
        anywhere.)

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
                        _batches(sample, n), rounds=rounds, block_s=0.01)
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


@dataclass
class Timings:
    """Result of :func:`measure`: seconds per call of each function.

    ``calls[name]``: every timed call; ``rounds[name]``: the median of each round's block (the
    rounds of all functions are aligned, so ratios can be taken round by round).
    """

    calls: dict[str, np.ndarray]
    rounds: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> float:
        """Median seconds per call of ``name`` (over all timed calls)."""
        return float(np.median(self.calls[name]))

    def ratio(self, numerator: str, denominator: str) -> float:
        """Paired ratio time(numerator) / time(denominator): median over rounds of the ratio of
        the two functions' block medians in the same round (load that changes slowly cancels)."""
        return float(np.median(self.rounds[numerator] / self.rounds[denominator]))

    def ratio_quartiles(self, numerator: str, denominator: str) -> tuple[float, float]:
        """Lower and upper quartile over rounds of the paired ratio (its spread under load)."""
        r = self.rounds[numerator] / self.rounds[denominator]
        return float(np.quantile(r, 0.25)), float(np.quantile(r, 0.75))


def measure(funcs: dict[str, Callable[..., Any]], inputs: Sequence[Any] | None = None, *,
            rounds: int = 3, block_s: float = 0.02, max_calls: int = 200,
            pause_s: float = 0.003, budget_s: float = 0.0, max_rounds: int = 200) -> Timings:
    """Time functions side by side: ``measure({...})["name"]`` is the median seconds per call.

    ``inputs``: if given, every function is called with one argument, the inputs taken in turn
    (e.g. different batches of rows, so that a branch predictor cannot learn one row by heart);
    else without arguments. Each function runs in blocks: a pause of ``pause_s`` (so that the
    OpenMP worker threads of a previous XGBoost call stop spinning — on a busy machine they
    would steal the CPU from the next measurement), one discarded warm-up call, then as many timed
    calls back to back as fit in ``block_s`` (1 … ``max_calls``; a call longer than ``block_s`` is
    itself the sample). Every function is called once before. The blocks of all functions
    alternate for ``rounds`` rounds — or more, up to ``max_rounds``, until ``budget_s`` seconds
    are spent — so slow drifts of the machine's load hit every function alike (see
    :meth:`Timings.ratio`); the order of the functions is reversed every other round.
    """
    items = list(inputs) if inputs is not None else [None]
    if not items:
        raise ValueError("inputs must not be empty")

    def call(f: Callable[..., Any], k: int) -> float:
        t0 = time.perf_counter()
        if inputs is None:
            f()
        else:
            f(items[k % len(items)])
        return time.perf_counter() - t0

    calls: dict[str, list[float]] = {k: [] for k in funcs}
    per_round: dict[str, list[float]] = {k: [] for k in funcs}
    for f in funcs.values():  # first calls (lazy initialisation) are not timed
        call(f, 0)
    k = 0
    t_start = time.perf_counter()
    done = 0
    while done < max(1, int(rounds)) or (time.perf_counter() - t_start < budget_s
                                         and done < max_rounds):
        done += 1
        start = k
        # alternate the order every round, so that no function always runs right after another
        order = list(funcs.items()) if done % 2 else list(funcs.items())[::-1]
        for name, f in order:
            k = start  # every function sees the same inputs in a round
            time.sleep(pause_s)
            warm = call(f, k)
            k += 1
            if warm >= block_s:  # a long call: the pause was enough, keep it as the sample
                block = [warm]
            else:
                n_calls = int(min(max_calls, max(1, block_s / max(warm, 1e-7))))
                block = []
                for _ in range(n_calls):
                    block.append(call(f, k))
                    k += 1
            calls[name] += block
            per_round[name].append(float(np.median(block)))
    return Timings({k: np.array(v) for k, v in calls.items()},
                   {k: np.array(v) for k, v in per_round.items()})


def _batches(x: np.ndarray, n: int, most: int = 100_000) -> list[np.ndarray]:
    """Up to ``most`` different C-contiguous batches of ``n`` rows of ``x`` (views; tiled if
    ``x`` is short). Many distinct batches matter: cycling through a few (say 32 single rows)
    lets the branch predictor learn them and made compiled single rows look 20 % faster."""
    if len(x) >= 2 * n:
        return [np.ascontiguousarray(x[i * n:(i + 1) * n]) for i in range(min(most, len(x) // n))]
    return [np.ascontiguousarray(np.tile(x, (-(-n // len(x)), 1))[:n])]


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
    paired ratio
    ``"a / b"`` (:meth:`Timings.ratio`; > 1: b is faster) and, with ``quartiles``, its quartiles
    over rounds ``"a / b q25"``, ``"a / b q75"``. Different batches of ``x`` are used in
    turn; measured with :func:`measure` (at least ``rounds`` rounds, more while ``budget_s``
    seconds per batch size last). Returns a :class:`pandas.DataFrame`.
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
        t = measure(funcs, _batches(x, int(n)), rounds=rounds, block_s=block_s,
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


def default_threads() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def compile_booster(booster: Any, *, options: CompileOptions = DEFAULT_OPTIONS,
                    compiler: str | os.PathLike[str] | None = None,
                    n_threads: int | None = None, nan_policy: NanPolicy = "raise",
                    crossover: float | Literal["measure", "remeasure"] | None = "measure",
                    sample: np.ndarray | None = None, use_cache: bool = True,
                    calibration_budget_s: float = 4.0, label: str = "booster"
                    ) -> BoosterPredictor:
    """Compile an XGBoost booster (or sklearn wrapper) into a :class:`BoosterPredictor`.

    ``crossover``: ``"measure"`` (default: :meth:`BoosterPredictor.calibrate` on ``sample``, or
    on :func:`probe_matrix` rows; a measurement cached for this library, host and thread count is
    reused), ``"remeasure"`` (measure again), a number of rows, or ``None`` (always compiled).
    If compiling fails for any reason, a :class:`CompilationFallbackWarning` is emitted and the
    predictor uses XGBoost for every batch (``label`` names the model in that warning).
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


# --------------------------------------------------------------------------------------------
# the compiled surrogate
# --------------------------------------------------------------------------------------------
_STAGES = ("gate", "regressor")


@dataclass
class CompiledSurrogate(TwoStageSurrogate):
    """A :class:`~lecture_utils.surrogate.TwoStageSurrogate` whose two boosters are evaluated by
    :class:`BoosterPredictor` (compiled C below the measured crossover, XGBoost above).

    Everything else — features, domain check, the hard and smooth combinations, metadata, ``save``
    — is inherited unchanged, so both classes combine the stages in exactly one way. Build it with
    :func:`compile_surrogate`. ``predictors`` maps ``"gate"``/``"regressor"`` to the stage
    predictors; ``backend`` forces ``"compiled"`` or ``"xgboost"`` for every call (default
    ``"auto"``).
    """

    predictors: dict[str, BoosterPredictor] = field(default_factory=dict, repr=False,
                                                    compare=False)
    backend: Backend = field(default="auto", compare=False)

    def _raw(self, stage: str, x: np.ndarray, *, margin: bool) -> np.ndarray:
        """Output of stage ``stage`` for validated float32 features ``x`` (n, 6), float64 (n,):
        the hook of :class:`~lecture_utils.surrogate.TwoStageSurrogate` through which every
        prediction method evaluates the boosters — here through the stage's
        :class:`BoosterPredictor` (after :meth:`load`, without predictors: XGBoost)."""
        pred = self.predictors.get(stage)
        if pred is None:
            return super()._raw(stage, x, margin=margin)
        # x comes from _inputs: C-contiguous float32 with the model's 6 features (checked when
        # the predictors were attached), so it goes to the dispatcher without a second check
        return pred._dispatch(x, margin, self.backend).astype(float)

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

    Libraries are built with treelite → tl2cgen → the C compiler (``compiler``, else
    ``$LECTURE_UTILS_CC``, ``$CC``, ``gcc``) and cached under ``cache_dir("compiled")`` by the
    model bytes, compiler version, tl2cgen version and ``options``; a second call with the same
    model loads them in milliseconds. The crossover of each stage is measured once on features
    of seeded random points of the training domain and cached beside the library
    (``crossover="measure"``; ``"remeasure"`` measures again), fixed (a number of rows), or
    ``None`` (always compiled). Without a working compiler the result warns
    (:class:`CompilationFallbackWarning`) and predicts with XGBoost — the same numbers as
    ``surrogate``.

    ``n_threads``: threads of both backends; default: the surrogate's own XGBoost setting
    (``n_jobs``; 1 for a loaded or default surrogate, see
    :meth:`~lecture_utils.surrogate.TwoStageSurrogate.set_n_jobs`), so that above the crossover
    the compiled surrogate runs exactly the XGBoost computation of ``surrogate``. Pass the number
    of free cores for large vectorised batches.
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
    init = {f.name: getattr(surrogate, f.name) for f in fields(TwoStageSurrogate) if f.init}
    init["metadata"] = json.loads(json.dumps(surrogate.metadata))
    return CompiledSurrogate(**init, predictors=preds)
