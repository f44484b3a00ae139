"""The surrogate explorer: slice values, callbacks updating the state, the exact-χ² button, the
static figure — all without a browser (widget callbacks are triggered programmatically)."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

from lecture_utils import alps, explorer, plotting

CHI2_MIN = 12.0


class QuadraticSurrogate:
    """A labelled teaching stand-in with the surrogate interface: χ² = χ²_min + Σ c_i² +
    (log10 f_a − 7)², gate probability a logistic function of Δχ², inside the region when
    Δχ² < cut. Exact formulae make the slice values checkable."""

    chi2_min = CHI2_MIN
    cut = 10.0
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0

    def _delta(self, points: np.ndarray) -> np.ndarray:
        p = alps.validate_points(points)
        self.calls += 1
        return (p[:, 1:] ** 2).sum(axis=1) + (np.log10(p[:, 0]) - 7.0) ** 2

    def predict_smooth(self, points: np.ndarray) -> np.ndarray:
        return CHI2_MIN + self._delta(points)

    def predict(self, points: np.ndarray) -> np.ndarray:
        d = self._delta(points)
        return np.where(d < self.cut, CHI2_MIN + d, np.inf)

    def gate_probability(self, points: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(self._delta(points) - self.cut))


START = np.array([1.0e7, 0.5, 0.0, 0.0, 0.0, 0.0])


def make(**kwargs: object) -> explorer.SurrogateExplorer:
    kwargs.setdefault("exact_chi2", lambda p: 42.0)
    return explorer.SurrogateExplorer(QuadraticSurrogate(), START, n_grid=11, **kwargs)


def test_slice_values_match_the_surrogate_on_the_grid() -> None:
    sl = explorer.compute_slice(QuadraticSurrogate(), START, "cuR", "fa", n_grid=9)
    assert sl.x_values.shape == (9,) and sl.y_values.shape == (9,)
    assert sl.delta_chi2_smooth.shape == (9, 9)
    lo, hi = alps.DOMAIN.fa_gev
    np.testing.assert_allclose(sl.y_values[[0, -1]], [lo, hi])
    np.testing.assert_allclose(np.diff(np.log10(sl.y_values)), np.log10(hi / lo) / 8)
    expected = (sl.x_values[None, :] ** 2 + START[1] ** 2
                + (np.log10(sl.y_values[:, None]) - 7.0) ** 2)
    np.testing.assert_allclose(sl.delta_chi2_smooth, expected)
    np.testing.assert_array_equal(sl.in_region, expected < 10.0)
    np.testing.assert_allclose(sl.gate_probability, 1 / (1 + np.exp(expected - 10.0)))
    assert 0.0 < sl.region_fraction < 1.0


def test_sliders_update_point_slice_and_text() -> None:
    ex = make()
    root = ex.widget()
    assert root is ex.widget()  # built once
    sliders = ex.sliders()
    assert set(sliders) == set(alps.PARAMETERS)
    before = ex.slice
    text_before = ex._widgets["summary"].value
    png_before = bytes(ex._widgets["plot"].value)
    assert png_before.startswith(b"\x89PNG")
    sliders["cuR"].value = 1.5
    png_after = bytes(ex._widgets["plot"].value)
    assert png_after.startswith(b"\x89PNG")
    assert png_after != png_before  # the figure was redrawn
    assert ex.point[alps.PARAMETERS.index("cuR")] == pytest.approx(1.5)
    assert ex.slice is not before
    # the slice is in (fa, cqL33): moving cuR shifts every grid value by 1.5²
    np.testing.assert_allclose(ex.slice.delta_chi2_smooth - before.delta_chi2_smooth, 1.5**2)
    assert ex._widgets["summary"].value != text_before
    assert f"{CHI2_MIN + 1.5**2 + 0.25:.3f}" in ex._widgets["summary"].value
    sliders["fa"].value = 1.0e6
    assert ex.point[0] == pytest.approx(1.0e6)
    np.testing.assert_allclose(ex.slice.point, ex.point)


def test_fa_slider_is_logarithmic_in_gev() -> None:
    import ipywidgets

    ex = make()
    ex.widget()
    fa = ex.sliders()["fa"]
    assert isinstance(fa, ipywidgets.FloatLogSlider)
    assert 10.0**fa.min == pytest.approx(alps.DOMAIN.fa_gev[0])
    assert 10.0**fa.max == pytest.approx(alps.DOMAIN.fa_gev[1])
    assert fa.value == pytest.approx(START[0])
    assert "GeV" in fa.description


def test_axis_dropdowns_change_the_slice_and_reject_equal_axes() -> None:
    ex = make()
    ex.widget()
    ex._widgets["x"].value = "cdR"
    assert (ex.slice.x_name, ex.slice.y_name) == ("cdR", "cqL33")
    ex._widgets["y"].value = "cdR"  # equal axes: refused with a message, state unchanged
    assert (ex.slice.x_name, ex.slice.y_name) == ("cdR", "cqL33")
    assert "must differ" in ex._widgets["summary"].value


def test_exact_button_calls_the_evaluator_at_the_current_point() -> None:
    seen: list[np.ndarray] = []

    def exact(point: np.ndarray) -> float:
        seen.append(point)
        return 21.5

    ex = make(exact_chi2=exact)
    ex.widget()
    ex.sliders()["cdR"].value = -1.0
    ex._widgets["button"].click()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], ex.point)
    assert ex.exact_result is not None and ex.exact_result[1] == 21.5
    text = ex._widgets["exact"].value
    assert "21.500" in text
    surrogate = CHI2_MIN + 0.25 + 1.0
    assert f"{surrogate - 21.5:+.3f}" in text
    ex.sliders()["cdR"].value = 0.0  # moving on marks the result as belonging to an earlier point
    assert "earlier point" in ex._widgets["exact"].value


def test_exact_button_shows_errors() -> None:
    def failing(point: np.ndarray) -> float:
        raise RuntimeError("ALPaca failed at this point: boom")

    ex = make(exact_chi2=failing)
    ex.widget()
    ex._widgets["button"].click()
    assert "RuntimeError" in ex._widgets["exact"].value and "boom" in ex._widgets["exact"].value
    assert ex.exact_result is None
    with pytest.raises(ValueError, match="returned nan"):
        make(exact_chi2=lambda p: float("nan")).compute_exact()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"x": "fa", "y": "fa"}, "must differ"),
    ({"x": "ma"}, "unknown parameter"),
    ({"n_grid": 1}, "at least 2"),
])
def test_bad_settings_raise_value_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        explorer.SurrogateExplorer(QuadraticSurrogate(), START, **kwargs)


def test_points_outside_the_domain_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the domain"):
        explorer.SurrogateExplorer(QuadraticSurrogate(), [1.0e5, 0, 0, 0, 0, 0])
    ex = make()
    with pytest.raises(ValueError, match="outside the domain"):
        ex.set_value("cuR", 5.0)
    np.testing.assert_allclose(ex.point, START)  # unchanged
    ex.widget()
    ex.sliders()["cuR"].value = ex.sliders()["cuR"].max  # sliders cannot leave the domain
    assert ex.point[2] == pytest.approx(alps.DOMAIN.coupling[1])


def test_plot_slice_draws_both_panels_without_touching_global_style() -> None:
    with mpl.rc_context({"font.size": 7.0}):
        sl = explorer.compute_slice(QuadraticSurrogate(), START, n_grid=15)
        fig = explorer.plot_slice(sl)
        assert mpl.rcParams["font.size"] == 7.0
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # two panels + two colour bars
    panels = [ax for ax in fig.axes if ax.get_xlabel() == plotting.axis_label("fa")]
    assert len(panels) == 2 and all(ax.get_xscale() == "log" for ax in panels)
    assert panels[0].get_ylabel() == plotting.axis_label("cqL33")
    fig.canvas.draw()  # renders without error


def test_describe_names_every_parameter_with_units() -> None:
    text = make().describe()
    for name in alps.PARAMETERS:
        assert f"{name} = " in text
    assert "GeV" in text


def test_default_point_is_the_best_training_point() -> None:
    from lecture_utils import data

    train = data.load("train")
    best = explorer.best_training_point()
    assert best.shape == (6,)
    assert train["chi2"].min() == pytest.approx(
        train.loc[(train[list(alps.PARAMETERS)] == best).all(axis=1), "chi2"].iloc[0])


def test_slice_figure_with_the_course_surrogate() -> None:
    """The static figure of the book page, with the real (cached) surrogate."""
    from lecture_utils.surrogate import default_surrogate

    surrogate = default_surrogate()
    fig = explorer.slice_figure(surrogate, n_grid=21)
    sl = explorer.compute_slice(surrogate, explorer.best_training_point(), n_grid=21)
    assert np.isfinite(sl.delta_chi2_smooth).all()
    assert ((sl.gate_probability >= 0) & (sl.gate_probability <= 1)).all()
    # the best training point sits where the surrogate predicts a small Δχ²
    centre = explorer.SurrogateExplorer(surrogate, exact_chi2=lambda p: 0.0).summary()
    assert centre["delta_chi2_smooth"] < surrogate.cut
    fig.canvas.draw()
