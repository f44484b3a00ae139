"""The prediction library: ALPaca's χ² term by term at a few hundred points, with provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import alps, stats
from .._paths import RESOURCES_DIR
from .model import REDUCED_TERMS, check_count

PREDICTION_LIBRARY: str = "term_predictions.npz"
"""File name of the shipped prediction library in the package's resources."""


# --------------------------------------------------------------------------------------------
# the prediction library
# --------------------------------------------------------------------------------------------
_LIBRARY_ARRAYS: tuple[str, ...] = (
    "prediction", "branching_ratio", "probability", "central", "sigma_left", "sigma_right",
    "chi2")


def library_path() -> Any:
    """Path of the shipped prediction library (``.npz``; its provenance beside it)."""
    return RESOURCES_DIR / PREDICTION_LIBRARY


def _library_points(n_domain: int, n_region: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The SM-like point, seeded uniform points of the domain and of the fit region."""
    from .. import data

    rng = np.random.default_rng(seed)
    domain = alps.DOMAIN.from_unit(rng.random((n_domain, len(alps.PARAMETERS))))
    train = data.load("train")
    region = train[train["chi2"] <= train["chi2"].min() + stats.REGION_DELTA_CHI2]
    pick = rng.choice(len(region), size=min(n_region, len(region)), replace=False)
    region_pts = region[list(alps.PARAMETERS)].to_numpy(dtype=float)[np.sort(pick)]
    points = np.vstack([alps.SM_LIKE_POINT[None, :], domain, region_pts])
    origin = np.array(["sm"] + ["domain"] * len(domain) + ["region"] * len(region_pts))
    return points, origin


def _br_max() -> tuple[float, list[list[float]]]:
    """Largest BR(B⁺ → K⁺ a) over the domain: at its smallest f_a, at the corners of the two
    couplings that make c_bs (c_qL33, c_uR)."""
    lo, hi = alps.DOMAIN.coupling
    corners = np.array([[alps.DOMAIN.fa_gev[0], q, u, 0.0, 0.0, 0.0]
                        for q in (lo, hi) for u in (lo, hi)])
    tp = alps.term_predictions(corners)
    j = tp.index(*REDUCED_TERMS[0])
    return float(np.max(tp.branching_ratio[:, j])), corners.tolist()


def build_prediction_library(*, n_domain: int = 150, n_region: int = 150, seed: int = 0,
                             chunk: int = 10, path: Any = None,
                             progress: bool = False) -> dict[str, Any]:
    """Compute and save the prediction library (ALPaca's terms at a few hundred points).

    Points: the SM-like point, ``n_domain`` uniform points of :data:`lecture_utils.alps.DOMAIN`
    (f_a log-uniform) and ``n_region`` points of the shipped ``train`` set within
    :data:`lecture_utils.stats.REGION_DELTA_CHI2` of its minimum, all chosen with ``seed``. Each
    point's terms come from :func:`lecture_utils.alps.term_predictions` (integrator
    ``"tabulated"``); a partial file beside ``path`` lets an interrupted run resume.

    Parameters
    ----------
    n_domain, n_region : int
        Numbers of domain and region points (≥ 1).
    seed : int
        Seed of the point selection.
    chunk : int
        Points per ALPaca call (and per resume step).
    path : path-like, optional
        Output ``.npz`` file (its provenance is written beside it as ``.provenance.json``);
        default: the shipped library.
    progress : bool
        Print one line per chunk.

    Returns
    -------
    dict
        The provenance record.
    """
    import datetime
    from pathlib import Path

    check_count(n_domain, "n_domain")
    check_count(n_region, "n_region")
    check_count(chunk, "chunk")
    out = Path(path) if path is not None else library_path()
    partial = out.with_suffix(".partial.npz")
    points, origin = _library_points(n_domain, n_region, seed)
    done: dict[str, list[np.ndarray]] = {k: [] for k in (*_LIBRARY_ARRAYS, "ctau_m", "total")}
    start = 0
    if partial.exists():
        with np.load(partial) as old:
            if np.array_equal(old["points"], points[: len(old["points"])]):
                start = len(old["points"])
                for k in done:
                    done[k].append(old[k])
    terms = None
    for i in range(start, len(points), chunk):
        tp = alps.term_predictions(points[i:i + chunk])
        terms = tp.terms
        for k in _LIBRARY_ARRAYS:
            done[k].append(getattr(tp, k))
        done["ctau_m"].append(tp.ctau_m)
        done["total"].append(tp.total())
        np.savez_compressed(partial, points=points[: i + len(tp.points)],
                            **{k: np.concatenate(v) for k, v in done.items()})
        if progress:
            print(f"{i + len(tp.points)}/{len(points)} points", flush=True)
    if terms is None:
        terms = alps.term_predictions(points[:1]).terms
    arrays = {k: np.concatenate(v) for k, v in done.items()}
    keep = np.isfinite(arrays["central"]).any(axis=0)
    br_max, corners = _br_max()
    first = alps.term_predictions(points[:1])
    np.savez_compressed(out, points=points, origin=origin, ctau_m=arrays["ctau_m"],
                        total=arrays["total"],
                        sm_prediction=first.sm_prediction[keep],
                        theory_sigma=first.theory_sigma[keep],
                        **{k: arrays[k][:, keep] for k in _LIBRARY_ARRAYS})
    prov = {
        "what": "ALPaca's chi2 term by term (lecture_utils.alps.term_predictions) at the "
                "SM-like point, uniform domain points and fit-region points",
        "command": f"python -m lecture_utils term-library --n-domain {n_domain} "
                   f"--n-region {n_region} --seed {seed}",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "integrator": "tabulated", "convention": alps.convention(),
        "domain": alps.DOMAIN.as_dict(), "seed": seed, "n_domain": n_domain,
        "n_region": int((origin == "region").sum()),
        "region": f"shipped 'train' set, chi2 <= min + {stats.REGION_DELTA_CHI2}",
        "terms": terms[keep].to_dict(orient="records"),
        "n_terms_dropped": int((~keep).sum()),
        "br_max": br_max, "br_max_points": corners,
        "arrays": {k: "shape (n_points, n_terms)" for k in _LIBRARY_ARRAYS}
        | {"ctau_m": "metres, shape (n_points,)", "total": "alps chi2, shape (n_points,)"},
    }
    out.with_suffix(".provenance.json").write_text(json.dumps(prov, indent=1, default=str))
    partial.unlink(missing_ok=True)
    return prov


@dataclass(frozen=True)
class PredictionLibrary:
    """ALPaca's χ² term by term at a few hundred points (:func:`build_prediction_library`).

    Attributes
    ----------
    points : numpy.ndarray, shape (n, 6)
        :data:`~lecture_utils.alps.PARAMETERS` order, f_a in GeV.
    origin : numpy.ndarray of str, shape (n,)
        ``"sm"``, ``"domain"`` or ``"region"``.
    terms : pandas.DataFrame
        The ``m`` terms (:data:`lecture_utils.alps.TERM_COLUMNS`).
    arrays : dict of str to numpy.ndarray
        ``prediction``, ``branching_ratio``, ``probability``, ``central``, ``sigma_left``,
        ``sigma_right``, ``chi2`` of shape (n, m); ``ctau_m`` (metres) and ``total`` (n,);
        ``sm_prediction`` and ``theory_sigma`` (m,).
    provenance : dict
        How it was made.
    """

    points: np.ndarray
    origin: np.ndarray
    terms: pd.DataFrame
    arrays: dict[str, np.ndarray] = field(repr=False)
    provenance: dict[str, Any] = field(repr=False)

    def index(self, observable: str, experiment: str) -> int:
        """Column of a term; raises ValueError if absent."""
        hit = np.flatnonzero((self.terms["observable"] == observable).to_numpy()
                             & (self.terms["experiment"] == experiment).to_numpy())
        if hit.size != 1:
            raise ValueError(f"no term ({observable!r}, {experiment!r}) in the library")
        return int(hit[0])


def prediction_library(path: Any = None) -> PredictionLibrary:
    """Load the prediction library (default: the shipped one).

    Parameters
    ----------
    path : path-like, optional
        An ``.npz`` written by :func:`build_prediction_library`.

    Returns
    -------
    PredictionLibrary
    """
    from pathlib import Path

    p = Path(path) if path is not None else library_path()
    prov = json.loads(p.with_suffix(".provenance.json").read_text())
    with np.load(p) as f:
        arrays = {k: f[k] for k in f.files}
    return PredictionLibrary(arrays.pop("points"), arrays.pop("origin"),
                             pd.DataFrame(prov["terms"]), arrays, prov)


