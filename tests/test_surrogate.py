"""Tests of the two-stage surrogate: features, input checks, combinations, persistence,
determinism, the course's cached surrogate and the validation metrics.

Training data are the synthetic toy χ² of :mod:`lecture_utils.testing` (a test aid, not physics), so
the file runs in seconds; the real shipped data are only used where noted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TOY_PARAMS

from lecture_utils import _cache, alps, data, stats
from lecture_utils import surrogate as sg
from lecture_utils.testing import toy_chi2, toy_dataset

FIT = {"gate_params": TOY_PARAMS, "regressor_params": TOY_PARAMS, "max_estimators": 150,
       "early_stopping_rounds": 20}


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    return toy_dataset(1200, seed=11)


@pytest.fixture(scope="module")
def test_points() -> tuple[np.ndarray, np.ndarray]:
    return toy_dataset(400, seed=12)


@pytest.fixture(scope="module")
def model(toy: tuple[np.ndarray, np.ndarray]) -> sg.TwoStageSurrogate:
    return sg.TwoStageSurrogate.fit(*toy, seed=5, **FIT)


# ------------------------------------------------------------------------------ features, input
def test_features_ratio_and_raw() -> None:
    pts = np.array([[2.0e6, 1.0, -2.0, 0.5, 0.0, 3.0], [1.0e7, 0.1, 0.2, 0.3, 0.4, 0.5]])
    x = sg.features(pts, "ratio")
    assert x.dtype == np.float32 and x.shape == (2, 6) and x.flags["C_CONTIGUOUS"]
    expected = np.column_stack([np.log10(pts[:, 0]), pts[:, 1:] * 1.0e6 / pts[:, :1]])
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    raw = sg.features(pts, "raw")
    np.testing.assert_array_equal(raw[:, 1:], pts[:, 1:].astype(np.float32))
    assert len(sg.feature_names("ratio")) == len(alps.PARAMETERS)
    assert sg.feature_names("ratio") != sg.feature_names("raw")
    with pytest.raises(ValueError, match="transform"):
        sg.features(pts, "log")  # type: ignore[arg-type]


def test_running_features_add_the_tabulated_low_energy_couplings() -> None:
    rng = np.random.default_rng(8)
    pts = alps.DOMAIN.from_unit(rng.random((40, 6)))
    x = sg.features(pts, "running")
    names = sg.feature_names("running")
    assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"] and x.shape == (40, len(names))
    assert names[:6] == sg.feature_names("ratio") and len(names) == 6 + len(sg.RUNNING_FEATURES)
    # the first six are the ratio features, bit for bit
    np.testing.assert_array_equal(x[:, :6], sg.features(pts, "ratio"))
    # the rest: the table's couplings (|c_bs| for the b → s pair) times 10⁶ GeV / f_a
    columns = [name for name, *_ in alps.RUNNING_COUPLINGS]
    assert columns[:2] == ["cbs_re", "cbs_im"] and list(sg.RUNNING_FEATURES[1:]) == columns[2:]
    low = alps.running_table().low_energy(pts)
    expected = np.column_stack([np.hypot(low[:, 0], low[:, 1]), low[:, 2:]]) * 1e6 / pts[:, :1]
    np.testing.assert_array_equal(x[:, 6:], expected.astype(np.float32))
    assert (x[:, 6] >= 0).all() and np.isfinite(x).all()


def test_running_features_need_the_same_table_on_load(toy: tuple[np.ndarray, np.ndarray],
                                                       tmp_path: Path) -> None:
    m = sg.TwoStageSurrogate.fit(*toy, seed=5, transform="running", **FIT)
    assert m.metadata["feature_table"] == alps.running_table_key()
    assert m.gate.get_booster().num_features() == 14
    folder = m.save(tmp_path / "m")
    loaded = sg.TwoStageSurrogate.load(folder)
    pts = toy[0][:50]
    np.testing.assert_array_equal(loaded.predict_smooth(pts), m.predict_smooth(pts))
    _tamper(folder, "feature_table", "another-table")
    with pytest.raises(sg.SurrogateMetadataError, match="feature table"):
        sg.TwoStageSurrogate.load(folder)


def test_dataframe_columns_taken_by_name(model: sg.TwoStageSurrogate) -> None:
    pts = toy_dataset(20, seed=3)[0]
    df = pd.DataFrame(pts, columns=list(alps.PARAMETERS))
    shuffled = df[list(reversed(alps.PARAMETERS))]
    np.testing.assert_array_equal(model.predict_smooth(shuffled), model.predict_smooth(pts))
    with pytest.raises(ValueError, match="lacks parameter columns"):
        model.predict(df.drop(columns="cuR"))


@pytest.mark.parametrize("bad, match", [
    (np.ones((3, 5)), "shape"),
    (np.ones((3, 7)), "shape"),
    (np.array([[1e7, np.nan, 0, 0, 0, 0]]), "non-finite"),
    (np.array([[1e7, 0, np.inf, 0, 0, 0]]), "non-finite"),
    (np.array([[-1e7, 0, 0, 0, 0, 0]]), "fa"),
])
def test_bad_input_raises(model: sg.TwoStageSurrogate, bad: np.ndarray, match: str) -> None:
    for method in (model.predict, model.predict_smooth, model.gate_probability, model.features,
                   model.in_domain):
        with pytest.raises(ValueError, match=match):
            method(bad)


def test_fit_rejects_bad_training_data(toy: tuple[np.ndarray, np.ndarray]) -> None:
    pts, chi2 = toy
    nan = chi2.copy()
    nan[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sg.TwoStageSurrogate.fit(pts, nan, **FIT)
    outside = pts.copy()
    outside[0, 1] = 10.0
    with pytest.raises(ValueError, match="outside"):
        sg.TwoStageSurrogate.fit(outside, chi2, **FIT)
    with pytest.raises(ValueError, match="inside and outside"):
        sg.TwoStageSurrogate.fit(pts[:40], np.full(40, 20.0), **FIT)
    with pytest.raises(ValueError, match="shape"):
        sg.TwoStageSurrogate.fit(pts, chi2[:-1], **FIT)


def test_infinite_chi2_counts_as_outside(toy: tuple[np.ndarray, np.ndarray]) -> None:
    pts, chi2 = toy
    c = chi2.copy()
    big = c > np.median(c)
    c[big] = np.inf
    m = sg.TwoStageSurrogate.fit(pts, c, **FIT)
    assert m.chi2_min == chi2.min()
    assert np.isfinite(m.predict_smooth(pts)).all()


def test_split_is_seeded_and_stratified() -> None:
    labels = np.r_[np.zeros(70, bool), np.ones(30, bool)]
    tr1, va1 = sg.split_indices(100, 4, 0.2, stratify=labels)
    tr2, va2 = sg.split_indices(100, 4, 0.2, stratify=labels)
    np.testing.assert_array_equal(va1, va2)
    assert len(va1) == 20 and labels[va1].sum() == 6
    assert np.intersect1d(tr1, va1).size == 0 and len(tr1) + len(va1) == 100
    assert not np.array_equal(va1, sg.split_indices(100, 5, 0.2, stratify=labels)[1])


# ------------------------------------------------------------------------------ combinations
def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def test_hard_and_smooth_agree_inside_region(model: sg.TwoStageSurrogate,
                                             test_points: tuple[np.ndarray, np.ndarray]) -> None:
    pts = test_points[0]
    hard, smooth = model.predict(pts), model.predict_smooth(pts)
    reg, p = model.predict_regressor(pts), model.gate_probability(pts)
    accepted = p >= model.threshold
    assert accepted.any() and (~accepted).any()
    np.testing.assert_array_equal(hard[accepted], smooth[accepted])
    np.testing.assert_array_equal(hard[accepted], reg[accepted])
    assert np.isposinf(hard[~accepted]).all()
    assert np.isfinite(smooth).all()
    # outside: the regressor raised to the region's edge, plus a penalty growing as the gate's
    # log-odds fall below the threshold's
    logit = model.gate_logit(pts)
    edge = model.chi2_min + model.cut
    out, reg_out = smooth[~accepted], reg[~accepted]
    d = _logit(model.threshold) - logit[~accepted]
    assert (out > reg_out).all()
    np.testing.assert_array_equal(out, sg.smooth_combination(
        reg_out, logit[~accepted], logit_threshold=_logit(model.threshold), chi2_edge=edge,
        penalty_scale=model.penalty_scale))
    far = d >= sg.SMOOTH_RAMP
    assert far.any() and (out[far] >= edge + model.penalty_scale * d[far] - 1e-9).all()
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logit)), rtol=1e-6)


def test_smooth_combination_is_continuous_and_monotone_in_the_log_odds() -> None:
    """At fixed regressor χ², the smooth combination starts at the hard one at the threshold and
    never decreases as the gate's log-odds fall; beyond the ramp it is at least the edge."""
    logit = np.linspace(3.0, -12.0, 3001)
    for reg in (-1.0, 5.0, 19.9, 30.0):
        out = sg.smooth_combination(np.full_like(logit, reg), logit, logit_threshold=0.0,
                                    chi2_edge=20.0, penalty_scale=2.0)
        assert (out[logit >= 0] == reg).all()
        assert np.all(np.diff(out) >= 0)
        slope = max(0.0, 20.0 - reg) / sg.SMOOTH_RAMP + 2.0  # steepest rise per unit of log-odds
        assert np.max(np.diff(out)) <= slope * 0.005 * (1 + 1e-9)  # no jump
        far = logit <= -sg.SMOOTH_RAMP
        assert (out[far] >= max(reg, 20.0) + 2.0 * (-logit[far]) - 1e-12).all()


