"""Recipes that (re)build the shipped data sets, one documented command each.

``python -m lecture_utils dataset train`` (and ``holdout``) runs, resumably:

1. **prescan** — leading-log χ² on a Latin hypercube over the whole domain (~0.9 s/point, of which
   ~0.6 s are ALPaca's VEGAS three-body ALP widths, common to both fidelities; exact: ~3.6 s);
2. **focus** — leading-log χ² on points jittered around the prescan points with
   Δχ²_LL < :data:`PRESCAN_DELTA_CHI2`, to densify the region of interest;
3. **exact** — the exact ALPaca χ² on a seeded selection: ``n_region`` points from the leading-log
   region (pooled prescan + focus) and ``n_other`` from outside it, in shuffled order (so any prefix
   of a partial run is a fair sample of the design);
4. **active** (``train`` only, ``n_active`` points) — active learning
   (:func:`lecture_utils.active.extend_train`) starting from the exact stage's points asks batches
   of new points where the region's boundary is least certain; they are evaluated exactly, and
   then once more with the leading-log integrator (so every shipped point has both fidelities).
   The active learner lives above this module in the package's data flow, so :func:`build`
   receives it as ``active_runner`` (the command line passes it);
5. **export** — ``lecture_utils/data/resources/<name>.csv.gz`` and ``<name>.provenance.json`` (and
   the leading-log pool of stages 1–2, ``pools/<name>.csv.gz``, for chapter 3); the
   ``origin`` column says which stage proposed each point (``…-region``, ``…-other``,
   ``active``). :func:`base_points` returns the set without its active extension.

Why: the region Δχ² < 10 covers only ~10 % of the box, so a plain design would spend 90 % of the
exact budget where the surrogate's gate only needs a coarse picture. The leading-log χ² differs from
the exact one by ~0.5 (sd) inside the region — good enough to steer, so the selection uses a cut
looser by :data:`PRESCAN_MARGIN` than the course's region cut. The hold-out set repeats the recipe
with different seeds, so it is independent of the training set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import alps, data, design
from ._paths import source_checkout
from .stats import REGION_DELTA_CHI2

PRESCAN_MARGIN: float = 2.0
"""Extra Δχ² allowed in the leading-log selection to absorb leading-log − exact differences."""

PRESCAN_DELTA_CHI2: float = REGION_DELTA_CHI2 + PRESCAN_MARGIN
"""Leading-log Δχ² below which a point counts as 'region' in the design."""

_CHECKOUT = source_checkout()
DEFAULT_WORKDIR: Path = _CHECKOUT / "datasets" if _CHECKOUT is not None else Path("datasets")
"""Where the resumable stores of the recipes live: ``datasets/`` of the source checkout (tracked in
git, so runs resume anywhere); for an installed wheel, ``datasets/`` in the working directory."""

POOLS_FOLDER: str = "pools"
"""Sub-folder of the shipped data holding the leading-log pools of the recipes (``<name>.csv.gz``:
the successful ``prescan`` and ``focus`` points, written by :func:`export`), so the pools need no
checkout of the stores."""


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
    n_active: int = 0
    active_batch_size: int = 16
    active_seed: int = 0
    active_region_model: str = "gp"
    """Region model of the active stage's learner (:data:`lecture_utils.active.REGION_MODELS`):
    the shipped ``train`` extension was chosen with the GP, and a resumed run must replay it."""


RECIPES: dict[str, Recipe] = {
    "train": Recipe("train", seed=1, n_prescan=1000, n_focus=4200, n_region=2600, n_other=1400,
                    n_active=1000),
    "holdout": Recipe("holdout", seed=2, n_prescan=1000, n_focus=600, n_region=300, n_other=200),
}
STAGES: tuple[str, ...] = ("prescan", "focus", "exact", "active", "export")

ACTIVE_ORIGIN: str = "active"
"""``origin`` of the points added by the active stage."""

ActiveRunner = Callable[..., Any]
"""``runner(n_points, *, initial, store, batch_size, seed, learner_options, executor, workers,
progress)`` — :func:`lecture_utils.active.extend_train` (its signature); it must write one
:class:`~lecture_utils.data.Store` per batch (``batch-0000`` …) under ``store``."""


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


def _exact_points(root: Path) -> pd.DataFrame:
    """The exact stage's evaluated points: parameters and ``chi2``, in design order."""
    return _ok(data.Store.open(root / "exact"))[[*alps.PARAMETERS, "chi2"]]


