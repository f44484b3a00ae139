"""The call from Python into a compiled library: :class:`CompiledModel` and its caller.

A library exports ``lu_predict_batch`` (``csrc/shim.c``), which predicts a whole C-contiguous
float32 matrix in one call, on up to ``n_threads`` POSIX threads. :class:`CompiledModel` loads
a library with ctypes, checks it (checksum, ABI version, feature count) and calls it through the
small CPython extension of :func:`fast_caller` (``csrc/caller.c``) — or through ctypes, the
slower way, where that extension cannot be built. No pointer reaches C before the matrix passed
:func:`~lecture_utils.compiled.inputs.check_matrix`.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._cache import cache_dir, content_hash
from .codegen import ABI_VERSION, c_source
from .inputs import check_matrix
from .toolchain import CompilationError, find_compiler, run_compiler

__all__ = [
    "CALLER_SOURCE",
    "WORK_PER_THREAD",
    "CompiledModel",
    "NanPolicy",
    "build_extension",
    "fast_caller",
    "file_sha256",
    "rows_per_thread",
]

log = logging.getLogger(__name__)

NanPolicy = Literal["raise", "missing"]
"""What a NaN in the inputs means: an error (``"raise"``) or a missing value (``"missing"``,
XGBoost's default-direction semantics)."""

_F32 = np.dtype(np.float32)

WORK_PER_THREAD: int = 131072
"""The C shim starts another thread only for every ``WORK_PER_THREAD / n_trees`` rows (at least
8), i.e. for a few milliseconds of work: starting a thread has a fixed cost, and on a busy
machine a new thread can wait for a core longer than the work it would take over."""


def rows_per_thread(n_trees: int) -> int:
    """Fewest rows worth a thread of their own for a model of ``n_trees`` trees."""
    return max(8, -(-WORK_PER_THREAD // max(1, int(n_trees))))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (64 hexadecimal digits): the checksum of a library recorded in
    its ``build.json`` and checked when it is loaded."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


CALLER_SOURCE: str = c_source("caller.c")
"""C source of the CPython extension that calls the libraries (``csrc/caller.c``; see
:func:`fast_caller`). ``LU_MODULE_NAME`` in it is replaced by the extension's name."""

_CALLER: list[Any] = []  # [module or None], once per process


def fast_caller(compiler: str | os.PathLike[str] | None = None) -> Any | None:
    """The compiled caller extension (built once and cached), or ``None`` if it cannot be built.

    A ctypes call converts seven Python arguments and two array addresses on every call, which
    for one row costs about as much as walking the trees. This small CPython extension
    (:data:`CALLER_SOURCE`, compiled with the same C compiler against this Python's and numpy's
    headers, cached by their versions) checks the two arrays with numpy's C API and makes the
    call for a fraction of that. Without the headers or a compiler it is ``None`` and
    :class:`CompiledModel` keeps using ctypes (same results, slower single rows).

    Parameters
    ----------
    compiler : str or os.PathLike, optional
        The C compiler (see :func:`~lecture_utils.compiled.toolchain.find_compiler`); only the
        first call in a process builds or loads the extension.

    Returns
    -------
    module or None
        The extension, with one function ``call(fn, x, out, margin, nan_missing, nthread,
        min_rows_per_thread) -> int``, or ``None``.
    """
    if _CALLER:
        return _CALLER[0]
    try:
        module = build_extension("_lu_caller", CALLER_SOURCE, compiler)
    except (CompilationError, OSError, ImportError) as exc:
        log.info("fast caller unavailable (%s); using ctypes", exc)
        module = None
    _CALLER.append(module)
    return module


def build_extension(prefix: str, source: str, compiler: str | os.PathLike[str] | None = None,
                    flags: tuple[str, ...] = ()) -> Any:
    """Compile a CPython extension from one C file (or load it from the cache) and import it.

    The cache key hashes the source, the compiler and its version, ``flags``, the Python and
    numpy versions and the platform; the extension is built under
    ``cache_dir("compiled", "caller")`` against this Python's and numpy's headers.

    Parameters
    ----------
    prefix : str
        Start of the module's name; ``LU_MODULE_NAME`` in ``source`` is replaced by the name.
    source : str
        The C source.
    compiler : str or os.PathLike, optional
        The C compiler (see :func:`~lecture_utils.compiled.toolchain.find_compiler`).
    flags : tuple of str, optional
        Extra compiler flags.

    Returns
    -------
    module
        The imported extension.

    Raises
    ------
    CompilationError
        Without a C compiler or Python's headers, or if the build fails.
    """
    import importlib.machinery
    import importlib.util
    import sysconfig

    cc = find_compiler(compiler)
    include = sysconfig.get_paths()["include"]
    if cc is None or not (Path(include) / "Python.h").exists():
        raise CompilationError("no C compiler or no Python headers")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    extra = [list(flags)] if flags else []  # no flags: the key of the original caller
    key = content_hash("caller", source, list(cc), sys.version, np.__version__,
                       platform.machine(), suffix, *extra)[:16]
    name = f"{prefix}_{key}"
    folder = cache_dir("compiled", "caller")
    path = folder / f"{name}{suffix}"
    if not path.exists():
        tmp = folder / f".{name}.{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            src = tmp / "ext.c"
            src.write_text(source.replace("LU_MODULE_NAME", name))
            run_compiler([cc[0], "-shared", "-fPIC", "-O2", "-std=gnu99", "-pthread", *flags,
                          f"-I{include}", f"-I{np.get_include()}", src.name, "-o", path.name],
                         tmp, 120.0)
            os.replace(tmp / path.name, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CompilationError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class CompiledModel:
    """One booster compiled to a shared library and loaded with ctypes.

    Build it with :func:`~lecture_utils.compiled.surrogate.compile_booster` or
    :func:`~lecture_utils.compiled.build.compile_booster_library`. :meth:`predict` takes a
    validated float32 matrix (n, n_features) and returns float32 (n,) in ONE C call.
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
        if file_sha256(lib_path) != info.get("sha256"):
            raise CompilationError(f"{lib_path} does not match its recorded checksum")
        try:
            lib = ctypes.CDLL(str(lib_path), mode=os.RTLD_LOCAL)
        except OSError as exc:
            raise CompilationError(f"cannot load {lib_path}: {exc}") from exc
        lib.lu_abi_version.restype = ctypes.c_int32
        lib.lu_num_feature.restype = ctypes.c_int32
        if lib.lu_abi_version() != ABI_VERSION or lib.lu_num_feature() != n_features:
            raise CompilationError(f"{lib_path}: ABI {lib.lu_abi_version()} / "
                                   f"{lib.lu_num_feature()} features, expected {ABI_VERSION} / "
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
        """Predictions for ``x`` (validated by
        :func:`~lecture_utils.compiled.inputs.check_matrix`), float32, shape (n,).

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
    """Address of the first element of a non-empty array. ``ctypes.c_char.from_buffer`` is
    cheaper than ``a.ctypes.data`` (which builds a helper object) — it matters on the single-row
    path; read-only arrays, which it refuses, take the slower way."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return int(a.ctypes.data)
