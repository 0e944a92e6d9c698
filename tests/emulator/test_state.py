"""The state file (``.local/emulator.json``) going wrong never orphans an emulator.

Each server carries its state file's path on its command line, so ``down``, ``status`` and
``up`` find it when the file is corrupted, deleted, or points at another directory's emulator.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import driver, process
from tests.emulator.conftest import REPO, Session


def _emulator_command(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "--state-dir", str(state_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _serving(emulator: process.Emulator) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", emulator.port)) == 0


@pytest.mark.parametrize(
    "content", ['{"pid": 12', "", '{"port": 1}', "[1, 2]"], ids=["cut", "empty", "no-pid", "list"]
)
def test_inspect_state_tells_an_unusable_file_from_a_missing_one(
    tmp_path: Path, content: str
) -> None:
    assert process.inspect_state(tmp_path) == process.State(None)
    (tmp_path / process.STATE_NAME).write_text(content)
    state = process.inspect_state(tmp_path)
    assert state.emulator is None and state.problem


# long: two emulators started and an `up` (~3.9 s of CPU); make test keeps the state file's
# checks above and an emulator of another directory left alone
@pytest.mark.long
def test_corrupted_state_file_is_reported_and_up_stops_its_orphan(tmp_path: Path) -> None:
    orphan = process.start(tmp_path)
    said: list[str] = []
    try:
        (tmp_path / process.STATE_NAME).write_text('{"pid": 12')
        status = _emulator_command(tmp_path, "status")
        assert status.returncode == 1
        assert "is unusable (not JSON" in status.stdout
        assert f"pid {orphan.pid} runs without it" in status.stdout
        emulator, reused = driver._emulator(driver.UpOptions(REPO, tmp_path), said.append)
        assert not reused
        assert emulator.pid != orphan.pid
        assert not _serving(orphan)
        assert process.servers(tmp_path) == [emulator.pid]
        (stopped,) = [line for line in said if "was unusable (not JSON" in line]
        assert f"found by its command line (pid {orphan.pid})" in stopped
    finally:
        process.stop(tmp_path)


def test_state_naming_another_directorys_emulator_stops_only_ours(
    tmp_path: Path, session: Session
) -> None:
    other = session.emulator
    ours = process.start(tmp_path)
    described = {"pid": other.pid, "port": other.port, "endpoint": other.endpoint}
    (tmp_path / process.STATE_NAME).write_text(json.dumps(described))
    try:
        assert process.running(tmp_path) is None, "would deploy into another directory's emulator"
        down = _emulator_command(tmp_path, "down")
        assert down.returncode == 0, down.stderr
        assert f"no longer described, found by its command line (pid {ours.pid})" in down.stdout
        assert not _serving(ours)
        assert _serving(other), "stopped the emulator of another state directory"
    finally:
        process.stop(tmp_path)
