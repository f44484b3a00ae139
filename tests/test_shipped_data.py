"""Schema, provenance and reproducibility of the shipped data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps, data
from lecture_utils.datasets import RECIPES
from lecture_utils.stats import REGION_DELTA_CHI2

SETS = ("train", "holdout")
MIN_SIZE = {"train": 4000, "holdout": 500}


def test_required_sets_are_shipped() -> None:
    assert set(SETS) <= set(data.available())


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
    # the data were made under the convention the code uses now
    assert conv == alps.convention() | {"alpaca_version": conv["alpaca_version"]}
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
    if prov["partial"]:
        pytest.skip(f"{name} is still being generated: {prov['n_evaluated']}/"
                    f"{prov['n_requested']} exact points (python -m lecture_utils dataset {name})")
    df = data.load(name)
    assert len(df) >= MIN_SIZE[name]
    region = df["chi2"] < df["chi2"].min() + REGION_DELTA_CHI2
    assert region.mean() >= 0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", SETS)
def test_shipped_points_reproduce(name: str) -> None:
    df = data.load(name)
    sample = df.sample(n=min(4, len(df)), random_state=np.random.default_rng(0).integers(1 << 31))
    values = alps.chi2(sample[list(alps.PARAMETERS)].to_numpy(), "exact")
    np.testing.assert_allclose(values, sample["chi2"], rtol=1e-9)
    ll = alps.chi2(sample[list(alps.PARAMETERS)].to_numpy()[:2], "leadinglog")
    np.testing.assert_allclose(ll, sample["chi2_leadinglog"].to_numpy()[:2], rtol=1e-9)
