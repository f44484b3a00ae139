"""An interactive explorer of the surrogate χ²: sliders for the six ALP parameters, a 2-D slice of
the surrogate Δχ² and of the gate probability that follows them, and a button that computes the
exact ALPaca χ² at the current point.

The logic lives in :class:`SurrogateExplorer` and the two figure functions, so that it is tested
without a browser (callbacks are ordinary methods: moving a slider calls :meth:`set_value`).
:meth:`SurrogateExplorer.widget` wraps it in ipywidgets for a live kernel (JupyterLab, Binder);
the rendered book, where no kernel runs, shows the same slice as a static figure
(:func:`slice_figure`).

Conventions: points are in physical units, shape (6,) or (n, 6) in the order of
:data:`lecture_utils.alps.PARAMETERS` (f_a in GeV, dimensionless couplings); the f_a slider moves
in log10 f_a (:class:`ipywidgets.FloatLogSlider`) and shows f_a in GeV.

Shown surrogate quantities (see :mod:`lecture_utils.surrogate`): the smooth combination
``Δχ²_smooth = predict_smooth − χ²_min`` (finite everywhere; colour), the region of interest of
the hard combination, ``Δχ² < cut`` (contour), and the gate probability (second panel, contour at
the gate's threshold).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import alps, data, plotting

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .surrogate import TwoStageSurrogate

DEFAULT_X = "fa"
DEFAULT_Y = "cqL33"
DEFAULT_N_GRID = 61
"""Grid points per axis of the slice (61² = 3721 surrogate predictions: milliseconds)."""

COLOUR_RANGE_FACTOR = 3.0
"""The Δχ² colour scale runs from 0 to this factor times the region cut (larger values clip)."""

ExactChi2 = Callable[[np.ndarray], float]
"""Evaluator of the exact χ² at one point, shape (6,), physical units → χ² (dimensionless)."""


def _check_axes(x: str, y: str) -> None:
    for name in (x, y):
        if name not in alps.PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}; choose from {alps.PARAMETERS}")
    if x == y:
        raise ValueError(f"the two axes of a slice must differ; both are {x!r}")


def _check_point(point: Any) -> np.ndarray:
    """A copy of one point, shape (6,), validated to lie in the domain (ValueError otherwise)."""
    arr = alps.validate_points(point)
    if arr.shape[0] != 1:
        raise ValueError(f"expected one point of shape (6,), got {arr.shape[0]} points")
    return arr[0].copy()


def axis_values(name: str, n: int = DEFAULT_N_GRID) -> np.ndarray:
    """``n`` grid values of parameter ``name`` over the domain, shape (n,), physical units:
    log-spaced for f_a (GeV), linear for the couplings."""
    if name not in alps.PARAMETERS:
        raise ValueError(f"unknown parameter {name!r}; choose from {alps.PARAMETERS}")
    if int(n) != n or n < 2:
        raise ValueError(f"a slice needs at least 2 grid points per axis, got n={n!r}")
    lo, hi = alps.DOMAIN.bounds[alps.PARAMETERS.index(name)]
    if name == "fa":
        return np.logspace(np.log10(lo), np.log10(hi), int(n))
    return np.linspace(lo, hi, int(n))


def best_training_point(name: str = "train") -> np.ndarray:
    """The point of the shipped data set ``name`` with the smallest exact χ², shape (6,)."""
    df = data.load(name)
    ok = df[np.isfinite(df["chi2"])]
    if ok.empty:
        raise ValueError(f"data set {name!r} has no finite χ² values")
    return ok.loc[ok["chi2"].idxmin(), list(alps.PARAMETERS)].to_numpy(dtype=float)


@dataclass(frozen=True)
class SliceData:
    """The surrogate on a 2-D slice through ``point``: axes ``x_name`` (columns) and ``y_name``
    (rows), all other parameters fixed at their values in ``point``.

    Arrays: ``x_values`` (n_x,), ``y_values`` (n_y,) in physical units; ``delta_chi2_smooth``,
    ``in_region`` (bool) and ``gate_probability`` of shape (n_y, n_x).
    """

    x_name: str
    y_name: str
    point: np.ndarray
    x_values: np.ndarray
    y_values: np.ndarray
    delta_chi2_smooth: np.ndarray
    in_region: np.ndarray
    gate_probability: np.ndarray
    cut: float
    threshold: float

    @property
    def region_fraction(self) -> float:
        """Fraction of the slice's grid points inside the surrogate's region of interest."""
        return float(self.in_region.mean())


def compute_slice(surrogate: TwoStageSurrogate, point: Any, x: str = DEFAULT_X,
                  y: str = DEFAULT_Y, n_grid: int = DEFAULT_N_GRID) -> SliceData:
    """Evaluate ``surrogate`` on an ``n_grid × n_grid`` slice through ``point`` (see
    :class:`SliceData`). Raises ``ValueError`` for unknown or equal axes, a point outside the
    domain or fewer than 2 grid points."""
    _check_axes(x, y)
    centre = _check_point(point)
    xs, ys = axis_values(x, n_grid), axis_values(y, n_grid)
    grid = np.tile(centre, (ys.size * xs.size, 1))
    xx, yy = np.meshgrid(xs, ys)
    grid[:, alps.PARAMETERS.index(x)] = xx.ravel()
    grid[:, alps.PARAMETERS.index(y)] = yy.ravel()
    shape = (ys.size, xs.size)
    chi2_min = float(surrogate.chi2_min)
    smooth = surrogate.predict_smooth(grid).reshape(shape) - chi2_min
    hard = surrogate.predict(grid).reshape(shape) - chi2_min
    gate = surrogate.gate_probability(grid).reshape(shape)
    return SliceData(x_name=x, y_name=y, point=centre, x_values=xs, y_values=ys,
                     delta_chi2_smooth=smooth, in_region=hard < float(surrogate.cut),
                     gate_probability=gate, cut=float(surrogate.cut),
                     threshold=float(surrogate.threshold))


def plot_slice(sl: SliceData, fig: Figure | None = None) -> Figure:
    """Draw ``sl`` into ``fig`` (cleared; a new :class:`~matplotlib.figure.Figure` if None):
    left the surrogate Δχ² with the region contour, right the gate probability with the
    threshold contour; a cross marks the current point. Returns the figure."""
    from matplotlib.figure import Figure

    with plotting.style_context():
        if fig is None:
            fig = Figure(figsize=(11.0, 4.2), layout="constrained")
        else:
            fig.clear()
        _draw_slice(sl, fig)
    return fig


def _draw_slice(sl: SliceData, fig: Figure) -> None:
    from matplotlib.lines import Line2D

    ax_chi2, ax_gate = fig.subplots(1, 2, sharey=True)
    px = sl.point[alps.PARAMETERS.index(sl.x_name)]
    py = sl.point[alps.PARAMETERS.index(sl.y_name)]
    vmax = COLOUR_RANGE_FACTOR * sl.cut
    mesh = ax_chi2.pcolormesh(sl.x_values, sl.y_values, np.clip(sl.delta_chi2_smooth, 0.0, vmax),
                              cmap=plotting.SEQUENTIAL_CMAP, vmin=0.0, vmax=vmax, shading="auto")
    fig.colorbar(mesh, ax=ax_chi2,
                 label=rf"surrogate $\Delta\chi^2$ (smooth; clipped at {vmax:g})")
    if sl.in_region.any() and not sl.in_region.all():
        ax_chi2.contour(sl.x_values, sl.y_values, sl.in_region.astype(float), levels=[0.5],
                        colors=plotting.PALETTE[3], linewidths=1.6)
    gate = ax_gate.pcolormesh(sl.x_values, sl.y_values, sl.gate_probability,
                              cmap=plotting.SEQUENTIAL_CMAP, vmin=0.0, vmax=1.0, shading="auto")
    fig.colorbar(gate, ax=ax_gate, label="gate probability (region of interest)")
    if sl.gate_probability.min() < sl.threshold < sl.gate_probability.max():
        ax_gate.contour(sl.x_values, sl.y_values, sl.gate_probability, levels=[sl.threshold],
                        colors=plotting.PALETTE[1], linewidths=1.6)
    for ax in (ax_chi2, ax_gate):
        ax.plot([px], [py], marker="x", color="white", markersize=11, markeredgewidth=2.5)
        ax.plot([px], [py], marker="x", color="black", markersize=9, markeredgewidth=1.2)
        ax.set_xlabel(plotting.axis_label(sl.x_name))
        ax.grid(False)
        if sl.x_name == "fa":
            ax.set_xscale("log")
        if sl.y_name == "fa":
            ax.set_yscale("log")
    ax_chi2.set_ylabel(plotting.axis_label(sl.y_name))
    ax_chi2.legend(handles=[
        Line2D([], [], color=plotting.PALETTE[3], label=rf"$\Delta\chi^2 = {sl.cut:g}$ (region)"),
        Line2D([], [], color="black", marker="x", ls="none", label="current point")],
        loc="lower right", fontsize=8, framealpha=0.8)
    ax_gate.legend(handles=[
        Line2D([], [], color=plotting.PALETTE[1], label=f"p = {sl.threshold:g} (threshold)")],
        loc="lower right", fontsize=8, framealpha=0.8)
    ax_chi2.set_title("surrogate χ² on the slice")
    ax_gate.set_title("gate: P(Δχ² < cut)")


def slice_figure(surrogate: TwoStageSurrogate | None = None, point: Any = None, *,
                 x: str = DEFAULT_X, y: str = DEFAULT_Y, n_grid: int = DEFAULT_N_GRID) -> Figure:
    """The static figure of the explorer: :func:`plot_slice` of :func:`compute_slice` (defaults:
    the course's surrogate, the best training point, the (f_a, c_qL33) slice)."""
    explorer = SurrogateExplorer(surrogate, point, x=x, y=y, n_grid=n_grid)
    return plot_slice(explorer.slice)


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """``fig`` rendered as PNG bytes (for the explorer's image widget)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def exact_chi2_cached(point: np.ndarray) -> float:
    """The exact ALPaca χ² at one point, shape (6,), through :func:`lecture_utils.data.
    evaluate_cached` (in this process; cached on disk, so a repeated point is free). Raises
    ``RuntimeError`` with ALPaca's message when the evaluation failed."""
    table = data.evaluate_cached(_check_point(point)[None, :], "exact", name="explorer",
                                 executor="serial", progress=False)
    row = table.iloc[0]
    if row["status"] != "ok" or not np.isfinite(row["chi2"]):
        raise RuntimeError(f"ALPaca failed at this point: {row.get('error_type')}: "
                           f"{row.get('error_message')}")
    return float(row["chi2"])


def _format_value(name: str, value: float) -> str:
    unit = alps.UNITS[name]
    return f"{value:.4g} {unit}".strip()


class SurrogateExplorer:
    """State and callbacks of the explorer (see the module docstring).

    Parameters
    ----------
    surrogate
        Anything with the :class:`~lecture_utils.surrogate.TwoStageSurrogate` prediction
        interface (also a compiled one); default :func:`~lecture_utils.surrogate.default_surrogate`.
    point
        Starting point, shape (6,), physical units; default :func:`best_training_point`.
    x, y
        Parameters on the horizontal and vertical axis of the slice.
    n_grid
        Grid points per axis.
    exact_chi2
        Evaluator of the exact χ² at a point (default :func:`exact_chi2_cached`: ALPaca, seconds).
    """

    def __init__(self, surrogate: TwoStageSurrogate | None = None, point: Any = None, *,
                 x: str = DEFAULT_X, y: str = DEFAULT_Y, n_grid: int = DEFAULT_N_GRID,
                 exact_chi2: ExactChi2 | None = None) -> None:
        if surrogate is None:
            from .surrogate import default_surrogate

            surrogate = default_surrogate()
        _check_axes(x, y)
        axis_values(x, n_grid)  # validates n_grid
        self.surrogate = surrogate
        self._point = _check_point(best_training_point() if point is None else point)
        self.x, self.y, self.n_grid = x, y, int(n_grid)
        self._exact = exact_chi2 if exact_chi2 is not None else exact_chi2_cached
        self.exact_result: tuple[np.ndarray, float] | None = None
        self.exact_error: str | None = None
        self.slice = compute_slice(self.surrogate, self._point, self.x, self.y, self.n_grid)
        self._widgets: dict[str, Any] = {}
        self._figure: Figure | None = None

    # ---- state
    @property
    def point(self) -> np.ndarray:
        """The current point, shape (6,), physical units (a copy)."""
        return self._point.copy()

    def set_value(self, name: str, value: float) -> None:
        """Move parameter ``name`` to ``value`` (physical units; ValueError outside the domain)
        and recompute the slice."""
        if name not in alps.PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}; choose from {alps.PARAMETERS}")
        moved = self._point.copy()
        moved[alps.PARAMETERS.index(name)] = float(value)
        self._point = _check_point(moved)
        self.refresh()

    def set_axes(self, x: str, y: str) -> None:
        """Show the slice in parameters ``x`` (horizontal) and ``y`` (vertical)."""
        _check_axes(x, y)
        self.x, self.y = x, y
        self.refresh()

    def summary(self) -> dict[str, float | bool]:
        """Surrogate values at the current point: ``chi2`` (hard combination; inf outside the
        gate), ``chi2_smooth``, ``delta_chi2_smooth``, ``gate_probability``, ``in_region``."""
        p = self._point[None, :]
        chi2 = float(self.surrogate.predict(p)[0])
        smooth = float(self.surrogate.predict_smooth(p)[0])
        chi2_min = float(self.surrogate.chi2_min)
        return {"chi2": chi2, "chi2_smooth": smooth, "delta_chi2_smooth": smooth - chi2_min,
                "gate_probability": float(self.surrogate.gate_probability(p)[0]),
                "in_region": bool(chi2 - chi2_min < float(self.surrogate.cut))}

    def summary_text(self) -> str:
        """One line (HTML-safe) describing :meth:`summary` at the current point."""
        s = self.summary()
        where = "inside" if s["in_region"] else "outside"
        return (f"surrogate χ² = {s['chi2_smooth']:.3f} (Δχ² = {s['delta_chi2_smooth']:.3f}, "
                f"{where} the region Δχ² &lt; {float(self.surrogate.cut):g}); "
                f"gate probability = {s['gate_probability']:.3f}")

    def compute_exact(self) -> float:
        """Exact χ² at the current point (stored in :attr:`exact_result` with the point)."""
        point = self.point
        self.exact_error = None
        value = float(self._exact(point))
        if not np.isfinite(value):
            raise ValueError(f"the exact χ² evaluator returned {value} at {point}")
        self.exact_result = (point, value)
        return value

    def exact_text(self) -> str:
        """Result of the last :meth:`compute_exact` compared with the surrogate, or a hint."""
        if self.exact_error is not None:
            return f"exact χ² failed: {self.exact_error}"
        if self.exact_result is None:
            return "exact ALPaca χ²: press the button (a few seconds per new point)"
        point, value = self.exact_result
        surrogate = float(self.surrogate.predict_smooth(point[None, :])[0])
        stale = "" if np.array_equal(point, self._point) else " (at an earlier point)"
        return (f"exact ALPaca χ² = {value:.3f}{stale}; surrogate {surrogate:.3f}, "
                f"difference surrogate − exact = {surrogate - value:+.3f}")

    def refresh(self) -> None:
        """Recompute the slice and, when the widget exists, update its figure and text."""
        self.slice = compute_slice(self.surrogate, self._point, self.x, self.y, self.n_grid)
        if self._widgets:
            self._widgets["summary"].value = self.summary_text()
            self._widgets["exact"].value = self.exact_text()
            self._redraw()

    # ---- widget
    def _redraw(self) -> None:
        # The figure goes into an image widget as PNG bytes: no dependence on the kernel's
        # matplotlib backend (a Figure made without pyplot would display as text otherwise).
        self._figure = plot_slice(self.slice, self._figure)
        self._widgets["plot"].value = figure_png(self._figure)

    def _on_slider(self, name: str, change: dict[str, Any]) -> None:
        try:
            self.set_value(name, change["new"])
        except ValueError as exc:  # shown to the reader, the slider keeps its position
            self._widgets["summary"].value = f"cannot move {name}: {exc}"

    def _on_axes(self, change: dict[str, Any]) -> None:
        x, y = self._widgets["x"].value, self._widgets["y"].value
        try:
            self.set_axes(x, y)
        except ValueError as exc:
            self._widgets["summary"].value = str(exc)

    def _on_exact(self, _button: Any) -> None:
        self._widgets["exact"].value = "computing the exact χ² with ALPaca …"
        try:
            self.compute_exact()
        except Exception as exc:  # noqa: BLE001 - a UI callback: show the error, do not lose it
            self.exact_error = f"{type(exc).__name__}: {exc}"
        self._widgets["exact"].value = self.exact_text()

    def sliders(self) -> dict[str, Any]:
        """The six parameter sliders (created by :meth:`widget`), by parameter name."""
        return {name: self._widgets[f"slider_{name}"] for name in alps.PARAMETERS}

    def widget(self) -> Any:
        """The explorer as an :class:`ipywidgets.Widget` (display it in a live kernel)."""
        import ipywidgets as w

        if "root" in self._widgets:
            return self._widgets["root"]
        sliders = []
        for i, name in enumerate(alps.PARAMETERS):
            lo, hi = alps.DOMAIN.bounds[i]
            label = alps.LABELS[name]
            common = {"value": float(self._point[i]), "description": label,
                      "continuous_update": False, "style": {"description_width": "110px"},
                      "layout": w.Layout(width="360px")}
            if name == "fa":
                slider = w.FloatLogSlider(base=10.0, min=float(np.log10(lo)),
                                          max=float(np.log10(hi)), step=0.01,
                                          readout_format=".3g", **common)
            else:
                slider = w.FloatSlider(min=float(lo), max=float(hi), step=0.05,
                                       readout_format=".2f", **common)
            slider.observe(functools.partial(self._on_slider, name), names="value")
            self._widgets[f"slider_{name}"] = slider
            sliders.append(slider)
        options = [(alps.LABELS[n], n) for n in alps.PARAMETERS]
        self._widgets["x"] = w.Dropdown(options=options, value=self.x, description="x axis")
        self._widgets["y"] = w.Dropdown(options=options, value=self.y, description="y axis")
        for name in ("x", "y"):
            self._widgets[name].observe(self._on_axes, names="value")
        self._widgets["summary"] = w.HTML(self.summary_text())
        self._widgets["exact"] = w.HTML(self.exact_text())
        button = w.Button(description="exact ALPaca χ²", icon="calculator",
                          tooltip="evaluate the exact χ² at the current point (seconds)")
        button.on_click(self._on_exact)
        self._widgets["button"] = button
        self._widgets["plot"] = w.Image(format="png", layout=w.Layout(width="760px"))
        controls = w.VBox([w.HTML("<b>parameters</b> (physical units)"), *sliders,
                           self._widgets["x"], self._widgets["y"], button])
        root = w.VBox([w.HBox([controls, self._widgets["plot"]]), self._widgets["summary"],
                       self._widgets["exact"]])
        self._widgets["root"] = root
        self._redraw()
        return root

    def describe(self) -> str:
        """Plain-text description of the current point and slice (for alt text and logs)."""
        values = ", ".join(f"{n} = {_format_value(n, v)}"
                           for n, v in zip(alps.PARAMETERS, self._point, strict=True))
        return (f"slice in ({self.x}, {self.y}) through {values}; "
                f"{self.slice.region_fraction:.0%} of the slice inside the surrogate's region")
