"""``make install`` (the first step of the first ``make local``) prints each stage, a line while a
long one runs, and its time (issue 18, point 4): never a minute of silence.

The recipe runs for real with stand-ins for the installers (``VENV`` points at a folder whose
``python``, ``uv`` and ``npm`` only record their arguments and sleep), so the test takes seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.integration.conftest import REPO

STAND_IN = """#!/bin/sh
echo "$0 $*" >> "{calls}"
sleep {seconds}
"""


def _stand_in(path: Path, calls: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STAND_IN.format(calls=calls, seconds=seconds))
    path.chmod(0o755)


def test_install_prints_every_stage_with_progress_and_time(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    calls = tmp_path / "calls.log"
    _stand_in(venv / "bin" / "python", calls, 0)
    _stand_in(venv / "bin" / "uv", calls, 1.5)  # a long stage: it ticks at 1 s
    _stand_in(venv / "bin" / "npm", calls, 0)
    _stand_in(venv / "tools" / "checkov" / "bin" / "python", calls, 0)
    result = subprocess.run(
        ["make", "--no-print-directory", "-B", "install", f"VENV={venv}", "INSTALL_TICK_SECONDS=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    stages = [line for line in lines if line.startswith("==> install [")]
    assert [line[: len("==> install [1/4]")] for line in stages] == [
        f"==> install [{n}/4]" for n in range(1, 5)
    ], result.stdout
    for n in range(1, 5):
        assert re.search(rf"^    \[{n}/4\] done in \d+ s$", result.stdout, re.MULTILINE), n
    assert "    [2/4] still installing: 1 s" in lines, result.stdout
    assert not [line for line in lines if "--quiet" in line], "the recipe's commands are echoed"
    assert (venv / ".installed-stamp").exists()
    installers = calls.read_text()
    assert "requirements-dev.txt" in installers and "requirements-checkov.txt" in installers
    assert " ci " in installers  # npm ci


def test_a_failing_stage_fails_the_install_without_a_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    calls = tmp_path / "calls.log"
    for name in ("bin/python", "bin/npm", "tools/checkov/bin/python"):
        _stand_in(venv / name, calls, 0)
    (venv / "bin" / "uv").write_text("#!/bin/sh\necho 'uv: no such package' >&2\nexit 3\n")
    (venv / "bin" / "uv").chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "-B", "install", f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )
    assert result.returncode != 0
    assert "uv: no such package" in result.stderr
    assert "[2/4] done" not in result.stdout
    assert not (venv / ".installed-stamp").exists()
