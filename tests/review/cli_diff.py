"""Reading `cdk diff` output: the verdict per resource, and the rows of its security tables."""

from __future__ import annotations

import re

_RESOURCE = re.compile(r"^\[(?P<op>[+\-~])\] (?P<type>(?:AWS|Custom)::\S+) (?P<rest>.+)$")
_SUFFIXES = {" may be replaced": "may-replace", " replace": "replaced", " destroy": "removed",
             " orphan": "removed"}


def verdicts(output: str) -> dict[str, str]:
    """Logical ID -> 'added' / 'removed' / 'in place' / 'replaced' / 'may-replace'."""
    found = {}
    for line in output.splitlines():
        match = _RESOURCE.match(line)
        if not match:
            continue
        rest, verdict = match["rest"], {"+": "added", "-": "removed", "~": "in place"}[match["op"]]
        for suffix, meaning in _SUFFIXES.items():
            if rest.endswith(suffix):
                rest, verdict = rest.removesuffix(suffix), meaning
                break
        found[rest.rsplit(" ", 1)[-1]] = verdict
    return found


def security_rows(output: str) -> dict[str, dict[str, int]]:
    """Section title ('IAM Statement Changes', 'Security Group Changes', 'IAM Policy Changes')
    -> {'+': rows added, '-': rows removed}."""
    counts: dict[str, dict[str, int]] = {}
    section = None
    for line in output.splitlines():
        if line.endswith("Changes") and not line.startswith(("│", "┌", "├", "└")):
            section = line.strip()
            counts[section] = {"+": 0, "-": 0}
        elif section and line.startswith("│ + │"):
            counts[section]["+"] += 1
        elif section and line.startswith("│ - │"):
            counts[section]["-"] += 1
        elif line.startswith("Resources"):
            section = None
    return counts
