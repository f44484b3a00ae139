"""Schema, provenance and reproducibility of the shipped data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, data
from lecture_utils.datasets import DENSE_RECIPES, RECIPES
from lecture_utils.stats import REGION_DELTA_CHI2

SETS = ("train", "holdout")
MIN_SIZE = {"train": 4000, "holdout": 500}


def test_required_sets_are_shipped() -> None:
    assert {*SETS, "dense"} <= set(data.available())


def test_dense_set_schema_provenance_and_validation() -> None:
    """The dense set: its χ² from the tabulated exact running, checked against the directly
    computed exact χ² of the hold-out's points in its provenance."""
    df = data.load("dense")
    prov = data.provenance("dense")
    assert list(df.columns) == [*alps.PARAMETERS, "chi2", "origin"]
    assert np.isfinite(df[[*alps.PARAMETERS, "chi2"]].to_numpy()).all()
    assert alps.DOMAIN.contains(df[list(alps.PARAMETERS)].to_numpy()).all()
    assert not df.duplicated(list(alps.PARAMETERS)).any()
    assert df["origin"].isin(["dense-prescan", "dense-focus"]).all()
    assert prov["integrator"] == "tabulated"
    assert prov["exact_running_key"] == alps.exact_running_key()
    assert prov["n_ok"] == len(df) and prov["chi2_min"] == pytest.approx(df["chi2"].min())
    assert prov["recipe"]["seed"] == DENSE_RECIPES["dense"].seed
    assert all(m["integrator"] == "tabulated" for m in prov["stores"].values())
    val = prov["validation"]
    assert val["against"] == "holdout" and val["all_rel"]["n"] == len(data.load("holdout"))
    assert val["n_nonfinite"] == 0
    # ALPaca's ODE tolerance (rtol 1e-3): small on average, rare outliers (see alps' doc)
    assert val["region_abs"]["mean"] < 0.01 and val["region_abs"]["p99"] < 0.2
    assert val["region_abs"]["max"] < 1.0 and val["all_rel"]["mean"] < 0.01
    # independent of both exact sets
    both = pd.concat([df, data.load("train"), data.load("holdout")])[list(alps.PARAMETERS)]
    assert not both.duplicated().any()


@pytest.mark.parametrize("name", SETS)
def test_schema(name: str) -> None:
    df = data.load(name)
    assert list(df.columns) == [*alps.PARAMETERS, "chi2", "origin", "chi2_leadinglog"]
    assert len(df) > 0
    num = df[[*alps.PARAMETERS, "chi2", "chi2_leadinglog"]]
    assert np.isfinite(num.to_numpy()).all()
    assert alps.DOMAIN.contains(df[list(alps.PARAMETERS)].to_numpy()).all()
    assert (df["chi2"] > 0).all()
    assert not df.duplicated(list(alps.PARAMETERS)).any()
    assert df["origin"].str.match(r"^((prescan|focus)-(region|other)|active)$").all()
    assert (df["origin"] == "active").sum() == data.provenance(name)["active"]["n_ok"]


@pytest.mark.parametrize("name", SETS)
def test_provenance_matches_content(name: str) -> None:
    df = data.load(name)
    prov = data.provenance(name)
    assert prov["name"] == name
    assert prov["n_ok"] == len(df)
    assert prov["n_evaluated"] == prov["n_ok"] + prov["n_failed"]
    assert prov["partial"] == (prov["n_evaluated"] < prov["n_requested"])
    assert prov["chi2_min"] == pytest.approx(df["chi2"].min(), rel=1e-12)
    assert prov["region_delta_chi2"] == REGION_DELTA_CHI2
    assert prov["recipe"]["seed"] == RECIPES[name].seed
    exact_meta = prov["stores"]["exact"]
    assert exact_meta["integrator"] == "exact"
    conv = exact_meta["chi2_convention"]
    # the data were made under the convention the code uses now (which may offer integrators
    # added since: the ones recorded must be unchanged)
    now = alps.convention()
    assert ({k: v for k, v in conv.items() if k != "integrators"}
            == {k: v for k, v in now.items() if k != "integrators"}
            | {"alpaca_version": conv["alpaca_version"]})
    assert conv["integrators"].items() <= now["integrators"].items()
    assert conv["alpaca_version"] == alps.alpaca_version()
    assert exact_meta["versions"]["alpaca-ALPs"] == alps.alpaca_version()
    assert "python -m lecture_utils dataset" in prov["regenerate"]


def test_holdout_independent_of_train() -> None:
    train, hold = data.load("train"), data.load("holdout")
    both = pd.concat([train, hold])[list(alps.PARAMETERS)]
    assert not both.duplicated().any()
    assert RECIPES["train"].seed != RECIPES["holdout"].seed


