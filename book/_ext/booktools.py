"""Helpers for the book's own pages: the table of contents and the exercises of the chapters.

The *For instructors* page (``book/instructors.md``) lists every exercise of the book. It is not
typed by hand: :func:`exercises` reads the chapters (jupytext MyST Markdown) listed in ``_toc.yml``
when the book is built, so the list cannot drift from the chapters.

Convention for chapter authors
------------------------------
An exercise is a sphinx-exercise directive, ``{exercise}`` (or the gated ``{exercise-start}``),
with a ``:label:`` so that the instructors' table can link to it. Two MyST comment lines anywhere in
its body (comments are not rendered) give its learning goal and the estimated time a student needs::

    ```{exercise}
    :label: ex-stats-1

    % goal: read Δχ² thresholds for joint regions of several parameters
    % time: 10 min

    The region of interest of the ALP fit is ...
    ```

``% kind: pen and paper`` marks an exercise done on paper, without a laptop (default: computer).
``% time:`` takes whole minutes (``10 min``, ``10 minutes``, ``10``) or a range (``10-15 min``,
whose upper end is used for totals). An exercise without ``% goal:`` is listed with its
directive title, or else its bold lead-in (``**Seeds.** ...``), or else its first sentence,
flagged as such; one without ``% time:`` has no time.

This module is a leaf: it imports nothing else of the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from docutils import nodes

EXERCISE_DIRECTIVES = ("exercise", "exercise-start")
"""sphinx-exercise directives that open an exercise (``exercise-start`` is the gated form)."""

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}\s*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_META = re.compile(r"^%\s*(?P<key>goal|time|kind)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE)
PEN_AND_PAPER = "pen and paper"
KINDS = ("computer", PEN_AND_PAPER)
"""Values of ``% kind:``: an exercise at the computer (the default) or one on paper, without a
laptop."""
_MINUTES = re.compile(
    r"^(?:(?P<low>\d+)\s*(?:-|–|to)\s*)?(?P<high>\d+)\s*(?:min|mins|minute|minutes)?\.?$",
    re.IGNORECASE)
_BOLD_LEAD = re.compile(r"^\*\*(?P<lead>[^*]+?)\*\*")
_HEADING = re.compile(r"^#\s+(?P<title>.+?)\s*$")


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as written in its source file.

    ``chapter`` is the toc entry (e.g. ``"notebooks/01_statistics"``); ``number`` counts the
    exercises of that chapter from 1; ``line`` is the 1-based line of the directive in ``source``.
    ``goal`` and ``minutes_low``/``minutes_high`` come from the ``% goal:`` / ``% time:`` comment
    lines (None when absent); ``summary`` is the fallback text used when there is no goal.
    """

    chapter: str
    chapter_title: str
    number: int
    label: str | None
    title: str | None
    goal: str | None
    summary: str
    minutes_low: int | None
    minutes_high: int | None
    source: Path
    line: int
    kind: str = "computer"

    @property
    def pen_and_paper(self) -> bool:
        """Whether the exercise is done on paper (``% kind: pen and paper``)."""
        return self.kind == PEN_AND_PAPER

    @property
    def learning_goal(self) -> str:
        """The stated goal, else the fallback :attr:`summary`."""
        return self.goal if self.goal else self.summary

    @property
    def time_text(self) -> str:
        """``"10 min"``, ``"10–15 min"`` or ``""`` when no time is given."""
        if self.minutes_high is None:
            return ""
        if self.minutes_low is None or self.minutes_low == self.minutes_high:
            return f"{self.minutes_high} min"
        return f"{self.minutes_low}–{self.minutes_high} min"


# ---------------------------------------------------------------------------------------------
# table of contents
# ---------------------------------------------------------------------------------------------
def _toc_entries(node: Any) -> Iterator[tuple[str, bool]]:
    """(file, numbered) for every ``file:`` entry of a sphinx-external-toc tree, in order."""
    if isinstance(node, dict):
        numbered = bool(node.get("numbered", False))
        if isinstance(node.get("file"), str):
            yield node["file"], numbered
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                for entry, child_numbered in _toc_entries(child):
                    yield entry, child_numbered or numbered
    elif isinstance(node, list):
        for item in node:
            yield from _toc_entries(item)


