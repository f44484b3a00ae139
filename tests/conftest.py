"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lecture_utils import _cache
from lecture_utils import compiled as cp


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fresh artefact cache folder (``$LECTURE_UTILS_CACHE``) for the whole test module, so
    compiled libraries and trained models of one module are built there and never reused from, or
    left in, the user's cache."""
    old = os.environ.get(_cache.ENV_VAR)
    os.environ[_cache.ENV_VAR] = str(tmp_path_factory.mktemp("cache"))
    cp.clear_memo()
    yield
    cp.clear_memo()
    if old is None:
        os.environ.pop(_cache.ENV_VAR, None)
    else:
        os.environ[_cache.ENV_VAR] = old
