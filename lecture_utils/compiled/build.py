"""Building a library: compile options, the build itself, its verification and its cache.

:func:`compile_booster_library` turns one XGBoost booster into a shared library: treelite
imports the model, tl2cgen writes C (``predict()``, the base score, the post-processing and —
in the ``"if-else"`` layout — the trees), :mod:`~lecture_utils.compiled.codegen` replaces or
rewrites the trees' code and adds the batch shim, and the C compiler builds ``model.so``.

* **a content-addressed cache** under ``cache_dir("compiled")``: the key hashes the model's
  serialized bytes (UBJSON), the compiler and its version, the tl2cgen and treelite versions, the
  compile options and the code of :mod:`lecture_utils.compiled` (its Python and its C files), so
  a changed model — or changed generated code — never reuses a stale library;
* **verification**: every freshly built library is compared with XGBoost on inputs placed exactly
  on, and one float32 step below, the model's split thresholds
  (:func:`~lecture_utils.compiled.inputs.probe_matrix`) — the inputs where a wrong comparison
  would show — and on the same inputs with missing values. A library that disagrees is rejected.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._cache import building, cache_dir, code_fingerprint, content_hash
from .codegen import (
    LAYOUTS,
    SIMD_MAX_DEPTH,
    array_tree_source,
    fold_missing_checks,
    shim_source,
    simd_tree_source,
    tree_depth,
    tree_dicts,
)
from .inputs import check_matrix, probe_matrix, tolerance
from .runtime import CompiledModel, NanPolicy, file_sha256
from .toolchain import COMPILER_ENV, CompilationError, find_compiler, run_compiler

__all__ = [
    "DEFAULT_OPTIONS",
    "FORMAT_VERSION",
    "CompileOptions",
    "capture_output",
    "clear_libraries",
    "compile_booster_library",
    "generated_sources",
]

log = logging.getLogger(__name__)

FORMAT_VERSION: int = 1
"""Version of the cache layout and of the shim's ABI; part of every cache key."""


