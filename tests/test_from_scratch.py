"""The chapters' from-scratch implementations equal the package's.

A method chapter first writes its algorithm out in a few lines of numpy, runs it on a small case
and asserts it equal (or statistically consistent) to the package's version, which the rest of the
chapter then uses. Those cells carry the tag ``from-scratch``, and so do the (cheap) cells they
need, such as a toy data set; they import what they use themselves. This test runs them — in
order, one namespace per chapter, outside the book — so every assertion in them is a unit test: a
change to the package that breaks the agreement fails here in seconds, not ten minutes into nbval.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
TAG = "from-scratch"

METHOD_CHAPTERS = (
    "01_statistics", "02_surrogates", "03_active_learning", "04_tuning", "05_compilation",
    "06_shap", "07_mcmc")
"""Chapters that teach an algorithm and so must show it from scratch."""


def from_scratch_cells(chapter: Path) -> list[str]:
    """Sources of the code cells of ``chapter`` tagged ``from-scratch``, in order."""
    notebook = jupytext.read(chapter)
    return ["".join(cell.source) for cell in notebook.cells
            if cell.cell_type == "code" and TAG in cell.metadata.get("tags", [])]


@pytest.mark.parametrize("name", METHOD_CHAPTERS)
def test_every_method_chapter_has_a_from_scratch_part(name: str) -> None:
    assert from_scratch_cells(ROOT / "notebooks" / f"{name}.md"), (
        f"notebooks/{name}.md has no code cell tagged {TAG!r}")


@pytest.mark.parametrize("name", METHOD_CHAPTERS)
def test_from_scratch_equals_the_package(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = from_scratch_cells(ROOT / "notebooks" / f"{name}.md")
    if not cells:
        pytest.skip("no from-scratch cell (the test above fails)")
    matplotlib.use("Agg")
    monkeypatch.chdir(ROOT / "notebooks")
    namespace: dict = {"__name__": f"from_scratch_{name}"}
    for i, source in enumerate(cells):
        code = compile(source, f"notebooks/{name}.md [from-scratch cell {i + 1}]", "exec")
        exec(code, namespace)  # noqa: S102 - the book's own cells
    assert os.getcwd() == str(ROOT / "notebooks")


def test_the_harness_fails_on_a_broken_cell(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "```{code-cell} ipython3\n:tags: [from-scratch]\n\nassert 1 + 1 == 3\n```\n",
        encoding="utf-8")
    (source,) = from_scratch_cells(page)
    with pytest.raises(AssertionError):
        exec(compile(source, "page", "exec"), {})  # noqa: S102
