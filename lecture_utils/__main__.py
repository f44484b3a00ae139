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
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _executor(args: argparse.Namespace):  # noqa: ANN202
    if getattr(args, "scheduler", None):
        from distributed import Client

        return Client(args.scheduler)
    return None


def cmd_generate(args: argparse.Namespace) -> int:
    from . import alps, data, design

    if args.design == "points":
        if not args.points:
            raise SystemExit("--design points needs --points FILE.csv with columns "
                             f"{', '.join(alps.PARAMETERS)}")
        df = pd.read_csv(args.points)
        missing = [p for p in alps.PARAMETERS if p not in df.columns]
        if missing:
            raise SystemExit(f"{args.points} lacks columns {missing}")
        pts = df[list(alps.PARAMETERS)].to_numpy(dtype=float)
        meta = {"design": "points", "points_file": str(args.points)}
    else:
        if args.n is None:
            raise SystemExit("--n is required for designs lhs and random")
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

    if args.name in datasets.DENSE_RECIPES:
        stages = tuple(args.stage) if args.stage else datasets.DENSE_STAGES
        bad = [st for st in stages if st not in datasets.DENSE_STAGES]
        if bad:
            raise SystemExit(f"dense sets have stages {datasets.DENSE_STAGES}, not {bad}")
        client = _executor(args)
        try:
            summary = datasets.build_dense(args.name, stages, workdir=args.workdir,
                                           workers=args.workers, executor=client,
                                           progress=False if args.no_progress else None,
                                           partial=args.partial)
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
                                 partial=args.partial, active_runner=runner)
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


def build_parser() -> argparse.ArgumentParser:
    from . import alps, design

    p = argparse.ArgumentParser(prog="python -m lecture_utils", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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

    t = sub.add_parser("running-table", help="rebuild the shipped exact running table "
                       "(ALPaca's exact evolution per unit coupling on a grid of f_a)")
    t.add_argument("--out", type=Path, default=None,
                   help="output .npz (default: the shipped lecture_utils/data file)")
    t.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: all cores)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_running_table)

    # listed for --help; parsed by lecture_utils.tuning (imported only when used: optuna is slow
    # to import and the data commands do not need it)
    sub.add_parser("tune", help="tune the surrogate's hyperparameters with optuna "
                   "(see: python -m lecture_utils tune --help)", add_help=False)
    sub.add_parser("active", help="extend the training set with actively chosen exact points "
                   "(see: python -m lecture_utils active --help)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["tune"]:
        from . import tuning

        return tuning.main(argv[1:])
    if argv[:1] == ["active"]:
        from . import active

        return active.main(argv[1:])
    args = build_parser().parse_args(argv)
    np.seterr(all="warn")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
