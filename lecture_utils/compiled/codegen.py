"""C code generation: the batch shim around tl2cgen's code, and the tree layouts.

tl2cgen writes a model as nested ``if (x[f] < threshold)`` statements (the ``"if-else"``
layout); this module rewrites or replaces the trees' part of that code, and adds the shim that
predicts a whole matrix in one call. The fixed C lives in real files under ``csrc/`` (read with
:func:`c_source`); only what depends on the model is generated here:

* :func:`shim_source` — ``lu_shim.c``: a few ``#define`` lines and tables taken from tl2cgen's
  ``predict()``, followed by ``csrc/shim.c`` (:data:`SHIM_SOURCE`);
* :func:`fold_missing_checks` — one comparison per split instead of tl2cgen's two tests;
* :func:`array_tree_source` — the ``"arrays"`` layout: node tables walked without branches;
* :func:`simd_tree_source` — the ``"simd"`` layout: perfect binary trees walked
  :data:`SIMD_LANES` at a time with vector instructions (the walk is ``csrc/simd_walk.c``).

Thresholds and leaf values are written as exact float32 literals (shortest round-trip decimal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .toolchain import CompilationError

__all__ = [
    "ABI_VERSION",
    "ARRAY_INTERLEAVE",
    "LAYOUTS",
    "SHIM_SOURCE",
    "SIMD_ENV",
    "SIMD_LANES",
    "SIMD_MAX_DEPTH",
    "array_tree_source",
    "c_source",
    "fold_missing_checks",
    "shim_source",
    "simd_tree_source",
    "tree_depth",
    "tree_dicts",
]

CSRC: Path = Path(__file__).parent / "csrc"
"""Folder of the fixed C sources (package data)."""


def c_source(name: str) -> str:
    """The text of the fixed C file ``csrc/<name>`` shipped with the package.

    Parameters
    ----------
    name : str
        File name, e.g. ``"shim.c"``.

    Returns
    -------
    str
        The file's text.
    """
    return (CSRC / name).read_text(encoding="utf-8")


ABI_VERSION: int = 1
"""Version of the shim's C interface, compiled into every library (``lu_abi_version()``) and
checked when a library is loaded."""

SHIM_SOURCE: str = c_source("shim.c")
"""C source of the batch shim compiled into every library (``csrc/shim.c``; part of the cache
key)."""

_PREDICT_BODY = re.compile(
    r"void predict\(union Entry\* data, int pred_margin, float\* result\) \{\s*"
    r"unsigned int tmp;\s*((?:predict_unit\d+\(data, result\);\s*)+)"
    r"(// Apply base_scores.*?)// Apply postprocessor\s*"
    r"if \(!pred_margin\) \{ postprocess\(result\); \}\s*\}", re.S)


def shim_source(main_c: str, n_features: int, block_rows: int) -> tuple[str, int]:
    """The text of ``lu_shim.c``: the definitions :data:`SHIM_SOURCE` needs, then the shim.

    Blocking needs the tree units and the base-score step of the generated ``predict()``; if its
    layout is not the one expected (another tl2cgen version, quantization), the shim falls back
    to calling ``predict()`` row by row (block 0).

    Parameters
    ----------
    main_c : str
        tl2cgen's ``main.c`` (holding ``predict()``).
    n_features : int
        Features (columns) of the model's input.
    block_rows : int
        Rows wanted per block (:class:`~lecture_utils.compiled.build.CompileOptions`); capped so
        that one block of rows takes at most 64 KiB.

    Returns
    -------
    tuple of (str, int)
        The source text and the rows per block it uses (0: row by row).
    """
    prelude, block = _shim_prelude(main_c, n_features, block_rows)
    return prelude + "\n" + SHIM_SOURCE, block


def _shim_prelude(main_c: str, n_features: int, block_rows: int) -> tuple[str, int]:
    """The definitions ``lu_shim.c`` puts before :data:`SHIM_SOURCE`; returns (text, block)."""
    block = min(int(block_rows), max(1, 65536 // (4 * n_features)))
    m = _PREDICT_BODY.search(main_c)
    lines = ['#include "header.h"', f"#define LU_NUM_FEATURE {n_features}",
             f"#define LU_ABI_VERSION {ABI_VERSION}"]
    if block <= 0 or m is None or "quantize" in main_c:
        return "\n".join([*lines, "#define LU_BLOCK 0", ""]), 0
    units = re.findall(r"predict_unit(\d+)\(", m.group(1))
    lines += [f"#define LU_BLOCK {block}", f"#define LU_N_UNITS {len(units)}",
              "static void (*const lu_units[])(union Entry*, float*) = {"
              + ", ".join(f"predict_unit{u}" for u in units) + "};",
              "static inline void lu_base(float* result) {", m.group(2).strip(), "}", ""]
    return "\n".join(lines), block


# tl2cgen tests a split as "is the value present, and below the threshold?" — two branches:
#   default right:  (data[k].missing != -1) && (data[k].fvalue < T)
#   default left:  !(data[k].missing != -1) || (data[k].fvalue < T)
_SPLIT_DEFAULT_RIGHT = re.compile(
    r"\(data\[(\d+)\]\.missing != -1\) && \(data\[\1\]\.fvalue < (\(float\)[^()\s]+)\)")
_SPLIT_DEFAULT_LEFT = re.compile(
    r"!\(data\[(\d+)\]\.missing != -1\) \|\| \(data\[\1\]\.fvalue < (\(float\)[^()\s]+)\)")


def fold_missing_checks(code: str) -> tuple[str, int]:
    """Rewrite tl2cgen's two-test splits into one float comparison each.

    The shim stores a missing value as ``missing = -1``, whose bits (0xFFFFFFFF) read as a float
    are a NaN, and it never passes a NaN that is *not* missing. Every comparison with NaN is
    false, so ``(missing != -1) && (x < T)`` equals ``x < T`` (missing → right) and
    ``!(missing != -1) || (x < T)`` equals ``!(x >= T)`` (missing → left) for every input,
    ±inf included (gcc keeps IEEE semantics without ``-ffast-math``). One branch per split
    instead of two: smaller code, fewer instructions. Splits of any other form are left as they
    are; every library is verified against XGBoost, missing values included.

    Parameters
    ----------
    code : str
        C source written by tl2cgen.

    Returns
    -------
    tuple of (str, int)
        The rewritten source and the number of splits rewritten.
    """
    code, n_right = _SPLIT_DEFAULT_RIGHT.subn(r"(data[\1].fvalue < \2)", code)
    code, n_left = _SPLIT_DEFAULT_LEFT.subn(r"!(data[\1].fvalue >= \2)", code)
    return code, n_right + n_left


LAYOUTS: tuple[str, ...] = ("if-else", "arrays", "simd")
"""Code layouts of the trees (:class:`~lecture_utils.compiled.build.CompileOptions` ``layout``)."""

ARRAY_INTERLEAVE: int = 4
"""Trees walked side by side by the ``"arrays"`` layout (independent chains of loads overlap)."""


def _model_json(raw_json: bytes) -> list[dict[str, Any]]:
    model = json.loads(raw_json)
    return model["learner"]["gradient_booster"]["model"]["trees"]


def tree_dicts(booster: Any) -> list[dict[str, Any]]:
    """The trees of an XGBoost booster (or scikit-learn wrapper) as XGBoost's JSON dicts
    (``left_children``, ``split_indices``, ``split_conditions``, ``default_left``, …) — the input
    of :func:`simd_tree_source` and :func:`array_tree_source`."""
    booster = getattr(booster, "get_booster", lambda: booster)()
    return _model_json(bytes(booster.save_raw("json")))


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


def tree_depth(tree: dict[str, Any]) -> int:
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

    depth = max((tree_depth(t) for t in trees), default=0)
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


SIMD_LANES: int = 8
"""Trees walked at once by the ``"simd"`` layout (one AVX2 register of 32-bit lanes)."""

SIMD_MAX_DEPTH: int = 10
"""Deepest trees the ``"simd"`` layout accepts (a tree is padded to 2^depth leaves)."""

SIMD_ENV: str = "LECTURE_UTILS_SIMD"
"""Environment variable read when a ``"simd"`` library is loaded: ``scalar`` forces the portable
path (for tests and comparisons); anything else lets the processor's features decide."""

