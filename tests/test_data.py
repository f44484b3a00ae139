"""The crash-safe store, resumable generation, the CLI and the designs."""

from __future__ import annotations

import dataclasses
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
from conftest import FakeAlpaca

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


# ------------------------------------------------------------------ the evaluation cache ---
def test_evaluate_cached_reuses_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real ALPaca (leading log): the cached values are ALPaca's, one entry per point, and a
    second call evaluates nothing."""
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    pts = PTS[:2]
    first = data.evaluate_cached(pts, "leadinglog", name="t", executor="serial", progress=False)
    assert list(first.columns) == [*alps.PARAMETERS, "origin", "chi2", "status", "error_type",
                                   "error_message", "seconds"]
    np.testing.assert_array_equal(first[list(alps.PARAMETERS)].to_numpy(), pts)
    np.testing.assert_array_equal(first["chi2"].to_numpy(), alps.chi2(pts, "leadinglog"))
    assert (first["status"] == "ok").all() and first["error_type"].isna().all()
    entries = list((tmp_path / "evaluations" / "points" / "chi2").glob("*.json"))
    assert len(entries) == 2

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was called although every point is cached")

    from lecture_utils import engine

    monkeypatch.setattr(engine, "evaluate", no_engine)
    again = data.evaluate_cached(pts, "leadinglog", name="other", progress=False)
    pd.testing.assert_frame_equal(first, again)


@pytest.fixture()
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record every engine call (points, executor, chunk size) and run it in this process."""
    from lecture_utils import engine

    real = engine.evaluate
    calls: list[dict] = []

    def recording(points, integrator="exact", *, executor=None, chunk_size=None, **kwargs):
        calls.append({"points": np.array(points), "executor": executor,
                      "chunk_size": chunk_size})
        return real(points, integrator, executor="serial", chunk_size=chunk_size, **kwargs)

    monkeypatch.setattr(engine, "evaluate", recording)
    return calls


def test_cache_reuses_points_across_overlapping_batches(fake_alpaca: FakeAlpaca,
                                                        engine_calls: list[dict]) -> None:
    pts = design.latin_hypercube(10, seed=7)
    first = data.evaluate_cached(pts[:6], progress=False)
    assert fake_alpaca.n_points == 6 and len(engine_calls) == 1
    # overlaps the first batch in 3 points, repeats two points, comes in another order
    batch = np.vstack([pts[9], pts[3], pts[6:9], pts[9], pts[4], pts[5], pts[3]])
    second = data.evaluate_cached(batch, progress=False)
    assert len(engine_calls) == 2                      # ONE engine call for the missing points
    np.testing.assert_array_equal(engine_calls[1]["points"], pts[[9, 6, 7, 8]])  # each once
    assert fake_alpaca.n_points == 10                  # every point evaluated exactly once
    np.testing.assert_array_equal(second[list(alps.PARAMETERS)].to_numpy(), batch)  # input order
    np.testing.assert_array_equal(second["chi2"].to_numpy(), FakeAlpaca.value(batch))
    for i, j in ((0, 5), (1, 8)):                                              # duplicates agree
        pd.testing.assert_frame_equal(second.iloc[[i]].reset_index(drop=True),
                                      second.iloc[[j]].reset_index(drop=True))
    pd.testing.assert_frame_equal(second.iloc[[1, 6, 7]].reset_index(drop=True),
                                  first.iloc[[3, 4, 5]].reset_index(drop=True))  # reused
    assert (second["status"] == "ok").all() and (second["origin"] == "given").all()
    data.evaluate_cached(pts[::-1], progress=False)
    assert fake_alpaca.n_points == 10 and len(engine_calls) == 2  # all cached: no engine call
    # another integrator is another key
    data.evaluate_cached(pts[:2], "leadinglog", progress=False)
    assert fake_alpaca.n_points == 12


def test_cache_key_is_bit_exact(fake_alpaca: FakeAlpaca) -> None:
    point = design.latin_hypercube(1, seed=2)
    data.evaluate_cached(point, progress=False)
    nudged = point.copy()
    nudged[0, 1] = np.nextafter(nudged[0, 1], np.inf)
    data.evaluate_cached(nudged, progress=False)
    assert fake_alpaca.n_points == 2


