"""The ALP parameter space and the ALPaca χ² (contract of the engine issue)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from lecture_utils import alps

# two points inside the region of interest and one Standard-Model-like point
POINTS = np.array([
    [1.0e7, 1.0, 0.5, -0.3, 0.2, 0.1],
    [5.0e6, -0.8, 1.2, 0.4, -1.0, 0.6],
    alps.SM_LIKE_POINT,
])


def test_contract_names() -> None:
    assert alps.PARAMETERS == ("fa", "cqL33", "cuR", "cdR", "clL33", "ceR")
    assert alps.MA_GEV == 2.0
    assert set(alps.INTEGRATORS) == {"exact", "leadinglog", "tabulated"}
    assert alps.DOMAIN.bounds.shape == (6, 2)
    assert set(alps.UNITS) == set(alps.PARAMETERS)


def test_domain_unit_roundtrip() -> None:
    u = np.random.default_rng(0).random((50, 6))
    x = alps.DOMAIN.from_unit(u)
    assert alps.DOMAIN.contains(x).all()
    np.testing.assert_allclose(alps.DOMAIN.to_unit(x), u, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        (np.array([[np.nan, 0, 0, 0, 0, 0]]), "'fa' has non-finite"),
        (np.array([[1e7, 0, np.inf, 0, 0, 0]]), "'cuR' has non-finite"),
        (np.array([[-1e7, 0, 0, 0, 0, 0]]), "'fa'.*> 0"),
        (np.array([[0.0, 0, 0, 0, 0, 0]]), "'fa'.*> 0"),
        (np.zeros((2, 5)) + 1.0, r"shape \(n, 6\)"),
        (np.zeros((2, 7)) + 1.0, r"shape \(n, 6\)"),
        (np.array([[1e7, 0, 0, 9.0, 0, 0]]), "'cdR' outside the domain"),
        (np.array([[1e5, 0, 0, 0, 0, 0]]), "'fa' outside the domain"),
        (np.empty((0, 6)), "empty"),
        ([["a", 1, 1, 1, 1, 1]], "numeric"),
    ],
)
def test_bad_input(points: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        alps.validate_points(points)


def test_extrapolation_is_explicit() -> None:
    outside = np.array([[1e5, 0, 0, 0, 0, 0]])
    assert alps.validate_points(outside, allow_extrapolation=True).shape == (1, 6)


def test_unknown_integrator() -> None:
    with pytest.raises(ValueError, match="unknown integrator 'rk4'"):
        alps.chi2(POINTS, integrator="rk4")  # type: ignore[arg-type]


def test_chi2_shapes_and_values() -> None:
    values = alps.chi2(POINTS, "leadinglog")
    assert values.shape == (3,)
    assert np.isfinite(values).all()
    # the SM-like point sits on the plateau; the region point explains the excess better
    assert values[0] < values[2]
    one = alps.chi2(POINTS[0], "leadinglog")
    assert one.shape == (1,)
    assert one[0] == pytest.approx(values[0], rel=1e-12)  # vectorised sums: last-bit rounding


def test_chi2_independent_of_batch_and_order() -> None:
    a = alps.chi2(POINTS, "leadinglog")
    b = alps.chi2(POINTS[::-1], "leadinglog")[::-1]
    c = np.concatenate([alps.chi2(p, "leadinglog") for p in POINTS])
    # equal up to floating-point rounding of ALPaca's vectorised sums (without the fixed random
    # draws they would differ by O(0.01-1))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a, c, rtol=1e-12, atol=0)
    assert alps.chi2(POINTS, "leadinglog").tolist() == a.tolist()  # same call, same bits


def test_caller_rng_state_untouched() -> None:
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    alps.chi2(POINTS[:1], "leadinglog")
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_breakdown_sums_to_total() -> None:
    table = alps.chi2_breakdown(POINTS[0], "leadinglog")
    assert list(table.columns) == ["observable", "experiment", "chi2", "dof"]
    assert (table["dof"] > 0).all()
    assert len(table) == int(table["dof"].sum()) >= 10
    assert table["chi2"].sum() == pytest.approx(alps.chi2(POINTS[0], "leadinglog")[0], rel=1e-12)
    assert ("B+ -> K+ alp", "Belle II") in set(zip(table.observable, table.experiment, strict=True))
    with pytest.raises(ValueError, match="one point"):
        alps.chi2_breakdown(POINTS[:2], "leadinglog")


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    seed = int(sys.argv[1])
    np.random.seed(seed)
    np.random.normal(size=1000 * seed)          # scramble the global RNG differently
    from lecture_utils import alps
    pts = np.array(json.loads(sys.argv[2]))
    if seed % 2:                                 # a different history before the evaluation
        alps.chi2(np.array([[3e6, 2.0, -1.0, 0.5, 1.5, -2.0]]), "leadinglog")
    ll = alps.chi2(pts, "leadinglog").tolist()
    ex = alps.chi2(pts[:1], "exact").tolist()
    print(json.dumps({"ll": ll, "exact": ex}))
""")