_SIMD_WALK: str = c_source("simd_walk.c")
"""The tree walk of the ``"simd"`` layout (``csrc/simd_walk.c``). :func:`simd_tree_source`
replaces three placeholders in it: ``LU_NF_KIND`` (how the feature values are fetched),
``predict_unit0`` (the function's name) and ``LU_SIMD_ENV`` (:data:`SIMD_ENV`)."""


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

    Every tree is padded to a perfect binary tree of the deepest tree's depth D, so a node's
    children sit at 2i + 1 and 2i + 2 and every walk takes D steps: i ← 2i + 1 + go_right,
    go_right = (x ≥ threshold) or (x missing and the default is right). :data:`SIMD_LANES` trees
    are stored interleaved (node i of the 8 trees side by side) and walked at once: with AVX2
    each step is two gathers (node codes, thresholds), a permutation that fetches the feature
    values (≤ 8 features; ≤ 16: two permutations and a blend; a gather otherwise), two
    comparisons and integer arithmetic — no branch at all; on the first four levels (a lane is
    at one of 1, 2, 4 or 8 nodes) plain loads and blends replace the two gathers. Without AVX2
    (checked once when the library loads, :data:`SIMD_ENV` can force it) a scalar loop walks the
    same tables in the same order, so both paths give bit-identical sums: each lane adds its
    trees in order, then the lanes are added in a fixed order.

    Parameters
    ----------
    trees : sequence of dict
        XGBoost JSON trees (:func:`tree_dicts`).
    n_features : int
        Features (columns) of the model's input; chooses how the walk fetches them.
    function : str, optional
        Name of the C function.

    Returns
    -------
    str
        The translation unit's C source (it includes tl2cgen's ``header.h``).

    Raises
    ------
    CompilationError
        If a tree is deeper than :data:`SIMD_MAX_DEPTH`.
    """
    depth = max((tree_depth(t) for t in trees), default=0)
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
        + "\n" + _SIMD_WALK.replace("LU_NF_KIND", str(fetch))
        .replace("predict_unit0", function).replace("LU_SIMD_ENV", SIMD_ENV))
