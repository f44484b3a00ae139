"""Each chapter runs on its own and refers only backwards.

(a) Every name a chapter's code uses is defined in that chapter (earlier in the same cell or in
an earlier cell), imported there, or a builtin: a notebook that silently relies on a variable
left in the kernel by another notebook fails here, not on a reader's fresh kernel.

(b) A chapter does not ``{numref}``/``{ref}``/``{eq}`` a label that a *later* chapter defines.

Both checks read the MyST sources as text (no notebook is executed) and are pure functions of
strings, tested on a synthetic two-chapter book below.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("0[0-9]_*.md"))

# names IPython puts into every kernel's namespace
IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit", "_", "__",
                           "___"})
KNOWN = frozenset(dir(builtins)) | IPYTHON_NAMES

_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_REFERENCE = re.compile(r"\{(?:numref|ref|eq)\}`([^`]*)`")
_TARGET = re.compile(r"^\(([\w.:-]+)\)=[ \t]*$", re.M)
_LABEL_OPTION = re.compile(r"^[ \t]*:label:[ \t]*(\S+)", re.M)
_LABEL_YAML = re.compile(r"^[ \t]*label:[ \t]*(\S+)", re.M)
_FIGURE_NAME = re.compile(r"^[ \t]*name:[ \t]*(\S+)", re.M)
_MATH_LABEL = re.compile(r"\$\$[ \t]*\(([\w.:-]+)\)")
_MAGIC = re.compile(r"^([ \t]*)[%!]", re.M)


def _split_options(cell: str) -> tuple[str, str]:
    """(options, code) of a code cell's body: a ``---`` YAML block or ``:key:`` lines first."""
    lines = cell.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return "".join(lines[: i + 1]), "".join(lines[i + 1:])
        return cell, ""
    i = 0
    while i < len(lines) and lines[i].lstrip().startswith(":"):
        i += 1
    return "".join(lines[:i]), "".join(lines[i:])


def code_cells(text: str) -> list[str]:
    """The code of every ``{code-cell}`` of a MyST notebook, in order (options removed)."""
    return [_split_options(m.group(1))[1] for m in _CODE_CELL.finditer(text)]


def _nested_globals(table: symtable.SymbolTable) -> set[str]:
    """Names that functions, lambdas, classes and comprehensions below ``table`` read from the
    module namespace (at call time, so they may be defined later in the chapter)."""
    found: set[str] = set()
    for child in table.get_children():
        for sym in child.get_symbols():
            if sym.is_referenced() and sym.is_global() and not sym.is_assigned():
                found.add(sym.get_name())
        found |= _nested_globals(child)
    return found


def undefined_names(cells: list[str]) -> list[tuple[int, str]]:
    """``(cell index, name)`` for each name the cells use without defining or importing it.

    Top-level statements are checked in order: a name read by a statement must be bound by an
    earlier statement (or by the same one, e.g. a ``for`` target). Names read inside functions,
    lambdas, classes and comprehensions are read when those run, so they only need a top-level
    definition somewhere in the cells. ``%magic`` and ``!shell`` lines are ignored; cells that
    still do not parse are skipped.
    """
    defined: set[str] = set()
    problems: list[tuple[int, str]] = []
    deferred: list[tuple[int, str]] = []
    for index, cell in enumerate(cells):
        try:  # IPython's %magic and !shell lines become comments
            tree = ast.parse(_MAGIC.sub(r"\1# ", cell))
        except SyntaxError:
            continue
        for stmt in tree.body:
            source = ast.unparse(stmt)
            table = symtable.symtable(source, "<cell>", "exec")
            bound: set[str] = set()
            read: set[str] = set()
            for sym in table.get_symbols():
                if sym.is_assigned() or sym.is_imported():
                    bound.add(sym.get_name())
                elif sym.is_referenced():
                    read.add(sym.get_name())
            problems += [(index, n) for n in sorted(read - defined - bound - KNOWN)]
            deferred += [(index, n) for n in sorted(_nested_globals(table))]
            defined |= bound
    problems += [(i, n) for i, n in deferred if n not in defined | KNOWN]
    return sorted(set(problems))