def toc_pages(toc_path: str | Path) -> list[str]:
    """Every page of a jupyter-book ``_toc.yml`` — the root first, then the entries in order —
    as paths without suffix (``"book/intro"``, ``"notebooks/01_statistics"``, ...).

    Raises ``FileNotFoundError`` when the toc file does not exist and ``ValueError`` when it is
    not a jupyter-book ``jb-book`` table of contents.
    """
    import yaml

    toc_path = Path(toc_path)
    if not toc_path.is_file():
        raise FileNotFoundError(f"no table of contents at {toc_path}")
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or toc.get("format") != "jb-book" or "root" not in toc:
        raise ValueError(f"{toc_path} is not a jupyter-book table of contents (format: jb-book)")
    pages = [toc["root"]] + [entry for entry, _ in _toc_entries(toc)]
    return [re.sub(r"\.(md|ipynb|rst)$", "", p) for p in pages]


def toc_chapters(toc_path: str | Path, *, folder: str = "notebooks") -> list[str]:
    """The pages of :func:`toc_pages` that live in ``folder``, in the order of ``_toc.yml``."""
    prefix = folder.rstrip("/") + "/"
    return [p for p in toc_pages(toc_path) if p.startswith(prefix)]


# ---------------------------------------------------------------------------------------------
# exercises
# ---------------------------------------------------------------------------------------------
def parse_minutes(text: str, *, where: str = "") -> tuple[int | None, int]:
    """``(low, high)`` minutes of a ``% time:`` value (``"10 min"`` → ``(None, 10)``,
    ``"10-15 min"`` → ``(10, 15)``). Raises ``ValueError`` naming ``where`` otherwise."""
    match = _MINUTES.match(text.strip())
    if match is None:
        raise ValueError(f"{where}: cannot read the time {text!r}; write e.g. '% time: 10 min' "
                         "or '% time: 10-15 min'")
    high = int(match["high"])
    low = int(match["low"]) if match["low"] else None
    if high <= 0 or (low is not None and not 0 < low <= high):
        raise ValueError(f"{where}: the time {text!r} must be positive minutes with low ≤ high")
    return low, high


def _plain(text: str) -> str:
    """Markdown inline markup reduced to readable text (roles, emphasis, code ticks)."""
    text = re.sub(r"\{[\w:-]+\}`([^`]*)`", r"\1", text)  # {role}`x` -> x
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _summary(body: list[str]) -> str:
    """The bold lead-in of the exercise text, or else its first sentence (inline MyST markup such
    as code spans and math is kept: the table is rendered as MyST)."""
    paragraph: list[str] = []
    for raw in body:
        line = raw.strip()
        if line.startswith("%"):
            continue
        if not line:
            if paragraph:
                break
            continue
        paragraph.append(line)
    text = re.sub(r"\s+", " ", " ".join(paragraph)).strip()
    lead = _BOLD_LEAD.match(text)
    if lead:
        return lead["lead"].strip().rstrip(".:")
    return re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]


def _chapter_title(lines: list[str], fallback: str) -> str:
    in_fence = False
    for line in lines:
        if line.startswith(("```", ":::")):
            in_fence = not in_fence
        elif not in_fence and (match := _HEADING.match(line)):
            return _plain(match["title"])
    return fallback


def _strip_front_matter(lines: list[str]) -> int:
    """Index of the first line after a YAML header (0 when there is none)."""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return i + 1
    return 0


def _directive_options(body: list[str], *, where: str) -> tuple[dict[str, str], int]:
    """The directive's options (``:key: value`` lines, or a ``---`` YAML block) at the top of its
    body, and how many lines they take."""
    import yaml

    if body and body[0].strip() == "---":
        for end in range(1, len(body)):
            if body[end].strip() == "---":
                block = yaml.safe_load("\n".join(body[1:end])) or {}
                if not isinstance(block, dict):
                    raise ValueError(f"{where}: the directive's YAML options are not a mapping")
                return {str(k): str(v) for k, v in block.items()}, end + 1
        raise ValueError(f"{where}: the directive's YAML options block is never closed")
    options: dict[str, str] = {}
    for n, raw in enumerate(body):
        opt = _OPTION.match(raw.strip())
        if opt is None:
            return options, n
        options[opt["key"]] = opt["value"]
    return options, len(body)