def active_table(root: str | Path) -> pd.DataFrame:
    """The active stage's exact points under ``root/active`` (batch stores in order): batch,
    idx, the parameters, origin, chi2, status, … — empty if the stage has not run."""
    return data.batch_table(Path(root) / "active")


def base_points(name: str) -> pd.DataFrame:
    """Shipped set ``name`` without its active extension (the points of the design stages)."""
    df = data.load(name)
    return df[df["origin"] != ACTIVE_ORIGIN].reset_index(drop=True)


def build(name: str, stages: tuple[str, ...] = STAGES, *, workdir: str | Path = DEFAULT_WORKDIR,
          workers: int | None = None, executor: Any = None, progress: bool | None = None,
          partial: bool = False, out_dir: str | Path = data.SHIPPED_DIR,
          active_runner: ActiveRunner | None = None) -> dict[str, Any]:
    """Run the requested stages of recipe ``name`` (each resumes); returns a summary.

    The ``active`` stage (recipes with ``n_active > 0``) needs ``active_runner``
    (:func:`lecture_utils.active.extend_train`); without it the stage raises ``ValueError``.
    """
    r = _recipe(name)
    for s in stages:
        if s not in STAGES:
            raise ValueError(f"unknown stage {s!r}; choose from {STAGES}")
    root = Path(workdir) / name
    common = {"recipe": asdict(r), "executor": executor, "workers": workers, "progress": progress}

    def run(stage: str, pts: np.ndarray, integrator: alps.Integrator, origins: Any,
            extra: dict[str, Any], folder: str | None = None, pool: Any = None) -> data.Store:
        return data.generate(root / (folder or stage), pts, integrator, origins=origins,
                             resume=True, meta={"dataset": name, "stage": stage,
                                                "recipe": common["recipe"], **extra},
                             executor=pool or executor, workers=workers, progress=progress)

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
    if "active" in stages and r.n_active > 0:
        exact = data.Store.open(root / "exact")
        _complete(exact, "exact")
        if len(active_table(root)) >= r.n_active:
            pass  # done (a complete run is not replayed)
        elif active_runner is None:
            raise ValueError("the active stage needs an active_runner "
                             "(lecture_utils.active.extend_train); run it with "
                             f"python -m lecture_utils dataset {name} --stage active")
        else:
            active_runner(r.n_active, initial=_exact_points(root), store=root / "active",
                          batch_size=r.active_batch_size, seed=r.active_seed,
                          learner_options={"region_model": r.active_region_model},
                          executor=executor, workers=workers, progress=progress)
        summary["active"] = {"n_points": len(active_table(root))}
    if ("active" in stages or "export" in stages) and r.n_active > 0:
        # one leading-log store per active batch, so a longer active run only adds stores
        todo = []
        for batch, part in active_table(root).groupby("batch", sort=True):
            ok = part[part["status"] == "ok"]
            sub = f"active-leadinglog/batch-{int(batch):04d}"
            if len(ok) and not ((root / sub / "meta.json").exists()
                                and data.Store.open(root / sub).pending().empty):
                todo.append((int(batch), sub, ok[list(alps.PARAMETERS)].to_numpy()))
        if todo:
            from . import engine  # one pool for all batches (engine precedes data)

            pool = engine.local_pool(workers) if executor is None else executor
            try:
                for batch, sub, pts in todo:
                    run("active-leadinglog", pts, "leadinglog", ACTIVE_ORIGIN,
                        {"batch": batch, "design": "the exact points of one active batch"},
                        folder=sub, pool=pool)
            finally:
                if executor is None:
                    pool.shutdown(wait=True, cancel_futures=True)
        summary["active-leadinglog"] = {"n_done": len(data.batch_table(
            root / "active-leadinglog"))}
    if "export" in stages:
        summary["export"] = export(name, root, sel, partial=partial, out_dir=out_dir)
    return summary


