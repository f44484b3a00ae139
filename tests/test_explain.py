"""Tests of the SHAP helpers: additivity on both stages, interaction values, determinism of the
importance tables, the feature ↔ parameter map, shap/xgboost compatibility, bad input, plots and
the on-disk cache of the physics reading.

Models are trained on the synthetic toy χ² of :mod:`lecture_utils.testing` (a test aid),
so the file runs in seconds; one test uses the course's cached ``default_surrogate()``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import shap  # noqa: E402
import xgboost as xgb  # noqa: E402

from lecture_utils import alps, data, explain  # noqa: E402
from lecture_utils import surrogate as sg  # noqa: E402
from lecture_utils.testing import toy_dataset  # noqa: E402

ADDITIVITY_TOL = 1e-4  # float32 trees: the sum of ~100 leaves rounds at ~1e-6 relative


@pytest.fixture(scope="module")
def model(toy_surrogate: sg.TwoStageSurrogate) -> sg.TwoStageSurrogate:
    return toy_surrogate


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return toy_dataset(120, seed=22)[0]


@pytest.fixture(scope="module")
def explained(model: sg.TwoStageSurrogate, points: np.ndarray) -> dict[str, explain.Explanation]:
    return {stage: explain.explain(model, points, stage=stage, interactions=True)
            for stage in explain.STAGES}


def _raw_output(model: sg.TwoStageSurrogate, stage: str, pts: np.ndarray) -> np.ndarray:
    """The stage's raw margin computed without the explain module: log-odds or χ²."""
    return model.gate_logit(pts) if stage == "gate" else model.predict_regressor(pts)


