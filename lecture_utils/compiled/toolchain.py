"""The C compiler: finding it, running it, and the errors of compilation.

Everything in :mod:`lecture_utils.compiled` that builds C — the model libraries
(:mod:`~lecture_utils.compiled.build`) and the CPython extension that calls them
(:func:`~lecture_utils.compiled.runtime.fast_caller`) — finds its compiler with
:func:`find_compiler` and runs it with :func:`run_compiler`, so that every failure is a
:class:`CompilationError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "COMPILER_ENV",
    "CompilationError",
    "CompilationFallbackWarning",
    "find_compiler",
    "run_compiler",
]

COMPILER_ENV: str = "LECTURE_UTILS_CC"
"""Environment variable naming the C compiler (else ``$CC``, else ``gcc``)."""


class CompilationError(RuntimeError):
    """Building, loading or verifying a compiled library failed."""


class CompilationFallbackWarning(UserWarning):
    """A model could not be compiled; predictions come from XGBoost instead (same results)."""


def find_compiler(compiler: str | os.PathLike[str] | None = None) -> tuple[str, str] | None:
    """The C compiler to use.

    Parameters
    ----------
    compiler : str or os.PathLike, optional
        A name on ``PATH`` or a path; it wins over ``$LECTURE_UTILS_CC``, ``$CC`` and ``gcc``
        (tried in that order).

    Returns
    -------
    tuple of (str, str) or None
        ``(absolute path, first line of --version)``, or ``None`` if the compiler does not exist
        or does not answer ``--version``. The answer is memoised per path.
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


def run_compiler(cmd: list[str], cwd: Path, timeout_s: float) -> None:
    """Run one compiler or linker command.

    Parameters
    ----------
    cmd : list of str
        The command line, the compiler first.
    cwd : pathlib.Path
        Working folder of the command.
    timeout_s : float
        Limit for the command, seconds.

    Raises
    ------
    CompilationError
        If the command cannot start, runs past ``timeout_s`` or exits with a non-zero status
        (the message ends with the last 2,000 characters of its standard error).
    """
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompilationError(f"{Path(cmd[0]).name} failed to run: {exc}") from exc
    if res.returncode != 0:
        raise CompilationError(f"{' '.join(Path(c).name for c in cmd[:3])} … exited with "
                               f"{res.returncode}:\n{res.stderr[-2000:]}")
