"""The two editions of the book (book/_ext/editions.py): the instructor edition (``make book``,
solutions in collapsed dropdowns) and the student edition (``make book-student``, every solution
removed — no solution text, code or output in the HTML).

Fast: the student target and its setting; the removal itself on a small Sphinx project with a
gated solution around a code cell. Slow: both editions of the real book built without execution,
every chapter checked.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import booktools as book  # book/_ext, on the path by tests/conftest.py
import editions
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = book.toc_chapters(ROOT / "_toc.yml")
# sphinx-exercise's markup: an exercise admonition; a solution admonition and its content section
EXERCISE_CLASS = re.compile(r'class="exercise\b')
SOLUTION_MARKUP = re.compile(r'class="solution\b|id="solution-content"|class="solution-title"')
# a sentence of the first solution of chapter 1 (its interpretation of the Δχ² cut)
KNOWN_SOLUTION_SENTENCE = ("therefore complete up to those levels", "notebooks/01_statistics")


def test_student_edition_is_the_book_with_hide_solutions() -> None:
    student = editions.EDITIONS["student"]
    assert student["sphinx"] == {"hide_solutions": True}
    assert student["output"] == "_build/student/html"
    assert editions.EDITIONS["instructor"] == {"output": "_build/html", "sphinx": {}}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = makefile.split("\nbook-student:", 1)[1].split("\n\n", 1)[0]
    assert "book/_ext/editions.py student" in rule
    assert "nb-cache" in rule.splitlines()[0], "the student edition shares the notebook cache"
    assert "make book-student" in "\n".join(makefile.splitlines()[2:12]), "make help lists it"
    assert "make book-student" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_both_editions_share_the_notebook_execution_cache() -> None:
    """``execute.cache`` is relative to the working directory (the repository root), not to the
    output folder: the student build reads the outputs that `make book` cached."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["cache"] == "_build/.jupyter_cache"
    assert "cache" not in str(editions.EDITIONS["student"]["sphinx"])


TOY_CHAPTER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # Toy chapter

    ```{exercise}
    :label: ex-toy-1

    Compute the answer.
    ```

    ```{solution-start} ex-toy-1
    :class: dropdown
    ```

    The answer is SOLUTION_PROSE.

    ```{code-cell} ipython3
    print("SOLUTION_CODE")
    ```

    ```{solution-end}
    ```

    AFTER_THE_SOLUTION stays.
    """)


def _build_toy(tmp_path: Path, *, hide: bool) -> str:
    """The toy chapter built by Sphinx: its HTML page followed by its downloadable source."""
    src = tmp_path / ("student" if hide else "instructor")
    src.mkdir()
    (src / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
        extensions = ["myst_nb", "sphinx_exercise", "booktools"]
        nb_execution_mode = "off"
        hide_solutions = {hide}
        """))
    (src / "index.md").write_text(TOY_CHAPTER)
    out = src / "_build"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src),
                          str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (source,) = (out / "_sources").glob("index.md*")  # index.md.txt: Sphinx's default suffix
    return (out / "index.html").read_text(encoding="utf-8") + source.read_text(encoding="utf-8")


def test_hide_solutions_removes_a_gated_solution_with_its_code_cell(tmp_path: Path) -> None:
    """sphinx-exercise's own ``hide_solutions`` drops only the ``{solution-start}`` directive: the
    prose and code cells up to ``{solution-end}`` would stay on the page, and the orphaned end node
    fails the HTML writer. booktools removes the whole range, from the page and from the source
    that the page offers for download."""
    student = _build_toy(tmp_path, hide=True)
    instructor = _build_toy(tmp_path, hide=False)
    for page in (student, instructor):
        assert EXERCISE_CLASS.search(page) and "AFTER_THE_SOLUTION" in page
    for marker in ("SOLUTION_PROSE", "SOLUTION_CODE"):
        assert marker in instructor
        assert marker not in student
    assert SOLUTION_MARKUP.search(instructor)
    assert not SOLUTION_MARKUP.search(student)


