"""Validation of the reduced model: full 6-D multi-start fits of the data and of a few toys."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .. import alps
from .._paths import RESOURCES_DIR
from .library import prediction_library
from .model import ReducedModel, bifurcated_chi2, check_count, check_treatment
from .toys import reduced_model, toy_q_from_data

# --------------------------------------------------------------------------------------------
# validation: full 6-D fits of a few pseudo-experiments
# --------------------------------------------------------------------------------------------
VALIDATION_FILE: str = "significance_validation.json"
"""File name of the shipped 6-D validation fits in the package's resources."""


def full_chi2(points: Any, model: ReducedModel, data: tuple[np.ndarray, ...] | None = None
              ) -> np.ndarray:
    """ALPaca's total χ² with the reduced terms' data replaced by pseudo-data.

    Parameters
    ----------
    points : array_like, shape (n, 6)
        :data:`~lecture_utils.alps.PARAMETERS` order, f_a in GeV.
    model : ReducedModel
        Gives the reduced terms' theory uncertainties.
    data : tuple of numpy.ndarray, each shape (1, k), optional
        Pseudo-data (central, σ_L, σ_R) of the reduced terms; None: ALPaca's own χ².

    Returns
    -------
    numpy.ndarray, shape (n,)
        Every other term as ALPaca computes it plus the reduced terms with ``data`` and ALPaca's
        predictions (integrator ``"tabulated"``).
    """
    tp = alps.term_predictions(points)
    if data is None:
        return tp.total()
    cols = [tp.index(*name) for name in model.names]
    other = np.where(np.isnan(tp.chi2), 0.0, tp.chi2)
    other[:, cols] = 0.0
    return other.sum(axis=1) + bifurcated_chi2(*data, tp.prediction[:, cols], model.theory_sigma)


