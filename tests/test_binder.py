"""Binder reproduces the pinned environment: binder/requirements.txt pins exactly the dev lock, and
(slow) a fresh environment installed from binder/ as Binder does executes a chapter."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def _normalise(name: str) -> str:
    """PEP 503 name normalisation (``Foo_Bar.baz`` and ``foo-bar-baz`` are the same project)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(path: Path) -> list[tuple[int, str]]:
    """``(first line number, text)`` of every requirement in a pip requirements file: comments
    removed, backslash continuations (a lock's ``--hash`` options) joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text:
            out.append((start, text))
    return out


def read_pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` requirement (with an optional
    environment marker and ``--hash`` options); other lines must be the editable install of this
    repository."""
    pins: dict[str, str] = {}
    for number, line in logical_lines(path):
        match = PIN.match(line)
        if match is None:
            if line in {"-e .", "-e ..", "."}:
                continue
            raise AssertionError(f"{path.name}:{number}: not an exact pin: {line!r}")
        name = _normalise(match.group(1))
        assert name not in pins, f"{path.name}:{number}: {name} pinned twice"
        pins[name] = match.group(3)
    return pins


def pins_for_this_platform(path: Path) -> set[str]:
    """Names pinned in ``path`` whose environment marker holds here (Linux, Python 3.12, like
    Binder): a universal lock also pins, e.g., xgboost for macOS only."""
    from packaging.markers import Marker

    names = set()
    for _, line in logical_lines(path):
        match = PIN.match(line)
        if match is None:
            continue
        requirement = line.split("--hash", 1)[0]
        marker = requirement.split(";", 1)[1].strip() if ";" in requirement else ""
        if not marker or Marker(marker).evaluate():
            names.add(_normalise(match.group(1)))
    return names


def test_binder_pins_the_runtime_lock_exactly() -> None:
    """Binder runs the chapters with exactly the versions the runtime lock pins."""
    lock = {name: version for name, version in read_pins(ROOT / "requirements.lock").items()
            if name in pins_for_this_platform(ROOT / "requirements.lock")}
    binder = read_pins(BINDER / "requirements.txt")
    assert lock, "requirements.lock has no pins"
    missing = sorted(set(lock) - set(binder))
    differ = {n: (lock[n], binder[n]) for n in set(lock) & set(binder) if lock[n] != binder[n]}
    assert not (missing or differ), (
        "binder/requirements.txt drifted from requirements.lock (run `make lock`): "
        f"missing {missing}, different versions (lock, binder) {differ}")


DEV_ONLY = ("pytest", "nbval", "playwright", "jupyter-book", "sphinx-exercise", "ruff",
            "import-linter", "uv")
"""Tools that build or test the book: the dev lock has them, Binder must not."""


def test_binder_is_lean() -> None:
    binder = read_pins(BINDER / "requirements.txt")
    dev = read_pins(ROOT / "requirements-dev.lock")
    assert all(name in dev for name in DEV_ONLY), "DEV_ONLY names a package the dev lock lacks"
    present = [name for name in DEV_ONLY if name in binder]
    assert not present, f"binder/requirements.txt installs build/test tools: {present}"
    assert len(binder) < len(dev)


def test_binder_jupyterlab_agrees_with_repo2docker() -> None:
    """repo2docker's default notebook server wants jupyterlab < 4.5."""
    major, minor = (int(v) for v in read_pins(BINDER / "requirements.txt")["jupyterlab"]
                    .split(".")[:2])
    assert (major, minor) < (4, 5)


