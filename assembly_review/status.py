"""The review's exit statuses: one per verdict class, so that CI and scripts can act on the verdict
without reading the report. 0 is the only status that means "safe to merge"; a later verdict class
gets the next free number, never an existing one."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """What `python -m assembly_review run|compare` exits with."""

    SAFE = 0
    """Safe to merge: no change, or nothing at risk (every destructive change acknowledged)."""
    ERROR = 1
    """The review did not run: a usage error (a bad option, an empty or malformed BASE or
    ALLOW_REPLACE, an unknown BASE) or the app does not synthesize on one side."""
    DATA_LOSS = 2
    """A stateful resource would be replaced or deleted and ALLOW_REPLACE does not name it."""
    DEPLOY_FAILS = 3
    """No data at risk, but the deployment would fail (e.g. a custom-named resource replaced
    under the same name, a DB subnet group moved to another VPC in place)."""

    @property
    def meaning(self) -> str:
        """One line: what the status says."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitStatus.SAFE: "safe to merge",
    ExitStatus.ERROR: "the review did not run (usage error, unknown BASE, or the app does not "
                      "synthesize on one side)",
    ExitStatus.DATA_LOSS: "a stateful resource would be replaced or deleted, not acknowledged "
                          "(ALLOW_REPLACE)",
    ExitStatus.DEPLOY_FAILS: "no data at risk, but the deployment would fail",
}


def table() -> str:
    """The statuses as --help and the docs list them."""
    return "\n".join(f"  {status.value}  {status.meaning}" for status in ExitStatus)
