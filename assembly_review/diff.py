"""What differs between the BASE and head templates: resources added, removed, modified or renamed,
and the property paths that changed.

A *rename* is a logical ID that disappears while another resource of the same type appears with
mostly the same properties (a construct renamed or moved): CloudFormation sees a new resource and
a deleted one, so replacement.py treats the pair as one replacement.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .template import Stack, construct_path, iter_references

RENAME_THRESHOLD = 0.5
"""How alike (0-1) a disappeared and an appeared resource of one type must be to count as one
resource renamed; below it they stay a removal and an addition."""
_ATTRIBUTES = ("Type", "Properties", "DeletionPolicy", "UpdateReplacePolicy", "UpdatePolicy",
               "CreationPolicy", "DependsOn", "Condition", "Metadata")


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()
"""The value of a property that is not in the template."""


def is_empty(value: Any) -> bool:
    """Absent (MISSING), or present without a value: null, '', [] or {}."""
    return value is MISSING or value in (None, "", [], {})


class Status(enum.Enum):
    """How a logical ID changed between BASE and head."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"
    RENAMED = "renamed"


@dataclass(frozen=True)
class Change:
    """One leaf that differs inside a resource."""

    path: tuple[str | int, ...]
    """From the resource's top: ('Properties', 'ContainerDefinitions', 0, 'Image')."""
    before: Any
    after: Any

    @property
    def in_properties(self) -> bool:
        """True for a change under Properties (what CloudFormation sends to the provider)."""
        return bool(self.path) and self.path[0] == "Properties"

    def text(self) -> str:
        """'ContainerDefinitions[0].Image' for properties, 'DeletionPolicy' for attributes."""
        return path_text(self.path[1:] if self.in_properties else self.path)


def path_text(path: tuple[str | int, ...]) -> str:
    """('A', 0, 'B') -> 'A[0].B'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(whole resource)"


@dataclass(frozen=True)
class ResourceDiff:
    """A resource whose definition differs between BASE and head."""

    logical_id: str
    """The head's logical ID (BASE's for a removal)."""
    status: Status
    type: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changes: tuple[Change, ...] = ()
    renamed_from: str | None = None
    """The BASE logical ID of a renamed resource."""

    @property
    def path(self) -> str | None:
        """Construct path (head's, else BASE's)."""
        return construct_path(self.after or {}) or construct_path(self.before or {})


@dataclass(frozen=True)
class StackDiff:
    """All differences of one stack. `base` or `head` is None for a stack added or removed."""

    name: str
    base: Stack | None
    head: Stack | None
    resources: tuple[ResourceDiff, ...] = field(default=())

    @property
    def region(self) -> str | None:
        """The stack's region (head's, else BASE's); None when environment-agnostic."""
        stack = self.head or self.base
        return stack.region if stack else None


def leaf_changes(before: Any, after: Any, path: tuple[str | int, ...] = ()) -> Iterator[Change]:
    """Every leaf that differs; intrinsic functions ({'Ref': ...}) are leaves."""
    if before == after:
        return
    if _is_object(before) and _is_object(after):
        for key in sorted(set(before) | set(after)):
            yield from leaf_changes(before.get(key, MISSING), after.get(key, MISSING), (*path, key))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from leaf_changes(b, a, (*path, index))
    else:
        yield Change(path, before, after)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_intrinsic(value)


def is_intrinsic(value: Any) -> bool:
    """True for {'Ref': ...} and {'Fn::...': ...}."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key == "Ref" or key.startswith("Fn::")


def resource_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """The leaves that differ between two definitions of a resource."""
    changes: list[Change] = []
    for key in _ATTRIBUTES:
        changes += leaf_changes(before.get(key, MISSING), after.get(key, MISSING), (key,))
    return tuple(changes)


def diff_stacks(base: Mapping[str, Stack], head: Mapping[str, Stack]) -> list[StackDiff]:
    """One StackDiff per stack name in either assembly, in name order."""
    return [
        diff_stack(name, base.get(name), head.get(name)) for name in sorted(set(base) | set(head))
    ]


def diff_stack(name: str, base: Stack | None, head: Stack | None) -> StackDiff:
    """The resource differences of one stack (renames paired up)."""
    before = dict(base.resources) if base else {}
    after = dict(head.resources) if head else {}
    diffs: list[ResourceDiff] = []
    for logical_id in sorted(set(before) & set(after)):
        changes = resource_changes(before[logical_id], after[logical_id])
        if changes:
            diffs.append(ResourceDiff(logical_id, Status.MODIFIED, after[logical_id]["Type"],
                                      before[logical_id], after[logical_id], changes))
    removed = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    renames = _pair_renames(removed, added, before, after)
    for old_id, new_id in renames.items():
        diffs.append(ResourceDiff(
            new_id, Status.RENAMED, after[new_id]["Type"], before[old_id], after[new_id],
            resource_changes(before[old_id], after[new_id]), renamed_from=old_id,
        ))
    renamed_to = set(renames.values())
    diffs += [ResourceDiff(i, Status.REMOVED, before[i]["Type"], before[i], None)
              for i in removed if i not in renames]
    diffs += [ResourceDiff(i, Status.ADDED, after[i]["Type"], None, after[i])
              for i in added if i not in renamed_to]
    return StackDiff(name, base, head, tuple(sorted(diffs, key=lambda d: d.logical_id)))


def _pair_renames(
    removed: list[str], added: list[str],
    before: Mapping[str, Any], after: Mapping[str, Any],
) -> dict[str, str]:
    """Old logical ID -> new one, for each removed resource that matches an added one of the same
    type closely enough (best matches first)."""
    candidates = []
    for old_id in removed:
        for new_id in added:
            if before[old_id]["Type"] != after[new_id]["Type"]:
                continue
            score = similarity(before[old_id], after[new_id], before, after)
            if score >= RENAME_THRESHOLD:
                candidates.append((score, old_id, new_id))
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    for _score, old_id, new_id in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if old_id not in pairs and new_id not in taken:
            pairs[old_id] = new_id
            taken.add(new_id)
    return pairs


def similarity(
    old: Mapping[str, Any], new: Mapping[str, Any],
    before: Mapping[str, Any], after: Mapping[str, Any],
) -> float:
    """0-1: how alike two resource definitions are, references compared by the referenced type
    (a renamed construct references renamed siblings) and construct paths segment by segment."""
    old_leaves = set(_leaves(old.get("Properties", {}), before))
    new_leaves = set(_leaves(new.get("Properties", {}), after))
    union = old_leaves | new_leaves
    props = len(old_leaves & new_leaves) / len(union) if union else 1.0
    old_path = (construct_path(old) or "").split("/")
    new_path = (construct_path(new) or "").split("/")
    path = difflib.SequenceMatcher(a=old_path, b=new_path).ratio()
    return 0.7 * props + 0.3 * path


def _leaves(value: Any, resources: Mapping[str, Any], path: str = "") -> Iterator[str]:
    if isinstance(value, dict) and not _is_object(value):
        targets = sorted(
            (resources[t]["Type"] if t in resources else t) + (f".{a}" if a else "")
            for t, a in iter_references(value)
        )
        yield f"{path}=ref:{','.join(targets)}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, resources, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, resources, f"{path}[{index}]")
    else:
        yield f"{path}={json.dumps(value, sort_keys=True)}"
