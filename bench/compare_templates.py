#!/usr/bin/env python3
"""Compare two synthesized CloudFormation templates (the Python app's and the TypeScript
mirror's): resource counts by type, the logical IDs only one of them has, and (optional,
--diff) the resources, outputs and parameters that differ by logical ID.

Usage: compare_templates.py PY_TEMPLATE.json TS_TEMPLATE.json [--diff]
Exit status 1 if the resource counts by type differ (the IDs and --diff are reported only).

`count_differences` and `id_differences` are what tests/bench/test_ts_mirror.py asserts on.
"""
from __future__ import annotations

import collections
import json
import sys
from typing import Any

Template = dict[str, Any]
LANGUAGE_DEPENDENT = {"CDKMetadata"}
"""Resources whose content records the app's language (the analytics string): always differ."""


def load(path: str) -> Template:
    with open(path) as f:
        template: Template = json.load(f)
    return template


def counts(template: Template) -> collections.Counter[str]:
    """Resource counts by type."""
    return collections.Counter(r["Type"] for r in template.get("Resources", {}).values())


def count_differences(py: Template, ts: Template) -> list[str]:
    """One line per resource type whose count differs, e.g. 'AWS::SNS::Topic: python 2,
    typescript 1'; empty when the two templates have the same resources by type and count."""
    a, b = counts(py), counts(ts)
    return [f"{t}: python {a[t]}, typescript {b[t]}" for t in sorted(set(a) | set(b))
            if a[t] != b[t]]


def id_differences(py: Template, ts: Template) -> list[str]:
    """Logical IDs (resources and outputs) that only one template has."""
    lines = []
    for section in ("Resources", "Outputs"):
        a, b = set(py.get(section, {})), set(ts.get(section, {}))
        lines += [f"{section}/{key}: only python" for key in sorted(a - b)]
        lines += [f"{section}/{key}: only typescript" for key in sorted(b - a)]
    return lines


def content_differences(py: Template, ts: Template) -> list[str]:
    """Logical IDs whose content differs, apart from the language-dependent CDKMetadata."""
    lines = []
    for section in ("Resources", "Outputs", "Parameters", "Conditions", "Rules", "Mappings"):
        a, b = py.get(section, {}), ts.get(section, {})
        for key in sorted(set(a) | set(b)):
            if key in LANGUAGE_DEPENDENT or a.get(key) == b.get(key):
                continue
            state = ("only python" if key not in b else "only typescript" if key not in a
                     else "different")
            lines.append(f"{section}/{key}: {state}")
    return lines


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    py, ts = (load(p) for p in paths)
    a, b = counts(py), counts(ts)
    types = sorted(set(a) | set(b))
    width = max((len(t) for t in types), default=13)
    print(f"{'resource type':<{width}}  python  typescript")
    for t in types:
        mark = "" if a[t] == b[t] else "   <-- differs"
        print(f"{t:<{width}}  {a[t]:>6}  {b[t]:>10}{mark}")
    print(f"{'total':<{width}}  {sum(a.values()):>6}  {sum(b.values()):>10}")
    for section in ("Outputs", "Parameters"):
        x, y = sorted(py.get(section, {})), sorted(ts.get(section, {}))
        marker = "" if x == y else "  <-- differ"
        print(f"{section}: python {len(x)}, typescript {len(y)}{marker}")
    ids = id_differences(py, ts)
    print("logical IDs: " + ("the same" if not ids else f"{len(ids)} differ"))
    for line in ids:
        print(f"  {line}")
    if "--diff" in argv:
        differ = content_differences(py, ts)
        print("content (apart from CDKMetadata): "
              + ("identical" if not differ else f"{len(differ)} differ"))
        for line in differ:
            print(f"  {line}")
    return 1 if count_differences(py, ts) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
