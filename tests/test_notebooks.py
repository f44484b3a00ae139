"""nbval over every notebook of the book, from a fresh kernel.

nbval only collects ``.ipynb`` files, while our notebooks are jupytext MyST ``.md`` files. Each
notebook is therefore converted with jupytext into a temporary folder and run by nbval in a
separate ``pytest`` process (:data:`NOTEBOOK_WORKERS` notebooks at a time) in lax mode
(``--nbval-lax``: every cell is executed, a cell that raises fails the test, outputs are not
compared), with a generous per-cell timeout.

Conventions, shared with the book build (MyST-NB executes a notebook in its own folder):

* the kernel's working directory is the folder of the notebook's source — ``notebooks/`` for the
  chapters (a first, injected cell changes into it, because nbval starts the kernel in the folder of
  the converted ``.ipynb``);
* the kernel environment has ``MPLBACKEND=Agg`` and ``LECTURE_UTILS_PROGRESS=0``;
* the inner pytest run uses this repository's pytest configuration (``filterwarnings = error``
  with explicitly filtered third-party noise).

A cell may be expected to raise if it carries the ``raises-exception`` tag, which both nbval and
MyST-NB honour.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
BOOK_DIR = ROOT / "book"

CELL_TIMEOUT_S = 600  # per cell, as in the book build (_config.yml: execute.timeout)
KERNEL_STARTUP_TIMEOUT_S = 180  # a loaded 2-core CI machine can be slow to start a kernel
NOTEBOOK_TIMEOUT_S = 1200  # the whole nbval run of one notebook, beside another one
KERNEL_ENV = {"MPLBACKEND": "Agg", "LECTURE_UTILS_PROGRESS": "0"}


def is_notebook(path: Path) -> bool:
    """A MyST ``.md`` file is a notebook when its jupytext header declares a kernel."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    return "kernelspec" in jupytext.reads(text, fmt="md:myst").metadata


def all_notebooks() -> list[Path]:
    """Every chapter in ``notebooks/`` and every notebook page of ``book/`` that the book builds
    (listed in ``_toc.yml``, e.g. the status page)."""
    chapters = sorted(NOTEBOOK_DIR.glob("*.md"))
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?:file|root):\s*(book/[\w./-]+)", toc))
    pages = [
        p for p in sorted(BOOK_DIR.glob("*.md"))
        if p.relative_to(ROOT).with_suffix("").as_posix() in listed and is_notebook(p)
    ]
    return chapters + pages


def to_ipynb(source: Path, dest_dir: Path, *, kernel_cwd: Path | None = None) -> Path:
    """Convert the jupytext notebook ``source`` to ``dest_dir/<stem>.ipynb``.

    A first code cell changes the kernel's working directory to ``kernel_cwd`` (default: the
    folder of ``source``), so that relative paths behave as in the book build.
    """
    kernel_cwd = (kernel_cwd or source.parent).resolve()
    nb = jupytext.read(source)
    setup = nbformat.v4.new_code_cell(
        f"import os as _os\n_os.chdir({str(kernel_cwd)!r})\ndel _os",
        metadata={"tags": ["nbval-setup"]},
    )
    nb.cells.insert(0, setup)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{source.stem}.ipynb"
    nbformat.write(nb, target)
    return target


def run_nbval(ipynb: Path, *, timeout: float = NOTEBOOK_TIMEOUT_S,
              environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run nbval (lax) on one ``.ipynb`` in a fresh ``pytest`` process; return that process.
    ``environ`` (default: this process's environment now) is the environment it starts from."""
    env = {k: v for k, v in (environ or os.environ).items() if k != "PYTEST_ADDOPTS"} | KERNEL_ENV
    command = [
        sys.executable, "-m", "pytest", str(ipynb),
        "-c", str(ROOT / "pyproject.toml"),  # our config: filterwarnings = error, strict markers
        "--rootdir", str(ipynb.parent),
        "-p", "no:cacheprovider",
        "--nbval-lax",
        "--nbval-current-env",  # the kernel runs in this interpreter's environment (.venv)
        f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
        f"--nbval-kernel-startup-timeout={KERNEL_STARTUP_TIMEOUT_S}",
        "-q", "--no-header",
    ]
    return subprocess.run(
        command, cwd=ipynb.parent, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _report(result: subprocess.CompletedProcess, limit: int = 8000) -> str:
    """nbval's report (kernel tracebacks without colour codes), truncated at the front."""
    output = ANSI_ESCAPE.sub("", result.stdout + result.stderr).strip()
    return output if len(output) <= limit else "…\n" + output[-limit:]


NOTEBOOK_WORKERS = int(os.environ.get("LECTURE_UTILS_NOTEBOOK_WORKERS", "2"))
"""Notebooks executed at the same time (each in its own nbval process and kernel)."""


EARLY_VAR = "LECTURE_UTILS_NOTEBOOKS_EARLY"
"""Set to ``0`` to start the notebooks only when the first notebook test runs."""


class NotebookRuns:
    """nbval on every selected notebook, :data:`NOTEBOOK_WORKERS` at a time, the largest first
    (a proxy for the longest), each in a fresh process started from the environment of the moment
    the runs were started (so that a test module's temporary cache never leaks into a kernel).
    Kernels share the session's artefact cache (atomic writes)."""

    def __init__(self, notebooks: list[Path]) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="nbval-")
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, NOTEBOOK_WORKERS))
        environ = dict(os.environ)
        self.futures: dict[Path, cf.Future[subprocess.CompletedProcess]] = {}
        for k, notebook in enumerate(sorted(notebooks, key=lambda p: -p.stat().st_size)):
            ipynb = to_ipynb(notebook, Path(self._tmp.name) / f"nb{k}")
            self.futures[notebook] = self._pool.submit(self._timed, notebook, ipynb, environ)

    def _timed(self, notebook: Path, ipynb: Path, environ: dict[str, str]
               ) -> subprocess.CompletedProcess:
        start = time.perf_counter()
        try:
            return run_nbval(ipynb, environ=environ)
        finally:
            SECONDS[notebook.relative_to(ROOT).as_posix()] = time.perf_counter() - start

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        self._tmp.cleanup()


