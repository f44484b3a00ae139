"""Pseudo-experiments under the null and the calibrated significance."""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import alps, stats
from .._cache import building, cache_dir, code_fingerprint, content_hash
from .library import PredictionLibrary, library_path, prediction_library
from .model import (
    CTAU_SATURATED_M,
    REDUCED_TERMS,
    ReducedModel,
    check_count,
    check_lifetime,
    check_treatment,
)

_ZERO_EDGE: dict[tuple[str, str], int] = {
    ("B+ -> K+ alp", "Belle II"): 0, ("B+ -> K+ alp", "BaBar"): 1, ("B+ -> K*+ alp", "BaBar"): 1}
"""Which uncertainty of each reduced term equals its central value in the data file (1: the
lower one, the file's lower edge being zero at every mass; 0: none)."""

_FINE_SIZE: int = 13001


def branching_ratio_ratios(library: PredictionLibrary) -> tuple[np.ndarray, np.ndarray]:
    """Median ratio of each reduced term's branching ratio to the first one's over the library
    points with a signal, and the largest relative deviation from it."""
    br = library.arrays["branching_ratio"]
    cols = [library.index(*name) for name in REDUCED_TERMS]
    base = br[:, cols[0]]
    ok = np.isfinite(base) & (base > 0)
    ratio = br[ok][:, cols] / base[ok, None]
    med = np.median(ratio, axis=0)
    return med, np.max(np.abs(ratio / med - 1.0), axis=0)


def reduced_model(treatment: str = "as-is", library: PredictionLibrary | None = None
                  ) -> ReducedModel:
    """The reduced model of :data:`REDUCED_TERMS` with ALPaca's data at m_a.

    Parameters
    ----------
    treatment : {"as-is", "corrected", "gaussian"}
        How the likelihood reads the data (module doc).
    library : PredictionLibrary, optional
        Where the ratios ``r_j`` and ``B_max`` come from (default: the shipped library).

    Returns
    -------
    ReducedModel

    Raises
    ------
    ValueError
        For an unknown ``treatment``.
    """
    check_treatment(treatment)
    lib = library if library is not None else prediction_library()
    ratio, _ = branching_ratio_ratios(lib)
    data = [alps.term_data(*name) for name in REDUCED_TERMS]
    central = np.array([d["central"] for d in data])
    read_l = np.array([d["sigma_left"] for d in data])
    read_r = np.array([d["sigma_right"] for d in data])
    swapped = (read_l < 0) & (read_r < 0)
    zero_edge = np.array([_ZERO_EDGE[name] for name in REDUCED_TERMS], dtype=int)
    if treatment == "as-is":
        sl, sr = np.abs(read_l), np.abs(read_r)
        zero_edge = np.where(swapped & (zero_edge == 1), 2, zero_edge)
    else:
        # the file holds (m, central, upper edge, 0): lower uncertainty = central − 0
        sl = np.where(swapped, np.abs(read_r), read_l)
        sr = np.where(swapped, np.abs(read_l), read_r)
    if treatment == "gaussian":
        sl = sr = 0.5 * (sl + sr)
    log10_ctau = np.linspace(-8.0, math.log10(CTAU_SATURATED_M) + 1.0, _FINE_SIZE)
    prob = np.stack([alps.escape_probability(*name, 10.0**log10_ctau)
                     for name in REDUCED_TERMS], axis=1)
    prob_inf = np.array([alps.escape_probability(*name, [np.inf])[0]
                         for name in REDUCED_TERMS])
    return ReducedModel(
        names=REDUCED_TERMS, ratio=ratio,
        sm=np.array([d["sm_prediction"] for d in data]),
        theory_sigma=np.array([d["theory_sigma"] for d in data]),
        central=central, sigma_left=sl, sigma_right=sr,
        zero_edge=zero_edge if treatment != "gaussian" else np.zeros_like(zero_edge),
        truncate=treatment != "gaussian", log10_ctau=log10_ctau, probability=prob,
        probability_inf=prob_inf, br_max=float(lib.provenance["br_max"]))


