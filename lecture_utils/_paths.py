"""Where the package finds the files it ships."""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR: Path = Path(__file__).resolve().parent / "data" / "resources"
"""The shipped files: data sets with their provenance, the exact running table, the tuned
hyperparameters."""
