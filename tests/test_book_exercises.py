"""book/_ext/booktools.py: the exercise list of the instructors' page, read from the chapters."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import booktools as book  # book/_ext, on the path by tests/conftest.py
import pytest

ROOT = Path(__file__).resolve().parents[1]

CHAPTER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        format_name: myst
    ---

    (chap-label)=
    # A `toy` chapter

    ```{code-cell} ipython3
    print("```{exercise} inside a string is not an exercise")
    ```

    ## Exercises

    ```{exercise}
    :label: ex-toy-1

    % goal: read a Δχ² threshold
    % time: 10 min

    **Thresholds.** Compute `stats.delta_chi2(0.95, dof=2)`.
    ```

    ```{solution-start} ex-toy-1
    :class: dropdown
    ```

    ```{code-cell} ipython3
    1 + 1
    ```

    ```{solution-end}
    ```

    ````{exercise} Profiles by hand
    ---
    label: ex-toy-2
    ---
    % time: 15-20 minutes

    Profile it. Then plot it.
    ````

    :::{exercise-start}
    :label: ex-toy-3
    :::

    % goal: gated exercises work too

    Some text with a code cell below.

    :::{exercise-end}
    :::

    ```{exercise}
    No label here. Second sentence.
    ```
""")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_chapter_exercises_reads_labels_goals_times_and_fallbacks(tmp_path: Path) -> None:
    found = book.chapter_exercises(write(tmp_path, "01_toy.md", CHAPTER))
    assert [e.number for e in found] == [1, 2, 3, 4]
    assert [e.label for e in found] == ["ex-toy-1", "ex-toy-2", "ex-toy-3", None]
    assert {e.chapter_title for e in found} == {"A toy chapter"}
    first, second, third, fourth = found
    assert first.goal == "read a Δχ² threshold" and first.learning_goal == first.goal
    assert (first.minutes_low, first.minutes_high, first.time_text) == (None, 10, "10 min")
    assert first.summary == "Thresholds"  # bold lead-in
    assert second.goal is None and second.learning_goal == "Profiles by hand"  # the title
    assert (second.minutes_low, second.minutes_high, second.time_text) == (15, 20, "15–20 min")
    assert third.goal == "gated exercises work too" and third.time_text == ""
    assert fourth.label is None and fourth.learning_goal == "No label here."  # first sentence
    assert CHAPTER.splitlines()[first.line - 1].startswith("```{exercise}")


@pytest.mark.parametrize(("value", "expected"), [
    ("10 min", (None, 10)), ("10", (None, 10)), ("5 minutes", (None, 5)),
    ("10-15 min", (10, 15)), ("10–15 min", (10, 15)), ("10 to 15", (10, 15)),
])
def test_parse_minutes(value: str, expected: tuple[int | None, int]) -> None:
    assert book.parse_minutes(value) == expected


@pytest.mark.parametrize("value", ["ten minutes", "1 h", "0 min", "20-10 min", ""])
def test_parse_minutes_rejects_unreadable_times(value: str) -> None:
    with pytest.raises(ValueError, match="x.md:3"):
        book.parse_minutes(value, where="x.md:3")


def test_bad_exercise_markup_names_file_and_line(tmp_path: Path) -> None:
    unclosed = write(tmp_path, "a.md", "# T\n\n```{exercise}\n:label: x\n\ntext\n")
    with pytest.raises(ValueError, match=r"a\.md:3: .*never closed"):
        book.chapter_exercises(unclosed)
    twice = write(tmp_path, "b.md", "# T\n\n```{exercise}\n% time: 5 min\n% time: 6 min\n```\n")
    with pytest.raises(ValueError, match=r"b\.md:5: a second '% time:'"):
        book.chapter_exercises(twice)
    bad_time = write(tmp_path, "c.md", "# T\n\n```{exercise}\n\n% time: soon\n```\n")
    with pytest.raises(ValueError, match=r"c\.md:5: cannot read the time"):
        book.chapter_exercises(bad_time)


def test_toc_order_and_markdown_table(tmp_path: Path) -> None:
    write(tmp_path, "notebooks/01_toy.md", CHAPTER)
    write(tmp_path, "notebooks/02_other.md", "# Other\n\n```{exercise}\n% time: 5\n\nDo.\n```\n")
    write(tmp_path, "_toc.yml", textwrap.dedent("""\
        format: jb-book
        root: book/intro
        parts:
          - caption: Chapters
            numbered: true
            chapters:
              - file: notebooks/02_other
              - file: notebooks/01_toy.md
          - caption: Appendix
            chapters:
              - file: book/instructors
        """))
    assert book.toc_chapters(tmp_path / "_toc.yml") == ["notebooks/02_other", "notebooks/01_toy"]
    items = book.exercises(tmp_path)
    assert [(e.chapter, e.number) for e in items] == [
        ("notebooks/02_other", 1), ("notebooks/01_toy", 1), ("notebooks/01_toy", 2),
        ("notebooks/01_toy", 3), ("notebooks/01_toy", 4)]
    table = book.exercise_markdown(items)
    rows = table.strip().splitlines()
    assert len(rows) == 2 + len(items)
    assert rows[2].startswith("| {doc}`Other <../notebooks/02_other>` | 1 |")
    assert "{ref}`1 <ex-toy-1>`" in table
    assert "| read a Δχ² threshold | computer | 10 min |" in table
    assert rows[4].startswith("|  | {ref}`2 <ex-toy-2>`")  # chapter named on its first row only
    assert "*Profiles by hand*" in table  # a goal that was not stated is in italics
    summary = book.time_summary(items)
    assert summary.loc["A toy chapter", "exercises"] == 4
    assert summary.loc["A toy chapter", "with goal"] == 2
    assert summary.loc["A toy chapter", "minutes (stated)"] == 30  # 10 + upper end of 15-20
    assert summary.loc["Other", "minutes (stated)"] == 5