def _fit_6d(fun: Any, starts: np.ndarray, max_evaluations: int) -> list[dict[str, Any]]:
    """Two-stage Nelder–Mead from each start, every point clipped to the domain.

    Stage 1 moves along three directions that change BR(B⁺ → K⁺ a) and the lifetime: log10 f_a,
    a common log-scale of the couplings other than c_qL33, and a shift of c_eR (which can cancel
    the muon coupling c_qL33 induces). Stage 2 polishes in all six search coordinates
    (log10 f_a, couplings). Each stage gets half of ``max_evaluations``.
    """
    from scipy import optimize

    lo, hi = alps.DOMAIN.unit_bounds.T

    def clip(z: np.ndarray) -> np.ndarray:
        z = np.clip(z, lo, hi)
        return np.concatenate([[10.0 ** z[0]], z[1:]])

    out = []
    for start in starts:
        z0 = np.concatenate([[math.log10(start[0])], start[1:]])

        def family(u: np.ndarray, z0: np.ndarray = z0) -> np.ndarray:
            z = z0.copy()
            z[0] += u[0]
            z[2:] *= 10.0 ** u[1]
            z[5] += u[2]
            return clip(z)

        half = max(max_evaluations // 2, 4)
        first = optimize.minimize(lambda u: float(fun(family(u)[None, :])[0]), np.zeros(3),
                                  method="Nelder-Mead",
                                  options={"maxfev": half, "xatol": 1e-4, "fatol": 1e-4,
                                           "initial_simplex": _simplex(np.zeros(3),
                                                                       [0.1, 0.3, 0.3])})
        p1 = family(first.x)
        z1 = np.concatenate([[math.log10(p1[0])], p1[1:]])
        second = optimize.minimize(lambda z: float(fun(clip(z)[None, :])[0]), z1,
                                   method="Nelder-Mead",
                                   options={"maxfev": half, "xatol": 1e-5, "fatol": 1e-5,
                                            "initial_simplex": _simplex(z1, [0.03] + [0.1] * 5)})
        best = second if second.fun <= first.fun else first
        point = clip(second.x) if best is second else p1
        out.append({"start": start.tolist(), "point": point.tolist(),
                    "chi2": float(best.fun), "chi2_stage1": float(first.fun),
                    "evaluations": int(first.nfev + second.nfev)})
    return out


def _simplex(z0: np.ndarray, steps: list[float]) -> np.ndarray:
    return np.vstack([z0, z0 + np.diag(steps)])


def build_validation(*, n_toys: int = 3, seed: int = 0, treatment: str = "as-is",
                     lifetime_min_m: float = 0.01, n_starts: int = 2,
                     max_evaluations: int = 150, n_candidates: int = 200, path: Any = None,
                     progress: bool = False) -> dict[str, Any]:
    """Full 6-D multi-start fits of the data and of a few pseudo-experiments, saved as JSON.

    ``n_candidates`` pseudo-experiments are drawn (:meth:`ReducedModel.pseudo_data` with
    ``seed``); the ``n_toys`` chosen are those at evenly spaced quantiles of the reduced q among
    those with q > 0, the largest included. For the data and each chosen toy, ALPaca's χ² with the
    toy's data in the reduced terms (:func:`full_chi2`) is minimised by Nelder–Mead from the
    ``n_starts`` library points with the lowest such χ², and q_6D = χ²(SM-like point) − min is
    compared with the reduced q.

    Parameters
    ----------
    n_toys, n_starts, max_evaluations, n_candidates : int
        Pseudo-experiments fitted, starts per fit, χ² evaluations per start, toys drawn.
    seed : int
        Seed of the pseudo-experiments.
    treatment : {"as-is", "corrected", "gaussian"}
        The likelihood (:func:`calibrated_significance`).
    lifetime_min_m : float
        Smallest cτ (metres) of the reduced fit.
    path : path-like, optional
        Output JSON (default: the shipped file).
    progress : bool
        Print one line per fit.

    Returns
    -------
    dict
        The record written (``fits``: one entry per fit; ``summary``: the q values side by
        side).
    """
    import datetime
    from pathlib import Path

    check_treatment(treatment)
    for value, name in ((n_toys, "n_toys"), (n_starts, "n_starts"),
                        (max_evaluations, "max_evaluations"), (n_candidates, "n_candidates")):
        check_count(value, name)
    model = reduced_model(treatment)
    lib = prediction_library()
    x, _ = model.pseudo_data(n_candidates, seed)
    q, _, _ = toy_q_from_data(model, model.represent(x), lifetime_min_m)
    order = np.flatnonzero(q > 0)[np.argsort(q[q > 0])]
    picks = order[np.unique(np.round(np.linspace(0, len(order) - 1, n_toys)).astype(int))]
    cols = [lib.index(*name) for name in model.names]
    lib_other = np.where(np.isnan(lib.arrays["chi2"]), 0.0, lib.arrays["chi2"])
    lib_other[:, cols] = 0.0
    fits = []
    cases: list[tuple[str, tuple[np.ndarray, ...] | None]] = [("data", None)]
    cases += [(f"toy {int(i)}", tuple(d[i:i + 1] for d in model.represent(x)))
              for i in picks]
    for label, data in cases:
        d = data if data is not None else model.observed()
        lib_chi2 = lib_other.sum(axis=1) + bifurcated_chi2(*d, lib.arrays["prediction"][:, cols],
                                                 model.theory_sigma)
        inside = alps.DOMAIN.contains(lib.points)
        starts = lib.points[inside][np.argsort(lib_chi2[inside])[:n_starts]]
        runs = _fit_6d(lambda p, d=data: full_chi2(p, model, d), starts, max_evaluations)
        null = float(full_chi2(alps.SM_LIKE_POINT[None, :], model, data)[0])
        best = min(runs, key=lambda r: r["chi2"])
        red_min, red_b, red_c = model.minimise(d, lifetime_min_m)
        q_red = float(model.null_chi2(d)[0] - red_min[0])
        fits.append({"label": label, "central": d[0][0].tolist(), "sigma_left": d[1][0].tolist(),
                     "sigma_right": d[2][0].tolist(), "chi2_null_6d": null,
                     "chi2_min_6d": best["chi2"], "q_6d": null - best["chi2"],
                     "point_6d": best["point"], "q_reduced": q_red, "br_reduced": float(red_b[0]),
                     "ctau_reduced_m": float(red_c[0]), "runs": runs})
        if progress:
            print(f"{label}: q_6d = {null - best['chi2']:.4f}, q_reduced = {q_red:.4f}",
                  flush=True)
    record = {
        "what": "full 6-D multi-start fits (Nelder-Mead on ALPaca's chi2, integrator "
                "'tabulated') of the data and of pseudo-experiments, against the reduced model",
        "command": f"python -m lecture_utils significance-validation --n-toys {n_toys} "
                   f"--seed {seed} --treatment {treatment} --lifetime-min-m {lifetime_min_m} "
                   f"--n-starts {n_starts} --maxfev {max_evaluations}",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "convention": alps.convention(), "seed": seed, "treatment": treatment,
        "lifetime_min_m": lifetime_min_m, "n_candidates": n_candidates,
        "summary": {f["label"]: {"q_6d": f["q_6d"], "q_reduced": f["q_reduced"]}
                    for f in fits},
        "fits": fits,
    }
    out = Path(path) if path is not None else RESOURCES_DIR / VALIDATION_FILE
    out.write_text(json.dumps(record, indent=1, default=str))
    return record


def validation_record() -> dict[str, Any]:
    """The shipped 6-D validation fits (:func:`build_validation`)."""
    return json.loads((RESOURCES_DIR / VALIDATION_FILE).read_text())
