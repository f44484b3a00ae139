"""Tests of the optuna tuning: reproducibility, resumption, parallel workers, settings checks,
the hyperparameter file and the command line. Tiny studies on the toy χ² (a test aid)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from lecture_utils import surrogate as sg
from lecture_utils import tuning
from lecture_utils.stats import REGION_DELTA_CHI2
from lecture_utils.testing import toy_dataset

TINY = {"n_trials": 5, "seed": 3, "max_estimators": 80, "early_stopping_rounds": 15,
        "report_every": 10, "pruner_startup_trials": 2, "pruner_warmup_rounds": 20,
        "progress": False}


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    return toy_dataset(500, seed=21)


def _fingerprint(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state.name, t.value, tuple(sorted(t.params.items())),
             tuple(sorted(t.intermediate_values.items())), t.user_attrs.get("n_estimators"))
            for t in study.trials]


def _url(tmp_path: Path, name: str = "s.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def test_search_space_covers_the_tutorial_box() -> None:
    s = tuning.SEARCH_SPACE
    assert (s["max_depth"].low, s["max_depth"].high) == (2, 8)
    assert (s["learning_rate"].low, s["learning_rate"].high) == (0.01, 0.3)
    assert s["learning_rate"].log
    assert (s["gamma"].low, s["gamma"].high) == (0.0, 5.0)
    assert (s["min_child_weight"].low, s["min_child_weight"].high) == (1.0, 10.0)
    for k in ("subsample", "colsample_bytree"):
        assert (s[k].low, s[k].high) == (0.5, 1.0)
    for k in ("reg_alpha", "reg_lambda"):
        assert (s[k].low, s[k].high) == (0.0, 1.2)
    assert "n_estimators" not in s      # found by early stopping


@pytest.mark.parametrize("stage", tuning.STAGES)
def test_same_seed_same_study(toy: tuple[np.ndarray, np.ndarray], tmp_path: Path,
                              stage: str) -> None:
    a = tuning.tune(*toy, stage, study_name="a", storage=_url(tmp_path), **TINY)
    b = tuning.tune(*toy, stage, study_name="b", storage=_url(tmp_path), **TINY)
    assert _fingerprint(a) == _fingerprint(b)
    assert a.best_trial.number == b.best_trial.number
    assert a.best_trial.params == b.best_trial.params
    assert len(a.trials) == TINY["n_trials"]
    # trial 0 is the untuned baseline; every later batch draws fresh parameters
    assert a.trials[0].params == sg.DEFAULT_HYPERPARAMETERS[stage]
    assert a.best_value <= a.trials[0].value
    # (the per-batch seeds differ)
    assert len({tuple(sorted(t.params.items())) for t in a.trials}) == len(a.trials)
    c = tuning.tune(*toy, stage, study_name="c", storage=_url(tmp_path), **(TINY | {"seed": 4}))
    assert [t.params for t in c.trials] != [t.params for t in a.trials]


def test_pruning_happens_and_best_trial_has_tree_count(toy: tuple[np.ndarray, np.ndarray],
                                                        tmp_path: Path) -> None:
    s = tuning.tune(*toy, "regressor", study_name="p", storage=_url(tmp_path),
                    **(TINY | {"n_trials": 10}))
    states = [t.state for t in s.trials]
    assert optuna.trial.TrialState.PRUNED in states
    best = s.best_trial
    assert 1 <= best.user_attrs["n_estimators"] <= TINY["max_estimators"]
    # the trial's value is reproduced by a plain fit with its parameters
    arrays = tuning.stage_arrays(*toy, "regressor", seed=TINY["seed"])
    settings = tuning.TuningSettings(stage="regressor", seed=TINY["seed"],
                                     max_estimators=TINY["max_estimators"],
                                     early_stopping_rounds=TINY["early_stopping_rounds"])
    score, n = tuning.evaluate(best.params, arrays, settings)
    assert score == best.value and n == best.user_attrs["n_estimators"]


def test_resume_equals_uninterrupted(toy: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    kw = TINY | {"batch_size": 2}
    whole = tuning.tune(*toy, "gate", study_name="whole", storage=_url(tmp_path), **kw)
    tuning.tune(*toy, "gate", study_name="parts", storage=_url(tmp_path), **(kw | {"n_trials": 2}))
    # a killed process leaves a RUNNING trial behind: resuming marks it failed and goes on
    stale = optuna.load_study(study_name="parts", storage=_url(tmp_path))
    stale.ask()
    parts = tuning.tune(*toy, "gate", study_name="parts", storage=_url(tmp_path), **kw)
    finished = [t for t in parts.trials if t.state != optuna.trial.TrialState.FAIL]
    assert [t.state for t in parts.trials].count(optuna.trial.TrialState.FAIL) == 1
    strip = [(s, v, p, i, n) for (_, s, v, p, i, n) in _fingerprint(whole)]
    assert [(t.state.name, t.value, tuple(sorted(t.params.items())),
             tuple(sorted(t.intermediate_values.items())), t.user_attrs.get("n_estimators"))
            for t in finished] == strip


def test_parallel_workers_reproduce_serial(toy: tuple[np.ndarray, np.ndarray],
                                           tmp_path: Path) -> None:
    kw = TINY | {"batch_size": 2, "n_trials": 4}
    serial = tuning.tune(*toy, "regressor", study_name="serial", storage=_url(tmp_path), **kw)
    parallel = tuning.tune(*toy, "regressor", study_name="par", storage=_url(tmp_path),
                           workers=2, **kw)
    assert _fingerprint(parallel) == _fingerprint(serial)


def test_resuming_with_other_settings_raises(toy: tuple[np.ndarray, np.ndarray],
                                             tmp_path: Path) -> None:
    tuning.tune(*toy, "gate", study_name="x", storage=_url(tmp_path), **(TINY | {"n_trials": 1}))
    with pytest.raises(ValueError, match="other settings"):
        tuning.tune(*toy, "gate", study_name="x", storage=_url(tmp_path),
                    **(TINY | {"n_trials": 2, "seed": 9}))
    with pytest.raises(ValueError, match="other settings"):   # other data
        tuning.tune(*toy_dataset(500, seed=1), "gate", study_name="x", storage=_url(tmp_path),
                    **(TINY | {"n_trials": 2}))
    with pytest.raises(ValueError, match="stage"):
        tuning.tune(*toy, "both", study_name="y", storage=_url(tmp_path), **TINY)


def test_hyperparameter_file_round_trip(toy: tuple[np.ndarray, np.ndarray],
                                        tmp_path: Path) -> None:
    kw = TINY | {"n_trials": 3}
    g = tuning.tune(*toy, "gate", study_name="g", storage=_url(tmp_path), **kw)
    r = tuning.tune(*toy, "regressor", study_name="r", storage=_url(tmp_path), **kw)
    path = tuning.write_hyperparameters(g, r, path=tmp_path / "hp.json", command="test")
    hp = sg.load_hyperparameters(path)
    assert hp["gate"] == g.best_trial.params and hp["regressor"] == r.best_trial.params
    assert hp["settings"]["seed"] == TINY["seed"]
    assert hp["settings"]["max_estimators"] == TINY["max_estimators"]
    doc = json.loads(path.read_text())
    assert doc["study"]["gate"]["n_trials"] == 3
    assert doc["study"]["data_hash"] == sg.training_data_hash(*toy)
    m = sg.TwoStageSurrogate.fit(*toy, gate_params=hp["gate"], regressor_params=hp["regressor"],
                                 **sg.fit_settings(hp))
    # training with the tuned values early-stops where the best trial did
    assert m.metadata["training"]["regressor"]["n_estimators"] == \
        r.best_trial.user_attrs["n_estimators"]
    assert m.metadata["training"]["regressor"]["validation_score"] == pytest.approx(
        r.best_value, rel=1e-6)
    other = tuning.tune(*toy, "gate", study_name="g2", storage=_url(tmp_path),
                        **(kw | {"seed": 8}))
    with pytest.raises(ValueError, match="differ"):
        tuning.write_hyperparameters(other, r, path=tmp_path / "bad.json")


def test_shipped_hyperparameters_are_valid() -> None:
    hp = sg.load_hyperparameters()
    for stage in tuning.STAGES:
        assert set(hp[stage]) == set(tuning.SEARCH_SPACE)
        for k, v in hp[stage].items():
            assert tuning.SEARCH_SPACE[k]._contains(tuning.SEARCH_SPACE[k].to_internal_repr(v))
    assert hp["settings"]["transform"] in sg.FEATURE_TRANSFORMS


def test_cli(toy: tuple[np.ndarray, np.ndarray], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sg, "training_arrays", lambda name="train": toy)
    out = tmp_path / "hp.json"
    argv = ["--n-trials", "2", "--seed", "1", "--storage", _url(tmp_path), "--max-estimators",
            "60", "--write", str(out), "--no-progress"]
    from lecture_utils.cli import main as cli_main

    assert cli_main(["tune", *argv]) == 0  # python -m lecture_utils tune ...
    summary = json.loads(capsys.readouterr().out)
    assert summary["gate"]["n_trials"] == 2 and summary["regressor"]["n_trials"] == 2
    assert summary["written"] == str(out)
    doc = json.loads(out.read_text())
    cmd = doc["study"]["command"]
    assert cmd.startswith("python -m lecture_utils tune --stage both --n-trials 2 --folds 1 "
                          "--seed 1")
    assert "--max-estimators 60" in cmd and "--workers" not in cmd
    # the default data: the course's training sets, recorded in the command and the study
    assert f"--data {','.join(sg.TRAINING_SETS)} " in cmd
    assert doc["study"]["data_set"] == ",".join(sg.TRAINING_SETS)
    assert tuning.data_sets(" train, dense ") == ("train", "dense")
    with pytest.raises(ValueError, match="no data set"):
        tuning.data_sets(" , ")
    # rerunning the same command resumes the finished studies: nothing new
    assert cli_main(["tune", *argv]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["gate"]["n_trials"] == 2
    # the transform is part of the command and of the study names (a study resumes by name)
    assert "--transform running" in cmd  # the CLI default: the course's features
    assert doc["settings"]["transform"] == "running"
    assert doc["study"]["gate"]["study_name"].startswith("surrogate-gate-running-")
    assert cli_main(["tune", *argv, "--transform", "ratio", "--no-write"]) == 0
    ratio = json.loads(capsys.readouterr().out)
    assert ratio["gate"]["study_name"].startswith("surrogate-gate-ratio-")


def test_fold_indices_partition_and_stratify() -> None:
    labels = np.r_[np.zeros(50, bool), np.ones(21, bool)]
    folds = tuning.fold_indices(labels, 5, seed=2)
    assert len(folds) == 5
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(71))
    assert all(abs(labels[f].sum() - 21 / 5) < 1 for f in folds)
    assert all(np.array_equal(a, b) for a, b in zip(folds, tuning.fold_indices(labels, 5, 2),
                                                     strict=True))
    with pytest.raises(ValueError):
        tuning.fold_indices(labels, 1, seed=0)


def test_cross_validated_objective(toy: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    folds = tuning.stage_folds(*toy, "regressor", folds=3, seed=TINY["seed"])
    assert len(folds) == 3
    cut = REGION_DELTA_CHI2
    d = toy[1] - toy[1].min()
    assert sum(len(f.y_val) for f in folds) == int((d < cut).sum())   # every region point once
    assert all((f.y_train - toy[1].min() < cut + sg.REGRESSOR_MARGIN).all() for f in folds)
    kw = TINY | {"n_trials": 3, "folds": 3}
    a = tuning.tune(*toy, "regressor", study_name="cv-a", storage=_url(tmp_path), **kw)
    b = tuning.tune(*toy, "regressor", study_name="cv-b", storage=_url(tmp_path), **kw)
    assert _fingerprint(a) == _fingerprint(b)
    settings = tuning.TuningSettings(stage="regressor", seed=TINY["seed"],
                                     max_estimators=TINY["max_estimators"],
                                     early_stopping_rounds=TINY["early_stopping_rounds"])
    best = a.best_trial   # the study's score is the k-fold mean, reproduced here
    assert tuning.evaluate(best.params, folds, settings)[0] == pytest.approx(best.value)
    assert a.user_attrs["settings"]["folds"] == 3
