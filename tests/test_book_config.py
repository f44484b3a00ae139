"""The book's configuration is consistent: the toc lists existing files, every chapter is listed and
is a jupytext notebook, no .ipynb is committed, execution fails on errors, citations resolve."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst")


def load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def toc_files(node: object) -> Iterator[str]:
    """Every ``file:`` entry of a sphinx-external-toc tree (root, parts, chapters, sections)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"root", "file"} and isinstance(value, str):
                yield value
            else:
                yield from toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_files(item)


def resolve(entry: str) -> list[Path]:
    """The source files a toc entry (given without suffix, or with one) can refer to."""
    path = ROOT / entry
    if path.suffix in SOURCE_SUFFIXES:
        return [path] if path.is_file() else []
    return [p for s in SOURCE_SUFFIXES if (p := path.with_name(path.name + s)).is_file()]


TOC = load_yaml("_toc.yml")
ENTRIES = list(toc_files(TOC))
CHAPTERS = sorted(NOTEBOOK_DIR.glob("*.md"))


def test_toc_format() -> None:
    assert TOC["format"] == "jb-book"
    assert TOC["root"] == "book/intro"
    assert len(ENTRIES) == len(set(ENTRIES)), "a file is listed twice in _toc.yml"


@pytest.mark.parametrize("entry", ENTRIES)
def test_toc_entry_exists(entry: str) -> None:
    found = resolve(entry)
    assert found, f"_toc.yml lists {entry!r} but no {entry}{{.md,.ipynb,.rst}} exists"
    assert len(found) == 1, f"_toc.yml entry {entry!r} is ambiguous: {found}"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_listed_in_toc(notebook: Path) -> None:
    listed = {p for entry in ENTRIES for p in resolve(entry)}
    assert notebook in listed, f"{notebook.name} is not in _toc.yml (only toc files are built)"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_a_jupytext_myst_notebook(notebook: Path) -> None:
    text = notebook.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{notebook.name} has no YAML header"
    header = yaml.safe_load(text.split("---\n", 2)[1])
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"
    assert header["kernelspec"]["name"] == "python3"
    assert header["kernelspec"]["language"] == "python"
    nb = jupytext.reads(text, fmt="md:myst")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{notebook.name} has no code cell"
    assert all(not c.get("outputs") for c in code), "notebooks are stored without outputs"


def test_every_page_is_listed_in_toc() -> None:
    """only_build_toc_files silently drops unlisted pages: every book/*.md must be in _toc.yml."""
    listed = {p for entry in ENTRIES for p in resolve(entry)}
    unlisted = [p.name for p in sorted((ROOT / "book").glob("*.md")) if p not in listed]
    assert not unlisted, f"pages in book/ missing from _toc.yml (so not built): {unlisted}"


def test_chapters_are_numbered_consistently() -> None:
    for notebook in CHAPTERS:
        assert re.fullmatch(r"0[1-9]_[a-z0-9_]+\.md", notebook.name), notebook.name


def test_no_ipynb_committed_in_notebooks() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        [git, "ls-files", "--cached", "--", "notebooks"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()
    ipynb = [f for f in tracked if f.endswith(".ipynb")]
    assert not ipynb, f".ipynb files are tracked in notebooks/ (commit the .md only): {ipynb}"


def test_execution_fails_on_errors() -> None:
    config = load_yaml("_config.yml")
    assert config["only_build_toc_files"] is True
    execute = config["execute"]
    assert execute["execute_notebooks"] in {"force", "cache"}
    assert execute["allow_errors"] is False
    assert 0 < execute["timeout"] <= 3600
    if execute["execute_notebooks"] == "cache":
        assert Path(execute["cache"]).parts[0] == "_build", "the execution cache lives in _build"
    sphinx = config["sphinx"]
    # a raising cell is a warning, which `-W` makes fatal; --keep-going reports every failing
    # notebook in one build (raise_on_error would abort at the first one)
    assert sphinx["config"]["nb_execution_raise_on_error"] is False
    book_rule = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nbook:", 1)[1]
    assert "jupyter-book build . -W -n --keep-going" in book_rule.split("\n\n", 1)[0]
    assert "sphinx_exercise" in sphinx["extra_extensions"]
    for name in (".venv", "_build", "tests"):
        assert name in config["exclude_patterns"]


def test_bibliography_and_citations() -> None:
    config = load_yaml("_config.yml")
    (bibfile,) = config["bibtex_bibfiles"]
    bib = (ROOT / bibfile).read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.MULTILINE)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    assert "alda2026ml" in keys
    sources = [p for e in ENTRIES for p in resolve(e) if p.suffix == ".md"]
    cited = set()
    for source in sources:
        text = re.sub(r"``.*?``", "", source.read_text(encoding="utf-8"))  # examples in code spans
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
            cited.update(key.strip() for key in group.split(","))
    unknown = sorted(cited - set(keys))
    assert not unknown, f"cited but not in {bibfile}: {unknown}"


# The key statements are definition / theorem blocks (sphinx-proof), numbered and referable.
KEY_STATEMENTS = {
    "01_statistics.md": {"thm-wilks": "theorem", "def-profile": "definition"},
    "06_shap.md": {"def-shapley": "definition", "thm-shapley": "theorem"},
    "07_mcmc.md": {"def-detailed-balance": "definition", "def-affine-invariance": "definition"},
}
PRF_BLOCK = re.compile(r"^```\{prf:(\w+)\}[^\n]*\n:label: ([\w-]+)$", re.MULTILINE)


def test_sphinx_proof_is_enabled() -> None:
    assert "sphinx_proof" in load_yaml("_config.yml")["sphinx"]["extra_extensions"]


@pytest.mark.parametrize("chapter", sorted(KEY_STATEMENTS))
def test_key_statements_are_proof_blocks(chapter: str) -> None:
    text = (NOTEBOOK_DIR / chapter).read_text(encoding="utf-8")
    blocks = {label: kind for kind, label in PRF_BLOCK.findall(text)}
    for label, kind in KEY_STATEMENTS[chapter].items():
        assert blocks.get(label) == kind, f"{chapter}: no {{prf:{kind}}} labelled {label}"


def test_every_proof_block_is_referenced() -> None:
    sources = {p: p.read_text(encoding="utf-8") for p in CHAPTERS}
    everything = "\n".join(sources.values())
    for path, text in sources.items():
        for _, label in PRF_BLOCK.findall(text):
            assert f"{{prf:ref}}`{label}`" in everything, f"{path.name}: {label} is never cited"


def test_live_code_runs_on_this_repositorys_binder_image() -> None:
    """thebe's Live Code button starts a kernel from this repository's Binder image."""
    config = load_yaml("_config.yml")
    assert config["launch_buttons"]["thebe"] is True
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["repository"]["url"].startswith("https://github.com/")
