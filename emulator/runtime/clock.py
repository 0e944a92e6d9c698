"""The local time factor: health-check intervals, grace periods, connection draining and stop
timeouts come from the templates and run scaled by ``EMULATOR_TIME_SCALE`` (default 0.1: a 30 s
health-check interval takes 3 s, so a rollout takes seconds). ``make local`` prints it.
A health check's own timeout is not scaled: it bounds how long the application may take to
answer, which a faster clock does not change."""

from __future__ import annotations

import os

DEFAULT_SCALE = 0.1


def scale() -> float:
    """The factor from ``EMULATOR_TIME_SCALE`` (0 < factor <= 1; default 0.1)."""
    raw = os.environ.get("EMULATOR_TIME_SCALE", "")
    try:
        value = float(raw) if raw else DEFAULT_SCALE
    except ValueError:
        return DEFAULT_SCALE
    return value if 0 < value <= 1 else DEFAULT_SCALE


def seconds(template_seconds: float) -> float:
    """A template's duration on the local clock."""
    return float(template_seconds) * scale()
