"""One matplotlib style for every figure of the book.

Call :func:`use_style` once at the top of a notebook (it is idempotent). The palette is the
Okabe–Ito colour-blind-safe set; font sizes are chosen for the rendered HTML page. Axis labels for
the ALP parameters come from :func:`axis_label`, so units appear the same way everywhere.

This module is a leaf (it imports only :mod:`lecture_utils.alps` for names and units).
"""

from __future__ import annotations

from typing import Any

from . import alps

PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                            "#F0E442", "#000000")
"""Okabe–Ito colours (blue, orange, green, vermillion, purple, sky blue, yellow, black)."""

SEQUENTIAL_CMAP = "viridis"
"""Colour map for sequential quantities (χ², probabilities): perceptually uniform, CVD-safe."""

DIVERGING_CMAP = "RdBu_r"
"""Colour map for signed quantities (pulls, SHAP values) centred on zero."""

STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": SEQUENTIAL_CMAP,
    "lines.linewidth": 1.8,
}
"""rcParams applied by :func:`use_style` (besides the colour cycle)."""


def use_style() -> None:
    """Apply the book's matplotlib style (palette, fonts, grid) to the current process.

    Updates matplotlib's global ``rcParams`` with :data:`STYLE` and sets the colour cycle to
    :data:`PALETTE`. Idempotent: call it once at the top of a notebook.

    See Also
    --------
    style_context : the same style inside a ``with`` block only.
    """
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))


def axis_label(name: str, *, log10: bool = False) -> str:
    """Axis label with units for an ALP parameter name (e.g. ``"fa"`` → ``$f_a$ [GeV]``).

    Parameters
    ----------
    name : str
        A name of :data:`lecture_utils.alps.PARAMETERS`.
    log10 : bool, optional
        Label the decimal logarithm instead: for f_a it reads log10(f_a / GeV), for a coupling
        log10 of its symbol.

    Returns
    -------
    str
        The label, in matplotlib's mathtext (``$…$``).

    Raises
    ------
    KeyError
        For an unknown name; the message lists the known ones.
    """
    if name not in alps.LABELS:
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(alps.PARAMETERS)}")
    if not log10:
        return alps.LABELS[name]
    symbol = alps.LABELS[name].split(" [")[0].strip("$")
    unit = alps.UNITS[name]
    return rf"$\log_{{10}}({symbol}\,/\,\mathrm{{{unit}}})$" if unit else rf"$\log_{{10}}{symbol}$"


def style_context() -> Any:
    """A context manager applying the book's style only inside a ``with`` block (for library
    functions that draw figures without changing the caller's global rcParams)."""
    import matplotlib as mpl
    from cycler import cycler

    return mpl.rc_context({**STYLE, "axes.prop_cycle": cycler(color=list(PALETTE))})
