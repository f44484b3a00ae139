"""Derived physical quantities of the ALP fit (alps.derived_quantities) against ALPaca itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lecture_utils import alps

# a point in the region of interest, the same point with all couplings doubled, the SM-like point
BASE = np.array([1.0e7, 1.0, 0.5, -0.3, 0.2, 0.1])
POINTS = np.vstack([BASE, BASE * np.r_[1, 2, 2, 2, 2, 2], alps.SM_LIKE_POINT])


@pytest.fixture(scope="module")
def derived_ll():
    return alps.derived_quantities(POINTS, "leadinglog")


def _direct(point: np.ndarray, integrator: str) -> dict[str, float]:
    """The same quantities through ALPaca's public API, without lecture_utils' helpers."""
    alpaca = alps.load_alpaca()
    fa, cq, cu, cd, cl, ce = point
    with alps.quiet():  # ALPaca's own deprecation noise (numpy.matrix), not ours
        high = alpaca.ALPcouplings(
            {"cqL": np.diag([0.0, 0.0, cq]), "cuR": cu, "cdR": cd,
             "clL": np.diag([0.0, 0.0, cl]), "ceR": ce},
            scale=4 * math.pi * fa, basis="derivative_above")
        low = high.match_run(2.0, "VA_below",
                             integrator={"exact": "scipy", "leadinglog": "leadinglog"}[integrator])
        width = float(alpaca.decay_width("alp", 2.0, low, fa))
        br = float(alpaca.branching_ratio("B+ -> K+ alp", 2.0, low, fa))
    hbarc_gev_m = 1.973269804e-16  # ħc in GeV·m (CODATA)
    return {"cbs_re": float(np.real(low.values["cdV"][1, 2])),
            "cbs_im": float(np.imag(low.values["cdV"][1, 2])),
            "cmumu_A": float(np.real(low.values["ceA"][1, 1])),
            "width_gev": width, "ctau_m": hbarc_gev_m / width, "br_BKa": br}


def test_columns_and_definitions(derived_ll) -> None:
    assert list(derived_ll.columns) == list(alps.DERIVED_COLUMNS)
    assert len(derived_ll) == len(POINTS)
    np.testing.assert_allclose(derived_ll["ct"], POINTS[:, 2] - POINTS[:, 1])
    cbs = derived_ll["cbs_re"] + 1j * derived_ll["cbs_im"]
    np.testing.assert_allclose(derived_ll["cbs_abs"], np.abs(cbs), rtol=1e-12)
    np.testing.assert_allclose(derived_ll["cbs_phase"], np.angle(cbs), atol=1e-12)
    np.testing.assert_allclose(derived_ll["br_BKa_escaping"],
                               derived_ll["br_BKa"] * derived_ll["escape_probability"], rtol=1e-12)
    assert ((derived_ll["escape_probability"] >= 0) & (derived_ll["escape_probability"] <= 1)).all()


def test_agrees_with_low_energy_couplings(derived_ll) -> None:
    low = alps.low_energy_couplings(POINTS, "leadinglog")
    for column in ("ct", "cbs_re", "cbs_im", "cbs_abs", "cmumu_A"):
        np.testing.assert_allclose(derived_ll[column], low[column], rtol=1e-12, atol=1e-15)


def test_agrees_with_direct_alpaca_leadinglog(derived_ll) -> None:
    for i in range(2):
        direct = _direct(POINTS[i], "leadinglog")
        for column, value in direct.items():
            assert derived_ll[column].iloc[i] == pytest.approx(value, rel=1e-6), column


def test_agrees_with_the_observable_table(derived_ll) -> None:
    """The Belle II B⁺→K⁺ + invisible row of the χ² table sees BR × escape probability."""
    table = alps.observable_table(POINTS[0], "leadinglog")
    row = table[(table["observable"] == alps.BELLE2_BKINV[0])
                & (table["experiment"] == alps.BELLE2_BKINV[1])].iloc[0]
    assert row["escape_probability"] == pytest.approx(
        derived_ll["escape_probability"].iloc[0], rel=1e-12)
    from alpaca.statistics import chisquared as cs

    sm_value = float(cs.get_th_value(alps.BELLE2_BKINV[0]))
    assert row["prediction"] == pytest.approx(
        derived_ll["br_BKa_escaping"].iloc[0] + sm_value, rel=1e-10)


def test_physics_scalings(derived_ll) -> None:
    # one-loop (leading-log) running is linear in the couplings: doubling them doubles c_bs,
    # quadruples BR(B → K a) ∝ |c_bs|² and the width ∝ |c|², and quarters cτ
    d = derived_ll
    assert d["cbs_re"].iloc[1] == pytest.approx(2 * d["cbs_re"].iloc[0], rel=1e-9)
    assert d["br_BKa"].iloc[1] == pytest.approx(4 * d["br_BKa"].iloc[0], rel=1e-6)
    assert d["width_gev"].iloc[1] == pytest.approx(4 * d["width_gev"].iloc[0], rel=1e-6)
    assert d["ctau_m"].iloc[1] == pytest.approx(d["ctau_m"].iloc[0] / 4, rel=1e-6)
    # a longer-lived ALP escapes more often
    assert d["escape_probability"].iloc[0] > d["escape_probability"].iloc[1]


def test_sm_like_point_never_decays(derived_ll) -> None:
    sm = derived_ll.iloc[2]
    assert sm["width_gev"] == 0.0 and math.isinf(sm["ctau_m"])
    assert sm["escape_probability"] == 1.0
    assert sm["br_BKa"] == 0.0 and sm["cbs_abs"] == 0.0


@pytest.mark.parametrize(("points", "integrator", "match"), [
    (np.ones((2, 5)), "leadinglog", "shape"),
    ([[1e7, np.nan, 0, 0, 0, 0]], "leadinglog", "cqL33"),
    ([[1e5, 0, 0, 0, 0, 0]], "leadinglog", "outside the domain"),
    ([BASE], "nlo", "unknown integrator"),
])
def test_bad_input(points, integrator, match) -> None:
    with pytest.raises(ValueError, match=match):
        alps.derived_quantities(points, integrator)


@pytest.mark.slow
def test_exact_running_agrees_with_direct_alpaca() -> None:
    derived = alps.derived_quantities(BASE, "exact")
    direct = _direct(BASE, "exact")
    for column, value in direct.items():
        assert derived[column].iloc[0] == pytest.approx(value, rel=1e-6), column


@pytest.mark.slow
def test_observable_table_sums_to_exact_chi2() -> None:
    table = alps.observable_table(BASE, "exact")
    assert len(table) == 17
    assert table["chi2"].sum() == pytest.approx(alps.chi2(BASE, "exact")[0], rel=1e-12)
