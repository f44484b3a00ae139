"""Build one edition of the book: the instructor edition (solutions in collapsed dropdowns, what
``make book`` builds into ``_build/html``) or the student edition (``make book-student``: the same
pages with every exercise solution removed — no solution text, code or output in the HTML).

The student edition is the book's ``_config.yml`` with one Sphinx setting changed,
``hide_solutions: true`` of sphinx-exercise (booktools makes it remove the gated
``{solution-start}`` … ``{solution-end}`` ranges too, code cells included). It is built like
``jupyter-book build . -W -n --keep-going`` but into its own folder, ``_build/student/html``
(``jupyter-book build --path-output P`` can only write to ``P/_build/html``), with its own
doctrees (``_build/student/.doctrees``: the two editions' doctrees differ). The notebook outputs
come from the same execution cache as ``make book``: ``execute.cache`` in ``_config.yml`` is
``_build/.jupyter_cache``, a path relative to the working directory (MyST-NB does not place it
under the output folder when it is set), so a student build after ``make book`` executes nothing.

Usage (from the repository root)::

    python book/_ext/editions.py student                 # _build/student/html
    python book/_ext/editions.py student --execute off --output /tmp/student/html
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

EDITIONS: dict[str, dict[str, Any]] = {
    "instructor": {"output": "_build/html", "sphinx": {}},
    "student": {"output": "_build/student/html", "sphinx": {"hide_solutions": True}},
}
"""Each edition's output folder (relative to the repository root) and the Sphinx settings that
it changes in ``_config.yml``."""

EXECUTE_MODES = ("cache", "off", "force", "auto", "inline")
"""MyST-NB execution modes (``execute.execute_notebooks``); ``_config.yml`` says ``cache``."""


def build(edition: str, *, output: str | Path | None = None, execute: str | None = None,
          root: str | Path = ROOT, strict: bool = True, quiet: bool = False) -> int:
    """Build ``edition`` of the book under ``root`` into ``output`` (default: the edition's folder).

    ``execute`` overrides ``execute.execute_notebooks`` of ``_config.yml`` (``"off"`` for a quick
    build without outputs). ``strict`` is ``-W -n --keep-going`` as in ``make book``. Returns the
    Sphinx exit status (0: success).
    """
    from jupyter_book.sphinx import build_sphinx

    if edition not in EDITIONS:
        raise ValueError(f"unknown edition {edition!r}; one of {sorted(EDITIONS)}")
    root = Path(root).resolve()
    settings = EDITIONS[edition]
    out = Path(output) if output is not None else root / settings["output"]
    overrides: dict[str, Any] = {
        # what `jupyter-book build` itself passes for a book
        "external_toc_path": (root / "_toc.yml").as_posix(),
        "latex_individualpages": False,
        **settings["sphinx"],
    }
    if strict:
        overrides["nitpicky"] = True
    if execute is not None:
        if execute not in EXECUTE_MODES:
            raise ValueError(f"unknown execution mode {execute!r}; one of {EXECUTE_MODES}")
        overrides["nb_execution_mode"] = execute
    result = build_sphinx(
        root, out.resolve(), use_external_toc=True, noconfig=True,
        path_config=(root / "_config.yml").as_posix(), confoverrides=overrides,
        warningiserror=strict, keep_going=strict, quiet=quiet)
    if isinstance(result, Exception):
        raise result
    return int(result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("edition", choices=sorted(EDITIONS))
    parser.add_argument("--output", help="the HTML folder (default: the edition's own)")
    parser.add_argument("--execute", choices=EXECUTE_MODES,
                        help="notebook execution mode (default: _config.yml's, cache)")
    parser.add_argument("--no-strict", action="store_true",
                        help="warnings are not errors (default: -W -n --keep-going)")
    args = parser.parse_args(argv)
    status = build(args.edition, output=args.output, execute=args.execute,
                   strict=not args.no_strict)
    if status == 0:
        out = args.output or EDITIONS[args.edition]["output"]
        print(f"{args.edition} edition built: {Path(out) / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
