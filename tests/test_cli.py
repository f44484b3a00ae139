"""The command line's contract with its user: ``--version``, and one line on stderr with exit
status 2 (no traceback) for every user mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lecture_utils
from lecture_utils import cli


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lecture_utils {lecture_utils.__version__}"


def test_version_option_of_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    assert lecture_utils.__version__ in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["status", "{tmp}/no-store"], "no store at"),
    (["compact", "{tmp}"], "no store at"),
    (["generate", "--design", "points", "--points", "{tmp}/missing.csv", "--out", "{tmp}/s"],
     "no file"),
    (["generate", "--n", "2", "--out", "{tmp}/s", "--scheduler", "no-port"],
     "cannot connect to the dask scheduler at 'no-port'"),
    (["generate", "--n", "2", "--out", "{tmp}/s", "--scheduler", "foo://host:1"],
     "cannot connect to the dask scheduler"),
    (["generate", "--design", "points", "--out", "{tmp}/s"], "needs --points"),
    (["generate", "--design", "lhs", "--out", "{tmp}/s"], "--n is required"),
    (["dataset", "dense", "--stage", "exact", "--workdir", "{tmp}/w"], "dense sets have stages"),
    (["tune", "--data", "train,nosuch"], "unknown data set(s) ['nosuch']"),
    (["tune", "--data", ","], "--data names no data set"),
    (["active", "extend-train", "--n", "4", "--initial", "nosuch"], "unknown data set(s)"),
])
def test_user_mistakes_are_one_line_with_status_2(
        argv: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == cli.USAGE_EXIT
    line = _stderr_line(capsys)
    assert line.startswith(f"{cli.PROG} {argv[0]}: error: ")
    assert message in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv", [
    ["dataset", "nosuch"],                    # unknown recipe
    ["nosuch-command"],
    [],
    ["status"],                               # missing argument
    ["generate", "--out", "x", "--integrator", "nosuch"],
    ["tune", "--n-trials", "many"],           # a lazily built parser
])
def test_argument_errors_are_one_line_with_status_2(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.USAGE_EXIT
    line = _stderr_line(capsys)
    assert ": error: " in line and "--help" in line


def test_the_installed_entry_point_reports_a_missing_store(tmp_path: Path) -> None:
    """The real process: exit status 2 and one line, through ``python -m lecture_utils``."""
    proc = subprocess.run([sys.executable, "-m", "lecture_utils", "status",
                           str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"python -m lecture_utils status: error: no store at {tmp_path / 'missing'} "
        "(missing meta.json or design.csv)"]