# --------------------------------------------------------------------------------------------
# the calibrated significance
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibratedSignificance:
    """Result of :func:`calibrated_significance`.

    Attributes
    ----------
    q_obs : float
        q = χ²(B = 0) − min χ² of the observed data (dimensionless).
    z_local : float
        √q_obs: the one-sided Gaussian significance if q followed ½χ²₀ + ½χ²₁ (one parameter
        on a boundary).
    p_value : float
        Fraction of pseudo-experiments with q ≥ q_obs.
    p_error : float
        Binomial standard error of ``p_value`` (1/n_toys where no toy reaches q_obs; ``p_value``
        is then an upper bound, 1/n_toys).
    z_global : float
        One-sided Gaussian significance of ``p_value``: Φ⁻¹(1 − p).
    q_toys : numpy.ndarray, shape (n_toys,)
        The pseudo-experiments' q.
    br_toys, ctau_toys_m : numpy.ndarray, shape (n_toys,)
        Where each toy's minimum lies: BR(B⁺ → K⁺ a) and cτ in metres (``inf``: stable).
    br_obs, ctau_obs_m : float
        The same for the observed data.
    chi2_null_obs, chi2_min_obs : float
        The reduced χ² of the data at ``B = 0`` and at its minimum.
    n_toys, seed : int
        As requested.
    treatment : str
        As requested.
    lifetime_min_m : float
        Smallest cτ in metres the fit may use.
    """

    q_obs: float
    z_local: float
    p_value: float
    p_error: float
    z_global: float
    q_toys: np.ndarray = field(repr=False)
    br_toys: np.ndarray = field(repr=False)
    ctau_toys_m: np.ndarray = field(repr=False)
    br_obs: float
    ctau_obs_m: float
    chi2_null_obs: float
    chi2_min_obs: float
    n_toys: int
    seed: int
    treatment: str
    lifetime_min_m: float

    def summary(self) -> str:
        """A few lines of text: q_obs, local and calibrated significance, the best fit."""
        bound = "< " if self.n_exceeding == 0 else ""
        return (
            f"treatment {self.treatment!r}, cτ ≥ {self.lifetime_min_m:g} m, "
            f"{self.n_toys} pseudo-experiments (seed {self.seed})\n"
            f"q_obs = {self.q_obs:.3f}  (χ²_null − χ²_min = {self.chi2_null_obs:.3f} − "
            f"{self.chi2_min_obs:.3f})\n"
            f"local  Z = √q_obs = {self.z_local:.2f}\n"
            f"p = {bound}{self.p_value:.3g} ± {self.p_error:.2g}  →  calibrated Z = "
            f"{'> ' if bound else ''}{self.z_global:.2f}\n"
            f"best fit: BR(B⁺→K⁺a) = {self.br_obs:.3g}, cτ = {self.ctau_obs_m:.3g} m")

    @property
    def n_exceeding(self) -> int:
        """Number of pseudo-experiments with q ≥ q_obs."""
        return int(np.sum(self.q_toys >= self.q_obs))


