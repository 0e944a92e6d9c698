"""The dependency graph of a template's resources (pure: template JSON in, names out)."""

from __future__ import annotations

import re
from typing import Any


def references(node: Any) -> set[str]:
    """Logical IDs a template fragment points at (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".")[0] if isinstance(value, str) else value[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
                found |= references(value[1] if isinstance(value, list) else {})
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    """For each resource, the other resources it needs (references and DependsOn)."""
    graph: dict[str, set[str]] = {}
    for name, body in resources.items():
        depends = body.get("DependsOn", [])
        needed = references(body.get("Properties", {})) | set(
            [depends] if isinstance(depends, str) else depends
        )
        graph[name] = {d for d in needed if d in resources and d != name}
    return graph


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resource names, each after everything it depends on (ties keep template order)."""
    graph = dependencies(resources)
    ordered: list[str] = []
    placed: set[str] = set()

    def visit(name: str, trail: frozenset[str]) -> None:
        if name in placed or name in trail:
            return
        for needed in sorted(graph[name]):
            visit(needed, trail | {name})
        placed.add(name)
        ordered.append(name)

    for name in resources:
        visit(name, frozenset())
    return ordered


def dependants(resources: dict[str, Any], changed: str) -> set[str]:
    """The resources that need ``changed``."""
    return {name for name, needs in dependencies(resources).items() if changed in needs}