def test_executor_choice(fake_alpaca: FakeAlpaca, engine_calls: list[dict]) -> None:
    """In this process for a handful of missing points, a pool for many; a pool passed in gets
    chunks small enough for all its workers."""
    pts = design.latin_hypercube(30, seed=8)
    data.evaluate_cached(pts[:data.SERIAL_BELOW - 1], progress=False)
    assert engine_calls[-1]["executor"] == "serial"
    data.evaluate_cached(pts[10:10 + data.SERIAL_BELOW], workers=2, progress=False)
    assert engine_calls[-1]["executor"] is None          # the engine's own local pool
    assert engine_calls[-1]["chunk_size"] == data.SERIAL_BELOW // 2
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        data.evaluate_cached(pts[25:28], executor=pool, progress=False)
    assert engine_calls[-1]["executor"] is pool and engine_calls[-1]["chunk_size"] == 2


def test_pool_results_equal_serial(fake_alpaca: FakeAlpaca) -> None:
    """An executor passed in really evaluates (here a thread pool, so the fake reaches it)."""
    from concurrent.futures import ThreadPoolExecutor

    pts = design.latin_hypercube(9, seed=4)
    with ThreadPoolExecutor(max_workers=3) as pool:
        table = data.evaluate_cached(pts, executor=pool, progress=False)
    np.testing.assert_array_equal(table["chi2"].to_numpy(), FakeAlpaca.value(pts))
    assert sorted(len(c) for c in fake_alpaca.calls) == [3, 3, 3]


def test_failures_recorded_and_not_retried(fake_alpaca: FakeAlpaca) -> None:
    pts = design.latin_hypercube(4, seed=6)
    fake_alpaca.fail_cuR = pts[2, 2]
    table = data.evaluate_cached(pts, progress=False)
    assert list(table["status"]) == ["ok", "ok", "failed", "ok"]
    assert np.isnan(table["chi2"][2]) and np.isfinite(table["chi2"].drop(2)).all()
    assert table["error_type"][2] == "ZeroDivisionError"
    assert "simulated ALPaca failure" in table["error_message"][2]
    n = fake_alpaca.n_points
    again = data.evaluate_cached(pts, progress=False)     # the failure is cached, not retried
    assert fake_alpaca.n_points == n
    pd.testing.assert_frame_equal(again, table)
    fake_alpaca.fail_cuR = None                           # e.g. after fixing the cause
    retried = data.evaluate_cached(pts, progress=False, retry_failed=True)
    np.testing.assert_array_equal(fake_alpaca.calls[-1], pts[[2]])  # only the failed point
    assert (retried["status"] == "ok").all()
    assert retried["chi2"][2] == FakeAlpaca.value(pts[[2]])[0]


def _entry(tmp_path: Path, kind: str = "chi2") -> list[Path]:
    return sorted((tmp_path / "evaluations" / "points" / kind).glob("*.json"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "swap"])
def test_corrupt_entry_is_recomputed_with_a_warning(fake_alpaca: FakeAlpaca, tmp_path: Path,
                                                    damage: str) -> None:
    pts = design.latin_hypercube(2, seed=1)
    first = data.evaluate_cached(pts, progress=False)
    entries = _entry(tmp_path)
    key = data.cache._PointCache.open("chi2", "exact").key(pts[0])
    (bad,) = [e for e in entries if key[:32] in e.name]
    (good,) = [e for e in entries if e != bad]
    raw = bad.read_bytes()
    if damage == "truncate":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":   # a changed χ² that still parses: caught by the checksum
        entry = json.loads(raw)
        entry["payload"]["chi2"] += 1.0
        bad.write_text(json.dumps(entry))
    else:                    # a valid entry of another point under this point's name
        bad.write_bytes(good.read_bytes())
    n = fake_alpaca.n_points
    with pytest.warns(data.CacheCorruptionWarning, match=bad.name):
        again = data.evaluate_cached(pts, progress=False)
    pd.testing.assert_frame_equal(again[["chi2", "status"]], first[["chi2", "status"]])
    assert fake_alpaca.n_points == n + 1                  # only the damaged point, recomputed
    data.evaluate_cached(pts, progress=False)             # repaired: no warning (warnings fail)
    assert fake_alpaca.n_points == n + 1


