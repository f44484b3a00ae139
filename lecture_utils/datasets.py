"""Recipes that (re)build the shipped data sets, one documented command each.

``python -m lecture_utils dataset train`` (and ``holdout``) runs, resumably:

1. **prescan** — leading-log χ² on a Latin hypercube over the whole domain (~0.9 s/point, of which
   ~0.6 s are ALPaca's VEGAS three-body ALP widths, common to both fidelities; exact: ~3.6 s);
2. **focus** — leading-log χ² on points jittered around the prescan points with
   Δχ²_LL < :data:`PRESCAN_DELTA_CHI2`, to densify the region of interest;
3. **exact** — the exact ALPaca χ² on a seeded selection: ``n_region`` points from the leading-log
   region (pooled prescan + focus) and ``n_other`` from outside it, in shuffled order (so any prefix
   of a partial run is a fair sample of the design);
4. **export** — ``lecture_utils/data/<name>.csv.gz`` and ``<name>.provenance.json``.

Why: the region Δχ² < 10 covers only ~10 % of the box, so a plain design would spend 90 % of the
exact budget where the surrogate's gate only needs a coarse picture. The leading-log χ² differs from
the exact one by ~0.5 (sd) inside the region — good enough to steer, so the selection uses a cut
looser by :data:`PRESCAN_MARGIN` than the course's region cut. The hold-out set repeats the recipe
with different seeds, so it is independent of the training set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import alps, data, design
from .stats import REGION_DELTA_CHI2

PRESCAN_MARGIN: float = 2.0
"""Extra Δχ² allowed in the leading-log selection to absorb leading-log − exact differences."""

PRESCAN_DELTA_CHI2: float = REGION_DELTA_CHI2 + PRESCAN_MARGIN
"""Leading-log Δχ² below which a point counts as 'region' in the design."""

DEFAULT_WORKDIR = Path(__file__).resolve().parent.parent / "datasets"
"""Where the resumable stores of the recipes live (tracked in git so runs resume anywhere)."""


@dataclass(frozen=True)
class Recipe:
    """Sizes and seed of a shipped set's design."""

    name: str
    seed: int
    n_prescan: int
    n_focus: int
    n_region: int
    n_other: int
    focus_scale: float = 0.05


RECIPES: dict[str, Recipe] = {
    "train": Recipe("train", seed=1, n_prescan=1000, n_focus=4200, n_region=2600, n_other=1400),
    "holdout": Recipe("holdout", seed=2, n_prescan=1000, n_focus=600, n_region=300, n_other=200),
}
STAGES: tuple[str, ...] = ("prescan", "focus", "exact", "export")


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown data set recipe {name!r}; available: {sorted(RECIPES)}")
    return RECIPES[name]


def prescan_points(r: Recipe) -> np.ndarray:
    return design.latin_hypercube(r.n_prescan, seed=r.seed)


def _ok(store: data.Store) -> pd.DataFrame:
    t = store.table()
    return t[t["status"] == "ok"].reset_index(drop=True)


def _complete(store: data.Store, stage: str) -> None:
    s = store.summary()
    if s["n_done"] < s["n_points"]:
        raise data.StoreError(f"stage {stage!r} is incomplete ({s['n_done']}/{s['n_points']}); "
                              "run it first (it resumes)")


def focus_points(r: Recipe, prescan: pd.DataFrame) -> np.ndarray:
    region = prescan[prescan["chi2"] < prescan["chi2"].min() + PRESCAN_DELTA_CHI2]
    return design.jitter_around(region[list(alps.PARAMETERS)].to_numpy(), r.n_focus,
                                seed=r.seed + 1000, scale=r.focus_scale)


def exact_selection(r: Recipe, pool: pd.DataFrame) -> pd.DataFrame:
    """Seeded choice of the exact design from the leading-log pool (columns: parameters, chi2,
    origin). Returns the parameters, ``origin`` and ``chi2_leadinglog``, shuffled."""
    rng = np.random.default_rng(r.seed + 2000)
    in_region = pool["chi2"] < pool["chi2"].min() + PRESCAN_DELTA_CHI2
    region, other = pool[in_region], pool[~in_region]
    pick_r = rng.choice(len(region), size=min(r.n_region, len(region)), replace=False)
    pick_o = rng.choice(len(other), size=min(r.n_other, len(other)), replace=False)
    sel = pd.concat([region.iloc[np.sort(pick_r)].assign(origin=lambda d: d["origin"] + "-region"),
                     other.iloc[np.sort(pick_o)].assign(origin=lambda d: d["origin"] + "-other")])
    sel = sel.iloc[rng.permutation(len(sel))].reset_index(drop=True)
    return sel[list(alps.PARAMETERS) + ["origin"]].assign(chi2_leadinglog=sel["chi2"].to_numpy())


