"""Run the pinned CDK CLI against the emulator, the way a user runs it against AWS."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator import ACCOUNT_ID, REGION, sdk_environment

REPO = Path(__file__).resolve().parent.parent

# Variables that would point the CLI at a real account or another endpoint.
_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def cdk_binary() -> Path:
    """The pinned CLI (package.json) under node_modules."""
    return REPO / "node_modules" / ".bin" / "cdk"


def environment(endpoint: str) -> dict[str, str]:
    """Process environment: loopback endpoint, fake credentials, venv's Node 24 first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith("AWS_ENDPOINT_URL")
    }
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
            **sdk_environment(endpoint),
            "CDK_DEFAULT_ACCOUNT": ACCOUNT_ID,
            "CDK_DEFAULT_REGION": REGION,
            "CDK_DISABLE_VERSION_CHECK": "1",
        }
    )
    return env


@dataclass(frozen=True)
class Result:
    """Outcome of one CLI command."""

    returncode: int
    seconds: float
    output: str
    stopped: str | None = None
    """Why the CLI was stopped before it finished (see :func:`run`), or None."""

    @property
    def stopped_by_watchdog(self) -> bool:
        """True when the CLI was stopped (the emulator under it failed, or time ran out)."""
        return self.stopped is not None


WATCH_INTERVAL_SECONDS = 0.5


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop the CLI and what it started (the app's synth), which share its process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def run(
    args: Sequence[str],
    endpoint: str,
    app_dir: Path,
    echo: Callable[[str], None] | None = None,
    check: Callable[[], str | None] | None = None,
    timeout: float | None = None,
) -> Result:
    """Run ``cdk ARGS`` in ``app_dir``; stream each output line to ``echo``.

    A watchdog stops the CLI (and its synth) early, saying why in :attr:`Result.stopped`:
    when ``check`` (asked every half second) names a problem, e.g. the emulator died or stopped
    answering, instead of letting the CLI retry a dead endpoint for minutes (7 attempts per
    CloudFormation call, back-off up to 15 s); and when the command runs longer than
    ``timeout`` seconds (a synth or a request that never returns).
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [str(cdk_binary()), *args, "--no-notices"],
        cwd=app_dir,
        env=environment(endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    finished = threading.Event()
    reasons: list[str] = []

    def watch() -> None:
        while not finished.wait(WATCH_INTERVAL_SECONDS):
            reason = check() if check is not None else None
            if reason is None and timeout is not None and time.monotonic() - started > timeout:
                reason = f"'cdk {args[0]}' did not finish within {timeout:.0f}s"
            if reason is not None and not finished.is_set():
                reasons.append(reason)
                _stop_group(process)
                return

    watchdog = threading.Thread(target=watch, daemon=True)
    watched = check is not None or timeout is not None
    if watched:
        watchdog.start()
    lines: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            lines.append(line)
            if echo is not None:
                echo(line.rstrip("\n"))
        process.wait()
    finally:
        finished.set()
        if process.poll() is None:
            _stop_group(process)
    if watched:
        watchdog.join()
    return Result(
        process.returncode,
        time.monotonic() - started,
        "".join(lines),
        reasons[0] if reasons else None,
    )