def toy_q(model: ReducedModel, n_toys: int, seed: Any, lifetime_min_m: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test statistic of pseudo-experiments under the null.

    Parameters
    ----------
    model : ReducedModel
        The likelihood and how pseudo-data are drawn and represented.
    n_toys : int
        Number of pseudo-experiments (≥ 1).
    seed : int or numpy.random.Generator
        Seed of the draws.
    lifetime_min_m : float
        Smallest cτ in metres (> 0, ``inf`` allowed).

    Returns
    -------
    q, br, ctau_m : numpy.ndarray, each shape (n_toys,)
        q = χ²(B = 0) − min χ² (≥ 0) and where the minimum lies.
    """
    lo = check_lifetime(lifetime_min_m)
    x, _ = model.pseudo_data(n_toys, seed)
    return toy_q_from_data(model, model.represent(x), lo)


def calibrated_significance(n_toys: int = 100_000, seed: int = 0, treatment: str = "as-is",
                            lifetime_min_m: float = 0.01) -> CalibratedSignificance:
    """Significance of the ALP explanation, calibrated by pseudo-experiments under the null.

    The test statistic q = χ²(no ALP) − min χ² is computed in the reduced model (module doc) for
    the observed data and for ``n_toys`` pseudo-experiments drawn under the null; the p-value
    is the fraction of pseudo-experiments with q ≥ q_obs.

    Parameters
    ----------
    n_toys : int
        Number of pseudo-experiments (≥ 1).
    seed : int
        Seed of the pseudo-experiments.
    treatment : {"as-is", "corrected", "gaussian"}
        ALPaca's likelihood as implemented, with the BaBar B⁺ → K*⁺ columns fixed, or plain
        symmetric Gaussians (module doc).
    lifetime_min_m : float
        Smallest ALP decay length cτ (metres) the fit may use, for the data and for every
        pseudo-experiment alike: the fit scans cτ ∈ [lifetime_min_m, ∞]. ``1.0`` restricts it
        to ALPs that travel at least a metre; ``numpy.inf`` to an ALP that never decays in the
        detector (escape probability one, one free parameter left).

    Returns
    -------
    CalibratedSignificance

    Raises
    ------
    ValueError
        For an unknown ``treatment``, ``n_toys`` < 1 or ``lifetime_min_m`` ≤ 0 or NaN.
    """
    check_treatment(treatment)
    n = check_count(n_toys, "n_toys")
    lo = check_lifetime(lifetime_min_m)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    model = _cached_model(treatment)
    obs = model.observed()
    chi2_min, br, ctau = model.minimise(obs, lo)
    chi2_null = float(model.null_chi2(obs)[0])
    q_obs = max(chi2_null - float(chi2_min[0]), 0.0)
    q, br_t, ctau_t = _cached_toys(model, n, int(seed), treatment, lo)
    k = int(np.sum(q >= q_obs))
    p = k / n if k else 1.0 / n
    p_err = math.sqrt(p * (1.0 - p) / n) if k else 1.0 / n
    return CalibratedSignificance(
        q_obs=q_obs, z_local=math.sqrt(q_obs), p_value=p, p_error=p_err,
        z_global=float(stats.pvalue_to_nsigma(min(p, 1.0 - 1e-16), two_sided=False)),
        q_toys=q, br_toys=br_t, ctau_toys_m=ctau_t, br_obs=float(br[0]),
        ctau_obs_m=float(ctau[0]), chi2_null_obs=chi2_null, chi2_min_obs=float(chi2_min[0]),
        n_toys=n, seed=int(seed), treatment=treatment, lifetime_min_m=lo)


_MODELS: dict[str, ReducedModel] = {}


def _cached_toys(model: ReducedModel, n: int, seed: int, treatment: str, lo: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`toy_q`, stored in the package cache under a key of everything it depends on."""
    key = content_hash("calibrated-significance", n, seed, treatment, repr(lo),
                       code_fingerprint("lecture_utils.calibration", "lecture_utils.alps"),
                       alps.alpaca_version(), library_path().read_bytes())[:24]
    path = cache_dir("significance") / f"toys-{key}.npz"
    with building(path):  # one process computes, the others wait and read its toys
        if path.exists():
            try:
                with np.load(path) as f:
                    return f["q"], f["br"], f["ctau"]
            except (OSError, ValueError, KeyError):
                pass  # unreadable: compute again
        q, br, ctau = toy_q(model, n, seed, lo)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.npz")
        np.savez(tmp, q=q, br=br, ctau=ctau)
        os.replace(tmp, path)
    return q, br, ctau


def _cached_model(treatment: str) -> ReducedModel:
    if treatment not in _MODELS:
        _MODELS[treatment] = reduced_model(treatment)
    return _MODELS[treatment]


def toy_q_from_data(model: ReducedModel, data: tuple[np.ndarray, ...], lifetime_min_m: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q = χ²(B = 0) − min χ² for given (pseudo-)data (central, σ_L, σ_R), each shape (n, k).

    Returns
    -------
    q, br, ctau_m : numpy.ndarray, each shape (n,)
    """
    chi2_min, br, ctau = model.minimise(data, lifetime_min_m)
    return np.maximum(model.null_chi2(data) - chi2_min, 0.0), br, ctau


OTHER_MEASUREMENTS_BOUND: float = 1.0e-5
"""Bound on the change of the χ² contribution of every two-sided measurement outside
:data:`~lecture_utils.calibration.REDUCED_TERMS` across the library's fit-region points,
relative to the SM-like point (dimensionless; checked by the tests on the shipped library)."""


def reduction_check(library: PredictionLibrary | None = None,
                    model: ReducedModel | None = None) -> pd.DataFrame:
    """How each term of the library moves in the fit region, and how well the reduction holds.

    Parameters
    ----------
    library : PredictionLibrary, optional
        Default: the shipped library.
    model : ReducedModel, optional
        Default: :func:`reduced_model` ("as-is") of that library.

    Returns
    -------
    pandas.DataFrame
        One row per term of the library (its ``observable``, ``experiment``, ``kind``,
        ``decay_type``), with

        ``reduced``
            whether the term is one of the reduced model's;
        ``max_chi2_shift``
            largest |χ² − χ²(SM-like point)| over the region points;
        ``max_shift_sigma``
            largest |prediction − prediction at the SM-like point| / σ over the region points
            (σ: the measurement's uncertainty on that side with the theory uncertainty, or a
            limit's σ_R);
        ``max_rel_error``
            for the reduced terms, the largest relative difference between the reduced model's
            ALP prediction r_j P_j(cτ) B and ALPaca's over all library points with B > 0 (NaN for
            the others).
    """
    lib = library if library is not None else prediction_library()
    mod = model if model is not None else reduced_model("as-is", library=lib)
    arr = lib.arrays
    region = lib.origin == "region"
    sm_row = int(np.flatnonzero(lib.origin == "sm")[0])
    chi2 = np.nan_to_num(arr["chi2"])
    pred = arr["prediction"]
    with np.errstate(all="ignore"):
        shift = pred[region] - pred[sm_row]
        side = np.where(shift > 0, arr["sigma_right"][region], arr["sigma_left"][region])
        sigma = np.where(lib.terms["kind"].to_numpy() == "limit",
                         np.abs(arr["sigma_right"][region]),
                         np.hypot(side, arr["theory_sigma"]))
        ratio = np.where(shift == 0, 0.0, np.abs(shift) / sigma)
        shift_sigma = np.max(np.where(np.isnan(ratio), -np.inf, ratio), axis=0)
        shift_sigma = np.where(np.isinf(shift_sigma), np.nan, shift_sigma)
    cols = [lib.index(*name) for name in mod.names]
    base = arr["branching_ratio"][:, cols[0]]
    ok = np.isfinite(base) & (base > 0)
    reduced_alp = mod.predictions(base[ok], arr["ctau_m"][ok]) - mod.sm
    exact_alp = pred[ok][:, cols] - mod.sm
    rel = np.max(np.abs(reduced_alp / exact_alp - 1.0), axis=0)
    out = lib.terms[["observable", "experiment", "kind", "decay_type"]].copy()
    out["reduced"] = False
    out.loc[cols, "reduced"] = True
    out["max_chi2_shift"] = np.max(np.abs(chi2[region] - chi2[sm_row]), axis=0)
    out["max_shift_sigma"] = shift_sigma
    out["max_rel_error"] = np.nan
    out.loc[cols, "max_rel_error"] = rel
    return out