def chapter_exercises(source: str | Path, *, chapter: str | None = None) -> list[Exercise]:
    """Every exercise of one MyST Markdown file, in order of appearance.

    ``chapter`` names the toc entry (default: the file's stem). Raises ``ValueError`` naming the
    file and line for an exercise fence that is never closed, a duplicate ``% goal:``/``% time:``
    line or an unreadable time.
    """
    source = Path(source)
    lines = source.read_text(encoding="utf-8").splitlines()
    chapter = chapter if chapter is not None else source.stem
    title = _chapter_title(lines[_strip_front_matter(lines):], source.stem)
    found: list[Exercise] = []
    i = _strip_front_matter(lines)
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if match is None or match["name"] not in EXERCISE_DIRECTIVES:
            i += 1
            continue
        fence, start = match["fence"], i
        closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            j += 1
        if j == len(lines):
            raise ValueError(f"{source}:{start + 1}: the {{{match['name']}}} fence is never closed")
        body = lines[i + 1:j]
        if match["name"] == "exercise-start":
            # gated form: the text runs from the closing fence of the start directive to
            # {exercise-end}
            k = j + 1
            while k < len(lines) and not re.match(r"^(`{3,}|:{3,})\{exercise-end\}", lines[k]):
                k += 1
            body = body + lines[j + 1:k]
            j = k
        options, n_option_lines = _directive_options(body, where=f"{source}:{start + 1}")
        meta: dict[str, tuple[str, int]] = {}
        for offset, raw in enumerate(body[n_option_lines:], start=start + 2 + n_option_lines):
            if meta_match := _META.match(raw.strip()):
                key = meta_match["key"].lower()
                if key in meta:
                    raise ValueError(f"{source}:{offset}: a second '% {key}:' line in one exercise")
                meta[key] = (meta_match["value"], offset)
        low = high = None
        if "time" in meta:
            low, high = parse_minutes(meta["time"][0], where=f"{source}:{meta['time'][1]}")
        goal = meta["goal"][0] if "goal" in meta else None
        kind = meta["kind"][0].lower() if "kind" in meta else "computer"
        if kind not in KINDS:
            raise ValueError(f"{source}:{meta['kind'][1]}: unknown exercise kind {kind!r}; "
                             f"write one of {', '.join(KINDS)}")
        directive_title = match["arg"] or None
        summary = directive_title if directive_title else _summary(body[n_option_lines:])
        found.append(Exercise(
            chapter=chapter, chapter_title=title, number=len(found) + 1,
            label=options.get("label") or None, title=directive_title, goal=goal or None,
            summary=summary, minutes_low=low, minutes_high=high, source=source, line=start + 1,
            kind=kind))
        i = j + 1
    return found


def exercises(root: str | Path, *, toc: str = "_toc.yml", folder: str = "notebooks"
              ) -> list[Exercise]:
    """Every exercise of the chapters listed in ``root/_toc.yml`` (those in ``folder``), in toc
    order. A toc entry without a ``.md`` file raises ``FileNotFoundError``."""
    root = Path(root)
    found: list[Exercise] = []
    for entry in toc_chapters(root / toc, folder=folder):
        path = root / f"{entry}.md"
        if not path.is_file():
            raise FileNotFoundError(f"_toc.yml lists {entry!r} but {path} does not exist")
        found.extend(chapter_exercises(path, chapter=entry))
    return found


