"""Designs of experiments: the edge pairs of a region (walk out along rays, then bisect)."""

from __future__ import annotations

import numpy as np
import pytest

from lecture_utils import design
from lecture_utils.alps import DOMAIN

CENTRE = np.full(6, 0.5)


class Ball:
    """χ² = 100 · |u − centre|² in unit-cube coordinates: the region χ² < 4 is the ball of
    radius 0.2; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, points: np.ndarray) -> np.ndarray:
        self.calls += 1
        return 100.0 * ((DOMAIN.to_unit(points) - CENTRE) ** 2).sum(axis=1)


def _starts(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    u = CENTRE + np.random.default_rng(seed).uniform(-0.05, 0.05, size=(n, 6))
    points = DOMAIN.from_unit(u)
    return points, Ball()(points)


def test_pairs_straddle_the_edge_at_the_bisection_resolution() -> None:
    starts, chi2 = _starts(40, seed=1)
    ball = Ball()
    pairs = design.edge_pairs(ball, starts, chi2, design.random_directions(40, 6, seed=2), 4.0,
                              first_step=0.02, n_expand=6, n_bisect=5)
    assert len(pairs["ray"]) == 40                       # the ball lies well inside the cube
    assert np.all(pairs["chi2_inside"] < 4.0) and np.all(pairs["chi2_outside"] >= 4.0)
    np.testing.assert_allclose(pairs["chi2_inside"], Ball()(pairs["inside"]), rtol=1e-12)
    np.testing.assert_allclose(pairs["chi2_outside"], Ball()(pairs["outside"]), rtol=1e-12)
    gap = np.linalg.norm(DOMAIN.to_unit(pairs["outside"]) - DOMAIN.to_unit(pairs["inside"]),
                         axis=1)
    np.testing.assert_allclose(gap, pairs["gap"], rtol=1e-9)
    # the bracket after the walk is first_step · 2^(k-1), halved n_bisect times
    assert np.all(pairs["gap"] <= 0.02 * 2.0 ** 4 / 2 ** 5 + 1e-12)
    radius = np.linalg.norm(DOMAIN.to_unit(pairs["inside"]) - CENTRE, axis=1)
    assert np.all((radius < 0.2) & (radius > 0.2 - pairs["gap"]))
    assert ball.calls <= 6 + 5


def test_rays_that_leave_the_cube_first_are_dropped_and_failures_count_as_outside() -> None:
    starts, chi2 = _starts(20, seed=3)
    directions = design.random_directions(20, 6, seed=4)

    def huge_region(points: np.ndarray) -> np.ndarray:
        return np.zeros(len(points))                     # never leaves the region

    assert len(design.edge_pairs(huge_region, starts, chi2, directions, 4.0)["ray"]) == 0

    def failing(points: np.ndarray) -> np.ndarray:
        out = Ball()(points)
        out[::2] = np.nan                                 # failed evaluations
        return out

    pairs = design.edge_pairs(failing, starts, chi2, directions, 4.0)
    assert len(pairs["ray"]) == 20 and np.all(~(pairs["chi2_outside"] < 4.0))


def test_deterministic_and_bad_input() -> None:
    starts, chi2 = _starts(5, seed=5)
    d = design.random_directions(5, 6, seed=6)
    a = design.edge_pairs(Ball(), starts, chi2, d, 4.0)
    b = design.edge_pairs(Ball(), starts, chi2, design.random_directions(5, 6, seed=6), 4.0)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    with pytest.raises(ValueError, match="same shape"):
        design.edge_pairs(Ball(), starts, chi2, d[:3], 4.0)
    with pytest.raises(ValueError, match="below the threshold"):
        design.edge_pairs(Ball(), starts, chi2 + 10.0, d, 4.0)
    with pytest.raises(ValueError, match="first_step"):
        design.edge_pairs(Ball(), starts, chi2, d, 4.0, first_step=0.0)
    with pytest.raises(ValueError, match="positive integer"):
        design.random_directions(0, 6, seed=0)
