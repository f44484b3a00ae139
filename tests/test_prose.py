"""The text of the book: no lab log, every chapter a lecture, numbers glued rather than typed.

Checks over the prose of ``notebooks/*.md`` and ``book/*.md`` (code cells, math, inline code and
MyST roles removed first):

* no development history, issue numbers, references to design documents or "being written";
* every chapter has learning objectives, a summary and exercises, and its summary states at
  least one computed number through ``{glue:text}``;
* code lines fit the text column of the rendered page (:data:`CODE_WIDTH` characters);
* a typed number with three or more significant digits is one of the definitional constants of
  :data:`CONSTANTS` (confidence levels, thresholds, versions) — a result computed by the code is
  glued, never typed.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.md"))
PAGES = CHAPTERS + sorted((ROOT / "book").glob("*.md"))

CODE_WIDTH = 79
"""Longest code line, in characters, that the book's text column shows without scrolling."""

LAB_LOG = {
    r"\bissue\s*#?\d+": "an issue number",
    r"(?-i:\bDESIGN(\.md)?\b)": "the design document",
    r"§\s*\d": "a section of a design document",
    r"\b(are|is) being written\b": "'being written'",
    r"\bpredates\b": "development history ('predates')",
    r"\bsince then\b": "development history ('since then')",
    r"\bno longer\b.*\b(version|release|commit)\b": "development history",
    r"\bthis edition contains\b": "an edition note",
}
"""Patterns that mark a lab log instead of a lecture, with what each one is."""

CONSTANTS = {
    "68.27", "95.45", "99.73",      # 1σ, 2σ, 3σ probability contents
    "2.30", "6.18", "11.83",         # Δχ² thresholds of 1σ, 2σ, 3σ in two dimensions
    "2.38",                          # the optimal random-walk scale 2.38/√(2d)
    "97.5",                          # the upper end of a central 95 % interval
    "1.01",                          # the R̂ convergence threshold
    "3.12",                          # the Python version
    "2147483647",                    # INT32_MAX, the shim's missing-value flag
}
"""Typed numbers of three or more significant digits that are definitions, not results."""

NUMBER = re.compile(r"(?<![\w.$^_{\-−])(\d+\.\d+|\d{4,})(?![\w.])")


def significant_digits(number: str) -> int:
    """Significant digits of a typed decimal number (``"0.0140"`` → 3, ``"2500"`` → 2)."""
    digits = number.replace(".", "").lstrip("0")
    return len(digits if "." in number else digits.rstrip("0"))


def prose(path: Path) -> str:
    """The text a reader reads as prose: front matter, code cells, fenced blocks, math, inline
    code and roles removed."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", "", text)
    return re.sub(r"`[^`]*`", "", text)


def section(text: str, title: str) -> str:
    """The text of the ``## title`` section of a MyST page ('' if there is none)."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return match.group(1) if match else ""


def test_the_book_has_chapters() -> None:
    assert len(CHAPTERS) >= 8


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_lab_log(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = [f"{what}: {m.group(0)!r}" for pattern, what in LAB_LOG.items()
             for m in re.finditer(pattern, text, flags=re.I)]
    assert not found, f"{page.name} reads like a lab log: {found}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_is_a_lecture(chapter: Path) -> None:
    text = chapter.read_text(encoding="utf-8")
    assert "Learning objectives" in text, f"{chapter.name}: no learning objectives"
    assert section(text, "Exercises"), f"{chapter.name}: no exercises"
    summary = section(text, "Summary")
    assert summary, f"{chapter.name}: no summary"
    assert "{glue:text}`" in summary, \
        f"{chapter.name}: the summary states no computed result (no {{glue:text}})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_typed_results(page: Path) -> None:
    typed = sorted({m.group(1) for m in NUMBER.finditer(prose(page))
                    if significant_digits(m.group(1)) >= 3} - CONSTANTS)
    assert not typed, (f"{page.name} types numbers a computation should glue: {typed} (glue "
                       "them, or add a definitional constant to CONSTANTS)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_fits_the_column(page: Path) -> None:
    notebook = jupytext.read(page)
    if "kernelspec" not in notebook.metadata:
        return
    wide = [line for cell in notebook.cells if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > CODE_WIDTH]
    assert not wide, (f"{page.name}: {len(wide)} code line(s) wider than {CODE_WIDTH} "
                      f"characters, e.g. {wide[0]!r}")


def test_the_checks_can_fail() -> None:
    page = "## Summary\n\nThe MAE is 0.1118 (issue 12).\n\n## Exercises\n"
    assert NUMBER.findall(prose_of(page)) == ["0.1118"]
    assert significant_digits("0.1118") == 4 and significant_digits("0.01") == 1
    assert significant_digits("25000") == 2 and significant_digits("12.50") == 4
    assert re.search(next(iter(LAB_LOG)), page, flags=re.I)
    assert "{glue:text}`" not in section(page, "Summary")


def prose_of(text: str, tmp: Path | None = None) -> str:
    """:func:`prose` of a string."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "page.md"
        path.write_text(text, encoding="utf-8")
        return prose(path)


def notation_symbols() -> list[str]:
    """The symbols in the first column of the tables of ``book/notation.md``."""
    text = (ROOT / "book" / "notation.md").read_text(encoding="utf-8")
    cells = [line.split("|")[1] for line in text.splitlines()
             if line.startswith("| $")]
    return [symbol for cell in cells for symbol in re.findall(r"\$([^$]+)\$", cell)]


def test_the_notation_page_lists_the_symbols_the_chapters_use() -> None:
    symbols = notation_symbols()
    assert len(symbols) > 30
    chapters = "".join(path.read_text(encoding="utf-8") for path in CHAPTERS)
    unused = [symbol for symbol in symbols if symbol not in chapters]
    assert not unused, f"book/notation.md lists symbols no chapter uses: {unused}"
