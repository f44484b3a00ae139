"""Binder reproduces the pinned environment: binder/requirements.txt pins exactly the lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def _normalise(name: str) -> str:
    """PEP 503 name normalisation (``Foo_Bar.baz`` and ``foo-bar-baz`` are the same project)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line; other lines must be options,
    comments or the editable install of this repository."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if match is None:
            if line in {"-e .", "-e ..", "."}:
                continue
            raise AssertionError(f"{path.name}:{number}: not an exact pin: {raw!r}")
        name = _normalise(match.group(1))
        assert name not in pins, f"{path.name}:{number}: {name} pinned twice"
        pins[name] = match.group(3)
    return pins


def test_binder_requirements_pin_the_lock_exactly() -> None:
    lock = read_pins(ROOT / "requirements.lock")
    binder = read_pins(BINDER / "requirements.txt")
    assert lock, "requirements.lock has no pins"
    missing = sorted(set(lock) - set(binder))
    extra = sorted(set(binder) - set(lock))
    differ = {n: (lock[n], binder[n]) for n in set(lock) & set(binder) if lock[n] != binder[n]}
    assert not (missing or extra or differ), (
        "binder/requirements.txt drifted from requirements.lock "
        f"(run `make binder/requirements.txt`): missing {missing}, extra {extra}, "
        f"different versions (lock, binder) {differ}"
    )


def test_binder_python_matches_the_project() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == "python-3.12"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires.startswith(">=3.12") or "3.12" in requires


@pytest.mark.parametrize("package", ["jupytext", "ipykernel", "lecture_utils"])
def test_binder_installs_what_the_notebooks_need(package: str) -> None:
    """jupytext opens the .md chapters as notebooks; the package is installed by postBuild."""
    if package == "lecture_utils":
        post_build = BINDER / "postBuild"
        assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
        assert re.search(r"pip install --no-deps -e \.", post_build.read_text())
    else:
        assert package in read_pins(BINDER / "requirements.txt")