def test_binder_opens_the_chapters_as_notebooks() -> None:
    """postBuild installs JupyterLab settings that make jupytext's notebook view the default
    viewer of Markdown (the chapters are MyST Markdown)."""
    settings_file = BINDER / "jupyterlab-settings" / "docmanager.jupyterlab-settings"
    text = "\n".join(line for line in settings_file.read_text().splitlines()
                     if not line.strip().startswith("//"))
    viewers = json.loads(text)["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"
    post_build = (BINDER / "postBuild").read_text()
    assert "docmanager-extension" in post_build and settings_file.name in post_build
    assert "jupyterlab-myst" in read_pins(BINDER / "requirements.txt")


def test_binder_python_matches_the_project() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == "python-3.12"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires.startswith(">=3.12") or "3.12" in requires


@pytest.mark.parametrize("package", ["jupytext", "ipykernel", "myst-nb", "lecture_utils"])
def test_binder_installs_what_the_notebooks_need(package: str) -> None:
    """jupytext opens the .md chapters as notebooks; the package is installed by postBuild."""
    if package == "lecture_utils":
        post_build = BINDER / "postBuild"
        assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
        assert re.search(r"pip install --no-deps -e \.", post_build.read_text())
    else:
        assert package in read_pins(BINDER / "requirements.txt")


# ---------------------------------------------------------------------------------------------
# Binder readiness, end to end (slow: a fresh environment is installed from the package index)
# ---------------------------------------------------------------------------------------------
BINDER_CHAPTER = os.environ.get("BINDER_CHAPTER", "notebooks/01_statistics.md")

EXECUTE_CHAPTER = """
import sys, time
import jupytext
from nbclient import NotebookClient

source, cwd = sys.argv[1], sys.argv[2]
start = time.perf_counter()
nb = jupytext.read(source)
NotebookClient(nb, timeout=600, startup_timeout=180, kernel_name="python3",
               resources={"metadata": {"path": cwd}}).execute()
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
          if o.get("output_type") == "error"]
print(f"executed {sum(c.cell_type == 'code' for c in nb.cells)} code cells of {source} "
      f"in {time.perf_counter() - start:.1f} s; errors: {len(errors)}")
sys.exit(1 if errors else 0)
"""


def _repository_files() -> list[Path]:
    """What a clone holds: tracked files plus untracked ones that git does not ignore."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files a clone would hold")
    listed = subprocess.run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return [Path(os.fsdecode(p)) for p in listed if p and (ROOT / os.fsdecode(p)).is_file()]


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> float:
    """Run ``cmd``; fail the test with its output if it fails. Returns the wall time [s]."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed (exit {proc.returncode}) after {seconds:.0f} s:\n"
        f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")
    return seconds


def _binder_environment(tmp_path: Path, *, warm: bool) -> tuple[Path, Path, dict[str, str],
                                                                  dict[str, float]]:
    """Install binder/ exactly as Binder's Python build pack does (``pip install -r
    binder/requirements.txt``, then ``binder/postBuild`` from the repository root) into a fresh
    virtual environment over a clean copy of the repository. The caches go to a fresh folder
    (``XDG_CACHE_HOME``), as in a new image; ``warm=False`` skips postBuild's warming run.
    Returns the clone, the venv's bin folder, the environment and the timings [s]."""
    if sys.version_info[:2] != (3, 12):
        pytest.skip("binder/runtime.txt asks for Python 3.12; run this test with it")
    clone = tmp_path / "repo"
    for rel in _repository_files():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, clone / rel)
    venv = tmp_path / "binder-venv"
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MPLBACKEND",
                        "LECTURE_UTILS_CACHE", "LECTURE_UTILS_TEST_CACHE"}}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               LECTURE_UTILS_PROGRESS="0", PIP_DISABLE_PIP_VERSION_CHECK="1",
               XDG_CACHE_HOME=str(tmp_path / "cache"),
               LECTURE_UTILS_BINDER_WARM="1" if warm else "0")
    timings = {"venv": _run([sys.executable, "-m", "venv", str(venv)], cwd=clone, env=env,
                            timeout=300)}
    timings["pip install -r binder/requirements.txt"] = _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-r", "binder/requirements.txt"],
        cwd=clone, env=env, timeout=1800)
    timings["binder/postBuild"] = _run([str(clone / "binder" / "postBuild")], cwd=clone, env=env,
                                       timeout=3600)
    # the package is imported from the clone, not from this checkout
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import lecture_utils; print(lecture_utils.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(clone), where.stdout
    return clone, bin_dir, env, timings


@pytest.mark.slow
def test_binder_environment_executes_a_chapter(tmp_path: Path) -> None:
    """A fresh environment installed from binder/ as Binder does opens a chapter through
    jupytext and executes it with nbclient. Needs the package index (minutes)."""
    clone, bin_dir, env, timings = _binder_environment(tmp_path, warm=False)
    chapter = clone / BINDER_CHAPTER
    assert chapter.is_file(), f"{BINDER_CHAPTER} is not in the repository"
    timings[f"execute {BINDER_CHAPTER}"] = _run(
        [str(bin_dir / "python"), "-c", EXECUTE_CHAPTER, str(chapter), str(chapter.parent)],
        cwd=clone, env=env, timeout=1200)
    print("Binder environment timings [s]: "
          + ", ".join(f"{k}: {v:.0f}" for k, v in timings.items()))


# What a Binder container gives (mybinder.org: 1 CPU guaranteed, 2 GB of memory) and what a
# student should wait at most for a chapter there.
BINDER_CPUS = 1
BINDER_MEMORY_MB = 2048
BINDER_CHAPTER_SECONDS = 180
BINDER_REPORT = ROOT / "_build" / "binder-measurements.json"
MEASURED = BINDER / "measurements.json"


@pytest.mark.slow
@pytest.mark.binder
def test_binder_simulation_every_notebook_on_one_cpu(tmp_path: Path) -> None:
    """The Binder simulation: a fresh environment from binder/ whose postBuild warms the caches,
    then every notebook of the book executed on one CPU, each within the time and memory a
    Binder container gives (peak memory of the kernel and its worker processes). The report
    goes to _build/binder-measurements.json (copied to binder/measurements.json for the book)."""
    clone, bin_dir, env, timings = _binder_environment(tmp_path, warm=True)
    report = tmp_path / "report.json"
    proc = subprocess.run([str(bin_dir / "python"), "binder/chapters.py",
                           "--cpus", str(BINDER_CPUS), "--report", str(report)],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=7200)
    print(proc.stdout)
    assert report.is_file(), proc.stderr[-4000:]
    measured = json.loads(report.read_text())
    measured["postbuild_seconds"] = round(timings["binder/postBuild"])
    BINDER_REPORT.parent.mkdir(exist_ok=True)
    BINDER_REPORT.write_text(json.dumps(measured, indent=1) + "\n")
    assert proc.returncode == 0, f"a notebook failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert measured["cpus"] == BINDER_CPUS
    too_slow = [r for r in measured["notebooks"] if r["seconds"] > BINDER_CHAPTER_SECONDS]
    too_big = [r for r in measured["notebooks"] if r["peak_mb"] > BINDER_MEMORY_MB]
    assert not too_slow, f"slower than {BINDER_CHAPTER_SECONDS} s on one CPU: {too_slow}"
    assert not too_big, f"more than {BINDER_MEMORY_MB} MB: {too_big}"


def test_measured_binder_report_covers_every_notebook() -> None:
    """binder/measurements.json (the last simulation's report, shown on the how-to-run page)
    covers every notebook of the book, each executed without error, with its time and memory
    (whether they meet the goals is the simulation test's verdict)."""
    sys.path.insert(0, str(BINDER))
    try:
        from chapters import book_notebooks
    finally:
        sys.path.remove(str(BINDER))
    measured = json.loads(MEASURED.read_text())
    names = [r["notebook"] for r in measured["notebooks"]]
    assert names == [p.relative_to(ROOT).as_posix() for p in book_notebooks()]
    assert measured["cpus"] == BINDER_CPUS and measured["postbuild_seconds"] > 0
    for r in measured["notebooks"]:
        assert r["error"] is None, r
        assert r["seconds"] > 0 and r["peak_mb"] > 0, r


def test_post_build_warms_the_caches_unless_asked_not_to() -> None:
    text = (BINDER / "postBuild").read_text()
    assert "binder/chapters.py" in text and "LECTURE_UTILS_BINDER_WARM" in text