def build(name: str, stages: tuple[str, ...] = STAGES, *, workdir: str | Path = DEFAULT_WORKDIR,
          workers: int | None = None, executor: Any = None, progress: bool | None = None,
          partial: bool = False, out_dir: str | Path = data.SHIPPED_DIR) -> dict[str, Any]:
    """Run the requested stages of recipe ``name`` (each resumes); returns a summary."""
    r = _recipe(name)
    for s in stages:
        if s not in STAGES:
            raise ValueError(f"unknown stage {s!r}; choose from {STAGES}")
    root = Path(workdir) / name
    common = {"recipe": asdict(r), "executor": executor, "workers": workers, "progress": progress}

    def run(stage: str, pts: np.ndarray, integrator: alps.Integrator, origins: Any,
            extra: dict[str, Any]) -> data.Store:
        return data.generate(root / stage, pts, integrator, origins=origins, resume=True,
                             meta={"dataset": name, "stage": stage, "recipe": common["recipe"],
                                   **extra},
                             executor=executor, workers=workers, progress=progress)

    summary: dict[str, Any] = {}
    if "prescan" in stages:
        st = run("prescan", prescan_points(r), "leadinglog", "prescan",
                 {"design": "lhs", "seed": r.seed})
        summary["prescan"] = st.summary()
    if "focus" in stages:
        pre = data.Store.open(root / "prescan")
        _complete(pre, "prescan")
        st = run("focus", focus_points(r, _ok(pre)), "leadinglog", "focus",
                 {"design": "jitter_around prescan region", "seed": r.seed + 1000,
                  "prescan_delta_chi2": PRESCAN_DELTA_CHI2, "scale": r.focus_scale})
        summary["focus"] = st.summary()
    if "exact" in stages or "export" in stages:
        pre, foc = data.Store.open(root / "prescan"), data.Store.open(root / "focus")
        _complete(pre, "prescan")
        _complete(foc, "focus")
        pool = pd.concat([_ok(pre), _ok(foc)], ignore_index=True)
        sel = exact_selection(r, pool)
    if "exact" in stages:
        st = run("exact", sel[list(alps.PARAMETERS)].to_numpy(), "exact",
                 list(sel["origin"]), {"design": "selection from leading-log pool",
                                        "seed": r.seed + 2000,
                                        "prescan_delta_chi2": PRESCAN_DELTA_CHI2})
        summary["exact"] = st.summary()
    if "export" in stages:
        summary["export"] = export(name, root, sel, partial=partial, out_dir=out_dir)
    return summary


def export(name: str, root: Path, selection: pd.DataFrame, *, partial: bool = False,
           out_dir: str | Path = data.SHIPPED_DIR) -> dict[str, Any]:
    """Write the shipped CSV and provenance from the exact store of recipe ``name``."""
    exact = data.Store.open(root / "exact")
    s = exact.summary()
    if s["n_done"] < s["n_points"] and not partial:
        raise data.StoreError(f"exact stage of {name!r} is incomplete ({s['n_done']}/"
                              f"{s['n_points']}); finish it or pass partial=True (--partial)")
    table = exact.table()
    ll = selection["chi2_leadinglog"].to_numpy()[table["idx"].to_numpy()]
    ok = table["status"] == "ok"
    out = table.loc[ok, list(alps.PARAMETERS) + ["chi2", "origin"]].copy()
    out["chi2_leadinglog"] = ll[ok.to_numpy()]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_dir / f"{name}.csv.gz", index=False, float_format="%.17g",
               compression={"method": "gzip", "mtime": 0})
    failed = table.loc[~ok, ["idx", "error_type", "error_message"]]
    region = out["chi2"] < out["chi2"].min() + REGION_DELTA_CHI2
    prov = {
        "name": name,
        "description": f"exact ALPaca chi2 at m_a = {alps.MA_GEV} GeV over sector "
                       f"'{alps.SECTOR}'; design: see recipe and stages",
        "columns": {**{p: f"{p} [{alps.UNITS[p] or 'dimensionless'}]" for p in alps.PARAMETERS},
                    "chi2": "exact chi2 (integrator 'exact' = ALPaca scipy RGE)",
                    "chi2_leadinglog": "leading-log chi2 at the same point",
                    "origin": "design stage that proposed the point"},
        "partial": bool(s["n_done"] < s["n_points"]),
        "n_requested": s["n_points"], "n_evaluated": s["n_done"], "n_ok": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "failures": failed.head(50).to_dict("records"),
        "chi2_min": float(out["chi2"].min()),
        "n_region": int(region.sum()), "region_delta_chi2": REGION_DELTA_CHI2,
        "seconds_per_point_mean": s["seconds_per_point_mean"],
        "recipe": asdict(_recipe(name)), "prescan_delta_chi2": PRESCAN_DELTA_CHI2,
        "stores": {st: data.Store.open(root / st).meta for st in ("prescan", "focus", "exact")},
        "regenerate": f"python -m lecture_utils dataset {name}",
    }
    (out_dir / f"{name}.provenance.json").write_text(json.dumps(prov, indent=2, default=str))
    return {k: prov[k] for k in ("n_requested", "n_evaluated", "n_ok", "n_failed", "chi2_min",
                                 "n_region", "partial")}