_EARLY: NotebookRuns | None = None

SECONDS: dict[str, float] = {}
"""Wall-clock seconds of each finished nbval run (the notebooks run in the background, so
``--durations`` does not show them; ``tests/conftest.py`` prints these at the end)."""


def selected_notebooks(items: list[pytest.Item]) -> list[Path]:
    return [item.callspec.params["notebook"] for item in items
            if getattr(item, "originalname", "") == "test_notebook_executes"]


def start_early(items: list[pytest.Item]) -> None:
    """Start the notebooks as soon as the session is collected (``tests/conftest.py`` calls this
    from ``pytest_collection_finish``): they then run beside the unit tests, which leave one of
    the two cores mostly idle. Off with ``LECTURE_UTILS_NOTEBOOKS_EARLY=0``."""
    global _EARLY
    notebooks = selected_notebooks(items)
    if notebooks and os.environ.get(EARLY_VAR, "1") != "0" and _EARLY is None:
        _EARLY = NotebookRuns(notebooks)


def stop_early() -> None:
    """Cancel and close early runs that no test took over (``pytest_sessionfinish``)."""
    global _EARLY
    if _EARLY is not None:
        _EARLY.close()
        _EARLY = None


@pytest.fixture(scope="session")
def notebook_runs(request: pytest.FixtureRequest
                  ) -> Iterator[dict[Path, cf.Future[subprocess.CompletedProcess]]]:
    """The nbval runs of the selected notebooks: those started early, or started now."""
    global _EARLY
    runs = _EARLY or NotebookRuns(selected_notebooks(request.session.items))
    _EARLY = None
    yield runs.futures
    runs.close()


@pytest.mark.notebook
@pytest.mark.parametrize(
    "notebook", all_notebooks(), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_notebook_executes(
        notebook: Path, notebook_runs: dict[Path, cf.Future[subprocess.CompletedProcess]]) -> None:
    result = notebook_runs[notebook].result()
    assert result.returncode == 0, f"{notebook.name} failed under nbval:\n{_report(result)}"


# ------------------------------------------------------------------ the runner can fail ---

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """
)


def _write_notebook(path: Path, *cells: str) -> Path:
    body = "\n".join(
        f"```{{code-cell}} ipython3\n{textwrap.dedent(c).strip()}\n```\n" for c in cells
    )
    path.write_text(HEADER + "\n# A test notebook\n\n" + body, encoding="utf-8")
    return path


@pytest.mark.notebook
def test_a_raising_cell_fails_the_notebook(tmp_path: Path) -> None:
    source = _write_notebook(
        tmp_path / "broken.md",
        "x = 1",
        "raise RuntimeError('deliberate failure ' + str(x))",
        "print('never reached')",
    )
    result = run_nbval(to_ipynb(source, tmp_path / "run"))
    assert result.returncode == 1, _report(result)
    assert "RuntimeError: deliberate failure 1" in _report(result)
    assert "1 failed, 3 passed" in _report(result)  # nbval goes on with the later cells


@pytest.mark.notebook
def test_kernel_environment_and_working_directory(tmp_path: Path) -> None:
    """The contract of the notebooks: cwd = notebooks/, headless matplotlib, no progress bars;
    a cell tagged raises-exception may raise."""
    source = _write_notebook(
        tmp_path / "contract.md",
        f"""
        import os
        from pathlib import Path
        assert Path.cwd() == Path({str(NOTEBOOK_DIR)!r}), Path.cwd()
        assert os.environ["LECTURE_UTILS_PROGRESS"] == "0"
        """,
        """
        import matplotlib
        assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        """,
        """
        from lecture_utils._progress import progress_enabled
        assert not progress_enabled()
        """,
    )
    text = source.read_text(encoding="utf-8")
    text += "\n```{code-cell} ipython3\n:tags: [raises-exception]\n1 / 0\n```\n"
    source.write_text(text, encoding="utf-8")
    result = run_nbval(to_ipynb(source, tmp_path / "run", kernel_cwd=NOTEBOOK_DIR))
    assert result.returncode == 0, _report(result)
    assert "5 passed" in result.stdout, _report(result)
