"""Start, find and stop the emulator server process, tracked by a JSON state file.

The state file says which emulator a state directory runs (pid, port, endpoint). It is not
the only record: each server is started with that file's absolute path on its command line,
so :func:`servers` finds every server of a state directory even when the file is missing,
truncated or corrupted, and :func:`stop` never leaves one running unnoticed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator import answer_timeout_seconds

STATE_NAME = "emulator.json"
LOG_NAME = "emulator.log"
SERVER_MODULE = "emulator.server"


@dataclass(frozen=True)
class Emulator:
    """A running emulator: its process and loopback endpoint."""

    pid: int
    port: int
    endpoint: str
    log: Path


@dataclass(frozen=True)
class State:
    """What a state directory's file says: an emulator, nothing (no file), or a problem."""

    emulator: Emulator | None
    problem: str | None = None
    """Why the file exists but cannot be used (``None`` when it is fine or absent)."""


@dataclass(frozen=True)
class Stopped:
    """What :func:`stop` did."""

    pids: list[int] = field(default_factory=list)
    """Emulator servers stopped."""
    problem: str | None = None
    """Why the state file could not be used, when it could not."""
    found_by_command_line: bool = False
    """True when a server was found by its command line, not through the state file."""

    def __bool__(self) -> bool:
        return bool(self.pids)

    def describe(self, state_dir: Path) -> str | None:
        """One line for the user, or None when there was nothing to say."""
        state_file = state_dir / STATE_NAME
        stopped = ", ".join(str(p) for p in self.pids)
        if self.problem and self.pids:
            return (
                f"{state_file} was unusable ({self.problem}); stopped the emulator it had "
                f"described, found by its command line (pid {stopped})"
            )
        if self.problem:
            return f"{state_file} was unusable ({self.problem}); no emulator of it was running"
        if self.found_by_command_line:
            return (
                f"stopped an emulator that {state_file} no longer described, found by its "
                f"command line (pid {stopped})"
            )
        if self.pids:
            return f"stopped the emulator (pid {stopped})"
        return None


def state_file(state_dir: Path) -> Path:
    """The absolute path of the state file: also the server's marker on its command line."""
    return (state_dir / STATE_NAME).resolve()