_WRITER = """
import sys, time
import numpy as np
from pathlib import Path
from lecture_utils import alps, data, design

def fake(points, integrator="exact", **kwargs):
    pts = np.atleast_2d(points)
    time.sleep(0.02 * len(pts))
    return 12.0 + np.log10(pts[:, 0]) + (pts[:, 1:] ** 2).sum(axis=1)

alps.chi2 = fake
alps.load_alpaca = lambda: None
pts = design.latin_hypercube(40, seed=9)
order = np.random.default_rng(int(sys.argv[1])).permutation(len(pts))
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
table = data.evaluate_cached(pts[order], executor="serial", progress=False)
assert (table["status"] == "ok").all()
np.save(sys.argv[3], table["chi2"].to_numpy()[np.argsort(order)])
"""


def test_two_processes_share_the_cache_safely(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes evaluate the same 40 points at the same time, in different orders, into one
    cache: both get every value, every entry is intact, no temporary file is left."""
    cache = tmp_path / "cache"
    env = {**os.environ, "LECTURE_UTILS_CACHE": str(cache)}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(k), str(go),
                               str(tmp_path / f"out{k}.npy")], env=env,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    time.sleep(1.0)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    pts = design.latin_hypercube(40, seed=9)
    expected = FakeAlpaca.value(pts)
    for k in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"out{k}.npy"), expected)
    folder = cache / "evaluations" / "points" / "chi2"
    assert len(list(folder.glob("*.json"))) == 40
    assert not [f for f in folder.iterdir() if f.suffix != ".json"]   # no temporary files
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(cache))
    from lecture_utils import engine

    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: pytest.fail("evaluated again"))
    table = data.evaluate_cached(pts, progress=False)    # every entry intact (warnings fail)
    np.testing.assert_array_equal(table["chi2"].to_numpy(), expected)


def test_tables_cached_per_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    calls: list[tuple[int, str]] = []

    def fake_breakdown(points, integrator="exact", **kwargs):
        p = np.atleast_2d(points)
        calls.append((len(p), integrator))
        return pd.DataFrame({"observable": ["B -> K a", "Bs -> mu mu"],
                             "experiment": ["Belle II", "LHCb"],
                             "chi2": [p[0, 1] ** 2, 0.1 + p[0, 2] ** 2], "dof": [1, 2]})

    monkeypatch.setattr(alps, "chi2_breakdown", fake_breakdown)
    pts = design.latin_hypercube(5, seed=3)
    tables = data.cached_tables("breakdown", pts[:3], "leadinglog", progress=False)
    assert calls == [(1, "leadinglog")] * 3
    for p, t in zip(pts[:3], tables, strict=True):
        pd.testing.assert_frame_equal(t, fake_breakdown(p, "leadinglog"))
    del calls[3:]
    again = data.cached_tables("breakdown", np.vstack([pts[4], pts[1], pts[4]]), "leadinglog",
                               progress=False)
    assert calls == [(1, "leadinglog")] * 4            # only pts[4], once
    pd.testing.assert_frame_equal(again[1], tables[1])
    pd.testing.assert_frame_equal(again[0], again[2])
    whole = data.cached_table("breakdown", pts[:2], "leadinglog")
    assert len(whole) == 4 and list(whole.index) == [0, 1, 2, 3]
    data.cached_tables("breakdown", pts[:1], "exact", progress=False)
    assert calls[-1] == (1, "exact")                   # another integrator, another key
    with pytest.raises(ValueError, match="unknown table kind"):
        data.cached_tables("pulls", pts)
    with pytest.raises(ValueError, match="unknown integrator"):
        data.cached_tables("breakdown", pts, "nlo")
    with pytest.raises(ValueError, match="outside the domain"):
        data.cached_tables("breakdown", [1.0e9, 0, 0, 0, 0, 0])


def test_tables_in_a_pool_equal_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing tables go to the executor in one chunk per worker (a thread pool here, so the
    monkeypatched function reaches it); a failing table is not cached and its error propagates."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    calls: list[int] = []

    def fake_low(points, integrator="exact", **kwargs):
        p = np.atleast_2d(points)
        calls.append(len(p))
        if p[0, 1] > 3.0:
            raise RuntimeError("simulated ALPaca failure")
        return pd.DataFrame({c: p[:, 1] * k for k, c in enumerate(alps.LOW_ENERGY_COLUMNS)})

    monkeypatch.setattr(alps, "low_energy_couplings", fake_low)
    pts = design.latin_hypercube(7, seed=5)
    pts[:, 1] = np.linspace(-3, 3, 7)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pooled = data.cached_table("low-energy", pts, "leadinglog", executor=pool)
    expected = pd.DataFrame({c: pts[:, 1] * k for k, c in enumerate(alps.LOW_ENERGY_COLUMNS)})
    pd.testing.assert_frame_equal(pooled, expected)
    assert len(calls) == 7 and len(_entry(tmp_path, "low-energy")) == 7
    bad = pts[:2].copy()
    bad[1, 1] = 3.4
    with pytest.raises(RuntimeError, match="simulated"):
        data.cached_table("low-energy", bad, "leadinglog")
    assert len(_entry(tmp_path, "low-energy")) == 7     # the failure is not cached


def test_dataset_recipe_with_active_stage(fake_alpaca: FakeAlpaca, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny recipe through every stage (stand-in χ², in this process): the active stage runs
    the real learner from the exact points, its points are re-evaluated with the leading-log
    integrator, and the export ships them with origin 'active' beside the design points; a
    second build changes nothing; ``base_points`` drops the extension again."""
    from lecture_utils import active, datasets

    tiny = datasets.Recipe("tiny", seed=5, n_prescan=12, n_focus=6, n_region=4, n_other=3,
                           n_active=4, active_batch_size=2)
    monkeypatch.setitem(datasets.RECIPES, "tiny", tiny)
    work, out = tmp_path / "work", tmp_path / "shipped"
    monkeypatch.setattr(data.shipped, "SHIPPED_DIR", out)
    with pytest.raises(ValueError, match="active_runner"):
        datasets.build("tiny", workdir=work, executor="serial", progress=False, out_dir=out)
    summary = datasets.build("tiny", workdir=work, executor="serial", progress=False,
                             out_dir=out, active_runner=active.extend_train)
    df = data.load("tiny")
    assert len(df) == 7 + 4 and (df["origin"] == datasets.ACTIVE_ORIGIN).sum() == 4
    act = df[df["origin"] == datasets.ACTIVE_ORIGIN]
    # both fidelities of the stand-in are the same function: the leading-log column is real data
    np.testing.assert_array_equal(act["chi2_leadinglog"], act["chi2"])
    np.testing.assert_array_equal(act["chi2"], FakeAlpaca.value(act[list(alps.PARAMETERS)]
                                                                .to_numpy()))
    assert not df.duplicated(list(alps.PARAMETERS)).any()
    prov = data.provenance("tiny")
    assert prov["n_ok"] == len(df) and prov["n_requested"] == 11 and not prov["partial"]
    assert prov["active"]["n_ok"] == 4 and prov["active"]["run"]["batch_size"] == 2
    assert summary["export"]["n_ok"] == 11
    base = datasets.base_points("tiny")
    assert len(base) == 7 and (base["origin"] != datasets.ACTIVE_ORIGIN).all()
    # the leading-log pool ships beside the data set, digit for digit
    pool = datasets.stores_pool(work / "tiny")
    assert len(pool) == 12 + 6 and set(pool["origin"]) == {"prescan", "focus"}
    pd.testing.assert_frame_equal(datasets.shipped_pool("tiny"), pool, check_exact=True)
    with pytest.raises(ValueError, match=r"no shipped leading-log pool 'nosuch'.*\['tiny'\]"):
        datasets.shipped_pool("nosuch")
    n_calls = fake_alpaca.n_points
    datasets.build("tiny", workdir=work, executor="serial", progress=False, out_dir=out,
                   active_runner=active.extend_train)
    assert fake_alpaca.n_points == n_calls            # resumed: nothing evaluated again
    pd.testing.assert_frame_equal(data.load("tiny"), df)
    # a longer active run adds points (exact and leading-log) without touching the old ones
    monkeypatch.setitem(datasets.RECIPES, "tiny", dataclasses.replace(tiny, n_active=6))
    datasets.build("tiny", workdir=work, executor="serial", progress=False, out_dir=out,
                   active_runner=active.extend_train)
    assert fake_alpaca.n_points == n_calls + 2 * 2
    grown = data.load("tiny")
    assert (grown["origin"] == datasets.ACTIVE_ORIGIN).sum() == 6
    pd.testing.assert_frame_equal(grown.iloc[:len(df)], df)


def test_dense_recipe_builds_resumes_and_validates(fake_alpaca: FakeAlpaca, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny dense recipe (stand-in χ², in this process): every design point is kept, the
    validation stage re-evaluates the reference set's points and the provenance compares them
    with its χ²; a second build evaluates nothing."""
    from lecture_utils import datasets

    monkeypatch.setattr(alps, "exact_running_table", lambda **kw: None)
    monkeypatch.setattr(alps, "exact_running_key", lambda: "k" * 24)
    tiny = datasets.DenseRecipe("tinydense", seed=4, n_prescan=12, n_focus=9,
                                validate_on="ref")
    monkeypatch.setitem(datasets.DENSE_RECIPES, "tinydense", tiny)
    work, out = tmp_path / "work", tmp_path / "shipped"
    out.mkdir()
    monkeypatch.setattr(data.shipped, "SHIPPED_DIR", out)
    ref_pts = design.latin_hypercube(5, seed=9)
    offset = np.zeros(5)
    offset[np.argmin(FakeAlpaca.value(ref_pts))] = 0.25      # the best point: in the region
    ref = pd.DataFrame(ref_pts, columns=list(alps.PARAMETERS)).assign(
        chi2=FakeAlpaca.value(ref_pts) + offset, origin="x")
    ref.to_csv(out / "ref.csv.gz", index=False)
    (out / "ref.provenance.json").write_text("{}")
    with pytest.raises(data.StoreError, match="prescan"):
        datasets.build_dense("tinydense", ("focus",), workdir=work, executor="serial",
                             progress=False, out_dir=out)
    summary = datasets.build_dense("tinydense", workdir=work, executor="serial", progress=False,
                                   out_dir=out)
    df = data.load("tinydense")
    assert list(df.columns) == [*alps.PARAMETERS, "chi2", "origin"]
    assert len(df) == 21 and (df["origin"] == "dense-focus").sum() == 9
    np.testing.assert_array_equal(df["chi2"], FakeAlpaca.value(df[list(alps.PARAMETERS)]
                                                               .to_numpy()))
    prov = data.provenance("tinydense")
    assert prov["integrator"] == "tabulated" and prov["n_ok"] == 21 and not prov["partial"]
    val = prov["validation"]
    assert val["against"] == "ref" and val["all_rel"]["n"] == 5
    assert val["all_rel"]["max"] == pytest.approx(0.25 / ref["chi2"].min())
    assert val["region_abs"]["max"] == pytest.approx(0.25)
    assert summary["export"]["n_ok"] == 21
    n_calls = fake_alpaca.n_points
    datasets.build_dense("tinydense", workdir=work, executor="serial", progress=False,
                         out_dir=out)
    assert fake_alpaca.n_points == n_calls
    pd.testing.assert_frame_equal(data.load("tinydense"), df)
    with pytest.raises(ValueError, match="unknown dense recipe"):
        datasets.build_dense("nope", workdir=work)
    with pytest.raises(ValueError, match="same points"):
        datasets.tabulated_vs_exact(ref.iloc[:4], ref)


# ------------------------------------------------------------------ the shipped seed ---
def test_seed_serves_missing_entries_without_evaluating(fake_alpaca: FakeAlpaca, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries written to a seed file are found by a process whose cache folder is empty; damaged
    entries and entries of another convention are left out; the file is reproducible."""
    pts = design.latin_hypercube(4, seed=11)
    first = data.evaluate_cached(pts, progress=False)
    entries = _entry(tmp_path)
    damaged = entries[0].with_name("exact-" + "0" * 32 + ".json")
    damaged.write_bytes(entries[0].read_bytes()[:40])                # unreadable: left out
    foreign = entries[1].with_name("exact-" + "1" * 32 + ".json")    # a key of another ALPaca
    foreign.write_bytes(entries[1].read_bytes())
    seed = tmp_path / "seed" / "evaluation_seed.jsonl.gz"
    prov = data.write_seed(tmp_path, seed)
    assert prov["n_entries"] == 4 and prov["entries"] == {"chi2/exact/checks": 4}
    first_bytes = seed.read_bytes()
    assert data.write_seed(tmp_path, seed)["n_entries"] == 4 and seed.read_bytes() == first_bytes
    elsewhere = tmp_path / "other" / "seed.jsonl.gz"                     # any name, same bytes
    assert data.write_seed(tmp_path, elsewhere) and elsewhere.read_bytes() == first_bytes
    assert (seed.parent / "evaluation_seed.provenance.json").exists()

    monkeypatch.setattr(data.cache, "SEED_FILE", seed)
    monkeypatch.setenv(data.SEED_ENV_VAR, "1")
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path / "empty"))
    n = fake_alpaca.n_points
    again = data.evaluate_cached(pts, progress=False)
    assert fake_alpaca.n_points == n                                   # nothing evaluated
    pd.testing.assert_frame_equal(again, first)
    monkeypatch.setenv(data.SEED_ENV_VAR, "0")                         # switched off
    data.evaluate_cached(pts, progress=False)
    assert fake_alpaca.n_points == n + 4
    with pytest.raises(FileNotFoundError, match="no evaluation cache"):
        data.write_seed(tmp_path / "nothing", seed)


