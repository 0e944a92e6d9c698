"""What the emulator did differently from AWS, recorded as it happens, for ``make local``'s summary.

A deployment must not look more successful locally than it would on AWS. Every
place where the emulator keeps an old resource, simulates a state or answers for
a Lambda records a :class:`Note`; the server serves them at ``GET /_emulator/notes``
and the driver prints them, counted, after each deploy.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

NOT_APPLIED = "not-applied"
"""An update moto cannot apply: the old resource is kept while the stack says UPDATE_COMPLETE."""
SIMULATED = "simulated"
"""A state nothing reached: an ECS service at steady state, a container instance that joined."""
STAND_IN = "stand-in"
"""A custom resource answered by the emulator's stand-in for a known CDK provider."""
LAMBDA_CODE = "lambda-code"
"""A custom resource answered by its own Lambda code, run in the emulator's process."""
SKIPPED = "skipped"
"""A resource of a type neither moto nor the shims know: not created, absent from the stack."""

KINDS: dict[str, str] = {
    NOT_APPLIED: "updates not applied (old resource kept, stack says UPDATE_COMPLETE)",
    SIMULATED: "simulated states (nothing runs)",
    STAND_IN: "custom resources answered by a stand-in, not their Lambda",
    LAMBDA_CODE: "custom resources run from their Lambda code in-process",
    SKIPPED: "resources skipped (type unknown to the emulator, not created)",
}
"""Every kind, in the order the summary prints them, with the summary's label."""


@dataclass(frozen=True)
class Note:
    """One thing the emulator did that AWS would have done otherwise (or not at all)."""

    seq: int
    """Position in the server's log (1, 2, ...): a deploy's notes are those after a mark."""
    kind: str
    """One of :data:`KINDS`."""
    topic: str
    """What it is about, short, for grouping (``ECS steady state``)."""
    subject: str
    """Which resource (``service app01/location``)."""
    detail: str
    """What happened instead, in a sentence."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the HTTP endpoint's)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Note:
        """Inverse of :meth:`as_dict`."""
        return cls(**{k: data[k] for k in ("seq", "kind", "topic", "subject", "detail")})


_lock = threading.Lock()
_counter = itertools.count(1)
_notes: list[Note] = []


def record(kind: str, topic: str, subject: str, detail: str) -> Note:
    """Add a note (thread-safe: the server handles requests in threads)."""
    if kind not in KINDS:
        raise ValueError(f"unknown note kind {kind!r}; allowed: {', '.join(KINDS)}")
    with _lock:
        note = Note(next(_counter), kind, topic, subject, detail)
        _notes.append(note)
    return note


def since(seq: int) -> list[Note]:
    """Notes recorded after ``seq`` (0: all)."""
    with _lock:
        return [n for n in _notes if n.seq > seq]


def last() -> int:
    """The sequence number of the latest note (0 if none): a mark to pass to :func:`since`."""
    with _lock:
        return _notes[-1].seq if _notes else 0
