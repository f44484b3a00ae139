"""The data sets shipped with the package.

Each lives in ``lecture_utils/data/resources/<name>.csv.gz`` with ``<name>.provenance.json``;
list them with :func:`available`, load one with :func:`load`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .._paths import RESOURCES_DIR

SHIPPED_DIR = RESOURCES_DIR
"""Folder of the shipped data sets."""


def available() -> list[str]:
    """Names of the shipped data sets."""
    return sorted(p.name[: -len(".csv.gz")] for p in SHIPPED_DIR.glob("*.csv.gz"))


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set as a DataFrame.

    Columns: the six :data:`alps.PARAMETERS` (f_a in GeV), ``chi2`` (exact unless the set's
    provenance says otherwise), ``origin`` (which design stage proposed the point) and, where
    recorded, ``chi2_leadinglog``. Only successfully evaluated points are included; failures are
    counted in the provenance. Raises :class:`ValueError` listing the available sets for an unknown
    name.
    """
    names = available()
    if name not in names:
        raise ValueError(f"unknown data set {name!r}; available: {names}")
    return pd.read_csv(SHIPPED_DIR / f"{name}.csv.gz")


def provenance(name: str) -> dict[str, Any]:
    """The provenance record of a shipped data set."""
    if name not in available():
        raise ValueError(f"unknown data set {name!r}; available: {available()}")
    return json.loads((SHIPPED_DIR / f"{name}.provenance.json").read_text())