def test_shipped_seed_matches_the_installed_alpaca() -> None:
    """Every shipped entry passes the cache's checks and carries the key of the installed ALPaca
    version and convention (and code of lecture_utils.alps, for tables): after an upgrade or an
    edit of that code, rebuild it (python -m lecture_utils evaluation-seed, after make book)."""
    import gzip

    prov = json.loads((data.SEED_FILE.parent / "evaluation_seed.provenance.json").read_text())
    with gzip.open(data.SEED_FILE, "rt") as f:
        records = [json.loads(line) for line in f]
    assert len(records) == prov["n_entries"] > 0
    for record in records:
        entry = record["entry"]
        cache = data.cache._PointCache.open(record["kind"], entry["integrator"])
        point = np.array(entry["point"], dtype=np.float64)
        assert cache.path(cache.key(point)).name == record["file"]
        body = {k: entry[k] for k in ("kind", "integrator", "point", "payload")}
        assert entry["sha256"] == data.cache._digest(body) and entry["kind"] == record["kind"]


def test_edge_holdout_pairs_straddle_the_edge_and_resume(fake_alpaca: FakeAlpaca,
                                                         tmp_path: Path) -> None:
    """The edge hold-out's construction on a stand-in χ²: every pair has one point below and one
    above the threshold; a second run reads every point from the cache and writes the same
    file."""
    from lecture_utils import datasets

    recipe = datasets.EdgeRecipe(name="edge_test", n_rays=60, n_bisect=4)
    prov = datasets.build_edge_holdout(25.0, recipe, executor="serial", progress=False,
                                       out_dir=tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "edge_test.csv.gz")
    assert prov["threshold"] == 25.0 + datasets.REGION_DELTA_CHI2 and prov["n_pairs"] > 5
    pairs = table[table["pair"] >= 0]
    assert len(pairs) == 2 * prov["n_pairs"] and len(table) == prov["n_rows"]
    assert not table.duplicated(list(alps.PARAMETERS)).any()
    assert set(table["origin"]) == set(datasets.EDGE_ORIGINS)
    inside = table[table["origin"] == "edge-inside"].set_index("pair")
    outside = table[table["origin"] == "edge-outside"].set_index("pair")
    assert (inside["chi2"] < prov["threshold"]).all()
    assert (outside["chi2"] >= prov["threshold"]).all()
    np.testing.assert_allclose(inside["chi2"], FakeAlpaca.value(
        inside[list(alps.PARAMETERS)].to_numpy()), rtol=1e-12)
    assert (inside["gap"] <= recipe.first_step * 2 ** (recipe.n_expand - 1)
            / 2 ** recipe.n_bisect + 1e-12).all()
    n = fake_alpaca.n_points
    assert n == prov["n_evaluated"]                      # no point evaluated twice
    first = (tmp_path / "out" / "edge_test.csv.gz").read_bytes()
    datasets.build_edge_holdout(25.0, recipe, executor="serial", progress=False,
                                out_dir=tmp_path / "out")
    assert fake_alpaca.n_points == n                     # resumed entirely from the cache
    assert (tmp_path / "out" / "edge_test.csv.gz").read_bytes() == first
