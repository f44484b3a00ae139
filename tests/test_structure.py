"""The package's structure: small files, every module in the layers contract, a contract that
holds, and cache keys that ignore documentation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import lecture_utils as lu
from lecture_utils import _cache

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lecture_utils"
MAX_LINES = 800


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_no_module_file_is_longer_than_the_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_every_top_level_module_is_in_the_layers_contract() -> None:
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    listed = {m.strip().removeprefix("lecture_utils.")
              for layer in layers for m in layer.split("|")}
    present = {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    present |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert present == listed
    assert set(lu.MODULES) == {m for m in present if not m.startswith("_")}


@pytest.mark.skipif(shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
                    reason="import-linter is not installed")
def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", out.stdout)


# --------------------------------------------------------------------------- code fingerprints
def _write_package(root: Path, body: str, c_source: str = "int f(void) { return 1; }\n") -> None:
    pkg = root / "fp_demo"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text('"""A package."""\n')
    (pkg / "model.py").write_text(textwrap.dedent(body))
    (pkg / "kernel.c").write_text(c_source)


BASE = '''
    """Module docstring."""

    SCALE = 2.0
    """Attribute docstring."""


    def predict(x):
        """Predict."""
        return SCALE * x  # a comment
'''


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_package(tmp_path, BASE)
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fp_demo")]:
        del sys.modules[name]


def _fingerprint(root: Path) -> str:
    import importlib

    for name in [m for m in sys.modules if m.startswith("fp_demo")]:
        del sys.modules[name]
    return _cache.code_fingerprint(importlib.import_module("fp_demo"))


def test_fingerprint_ignores_docstrings_comments_and_layout(demo: Path) -> None:
    before = _fingerprint(demo)
    _write_package(demo, '''
        """Another module docstring, much longer.

        With a second paragraph.
        """

        SCALE = 2.0
        """Another attribute docstring."""

        def predict(x):
            """Another docstring."""
            # a new comment
            return (SCALE
                    * x)
    ''', "/* a comment */\nint f(void)\n{\n    return 1;  // one\n}\n")
    assert _fingerprint(demo) == before


@pytest.mark.parametrize("body, c_source", [
    (BASE.replace("SCALE = 2.0", "SCALE = 3.0"), None),
    (BASE.replace("return SCALE * x", "return SCALE + x"), None),
    (BASE, "int f(void) { return 2; }\n"),
])
def test_fingerprint_changes_with_the_code(demo: Path, body: str, c_source: str | None) -> None:
    before = _fingerprint(demo)
    _write_package(demo, body, *([c_source] if c_source else []))
    assert _fingerprint(demo) != before


def test_fingerprint_of_the_package_modules_is_stable_and_distinct() -> None:
    a = _cache.code_fingerprint("lecture_utils.surrogate")
    assert a == _cache.code_fingerprint("lecture_utils.surrogate")
    assert a != _cache.code_fingerprint("lecture_utils.compiled")
    with pytest.raises(ValueError, match="at least one module"):
        _cache.code_fingerprint()


def _fingerprints_of_copy(package: Path) -> dict[str, str]:
    """Code fingerprints of the artefact-owning modules of a copy of the package."""
    code = ("import json, lecture_utils; from lecture_utils._cache import code_fingerprint as f; "
            "print(json.dumps({'__file__': lecture_utils.__file__} | {m: f('lecture_utils.' + m) "
            "for m in ('surrogate', 'compiled', 'sampling', 'active', 'alps')}))")
    env = {"PATH": "", "PYTHONPATH": str(package.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=package.parent)
    found = json.loads(out.stdout)
    assert Path(found.pop("__file__")).parent == package  # the copy, not the installed package
    return found


def test_cache_keys_follow_exactly_the_code_they_depend_on(tmp_path: Path) -> None:
    """On a copy of the package: a docstring and a comment edit keep every fingerprint; a change
    to the compiled predictor's code changes its fingerprint and no other."""
    copy = tmp_path / "lecture_utils"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "resources"))
    before = _fingerprints_of_copy(copy)

    model = copy / "surrogate" / "model.py"
    text = model.read_text()
    model.write_text(text.replace('"""', '"""Edited documentation. ', 1) + "\n# a new comment\n")
    assert _fingerprints_of_copy(copy) == before

    build = copy / "compiled" / "build.py"
    build.write_text(build.read_text() + "\n_EXTRA_CODE = 1\n")
    after = _fingerprints_of_copy(copy)
    assert after["compiled"] != before["compiled"]
    assert {k: v for k, v in after.items() if k != "compiled"} == {
        k: v for k, v in before.items() if k != "compiled"}


BUILDER = textwrap.dedent("""\
    import sys, time, uuid
    from pathlib import Path
    from lecture_utils import _cache
    entry, builds = Path(sys.argv[1]), Path(sys.argv[2])
    with _cache.building(entry):
        if not entry.exists():
            (builds / uuid.uuid4().hex).touch()
            time.sleep(1.0)  # a slow build: without the lock the others would build too
            entry.write_text("built")
    print(entry.read_text())
""")


@pytest.mark.skipif(sys.platform == "win32", reason="the build lock is POSIX (fcntl)")
def test_concurrent_processes_build_a_cache_entry_once(tmp_path: Path) -> None:
    """Three processes that want the same missing entry at once: one builds it, the others wait
    for it and read it (``_cache.building``)."""
    builds = tmp_path / "builds"
    builds.mkdir()
    entry = tmp_path / "entry.txt"
    children = [subprocess.Popen([sys.executable, "-c", BUILDER, str(entry), str(builds)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    assert [child.returncode for child in children] == [0, 0, 0]
    assert outputs == ["built"] * 3
    assert len(list(builds.iterdir())) == 1


def test_no_submodule_shares_a_name_with_its_package_attribute() -> None:
    """``surrogate.features`` must be the function, never the file ``surrogate/features.py``: a
    submodule named like a public name of its package makes the attribute depend on import order."""
    import importlib
    import pkgutil
    import types

    clashes = []
    for init in PACKAGE.glob("*/__init__.py"):
        package = importlib.import_module(f"lecture_utils.{init.parent.name}")
        for info in pkgutil.iter_modules(package.__path__):
            value = getattr(package, info.name, None)
            if value is not None and not isinstance(value, types.ModuleType):
                clashes.append(f"{package.__name__}.{info.name}")
    assert not clashes
