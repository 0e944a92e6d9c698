"""The benchmarks a user runs by hand answer a mistake with their usage, not a traceback, and
make_synth_benchmark.sh's options are what its header says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCALE = ROOT / "bench" / "scale_benchmark.py"


@pytest.mark.parametrize(("args", "problem"), [
    (["two"], "sizes are positive whole numbers of services"),
    (["0"], "sizes are positive whole numbers of services"),
    (["-c", "db.allocatedStorageGib"], "-c takes KEY=JSON"),
    (["--profile"], "--profile takes a number of services"),
])
def test_scale_benchmark_names_a_mistake_with_its_usage(args: list[str], problem: str) -> None:
    result = subprocess.run([sys.executable, str(SCALE), *args], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr and "usage: bench/scale_benchmark.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_scale_benchmark_help_prints_its_usage() -> None:
    result = subprocess.run([sys.executable, str(SCALE), "--help"], capture_output=True,
                            text=True, timeout=120, check=True)
    assert "Usage: bench/scale_benchmark.py" in result.stdout


def test_make_synth_benchmark_rejects_a_bad_round_count() -> None:
    result = subprocess.run(["bash", str(ROOT / "bench" / "make_synth_benchmark.sh"), "x"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "usage:" in result.stderr, result.stderr