def test_regressor_target_region_includes_margin(toy: tuple[np.ndarray, np.ndarray],
                                                 model: sg.TwoStageSurrogate) -> None:
    pts, chi2 = toy
    d = chi2 - chi2.min()
    t = model.metadata["training"]
    assert t["n_region"] == int((d < stats.REGION_DELTA_CHI2).sum())
    assert t["n_regressor"] == int((d < stats.REGION_DELTA_CHI2 + sg.REGRESSOR_MARGIN).sum())
    assert model.cut == stats.REGION_DELTA_CHI2


def test_refit_false_keeps_exactly_the_early_stopped_trees(
        toy: tuple[np.ndarray, np.ndarray]) -> None:
    m = sg.TwoStageSurrogate.fit(*toy, refit=False, **FIT)
    for stage in ("gate", "regressor"):
        n = m.metadata["training"][stage]["n_estimators"]
        assert getattr(m, stage).get_booster().num_boosted_rounds() == n


# ------------------------------------------------------------------------------ domain
def test_domain_flag_and_warning_once(toy: tuple[np.ndarray, np.ndarray]) -> None:
    m = sg.TwoStageSurrogate.fit(*toy, **FIT)     # fresh model: nothing warned yet
    pts = toy_dataset(6, seed=1)[0]
    pts[1, 0] = 2.0e5                                 # f_a below the domain
    pts[4, 3] = -5.0                                  # coupling below the domain
    np.testing.assert_array_equal(m.in_domain(pts), [True, False, True, True, False, True])
    with pytest.warns(sg.OutOfDomainWarning, match="2 of 6"):
        m.predict(pts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.predict_smooth(pts)                          # warned once per surrogate
        m.gate_probability(pts[[0, 2]])                # inside: never warns
    fresh = sg.TwoStageSurrogate.fit(*toy, **FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.in_domain(pts)                           # the flag itself does not warn
        fresh.predict(pts[[0, 2, 3]])


# ------------------------------------------------------------------------------ persistence
def test_save_load_round_trip_is_bit_identical(model: sg.TwoStageSurrogate, tmp_path: Path,
                                               test_points: tuple[np.ndarray, np.ndarray]
                                               ) -> None:
    pts = test_points[0]
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == \
        ["gate.ubj", "metadata.json", "regressor.ubj"]
    back = sg.TwoStageSurrogate.load(tmp_path / "m", data_hash=model.data_hash,
                                     cut=stats.REGION_DELTA_CHI2)
    for method in ("predict", "predict_smooth", "gate_probability", "predict_regressor",
                   "gate_logit", "features"):
        a, b = getattr(model, method)(pts), getattr(back, method)(pts)
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes(), method
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["feature_names"] == list(sg.feature_names("ratio"))
    assert meta["cut"] == stats.REGION_DELTA_CHI2
    assert meta["chi2_min"] == model.chi2_min
    assert meta["data_hash"] == model.data_hash
    assert {"xgboost", "numpy", "lecture_utils"} <= set(meta["versions"])


def _tamper(folder: Path, key: str, value: object) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta[key] = value
    (folder / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("key, value", [
    ("format_version", 0),
    ("parameters", list(reversed(alps.PARAMETERS))),
    ("feature_names", list(sg.feature_names("raw"))),
    ("transform", "log"),
    ("domain", [[1.0, 2.0]] * 6),
])
def test_metadata_mismatch_raises(model: sg.TwoStageSurrogate, tmp_path: Path, key: str,
                                  value: object) -> None:
    model.save(tmp_path / "m")
    _tamper(tmp_path / "m", key, value)
    with pytest.raises(sg.SurrogateMetadataError, match="mismatch"):
        sg.TwoStageSurrogate.load(tmp_path / "m")


def test_data_cut_and_file_mismatch_raise(model: sg.TwoStageSurrogate, tmp_path: Path) -> None:
    folder = model.save(tmp_path / "m")
    with pytest.raises(sg.SurrogateMetadataError, match="training-data hash"):
        sg.TwoStageSurrogate.load(folder, data_hash="0" * 64)
    with pytest.raises(sg.SurrogateMetadataError, match="region cut"):
        sg.TwoStageSurrogate.load(folder, cut=stats.REGION_DELTA_CHI2 + 1)
    other = sg.TwoStageSurrogate.fit(*toy_dataset(600, seed=99), **FIT).save(tmp_path / "o")
    shutil.copy(other / "gate.ubj", folder / "gate.ubj")        # swapped model file
    with pytest.raises(sg.SurrogateMetadataError, match="checksum"):
        sg.TwoStageSurrogate.load(folder)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(sg.SurrogateMetadataError, match="JSON"):
        sg.TwoStageSurrogate.load(folder)
    with pytest.raises(FileNotFoundError):
        sg.TwoStageSurrogate.load(tmp_path / "nothing")


# ------------------------------------------------------------------------------ determinism
_CHILD = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from lecture_utils import surrogate as sg
    from lecture_utils.testing import toy_dataset
    fit = json.loads(sys.argv[1])
    m = sg.TwoStageSurrogate.fit(*toy_dataset(1200, seed=11), seed=5, **fit)
    pts = toy_dataset(400, seed=12)[0]
    out = np.concatenate([m.predict_smooth(pts), m.gate_probability(pts)])
    print(hashlib.sha256(out.tobytes()).hexdigest())
""")


def test_training_is_deterministic_across_processes(model: sg.TwoStageSurrogate,
                                                    test_points: tuple[np.ndarray, np.ndarray]
                                                    ) -> None:
    import hashlib

    pts = test_points[0]
    here = hashlib.sha256(np.concatenate([model.predict_smooth(pts),
                                          model.gate_probability(pts)]).tobytes()).hexdigest()
    digests = set()
    for hash_seed in ("1", "2"):
        res = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(FIT)], check=True,
                             capture_output=True, text=True, timeout=120,
                             env={"PYTHONHASHSEED": hash_seed, "PATH": ""})
        digests.add(res.stdout.strip())
    assert digests == {here}


def test_n_jobs_does_not_change_the_model(test_points: tuple[np.ndarray, np.ndarray]) -> None:
    # small: two threads on a busy two-core machine are slow, the property is not
    small = toy_dataset(300, seed=13)
    fit = FIT | {"max_estimators": 10}
    one, two = (sg.TwoStageSurrogate.fit(*small, seed=5, n_jobs=n, **fit) for n in (1, 2))
    pts = test_points[0]
    assert two.predict_smooth(pts).tobytes() == one.predict_smooth(pts).tobytes()
    assert one.set_n_jobs(2).predict_smooth(pts).tobytes() == two.predict_smooth(pts).tobytes()
    with pytest.raises(ValueError):
        one.set_n_jobs(0)


# ------------------------------------------------------------------------------ default surrogate
def test_default_surrogate_missing_data_is_a_clear_error(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(data, "available", lambda: [])
    with pytest.raises(FileNotFoundError, match="python -m lecture_utils dataset train"):
        sg.default_surrogate()


@pytest.fixture()
def toy_course(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """default_surrogate() wired to toy data, fast hyperparameters and an empty cache."""
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path / "cache"))
    # patched where default_surrogate and course_learning_curve look them up
    monkeypatch.setattr(sg.course, "training_arrays",
                        lambda name="train": toy_dataset(1200, seed=11))
    monkeypatch.setattr(sg.course, "_MEMO", {})
    hp = tmp_path / "hp.json"
    hp.write_text(json.dumps({"gate": {"params": TOY_PARAMS}, "regressor": {"params": TOY_PARAMS},
                              "settings": {"max_estimators": 150, "early_stopping_rounds": 20,
                                           "seed": 5}}))
    return hp


def test_default_surrogate_is_cached_and_identical(toy_course: Path,
                                                   test_points: tuple[np.ndarray, np.ndarray],
                                                   model: sg.TwoStageSurrogate) -> None:
    pts = test_points[0]
    first = sg.default_surrogate(hyperparameters=toy_course)
    cached = list((Path(_cache.cache_dir("surrogate"))).iterdir())
    assert len(cached) == 1 and (cached[0] / "metadata.json").exists()
    sg.course._MEMO.clear()
    again = sg.default_surrogate(hyperparameters=toy_course)         # loaded from disk
    fresh = sg.default_surrogate(hyperparameters=toy_course, use_cache=False)
    for m in (again, fresh, model):      # the fixture model has the same data, seed and params
        assert m.predict_smooth(pts).tobytes() == first.predict_smooth(pts).tobytes()
    assert first.metadata["hyperparameters"]["gate"] == TOY_PARAMS
    # other hyperparameters -> another cache entry
    toy_course.write_text(json.dumps({"gate": {"params": TOY_PARAMS | {"max_depth": 3}},
                                      "regressor": {"params": TOY_PARAMS},
                                      "settings": {"max_estimators": 150,
                                                   "early_stopping_rounds": 20}}))
    sg.default_surrogate(hyperparameters=toy_course)
    assert len(list(Path(_cache.cache_dir("surrogate")).iterdir())) == 2


def test_corrupt_cache_entry_is_rebuilt(toy_course: Path) -> None:
    sg.default_surrogate(hyperparameters=toy_course)
    sg.course._MEMO.clear()
    (entry,) = Path(_cache.cache_dir("surrogate")).iterdir()
    (entry / "regressor.ubj").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="retraining"):
        m = sg.default_surrogate(hyperparameters=toy_course)
    assert np.isfinite(m.predict_smooth(toy_dataset(5, seed=0)[0])).all()


def test_course_learning_curve_is_the_learning_curve_and_cached(
        toy_course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, hold = toy_dataset(1200, seed=11), toy_dataset(300, seed=12)
    monkeypatch.setattr(sg.course, "training_arrays",
                        lambda name=sg.TRAINING_SETS: hold if name == "holdout" else train)
    curve = sg.course_learning_curve(sizes=(300, 600, 5000), hyperparameters=toy_course)
    assert list(curve["n_train"]) == [300, 600, 1200]       # sizes below the total, then all
    hp = sg.load_hyperparameters(toy_course)
    settings = {k: v for k, v in sg.fit_settings(hp).items() if k != "seed"}
    direct = sg.learning_curve(*train, *hold, [300, 600, 1200], seed=0,
                               chi2_min=float(train[1].min()), gate_params=hp["gate"],
                               regressor_params=hp["regressor"], **settings)
    pd.testing.assert_frame_equal(curve, direct, check_exact=False, rtol=1e-12)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached curve must not be recomputed")

    monkeypatch.setattr(sg.course, "learning_curve", no_training)
    pd.testing.assert_frame_equal(
        sg.course_learning_curve(sizes=(300, 600, 5000), hyperparameters=toy_course), curve)
    with pytest.raises(AssertionError, match="recomputed"):
        sg.course_learning_curve(sizes=(300, 600, 5000), hyperparameters=toy_course,
                                 rebuild=True)


def test_course_early_stopping_curve_is_the_curve_and_cached(
        toy_course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = toy_dataset(1200, seed=11)
    curve = sg.course_early_stopping_curve("regressor", cap_factor=2, hyperparameters=toy_course)
    hp = sg.load_hyperparameters(toy_course)
    settings = sg.fit_settings(hp)
    direct = sg.early_stopping_curve(
        *train, "regressor", hp["regressor"], max_estimators=300,
        early_stopping_rounds=settings["early_stopping_rounds"],
        transform=settings["transform"], seed=settings["seed"],
        regressor_margin=settings["regressor_margin"],
        validation_fraction=settings["validation_fraction"])
    assert curve.max_estimators == 300
    assert curve.best_n_estimators == direct.best_n_estimators
    np.testing.assert_allclose(curve.scores, direct.scores, rtol=1e-12)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached curve must not be recomputed")

    monkeypatch.setattr(sg.course, "early_stopping_curve", no_training)
    again = sg.course_early_stopping_curve("regressor", cap_factor=2, hyperparameters=toy_course)
    assert again.scores.tobytes() == curve.scores.tobytes()
    with pytest.raises(AssertionError, match="recomputed"):     # another cap: another entry
        sg.course_early_stopping_curve("regressor", cap_factor=3, hyperparameters=toy_course)
    (entry,) = Path(_cache.cache_dir("early-stopping")).iterdir()
    entry.write_text("{broken")
    with pytest.warns(UserWarning, match="unusable"), pytest.raises(AssertionError):
        sg.course_early_stopping_curve("regressor", cap_factor=2, hyperparameters=toy_course)


def test_course_early_stopping_curve_rejects_bad_arguments(toy_course: Path) -> None:
    with pytest.raises(ValueError, match="cap_factor"):
        sg.course_early_stopping_curve("regressor", cap_factor=0, hyperparameters=toy_course)
    with pytest.raises(ValueError, match="unknown stage"):
        sg.course_early_stopping_curve("settings", hyperparameters=toy_course)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing"])
def test_missing_or_corrupt_learning_curve_is_recomputed(
        toy_course: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    calls: list[list[int]] = []

    def fake_curve(*args: object, **kwargs: object) -> pd.DataFrame:
        sizes = [int(n) for n in args[4]]
        calls.append(sizes)
        return pd.DataFrame({"n_train": sizes, "mae": np.linspace(1.0, 0.5, len(sizes))})

    monkeypatch.setattr(sg.course, "learning_curve", fake_curve)
    curve = sg.course_learning_curve(sizes=(300, 600), hyperparameters=toy_course)
    (entry,) = Path(_cache.cache_dir("learning-curve")).iterdir()
    text = entry.read_text()
    if damage == "missing":
        entry.unlink()
        again = sg.course_learning_curve(sizes=(300, 600), hyperparameters=toy_course)
    else:
        entry.write_bytes({"truncate": text[: text.index("\n", len(text) // 2)].encode(),
                           "garbage": b"\x00\xff not a csv \x89",
                           "empty": b""}[damage])
        with pytest.warns(UserWarning, match="unusable.*recomputing"):
            again = sg.course_learning_curve(sizes=(300, 600), hyperparameters=toy_course)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(again, curve)
    pd.testing.assert_frame_equal(
        sg.course_learning_curve(sizes=(300, 600), hyperparameters=toy_course), curve)
    assert len(calls) == 2          # the rebuilt entry is used


def test_regressor_objective_is_absolute_error_and_recorded() -> None:
    pts, chi2 = toy_dataset(600, seed=3)
    fast = {"gate_params": TOY_PARAMS, "regressor_params": TOY_PARAMS, "max_estimators": 60,
            "early_stopping_rounds": 10}
    model = sg.TwoStageSurrogate.fit(pts, chi2, **fast)
    assert sg.STAGE_OBJECTIVE["regressor"] == "reg:absoluteerror"
    assert model.regressor.get_params()["objective"] == "reg:absoluteerror"
    assert model.metadata["training"]["regressor"]["objective"] == "reg:absoluteerror"
    assert model.metadata["training"]["gate"]["objective"] == "binary:logistic"
    squared = sg.TwoStageSurrogate.fit(pts, chi2, regressor_objective="reg:squarederror", **fast)
    assert squared.regressor.get_params()["objective"] == "reg:squarederror"
    assert not np.array_equal(squared.predict_regressor(pts), model.predict_regressor(pts))


def test_training_arrays_concatenate_sets_in_order() -> None:
    both = sg.training_arrays(("train", "holdout"))
    train, hold = sg.training_arrays("train"), sg.training_arrays("holdout")
    np.testing.assert_array_equal(both[0], np.vstack([train[0], hold[0]]))
    np.testing.assert_array_equal(both[1], np.concatenate([train[1], hold[1]]))
    with pytest.raises(ValueError, match="at least one"):
        sg.training_arrays(())


@pytest.mark.slow  # trains the course surrogate twice, from scratch
def test_shipped_default_surrogate_deterministic_across_processes(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import hashlib
        from lecture_utils import alps, data
        from lecture_utils import surrogate as sg
        m = sg.default_surrogate()
        pts = data.load("train")[list(alps.PARAMETERS)].to_numpy()[:500]
        print(hashlib.sha256(m.predict_smooth(pts).tobytes()).hexdigest())
    """)
    digests = set()
    for k in range(2):   # two empty caches: both processes train from scratch
        env = {"PATH": "", "LECTURE_UTILS_CACHE": str(tmp_path / f"c{k}")}
        res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, timeout=300, env=env)
        digests.add(res.stdout.strip())
    assert len(digests) == 1


# ------------------------------------------------------------------------------ metrics
def test_regression_metrics_known_residuals() -> None:
    m = sg.regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 1.5, 3.0, 6.0])
    assert m["n"] == 4
    assert m["mae"] == pytest.approx((0.5 + 0.5 + 0 + 2) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0.25 + 0 + 4) / 4))
    assert m["bias"] == pytest.approx((0.5 - 0.5 + 0 + 2) / 4)
    assert m["max_abs"] == 2.0
    assert np.isnan(sg.regression_metrics([], [])["mae"])