def exercise_table(items: Iterable[Exercise]) -> pd.DataFrame:
    """One row per exercise: chapter, number, label, learning goal, whether the goal was stated,
    minutes (upper end, NaN when not given) and the time as text."""
    rows = [{"chapter": e.chapter, "chapter_title": e.chapter_title, "number": e.number,
             "label": e.label, "learning_goal": e.learning_goal, "goal_stated": e.goal is not None,
             "minutes": float(e.minutes_high) if e.minutes_high is not None else float("nan"),
             "time": e.time_text, "kind": e.kind} for e in items]
    columns = ["chapter", "chapter_title", "number", "label", "learning_goal", "goal_stated",
               "minutes", "time", "kind"]
    return pd.DataFrame(rows, columns=columns)


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def exercise_markdown(items: Iterable[Exercise], *, link_prefix: str = "../") -> str:
    """A MyST Markdown table of the exercises (the chapter is named on its first row only).

    Chapter names link to the chapter (``{doc}`` role, path ``link_prefix + chapter``), labelled
    exercises to the exercise (``{ref}`` role), so the book build (``-n``) fails on a broken link.
    A goal that was not stated is shown in italics (the fallback text, see the module docstring).
    Render it with MyST-NB's ``render_markdown_format: myst``.
    """
    items = list(items)
    if not items:
        return "*No exercises found in the chapters listed in the table of contents.*\n"
    lines = ["| chapter | exercise | learning goal | kind | time |", "|---|---|---|---|---|"]
    previous = None
    for e in items:
        chapter = ("" if e.chapter == previous
                   else f"{{doc}}`{_cell(e.chapter_title)} <{link_prefix}{e.chapter}>`")
        previous = e.chapter
        exercise = f"{{ref}}`{e.number} <{e.label}>`" if e.label else str(e.number)
        goal = _cell(e.goal) if e.goal else f"*{_cell(e.summary)}*"
        lines.append(f"| {chapter} | {exercise} | {goal} | {e.kind} | {e.time_text or '—'} |")
    return "\n".join(lines) + "\n"


def time_summary(items: Iterable[Exercise]) -> pd.DataFrame:
    """Per chapter: number of exercises, how many state a goal and a time, and the summed
    minutes of those that state one (upper ends of ranges)."""
    table = exercise_table(items)
    if table.empty:
        return pd.DataFrame(columns=["exercises", "pen and paper", "with goal", "with time",
                                     "minutes (stated)"])
    grouped = table.groupby(["chapter", "chapter_title"], sort=False)
    out = pd.DataFrame({
        "exercises": grouped.size(),
        "pen and paper": grouped["kind"].apply(lambda k: int((k == PEN_AND_PAPER).sum())),
        "with goal": grouped["goal_stated"].sum().astype(int),
        "with time": grouped["minutes"].count(),
        "minutes (stated)": grouped["minutes"].sum(min_count=1),
    })
    return out.reset_index(level="chapter", drop=True).rename_axis("chapter")


WORDS_PER_MINUTE = 150
"""Reading speed assumed for technical prose with equations (words per minute)."""

_CODE_FENCE = re.compile(r"^(`{3,}|:{3,})\{code-cell\}.*?^\1\s*$", re.MULTILINE | re.DOTALL)
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def _count_words(text: str) -> int:
    return len(_WORD.findall(_DISPLAY_MATH.sub(" ", _CODE_FENCE.sub(" ", text))))


def prose_words(source: str | Path) -> int:
    """Number of words of prose in a MyST Markdown file: front matter, code cells and display
    math are left out (inline math and roles count as words)."""
    lines = Path(source).read_text(encoding="utf-8").splitlines()
    return _count_words("\n".join(lines[_strip_front_matter(lines):]))


CASE_STUDY_HEADING = re.compile(r"^(#{2,6})\s+(Case study|In depth)\b", re.IGNORECASE)
"""Sections a lecturer can skip in a first pass: research-style case studies and the
engineering "in depth" sections (with their subsections)."""


def case_study_words(source: str | Path) -> int:
    """Words of prose (as :func:`prose_words` counts them) in the sections whose heading starts
    with "Case study" or "In depth", each up to the next heading of the same or a higher level."""
    lines = Path(source).read_text(encoding="utf-8").splitlines()
    lines = lines[_strip_front_matter(lines):]
    taken: list[str] = []
    level = None  # heading level of the case-study section being collected
    fence = None
    for line in lines:
        marker = re.match(r"^(`{3,}|:{3,})", line)
        if marker and (fence is None or line.strip() == fence):
            fence = marker.group(1) if fence is None else None
        heading = None if fence else re.match(r"^(#{1,6})\s", line)
        if heading and level is not None and len(heading.group(1)) <= level:
            level = None
        if heading and level is None and (case := CASE_STUDY_HEADING.match(line)):
            level = len(case.group(1))
        if level is not None:
            taken.append(line)
    return _count_words("\n".join(taken))


