"""On-disk stores of evaluated points, provenance, the evaluation cache and the shipped data sets.

Submodules
----------
:mod:`~lecture_utils.data.store`
    :class:`Store`, the append-only, crash-safe store of evaluated points (checksummed chunks,
    resumable), with its provenance helpers;
:mod:`~lecture_utils.data.generation`
    :func:`generate`: evaluate a design into a store, resumably;
:mod:`~lecture_utils.data.cache`
    the per-point evaluation cache (:func:`evaluate_cached`, :func:`cached_tables`), so that
    notebooks and the package never pay twice for an ALPaca evaluation;
:mod:`~lecture_utils.data.shipped`
    the data sets shipped in ``lecture_utils/data/resources`` (:func:`available`, :func:`load`,
    :func:`provenance`).

Every public name is re-exported here: use ``data.<name>``. To replace something in a test, patch
it where it is looked up: callers outside this package use ``data.<name>``, code inside it the
submodule (e.g. ``data.shipped.SHIPPED_DIR``, read by :func:`load`).
"""

from .cache import (
    CACHE_FORMAT,
    CHI2_KIND,
    SEED_ENV_VAR,
    SEED_FILE,
    SERIAL_BELOW,
    TABLE_KINDS,
    CacheCorruptionWarning,
    cached_table,
    cached_tables,
    evaluate_cached,
    seed_entry,
    write_seed,
)
from .generation import generate
from .shipped import SHIPPED_DIR, available, load, provenance
from .store import (
    KEY_PACKAGES,
    RESULT_COLUMNS,
    Store,
    StoreCorruptionWarning,
    StoreError,
    atomic_write,
    batch_table,
    compact,
    git_revision,
    jsonable,
    package_versions,
    points_hash,
)

__all__ = [
    # store
    "Store", "StoreError", "StoreCorruptionWarning", "RESULT_COLUMNS", "KEY_PACKAGES",
    "package_versions", "git_revision", "points_hash", "atomic_write", "jsonable", "batch_table",
    "compact",
    # generation
    "generate",
    # cache
    "CHI2_KIND", "TABLE_KINDS", "SERIAL_BELOW", "CACHE_FORMAT", "CacheCorruptionWarning",
    "evaluate_cached", "cached_tables", "cached_table", "SEED_FILE", "SEED_ENV_VAR", "seed_entry",
    "write_seed",
    # shipped
    "SHIPPED_DIR", "available", "load", "provenance",
]
