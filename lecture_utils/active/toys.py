"""Toy functions with known minima, hence known regions: teaching and testing aids.

Forrester (1-D), Himmelblau and Branin (2-D) and Hartmann (6-D) in :data:`TOY_PROBLEMS`; the
physics is only ever the ALPaca χ².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .learner import Learner

__all__ = ["TOY_PROBLEMS", "ToyProblem", "branin", "forrester", "hartmann6", "himmelblau"]


def forrester(x: np.ndarray) -> np.ndarray:
    """Forrester et al.'s 1-D test function ``(6x − 2)² sin(12x − 4)`` on [0, 1] (toy)."""
    x = np.asarray(x, dtype=float)[:, 0]
    return (6.0 * x - 2.0) ** 2 * np.sin(12.0 * x - 4.0)


def himmelblau(x: np.ndarray) -> np.ndarray:
    """Himmelblau's 2-D function on [−5, 5]²: four minima of value 0 (toy)."""
    x = np.asarray(x, dtype=float)
    return (x[:, 0] ** 2 + x[:, 1] - 11.0) ** 2 + (x[:, 0] + x[:, 1] ** 2 - 7.0) ** 2


def branin(x: np.ndarray) -> np.ndarray:
    """The Branin–Hoo 2-D function on [−5, 10] × [0, 15]: three minima of 0.397887 (toy)."""
    x = np.asarray(x, dtype=float)
    b, c, t = 5.1 / (4.0 * np.pi**2), 5.0 / np.pi, 1.0 / (8.0 * np.pi)
    return ((x[:, 1] - b * x[:, 0] ** 2 + c * x[:, 0] - 6.0) ** 2
            + 10.0 * (1.0 - t) * np.cos(x[:, 0]) + 10.0)


_HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                        [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
_HARTMANN_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                               [2329, 4135, 8307, 3736, 1004, 9991],
                               [2348, 1451, 3522, 2883, 3047, 6650],
                               [4047, 8828, 8732, 5743, 1091, 381]], dtype=float)
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> np.ndarray:
    """The 6-D Hartmann function on [0, 1]⁶, minimum −3.32237 (toy)."""
    x = np.asarray(x, dtype=float)
    inner = ((x[:, None, :] - _HARTMANN_P[None]) ** 2 * _HARTMANN_A[None]).sum(axis=2)
    return -(np.exp(-inner) * _HARTMANN_ALPHA).sum(axis=1)


@dataclass(frozen=True)
class ToyProblem:
    """An analytic function with a known minimum, hence a known region (a teaching aid)."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[tuple[float, float], ...]
    minimum: float
    delta: float

    @property
    def dim(self) -> int:
        return len(self.bounds)

    def region(self, points: Any) -> np.ndarray:
        """True region membership ``f < minimum + delta`` of points (n, d), shape (n,)."""
        return self.function(np.atleast_2d(points)) < self.minimum + self.delta

    def reference(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded uniform reference sample: points (n, d) and their values (n,)."""
        b = np.asarray(self.bounds)
        pts = b[:, 0] + np.random.default_rng(seed).random((int(n), self.dim)) * (b[:, 1] - b[:, 0])
        return pts, self.function(pts)

    def learner(self, seed: int = 0, **options: Any) -> Learner:
        """A :class:`Learner` on the problem's bounds and ``delta`` (options passed on)."""
        return Learner(np.asarray(self.bounds), self.delta, seed, **options)


TOY_PROBLEMS: dict[str, ToyProblem] = {
    "forrester": ToyProblem("forrester", forrester, ((0.0, 1.0),), -6.020740055767083, 5.5),
    "himmelblau": ToyProblem("himmelblau", himmelblau, ((-5.0, 5.0), (-5.0, 5.0)), 0.0, 10.0),
    "branin": ToyProblem("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.39788735772973816,
                         5.0),
    "hartmann6": ToyProblem("hartmann6", hartmann6, ((0.0, 1.0),) * 6, -3.3223680114155147,
                            2.0),
}
"""Toy problems with known regions (teaching and testing aids; never physics)."""
