"""The evaluation engine: parallel, failure-tolerant, backend-independent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, design, engine

POINTS = design.latin_hypercube(6, seed=3)


@pytest.fixture(scope="module")
def serial_result() -> pd.DataFrame:
    return engine.evaluate(POINTS, "leadinglog", executor="serial", chunk_size=4, progress=False)


def test_serial_matches_direct(serial_result: pd.DataFrame) -> None:
    assert list(serial_result["idx"]) == list(range(6))
    assert (serial_result["status"] == "ok").all()
    np.testing.assert_allclose(serial_result["chi2"], alps.chi2(POINTS, "leadinglog"), rtol=1e-12)
    np.testing.assert_array_equal(serial_result[list(alps.PARAMETERS)].to_numpy(), POINTS)


def test_process_pool_equals_serial(serial_result: pd.DataFrame) -> None:
    res = engine.evaluate(POINTS, "leadinglog", workers=2, chunk_size=2, progress=False,
                          indices=np.arange(6))
    np.testing.assert_allclose(res["chi2"], serial_result["chi2"], rtol=1e-12, atol=0)


def test_dask_local_cluster_equals_local_pool(serial_result: pd.DataFrame) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = engine.evaluate(POINTS, "leadinglog", executor=client, chunk_size=3, progress=False)
    assert (res["status"] == "ok").all()
    np.testing.assert_allclose(res["chi2"], serial_result["chi2"], rtol=1e-12, atol=0)


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[list[dict]] = []

    def append(self, records: list[dict]) -> None:
        self.chunks.append(list(records))


def test_failures_are_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    real = alps.chi2
    bad_fa = POINTS[2, 0]

    def flaky(points: np.ndarray, integrator: str = "exact", **kw: object) -> np.ndarray:
        pts = np.atleast_2d(points)
        if np.any(pts[:, 0] == bad_fa):
            raise ZeroDivisionError("simulated ALPaca failure")
        values = real(pts, integrator, **kw)
        values[pts[:, 0] == POINTS[4, 0]] = np.nan      # ALPaca returning garbage for one point
        return values

    monkeypatch.setattr(alps, "chi2", flaky)
    sink = _Sink()
    res = engine.evaluate(POINTS, "leadinglog", executor="serial", chunk_size=3, sink=sink,
                          progress=False)
    assert len(res) == 6
    failed = res[res["status"] == "failed"]
    assert set(failed["idx"]) == {2, 4}
    row = failed.set_index("idx").loc[2]
    assert row["error_type"] == "ZeroDivisionError"
    assert "simulated ALPaca failure" in row["error_message"]
    assert failed.set_index("idx").loc[4, "error_type"] == "FloatingPointError"
    assert np.isnan(failed["chi2"]).all()
    ok = res[res["status"] == "ok"]
    assert len(ok) == 4 and np.isfinite(ok["chi2"]).all()
    assert sum(len(c) for c in sink.chunks) == 6  # every point reached the sink, failures too


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"indices": [0, 0, 1, 2, 3, 4]}, "unique"),
        ({"indices": [0, 1]}, "one entry per point"),
        ({"integrator": "euler"}, "unknown integrator"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    kwargs = {"integrator": "leadinglog", "executor": "serial", "progress": False} | kwargs
    integrator = kwargs.pop("integrator")
    with pytest.raises(ValueError, match=match):
        engine.evaluate(POINTS, integrator, **kwargs)


def test_bad_points_rejected_before_submission() -> None:
    pts = POINTS.copy()
    pts[1, 3] = np.nan
    with pytest.raises(ValueError, match="'cdR' has non-finite"):
        engine.evaluate(pts, "leadinglog", executor="serial", progress=False)
