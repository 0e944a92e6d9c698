"""One ``make local`` at a time per state directory.

A second ``up`` started while one runs would stop the first one's emulator under it (it is
"no longer described" once the first rewrote the state file), and the first would fail
without a reason. ``up`` therefore holds an exclusive ``flock`` on ``STATE_DIR/up.lock`` for
its whole run. The kernel releases the lock when its holder exits, however it exits
(``kill -9`` included), so a crashed run never blocks the next one; the file also names the
holder's pid, for the message of the run that is refused. Neither the emulator server nor the
CDK CLI inherits the lock's descriptor (subprocesses close inherited descriptors), so the lock
never outlives the run that took it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "up.lock"


class Busy(RuntimeError):
    """Another run holds the lock; the message names its pid and what to do."""

    def __init__(self, path: Path, holder: int | None) -> None:
        who = f"pid {holder}" if holder is not None else "pid unknown"
        super().__init__(
            f"another `make local` is running ({who}) on {path.parent}: one run at a time "
            "deploys into an emulator; wait for it to finish, or stop it (Ctrl-C in its "
            "terminal, or `kill "
            f"{holder if holder is not None else '<pid>'}`) and run `make local` again"
        )
        self.holder = holder


HOLDER_WAIT_SECONDS = 0.5
"""How long a refused run waits for the holder to write its pid (it does so right after it
took the lock)."""


def _holder(path: Path) -> int | None:
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while True:
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text(encoding="ascii").strip())
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


@contextlib.contextmanager
def held(state_dir: Path) -> Iterator[Path]:
    """Hold the state directory's run lock for the block; raise :class:`Busy` at once when
    another process holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(path, _holder(path)) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield path
        finally:
            # Still holding the lock: the next holder never reads a pid that has gone.
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock
