"""The package's public surface: the lazy student API, and every ``lecture_utils`` name that a
chapter, a book page or a benchmark uses exists and is public (a refactor that breaks a notebook
fails here in seconds, not minutes into nbval)."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

import lecture_utils as lu

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*ROOT.glob("notebooks/*.md"), *ROOT.glob("book/*.md")])


def _cell_source(cell: str) -> str:
    """A code cell as Python: IPython magics and shell escapes commented out."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.splitlines())


def _page_code(path: Path) -> str:
    notebook = jupytext.reads(path.read_text(encoding="utf-8"), fmt="md:myst")
    return "\n\n".join(_cell_source(c.source) for c in notebook.cells if c.cell_type == "code")


def lecture_utils_uses(source: str) -> set[tuple[str, str]]:
    """``(module, attribute)`` pairs that code uses from ``lecture_utils``: names imported with
    ``from lecture_utils[.module] import name`` and attributes read from a name bound to a
    ``lecture_utils`` module (``sg.features`` after ``from lecture_utils import surrogate as sg``).
    ``module`` is a dotted name relative to the package (``""`` for the package itself)."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    uses: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == "lecture_utils" or node.module.startswith("lecture_utils.")):
            module = node.module.removeprefix("lecture_utils").lstrip(".")
            for alias in node.names:
                uses.add((module, alias.name))
                full = f"{module}.{alias.name}".lstrip(".")
                if full.split(".")[0] in lu.MODULES:
                    aliases[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lecture_utils" or alias.name.startswith("lecture_utils."):
                    module = alias.name.removeprefix("lecture_utils").lstrip(".")
                    uses.add(("", module.split(".")[0]) if module else ("", "__version__"))
                    aliases[alias.asname or alias.name] = module
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            uses.add((aliases[node.value.id], node.attr))
    return uses


def _missing(uses: set[tuple[str, str]]) -> list[str]:
    """The used names that do not exist, as dotted names."""
    missing = []
    for module, name in sorted(uses):
        try:
            getattr(importlib.import_module(f"lecture_utils.{module}".rstrip(".")), name)
        except (AttributeError, ModuleNotFoundError):
            missing.append(f"lecture_utils.{module}.{name}".replace("..", "."))
    return missing


def test_import_is_cheap_and_lazy() -> None:
    code = ("import sys, lecture_utils as lu; heavy = [m for m in ('xgboost', 'alpaca', "
            "'lecture_utils.surrogate', 'lecture_utils.alps', 'sklearn', 'emcee') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(set(lu.__all__)))
def test_student_api_resolves(name: str) -> None:
    value = getattr(lu, name)
    assert value is not None
    if name in lu.MODULES:
        assert value.__name__ == f"lecture_utils.{name}"
    elif name != "__version__":
        module = importlib.import_module(f"lecture_utils.{lu._STUDENT_API[name]}")
        assert getattr(module, name) is value


def test_student_api_names_do_not_shadow_modules() -> None:
    assert not set(lu._STUDENT_API) & set(lu.MODULES)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        lu.not_a_name  # noqa: B018


def test_the_scanner_finds_imports_and_attributes() -> None:
    uses = lecture_utils_uses("from lecture_utils import surrogate as sg, alps\n"
                              "from lecture_utils.stats import REGION_DELTA_CHI2\n"
                              "import lecture_utils as lu\n"
                              "x = sg.features(alps.DOMAIN) + lu.chi2\n")
    assert {("surrogate", "features"), ("alps", "DOMAIN"), ("stats", "REGION_DELTA_CHI2"),
            ("", "chi2"), ("", "surrogate")} <= uses


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pages_use_existing_public_names(page: Path) -> None:
    uses = lecture_utils_uses(_page_code(page))
    if page.parent.name == "notebooks":
        assert len(uses) > 5, f"{page.name}: no lecture_utils names found (is the page parsed?)"
    private = sorted(f"{m}.{n}" for m, n in uses if n.startswith("_") and n != "__version__")
    assert not private, f"{page.name} uses private names: {private}"
    missing = _missing(uses)
    assert not missing, f"{page.name} uses names that do not exist: {missing}"


@pytest.mark.parametrize("script", sorted(ROOT.glob("benchmarks/*.py")), ids=lambda p: p.name)
def test_benchmarks_use_existing_public_names(script: Path) -> None:
    missing = _missing(lecture_utils_uses(script.read_text()))
    assert not missing, f"{script.name} uses names that do not exist: {missing}"


def test_api_page_documents_the_student_api() -> None:
    text = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(
        r"^\.\. auto(?:function|class|data):: lecture_utils\.[\w.]+\.(\w+)$", text, re.M))
    assert documented == set(lu._STUDENT_API)
    modules = set(re.findall(r"^\.\. automodule:: lecture_utils\.(\w+)", text, re.M))
    assert modules == set(lu.MODULES)
