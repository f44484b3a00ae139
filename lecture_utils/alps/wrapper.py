"""Access to ALPaca: lazy import, deterministic random draws, integrators, the couplings at 4π f_a.

Determinism convention
----------------------
ALPaca estimates several theory uncertainties with flavio by drawing random numbers from numpy's
*global* generator the first time each observable is used in a process, and caches the result. Left
alone, the same point gives χ² values that differ between processes. Before the first evaluation
in every process, :func:`load_alpaca` clears that cache and primes it observable by observable,
each draw seeded with :data:`THEORY_UNCERTAINTY_SEED` (so neither call order nor hash seed
matters), restoring the caller's global RNG state afterwards. χ² is then a pure function of the
point; :func:`convention` describes this for provenance records.

A second source of randomness: ALP three-body decay widths (a → 3π, …, which enter the ALP lifetime
and hence the probability that it escapes the detector) are VEGAS Monte-Carlo integrals drawing
from gvar's generator, seeded once at import. Each result would then depend on how many integrals
ran before it. ALPaca's two three-body integrators are wrapped so that gvar's generator is
reseeded with :data:`VEGAS_SEED` before every integral (and restored after): each width becomes a
deterministic — and smooth — function of its inputs (common random numbers). The physics is
unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from .space import MA_GEV

SECTOR: str = "all"
"""ALPaca sector whose total χ² is fitted."""

THEORY_UNCERTAINTY_SEED: int = 20260425
"""Seed of numpy's global RNG for each observable's theory-uncertainty draw (see module doc)."""

VEGAS_SEED: int = 12345
"""Seed of gvar's generator before *each* VEGAS three-body integral (ALPaca's default seed)."""

Integrator = Literal["exact", "leadinglog", "tabulated"]
"""The running from 4π f_a to m_a: ALPaca's numerical evolution, its leading-log approximation,
or the numerical evolution tabulated in f_a."""

_ALPACA_INTEGRATOR: dict[str, str] = {"exact": "scipy", "leadinglog": "leadinglog",
                                      "tabulated": "scipy"}
"""ALPaca's ``match_run`` integrator behind each of ours (``tabulated`` runs ALPaca's ``scipy``
evolution once per unit coupling on a grid of f_a:
:func:`lecture_utils.alps.exact_running_table`)."""

INTEGRATORS: tuple[str, ...] = tuple(_ALPACA_INTEGRATOR)
"""The accepted values of :data:`Integrator`."""


def check_integrator(integrator: str) -> str:
    """Check an integrator name.

    Parameters
    ----------
    integrator : str
        One of :data:`INTEGRATORS`.

    Returns
    -------
    str
        ALPaca's ``match_run`` integrator behind it (``"scipy"`` or ``"leadinglog"``).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if integrator not in _ALPACA_INTEGRATOR:
        raise ValueError(f"unknown integrator {integrator!r}; choose one of {INTEGRATORS}")
    return _ALPACA_INTEGRATOR[integrator]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence ALPaca/flavio's warnings and prints during a call (they are not actionable here)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            yield


def _reseeded(fn: Any) -> Any:
    """Wrap a VEGAS integration so that it always starts from identically seeded gvar RNG."""
    import gvar

    if getattr(fn, "_lecture_utils_reseeded", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        saved = gvar.RNG
        gvar.ranseed(VEGAS_SEED)
        try:
            return fn(*args, **kwargs)
        finally:
            gvar.RNG = saved

    wrapper._lecture_utils_reseeded = True  # type: ignore[attr-defined]
    return wrapper


@functools.cache
def load_alpaca() -> Any:
    """Import ALPaca once (lazily: the import is slow) and make its random draws deterministic
    (see module doc). Returns the ``alpaca`` module."""
    with quiet():
        import alpaca
        import alpaca.statistics  # noqa: F401
        from alpaca.decays.alp_decays import threebody_decay
        from alpaca.experimental_data import theoretical_predictions as tp
        from alpaca.sectors import default_sectors

        for name in ("decay3body", "decay3body_spheric"):
            setattr(threebody_decay, name, _reseeded(getattr(threebody_decay, name)))

        sector = default_sectors[SECTOR]
        state = np.random.get_state()
        try:
            tp.get_th_uncert.cache_clear()
            for obs in sorted(sector.observables, key=repr):
                np.random.seed(THEORY_UNCERTAINTY_SEED)
                tp.get_th_uncert(obs)
        finally:
            np.random.set_state(state)
    return alpaca


def alpaca_version() -> str:
    """Installed version of ALPaca (``alpaca-ALPs``)."""
    from importlib.metadata import version

    return version("alpaca-ALPs")


def convention() -> dict[str, Any]:
    """Description of how χ² is computed, for provenance records."""
    return {
        "alpaca_version": alpaca_version(),
        "sector": SECTOR,
        "ma_gev": MA_GEV,
        "basis_in": "derivative_above at scale 4*pi*fa",
        "basis_out": "VA_below at ma",
        "theory_uncertainty": (
            "alpaca get_th_uncert cache cleared, then primed per observable of the sector "
            "(sorted by "
            f"repr) with numpy.random.seed({THEORY_UNCERTAINTY_SEED}) before each draw"),
        "vegas": f"gvar.ranseed({VEGAS_SEED}) before every three-body VEGAS integral",
        "integrators": dict(_ALPACA_INTEGRATOR),
    }


def couplings_high(point: np.ndarray) -> Any:
    """ALPaca ``ALPcouplings`` at Λ = 4π f_a for one point of shape (6,)."""
    alpaca = load_alpaca()
    fa, cq, cu, cd, cl, ce = (float(v) for v in point)
    with quiet():
        return alpaca.ALPcouplings(
            {"cqL": np.diag([0.0, 0.0, cq]), "cuR": cu, "cdR": cd,
             "clL": np.diag([0.0, 0.0, cl]), "ceR": ce},
            scale=4.0 * np.pi * fa, basis="derivative_above")


def run_alpaca(point: np.ndarray, integrator: Integrator = "exact") -> Any:
    """ALPaca's own running of one point (6,) from 4π f_a to m_a.

    Parameters
    ----------
    point : numpy.ndarray, shape (6,)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order, f_a in GeV.
    integrator : "exact" or "leadinglog"
        ALPaca's numerical evolution or its leading-log approximation (``"tabulated"`` is not
        ALPaca's: :func:`lecture_utils.alps.couplings_low` handles it).

    Returns
    -------
    alpaca.ALPcouplings
        The couplings at m_a in the ``VA_below`` basis.
    """
    alp_integrator = check_integrator(integrator)
    high = couplings_high(point)
    with quiet():
        low = high.match_run(MA_GEV, "VA_below", integrator=alp_integrator)
    # ALPaca memoises match_run on the instance; drop it so long runs do not accumulate memory.
    type(high)._match_run.cache_clear()
    return low