def test_deterministic_across_fresh_processes() -> None:
    pts = json.dumps(POINTS[:2].tolist())
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(seed), pts], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=os.environ | {"PYTHONHASHSEED": str(hs)})
        for seed, hs in ((1, 11), (2, 22))
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0] == results[1]
    # and equal to this process (whatever ran here before)
    assert results[0]["ll"] == alps.chi2(POINTS[:2], "leadinglog").tolist()


def test_convention_recorded() -> None:
    conv = alps.convention()
    assert conv["alpaca_version"] == "1.2.0"
    assert str(alps.THEORY_UNCERTAINTY_SEED) in conv["theory_uncertainty"]
    assert str(alps.VEGAS_SEED) in conv["vegas"]


def test_observable_table_reproduces_alpaca() -> None:
    table = alps.observable_table(POINTS[0], "leadinglog")
    assert list(table.columns) == list(alps.OBSERVABLE_COLUMNS)
    breakdown = alps.chi2_breakdown(POINTS[0], "leadinglog")
    # our step-by-step recomputation equals ALPaca's own per-measurement χ²
    np.testing.assert_allclose(table["chi2"], breakdown["chi2"], rtol=1e-10, atol=1e-12)
    assert table["chi2"].sum() == pytest.approx(alps.chi2(POINTS[0], "leadinglog")[0], rel=1e-12)
    meas = table[table["kind"] == "measurement"]
    np.testing.assert_allclose(meas["pull"] ** 2, meas["chi2"], rtol=1e-10)
    bk = table[(table["observable"] == "B+ -> K+ alp") & (table["experiment"] == "Belle II")]
    assert len(bk) == 1 and 0 < bk["escape_probability"].iloc[0] <= 1
    with pytest.raises(ValueError, match="one point"):
        alps.observable_table(POINTS[:2], "leadinglog")


def test_low_energy_couplings_follow_the_running() -> None:
    base = np.array([1e7, 1.0, 0.5, -0.3, 0.2, 0.1])
    pts = np.vstack([base, base * np.r_[1, 2, 2, 2, 2, 2], [1e7, 0, 0, 0, 0, 0]])
    low = alps.low_energy_couplings(pts, "leadinglog")
    assert list(low.columns) == list(alps.LOW_ENERGY_COLUMNS)
    np.testing.assert_allclose(low["ct"], pts[:, 2] - pts[:, 1])
    # one-loop running is linear in the couplings: doubling them doubles c_bs(m_a)
    assert low["cbs_re"].iloc[1] == pytest.approx(2 * low["cbs_re"].iloc[0], rel=1e-9)
    assert abs(low["cbs_re"].iloc[0]) > 1e-3       # generated by the top-Yukawa running
    np.testing.assert_allclose(low.iloc[2].to_numpy(), 0.0, atol=1e-15)