def reading_table(root: str | Path, *, toc: str = "_toc.yml", folder: str = "notebooks",
                  words_per_minute: int = WORDS_PER_MINUTE) -> pd.DataFrame:
    """Per chapter (toc order): reading minutes of the lecture and of its case-study / in-depth
    sections, exercises, pen-and-paper exercises and the stated exercise minutes."""
    root = Path(root)
    items = exercises(root, toc=toc, folder=folder)
    rows = []
    for entry in toc_chapters(root / toc, folder=folder):
        path = root / f"{entry}.md"
        mine = [e for e in items if e.chapter == entry]
        words, case = prose_words(path), case_study_words(path)
        rows.append({
            "chapter": _chapter_title(path.read_text(encoding="utf-8").splitlines(), entry),
            "lecture (min)": round((words - case) / words_per_minute),
            "case studies (min)": round(case / words_per_minute),
            "exercises": len(mine),
            "pen and paper": sum(e.pen_and_paper for e in mine),
            "exercises (min)": sum(e.minutes_high or 0 for e in mine),
        })
    return pd.DataFrame(rows).set_index("chapter")


# ---------------------------------------------------------------------------------------------
# Sphinx hook (``_config.yml``: ``sphinx: local_extensions: {booktools: book/_ext}``)
# ---------------------------------------------------------------------------------------------
def _deduplicate_inline_scripts(app: Any, pagename: str, templatename: str,
                                context: dict[str, Any], doctree: Any) -> None:
    """Drop repeated inline ``<script>`` bodies from a page.

    With Sphinx 7.4, an inline script that an extension adds while the build runs (``filename``
    None) is emitted twice: sphinx-thebe's ``const THEBE_JS_URL = ...`` then throws "Identifier
    'THEBE_JS_URL' has already been declared" in every page (found by tests/test_browser.py).
    Scripts with a file are untouched; an inline body is kept once, at its first position.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[str] = set()
    kept = []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body")
        if not getattr(script, "filename", None) and body is not None:
            if body in seen:
                continue
            seen.add(body)
        kept.append(script)
    context["script_files"] = kept


# ---------------------------------------------------------------------------------------------
# The student edition: solutions removed (``make book-student``, book/_ext/editions.py)
# ---------------------------------------------------------------------------------------------
class removed_solution(nodes.Element):
    """Where a ``{solution-start}`` stood in a build with ``hide_solutions``: the start of a range
    that :class:`_RemoveHiddenSolutions` deletes, up to and including its ``{solution-end}``. It
    never reaches a writer (the transform raises if its end is missing)."""


def _solution_hiding(app: Any) -> None:
    """Make sphinx-exercise's ``hide_solutions`` remove *gated* solutions completely.

    sphinx-exercise 1.2 honours ``hide_solutions`` in ``SolutionDirective.run`` only: the
    ``{solution-start}`` directive returns nothing, so the markdown and the code cells (input and
    outputs) between it and ``{solution-end}`` would stay on the page as ordinary content, and the
    ``{solution-end}`` node, left without its start, reaches the HTML writer, which has no visitor
    for it (the build fails: "unknown node type: solution_end_node"). Here ``{solution-start}``
    leaves a :class:`removed_solution` marker instead, and a transform deletes everything from the
    marker to the matching end node — the whole solution, as the instructors' dropdown held it.
    Without ``hide_solutions`` (the instructor edition) nothing changes.
    """
    from sphinx.errors import ExtensionError
    from sphinx.transforms import SphinxTransform
    from sphinx_exercise.directive import SolutionStartDirective
    from sphinx_exercise.nodes import solution_end_node

    class _HidingSolutionStart(SolutionStartDirective):
        def run(self) -> list[nodes.Node]:
            result = super().run()  # registers the start; [] under hide_solutions
            if self.config.hide_solutions:
                marker = removed_solution()
                self.set_source_info(marker)
                return [marker]
            return result

    class _RemoveHiddenSolutions(SphinxTransform):
        # before sphinx-exercise merges the gated ranges into solution nodes (priority 10)
        default_priority = 9

        def apply(self, **kwargs: Any) -> None:
            for marker in list(self.document.findall(removed_solution)):
                parent = marker.parent
                start = parent.index(marker)
                end = next((i for i in range(start + 1, len(parent.children))
                            if isinstance(parent.children[i], solution_end_node)), None)
                if end is None:
                    raise ExtensionError(
                        f"{marker.source}:{marker.line}: a solution-start without a "
                        "solution-end after it in the same section (hide_solutions)")
                del parent[start:end + 1]

    app.add_directive("solution-start", _HidingSolutionStart, override=True)
    app.add_transform(_RemoveHiddenSolutions)


_SOLUTION_START = re.compile(r"^\s*(`{3,}|:{3,})\{solution-start\}")
_SOLUTION_END = re.compile(r"^\s*(`{3,}|:{3,})\{solution-end\}")


@dataclass
class _SolutionScan:
    """Where a line-by-line scan is: outside a solution; inside one; or on the ``{solution-end}``
    directive, waiting for its closing fence (``fence``)."""

    inside: bool = False
    fence: str | None = None

    def keep(self, line: str) -> bool:
        """Whether ``line`` lies outside every solution range (and update the state)."""
        if self.fence is not None:  # the solution-end directive's own closing fence ends it
            if line.strip() == self.fence:
                self.inside, self.fence = False, None
            return False
        if not self.inside:
            if _SOLUTION_START.match(line):
                self.inside = True
                return False
            return True
        if match := _SOLUTION_END.match(line):
            self.fence = match[1]
        return False


def strip_solutions(text: str) -> str:
    """A chapter's MyST source without its solutions: every line from a ``{solution-start}``
    directive to the closing fence of its ``{solution-end}`` directive is dropped."""
    scan = _SolutionScan()
    return "".join(line for line in text.splitlines(keepends=True) if scan.keep(line))


def strip_notebook_solutions(notebook: dict[str, Any]) -> dict[str, Any]:
    """A notebook (nbformat JSON) without its solutions: the code cells of a solution range are
    dropped, markdown cells lose the range's lines (and are dropped when nothing else is left)."""
    scan = _SolutionScan()
    cells = []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        text = source if isinstance(source, str) else "".join(source)
        if cell.get("cell_type") == "markdown":
            kept = "".join(line for line in text.splitlines(keepends=True) if scan.keep(line))
            if kept.strip():
                cells.append({**cell, "source": kept.splitlines(keepends=True)})
        elif not scan.inside:
            cells.append(cell)
    return {**notebook, "cells": cells}


def _strip_downloadable_sources(app: Any, exception: Exception | None) -> None:
    """Student edition: the pages' download buttons (``_sources/*.md``, ``*.ipynb``) must not
    hand out the solutions that the pages no longer show."""
    if exception is not None or not app.config.hide_solutions:
        return
    sources = Path(app.outdir) / "_sources"
    if not sources.is_dir():
        return
    for path in sources.rglob("*"):
        if path.suffix == ".ipynb":
            notebook = json.loads(path.read_text(encoding="utf-8"))
            path.write_text(json.dumps(strip_notebook_solutions(notebook), indent=1,
                                       ensure_ascii=False) + "\n", encoding="utf-8")
        elif path.suffix in {".md", ".txt"} and path.is_file():
            path.write_text(strip_solutions(path.read_text(encoding="utf-8")), encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    """Register this module as a Sphinx extension: the book's page fixes and, with sphinx-exercise's
    ``hide_solutions`` (the student edition), the removal of every solution (see above)."""
    app.setup_extension("sphinx_exercise")  # first, so that our solution-start overrides its own
    app.connect("html-page-context", _deduplicate_inline_scripts)
    _solution_hiding(app)
    app.connect("build-finished", _strip_downloadable_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
