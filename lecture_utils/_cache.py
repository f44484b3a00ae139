"""Where derived artefacts (trained models, compiled libraries, tuning studies) are cached.

Artefacts are keyed by a content hash of everything they are built from, so a stale artefact is
never reused: change the data, the hyperparameters or the code version and the key changes. The
folder is ``$LECTURE_UTILS_CACHE`` if set, else ``~/.cache/lecture_utils``. Deleting it is safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "LECTURE_UTILS_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder (created), optionally a sub-folder of it."""
    root = Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "lecture_utils")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(*items: Any) -> str:
    """SHA-256 (hex) over JSON-serialisable items and raw ``bytes`` (in order)."""
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, bytes | bytearray | memoryview):
            h.update(b"b")
            h.update(bytes(item))
        else:
            h.update(b"j")
            h.update(json.dumps(item, sort_keys=True, default=str).encode())
    return h.hexdigest()