@dataclass(frozen=True)
class CompileOptions:
    """How a booster is compiled (every field is part of the cache key).

    For ``"simd"`` and ``"arrays"`` tl2cgen still writes ``predict()``, the base score and the
    post-processing around the trees; ``fold_missing``, ``trees_per_unit`` and ``annotate``
    concern the if-else layout only.

    Parameters
    ----------
    opt_level : int
        gcc ``-O`` level (0–3).
    trees_per_unit : int
        Trees per C function and translation unit (tl2cgen ``parallel_comp`` =
        ⌈trees / trees_per_unit⌉; the units compile in parallel, and small units keep the code
        of one unit in the instruction cache).
    block_rows : int
        Rows that pass through one unit before the next (blocked traversal; 0: each row through
        all trees, tl2cgen's own ``predict()``).
    jobs : int
        Compiler processes at once.
    quantize : bool
        tl2cgen's threshold quantization. Off: tl2cgen 1.0 prints the quantization thresholds
        with 8 significant digits, which do not round-trip float32, so inputs within one float32
        step of such a threshold take the wrong branch, and the verification rejects the
        library. Kept (if-else layout only) as a teaching example.
    annotate : bool
        Branch annotation from sample inputs (tl2cgen ``annotate_in``; needs ``sample`` in
        :func:`~lecture_utils.compiled.surrogate.compile_booster`).
    fold_missing : bool
        One comparison per split instead of tl2cgen's two tests
        (:func:`~lecture_utils.compiled.codegen.fold_missing_checks`).
    timeout_s : float
        Limit for each compiler process, seconds.
    layout : {"simd", "arrays", "if-else"}
        ``"simd"`` (the default: perfect binary trees walked eight at a time with vector
        instructions, :func:`~lecture_utils.compiled.codegen.simd_tree_source`; trees deeper
        than :data:`~lecture_utils.compiled.codegen.SIMD_MAX_DEPTH` get ``"arrays"``),
        ``"arrays"`` (node arrays walked without branches,
        :func:`~lecture_utils.compiled.codegen.array_tree_source`) or ``"if-else"`` (tl2cgen's
        own nested branches — the code chapter 5 shows).

    Raises
    ------
    ValueError
        For an unknown layout, ``quantize``/``annotate`` with another layout than ``"if-else"``,
        an ``opt_level`` outside 0–3, ``trees_per_unit`` or ``jobs`` < 1, ``block_rows`` < 0 or
        ``timeout_s`` ≤ 0.
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
"""The ``"simd"`` layout at ``-O1`` in blocks of 1024 rows (the fastest option set measured by
``benchmarks/compiled.py --explore``)."""


@contextlib.contextmanager
def capture_output() -> Iterator[io.StringIO]:
    """Capture tl2cgen's chatter while the block runs: Python ``print`` (its log callback) and
    C-level stderr (the bundled treelite's version notice).

    Yields
    ------
    io.StringIO
        Everything captured; complete when the block has ended.
    """
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
    with tempfile.TemporaryDirectory() as tmp, capture_output():
        model = treelite.frontend.from_xgboost(booster)
        tl2cgen.generate_c_code(model, tmp, dict(params or {}))
        return {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}


def _versions() -> dict[str, str]:
    import tl2cgen
    import treelite
    import xgboost

    return {"tl2cgen": tl2cgen.__version__, "treelite": treelite.__version__,
            "xgboost": xgboost.__version__}


_CODE: str = code_fingerprint("lecture_utils.compiled")
"""A fingerprint of the code of :mod:`lecture_utils.compiled` (every Python and C file), part of
every library key: the shim, the layouts' code generators and the split rewriting all live
there, so a change to any of them never reuses a stale library."""


def _library_key(raw: bytes, compiler: tuple[str, str], options: CompileOptions,
                 sample: np.ndarray | None) -> str:
    v = _versions()
    extra = [] if not options.annotate or sample is None else [sample.tobytes()]
    return content_hash("compiled-booster", FORMAT_VERSION, raw, list(compiler),
                        v["tl2cgen"], v["treelite"], options.key(), _CODE,
                        platform.machine(), *extra)[:32]


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
    with capture_output() as chatter:
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
        if layout == "simd" and max(map(tree_depth, trees), default=0) > SIMD_MAX_DEPTH:
            layout = "arrays"  # a perfect tree of that depth would be too large
        units[0].write_text(array_tree_source(trees) if layout == "arrays"
                            else simd_tree_source(trees, n_features))
    elif options.fold_missing:
        for p in sorted(src.glob("*.c")):
            code, n = fold_missing_checks(p.read_text())
            p.write_text(code)
            n_folded += n
    t_gen = time.perf_counter() - t0
    shim, block = shim_source((src / "main.c").read_text(), n_features, options.block_rows)
    (src / "lu_shim.c").write_text(shim)
    sources = sorted(src.glob("*.c"))
    n_lines = sum(len(p.read_text().splitlines()) for p in sources if p.name != "lu_shim.c")
    cc = compiler[0]
    flags = [f"-O{options.opt_level}", "-fPIC", "-std=gnu99", "-pthread",
             "-fvisibility=hidden", "-Werror=incompatible-pointer-types",
             "-Werror=implicit-function-declaration"]

    def run(cmd: list[str]) -> None:
        run_compiler(cmd, src, options.timeout_s)

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


_LOADED: dict[str, CompiledModel] = {}


def clear_libraries() -> None:
    """Forget the libraries memoised in this process (the disk cache stays)."""
    _LOADED.clear()


def compile_booster_library(booster: Any, *, options: CompileOptions = DEFAULT_OPTIONS,
                            compiler: str | os.PathLike[str] | None = None,
                            sample: np.ndarray | None = None, use_cache: bool = True,
                            verify: bool = True) -> CompiledModel:
    """Compile one XGBoost ``booster`` (or fetch it from the cache); raise on any failure.

    Parameters
    ----------
    booster : xgboost.Booster or scikit-learn wrapper
        The model.
    options : CompileOptions, optional
        How to compile it.
    compiler : str or os.PathLike, optional
        The C compiler (see :func:`~lecture_utils.compiled.toolchain.find_compiler`).
    sample : numpy.ndarray, optional
        Inputs (m, n_features) for ``options.annotate``.
    use_cache : bool, optional
        ``False``: always build and keep nothing on disk (the library lives on in this process
        only; it cannot be pickled).
    verify : bool, optional
        Compare the new library with XGBoost on
        :func:`~lecture_utils.compiled.inputs.probe_matrix` inputs.

    Returns
    -------
    CompiledModel
        The loaded library; ``info["cache"]`` is ``"hit"``, ``"miss"`` or ``"off"``.

    Raises
    ------
    CompilationError
        If no compiler is found, the build fails, or the verification against XGBoost fails.
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
    if not use_cache:
        return _build_entry(booster, raw, n_features, n_trees, key, cc, options, sample, verify,
                            use_cache)
    with building(folder):  # one process compiles, the others wait and load its library
        if (folder / "build.json").exists():
            try:
                model = CompiledModel.load(folder, n_features, n_trees)
                model.info["cache"] = "hit"
                _LOADED[key] = model
                return model
            except (CompilationError, OSError, ValueError) as exc:
                warnings.warn(f"cached library {folder} unusable ({exc}); rebuilding",
                              UserWarning, stacklevel=2)
        return _build_entry(booster, raw, n_features, n_trees, key, cc, options, sample, verify,
                            use_cache)


def _build_entry(booster: Any, raw: bytes, n_features: int, n_trees: int, key: str,
                 cc: tuple[str, str], options: CompileOptions, sample: np.ndarray | None,
                 verify: bool, use_cache: bool) -> CompiledModel:
    """Build, verify and (with ``use_cache``) install the library of cache entry ``key``."""
    root = cache_dir("compiled")
    folder = root / key
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
                 "sha256": file_sha256(tmp / "model.so"), "created": time.time()}
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