def test_running_table_reproduces_alpaca_off_its_nodes() -> None:
    table = alps.running_table(progress=False)
    assert table.response.shape == (alps.RUNNING_GRID_SIZE, len(alps.RUNNING_COUPLINGS), 5)
    np.testing.assert_allclose(table.log10_fa[[0, -1]], alps.DOMAIN.unit_bounds[0], rtol=0,
                               atol=1e-12)
    assert alps.running_table() is table  # memoised
    # random points, f_a between the nodes (and one beyond the grid: linear extrapolation)
    rng = np.random.default_rng(3)
    pts = alps.DOMAIN.from_unit(rng.random((4, 6)))
    pts = np.vstack([pts, [6.0e7, 1.0, -2.0, 0.5, 1.5, -0.7]])
    tabulated = table.low_energy(pts)
    direct = alps.low_energy_couplings(pts, "leadinglog", allow_extrapolation=True)
    columns = [name for name, *_ in alps.RUNNING_COUPLINGS]
    shared = [c for c in columns if c in direct.columns]
    assert {"cbs_re", "cbs_im", "cmumu_A", "ctautau_A", "cnu33"} <= set(shared)
    for c in shared:
        np.testing.assert_allclose(tabulated[:, columns.index(c)], direct[c], rtol=5e-5,
                                   atol=1e-5, err_msg=c)
    # the quark couplings (not in low_energy_couplings) against ALPaca's matrices directly
    low = alps.couplings_low(pts[0], "leadinglog").values
    for k, (_, key, row, col, part) in enumerate(alps.RUNNING_COUPLINGS):
        exact = getattr(complex(np.asarray(low[key])[row, col]), part)
        assert tabulated[0, k] == pytest.approx(exact, rel=5e-5, abs=1e-5)


