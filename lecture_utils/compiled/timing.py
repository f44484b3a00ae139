"""Timing functions side by side: the measurements behind the dispatcher's crossover and the
speed tables of chapter 5 and ``benchmarks/compiled.py``.

:func:`measure` alternates blocks of calls of every function for several rounds, so that slow
drifts of the machine's load hit every function alike; :class:`Timings` holds the result and
takes paired ratios round by round. :func:`distinct_batches` cuts many different batches from a
sample, so that a processor's branch predictor cannot learn a few rows by heart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Timings", "distinct_batches", "measure"]


@dataclass
class Timings:
    """Result of :func:`measure`: seconds per call of each function.

    ``calls[name]``: every timed call; ``rounds[name]``: the median of each round's block (the
    rounds of all functions are aligned, so ratios can be taken round by round).
    """

    calls: dict[str, np.ndarray]
    rounds: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> float:
        """Median seconds per call of ``name`` (over all timed calls)."""
        return float(np.median(self.calls[name]))

    def ratio(self, numerator: str, denominator: str) -> float:
        """Paired ratio time(numerator) / time(denominator): median over rounds of the ratio of
        the two functions' block medians in the same round (load that changes slowly cancels)."""
        return float(np.median(self.rounds[numerator] / self.rounds[denominator]))

    def ratio_quartiles(self, numerator: str, denominator: str) -> tuple[float, float]:
        """Lower and upper quartile over rounds of the paired ratio (its spread under load)."""
        r = self.rounds[numerator] / self.rounds[denominator]
        return float(np.quantile(r, 0.25)), float(np.quantile(r, 0.75))


def measure(funcs: dict[str, Callable[..., Any]], inputs: Sequence[Any] | None = None, *,
            rounds: int = 3, block_s: float = 0.02, max_calls: int = 200,
            pause_s: float = 0.003, budget_s: float = 0.0, max_rounds: int = 200) -> Timings:
    """Time functions side by side: ``measure({...})["name"]`` is the median seconds per call.

    Each function runs in blocks: a pause of ``pause_s`` (so that the OpenMP worker threads of a
    previous XGBoost call stop spinning — on a busy machine they would steal the CPU from the
    next measurement), one discarded warm-up call, then as many timed calls back to back as fit
    in ``block_s`` (1 … ``max_calls``; a call longer than ``block_s`` is itself the sample).
    Every function is called once before. The blocks of all functions alternate for ``rounds``
    rounds — or more, up to ``max_rounds``, until ``budget_s`` seconds are spent — so slow
    drifts of the machine's load hit every function alike (see :meth:`Timings.ratio`); the order
    of the functions is reversed every other round.

    Parameters
    ----------
    funcs : dict of str to callable
        The functions to time, by name.
    inputs : sequence, optional
        If given, every function is called with one argument, the inputs taken in turn (e.g.
        different batches of rows, so that a branch predictor cannot learn one row by heart);
        else without arguments.
    rounds : int, optional
        Fewest rounds.
    block_s : float, optional
        Seconds of timed calls per block.
    max_calls : int, optional
        Most timed calls per block.
    pause_s : float, optional
        Seconds of sleep before each block.
    budget_s : float, optional
        Keep adding rounds until this many seconds are spent (at most ``max_rounds``).
    max_rounds : int, optional
        Most rounds while ``budget_s`` lasts.

    Returns
    -------
    Timings
        Every timed call and every round's block median, per function.

    Raises
    ------
    ValueError
        If ``inputs`` is empty.
    """
    items = list(inputs) if inputs is not None else [None]
    if not items:
        raise ValueError("inputs must not be empty")

    def call(f: Callable[..., Any], k: int) -> float:
        t0 = time.perf_counter()
        if inputs is None:
            f()
        else:
            f(items[k % len(items)])
        return time.perf_counter() - t0

    calls: dict[str, list[float]] = {k: [] for k in funcs}
    per_round: dict[str, list[float]] = {k: [] for k in funcs}
    for f in funcs.values():  # first calls (lazy initialisation) are not timed
        call(f, 0)
    k = 0
    t_start = time.perf_counter()
    done = 0
    while done < max(1, int(rounds)) or (time.perf_counter() - t_start < budget_s
                                         and done < max_rounds):
        done += 1
        start = k
        # alternate the order every round, so that no function always runs right after another
        order = list(funcs.items()) if done % 2 else list(funcs.items())[::-1]
        for name, f in order:
            k = start  # every function sees the same inputs in a round
            time.sleep(pause_s)
            warm = call(f, k)
            k += 1
            if warm >= block_s:  # a long call: the pause was enough, keep it as the sample
                block = [warm]
            else:
                n_calls = int(min(max_calls, max(1, block_s / max(warm, 1e-7))))
                block = []
                for _ in range(n_calls):
                    block.append(call(f, k))
                    k += 1
            calls[name] += block
            per_round[name].append(float(np.median(block)))
    return Timings({k: np.array(v) for k, v in calls.items()},
                   {k: np.array(v) for k, v in per_round.items()})


def distinct_batches(x: np.ndarray, n: int, most: int = 100_000) -> list[np.ndarray]:
    """Up to ``most`` different C-contiguous batches of ``n`` rows of ``x`` (views; tiled if
    ``x`` is short). Many distinct batches matter: cycling through a few (say 32 single rows)
    lets the branch predictor learn them and flatters the compiled code."""
    if len(x) >= 2 * n:
        return [np.ascontiguousarray(x[i * n:(i + 1) * n]) for i in range(min(most, len(x) // n))]
    return [np.ascontiguousarray(np.tile(x, (-(-n // len(x)), 1))[:n])]
