"""Start, find and stop the emulator server process, tracked by a JSON state file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STATE_NAME = "emulator.json"
LOG_NAME = "emulator.log"


@dataclass(frozen=True)
class Emulator:
    """A running emulator: its process and loopback endpoint."""

    pid: int
    port: int
    endpoint: str
    log: Path


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_ours(pid: int) -> bool:
    """True if ``pid`` is alive and is an emulator server (not a recycled pid)."""
    return "emulator.server" in _cmdline(pid)


def read_state(state_dir: Path) -> Emulator | None:
    """The emulator the state file describes, or None if there is no usable file."""
    path = state_dir / STATE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Emulator(
            int(data["pid"]), int(data["port"]), str(data["endpoint"]), state_dir / LOG_NAME
        )
    except (OSError, ValueError, KeyError):
        return None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(state_dir: Path, timeout: float = 60.0) -> Emulator:
    """Start ``python -m emulator.server`` detached; wait until it listens on 127.0.0.1."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_NAME).unlink(missing_ok=True)
    log = state_dir / LOG_NAME
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator.server", "--state", str(state_dir / STATE_NAME)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        emulator = read_state(state_dir)
        if emulator is not None and _port_open(emulator.port):
            return emulator
        if process.poll() is not None:
            raise RuntimeError(
                f"the emulator exited at start (code {process.returncode}); see {log}"
            )
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the emulator did not listen within {timeout:.0f}s; see {log}")


def alive(emulator: Emulator) -> bool:
    """Process still there and still accepting connections."""
    return is_ours(emulator.pid) and _port_open(emulator.port)


def stop(state_dir: Path, grace: float = 5.0) -> bool:
    """Stop the emulator of this state directory (if any); True if one was running."""
    emulator = read_state(state_dir)
    (state_dir / STATE_NAME).unlink(missing_ok=True)
    if emulator is None or not is_ours(emulator.pid):
        return False
    os.kill(emulator.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_ours(emulator.pid):
        time.sleep(0.1)
    if is_ours(emulator.pid):
        os.kill(emulator.pid, signal.SIGKILL)
    _reap(emulator.pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our child (tests start it in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