def _command_lines() -> dict[int, list[str]]:
    """Every process's argument list (``/proc`` on Linux, ``ps`` elsewhere)."""
    found: dict[int, list[str]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    raw = (entry / "cmdline").read_bytes()
                    found[int(entry.name)] = raw.decode(errors="replace").split("\0")
        return found
    listing = subprocess.run(
        ["ps", "-axo", "pid=,command="], capture_output=True, text=True, check=False, timeout=30
    )
    for line in listing.stdout.splitlines():
        pid, _, command = line.strip().partition(" ")
        if pid.isdigit():
            found[int(pid)] = command.split()
    return found


def command_line(pid: int) -> list[str]:
    """A process's arguments (empty when it is gone)."""
    return _command_lines().get(pid, [])


def _serves(argv: Sequence[str], marker: str) -> bool:
    """True for ``python -m emulator.server --state MARKER ...``."""
    return SERVER_MODULE in argv and any(
        a == "--state" and b == marker for a, b in itertools.pairwise(argv)
    )


def servers(state_dir: Path) -> list[int]:
    """Pids of the emulator servers started for this state directory, found by command line."""
    marker = str(state_file(state_dir))
    return sorted(
        pid
        for pid, argv in _command_lines().items()
        if pid != os.getpid() and _serves(argv, marker)
    )


def is_ours(pid: int, state_dir: Path) -> bool:
    """True if ``pid`` is alive and is this state directory's server (not a recycled pid, not
    another directory's emulator)."""
    return pid in servers(state_dir)


def inspect_state(state_dir: Path) -> State:
    """Read the state file, telling a missing file from an unusable one."""
    path = state_dir / STATE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State(None)
    except OSError as error:
        return State(None, f"cannot be read: {error.strerror}")
    try:
        data = json.loads(text)
        emulator = Emulator(
            int(data["pid"]), int(data["port"]), str(data["endpoint"]), state_dir / LOG_NAME
        )
    except ValueError as error:
        return State(None, f"not JSON: {error}")
    except (KeyError, TypeError) as error:
        return State(None, f"no {error} in it" if isinstance(error, KeyError) else str(error))
    if emulator.pid <= 0:
        # os.kill(0 or -N, ...) would signal a whole process group
        return State(None, f"pid {emulator.pid} is not a process id (one above 0)")
    if not 0 < emulator.port < 65536:
        return State(None, f"port {emulator.port} is not a port (1-65535)")
    return State(emulator)


def read_state(state_dir: Path) -> Emulator | None:
    """The emulator the state file describes, or None if there is no usable file."""
    return inspect_state(state_dir).emulator


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


BYTECODE_CACHE = Path(sys.prefix) / "emulator-pycache"
"""Where the server keeps compiled bytecode when the environment forbids writing it next to the
sources (``PYTHONDONTWRITEBYTECODE``): inside the virtualenv, never in a source tree."""


def server_environment() -> dict[str, str]:
    """The server's environment: this one, but with moto's bytecode cached. moto is ~1,500
    modules; compiled from source at every start (``PYTHONDONTWRITEBYTECODE`` set and installers
    like uv that do not precompile) the server took 7-8 s to listen instead of 3 s."""
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env.setdefault("PYTHONPYCACHEPREFIX", str(BYTECODE_CACHE))
    return env


def start(
    state_dir: Path, timeout: float = 60.0, lambda_custom_resources: Sequence[str] = ()
) -> Emulator:
    """Start ``python -m emulator.server`` detached; wait until it listens on 127.0.0.1."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_NAME).unlink(missing_ok=True)
    log = state_dir / LOG_NAME
    extra = [a for t in lambda_custom_resources for a in ("--lambda-custom-resource", t)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--state", str(state_file(state_dir)), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
            env=server_environment(),
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
    raise RuntimeError(
        f"the emulator server (pid {process.pid}) did not listen on 127.0.0.1 within "
        f"{timeout:.0f}s; see {log}"
    )


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def unanswered(emulator: Emulator, timeout: float | None = None) -> str | None:
    """None when the emulator's endpoint answers its health check as this emulator's pid
    within ``timeout`` (default :func:`emulator.answer_timeout_seconds`); else what went wrong,
    naming the endpoint."""
    seconds = answer_timeout_seconds() if timeout is None else timeout
    url = f"{emulator.endpoint}/_emulator/health"
    try:
        with _NO_PROXY.open(url, timeout=seconds) as response:
            pid = json.loads(response.read()).get("pid")
    except (OSError, ValueError) as error:  # URLError, timeouts and refusals are OSErrors
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"{url} did not answer within {seconds:.0f}s"
        return f"{url} did not answer ({reason})"
    if pid != emulator.pid:
        return f"{url} is served by pid {pid}, not by the emulator's pid {emulator.pid}"
    return None


class Health:
    """Whether an emulator still serves, asked often and cheaply: its process and its port at
    each call, and at most every :data:`PROBE_INTERVAL_SECONDS` an answer over HTTP (a process
    that is stopped, or wedged, still accepts connections)."""

    PROBE_INTERVAL_SECONDS = 5.0

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._next_probe = time.monotonic() + self.PROBE_INTERVAL_SECONDS

    def _gone(self) -> str | None:
        emulator = self.emulator
        if not _pid_alive(emulator.pid):
            return f"the emulator (pid {emulator.pid}) exited"
        if not _port_open(emulator.port):
            return f"the emulator (pid {emulator.pid}) stopped listening on {emulator.endpoint}"
        return None

    def problem(self) -> str | None:
        """Why the emulator no longer serves, or None."""
        gone = self._gone()
        if gone is not None or time.monotonic() < self._next_probe:
            return gone
        found = unanswered(self.emulator)
        self._next_probe = time.monotonic() + self.PROBE_INTERVAL_SECONDS
        if found is None:
            return None
        # a probe refused because the process died meanwhile: say that, not "did not answer"
        return self._gone() or f"the emulator (pid {self.emulator.pid}): {found}"


def alive(emulator: Emulator) -> bool:
    """Process still there and still accepting connections."""
    return _pid_alive(emulator.pid) and _port_open(emulator.port)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    _reap(pid)
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
        return state != "Z"
    return True


def running(state_dir: Path) -> Emulator | None:
    """The emulator of this state directory if its file is fine and it serves; else None."""
    emulator = read_state(state_dir)
    if emulator is None or not is_ours(emulator.pid, state_dir) or not alive(emulator):
        return None
    return emulator


def stop(state_dir: Path, grace: float = 5.0) -> Stopped:
    """Stop every emulator server of this state directory and remove the state file.

    The servers are found by command line, so one is stopped even when the file is missing
    or corrupted; the result says which, and why the file could not be used.
    """
    state = inspect_state(state_dir)
    (state_dir / STATE_NAME).unlink(missing_ok=True)
    pids = servers(state_dir)
    described = state.emulator.pid if state.emulator else None
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(pid)
    return Stopped(
        pids, state.problem, found_by_command_line=any(p != described for p in pids)
    )


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our child (tests start it in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
