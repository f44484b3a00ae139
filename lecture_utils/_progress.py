"""Progress bars that CI can switch off, and quiet imports of chatty libraries.

Set the environment variable ``LECTURE_UTILS_PROGRESS=0`` (CI does) to silence every bar, or pass
``progress=False`` to the function that draws one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

ENV_VAR = "LECTURE_UTILS_PROGRESS"


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw a progress bar: an explicit ``progress`` wins, else the environment."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(ENV_VAR, "1").strip().lower() not in {"0", "false", "no", "off"}


def progress_bar(iterable: Iterable[Any] | None = None, *, progress: bool | None = None,
                 **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar, disabled when :func:`progress_enabled` says so."""
    return tqdm(iterable, disable=not progress_enabled(progress), **kwargs)


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Drop every record of the logger ``name`` (and its children) while the block runs.

    A filter, not a level: some libraries set their logger's level when they are imported (arviz
    announces its plotting backend at INFO level), which would undo a level set beforehand.
    """
    logger = logging.getLogger(name)
    drop_all = logging.Filter(f"{name}.\0")  # matches no real record name
    logger.addFilter(drop_all)
    try:
        yield
    finally:
        logger.removeFilter(drop_all)