def test_pen_and_paper_exercises_are_marked(tmp_path: Path) -> None:
    page = write(tmp_path, "p.md", "# P\n\n```{exercise}\n:label: ex-p-1\n\n"
                 "% kind: Pen and paper\n\nDerive.\n```\n\n```{exercise}\n\nRun.\n```\n")
    paper, computer = book.chapter_exercises(page)
    assert paper.pen_and_paper and paper.kind == "pen and paper"
    assert not computer.pen_and_paper and computer.kind == "computer"
    assert "| pen and paper |" in book.exercise_markdown([paper, computer])
    assert book.time_summary([paper, computer]).loc["P", "pen and paper"] == 1
    bad = write(tmp_path, "q.md", "# Q\n\n```{exercise}\n\n% kind: homework\n```\n")
    with pytest.raises(ValueError, match=r"q\.md:5: unknown exercise kind 'homework'"):
        book.chapter_exercises(bad)


def test_every_chapter_has_a_pen_and_paper_exercise() -> None:
    """A class without laptops can work on every chapter."""
    items = book.exercises(ROOT)
    missing = [entry for entry in book.toc_chapters(ROOT / "_toc.yml")
               if not any(e.chapter == entry and e.pen_and_paper for e in items)]
    assert not missing, f"chapters without a '% kind: pen and paper' exercise: {missing}"


def test_prose_words_leave_out_code_and_display_math(tmp_path: Path) -> None:
    page = write(tmp_path, "w.md", "---\njupytext: {}\n---\n# Two words\n\n"
                 "```{code-cell} ipython3\nx = many(words, in, code)\n```\n\n"
                 "$$\na + b = c\n$$\n\nThree more words, and $x$.\n")
    assert book.prose_words(page) == 2 + 5  # "Two words" + "Three more words and x"


def test_reading_table_has_a_row_per_chapter() -> None:
    table = book.reading_table(ROOT)
    assert len(table) == len(book.toc_chapters(ROOT / "_toc.yml"))
    assert (table["lecture (min)"] > 5).all() and (table["pen and paper"] >= 1).all()
    # a lecturer can assign the lecture part of every chapter for one sitting
    assert (table["lecture (min)"] <= 45).all(), table["lecture (min)"]


def test_case_study_words_counts_only_case_study_sections(tmp_path: Path) -> None:
    page = write(tmp_path, "p.md", "# Title\n\nOne two.\n\n## Case study: x\n\nThree four five."
                 "\n\n```{code-cell} ipython3\n## not a heading\n```\n\n### Sub\n\nSix.\n\n"
                 "## Next\n\nSeven eight.\n\n## In depth: y\n\nNine.\n")
    # "Case study x Three four five" + "Sub Six" + "In depth y Nine"
    assert book.case_study_words(page) == 6 + 2 + 4
    # + "Title One two" + "Next Seven eight"
    assert book.prose_words(page) == 12 + 3 + 3


def test_missing_toc_or_chapter_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no table of contents"):
        book.exercises(tmp_path)
    write(tmp_path, "_toc.yml", "format: jb-book\nroot: x\nchapters:\n  - file: notebooks/09_x\n")
    with pytest.raises(FileNotFoundError, match="09_x"):
        book.exercises(tmp_path)
    write(tmp_path, "_toc.yml", "format: jb-article\nroot: x\n")
    with pytest.raises(ValueError, match="jb-book"):
        book.exercises(tmp_path)


def test_every_exercise_of_the_book_is_found_and_labelled() -> None:
    """The instructors' table lists every exercise of the chapters in the toc, each linkable."""
    items = book.exercises(ROOT)
    for entry in book.toc_chapters(ROOT / "_toc.yml"):
        text = (ROOT / f"{entry}.md").read_text(encoding="utf-8")
        expected = len(re.findall(r"^(?:`{3,}|:{3,})\{exercise(?:-start)?\}", text, re.MULTILINE))
        assert sum(e.chapter == entry for e in items) == expected, entry
    unlabelled = [f"{e.source.name}:{e.line}" for e in items if not e.label]
    assert not unlabelled, f"exercises without :label: (the instructors' page links to it): " \
                           f"{unlabelled}"


def test_sphinx_hook_drops_repeated_inline_scripts() -> None:
    """The duplicate sphinx-thebe ``const`` found by the browser check is removed, files kept."""
    from types import SimpleNamespace

    def script(filename: str | None, body: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(filename=filename, attributes={"body": body} if body else {})

    thebe = "const THEBE_JS_URL = 'x'"
    scripts = [script("_static/a.js"), script(None, thebe), script("_static/b.js"),
               script("", thebe), script("_static/a.js"), script(None, "var other = 1")]
    context = {"script_files": scripts}
    book._deduplicate_inline_scripts(None, "page", "page.html", context, None)
    kept = context["script_files"]
    assert [s.attributes.get("body") for s in kept if not s.filename] == [thebe, "var other = 1"]
    assert [s.filename for s in kept if s.filename] == ["_static/a.js", "_static/b.js",
                                                        "_static/a.js"]
    assert len(scripts) == 6  # the builder's own list is not modified
