"""The book's matplotlib style and axis labels."""

from __future__ import annotations

import matplotlib as mpl
import pytest

from lecture_utils import alps, plotting


def test_use_style_sets_palette_and_fonts() -> None:
    with mpl.rc_context():
        plotting.use_style()
        colours = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
        assert colours == list(plotting.PALETTE)
        assert mpl.rcParams["font.size"] == plotting.STYLE["font.size"]


def test_axis_labels_carry_units() -> None:
    assert "GeV" in plotting.axis_label("fa")
    assert "GeV" in plotting.axis_label("fa", log10=True)
    assert plotting.axis_label("cuR") == alps.LABELS["cuR"]
    assert "log" in plotting.axis_label("cuR", log10=True)
    with pytest.raises(KeyError, match="known"):
        plotting.axis_label("ma")
