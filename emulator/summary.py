"""What a deploy changed, and what the emulator did differently from AWS, for ``make local``.

:func:`take` marks the emulator's state before a deploy (each stack's resources and
events, the server's last note); :func:`collect` compares it with the state after and
fetches the notes recorded since (see :mod:`emulator.compat.notes`); :func:`lines` turns
that into the summary printed at the end of ``make local``. Everything is read through
the public APIs and the emulator's ``/_emulator/notes`` endpoint, as a user could.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emulator import answer_timeout_seconds
from emulator.compat.notes import KINDS, Note
from emulator.report import client

NOT_APPLIED_REASON = "emulator: update not applied"
"""How the engine starts the reason of an update event it did not apply."""
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Snapshot:
    """The emulator's stacks at one moment."""

    resources: dict[str, dict[str, tuple[str, str]]]
    """stack -> logical ID -> (type, physical ID)."""
    statuses: dict[str, str]
    events: frozenset[str]
    """IDs of every stack event so far."""
    notes_mark: int
    """The server's last note."""


@dataclass(frozen=True)
class Change:
    """One resource a deploy touched."""

    logical_id: str
    resource_type: str
    action: str
    """``created``, ``updated``, ``replaced``, ``deleted`` or ``not applied``."""
    detail: str = ""


@dataclass(frozen=True)
class StackChanges:
    """What happened to one stack."""

    name: str
    status: str
    new_stack: bool
    changes: list[Change]
    total: int
    """Resources in the stack afterwards."""


@dataclass(frozen=True)
class Summary:
    """A deploy's changes and the emulator's notes about it."""

    stacks: list[StackChanges]
    notes: list[Note] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Notes per kind, every kind present (0 when none)."""
        found = Counter(n.kind for n in self.notes)
        return {kind: found.get(kind, 0) for kind in KINDS}


def notes_since(endpoint: str, mark: int) -> tuple[int, list[Note]]:
    """(last mark, notes after ``mark``) from the server's ``/_emulator/notes``."""
    url = f"{endpoint}/_emulator/notes?since={mark}"
    with _NO_PROXY.open(url, timeout=answer_timeout_seconds()) as response:
        body = json.loads(response.read())
    return int(body["last"]), [Note.from_dict(n) for n in body["notes"]]


def _events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    pages = cfn.get_paginator("describe_stack_events").paginate(StackName=stack)
    return [e for page in pages for e in page["StackEvents"]]


def take(endpoint: str) -> Snapshot:
    """Mark the emulator's state (call before a deploy)."""
    cfn = client(endpoint, "cloudformation")
    resources: dict[str, dict[str, tuple[str, str]]] = {}
    statuses: dict[str, str] = {}
    events: set[str] = set()
    for stack in cfn.describe_stacks()["Stacks"]:
        name = stack["StackName"]
        statuses[name] = stack["StackStatus"]
        listed = cfn.describe_stack_resources(StackName=name)["StackResources"]
        resources[name] = {
            r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
            for r in listed
        }
        events |= {e["EventId"] for e in _events(cfn, name)}
    mark, _ = notes_since(endpoint, 0)
    return Snapshot(resources, statuses, frozenset(events), mark)


def compare(
    before: Snapshot, after: Snapshot, new_events: dict[str, list[dict[str, Any]]]
) -> list[StackChanges]:
    """Per stack: created, updated (in place or not applied), replaced, deleted; a stack without
    new events is listed unchanged (two stacks side by side: both appear)."""
    result = []
    for name, events in new_events.items():
        if not events:
            total = len(after.resources.get(name, {}))
            result.append(StackChanges(name, after.statuses.get(name, "?"), False, [], total))
            continue
        old = before.resources.get(name, {})
        new = after.resources.get(name, {})
        updated = {
            e["LogicalResourceId"]: e.get("ResourceStatusReason") or ""
            for e in events
            if e.get("ResourceStatus") == "UPDATE_COMPLETE" and e["LogicalResourceId"] != name
        }
        changes = []
        for logical, (kind, physical) in new.items():
            if logical not in old:
                changes.append(Change(logical, kind, "created", physical))
            elif old[logical][1] != physical:
                replaced = f"{old[logical][1]} -> {physical}"
                changes.append(Change(logical, kind, "replaced", replaced))
            elif logical in updated:
                why = updated[logical]
                action = "not applied" if why.startswith(NOT_APPLIED_REASON) else "updated"
                changes.append(Change(logical, kind, action, why))
        changes += [
            Change(logical, kind, "deleted", physical)
            for logical, (kind, physical) in old.items()
            if logical not in new
        ]
        result.append(
            StackChanges(
                name, after.statuses.get(name, "?"), name not in before.statuses, changes, len(new)
            )
        )
    return result


def collect(endpoint: str, before: Snapshot) -> Summary:
    """Compare the emulator now with ``before``; fetch the notes recorded since."""
    after = take(endpoint)
    cfn = client(endpoint, "cloudformation")
    new_events = {
        name: [e for e in _events(cfn, name) if e["EventId"] not in before.events]
        for name in after.statuses
    }
    _, found = notes_since(endpoint, before.notes_mark)
    return Summary(compare(before, after, new_events), found)


def _stack_lines(stack: StackChanges) -> list[str]:
    if stack.new_stack:
        created = sum(1 for c in stack.changes if c.action == "created")
        return [f"    {stack.name}: {stack.status}, new stack: {created} resources created"]
    if not stack.changes:
        return [f"    {stack.name}: {stack.status}, unchanged ({stack.total} resources)"]
    kept = sum(1 for c in stack.changes if c.action == "not applied")
    changed = len(stack.changes)
    head = f"    {stack.name}: {stack.status}, {changed} of {stack.total} resources changed"
    if kept:
        head += f" ({kept} of them not applied by the emulator)"
    lines = [head]
    for change in stack.changes:
        detail = f": {change.detail}" if change.detail else ""
        lines.append(
            f"      {change.action:<11} {change.logical_id} ({change.resource_type}){detail}"
        )
    return lines


def lines(summary: Summary) -> list[str]:
    """The summary as printed: per stack what changed, then every note, counted by kind."""
    out = ["==> summary: what this deploy changed"]
    if not summary.stacks:
        out.append("    no stack changed")
    for stack in summary.stacks:
        out += _stack_lines(stack)
    counts = summary.counts()
    out.append(
        "==> emulated, not as on AWS: "
        + ", ".join(f"{counts[kind]} {kind}" for kind in KINDS)
    )
    for kind, label in KINDS.items():
        found = [n for n in summary.notes if n.kind == kind]
        topics = Counter(n.topic for n in found)
        by_topic = ", ".join(f"{topic} {count}" for topic, count in topics.items())
        out.append(f"    {label}: {counts[kind]}" + (f" ({by_topic})" if by_topic else ""))
        out += [f"      {note.subject}: {note.detail}" for note in found]
    return out
