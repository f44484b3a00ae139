"""Where the package finds the files it ships, and where a source checkout keeps its work files.

The shipped files are package data (``[tool.setuptools.package-data]`` in ``pyproject.toml``), found
through :mod:`importlib.resources`, so an installed wheel finds them as an editable checkout does.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _package_folder(*parts: str) -> Path:
    """A folder of the package as a real path (the package compiles C code and reads its files
    with numpy and pandas, so it must be installed as files, not inside a zip archive)."""
    folder = resources.files(__package__).joinpath(*parts)
    if not isinstance(folder, Path):
        raise ImportError(f"{__package__} must be installed as files on disk, not zipped "
                          f"({folder!r})")
    return folder


RESOURCES_DIR: Path = _package_folder("data", "resources")
"""The shipped files: data sets with their provenance, the leading-log pools of the recipes, the
exact running table, the tuned hyperparameters."""


def source_checkout() -> Path | None:
    """The root of the source checkout the package is imported from, if any.

    Returns
    -------
    pathlib.Path or None
        The folder holding ``pyproject.toml`` next to the package (an editable install or a run
        from the repository); ``None`` for an installed wheel.
    """
    root = _package_folder().resolve().parent
    return root if (root / "pyproject.toml").is_file() else None
