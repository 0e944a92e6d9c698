"""Every process the runtime starts, recorded in the state directory (``.local/tasks/pids/``).

A task runs in its own process group (its children end with it). The record keeps the pid, the
command line and the process's start time, so a restarted emulator or ``make local-stop`` can end
the orphans of an emulator that was killed (``kill -9``) without ever signalling a process that
merely reuses a recorded pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PIDS_DIR = Path("tasks") / "pids"


def _directory(state_dir: Path) -> Path:
    return state_dir / PIDS_DIR


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(") ", 1)[-1].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc``); None when it is gone."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def command_line(pid: int) -> list[str]:
    """The process's arguments (empty when it is gone or unreadable)."""
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part for part in raw.decode(errors="replace").split("\0") if part]
    return []


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat(pid)
    if fields is None:
        return False
    return fields[0] != "Z"


@dataclass(frozen=True)
class Record:
    """One started process."""

    pid: int
    argv: list[str]
    started: str | None
    label: str

    def same_process(self) -> bool:
        """True if ``pid`` is still this process (same command line and start time)."""
        return (
            alive(self.pid)
            and command_line(self.pid) == self.argv
            and start_time(self.pid) == self.started
        )


def record(state_dir: Path, pid: int, argv: Sequence[str], label: str) -> Record:
    """Write the record of a process just started."""
    entry = Record(pid, list(argv), start_time(pid), label)
    directory = _directory(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{pid}.tmp"
    tmp.write_text(json.dumps(entry.__dict__), encoding="utf-8")
    tmp.replace(directory / f"{pid}.json")
    return entry


def forget(state_dir: Path, pid: int) -> None:
    """Drop the record of a process that has ended."""
    (_directory(state_dir) / f"{pid}.json").unlink(missing_ok=True)


def records(state_dir: Path) -> list[Record]:
    """Every record (unreadable ones are dropped: they can name no process safely)."""
    found = []
    directory = _directory(state_dir)
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                Record(int(data["pid"]), list(data["argv"]), data["started"], data["label"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
    return found


def terminate(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group of ``pid``, SIGKILL it after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        _reap(pid)
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def reap(state_dir: Path, grace: float = 5.0) -> list[Record]:
    """End every recorded process that still runs (checked by command line and start time) and
    drop every record; returns the processes ended."""
    ended = []
    for entry in records(state_dir):
        if entry.same_process():
            terminate(entry.pid, grace)
            ended.append(entry)
        forget(state_dir, entry.pid)
    return ended
