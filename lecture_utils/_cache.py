"""Where derived artefacts (trained models, compiled libraries, tuning studies) are cached.

Artefacts are keyed by a content hash of everything they are built from, so a stale artefact is
never reused: change the data, the hyperparameters or the code that computes them and the key
changes. The code enters through :func:`code_fingerprint`, which ignores docstrings, comments and
formatting, so editing documentation keeps every cache. The folder is ``$LECTURE_UTILS_CACHE`` if
set, else the user cache folder of the platform (:func:`platformdirs.user_cache_path`: on Linux
``$XDG_CACHE_HOME/lecture_utils``, else ``~/.cache/lecture_utils``; on macOS
``~/Library/Caches/lecture_utils``). Deleting it is safe.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

try:  # POSIX; elsewhere artefacts are built without a lock (atomic installs stay safe)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

import platformdirs

ENV_VAR = "LECTURE_UTILS_CACHE"

CODE_SUFFIXES = (".py", ".c", ".h")
"""Files of a package that :func:`code_fingerprint` reads."""


def cache_dir(*parts: str) -> Path:
    """The cache folder (created), optionally a sub-folder of it.

    Parameters
    ----------
    *parts : str
        Names of nested sub-folders.

    Returns
    -------
    pathlib.Path
        ``$LECTURE_UTILS_CACHE/<parts>`` if the variable is set (and not empty), else
        ``<user cache folder>/lecture_utils/<parts>`` (:func:`platformdirs.user_cache_path`; on
        Linux ``$XDG_CACHE_HOME/lecture_utils``, else ``~/.cache/lecture_utils``).
    """
    root = os.environ.get(ENV_VAR)
    base = Path(root) if root else platformdirs.user_cache_path("lecture_utils", appauthor=False)
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def building(entry: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the build lock of one cache entry: one process at a time builds it, the others wait
    and then find it built.

    An exclusive advisory lock (:func:`fcntl.flock`) on a file named by a hash of ``entry``'s
    absolute path in ``cache_dir("locks")`` (so cache folders hold only entries), released when
    the block ends or the process dies. Check for the entry again inside the block: another
    process may have built it while this one waited. Entries are still installed atomically (a
    rename), so readers that take no lock never see a half-written one.

    Parameters
    ----------
    entry : str or os.PathLike
        The path of the cache entry (file or folder) to build.

    Yields
    ------
    None
        Inside the block this process is the only one building ``entry``.
    """
    path = Path(entry)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    with open(cache_dir("locks") / f"{name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def content_hash(*items: Any) -> str:
    """SHA-256 over JSON-serialisable items and raw ``bytes``, in order.

    Parameters
    ----------
    *items : Any
        ``bytes``-like objects are hashed as they are; anything else as sorted-key JSON
        (objects JSON cannot encode through ``str``).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            h.update(b"b")
            h.update(bytes(item))
        else:
            h.update(b"j")
            h.update(json.dumps(item, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _is_string_statement(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove every bare string statement: docstrings of modules, classes and functions, and the
    attribute docstrings that follow assignments."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and any(isinstance(s, ast.stmt) for s in body):
                kept = [s for s in body if not _is_string_statement(s)]
                setattr(node, name, kept or [ast.Pass()])
    return tree


_C_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _file_fingerprint(path: str, mtime_ns: int, size: int) -> str:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".py"):
        canonical = ast.dump(_strip_docstrings(ast.parse(text)), include_attributes=False)
    else:  # C: comments and whitespace do not change the compiled code
        canonical = " ".join(_C_COMMENT.sub(" ", text).split())
    return hashlib.sha256(canonical.encode()).hexdigest()


def _module_files(module: ModuleType) -> list[Path]:
    file = getattr(module, "__file__", None)
    if file is None:
        raise ValueError(f"module {module.__name__!r} has no source file to fingerprint")
    path = Path(file).resolve()
    if path.name != "__init__.py":
        return [path]
    return sorted(p for p in path.parent.rglob("*")
                  if p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts)


def code_fingerprint(*modules: ModuleType | str) -> str:
    """A hash of the code of modules, blind to docstrings, comments and formatting.

    Python files are compared by their syntax tree with every docstring removed; C files by
    their text with comments removed and whitespace collapsed. A package stands for every code
    file under its folder.

    Parameters
    ----------
    *modules : module or str
        Modules or packages, as objects or dotted names (``"lecture_utils.surrogate"``).

    Returns
    -------
    str
        64 hexadecimal digits; equal for two states of the code that differ only in
        documentation, comments or layout.

    Raises
    ------
    ValueError
        If no module is given or one has no source file.
    """
    if not modules:
        raise ValueError("code_fingerprint needs at least one module")
    h = hashlib.sha256()
    for module in modules:
        mod = importlib.import_module(module) if isinstance(module, str) else module
        root = Path(mod.__file__).resolve().parent if mod.__file__ else None
        for path in _module_files(mod):
            st = path.stat()
            rel = path.relative_to(root).as_posix() if root else path.name
            h.update(f"{mod.__name__}:{rel}\0".encode())
            h.update(_file_fingerprint(str(path), st.st_mtime_ns, st.st_size).encode())
    return h.hexdigest()


def package_fingerprint() -> str:
    """A hash of everything in the package that results can depend on: the code of every module
    (as :func:`code_fingerprint`) and the bytes of the shipped files.

    Returns
    -------
    str
        64 hexadecimal digits; unchanged by edits to documentation, comments or layout.
    """
    from ._paths import RESOURCES_DIR

    h = hashlib.sha256(code_fingerprint(__name__.rpartition(".")[0]).encode())
    for path in sorted(p for p in RESOURCES_DIR.rglob("*") if p.is_file()):
        h.update(path.relative_to(RESOURCES_DIR).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
