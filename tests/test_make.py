"""The Makefile's verbs as a user types them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import ROOT


def test_plain_make_prints_the_verbs_and_installs_nothing(tmp_path: Path) -> None:
    # given the Makefile alone in an empty folder (nothing to install from, nothing installed)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")

    # when a user types plain `make`
    result = subprocess.run(
        ["make", "--no-print-directory"], cwd=tmp_path, capture_output=True, text=True,
        timeout=30, check=False,
    )

    # then it lists every verb with what it does, and touches nothing
    assert result.returncode == 0, result.stdout + result.stderr
    verbs = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert {"install", "synth", "test", "diff", "deploy", "local", "help"} <= verbs, result.stdout
    assert "up to date" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]
