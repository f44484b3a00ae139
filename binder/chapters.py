"""Execute the book's notebooks as a Binder user opens them, and measure each one.

``binder/postBuild`` runs this once over every notebook of the book so that the caches the
chapters read (the course surrogate, compiled libraries, posteriors, exact evaluations) are built
into the image: a student's first run of a chapter then only reads them. The Binder simulation
test (``tests/test_binder.py``) runs it again with ``--cpus 1 --report FILE`` to measure, per
notebook, the wall time and the peak memory of the kernel and every process it starts (summed
proportional set sizes, sampled every 0.2 s).

Usage::

    python binder/chapters.py [--cpus N] [--report FILE] [--timeout S] [NOTEBOOK ...]

Without NOTEBOOK arguments: every notebook listed in ``_toc.yml``, in the order of the book.
Exit status 1 if a notebook raises.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

import jupytext
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.2


def book_notebooks(root: Path = ROOT) -> list[Path]:
    """The MyST notebooks of ``_toc.yml`` (pages whose jupytext header names a kernel), in order."""
    entries = re.findall(r"(?:file|root):\s*([\w./-]+)", (root / "_toc.yml").read_text())
    found = []
    for entry in entries:
        path = root / f"{entry}.md"
        if path.is_file() and "kernelspec:" in path.read_text(encoding="utf-8")[:2000]:
            found.append(path)
    return found


def _proportional_memory(process: psutil.Process) -> int:
    """Bytes of memory ``process`` accounts for: its proportional set size (pages shared with other
    processes, e.g. forked workers, divided among them), else its resident set size."""
    try:
        return int(process.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return int(process.memory_info().rss)


class TreeMemory:
    """Peak memory [bytes] of this process's descendants (the kernel and every process it starts),
    summed proportional set sizes, sampled in a background thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += _proportional_memory(child)
                except psutil.Error:
                    pass  # the process ended between listing and reading
            self.peak = max(self.peak, total)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def execute(path: Path, timeout: float) -> dict[str, object]:
    """Execute one notebook in its own folder; its time [s], peak memory [MB] and error."""
    notebook = jupytext.read(path)
    client = NotebookClient(notebook, timeout=timeout, startup_timeout=180,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error = None
    start = time.perf_counter()
    with TreeMemory() as memory:
        try:
            client.execute()
        except Exception as exc:  # noqa: BLE001 - reported per notebook, the run goes on
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
    return {"notebook": path.relative_to(ROOT).as_posix(),
            "seconds": round(time.perf_counter() - start, 1),
            "peak_mb": round(memory.peak / 2**20), "error": error}


def cpu_model() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--cpus", type=int, default=None,
                        help="pin this process and the kernels to the first N CPUs")
    parser.add_argument("--report", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--timeout", type=float, default=900, help="per cell [s]")
    args = parser.parse_args(argv)
    if args.cpus is not None:
        allowed = sorted(os.sched_getaffinity(0))
        if not 1 <= args.cpus <= len(allowed):
            parser.error(f"--cpus must be between 1 and {len(allowed)}")
        os.sched_setaffinity(0, allowed[:args.cpus])
    notebooks = [p.resolve() for p in args.notebooks] or book_notebooks()
    results = []
    for path in notebooks:
        result = execute(path, args.timeout)
        results.append(result)
        status = "ok" if result["error"] is None else f"FAILED ({result['error']})"
        print(f"{result['notebook']}: {result['seconds']:.0f} s, peak {result['peak_mb']} MB "
              f"({status})", flush=True)
    if args.report is not None:
        args.report.write_text(json.dumps({
            "cpus": len(os.sched_getaffinity(0)),
            "machine": f"{cpu_model()}, {os.cpu_count()} cores",
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
            "notebooks": results,
        }, indent=1) + "\n")
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
