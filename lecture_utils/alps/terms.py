"""ALPaca's χ² term by term: the prediction, the data and the contribution of every measurement.

:func:`~lecture_utils.alps.likelihood.chi2` returns one number per point. This module rebuilds it
from ALPaca's public building blocks (``total_decay_width``, each measurement's
``decay_probability``, ``branching_ratio`` and friends, ``get_central`` / ``get_sigma_left`` /
``get_sigma_right``, ``get_th_value`` / ``get_th_uncert``), following
``alpaca.statistics.chisquared.chi2_obs`` operation by operation, so that every term's prediction
is available and the terms sum to :func:`~lecture_utils.alps.likelihood.chi2`.

Each *term* is one (observable, experiment) pair of the sector
:data:`~lecture_utils.alps.wrapper.SECTOR` (:func:`fit_terms`). Its χ² is

* a **measurement** (two-sided): ``(central − value)² / (σ² + σ_th²)`` with ``σ = σ_R`` when the
  prediction ``value`` lies above the central value and ``σ_L`` otherwise (a bifurcated Gaussian
  in the observable);
* a **limit** (one-sided): ``(central − value)² / σ_R²`` above the limit ``central``, zero below
  (a half-Gaussian wall; one degree of freedom only while violated).

``value = P · BR + SM``: ALPaca's prediction ``BR`` (a branching ratio, a width or a mixing
observable), times the probability ``P`` that the ALP decays where the measurement needs it (1 for
observables without an on-shell ALP), plus ALPaca's Standard-Model value. A term whose central
value is not defined at m_a (NaN) does not enter the fit.

:func:`kstar_columns_swapped` checks a known input quirk of ALPaca: its BaBar B⁺ → K*⁺ + invisible
file stores the upper edge of the interval where the reader expects the lower one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .running import tabulated_couplings
from .space import MA_GEV, validate_points
from .wrapper import SECTOR, Integrator, check_integrator, load_alpaca, quiet, run_alpaca

TERM_COLUMNS: tuple[str, ...] = ("observable", "experiment", "kind", "decay_type", "conf_level")
"""Columns of :attr:`TermPredictions.terms`."""

KSTAR_INVISIBLE: tuple[str, str] = ("B+ -> K*+ alp", "BaBar")
"""(ALPaca transition, experiment) of the BaBar B⁺ → K*⁺ + invisible measurement."""

_CM_PER_M: float = 100.0


@dataclass(frozen=True)
class Term:
    """One measurement of the sector.

    Parameters
    ----------
    observable : str
        ALPaca's name of the observable (``str`` of its transition).
    experiment : str
        The experiment, as ALPaca names it.
    transition : Any
        ALPaca's transition object (a string, or a tuple for cross sections).
    measurement : Any
        ALPaca's measurement object.
    """

    observable: str
    experiment: str
    transition: Any
    measurement: Any

    @property
    def kind(self) -> str:
        """``"measurement"`` (two-sided) or ``"limit"`` (one-sided)."""
        return "measurement" if self.measurement.conf_level is None else "limit"


@functools.cache
def fit_terms() -> tuple[Term, ...]:
    """Every (observable, experiment) pair of ALPaca's sector, in a fixed order.

    Returns
    -------
    tuple of Term
        Sorted by ``repr`` of the transition, then by experiment; the terms whose central value
        is undefined at m_a are included (they count zero, as in ALPaca).
    """
    alpaca = load_alpaca()
    from alpaca.experimental_data.measurements_exp import get_measurements

    sector = alpaca.sectors.default_sectors[SECTOR]
    out = []
    with quiet():
        for transition in sorted(sector.observables, key=repr):
            name = transition if isinstance(transition, str) else str(transition)
            for experiment, measurement in get_measurements(
                    transition, exclude_projections=True).items():
                out.append(Term(name, experiment, transition, measurement))
    return tuple(out)


@dataclass(frozen=True)
class TermPredictions:
    """Every term of ALPaca's χ² at ``n`` points (``m`` terms: :func:`fit_terms`).

    Attributes
    ----------
    points : numpy.ndarray, shape (n, 6)
        The points, :data:`~lecture_utils.alps.space.PARAMETERS` order, f_a in GeV.
    terms : pandas.DataFrame
        One row per term, columns :data:`TERM_COLUMNS` (``kind`` is ``"measurement"`` or
        ``"limit"``; ``conf_level`` NaN for measurements).
    prediction : numpy.ndarray, shape (n, m)
        ``P · BR + SM`` in the units of the observable (NaN where ALPaca has none).
    branching_ratio : numpy.ndarray, shape (n, m)
        ALPaca's ALP prediction ``BR`` before the decay probability.
    probability : numpy.ndarray, shape (n, m)
        Probability ``P`` that the ALP decays where the measurement needs it (1 for ``flat``).
    central, sigma_left, sigma_right : numpy.ndarray, shape (n, m)
        The measurement's central value (or limit) and its uncertainties as ALPaca reads them
        (they depend on the point only for displaced-vertex limits, through cτ).
    sm_prediction, theory_sigma : numpy.ndarray, shape (m,)
        ALPaca's Standard-Model value and theory uncertainty of each term.
    chi2 : numpy.ndarray, shape (n, m)
        Each term's χ² as ALPaca computes it (NaN where undefined; counts zero).
    dof : numpy.ndarray, shape (n, m)
        ALPaca's degrees of freedom (a limit counts 1 only while violated).
    ctau_m : numpy.ndarray, shape (n,)
        The ALP's proper decay length cτ in metres (``inf`` where it does not decay).
    """

    points: np.ndarray
    terms: pd.DataFrame
    prediction: np.ndarray
    branching_ratio: np.ndarray
    probability: np.ndarray
    central: np.ndarray
    sigma_left: np.ndarray
    sigma_right: np.ndarray
    sm_prediction: np.ndarray
    theory_sigma: np.ndarray
    chi2: np.ndarray
    dof: np.ndarray
    ctau_m: np.ndarray

    def total(self) -> np.ndarray:
        """Total χ² per point, shape (n,): NaN terms count zero, summed with ``math.fsum``."""
        terms = np.where(np.isnan(self.chi2), 0.0, self.chi2)
        return np.array([np.inf if np.isinf(row).any() else math.fsum(row) for row in terms])

    def index(self, observable: str, experiment: str) -> int:
        """Column of the term (observable, experiment).

        Raises
        ------
        ValueError
            If there is no such term.
        """
        hit = np.flatnonzero((self.terms["observable"] == observable).to_numpy()
                             & (self.terms["experiment"] == experiment).to_numpy())
        if hit.size != 1:
            raise ValueError(f"no term ({observable!r}, {experiment!r}) in sector {SECTOR!r}")
        return int(hit[0])


def _alp_prediction(transition: Any, ma: np.ndarray, low: np.ndarray, fa: np.ndarray) -> Any:
    """ALPaca's ALP prediction for one transition at arrays of points (``chi2_obs``'s branch)."""
    from alpaca.statistics import chisquared as cs

    br_dark = np.zeros_like(fa)
    if transition in cs.mixing_observables:
        return cs.meson_mixing(transition, ma, low, fa)
    if cs.particle_aliases.get(transition, "") in cs.meson_widths:
        return cs.decay_width(transition, ma, low, fa, br_dark)
    if isinstance(transition, str):
        return cs.branching_ratio(transition, ma, low, fa, br_dark)
    return cs.cross_section(transition[0], ma, low, transition[1], fa, br_dark)


def term_predictions(points: Any, integrator: Integrator = "tabulated", *,
                     allow_extrapolation: bool = False) -> TermPredictions:
    """Every term of ALPaca's χ² with its prediction, at each point.

    Parameters
    ----------
    points : array_like, shape (n, 6) or (6,)
        Parameters in :data:`~lecture_utils.alps.space.PARAMETERS` order; f_a in GeV.
    integrator : {"exact", "leadinglog", "tabulated"}, optional
        The running from 4π f_a to m_a, as in :func:`~lecture_utils.alps.likelihood.chi2`.
    allow_extrapolation : bool, optional
        Evaluate points outside :data:`~lecture_utils.alps.space.DOMAIN` instead of raising.

    Returns
    -------
    TermPredictions
        Arrays of shape (n, m) over the ``m`` terms of :func:`fit_terms`;
        :meth:`TermPredictions.total` equals :func:`~lecture_utils.alps.likelihood.chi2` at the
        same points with the same integrator.

    Raises
    ------
    ValueError
        For an unknown ``integrator`` or invalid points
        (:func:`~lecture_utils.alps.space.validate_points`).
    """
    check_integrator(integrator)
    arr = validate_points(points, allow_extrapolation=allow_extrapolation)
    load_alpaca()
    from alpaca.statistics import chisquared as cs

    n = len(arr)
    if integrator == "tabulated":
        low_list = tabulated_couplings(arr)
    else:
        low_list = [run_alpaca(p, integrator) for p in arr]
    low = np.empty(n, dtype=object)
    low[:] = low_list
    fa = arr[:, 0].copy()
    ma = np.full(n, MA_GEV)
    terms = fit_terms()
    m = len(terms)
    shape = (n, m)
    pred, br_all, prob_all = np.full(shape, np.nan), np.full(shape, np.nan), np.ones(shape)
    central, s_left, s_right = (np.full(shape, np.nan) for _ in range(3))
    chi2, dof = np.full(shape, np.nan), np.zeros(shape, dtype=int)
    sm_pred, sm_unc = np.zeros(m), np.zeros(m)
    with quiet():
        dw = np.array([cs.total_decay_width(MA_GEV, c, f, 0.0)["DW_SM"] for c, f in zip(
            low, fa, strict=True)], dtype=float)
        ctau = 1e-7 * cs.hbarc_GeVnm / dw
        for j, term in enumerate(terms):
            meas = term.measurement
            sm_pred[j] = float(cs.get_th_value(term.transition))
            sm_unc[j] = float(cs.get_th_uncert(term.transition))
            if meas.decay_type == "flat":
                prob: Any = 1.0
                ctau_j = None
            else:
                ctau_j = ctau
                prob = meas.decay_probability(ctau, ma, theta=None, br_dark=np.zeros(n))
            br = _alp_prediction(term.transition, ma, low, fa)
            sl = meas.get_sigma_left(ma, ctau_j)
            sr = meas.get_sigma_right(ma, ctau_j)
            c = meas.get_central(ma, ctau_j)
            value = prob * br + sm_pred[j]
            with np.errstate(divide="ignore", invalid="ignore"):
                if meas.conf_level is None:
                    sigma = np.where(value > c, sr, sl)
                    x2 = (c - value) ** 2 / (sigma**2 + sm_unc[j] ** 2)
                    d = np.where(np.isnan(c), 0, 1)
                else:
                    x2 = np.where(value > c, (c - value) ** 2 / sr**2, 0)
                    d = np.where(np.isnan(c), 0, np.where(value > c, 1, 0))
            pred[:, j] = np.real(np.broadcast_to(value, (n,)))
            br_all[:, j] = np.real(np.broadcast_to(br, (n,)))
            prob_all[:, j] = np.broadcast_to(np.real(prob), (n,))
            central[:, j] = np.broadcast_to(np.real(c), (n,))
            s_left[:, j] = np.broadcast_to(np.real(sl), (n,))
            s_right[:, j] = np.broadcast_to(np.real(sr), (n,))
            chi2[:, j] = np.real(np.broadcast_to(x2, (n,)))
            dof[:, j] = np.broadcast_to(d, (n,))
    table = pd.DataFrame(
        [{"observable": t.observable, "experiment": t.experiment, "kind": t.kind,
          "decay_type": t.measurement.decay_type,
          "conf_level": np.nan if t.measurement.conf_level is None
          else float(t.measurement.conf_level)} for t in terms],
        columns=list(TERM_COLUMNS))
    return TermPredictions(arr, table, pred, br_all, prob_all, central, s_left, s_right,
                           sm_pred, sm_unc, chi2, dof, np.asarray(ctau) / _CM_PER_M)


def escape_probability(observable: str, experiment: str, ctau_m: Any) -> np.ndarray:
    """ALPaca's probability that the ALP of one measurement decays where it must, against cτ.

    Parameters
    ----------
    observable, experiment : str
        The term (:func:`fit_terms`).
    ctau_m : array_like, shape (k,)
        Proper decay lengths cτ in metres (``inf`` allowed: an ALP that never decays).

    Returns
    -------
    numpy.ndarray, shape (k,)
        The measurement's ``decay_probability`` at m_a (dimensionless; 1 for ``flat`` terms).

    Raises
    ------
    ValueError
        For an unknown term or a cτ ≤ 0 or NaN.
    """
    ctau = np.atleast_1d(np.asarray(ctau_m, dtype=float))
    if np.isnan(ctau).any() or (ctau <= 0).any():
        raise ValueError("ctau_m must be > 0 (metres; inf allowed)")
    term = _term(observable, experiment)
    if term.measurement.decay_type == "flat":
        return np.ones_like(ctau)
    with quiet():
        prob = term.measurement.decay_probability(
            ctau * _CM_PER_M, np.full(ctau.shape, MA_GEV), theta=None,
            br_dark=np.zeros(ctau.shape))
    return np.broadcast_to(np.asarray(prob, dtype=float), ctau.shape).copy()


def _term(observable: str, experiment: str) -> Term:
    for term in fit_terms():
        if term.observable == observable and term.experiment == experiment:
            return term
    raise ValueError(f"no term ({observable!r}, {experiment!r}) in sector {SECTOR!r}")


def term_data(observable: str, experiment: str) -> dict[str, float]:
    """A term's data at m_a, independent of the point (not for displaced-vertex limits).

    Parameters
    ----------
    observable, experiment : str
        The term (:func:`fit_terms`).

    Returns
    -------
    dict of str to float
        ``central``, ``sigma_left``, ``sigma_right`` (as ALPaca reads them, signs included),
        ``sm_prediction``, ``theory_sigma`` (units of the observable).

    Raises
    ------
    ValueError
        For an unknown term.
    """
    load_alpaca()
    from alpaca.statistics import chisquared as cs

    term = _term(observable, experiment)
    ma = np.atleast_1d(MA_GEV)
    meas = term.measurement
    with quiet():
        return {"central": float(np.asarray(meas.get_central(ma, None)).reshape(-1)[0]),
                "sigma_left": float(np.asarray(meas.get_sigma_left(ma, None)).reshape(-1)[0]),
                "sigma_right": float(np.asarray(meas.get_sigma_right(ma, None)).reshape(-1)[0]),
                "sm_prediction": float(cs.get_th_value(term.transition)),
                "theory_sigma": float(cs.get_th_uncert(term.transition))}


def kstar_columns_swapped() -> bool:
    """Whether ALPaca reads its BaBar B⁺ → K*⁺ + invisible file with swapped columns.

    The file ``experimental_data/invisible/Babar_BKstarinv.txt`` stores (m_a, central, upper
    edge, 0) where ALPaca's reader expects (m_a, central, lower edge, upper edge), so that
    ``get_sigma_left`` = central − upper edge and ``get_sigma_right`` = −central are negative.
    The χ² squares them, so the error bars are mirrored: the large upper uncertainty is used
    below the central value and vice versa.

    Returns
    -------
    bool
        True if both uncertainties ALPaca reads at m_a are negative (the quirk is present).
    """
    d = term_data(*KSTAR_INVISIBLE)
    return d["sigma_left"] < 0 and d["sigma_right"] < 0