@pytest.mark.parametrize("name", SETS)
def test_size_and_emphasis(name: str) -> None:
    prov = data.provenance(name)
    assert not prov["partial"], (f"{name} is incomplete: {prov['n_evaluated']}/"
                                 f"{prov['n_requested']} exact points "
                                 f"(python -m lecture_utils dataset {name})")
    df = data.load(name)
    assert len(df) >= MIN_SIZE[name]
    region = df["chi2"] < df["chi2"].min() + REGION_DELTA_CHI2
    assert region.mean() >= 0.5


@pytest.mark.slow
@pytest.mark.parametrize(("name", "random_state"), [("dense", 1), ("edge_holdout", 2)])
def test_tabulated_points_reproduce(name: str, random_state: int) -> None:
    """A sample of a set evaluated with the tabulated exact running, evaluated again."""
    sample = data.load(name).sample(n=4, random_state=random_state)
    values = alps.chi2(sample[list(alps.PARAMETERS)].to_numpy(), "tabulated")
    np.testing.assert_allclose(values, sample["chi2"], rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", SETS)
def test_shipped_points_reproduce(name: str) -> None:
    df = data.load(name)
    sample = df.sample(n=min(4, len(df)), random_state=np.random.default_rng(0).integers(1 << 31))
    values = alps.chi2(sample[list(alps.PARAMETERS)].to_numpy(), "exact")
    np.testing.assert_allclose(values, sample["chi2"], rtol=1e-9)
    ll = alps.chi2(sample[list(alps.PARAMETERS)].to_numpy()[:2], "leadinglog")
    np.testing.assert_allclose(ll, sample["chi2_leadinglog"].to_numpy()[:2], rtol=1e-9)


@pytest.mark.slow
def test_shipped_evaluation_seed_reproduces_alpaca() -> None:
    """A seeded sample of the shipped evaluation-cache entries (total χ², each integrator it
    holds) evaluated again with ALPaca."""
    import gzip
    import json

    with gzip.open(data.SEED_FILE, "rt") as f:
        entries = [json.loads(line)["entry"] for line in f]
    chi2_entries = [e for e in entries if e["kind"] == "chi2" and e["payload"]["status"] == "ok"]
    rng = np.random.default_rng(0)
    for integrator in sorted({e["integrator"] for e in chi2_entries}):
        of_it = [e for e in chi2_entries if e["integrator"] == integrator]
        picked = [of_it[i] for i in rng.choice(len(of_it), size=min(2, len(of_it)),
                                                replace=False)]
        points = np.array([e["point"] for e in picked], dtype=np.float64)
        values = alps.chi2(points, integrator)
        np.testing.assert_allclose(values, [e["payload"]["chi2"] for e in picked], rtol=1e-9,
                                   err_msg=integrator)


def test_edge_holdout_schema_provenance_and_pairs() -> None:
    """The edge hold-out: pairs straddle the edge of the course's region (its reference minimum
    is the training data's), the rest lie on the rays; no point is a training point."""
    from lecture_utils import datasets
    from lecture_utils.surrogate import TRAINING_SETS, training_arrays

    df = data.load("edge_holdout")
    prov = data.provenance("edge_holdout")
    assert list(df.columns) == [*alps.PARAMETERS, "chi2", "origin", "pair", "gap"]
    assert np.isfinite(df[[*alps.PARAMETERS, "chi2"]].to_numpy()).all()
    assert alps.DOMAIN.contains(df[list(alps.PARAMETERS)].to_numpy()).all()
    assert not df.duplicated(list(alps.PARAMETERS)).any() and len(df) == prov["n_rows"]
    assert set(df["origin"]) == set(datasets.EDGE_ORIGINS)
    assert prov["chi2_min"] == training_arrays(TRAINING_SETS)[1].min()
    assert prov["threshold"] == prov["chi2_min"] + REGION_DELTA_CHI2
    assert prov["integrator"] == "tabulated" and prov["exact_running_key"] == \
        alps.exact_running_key()
    inside = df[df["origin"] == "edge-inside"].set_index("pair").sort_index()
    outside = df[df["origin"] == "edge-outside"].set_index("pair").sort_index()
    assert list(inside.index) == list(outside.index) == list(range(prov["n_pairs"]))
    assert (inside["chi2"] < prov["threshold"]).all()
    assert (outside["chi2"] >= prov["threshold"]).all()
    step = np.linalg.norm(alps.DOMAIN.to_unit(outside[list(alps.PARAMETERS)].to_numpy())
                          - alps.DOMAIN.to_unit(inside[list(alps.PARAMETERS)].to_numpy()), axis=1)
    np.testing.assert_allclose(step, inside["gap"], rtol=1e-6)
    training = pd.concat([data.load(n) for n in TRAINING_SETS])
    assert not pd.concat([df, training])[list(alps.PARAMETERS)].duplicated().any()
    # a hold-out point recurs only as the inside point of a pair whose edge lay closer to it
    # than the bisection's resolution
    shared = df.merge(data.load("holdout")[list(alps.PARAMETERS)], on=list(alps.PARAMETERS))
    assert (shared["origin"] == "edge-inside").all() and len(shared) <= 0.05 * prov["n_pairs"]
