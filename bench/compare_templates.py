#!/usr/bin/env python3
"""Compare two synthesized CloudFormation templates: resource counts by type, then (optional,
--diff) the resources, outputs and parameters that differ by logical ID.

Usage: compare_templates.py PY_TEMPLATE.json TS_TEMPLATE.json [--diff]
Exit status 1 if the resource counts by type differ.
"""
import collections
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def main(argv):
    paths = [a for a in argv if not a.startswith("--")]
    py, ts = (load(p) for p in paths)
    counts = [collections.Counter(r["Type"] for r in t["Resources"].values()) for t in (py, ts)]
    types = sorted(set(counts[0]) | set(counts[1]))
    width = max(len(t) for t in types)
    print(f"{'resource type':<{width}}  python  typescript")
    for t in types:
        mark = "" if counts[0][t] == counts[1][t] else "   <-- differs"
        print(f"{t:<{width}}  {counts[0][t]:>6}  {counts[1][t]:>10}{mark}")
    print(f"{'total':<{width}}  {sum(counts[0].values()):>6}  {sum(counts[1].values()):>10}")
    for section in ("Outputs", "Parameters"):
        a, b = sorted(py.get(section, {})), sorted(ts.get(section, {}))
        marker = "" if a == b else "  <-- differ"
        print(f"{section}: python {len(a)}, typescript {len(b)}{marker}")
    if "--diff" in argv:
        for section in ("Resources", "Outputs", "Parameters", "Conditions", "Rules"):
            a, b = py.get(section, {}), ts.get(section, {})
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    state = ("only python" if key not in b else "only typescript" if key not in a
                             else "different")
                    print(f"{section}/{key}: {state}")
    return 0 if counts[0] == counts[1] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