def test_iou_and_confusion_known_masks() -> None:
    a = np.array([1, 1, 1, 0, 0, 0], bool)
    b = np.array([0, 1, 1, 1, 0, 0], bool)
    assert sg.iou(a, b) == pytest.approx(2 / 4)
    assert sg.iou(a, a) == 1.0 and sg.iou(a, ~a) == 0.0
    assert sg.iou(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert sg.confusion_counts(a, b) == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    with pytest.raises(ValueError):
        sg.iou(a, b[:3])


def test_gate_metrics_known_case() -> None:
    y = np.array([True, False, True, False])
    p = np.array([0.8, 0.3, 0.4, 0.1])
    g = sg.gate_metrics(y, p, threshold=0.5)
    # every positive (0.8, 0.4) outranks every negative (0.3, 0.1): AUC = 1
    assert g["auc"] == pytest.approx(1.0)
    assert g["brier"] == pytest.approx((0.04 + 0.09 + 0.36 + 0.01) / 4)
    assert g["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4, 0.9])))
    assert (g["tp"], g["fp"], g["tn"], g["fn"]) == (1, 0, 2, 1)
    assert g["accuracy"] == pytest.approx(0.75)
    flipped = sg.gate_metrics(~y, p)
    assert flipped["auc"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sg.gate_metrics(y, p + 1)


def test_reliability_curve_bins() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.55])
    y = np.array([0, 1, 1, 1, 0])
    r = sg.reliability_curve(y, p, n_bins=10)
    assert list(r["count"]) == [2, 1, 2]
    assert list(r["fraction_positive"]) == [0.5, 0.0, 1.0]
    np.testing.assert_allclose(r["mean_predicted"], [0.05, 0.55, 0.95])


def test_region_iou_uses_delta_chi2_thresholds() -> None:
    chi2_min = 10.0
    thr = float(stats.delta_chi2(0.68, dof=2))
    truth = chi2_min + np.array([0.1, thr - 0.01, thr + 0.01, 5.0 * thr])
    pred = chi2_min + np.array([0.1, thr + 0.01, thr - 0.01, np.inf])
    r = sg.region_iou(truth, pred, chi2_min, cl=0.68, dof=2)
    assert r["delta_chi2"] == pytest.approx(thr)
    assert (r["n_true"], r["n_pred"], r["n_both"]) == (2, 2, 1)
    assert r["iou"] == pytest.approx(1 / 3)


def test_validate_is_consistent_with_direct_computation(
        model: sg.TwoStageSurrogate, test_points: tuple[np.ndarray, np.ndarray]) -> None:
    pts, chi2 = test_points
    rep = sg.validate(model, pts, chi2)
    inside = chi2 - model.chi2_min < model.cut
    reg = model.predict_regressor(pts)
    assert rep.regression["n"] == inside.sum()
    assert rep.regression["mae"] == pytest.approx(np.mean(np.abs(reg - chi2)[inside]))
    assert rep.gate["auc"] == pytest.approx(
        sg.gate_metrics(inside, model.gate_probability(pts))["auc"])
    assert rep.reliability["count"].sum() == len(pts)
    assert list(rep.regions["dof"]) == [2, 2]
    s = rep.summary()
    assert {"mae", "rmse", "auc", "brier", "iou_68_dof2", "iou_95_dof2"} <= set(s)
    # the model learned something: far better than predicting the region mean
    baseline = np.mean(np.abs(chi2[inside] - chi2[inside].mean()))
    assert rep.regression["mae"] < 0.5 * baseline
    assert rep.gate["auc"] > 0.9


def test_learning_curve_rows(toy: tuple[np.ndarray, np.ndarray],
                             test_points: tuple[np.ndarray, np.ndarray]) -> None:
    lc = sg.learning_curve(*toy, *test_points, sizes=[300, 1200], **FIT)
    assert list(lc["n_train"]) == [300, 1200]
    assert {"mae", "auc", "iou_95_dof2"} <= set(lc.columns)
    with pytest.raises(ValueError, match="size"):
        sg.learning_curve(*toy, *test_points, sizes=[5000], **FIT)


def test_toy_is_only_a_test_aid() -> None:
    """The toy χ² is cheap and shaped like the real one: minimum, plateau, explosion."""
    c = toy_chi2(np.array([[1e7, 3.0, -2.0, 1.0, 4.0 - 0.1, -1.5],
                           [5e7, 0, 0, 0, 0, 0], [1e6, 3.5, 3.5, 3.5, 3.5, 3.5]]))
    assert c[0] < c[1] < c[2] and c[2] > 1e10


# ------------------------------------------------------------- internal structure of predictions
def test_feature_fast_path_equals_float64_then_round() -> None:
    rng = np.random.default_rng(31)
    pts = alps.DOMAIN.from_unit(rng.random((500, 6)))
    pts[:3, 0] = [1.0e6, 5.0e7, 3.3e6]  # domain edges and an ordinary value
    pts[3, 1:] = [-3.5, 3.5, 0.0, 1e-12, -1e-12]
    p64 = np.asarray(pts, dtype=np.float64)
    expected = {
        "ratio": np.column_stack([np.log10(p64[:, 0]), p64[:, 1:] * (1.0e6 / p64[:, :1])]),
        "raw": np.column_stack([np.log10(p64[:, 0]), p64[:, 1:]]),
    }
    for transform, ref in expected.items():
        x = sg.features(pts, transform)  # type: ignore[arg-type]
        assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(x, ref.astype(np.float32))  # bit for bit


@pytest.mark.parametrize("method", ["predict", "predict_smooth", "delta_chi2", "gate_probability",
                                    "gate_logit", "predict_regressor"])
def test_every_prediction_validates_points_exactly_once(model: sg.TwoStageSurrogate,
                                                        test_points: tuple[np.ndarray, np.ndarray],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        method: str) -> None:
    calls = []
    original = sg.as_points

    def counting(points):
        calls.append(1)
        return original(points)

    # every module of the package that validates points during a prediction
    for module in (sg.model, sg.inputs):
        monkeypatch.setattr(module, "as_points", counting)
    getattr(model, method)(test_points[0][:7])
    assert len(calls) == 1


def test_raw_is_the_only_place_boosters_are_evaluated(model: sg.TwoStageSurrogate,
                                                      test_points: tuple[np.ndarray, np.ndarray]
                                                      ) -> None:
    """A subclass that overrides only ``_raw`` changes every public prediction consistently."""
    pts = test_points[0][:50]
    seen: list[tuple[str, bool, tuple[int, ...], np.dtype]] = []

    class Shifted(sg.TwoStageSurrogate):
        def _raw(self, stage: str, x: np.ndarray, *, margin: bool) -> np.ndarray:
            seen.append((stage, margin, x.shape, x.dtype))
            return super()._raw(stage, x, margin=margin) + (1.0 if stage == "regressor" else 0.0)

    shifted = Shifted(model.gate, model.regressor, model.metadata)
    np.testing.assert_array_equal(shifted.predict_regressor(pts), model.predict_regressor(pts) + 1)
    np.testing.assert_array_equal(shifted.predict_smooth(pts), sg.smooth_combination(
        model.predict_regressor(pts) + 1, model.gate_logit(pts),
        logit_threshold=_logit(model.threshold), chi2_edge=model.chi2_min + model.cut,
        penalty_scale=model.penalty_scale))
    np.testing.assert_array_equal(shifted.predict(pts), model.predict(pts) + 1)  # inf + 1 = inf
    np.testing.assert_array_equal(shifted.gate_logit(pts), model.gate_logit(pts))
    np.testing.assert_array_equal(shifted.gate_probability(pts), model.gate_probability(pts))
    assert {(s, m) for s, m, _, _ in seen} == {("regressor", False), ("gate", True),
                                               ("gate", False)}
    assert all(shape == (50, 6) and dtype == np.float32 for _, _, shape, dtype in seen)
    # the base implementation returns float64 of shape (n,)
    out = model._raw("gate", model.features(pts), margin=True)
    assert out.dtype == np.float64 and out.shape == (50,)
    np.testing.assert_array_equal(out, model.gate_logit(pts))


def test_domain_bounds_follow_edited_and_replaced_metadata(model: sg.TwoStageSurrogate) -> None:
    narrow = sg.TwoStageSurrogate(model.gate, model.regressor, json.loads(json.dumps(
        model.metadata)))
    inside = alps.SM_LIKE_POINT[None, :]
    assert narrow.in_domain(inside).all()
    narrow.metadata["domain"][0] = [2.0e7, 5.0e7]  # edited in place: f_a = 1e7 GeV is outside
    assert not narrow.in_domain(inside).any()
    meta = json.loads(json.dumps(narrow.metadata))
    meta["domain"][0] = [1.0e6, 5.0e7]  # replaced: inside again
    narrow.metadata = meta
    assert narrow.in_domain(inside).all()
    narrow.metadata["domain"][0][0] = 2.0e7
    with pytest.warns(sg.OutOfDomainWarning):
        narrow.predict(inside)


def test_fit_settings_are_the_records_fit_keywords() -> None:
    import inspect

    hp = sg.load_hyperparameters()
    settings = sg.fit_settings()
    assert settings == sg.fit_settings(hp)
    assert settings == {k: hp["settings"][k] for k in settings}
    params = inspect.signature(sg.TwoStageSurrogate.fit).parameters
    assert set(settings) <= set(params)          # every one is a keyword of fit
    assert {"transform", "seed", "max_estimators"} <= set(settings)
    with pytest.raises(KeyError):
        sg.fit_settings({"settings": {"transform": "ratio"}})


@pytest.mark.parametrize("stage", ["gate", "regressor"])
def test_early_stopping_curve_is_what_fit_stops_on(toy: tuple[np.ndarray, np.ndarray],
                                                   stage: str) -> None:
    fitted = sg.TwoStageSurrogate.fit(*toy, seed=4, refit=False, **FIT)
    curve = sg.early_stopping_curve(*toy, stage, TOY_PARAMS, seed=4,
                                    max_estimators=FIT["max_estimators"],
                                    early_stopping_rounds=FIT["early_stopping_rounds"])
    info = fitted.metadata["training"][stage]
    assert curve.best_n_estimators == info["n_estimators"]
    assert curve.best_score == pytest.approx(info["validation_score"])
    assert curve.best_score == curve.scores.min()
    assert curve.metric == sg.STAGE_METRIC[stage]
    assert curve.capped == (curve.best_n_estimators == FIT["max_estimators"])


def test_early_stopping_curve_reports_a_cap(toy: tuple[np.ndarray, np.ndarray]) -> None:
    capped = sg.early_stopping_curve(*toy, "regressor", TOY_PARAMS, max_estimators=3)
    assert capped.capped and capped.best_n_estimators == 3 and len(capped.scores) == 3
    assert capped.score_at(1) > capped.score_at(3)
    with pytest.raises(ValueError, match="n_estimators"):
        capped.score_at(4)
    with pytest.raises(ValueError, match="unknown stage"):
        sg.early_stopping_curve(*toy, "both")
    with pytest.raises(ValueError, match="max_estimators"):
        sg.early_stopping_curve(*toy, "gate", max_estimators=0)


def test_paired_comparison_of_a_model_with_itself_and_another(
        model: sg.TwoStageSurrogate, toy: tuple[np.ndarray, np.ndarray],
        test_points: tuple[np.ndarray, np.ndarray]) -> None:
    pts, chi2 = test_points
    same = sg.paired_comparison(sg.validate(model, pts, chi2), sg.validate(model, pts, chi2))
    assert (same["b - a"] == 0).all() and (same["z"] == 0).all()
    weak = sg.TwoStageSurrogate.fit(*toy, seed=0, **(FIT | {"max_estimators": 2}))
    rep_a = sg.validate(model, pts, chi2)
    rep_b = sg.validate(weak, pts, chi2, chi2_min=model.chi2_min)
    table = sg.paired_comparison(rep_a, rep_b)
    inside = chi2 - model.chi2_min < model.cut
    diff = (np.abs(weak.predict_regressor(pts) - chi2)
            - np.abs(model.predict_regressor(pts) - chi2))[inside]
    row = table.loc["regressor |error| (region)"]
    assert row["n"] == inside.sum()
    assert row["b - a"] == pytest.approx(diff.mean())
    assert row["standard error"] == pytest.approx(diff.std(ddof=1) / np.sqrt(inside.sum()))
    assert row["z"] > 3   # two trees are clearly worse than the trained model
    assert table.loc["gate log-loss (all points)", "n"] == len(pts)
    with pytest.raises(ValueError, match="same points"):
        sg.paired_comparison(rep_a, sg.validate(model, pts[:-1], chi2[:-1]))