def test_running_response_is_linear_in_the_couplings() -> None:
    fa = 3.3e6
    response = alps.running_response(fa)
    c = np.array([0.7, -1.9, 2.2, -0.4, 1.3])
    low = alps.couplings_low(np.r_[fa, c], "leadinglog").values
    for k, (_, key, row, col, part) in enumerate(alps.RUNNING_COUPLINGS):
        exact = getattr(complex(np.asarray(low[key])[row, col]), part)
        assert response[k] @ c == pytest.approx(exact, rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        alps.running_response(-1.0)


def test_running_table_checks_its_grid() -> None:
    response = np.zeros((3, len(alps.RUNNING_COUPLINGS), 5))
    with pytest.raises(ValueError, match="uniform"):
        alps.RunningTable(np.array([6.0, 6.5, 7.5]), response)
    with pytest.raises(ValueError, match="grid nodes"):
        alps.RunningTable(np.array([6.0, 7.0]), response)


# --------------------------------------------------------------------------------------------
# integrator "tabulated": the exact running, tabulated in f_a
# --------------------------------------------------------------------------------------------
def test_exact_running_table_is_shipped_and_matches_its_key() -> None:
    table = alps.exact_running_table()
    assert table.response.shape == (alps.TABULATED_GRID_SIZE, alps.VA_BELOW_SIZE, 5)
    assert np.iscomplexobj(table.response)
    np.testing.assert_allclose(table.log10_fa[[0, -1]], alps.DOMAIN.unit_bounds[0], rtol=0,
                               atol=1e-12)
    # the shipped file is the one loaded (no rebuild), and it names the current key
    with np.load(alps.shipped_exact_running_path()) as f:
        assert str(f["key"]) == alps.exact_running_key()
        np.testing.assert_array_equal(f["response"], table.response)


def test_exact_running_table_node_is_alpacas_exact_running() -> None:
    """One node recomputed live with ALPaca's exact evolution equals the shipped table, and the
    table applied to arbitrary couplings equals ALPaca's run of those couplings (linearity) to
    the tolerance of ALPaca's ODE solution."""
    table = alps.exact_running_table()
    k = 17
    fa = 10.0 ** table.log10_fa[k]
    live = alps.couplings_response(fa, "exact")
    np.testing.assert_allclose(live, table.response[k], rtol=1e-9, atol=1e-12)
    c = np.array([1.1, -2.3, 0.4, 2.9, -0.6])
    direct = alps.running._flatten_va_below(alps.couplings_low(np.r_[fa, c], "exact").values)
    linear = table.response[k] @ c
    scale = np.abs(direct).max()
    assert scale > 1.0
    np.testing.assert_allclose(linear, direct, rtol=0, atol=2e-3 * scale)
    # the leading-log response is exactly linear, and running_response is its named rows
    ll = alps.couplings_response(fa, "leadinglog")
    rows = [alps.running._layout_index(key, row, col)
            for _, key, row, col, _ in alps.RUNNING_COUPLINGS]
    parts = [part for *_, part in alps.RUNNING_COUPLINGS]
    expected = np.array([getattr(ll[r], p) for r, p in zip(rows, parts, strict=True)])
    np.testing.assert_array_equal(alps.running_response(fa), expected)
    with pytest.raises(ValueError, match="runs ALPaca"):
        alps.couplings_response(fa, "tabulated")


def test_tabulated_chi2_equals_the_exact_chi2_of_the_holdout() -> None:
    """The shipped hold-out holds ALPaca's directly computed exact χ²; the tabulated running
    reproduces it to ALPaca's ODE tolerance (inside and outside the region)."""
    from lecture_utils import data

    holdout = data.load("holdout")
    region = holdout["chi2"] < holdout["chi2"].min() + 10.0
    pick = pd.concat([holdout[region].head(5), holdout[~region].head(2)])
    pts = pick[list(alps.PARAMETERS)].to_numpy()
    tabulated = alps.chi2(pts, "tabulated")
    # region: absolute; outside (χ² up to 10⁷): relative, ALPaca's ODE tolerance
    np.testing.assert_allclose(tabulated[:5], pick["chi2"].to_numpy()[:5], rtol=0, atol=5e-3)
    np.testing.assert_allclose(tabulated[5:], pick["chi2"].to_numpy()[5:], rtol=5e-3)
    # …while the leading-log χ² of the same points is visibly different
    assert np.abs(pick["chi2_leadinglog"].to_numpy() - pick["chi2"].to_numpy()).max() > 0.05
    # one point through couplings_low agrees with the batch
    low = alps.couplings_low(pts[0], "tabulated")
    assert low.basis == "VA_below" and low.scale == alps.MA_GEV
    assert alps.chi2(pts[:1], "tabulated")[0] == tabulated[0]


def test_running_table_files_are_checked_by_key(tmp_path) -> None:
    table = alps.RunningTable(np.array([6.0, 7.0]), np.ones((2, 3, 5), dtype=complex))
    path = tmp_path / "t.npz"
    alps.save_running_table(table, path, "abc")
    loaded = alps.running._load_running_table(path, "abc")
    assert loaded is not None
    np.testing.assert_array_equal(loaded.response, table.response)
    assert alps.running._load_running_table(path, "other") is None          # stale: rebuild
    assert alps.running._load_running_table(tmp_path / "missing.npz", "abc") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert alps.running._load_running_table(tmp_path / "bad.npz", "abc") is None


def test_va_below_layout_round_trip() -> None:
    rng = np.random.default_rng(0)
    vec = rng.normal(size=alps.VA_BELOW_SIZE) + 1j * rng.normal(size=alps.VA_BELOW_SIZE)
    values = alps.running._unflatten_va_below(vec)
    assert [k for k, _ in alps.VA_BELOW_LAYOUT] == list(values)
    np.testing.assert_array_equal(alps.running._flatten_va_below(values), vec)
    with pytest.raises(RuntimeError, match="expected"):
        alps.running._flatten_va_below({"cuV": np.zeros((2, 2))})
