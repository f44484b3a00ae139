"""Progress bars that CI can switch off.

Set the environment variable ``LECTURE_UTILS_PROGRESS=0`` (CI does) to silence every bar, or pass
``progress=False`` to the function that draws one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
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
