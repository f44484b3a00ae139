"""The crash-safe store, resumable generation, the CLI and the designs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, data, design

PTS = design.latin_hypercube(10, seed=5)


def _records(idx: list[int]) -> list[dict]:
    return [{"idx": i, "chi2": 10.0 + i, "status": "ok", "error_type": None,
             "error_message": None, "seconds": 0.1} for i in idx]


def test_store_roundtrip(tmp_path: Path) -> None:
    st = data.Store.create(tmp_path / "s", PTS, "lhs", {"integrator": "leadinglog", "seed": 5})
    assert len(st.pending()) == 10
    st.append(_records([0, 1, 2]))
    st.append(_records([7]))
    assert st.done_indices() == {0, 1, 2, 7}
    assert sorted(st.pending()["idx"]) == [3, 4, 5, 6, 8, 9]
    table = st.table()
    np.testing.assert_array_equal(table[list(alps.PARAMETERS)].to_numpy(), PTS[[0, 1, 2, 7]])
    meta = st.meta
    assert meta["seed"] == 5 and meta["design_hash"] == data.points_hash(PTS)
    assert meta["chi2_convention"]["alpaca_version"] == "1.2.0"
    assert "alpaca-ALPs" in meta["versions"]


def test_store_refuses_to_mix_designs(tmp_path: Path) -> None:
    data.Store.create(tmp_path / "s", PTS, "lhs", {})
    with pytest.raises(data.StoreError, match="already holds a store"):
        data.Store.create(tmp_path / "s", PTS, "lhs", {})
    with pytest.raises(data.StoreError, match="different design"):
        data.Store.create(tmp_path / "s", PTS[:5], "lhs", {}, resume=True)
    assert data.Store.create(tmp_path / "s", PTS, "lhs", {}, resume=True).path == tmp_path / "s"
    with pytest.raises(data.StoreError, match="no store"):
        data.Store.open(tmp_path / "nothing")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_chunk_detected_rest_readable(tmp_path: Path, damage: str) -> None:
    st = data.Store.create(tmp_path / "s", PTS, "lhs", {})
    st.append(_records([0, 1]))
    bad = st.append(_records([2, 3, 4]))
    raw = bad.read_bytes()
    if damage == "truncate":
        bad.write_bytes(raw[: len(raw) // 2])
    else:
        bad.write_bytes(raw.replace(b"12.0", b"99.0"))
    with pytest.warns(data.StoreCorruptionWarning, match=bad.name):
        done = st.done_indices()
    assert done == {0, 1}
    with pytest.warns(data.StoreCorruptionWarning):
        assert sorted(st.pending()["idx"]) == [2, 3, 4, 5, 6, 7, 8, 9]


def test_identical_duplicates_dropped_conflicts_raise(tmp_path: Path) -> None:
    st = data.Store.create(tmp_path / "s", PTS, "lhs", {})
    st.append(_records([0, 1]))
    st.append(_records([1]))
    assert list(st.records()["idx"]) == [0, 1]
    rec = _records([1])
    rec[0]["chi2"] = 5.0
    st.append(rec)
    with pytest.raises(data.StoreError, match="conflicting"):
        st.records()


def test_compact_keeps_everything(tmp_path: Path) -> None:
    st = data.Store.create(tmp_path / "s", PTS, "lhs", {})
    for i in range(4):
        st.append(_records([2 * i, 2 * i + 1]))
    before = st.records()
    data.compact(st)
    assert len(list((st.path / "results").glob("chunk-*.jsonl"))) == 1
    pd.testing.assert_frame_equal(st.records(), before)


def test_generate_and_resume(tmp_path: Path) -> None:
    pts = PTS[:4]
    st = data.generate(tmp_path / "g", pts, "leadinglog", origins="lhs", executor="serial",
                       progress=False, meta={"seed": 5})
    assert st.summary()["n_done"] == 4
    first = st.records()
    st2 = data.generate(tmp_path / "g", pts, "leadinglog", resume=True, executor="serial",
                        progress=False)
    pd.testing.assert_frame_equal(st2.records(), first)
    assert [r["evaluated"] for r in st2.meta["runs"]] == [4, 0]
    with pytest.raises(data.StoreError, match="integrator"):
        data.generate(tmp_path / "g", pts, "exact", resume=True, executor="serial",
                      progress=False)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "lecture_utils", *args]


def test_sigkill_then_resume_gives_exact_set(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    n = 24
    args = ["generate", "--design", "lhs", "--n", str(n), "--seed", "11", "--integrator",
            "leadinglog", "--workers", "1", "--chunk-size", "2", "--out", str(out),
            "--no-progress"]
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        chunks = list((out / "results").glob("chunk-*.jsonl")) if out.exists() else []
        if len(chunks) >= 2:
            break
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)     # the CLI and its worker, mid-run
    proc.wait()
    st = data.Store.open(out)
    done_before = st.done_indices()
    assert 0 < len(done_before) < n
    res = subprocess.run(_cli(*args, "--resume"), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_done"] == n
    rec = st.records()
    assert sorted(rec["idx"]) == list(range(n))                  # nothing lost
    assert not rec["idx"].duplicated().any()                     # nothing duplicated
    files = list((out / "results").glob("chunk-*.jsonl"))
    assert sum(len(data.Store._read_chunk(f)) for f in files) == n
    expected = design.latin_hypercube(n, seed=11)
    np.testing.assert_array_equal(st.design()[list(alps.PARAMETERS)].to_numpy(), expected)


def test_cli_refuses_existing_store_without_resume(tmp_path: Path) -> None:
    data.Store.create(tmp_path / "s", design.latin_hypercube(3, seed=0), "lhs", {})
    res = subprocess.run(_cli("generate", "--n", "3", "--integrator", "leadinglog", "--out",
                              str(tmp_path / "s"), "--no-progress"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "already holds a store" in res.stderr


def test_designs_are_seeded() -> None:
    a, b = design.latin_hypercube(50, seed=1), design.latin_hypercube(50, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, design.latin_hypercube(50, seed=2))
    assert alps.DOMAIN.contains(a).all()
    u = alps.DOMAIN.to_unit(a)                        # one point per stratum in every dimension
    for j in range(6):
        assert sorted(np.floor(u[:, j] * 50).astype(int)) == list(range(50))
    j = design.jitter_around(a[:3], 200, seed=4, scale=0.3)
    assert alps.DOMAIN.contains(j).all()
    np.testing.assert_array_equal(j, design.jitter_around(a[:3], 200, seed=4, scale=0.3))
    with pytest.raises(ValueError, match="unknown design"):
        design.make("sobol", 4, 0)
    with pytest.raises(ValueError, match="positive integer"):
        design.latin_hypercube(0, seed=1)


def test_unknown_dataset_lists_available() -> None:
    with pytest.raises(ValueError, match=r"unknown data set 'nope'; available: \["):
        data.load("nope")


def test_evaluate_cached_reuses_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    pts = PTS[:2]
    first = data.evaluate_cached(pts, "leadinglog", name="t", executor="serial", progress=False)
    assert list(first.columns[:6]) == list(alps.PARAMETERS)
    np.testing.assert_array_equal(first[list(alps.PARAMETERS)].to_numpy(), pts)
    np.testing.assert_array_equal(first["chi2"].to_numpy(), alps.chi2(pts, "leadinglog"))
    store_dirs = list((tmp_path / "evaluations" / "t").iterdir())
    assert len(store_dirs) == 1
    again = data.evaluate_cached(pts, "leadinglog", name="t", executor="serial", progress=False)
    pd.testing.assert_frame_equal(first, again)
    meta = json.loads((store_dirs[0] / "meta.json").read_text())
    assert [r["evaluated"] for r in meta["runs"]] == [2, 0]
