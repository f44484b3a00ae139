"""Fixtures shared by several test modules, and the test session's private artefact cache.

Every test session gets its own artefact cache (``$LECTURE_UTILS_CACHE``), so no result depends on
what an earlier session or the user left in ``~/.cache``: a temporary folder, or the folder named
by ``$LECTURE_UTILS_TEST_CACHE`` (``make test`` points it into ``_build/`` so that ``make book``
reuses the trained models and sampled posteriors; its keys hold everything a result depends on).
The notebook kernels of the nbval tests inherit the variable.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from lecture_utils import _cache, alps, surrogate
from lecture_utils.data import SEED_ENV_VAR
from lecture_utils.testing import toy_dataset

# the book's own helpers (book/_ext/booktools.py) are not part of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
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


@pytest.fixture(autouse=True)
def numpy_error_handling_is_left_alone() -> Iterator[None]:
    """Fail a test whose code changes numpy's global floating-point error handling
    (``np.seterr``) and leaves it changed: later tests would see other warnings (an underflow that
    numpy ignores by default becomes an error under ``-W error``), so results would depend on the
    order of the tests."""
    before = np.geterr()
    yield
    after = np.geterr()
    np.seterr(**before)
    assert after == before, f"numpy error handling changed from {before} to {after}"


TEST_CACHE_VAR = "LECTURE_UTILS_TEST_CACHE"
_session_cache: tempfile.TemporaryDirectory[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point ``$LECTURE_UTILS_CACHE`` at this session's cache before anything is collected."""
    global _session_cache
    folder = os.environ.get(TEST_CACHE_VAR)
    if not folder:
        _session_cache = tempfile.TemporaryDirectory(prefix="lecture_utils-test-cache-")
        folder = _session_cache.name
        os.environ[TEST_CACHE_VAR] = folder  # the nbval runs inside this session share it
    os.environ[_cache.ENV_VAR] = str(folder)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the nbval runs of the selected notebooks now, beside the unit tests
    (``tests/test_notebooks.py``: ``start_early``)."""
    global _notebook_module
    for item in session.items:
        if getattr(item, "originalname", "") == "test_notebook_executes":
            _notebook_module = item.module
            _notebook_module.start_early(session.items)
            break


_notebook_module = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop notebook runs that no test waited for (an interrupted or failed-early session)."""
    if _notebook_module is not None:
        _notebook_module.stop_early()


_SESSION_START = time.time()


def _new_evaluations() -> tuple[int, float]:
    """Entries of the session's evaluation cache written during this session (points that
    neither the cache nor the shipped seed held), and the ALPaca seconds they took."""
    root = Path(os.environ.get(_cache.ENV_VAR, "")) / "evaluations" / "points"
    count, seconds = 0, 0.0
    for path in root.glob("*/*.json") if root.is_dir() else []:
        if path.stat().st_mtime >= _SESSION_START:
            count += 1
            with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
                seconds += float(json.loads(path.read_bytes())["payload"].get("seconds") or 0.0)
    return count, seconds


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The wall-clock time of every notebook's nbval run, the longest first, and the ALPaca
    evaluations the session had to make (a stale shipped seed makes ``make test`` slow)."""
    count, seconds = _new_evaluations()
    if count:
        terminalreporter.section("ALPaca evaluations not in the cache or the shipped seed")
        terminalreporter.write_line(
            f"{count} entries ({seconds:.0f} s of ALPaca); after make test or make book, "
            "python -m lecture_utils evaluation-seed --cache _build/cache ships them")
    if _notebook_module is None or not _notebook_module.SECONDS:
        return
    seconds = _notebook_module.SECONDS
    terminalreporter.section("notebook execution (nbval, wall clock)")
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{s:8.1f}s  {name}")
    terminalreporter.write_line(f"{sum(seconds.values()):8.1f}s  in all, "
                                f"{_notebook_module.NOTEBOOK_WORKERS} at a time")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_cache is not None:
        os.environ.pop(TEST_CACHE_VAR, None)
        _session_cache.cleanup()


# --------------------------------------------------------------------------- shared stand-ins
class FakeAlpaca:
    """A stand-in for ALPaca's χ² that counts its calls (a test aid, not physics).

    ``value`` is the χ² as a function of physical points (n, 6); the default is a smooth bowl in
    the couplings. A point whose c_uR equals ``fail_cuR`` raises, as a failed evaluation would.
    The engine evaluates in this process (executor ``"serial"``), so patching ``alps.chi2``
    reaches it.
    """

    def __init__(self, fail_cuR: float | None = None) -> None:
        self.calls: list[np.ndarray] = []
        self.fail_cuR = fail_cuR
        self.value_fn: Callable[[np.ndarray], np.ndarray] = self.value

    @staticmethod
    def value(points: np.ndarray) -> np.ndarray:
        return 12.0 + np.log10(points[:, 0]) + (points[:, 1:] ** 2).sum(axis=1)

    def __call__(self, points: np.ndarray, integrator: str = "exact", **kwargs: object
                 ) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        self.calls.append(pts.copy())
        if self.fail_cuR is not None and np.any(pts[:, 2] == self.fail_cuR):
            raise ZeroDivisionError("simulated ALPaca failure")
        return self.value_fn(pts)

    @property
    def n_points(self) -> int:
        return sum(len(c) for c in self.calls)


@pytest.fixture()
def fake_alpaca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAlpaca:
    """ALPaca replaced by :class:`FakeAlpaca`, with an artefact cache of the test's own (fake χ²
    values must never reach a cache that other tests read) and without the shipped entries of
    the real χ² (``data.SEED_FILE``)."""
    monkeypatch.setenv(_cache.ENV_VAR, str(tmp_path))
    monkeypatch.setenv(SEED_ENV_VAR, "0")
    fake = FakeAlpaca()
    monkeypatch.setattr(alps, "chi2", fake)
    monkeypatch.setattr(alps, "load_alpaca", lambda: None)
    return fake


TOY_PARAMS: dict[str, float] = {
    "max_depth": 4, "learning_rate": 0.3, "gamma": 0.0, "min_child_weight": 1.0, "subsample": 0.8,
    "colsample_bytree": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0}
"""Small, fast XGBoost settings for surrogates of the toy χ² (:mod:`lecture_utils.testing`)."""

TOY_FIT: dict[str, object] = {"gate_params": TOY_PARAMS, "regressor_params": TOY_PARAMS,
                              "max_estimators": 60, "early_stopping_rounds": 10}
"""Keywords of :meth:`TwoStageSurrogate.fit` for toy surrogates."""


@pytest.fixture(scope="session")
def toy_surrogate() -> surrogate.TwoStageSurrogate:
    """One two-stage surrogate of the toy χ² (1,500 seeded points), shared by the test modules
    that need *a* trained model rather than a particular one."""
    return surrogate.TwoStageSurrogate.fit(*toy_dataset(1500, seed=21), seed=3, **TOY_FIT)
