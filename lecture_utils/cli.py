"""Command line: ``python -m lecture_utils <command> …``.

Commands
--------
generate   evaluate a design (LHS / random / given points) into a resumable store
dataset    (re)build a shipped data set from its recipe (train, holdout, dense); resumes
status     summary of a store
compact    merge a store's chunk files into one
tune       tune the surrogate hyperparameters with optuna (lecture_utils.tuning)
active     extend the training set with actively chosen points (lecture_utils.active)
running-table  rebuild the shipped exact running table (integrator "tabulated")
term-library   rebuild the shipped library of ALPaca's term-by-term predictions
significance-validation  rerun the full 6-D fits that validate the reduced significance model
evaluation-seed  ship the evaluation-cache entries of a filled cache (after make book)
edge-holdout   rebuild the shipped edge hold-out (pairs straddling the region's edge; resumes)

Every command is defined here; the modules it calls are imported only when it runs, so
``--help`` and ``--version`` stay fast. A user mistake (an unknown option or data set, a missing
store or file, a scheduler that cannot be reached) ends with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from . import __version__

PROG = "python -m lecture_utils"
USAGE_EXIT = 2
"""Exit status of a user mistake (as argparse's for a bad option)."""

SCHEDULER_TIMEOUT_S: float = 10.0
"""Seconds to wait for a dask.distributed scheduler (``--scheduler``) before giving up."""


class UsageError(Exception):
    """A mistake of the command line's user (a missing store or file, an unknown data set, an
    unreachable scheduler): :func:`main` prints its message as one line and returns
    :data:`USAGE_EXIT`, without a traceback."""


class OneLineParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line (``PROG: error: …``, with a
    pointer to ``--help``) and exit with :data:`USAGE_EXIT`."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with status :data:`USAGE_EXIT`."""
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _executor(args: argparse.Namespace):  # noqa: ANN202
    address = getattr(args, "scheduler", None)
    if not address:
        return None
    from distributed import Client

    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, ValueError, TimeoutError) as exc:
        raise UsageError(f"cannot connect to the dask scheduler at {address!r}: "
                         f"{' '.join(str(exc).split())}") from None


def _data_set_names(names: tuple[str, ...] | list[str], option: str) -> None:
    """Raise :class:`UsageError` unless every name is a shipped data set."""
    from . import data

    unknown = [n for n in names if n not in data.available()]
    if unknown:
        raise UsageError(f"{option}: unknown data set(s) {unknown}; available: "
                         f"{data.available()}")


def cmd_evaluation_seed(args: argparse.Namespace) -> int:
    from . import data

    try:
        prov = data.write_seed(args.cache, args.out or data.SEED_FILE)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    print(f"{prov['n_entries']} entries ({prov['alpaca_seconds']} s of ALPaca) written")
    return 0