def test_strip_solutions_from_the_downloadable_sources() -> None:
    text = book.strip_solutions(TOY_CHAPTER)
    assert "SOLUTION_" not in text and "solution-" not in text
    assert "Compute the answer." in text and "AFTER_THE_SOLUTION" in text
    # a notebook as MyST-NB writes it: the solution-start in the exercise's markdown cell
    cells = [
        ("markdown", "```{exercise}\n:label: ex-1\n\nDo it.\n```\n\n```{solution-start} ex-1\n"
                     ":class: dropdown\n```\n\nThe answer is SOLUTION_PROSE."),
        ("code", 'print("SOLUTION_CODE")'),
        ("markdown", "More SOLUTION_PROSE.\n\n```{solution-end}\n```\n\nAFTER_THE_SOLUTION"),
        ("code", 'print("kept")'),
    ]
    notebook = {"nbformat": 4, "cells": [{"cell_type": kind, "metadata": {}, "source": source}
                                         for kind, source in cells]}
    stripped = book.strip_notebook_solutions(notebook)
    kept = ["".join(cell["source"]) for cell in stripped["cells"]]
    assert [cell["cell_type"] for cell in stripped["cells"]] == ["markdown", "markdown", "code"]
    assert "Do it." in kept[0] and "AFTER_THE_SOLUTION" in kept[1] and kept[2] == 'print("kept")'
    assert not any("SOLUTION_" in text or "solution-" in text for text in kept)
    for chapter in CHAPTERS:
        source = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
        stripped_source = book.strip_solutions(source)
        assert "{solution-" not in stripped_source, chapter
        assert stripped_source.count("{exercise}") == source.count("{exercise}") > 0, chapter


# ---------------------------------------------------------------------------------------------
# the real book (slow: two Sphinx builds without notebook execution, about a minute each)
# ---------------------------------------------------------------------------------------------
_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
# a code cell's options (``:tags:`` lines, or a ``---`` YAML block with a figure caption)
_CELL_OPTIONS = re.compile(r"\A(?:---\n.*?^---\n|(?::[\w-]+:.*\n)+)", re.MULTILINE | re.DOTALL)
_SOLUTION_RANGE = re.compile(r"^```\{solution-start\}.*?^```\{solution-end\}", re.MULTILINE
                             | re.DOTALL)


def solution_code_lines(chapter: str) -> list[str]:
    """Code lines that occur once in the chapter, inside a solution (one per solution)."""
    text = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        counts[line.strip()] = counts.get(line.strip(), 0) + 1
    found = []
    for solution in _SOLUTION_RANGE.findall(text):
        lines = [line.strip() for cell in _CODE_CELL.findall(solution)
                 for line in _CELL_OPTIONS.sub("", cell).splitlines()]
        unique = [line for line in lines if counts[line] == 1 and len(line) > 20
                  and not line.startswith("#")]
        if unique:
            found.append(max(unique, key=len))
    return found


def page_text(page: str) -> str:
    """The text of an HTML page (tags dropped, entities decoded): highlighted code reads as
    written."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def built_editions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("editions")
    folders = {}
    for edition in ("instructor", "student"):
        folder = out / edition / "html"
        run = subprocess.run(
            [sys.executable, str(ROOT / "book" / "_ext" / "editions.py"), edition,
             "--execute", "off", "--no-strict", "--output", str(folder)],
            cwd=ROOT, capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, run.stderr[-5000:]
        folders[edition] = folder
    return folders


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_edition_has_exercises_but_no_solutions(
        built_editions: dict[str, Path], chapter: str) -> None:
    pages = {edition: (folder / f"{chapter}.html").read_text(encoding="utf-8")
             for edition, folder in built_editions.items()}
    texts = {edition: page_text(page) for edition, page in pages.items()}
    code = solution_code_lines(chapter)
    assert code, f"no solution code found in {chapter}"
    n_exercises = len(EXERCISE_CLASS.findall(pages["instructor"]))
    assert n_exercises > 0
    assert len(EXERCISE_CLASS.findall(pages["student"])) == n_exercises
    assert SOLUTION_MARKUP.search(pages["instructor"])
    assert not SOLUTION_MARKUP.search(pages["student"])
    for line in code:
        assert line in texts["instructor"], line
        assert line not in texts["student"], line
    sentence, where = KNOWN_SOLUTION_SENTENCE
    if chapter == where:
        assert sentence in texts["instructor"]
        assert sentence not in texts["student"]
    # the page's download buttons: the chapter as .md and as .ipynb, without the solutions
    for suffix in (".md", ".ipynb"):
        downloads = {edition: (folder / "_sources" / f"{chapter}{suffix}").read_text(
            encoding="utf-8") for edition, folder in built_editions.items()}
        assert "{solution-start}" in downloads["instructor"]
        assert "{solution-" not in downloads["student"]
        assert "{exercise}" in downloads["student"]