def stores_pool(root: str | Path) -> pd.DataFrame:
    """The leading-log pool of a recipe's stores under ``root``: the successful points of its
    ``prescan`` and ``focus`` stages, in that order.

    Parameters
    ----------
    root : str or pathlib.Path
        The recipe's folder in the work folder (``<workdir>/<name>``).

    Returns
    -------
    pandas.DataFrame
        Columns: the six parameters, ``chi2`` (leading log), ``origin``.

    Raises
    ------
    lecture_utils.data.StoreError
        If a store is missing.
    """
    frames = [_ok(data.Store.open(Path(root) / stage)) for stage in ("prescan", "focus")]
    return pd.concat(frames, ignore_index=True)[[*alps.PARAMETERS, "chi2", "origin"]]


def write_pool(name: str, root: str | Path, out_dir: str | Path = data.SHIPPED_DIR) -> Path:
    """Write the leading-log pool of recipe ``name`` (:func:`stores_pool`) to
    ``<out_dir>/pools/<name>.csv.gz`` (every digit of the floats; reproducible bytes).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(out_dir) / POOLS_FOLDER / f"{name}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    stores_pool(root).to_csv(path, index=False, float_format="%.17g",
                             compression={"method": "gzip", "mtime": 0})
    return path


def shipped_pool(name: str) -> pd.DataFrame:
    """The shipped leading-log pool of recipe ``name`` (as :func:`stores_pool` of its stores).

    Raises
    ------
    ValueError
        For a recipe without a shipped pool, naming the available ones.
    """
    folder = data.shipped.SHIPPED_DIR / POOLS_FOLDER
    path = folder / f"{name}.csv.gz"
    if not path.is_file():
        available = sorted(p.name.removesuffix(".csv.gz") for p in folder.glob("*.csv.gz"))
        raise ValueError(f"no shipped leading-log pool {name!r}; available: {available}")
    return pd.read_csv(path)


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
    failed = table.loc[~ok, ["idx", "error_type", "error_message"]].assign(stage="exact")
    r = _recipe(name)
    active_info: dict[str, Any] = {"n_requested": r.n_active, "n_evaluated": 0, "n_ok": 0}
    if r.n_active > 0:
        act = active_table(root)
        act_ok = act[act["status"] == "ok"].reset_index(drop=True)
        if len(act) < r.n_active and not partial:
            raise data.StoreError(f"active stage of {name!r} is incomplete ({len(act)}/"
                                  f"{r.n_active}); run it or pass partial=True (--partial)")
        if len(act_ok):
            ll_tab = data.batch_table(root / "active-leadinglog")
            cols = list(alps.PARAMETERS)
            if len(ll_tab) != len(act_ok) or not np.array_equal(ll_tab[cols].to_numpy(),
                                                                 act_ok[cols].to_numpy()):
                raise data.StoreError(f"{root / 'active-leadinglog'} does not hold every active "
                                      "point in order; run the active stage (it resumes)")
            out = pd.concat([out, act_ok[list(alps.PARAMETERS) + ["chi2"]].assign(
                origin=ACTIVE_ORIGIN, chi2_leadinglog=ll_tab["chi2"].to_numpy())],
                ignore_index=True)
        if len(act) > len(act_ok):
            failed = pd.concat([failed, act.loc[act["status"] != "ok", [
                "idx", "error_type", "error_message"]].assign(stage="active")])
        active_info |= {"n_evaluated": len(act), "n_ok": len(act_ok),
                        "run": json.loads((root / "active" / "run.json").read_text())
                        if (root / "active" / "run.json").exists() else None}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_dir / f"{name}.csv.gz", index=False, float_format="%.17g",
               compression={"method": "gzip", "mtime": 0})
    region = out["chi2"] < out["chi2"].min() + REGION_DELTA_CHI2
    prov = {
        "name": name,
        "description": f"exact ALPaca chi2 at m_a = {alps.MA_GEV} GeV over sector "
                       f"'{alps.SECTOR}'; design: see recipe and stages",
        "columns": {**{p: f"{p} [{alps.UNITS[p] or 'dimensionless'}]" for p in alps.PARAMETERS},
                    "chi2": "exact chi2 (integrator 'exact' = ALPaca scipy RGE)",
                    "chi2_leadinglog": "leading-log chi2 at the same point",
                    "origin": "design stage that proposed the point"},
        "partial": bool(s["n_done"] < s["n_points"] or active_info["n_evaluated"] < r.n_active),
        "n_requested": s["n_points"] + r.n_active,
        "n_evaluated": s["n_done"] + active_info["n_evaluated"], "n_ok": len(out),
        "n_failed": len(failed),
        "failures": failed.head(50).to_dict("records"),
        "chi2_min": float(out["chi2"].min()),
        "n_region": int(region.sum()), "region_delta_chi2": REGION_DELTA_CHI2,
        "seconds_per_point_mean": s["seconds_per_point_mean"],
        "recipe": asdict(_recipe(name)), "prescan_delta_chi2": PRESCAN_DELTA_CHI2,
        "active": active_info,
        "stores": {st: data.Store.open(root / st).meta for st in ("prescan", "focus", "exact")},
        "regenerate": f"python -m lecture_utils dataset {name}",
    }
    (out_dir / f"{name}.provenance.json").write_text(json.dumps(prov, indent=2, default=str))
    write_pool(name, root, out_dir)
    return {k: prov[k] for k in ("n_requested", "n_evaluated", "n_ok", "n_failed", "chi2_min",
                                 "n_region", "partial")}


# --------------------------------------------------------------------------------------------
# dense sets: the exact χ² through the tabulated exact running (integrator "tabulated")
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseRecipe:
    """Sizes and seed of a dense set: every point evaluated with the ``"tabulated"`` integrator
    (the exact running, tabulated; :func:`lecture_utils.alps.exact_running_table`), so no
    leading-log steering and no selection are needed — the whole design is kept.

    ``n_prescan`` Latin-hypercube points over the domain, then ``n_focus`` points jittered
    (``focus_scale``) around the prescan points within :data:`PRESCAN_DELTA_CHI2` of the prescan's
    minimum. ``validate_on`` names a shipped set whose (directly) exact χ² the same points are
    compared with, so the provenance states how far "tabulated" is from "exact".
    """

    name: str
    seed: int
    n_prescan: int
    n_focus: int
    focus_scale: float = 0.05
    validate_on: str = "holdout"


DENSE_RECIPES: dict[str, DenseRecipe] = {
    "dense": DenseRecipe("dense", seed=3, n_prescan=4000, n_focus=16000),
}
DENSE_STAGES: tuple[str, ...] = ("prescan", "focus", "validate", "export")
TABULATED_ORIGINS: tuple[str, ...] = ("dense-prescan", "dense-focus")
"""``origin`` of the points of a dense set (its two design stages)."""


def build_dense(name: str, stages: tuple[str, ...] = DENSE_STAGES, *,
                workdir: str | Path = DEFAULT_WORKDIR, workers: int | None = None,
                executor: Any = None, progress: bool | None = None, partial: bool = False,
                out_dir: str | Path = data.SHIPPED_DIR) -> dict[str, Any]:
    """Run the requested stages of dense recipe ``name`` (each resumes); returns a summary.

    ``prescan`` and ``focus`` evaluate their designs with the ``"tabulated"`` integrator;
    ``validate`` evaluates the points of the recipe's ``validate_on`` set the same way;
    ``export`` writes ``<name>.csv.gz`` and its provenance (with the comparison with the direct
    exact χ² of the validation set).
    """
    if name not in DENSE_RECIPES:
        raise ValueError(f"unknown dense recipe {name!r}; available: {sorted(DENSE_RECIPES)}")
    r = DENSE_RECIPES[name]
    for s in stages:
        if s not in DENSE_STAGES:
            raise ValueError(f"unknown stage {s!r}; choose from {DENSE_STAGES}")
    root = Path(workdir) / name
    recipe = asdict(r)

    def run(stage: str, pts: np.ndarray, origins: Any, extra: dict[str, Any]) -> data.Store:
        return data.generate(root / stage, pts, "tabulated", origins=origins, resume=True,
                             meta={"dataset": name, "stage": stage, "recipe": recipe,
                                   "exact_running_key": alps.exact_running_key(), **extra},
                             executor=executor, workers=workers, progress=progress)

    summary: dict[str, Any] = {}
    if "prescan" in stages:
        pts = design.latin_hypercube(r.n_prescan, seed=r.seed)
        summary["prescan"] = run("prescan", pts, TABULATED_ORIGINS[0],
                                 {"design": "lhs", "seed": r.seed}).summary()
    if "focus" in stages:
        pre = data.Store.open(root / "prescan")
        _complete(pre, "prescan")
        table = _ok(pre)
        centres = table[table["chi2"] < table["chi2"].min() + PRESCAN_DELTA_CHI2]
        pts = design.jitter_around(centres[list(alps.PARAMETERS)].to_numpy(), r.n_focus,
                                   seed=r.seed + 1000, scale=r.focus_scale)
        summary["focus"] = run("focus", pts, TABULATED_ORIGINS[1], {
            "design": "jitter_around prescan region", "seed": r.seed + 1000,
            "prescan_delta_chi2": PRESCAN_DELTA_CHI2, "scale": r.focus_scale}).summary()
    if "validate" in stages:
        ref = data.load(r.validate_on)
        summary["validate"] = run("validate", ref[list(alps.PARAMETERS)].to_numpy(),
                                  r.validate_on, {"design": f"the points of {r.validate_on!r}"}
                                  ).summary()
    if "export" in stages:
        summary["export"] = export_dense(name, root, partial=partial, out_dir=out_dir)
    return summary


def tabulated_vs_exact(tabulated: pd.DataFrame, exact: pd.DataFrame) -> dict[str, Any]:
    """Compare χ² of the same points (rows in the same order; columns ``chi2``) from the
    ``"tabulated"`` and the ``"exact"`` integrator: absolute differences inside the region
    Δχ² < :data:`~lecture_utils.stats.REGION_DELTA_CHI2` (of the exact set's minimum), relative
    differences |Δχ²|/χ² over all points (outside the region χ² reaches 10⁷ and more)."""
    cols = list(alps.PARAMETERS)
    if len(tabulated) != len(exact) or not np.allclose(tabulated[cols].to_numpy(),
                                                       exact[cols].to_numpy(), rtol=1e-12):
        raise ValueError("tabulated and exact tables must hold the same points in the same order")
    chi2_exact = exact["chi2"].to_numpy(float)
    diff = np.abs(tabulated["chi2"].to_numpy(float) - chi2_exact)
    region = chi2_exact < chi2_exact.min() + REGION_DELTA_CHI2
    finite = np.isfinite(diff)

    def stats(values: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        d = values[mask & finite]
        if not d.size:
            return {"n": int(mask.sum()), "mean": None, "p99": None, "max": None}
        return {"n": int(mask.sum()), "mean": float(d.mean()),
                "p99": float(np.quantile(d, 0.99)), "max": float(d.max())}

    return {"region_abs": stats(diff, region),
            "all_rel": stats(diff / np.abs(chi2_exact), np.ones(len(diff), bool)),
            "n_nonfinite": int((~finite).sum())}


def export_dense(name: str, root: Path, *, partial: bool = False,
                 out_dir: str | Path = data.SHIPPED_DIR) -> dict[str, Any]:
    """Write the shipped CSV and provenance of dense recipe ``name`` from its stores."""
    r = DENSE_RECIPES[name]
    stores = {st: data.Store.open(root / st) for st in ("prescan", "focus", "validate")}
    sums = {st: s.summary() for st, s in stores.items()}
    incomplete = {st: f"{s['n_done']}/{s['n_points']}" for st, s in sums.items()
                  if s["n_done"] < s["n_points"]}
    if incomplete and not partial:
        raise data.StoreError(f"stages of {name!r} are incomplete {incomplete}; run them (they "
                              "resume) or pass partial=True (--partial)")
    tables = {st: s.table() for st, s in stores.items()}
    parts, failed = [], []
    for st, origin in zip(("prescan", "focus"), TABULATED_ORIGINS, strict=True):
        t = tables[st]
        ok = t["status"] == "ok"
        parts.append(t.loc[ok, [*alps.PARAMETERS, "chi2"]].assign(origin=origin))
        failed.append(t.loc[~ok, ["idx", "error_type", "error_message"]].assign(stage=st))
    out = pd.concat(parts, ignore_index=True)
    fails = pd.concat(failed, ignore_index=True)
    ref = data.load(r.validate_on)
    val = tables["validate"]
    validation = (tabulated_vs_exact(val.sort_values("idx"), ref)
                  if len(val) == len(ref) else {"partial": f"{len(val)}/{len(ref)}"})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_dir / f"{name}.csv.gz", index=False, float_format="%.17g",
               compression={"method": "gzip", "mtime": 0})
    region = out["chi2"] < out["chi2"].min() + REGION_DELTA_CHI2
    n_req = sums["prescan"]["n_points"] + sums["focus"]["n_points"]
    n_done = sums["prescan"]["n_done"] + sums["focus"]["n_done"]
    prov = {
        "name": name,
        "description": (f"ALPaca chi2 at m_a = {alps.MA_GEV} GeV over sector '{alps.SECTOR}' "
                        "with the exact running tabulated in f_a (integrator 'tabulated'); "
                        "design: Latin hypercube + jitter around its region"),
        "columns": {**{p: f"{p} [{alps.UNITS[p] or 'dimensionless'}]" for p in alps.PARAMETERS},
                    "chi2": "chi2, integrator 'tabulated' (ALPaca's scipy running per unit "
                            "coupling on a grid of f_a, applied linearly)",
                    "origin": "design stage that proposed the point"},
        "integrator": "tabulated", "exact_running_key": alps.exact_running_key(),
        "partial": bool(incomplete), "n_requested": n_req, "n_evaluated": n_done,
        "n_ok": len(out), "n_failed": len(fails), "failures": fails.head(50).to_dict("records"),
        "chi2_min": float(out["chi2"].min()), "n_region": int(region.sum()),
        "region_delta_chi2": REGION_DELTA_CHI2,
        "seconds_per_point_mean": sums["focus"]["seconds_per_point_mean"],
        "recipe": asdict(r), "prescan_delta_chi2": PRESCAN_DELTA_CHI2,
        "validation": {"against": r.validate_on, "integrator": "exact", **validation},
        "stores": {st: s.meta for st, s in stores.items()},
        "regenerate": f"python -m lecture_utils dataset {name}",
    }
    (out_dir / f"{name}.provenance.json").write_text(json.dumps(prov, indent=2, default=str))
    return {k: prov[k] for k in ("n_requested", "n_evaluated", "n_ok", "n_failed", "chi2_min",
                                 "n_region", "partial", "validation")}


# --------------------------------------------------------------------------------------------
# the edge hold-out: pairs of nearby points on both sides of the region's edge
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EdgeRecipe:
    """Settings of the edge hold-out (:func:`build_edge_holdout`): ``n_rays`` region points of
    the shipped ``starts_from`` set (its points with exact Δχ² < :data:`PRESCAN_DELTA_CHI2`,
    drawn with ``seed``), each walked out of the region along a random direction and bisected
    (:func:`lecture_utils.design.edge_pairs`) with the ``"tabulated"`` χ²."""

    name: str = "edge_holdout"
    seed: int = 23
    n_rays: int = 160
    starts_from: str = "holdout"
    first_step: float = 0.02
    n_expand: int = 6
    n_bisect: int = 6


EDGE_RECIPE = EdgeRecipe()
EDGE_ORIGINS: tuple[str, ...] = ("edge-inside", "edge-outside", "edge-ray")
"""``origin`` of the two points of an edge pair, and of the other points evaluated on the rays
(the outward steps and the bisection's other midpoints)."""


def build_edge_holdout(chi2_min: float, recipe: EdgeRecipe = EDGE_RECIPE, *,
                       workers: int | None = None, executor: Any = None,
                       progress: bool | None = None,
                       out_dir: str | Path = data.SHIPPED_DIR) -> dict[str, Any]:
    """Build and write the edge hold-out: pairs of points that straddle the region's edge
    χ² = ``chi2_min`` + :data:`~lecture_utils.stats.REGION_DELTA_CHI2`, a few bisection steps
    apart, where a surrogate's gate is most likely wrong, and every other point evaluated on the
    rays (inside and outside the region, at a range of distances from the edge). No point of it
    is used for training or model selection.

    Every evaluation goes through the per-point cache (:func:`lecture_utils.data.evaluate_cached`,
    integrator ``"tabulated"``): the construction is deterministic, so a run that was stopped
    resumes by reading what it had evaluated.

    Parameters
    ----------
    chi2_min : float
        The region's reference minimum (the course's: the training data's minimum χ²).
    recipe : EdgeRecipe, optional
        Sizes, seeds and steps.
    workers, executor : optional
        How the evaluations run (:func:`lecture_utils.data.evaluate_cached`; default a local
        pool of all cores).
    progress : bool, optional
        Progress bars.
    out_dir : str or pathlib.Path, optional
        Where ``<name>.csv.gz`` and ``<name>.provenance.json`` are written.

    Returns
    -------
    dict
        The provenance written (counts, settings, the threshold, failed evaluations).
    """
    threshold = float(chi2_min) + REGION_DELTA_CHI2
    ref = data.load(recipe.starts_from)
    pool = ref[ref["chi2"] < float(chi2_min) + PRESCAN_DELTA_CHI2]
    rng = np.random.default_rng(recipe.seed)
    starts = pool[list(alps.PARAMETERS)].to_numpy()[
        rng.choice(len(pool), size=min(recipe.n_rays, len(pool)), replace=False)]
    n_evaluated = [0]
    failed: list[int] = [0]
    walked: list[pd.DataFrame] = []

    def chi2_fn(points: np.ndarray) -> np.ndarray:
        table = data.evaluate_cached(points, "tabulated", name=recipe.name, workers=workers,
                                     executor=executor, progress=progress)
        n_evaluated[0] += len(points)
        failed[0] += int((table["status"] != "ok").sum())
        walked.append(table[[*alps.PARAMETERS, "chi2"]])
        return table["chi2"].to_numpy(dtype=float)

    chi2_starts = chi2_fn(starts)
    walked.clear()  # the starts are points of the hold-out set, not of this one
    inside = chi2_starts < threshold
    directions = design.random_directions(len(starts), len(alps.PARAMETERS), seed=recipe.seed + 1)
    pairs = design.edge_pairs(chi2_fn, starts[inside], chi2_starts[inside], directions[inside],
                              threshold, first_step=recipe.first_step,
                              n_expand=recipe.n_expand, n_bisect=recipe.n_bisect)
    n_pairs = len(pairs["ray"])
    table = pd.concat([
        pd.DataFrame(pairs[side], columns=list(alps.PARAMETERS)).assign(
            chi2=pairs[f"chi2_{side}"], origin=origin, pair=np.arange(n_pairs),
            gap=pairs["gap"])
        for side, origin in zip(("inside", "outside"), EDGE_ORIGINS[:2], strict=True)],
        ignore_index=True)
    cols = list(alps.PARAMETERS)
    on_rays = pd.concat(walked, ignore_index=True).drop_duplicates(cols)
    seen = pd.concat([table[cols], pd.DataFrame(starts, columns=cols)]).set_index(cols).index
    on_rays = on_rays[~on_rays.set_index(cols).index.isin(seen)]
    table = pd.concat([table.sort_values(["pair", "origin"], kind="stable"),
                       on_rays.assign(origin=EDGE_ORIGINS[2], pair=-1, gap=np.nan)],
                      ignore_index=True)
    table = table[np.isfinite(table["chi2"])].reset_index(drop=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / f"{recipe.name}.csv.gz", index=False, float_format="%.17g",
                 compression={"method": "gzip", "mtime": 0})
    prov = {
        "name": recipe.name,
        "description": ("pairs of points on both sides of the region's edge chi2 = chi2_min + "
                        f"{REGION_DELTA_CHI2}: region points of {recipe.starts_from!r} walked "
                        "out along random directions, the bracket bisected (design.edge_pairs); "
                        "never used for training or selection"),
        "columns": {**{p: f"{p} [{alps.UNITS[p] or 'dimensionless'}]" for p in alps.PARAMETERS},
                    "chi2": "chi2, integrator 'tabulated'",
                    "origin": "edge-inside (chi2 < threshold) or edge-outside: the two points "
                              "of a pair; edge-ray: another point evaluated on a ray",
                    "pair": "index of the pair (-1 for edge-ray points)",
                    "gap": "distance of the pair in unit-cube coordinates"},
        "integrator": "tabulated", "exact_running_key": alps.exact_running_key(),
        "recipe": asdict(recipe), "chi2_min": float(chi2_min), "threshold": threshold,
        "region_delta_chi2": REGION_DELTA_CHI2, "n_starts": int(len(starts)),
        "n_starts_inside": int(inside.sum()), "n_pairs": n_pairs,
        "n_evaluated": n_evaluated[0], "n_failed": failed[0],
        "n_outside_failed": int((~np.isfinite(pairs["chi2_outside"])).sum()),
        "n_rows": int(len(table)), "packages": data.package_versions(),
    }
    (out_dir / f"{recipe.name}.provenance.json").write_text(
        json.dumps(prov, indent=2, default=str) + "\n")
    return prov
