"""Mermaid flowchart source for a graph: nodes in their subgraphs, edges, and the classes that
colour the changed ones."""

from __future__ import annotations

from .model import Graph, Node

_MARKS = {"added": "✚ added", "changed": "✎ changed", "replaced": "⟳ REPLACED",
          "removed": "✖ removed"}
_STYLES = {
    "added": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px",
    "changed": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px",
    "replaced": "fill:#ffebe9,stroke:#cf222e,stroke-width:3px",
    "removed": "fill:#f6f8fa,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5,color:#57606a",
}
_LT = "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}"
_GT = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
LEGEND = ("Legend: ✚ green = added, ✎ yellow = changed in place, ⟳ red = replaced, "
          "✖ dashed = removed.")
DRAWN = ("the diagram shows VPCs and their subnet tiers, NAT gateways, classic load balancers, ECS "
         "clusters and services, RDS instances, Secrets Manager secrets and Lambda functions in a "
         "VPC; this stack has none of them")
"""What a stack without any of them is told instead of an empty diagram."""


def _text(value: str) -> str:
    """A label safe inside Mermaid double quotes; '<br/>' stays a line break."""
    return "<br/>".join(part.replace('"', "#quot;").replace("<", _LT).replace(">", _GT)
                        for part in value.split("<br/>"))


def _shape(node: Node) -> str:
    label = _text(node.label)
    if node.state:
        label = f"{_MARKS[node.state]}<br/>{label}"
    opening, closing = {"circle": ("((", "))"), "hexagon": ("{{", "}}"),
                        "cylinder": ("[(", ")]"), "parallelogram": ("[/", "/]")}.get(
                            node.shape, ("[", "]"))
    return f'{node.id}{opening}"{label}"{closing}'


def mermaid(graph: Graph) -> str:
    """The graph as Mermaid flowchart source."""
    lines = ["flowchart LR"]

    def emit(container: str | None, indent: str) -> None:
        for node in sorted(graph.nodes.values(), key=lambda n: n.id):
            if node.container == container:
                lines.append(f"{indent}{_shape(node)}")
        for group in sorted(graph.groups.values(), key=lambda g: g.id):
            if group.parent == container:
                title = _text(group.label)
                if group.state:
                    title = f"{_MARKS[group.state]} · {title}"
                lines.append(f'{indent}subgraph {group.id}["{title}"]')
                emit(group.id, indent + "  ")
                lines.append(f"{indent}end")

    emit(None, "  ")
    known = set(graph.nodes) | set(graph.groups)
    for edge in graph.edges:
        if edge.source not in known or edge.target not in known:
            continue
        arrow = "-.->" if edge.dotted else "-->"
        label = f'|"{_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {arrow}{label} {edge.target}")
    states = {n.state for n in graph.nodes.values()} | {g.state for g in graph.groups.values()}
    for state in ("added", "changed", "replaced", "removed"):
        if state in states:
            lines.append(f"  classDef {state} {_STYLES[state]}")
            ids = sorted([n.id for n in graph.nodes.values() if n.state == state]
                         + [g.id for g in graph.groups.values() if g.state == state])
            lines.append(f"  class {','.join(ids)} {state}")
    return "\n".join(lines) + "\n"