def labels_defined(text: str) -> set[str]:
    """Labels a chapter defines: ``(target)=``, ``:label:`` options (exercises, equations) and
    ``label:`` / figure ``name:`` keys in the YAML headers of directives and code cells."""
    labels = (set(_TARGET.findall(text)) | set(_LABEL_OPTION.findall(text))
              | set(_MATH_LABEL.findall(text)))
    for header in re.findall(r"^`{3,}\{[\w:-]+\}[^\n]*\n---\n(.*?)^---$", text, re.M | re.S):
        labels |= set(_LABEL_YAML.findall(header)) | set(_FIGURE_NAME.findall(header))
    return labels


def labels_referenced(text: str) -> list[str]:
    """Targets of ``{numref}``, ``{ref}`` and ``{eq}`` roles (``text <label>`` or ``label``)."""
    targets = []
    for body in _REFERENCE.findall(text):
        m = re.search(r"<([^<>]+)>\s*$", body)
        targets.append((m.group(1) if m else body).strip())
    return targets


def forward_references(chapters: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """``(chapter, label, later chapter)`` for every reference to a label that only a later
    chapter defines; ``chapters`` are ``(name, text)`` in reading order."""
    owner: dict[str, int] = {}
    for k, (_, text) in enumerate(chapters):
        for label in labels_defined(text):
            owner.setdefault(label, k)
    found = []
    for j, (name, text) in enumerate(chapters):
        for label in labels_referenced(text):
            k = owner.get(label)
            if k is not None and k > j and label not in labels_defined(text):
                found.append((name, label, chapters[k][0]))
    return found


# ---- the synthetic book: the checks can fail


FIRST = textwrap.dedent("""\
    (chap-first)=
    # First

    See {numref}`Figure %s <fig-second-plot>` and {ref}`chap-second`.

    ```{code-cell} ipython3
    :tags: [hide-input]

    import numpy as np

    x = np.arange(3)
    %matplotlib inline
    ```

    ```{code-cell} ipython3
    this cell does not parse
    ```

    ```{code-cell} ipython3
    def total():
        return x.sum() + offset  # offset: defined later, read at call time

    offset = 1
    squares = [i * i for i in x]
    print(len(squares), total())
    ```
    """)

SECOND = textwrap.dedent("""\
    (chap-second)=
    # Second

    Back to {ref}`chap-first`.

    ```{code-cell} ipython3
    ---
    mystnb:
      figure:
        caption: A plot.
        name: fig-second-plot
    ---
    y = x + undefined_here
    for k in range(2):
        y = y + k
    display(y)
    ```

    ```{code-cell} ipython3
    def f():
        return missing_global
    ```
    """)


def test_synthetic_book_finds_the_leaked_names_and_the_forward_references() -> None:
    assert code_cells(SECOND)[0].startswith("y = x")
    # the %magic line is ignored, the cell that does not parse skipped
    assert undefined_names(code_cells(FIRST)) == []
    assert undefined_names(code_cells(SECOND)) == [(0, "undefined_here"), (0, "x"),
                                                    (1, "missing_global")]
    assert labels_defined(SECOND) == {"chap-second", "fig-second-plot"}
    assert labels_referenced(FIRST) == ["fig-second-plot", "chap-second"]
    assert forward_references([("first", FIRST), ("second", SECOND)]) == [
        ("first", "fig-second-plot", "second"), ("first", "chap-second", "second")]
    # in the other order, both references point backwards
    assert forward_references([("second", SECOND), ("first", FIRST)]) == [
        ("second", "chap-first", "first")]


def test_labels_in_exercise_options_and_yaml_headers() -> None:
    text = textwrap.dedent("""\
        ```{exercise}
        :label: ex-one
        ```

        ````{exercise} Titled
        ---
        label: ex-two
        ---
        ````

        $$ a = b $$ (eq-one)

        ```{math}
        :label: eq-two
        a = b
        ```
        """)
    assert labels_defined(text) == {"ex-one", "ex-two", "eq-one", "eq-two"}
    assert labels_referenced("{eq}`eq-two`, {ref}`the exercise <ex-one>`") == ["eq-two",
                                                                                "ex-one"]


# ---- the book


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_defines_every_name_it_uses(chapter: Path) -> None:
    leaks = undefined_names(code_cells(chapter.read_text(encoding="utf-8")))
    assert not leaks, (f"{chapter.name}: names used but not defined in the chapter "
                       f"(cell index, name): {leaks}")


def test_no_chapter_refers_to_a_later_chapter() -> None:
    assert len(CHAPTERS) >= 8
    found = forward_references([(p.name, p.read_text(encoding="utf-8")) for p in CHAPTERS])
    assert not found, f"forward references (chapter, label, defined in): {found}"
