"""Serial vs parallel throughput of the evaluation engine on the same points.

    python benchmarks/engine.py [--n 12] [--workers 2] [--integrator exact]

Both runs evaluate the identical seeded Latin-hypercube points, side by side in one process. The
speed-up compares throughput with warm workers; the one-off pool start (each worker imports ALPaca,
~10 s) is printed separately, and with it included. The last line reads
``speedup: <x>; equal values: <bool>``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from lecture_utils import alps, design, engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--integrator", choices=alps.INTEGRATORS, default="exact")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    points = design.latin_hypercube(args.n, seed=args.seed)
    alps.load_alpaca()  # import + prime in this process so the serial run is not charged for it
    chunk = max(1, args.n // (4 * args.workers))

    t0 = time.perf_counter()
    serial = engine.evaluate(points, args.integrator, executor="serial", chunk_size=chunk,
                             progress=False)
    t_serial = time.perf_counter() - t0

    t0 = time.perf_counter()
    pool = engine.local_pool(args.workers)
    # start and initialise every worker (import ALPaca, fix its random draws) before timing
    list(pool.map(engine.worker_init_probe, range(args.workers)))
    t_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    parallel = engine.evaluate(points, args.integrator, executor=pool, chunk_size=chunk,
                               progress=False)
    t_parallel = time.perf_counter() - t0
    pool.shutdown()

    equal = bool(np.allclose(serial["chi2"], parallel["chi2"], rtol=1e-12, atol=0,
                             equal_nan=True))
    print(f"machine: {os.cpu_count()} cores; integrator {args.integrator}; {args.n} points; "
          f"chunk size {chunk}")
    print(f"{'mode':<22}{'wall [s]':>10}{'s/point':>10}{'points/s':>10}")
    rows = (("serial", t_serial), (f"{args.workers} workers", t_parallel),
            (f"{args.workers} workers + start", t_parallel + t_start))
    for name, t in rows:
        print(f"{name:<22}{t:>10.2f}{t / args.n:>10.3f}{args.n / t:>10.2f}")
    print(f"pool start (spawn + import ALPaca in each worker): {t_start:.1f} s, paid once per run")
    print(f"failures: serial {int((serial['status'] != 'ok').sum())}, "
          f"parallel {int((parallel['status'] != 'ok').sum())}")
    print(f"speedup: {t_serial / t_parallel:.2f}; equal values: {equal}")


if __name__ == "__main__":
    main()