def cmd_edge_holdout(args: argparse.Namespace) -> int:
    from . import data, datasets
    from .surrogate import TRAINING_SETS, training_arrays

    chi2_min = float(training_arrays(TRAINING_SETS)[1].min())
    prov = datasets.build_edge_holdout(chi2_min, workers=args.workers,
                                       progress=False if args.no_progress else None,
                                       out_dir=args.out_dir or data.SHIPPED_DIR)
    print(f"{prov['n_pairs']} pairs from {prov['n_starts_inside']} region points, "
          f"{prov['n_evaluated']} evaluations ({prov['n_failed']} failed)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from . import alps, data, design

    if args.design == "points":
        if not args.points:
            raise UsageError("--design points needs --points FILE.csv with columns "
                             f"{', '.join(alps.PARAMETERS)}")
        if not Path(args.points).is_file():
            raise UsageError(f"--points: no file {args.points}")
        df = pd.read_csv(args.points)
        missing = [p for p in alps.PARAMETERS if p not in df.columns]
        if missing:
            raise UsageError(f"{args.points} lacks columns {missing}")
        pts = df[list(alps.PARAMETERS)].to_numpy(dtype=float)
        meta = {"design": "points", "points_file": str(args.points)}
    else:
        if args.n is None:
            raise UsageError("--n is required for designs lhs and random")
        pts = design.make(args.design, args.n, args.seed)
        meta = {"design": args.design, "seed": args.seed}
    client = _executor(args)
    try:
        store = data.generate(args.out, pts, args.integrator, origins=args.design, meta=meta,
                              resume=args.resume, executor=client, workers=args.workers,
                              chunk_size=args.chunk_size,
                              progress=False if args.no_progress else None)
    finally:
        if client is not None:
            client.close()
    print(json.dumps(store.summary(), indent=2))
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from . import datasets

    out = {} if args.out_dir is None else {"out_dir": args.out_dir}
    if args.name in datasets.DENSE_RECIPES:
        stages = tuple(args.stage) if args.stage else datasets.DENSE_STAGES
        bad = [st for st in stages if st not in datasets.DENSE_STAGES]
        if bad:
            raise UsageError(f"dense sets have stages {datasets.DENSE_STAGES}, not {bad}")
        client = _executor(args)
        try:
            summary = datasets.build_dense(args.name, stages, workdir=args.workdir,
                                           workers=args.workers, executor=client,
                                           progress=False if args.no_progress else None,
                                           partial=args.partial, **out)
        finally:
            if client is not None:
                client.close()
        print(json.dumps(summary, indent=2, default=str))
        return 0
    stages = tuple(args.stage) if args.stage else datasets.STAGES
    runner = None
    if "active" in stages and datasets.RECIPES[args.name].n_active > 0:
        from .active import extend_train as runner  # the learner sits above the data layer
    client = _executor(args)
    try:
        summary = datasets.build(args.name, stages, workdir=args.workdir, workers=args.workers,
                                 executor=client, progress=False if args.no_progress else None,
                                 partial=args.partial, active_runner=runner, **out)
    finally:
        if client is not None:
            client.close()
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import data

    print(json.dumps(data.Store.open(args.store).summary(), indent=2))
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from . import data

    store = data.Store.open(args.store)
    print(data.compact(store))
    return 0


def cmd_running_table(args: argparse.Namespace) -> int:
    from . import alps

    out = args.out or alps.shipped_exact_running_path()
    table = alps.build_exact_running_table(workers=args.workers,
                                           progress=False if args.no_progress else None)
    alps.save_running_table(table, out, alps.exact_running_key())
    print(json.dumps({"path": str(out), "key": alps.exact_running_key(),
                      "shape": list(table.response.shape)}, indent=2))
    return 0


def cmd_term_library(args: argparse.Namespace) -> int:
    from . import calibration

    prov = calibration.build_prediction_library(
        n_domain=args.n_domain, n_region=args.n_region, seed=args.seed, path=args.out,
        progress=not args.no_progress)
    print(json.dumps({k: prov[k] for k in ("command", "n_domain", "n_region", "br_max")},
                     indent=2))
    return 0


def cmd_significance_validation(args: argparse.Namespace) -> int:
    from . import calibration

    record = calibration.build_validation(
        n_toys=args.n_toys, seed=args.seed, treatment=args.treatment,
        lifetime_min_m=args.lifetime_min_m, n_starts=args.n_starts, max_evaluations=args.maxfev,
        path=args.out, progress=not args.no_progress)
    print(json.dumps(record["summary"], indent=2))
    return 0


# --------------------------------------------------------------------------------------------
# tune: the surrogate's hyperparameters with optuna (lecture_utils.tuning)
# --------------------------------------------------------------------------------------------
def add_tune_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``python -m lecture_utils tune`` to ``parser``."""
    from . import surrogate as sg
    from .tuning import STAGES

    parser.add_argument("--stage", choices=(*STAGES, "both"), default="both")
    parser.add_argument("--n-trials", type=int, default=60, help="finished trials per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=1,
                        help="1: fixed validation split; k ≥ 2: stratified k-fold CV")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="trials asked at once (the result depends on it, not on --workers)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per batch")
    parser.add_argument("--timeout", type=float, default=None,
                        help="stop each stage after this many seconds (between batches)")
    parser.add_argument("--data", default=",".join(sg.TRAINING_SETS),
                        help="shipped data set(s) to tune on, comma-separated (default: the "
                             "course's training sets)")
    parser.add_argument("--transform", choices=sg.FEATURE_TRANSFORMS, default="running",
                        help="feature transform of the surrogate (lecture_utils.surrogate; the "
                             "course's surrogate uses 'running')")
    parser.add_argument("--max-estimators", type=int, default=sg.MAX_ESTIMATORS,
                        help="upper bound on trees per trial (early stopping picks the number)")
    parser.add_argument("--storage", default=None, help="optuna storage URL (default: SQLite "
                        "file in the package cache)")
    parser.add_argument("--study-prefix", default="surrogate",
                        help="studies are named PREFIX-STAGE-TRANSFORM-DATAHASH8 (resumed by "
                             "name)")
    parser.add_argument("--write", type=Path, default=None,
                        help="write the best hyperparameters here (with --stage both); default: "
                             "the shipped file")
    parser.add_argument("--no-write", action="store_true", help="do not write hyperparameters")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def tune_command_line(args: argparse.Namespace) -> str:
    """The canonical command reproducing a parsed ``tune`` call (everything that affects the
    result; ``--workers`` and output options do not)."""
    parts = ["python -m lecture_utils tune", f"--stage {args.stage}",
             f"--n-trials {args.n_trials}", f"--folds {args.folds}", f"--seed {args.seed}",
             f"--batch-size {args.batch_size}", f"--max-estimators {args.max_estimators}",
             f"--data {args.data}", f"--transform {args.transform}",
             f"--study-prefix {args.study_prefix}"]
    if args.timeout is not None:
        parts.append(f"--timeout {args.timeout:g}")
    if args.storage:
        parts.append(f"--storage {args.storage}")
    return " ".join(parts)


def cmd_tune(args: argparse.Namespace) -> int:
    """Execute a parsed ``tune`` command line; prints a JSON summary."""
    from . import surrogate as sg
    from . import tuning

    try:
        names = tuning.data_sets(args.data)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _data_set_names(names, "--data")
    points, chi2 = sg.training_arrays(names)
    dhash = sg.training_data_hash(points, chi2)
    stages = tuning.STAGES if args.stage == "both" else (args.stage,)
    studies = {}
    for stage in stages:
        name = tuning.study_name(args.study_prefix, stage, args.transform, dhash)
        studies[stage] = tuning.tune(points, chi2, stage, study_name=name, storage=args.storage,
                                     n_trials=args.n_trials, seed=args.seed,
                                     batch_size=args.batch_size, workers=args.workers,
                                     timeout=args.timeout, max_estimators=args.max_estimators,
                                     folds=args.folds, transform=args.transform,
                                     progress=False if args.no_progress else None)
    summary: dict[str, object] = {s: tuning.study_record(st) for s, st in studies.items()}
    if args.stage == "both" and not args.no_write:
        summary["written"] = str(tuning.write_hyperparameters(
            studies["gate"], studies["regressor"], path=args.write or sg.HYPERPARAMETERS_PATH,
            data_set=args.data, command=tune_command_line(args)))
    print(json.dumps(summary, indent=2, default=str))
    return 0


# --------------------------------------------------------------------------------------------
# active: extend the training set with actively chosen exact points (lecture_utils.active)
# --------------------------------------------------------------------------------------------
def add_active_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the sub-commands ``extend-train`` and ``gain`` of ``python -m lecture_utils active``."""
    from . import active, alps

    sub = parser.add_subparsers(dest="active_command", required=True)
    e = sub.add_parser("extend-train", help="extend the shipped train set with active points")
    e.add_argument("--n", type=int, required=True, help="number of new evaluations")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--integrator", choices=alps.INTEGRATORS, default="exact")
    e.add_argument("--initial", default="train", help="shipped data set to start from")
    e.add_argument("--out", type=Path, default=None,
                   help="run folder (default datasets/train/active)")
    e.add_argument("--region-model", choices=active.REGION_MODELS,
                   default=active.ALP_REGION_MODEL,
                   help="the learner's region model (the shipped extension under "
                   "datasets/train/active was made with 'gp')")
    e.add_argument("--workers", type=int, default=None)
    e.add_argument("--no-progress", action="store_true")
    g = sub.add_parser("gain", help="hold-out metrics of the surrogate without/with a run")
    g.add_argument("run", type=Path)
    return parser


def cmd_active(args: argparse.Namespace) -> int:
    """``extend-train``: :func:`lecture_utils.active.extend_train` (resumable); ``gain``:
    :func:`lecture_utils.active.holdout_gain` of a finished extension run."""
    from . import active

    if args.active_command == "extend-train":
        _data_set_names([args.initial], "--initial")
        run = active.extend_train(args.n, batch_size=args.batch_size, seed=args.seed,
                                  truth=args.integrator, initial=args.initial, store=args.out,
                                  learner_options={"region_model": args.region_model},
                                  workers=args.workers,
                                  progress=False if args.no_progress else None)
        print(run.history.to_string())
        print(f"{len(run.table[run.table['batch'] >= 0])} points in {run.path}")
    else:
        print(active.holdout_gain(active.load_run(args.run)).to_string())
    return 0


# sub-commands whose options need a slow import (optuna, scikit-learn): their parser is built only
# when the command is used; ``--help`` lists them without importing anything
_LAZY_COMMANDS = {
    "tune": (add_tune_arguments, cmd_tune,
             "tune the surrogate's hyperparameters with optuna"),
    "active": (add_active_arguments, cmd_active,
               "extend the training set with actively chosen exact points"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import alps, design

    p = OneLineParser(prog=PROG, description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lecture_utils {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def parallel(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: all cores)")
        sp.add_argument("--scheduler", default=None,
                        help="address of a dask.distributed scheduler (instead of local workers)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")

    g = sub.add_parser("generate", help="evaluate a design into a resumable store")
    g.add_argument("--design", choices=(*design.DESIGNS, "points"), default="lhs")
    g.add_argument("--n", type=int, default=None, help="number of points (lhs, random)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--points", type=Path, default=None, help="CSV of points (design 'points')")
    g.add_argument("--integrator", choices=alps.INTEGRATORS, default="exact")
    g.add_argument("--out", type=Path, required=True, help="store directory")
    g.add_argument("--resume", action="store_true", help="continue an existing store")
    g.add_argument("--chunk-size", type=int, default=None)
    parallel(g)
    g.set_defaults(func=cmd_generate)

    from .datasets import DEFAULT_WORKDIR, DENSE_RECIPES, DENSE_STAGES, RECIPES, STAGES

    d = sub.add_parser("dataset", help="(re)build a shipped data set from its recipe")
    d.add_argument("name", choices=sorted({*RECIPES, *DENSE_RECIPES}))
    d.add_argument("--stage", action="append", choices=sorted({*STAGES, *DENSE_STAGES}),
                   help="run only these stages (repeatable; default: all of the recipe's: "
                   f"{', '.join(STAGES)}; dense sets: {', '.join(DENSE_STAGES)})")
    d.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    d.add_argument("--out-dir", type=Path, default=None,
                   help="where to export the data set (default: the package's shipped data, "
                   "lecture_utils/data/resources)")
    d.add_argument("--partial", action="store_true",
                   help="export even if the exact stage is unfinished (marked in provenance)")
    parallel(d)
    d.set_defaults(func=cmd_dataset)

    s = sub.add_parser("status", help="summary of a store")
    s.add_argument("store", type=Path)
    s.set_defaults(func=cmd_status)

    c = sub.add_parser("compact", help="merge a store's chunk files")
    c.add_argument("store", type=Path)
    c.set_defaults(func=cmd_compact)

    es = sub.add_parser("evaluation-seed", help="write the shipped evaluation-cache entries "
                        "from a cache folder that the book filled (e.g. _build/cache)")
    es.add_argument("--cache", type=Path, required=True, help="the artefact cache folder")
    es.add_argument("--out", type=Path, default=None,
                    help="output file (default: the shipped lecture_utils/data file)")
    es.set_defaults(func=cmd_evaluation_seed)

    eh = sub.add_parser("edge-holdout", help="rebuild the shipped edge hold-out: pairs of "
                        "points straddling the region's edge (resumes through the point cache)")
    eh.add_argument("--workers", type=int, default=None,
                    help="local worker processes (default: all cores)")
    eh.add_argument("--out-dir", type=Path, default=None,
                    help="output folder (default: the shipped lecture_utils/data folder)")
    eh.add_argument("--no-progress", action="store_true", help="no progress bar")
    eh.set_defaults(func=cmd_edge_holdout)

    t = sub.add_parser("running-table", help="rebuild the shipped exact running table "
                       "(ALPaca's exact evolution per unit coupling on a grid of f_a)")
    t.add_argument("--out", type=Path, default=None,
                   help="output .npz (default: the shipped lecture_utils/data file)")
    t.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: all cores)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_running_table)

    lib = sub.add_parser("term-library", help="rebuild the shipped library of ALPaca's "
                         "term-by-term predictions (lecture_utils.calibration)")
    lib.add_argument("--n-domain", type=int, default=150, help="uniform points of the domain")
    lib.add_argument("--n-region", type=int, default=150, help="points of the fit region")
    lib.add_argument("--seed", type=int, default=0)
    lib.add_argument("--out", type=Path, default=None,
                     help="output .npz (default: the shipped lecture_utils/data file)")
    lib.add_argument("--no-progress", action="store_true", help="no progress lines")
    lib.set_defaults(func=cmd_term_library)

    v = sub.add_parser("significance-validation", help="full 6-D multi-start fits of a few "
                       "pseudo-experiments and of the data, against the reduced model")
    v.add_argument("--n-toys", type=int, default=3)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--treatment", default="as-is")
    v.add_argument("--lifetime-min-m", type=float, default=0.01)
    v.add_argument("--n-starts", type=int, default=2)
    v.add_argument("--maxfev", type=int, default=150, help="χ² evaluations per start")
    v.add_argument("--out", type=Path, default=None,
                   help="output .json (default: the shipped lecture_utils/data file)")
    v.add_argument("--no-progress", action="store_true", help="no progress lines")
    v.set_defaults(func=cmd_significance_validation)

    for name, (_, _, text) in _LAZY_COMMANDS.items():
        sub.add_parser(name, help=f"{text} (see: python -m lecture_utils {name} --help)",
                       add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m lecture_utils <command> …``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, :data:`USAGE_EXIT` after a user mistake, reported as one
        line on stderr (argparse's own errors exit the same way, through :class:`SystemExit`).
    """
    from .data import StoreError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # without building the parser (which imports the physics)
        print(f"lecture_utils {__version__}")
        return 0
    if argv[:1] and argv[0] in _LAZY_COMMANDS:
        add_arguments, command, text = _LAZY_COMMANDS[argv[0]]
        parser = add_arguments(OneLineParser(prog=f"{PROG} {argv[0]}", description=text))
        args = parser.parse_args(argv[1:])
    else:
        args = build_parser().parse_args(argv)
        command = args.func
    try:
        # numpy's default error handling for the command (whatever an imported library set),
        # restored afterwards: main() is also called in-process, e.g. by the tests
        with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
            return int(command(args))
    except (UsageError, StoreError) as exc:
        print(f"{PROG} {args.command if 'command' in args else argv[0]}: error: {exc}",
              file=sys.stderr)
        return USAGE_EXIT
