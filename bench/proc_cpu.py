"""CPU seconds of a process's descendants, from /proc (Linux): what the jsii kernel (`node`, which
starts a second `node`) has used so far, while it still runs."""

from __future__ import annotations

import os
from pathlib import Path


def descendants_cpu(pid: int) -> float:
    """User + system CPU seconds of every live descendant of `pid` (not `pid` itself)."""
    total, pids = 0, _children(pid)
    while pids:
        child = pids.pop()
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        pids += _children(child)
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