# ------------------------------------------------------------------------- compatibility ---
@pytest.mark.parametrize("cls", [xgb.XGBRegressor, xgb.XGBClassifier])
def test_tree_explainer_reads_a_tiny_xgboost_model(cls: type) -> None:
    """shap ≥ 0.54 with xgboost ≥ 3.1: base value and SHAP values add up to the raw margin (older
    shap mis-read the vector base_score and failed exactly this)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y = x[:, 0] + x[:, 1] * x[:, 2] > 0.2 if cls is xgb.XGBClassifier else 5.0 + x[:, 0] ** 2
    tiny = cls(n_estimators=8, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    margin = tiny.get_booster().inplace_predict(x, predict_type="margin")
    for kwargs in ({"feature_perturbation": "tree_path_dependent"},
                   {"feature_perturbation": "interventional", "data": x[:50]}):
        explainer = shap.TreeExplainer(tiny, **kwargs)
        phi = explainer.shap_values(x)
        assert phi.shape == x.shape
        base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
        np.testing.assert_allclose(base + phi.sum(axis=1), margin, atol=ADDITIVITY_TOL)
    explain.check_versions()  # the installed pair is accepted


def test_check_versions_rejects_old_shap_with_new_xgboost() -> None:
    with pytest.raises(RuntimeError, match="base_score"):
        explain.check_versions("0.46.0", "3.1.0")
    explain.check_versions("0.46.0", "2.1.4")  # old xgboost: fine
    explain.check_versions(explain.SHAP_MIN_VERSION, "3.4.1")


# ----------------------------------------------------------------------------- additivity ---
@pytest.mark.parametrize("stage", explain.STAGES)
@pytest.mark.parametrize("perturbation", explain.PERTURBATIONS)
def test_base_value_plus_shap_is_the_raw_margin(model: sg.TwoStageSurrogate, points: np.ndarray,
                                                stage: str, perturbation: str) -> None:
    e = explain.explain(model, points, stage=stage, perturbation=perturbation, n_background=40,
                        seed=1)
    reference = _raw_output(model, stage, points)  # for the gate: the logit, not the probability
    np.testing.assert_allclose(e.output, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(e.base_value + e.values.sum(axis=1), reference, rtol=0,
                               atol=ADDITIVITY_TOL)
    assert e.additivity_error() < ADDITIVITY_TOL
    assert e.values.shape == (len(points), len(alps.PARAMETERS))
    if stage == "gate":  # the probability scale would not add up
        assert np.abs(e.output - model.gate_probability(points)).max() > 0.1


def test_refuses_features_that_mix_the_parameters() -> None:
    for transform in sg.FEATURE_TRANSFORMS:
        if transform in explain.PER_PARAMETER_TRANSFORMS:
            assert len(sg.feature_names(transform)) == len(alps.PARAMETERS)
            continue
        with pytest.raises(ValueError, match="not one feature per parameter"):
            explain.feature_map(transform)
        with pytest.raises(ValueError, match="not one feature per parameter"):
            explain.points_from_features(np.zeros((1, 6)), transform)


def test_additivity_on_the_course_surrogate() -> None:
    model = sg.default_surrogate(transform="ratio")  # one feature per parameter (chapter 6)
    df = data.load("train")
    pts = df[list(alps.PARAMETERS)].to_numpy()[explain.sample_indices(len(df), 60, seed=0)]
    course = sg.default_surrogate()
    if course.transform not in explain.PER_PARAMETER_TRANSFORMS:
        # features that mix the parameters: attributions cannot be reported per parameter
        for call in (lambda: explain.explain(course, pts[:2]),
                     lambda: explain.brute_force_shapley(course, pts[0])):
            with pytest.raises(ValueError, match="not one feature per parameter"):
                call()
    for stage in explain.STAGES:
        e = explain.explain(model, pts, stage=stage, interactions=True)
        np.testing.assert_allclose(e.base_value + e.values.sum(axis=1),
                                   _raw_output(model, stage, pts), rtol=0, atol=ADDITIVITY_TOL)
        np.testing.assert_allclose(e.interactions.sum(axis=2), e.values, rtol=0,
                                   atol=ADDITIVITY_TOL)


# --------------------------------------------------------------------------- interactions ---
@pytest.mark.parametrize("stage", explain.STAGES)
def test_interaction_values_sum_to_shap_values(explained: dict[str, explain.Explanation],
                                               stage: str) -> None:
    e = explained[stage]
    phi = e.interactions
    assert phi.shape == (len(e), 6, 6)
    np.testing.assert_allclose(phi.sum(axis=2), e.values, rtol=0, atol=ADDITIVITY_TOL)
    np.testing.assert_allclose(phi, np.swapaxes(phi, 1, 2), rtol=0, atol=1e-5)
    np.testing.assert_allclose(e.base_value + phi.sum(axis=(1, 2)), e.output, rtol=0,
                               atol=ADDITIVITY_TOL)


def test_interaction_tables(explained: dict[str, explain.Explanation]) -> None:
    e = explained["regressor"]
    matrix = explain.interaction_matrix(e)
    assert list(matrix.index) == list(alps.PARAMETERS) == list(matrix.columns)
    np.testing.assert_allclose(matrix.to_numpy(), matrix.to_numpy().T, atol=1e-7)
    phi = e.interactions
    i, j = 1, 3
    assert matrix.iloc[i, j] == pytest.approx(np.mean(np.abs(phi[:, i, j] + phi[:, j, i])))
    assert matrix.iloc[i, i] == pytest.approx(np.mean(np.abs(phi[:, i, i])))
    pairs = explain.interaction_importance(e)
    assert len(pairs) == 15
    assert pairs["mean_abs_interaction"].is_monotonic_decreasing
    assert pairs["share"].sum() == pytest.approx(1.0)
    assert list(pairs["rank"]) == list(range(1, 16))
    for p in alps.PARAMETERS:
        partner = explain.strongest_interaction(e, p)
        assert partner != p
        assert matrix.loc[p, partner] == matrix.loc[p].drop(p).max()


# ---------------------------------------------------------------------- importance tables ---
def test_global_importance_table(explained: dict[str, explain.Explanation]) -> None:
    e = explained["gate"]
    table = explain.global_importance(e)
    assert set(table.index) == set(alps.PARAMETERS)
    assert table["mean_abs_shap"].is_monotonic_decreasing
    assert table["share"].sum() == pytest.approx(1.0)
    for p in alps.PARAMETERS:
        k = alps.PARAMETERS.index(p)
        assert table.loc[p, "mean_abs_shap"] == pytest.approx(np.abs(e.values[:, k]).mean())
    assert list(table["rank"]) == list(range(1, 7))


def test_importance_is_deterministic_with_a_seed(model: sg.TwoStageSurrogate,
                                                 points: np.ndarray) -> None:
    background = toy_dataset(400, seed=23)[0]

    def table(seed: int) -> pd.DataFrame:
        e = explain.explain(model, points, perturbation="interventional", background=background,
                            n_background=30, seed=seed)
        assert e.seed == seed and e.n_background == 30
        return explain.global_importance(e)

    pd.testing.assert_frame_equal(table(7), table(7))
    other = table(8)  # another background sample: other numbers (so the check above can fail)
    assert not np.allclose(table(7)["mean_abs_shap"].sort_index(),
                           other["mean_abs_shap"].sort_index(), rtol=0, atol=1e-9)
    path = [explain.interaction_importance(explain.explain(model, points, interactions=True))
            for _ in range(2)]
    pd.testing.assert_frame_equal(*path)


def test_compare_importance(explained: dict[str, explain.Explanation]) -> None:
    e = explained["regressor"]
    half = e.subset(np.arange(len(e)) < len(e) // 2)
    assert len(half) == len(e) // 2
    table = explain.compare_importance({"all": e, "half": half})
    assert list(table.columns) == ["all", "half", "rank_all", "rank_half"]
    assert list(table.index) == list(explain.global_importance(e).index)
    np.testing.assert_allclose(table["half"].sort_index(),
                               explain.global_importance(half)["mean_abs_shap"].sort_index())


def test_sample_indices() -> None:
    a = explain.sample_indices(100, 10, seed=3)
    np.testing.assert_array_equal(a, explain.sample_indices(100, 10, seed=3))
    assert len(np.unique(a)) == 10 and np.all(np.diff(a) > 0) and a.max() < 100
    assert not np.array_equal(a, explain.sample_indices(100, 10, seed=4))
    np.testing.assert_array_equal(explain.sample_indices(5, None, seed=0), np.arange(5))
    np.testing.assert_array_equal(explain.sample_indices(5, 50, seed=0), np.arange(5))


# ------------------------------------------------------------------- features ↔ parameters ---
@pytest.mark.parametrize("transform", explain.PER_PARAMETER_TRANSFORMS)
def test_feature_map_is_one_feature_per_parameter(transform: str) -> None:
    fmap = explain.feature_map(transform)
    assert list(fmap.index) == list(alps.PARAMETERS)
    assert list(fmap["feature"]) == list(sg.feature_names(transform))
    assert fmap.loc["fa", "depends_on"] == "fa"
    expected = "fa, cuR" if transform == "ratio" else "cuR"
    assert fmap.loc["cuR", "depends_on"] == expected
    assert "GeV" in fmap.loc["fa", "label"]


def test_feature_map_rejects_a_mixing_transform(monkeypatch: pytest.MonkeyPatch) -> None:
    original = sg.features

    def mixing(points, transform="ratio"):  # feature 2 also depends on parameter 3
        x = original(points, transform)
        x[:, 2] += x[:, 3]
        return x

    monkeypatch.setattr(sg, "features", mixing)
    with pytest.raises(RuntimeError, match="not one feature per parameter"):
        explain.feature_map("ratio")


# ------------------------------------------------------- Shapley values from the definition ---
@pytest.mark.parametrize("stage", explain.STAGES)
def test_tree_shap_equals_the_brute_force_definition(model: sg.TwoStageSurrogate,
                                                     points: np.ndarray, stage: str) -> None:
    """TreeSHAP is exact: it reproduces the 2^6-coalition sum for both value functions."""
    background = toy_dataset(25, seed=24)[0]
    for index in (0, 7):
        point = points[index]
        e = explain.explain(model, point, stage=stage)
        phi, base, coalitions = explain.brute_force_shapley(model, point, stage=stage)
        np.testing.assert_allclose(phi, e.values[0], rtol=0, atol=ADDITIVITY_TOL)
        assert base == pytest.approx(e.base_value, abs=ADDITIVITY_TOL)
        assert len(coalitions) == 64
        assert coalitions[explain.coalition_name(alps.PARAMETERS)] == pytest.approx(
            e.output[0], abs=1e-5)
        assert coalitions["∅"] == pytest.approx(base)
        ei = explain.explain(model, point, stage=stage, perturbation="interventional",
                             background=background, n_background=len(background))
        phi_i, base_i, _ = explain.brute_force_shapley(model, point, stage=stage,
                                                       perturbation="interventional",
                                                       background=background)
        np.testing.assert_allclose(phi_i, ei.values[0], rtol=0, atol=ADDITIVITY_TOL)
        assert base_i == pytest.approx(ei.base_value, abs=ADDITIVITY_TOL)
        assert not np.allclose(phi, phi_i, atol=1e-3)  # the two value functions differ


# ------------------------------------------------------------------------------ bad input ---
@pytest.mark.parametrize("bad, match", [
    (np.ones((4, 5)), "shape"),
    (np.ones((2, 3, 6)), "shape"),
    (np.array([[1e7, np.nan, 0, 0, 0, 0]]), "non-finite"),
    (np.array([[1e7, 0, np.inf, 0, 0, 0]]), "non-finite"),
    (np.array([[-1e7, 0, 0, 0, 0, 0]]), "fa"),
    (np.empty((0, 6)), "empty"),
])
def test_bad_points_raise(model: sg.TwoStageSurrogate, bad: np.ndarray, match: str) -> None:
    for stage in explain.STAGES:
        with pytest.raises(ValueError, match=match):
            explain.explain(model, bad, stage=stage)
    with pytest.raises(ValueError, match=match):
        explain.explain(model, toy_dataset(10, seed=1)[0], perturbation="interventional",
                        background=bad)


def test_bad_options_raise(model: sg.TwoStageSurrogate, points: np.ndarray,
                           explained: dict[str, explain.Explanation]) -> None:
    with pytest.raises(ValueError, match="stage"):
        explain.explain(model, points, stage="classifier")
    with pytest.raises(ValueError, match="perturbation"):
        explain.explain(model, points, perturbation="observational")
    with pytest.raises(ValueError, match="background"):
        explain.explain(model, points, background=points)
    with pytest.raises(ValueError, match="interaction"):
        explain.explain(model, points, perturbation="interventional", interactions=True)
    with pytest.raises(ValueError, match="n_background"):
        explain.explain(model, points, perturbation="interventional", n_background=0)
    plain = explain.explain(model, points[:5])
    with pytest.raises(ValueError, match="interactions=True"):
        explain.interaction_matrix(plain)
    with pytest.raises(ValueError, match="unknown parameter"):
        explain.strongest_interaction(explained["gate"], "ma")
    with pytest.raises(ValueError, match="index"):
        explain.plot_waterfall(plain, 5)
    with pytest.raises(ValueError, match="fa_gev"):
        explain.coupling_response(-1.0)
    with pytest.raises(ValueError, match="low-energy columns"):
        explain.coupling_response(1e7, columns=("cbs",))
    with pytest.raises(ValueError, match="one point"):
        explain.brute_force_shapley(model, points[:2])
    with pytest.raises(ValueError, match="background"):
        explain.brute_force_shapley(model, points[0], perturbation="interventional")
    with pytest.raises(ValueError, match="sample size"):
        explain.sample_indices(10, 0, seed=0)


# ------------------------------------------------------------------ feature-space lines ---
@pytest.mark.parametrize("transform", explain.PER_PARAMETER_TRANSFORMS)
def test_points_from_features_inverts_features(transform: str) -> None:
    pts = toy_dataset(50, seed=8)[0]
    x = sg.features(pts, transform).astype(np.float64)
    np.testing.assert_allclose(explain.points_from_features(x, transform), pts, rtol=2e-6)
    with pytest.raises(ValueError, match="shape"):
        explain.points_from_features(np.ones((2, 5)), transform)
    with pytest.raises(ValueError, match="NaN"):
        explain.points_from_features(np.full((1, 6), np.nan), transform)


def test_feature_line_moves_one_feature_inside_the_domain() -> None:
    point = np.array([1.7e7, -2.0, -2.2, 2.2, 2.5, -0.2])
    x0 = sg.features(point).astype(np.float64)[0]
    for parameter in ("fa", "cqL33", "ceR"):
        k = alps.PARAMETERS.index(parameter)
        values, pts = explain.feature_line(point, parameter, 7)
        assert values.shape == (7,) and pts.shape == (7, 6)
        assert np.all(np.diff(values) > 0)
        assert alps.DOMAIN.contains(pts).all()
        x = sg.features(pts).astype(np.float64)
        np.testing.assert_allclose(x[:, k], values, rtol=1e-5, atol=1e-7)
        others = [j for j in range(6) if j != k]
        np.testing.assert_allclose(x[:, others], np.repeat(x0[None, others], 7, axis=0),
                                   rtol=1e-5)
    values, pts = explain.feature_line(point, "fa", 5)
    # f_a moves at fixed c/f_a: the largest coupling (2.5) reaches the domain edge 3.5 first
    assert np.abs(pts[:, 1:]).max() == pytest.approx(3.5, rel=1e-3)
    assert pts[0, 0] == pytest.approx(alps.DOMAIN.fa_gev[0])
    with pytest.raises(ValueError, match="n ≥ 2"):
        explain.feature_line(point, "fa", 1)


def test_interaction_contrast_finds_the_interacting_measurement(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A synthetic breakdown: 'product' = cqL33 · ceR interacts, 'square' = cqL33² does not."""
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))

    def fake_breakdown(point, integrator="exact", **_):
        p = np.asarray(point, dtype=float).reshape(-1)
        return pd.DataFrame({"observable": ["product", "square"], "experiment": ["X", "Y"],
                             "chi2": [p[1] * p[5], p[1] ** 2], "dof": [1, 1]})

    monkeypatch.setattr(alps, "chi2_breakdown", fake_breakdown)
    point = np.array([2.0e7, 1.0, 0.0, 0.0, 0.0, -1.0])
    table = explain.interaction_contrast(point, ("cqL33", "ceR"), (0.1, 0.05))
    assert table.attrs["steps"] == (0.1, 0.05)
    scale = point[0] / sg.FA_REFERENCE_GEV  # physical coupling per unit of feature
    assert list(table.index) == ["product (X)", "square (Y)"]
    assert table.loc["product (X)", "contrast"] == pytest.approx(0.1 * 0.05 * scale**2)
    assert table.loc["square (Y)", "contrast"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["square (Y)", "effect_a"] == pytest.approx(
        (1.0 + 0.05 * scale) ** 2 - (1.0 - 0.05 * scale) ** 2)
    edge = np.array([2.0e7, 3.4, 0.0, 0.0, 0.0, -1.0])  # big steps are shrunk into the domain
    shrunk = explain.interaction_contrast(edge, ("cqL33", "ceR"), (0.1, 0.05))
    assert shrunk.attrs["steps"][0] < 0.1
    assert alps.DOMAIN.contains(shrunk.attrs["points"]).all()
    with pytest.raises(ValueError, match="different"):
        explain.interaction_contrast(point, ("cuR", "cuR"), (0.1, 0.1))
    with pytest.raises(ValueError, match="positive"):
        explain.interaction_contrast(point, ("cuR", "ceR"), (0.0, 0.1))


# ---------------------------------------------------------------------------------- plots ---
def test_plot_helpers_draw(explained: dict[str, explain.Explanation]) -> None:
    e = explained["regressor"]
    ax = explain.plot_waterfall(e, 3)
    assert len(ax.patches) == 6
    assert any("GeV" in t.get_text() for t in ax.get_yticklabels())  # f_a shown in GeV
    ax = explain.plot_importance(e)
    assert len(ax.patches) == 6
    ax = explain.plot_importance(explain.global_importance(explained["gate"]))
    assert len(ax.patches) == 6
    ax = explain.plot_beeswarm(e, max_points=50)
    assert len(ax.collections) == 6
    ax = explain.plot_dependence(e, "cqL33")
    partner = explain.strongest_interaction(e, "cqL33")
    assert explain.feature_label(partner) in ax.figure.axes[-1].get_ylabel()
    explain.plot_dependence(e, "fa", color_by=None)
    ax = explain.plot_dependence(e, "cdR", color_by="ceR", x_quantiles=(0.1, 0.9))
    assert "outside the range shown" in ax.get_xlabel()
    ax = explain.plot_interaction_heatmap(e)
    assert len(ax.texts) == 36
    values = np.linspace(-1.0, 1.0, 5)
    contributions = pd.DataFrame({f"m{k}": (k + 1) * values**2 for k in range(7)})
    ax = explain.plot_observable_scan(values, contributions, "cuR", top=3,
                                      curves={"surrogate": values + 20.0})
    assert len(ax.lines) == 3 + 1 + 1
    with pytest.raises(ValueError, match="rows"):
        explain.plot_observable_scan(values[:3], contributions, "cuR")
    plt.close("all")


# ------------------------------------------------------------------ cache of the physics ---
def test_physics_tables_are_cached_per_point(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    calls = []

    def fake_low_energy(points, integrator="exact", **_):
        p = np.atleast_2d(points)
        calls.append((len(p), integrator))
        return pd.DataFrame({c: p[:, 1] + k for k, c in enumerate(alps.LOW_ENERGY_COLUMNS)})

    monkeypatch.setattr(alps, "low_energy_couplings", fake_low_energy)
    pts = toy_dataset(4, seed=5)[0]
    first = explain.low_energy_table(pts, "leadinglog")
    assert list(first.columns) == list(alps.LOW_ENERGY_COLUMNS)
    np.testing.assert_allclose(first["ct"], pts[:, 1])
    assert len(calls) == 4
    second = explain.low_energy_table(pts, "leadinglog")
    pd.testing.assert_frame_equal(first, second)
    assert len(calls) == 4  # all read from the cache
    explain.low_energy_table(pts[::-1][:3], "leadinglog")
    assert len(calls) == 4  # a subset, reordered: still cached point by point
    explain.low_energy_table(pts, "exact")
    assert calls[4:] == [(1, "exact")] * 4  # another integrator: another key
    response = explain.coupling_response(2.0e7, columns=("cbs_re", "cmumu_A"))
    assert list(response.index) == list(alps.PARAMETERS[1:])
    assert list(response.columns) == ["cbs_re", "cmumu_A"]
    np.testing.assert_allclose(response["cbs_re"], np.eye(5)[:, 0] + 1.0)


@pytest.mark.slow
def test_coupling_response_is_linear(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Low-energy couplings of a point = Σ_i c_i × (response to a unit c_i) (leading log)."""
    monkeypatch.setenv("LECTURE_UTILS_CACHE", str(tmp_path))
    point = np.array([1.5e7, -1.2, 0.7, 2.0, -0.4, 1.1])
    columns = ("cbs_re", "cbs_im", "cmumu_A", "cee_A", "ctautau_A")
    response = explain.coupling_response(point[0], columns=columns)
    direct = alps.low_energy_couplings(point, "leadinglog")[list(columns)].to_numpy()[0]
    np.testing.assert_allclose(point[1:] @ response.to_numpy(), direct, rtol=1e-6, atol=1e-12)
