"""A review's graph: head's graph with BASE's removed nodes added back, every node and subgraph
marked added, changed, replaced or removed by the verdicts; with many services, the unchanged ones
collapse into one node."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..replacement import Impact, Verdict
from ..template import Stack
from .extract import build
from .model import Edge, Graph, Node

COLLAPSE_ABOVE = 8
"""In a review, with more services than this, the unchanged ones become one node."""


def _state(members: Iterable[str], verdicts: Mapping[str, Verdict],
           primary: str | None) -> str | None:
    """How a node changed: its own resource decides added/replaced; a change to any resource it
    stands for (a new task definition, a replaced security group) marks it changed."""
    own = verdicts[primary].impact if primary and primary in verdicts else None
    if own is Impact.ADD:
        return "added"
    if own in (Impact.REPLACE, Impact.MAY_REPLACE):
        return "replaced"
    if own is not None or any(m in verdicts for m in members):
        return "changed"
    return None


def _primary(node_id: str) -> str | None:
    return node_id.split("_", 1)[1] if "_" in node_id else None


def review_graph(base: Stack | None, head: Stack | None, verdicts: list[Verdict]) -> Graph:
    """Head's graph with BASE's removed nodes added back, every changed node and group marked."""
    by_id = {v.logical_id: v for v in verdicts}
    renamed = {v.renamed_from: v.logical_id for v in verdicts if v.renamed_from}
    graph = build(head) if head else Graph()
    old = build(base) if base else Graph()
    for node in graph.nodes.values():
        node.state = _state(node.members, by_id, _primary(node.id))
    for group in graph.groups.values():
        group.state = _state(group.members, by_id, _primary(group.id))
    rename = {f"{kind}_{o}": f"{kind}_{n}" for o, n in renamed.items()
              for kind in ("elb", "svc", "db", "secret", "cluster")}
    for node_id, node in old.nodes.items():
        new_id = rename.get(node_id, node_id)
        if new_id not in graph.nodes:
            node.state = "removed"
            graph.nodes[node_id] = node
    for group_id, group in old.groups.items():
        if rename.get(group_id, group_id) not in graph.groups:
            group.state = "removed"
            graph.groups[group_id] = group
    for edge in old.edges:
        source, target = rename.get(edge.source, edge.source), rename.get(edge.target, edge.target)
        if (source in graph.nodes or source in graph.groups) and (
                target in graph.nodes or target in graph.groups):
            graph.add_edge(Edge(source, target, edge.label, edge.dotted))
    return graph


def collapse(graph: Graph) -> None:
    """Many services: unchanged service nodes, with their unchanged load balancers and secrets,
    become one node each."""
    services = [n for n in graph.nodes.values() if n.id.startswith("svc_")]
    quiet = [n for n in services if n.state is None]
    if len(services) <= COLLAPSE_ABOVE or len(quiet) < 2:
        return
    quiet_ids = {n.id for n in quiet}
    feeding = {e.source for e in graph.edges if e.target in quiet_ids}
    only_quiet = {source for source in feeding
                  if all(e.target in quiet_ids for e in graph.edges if e.source == source)}
    quiet_lbs = {i for i in only_quiet if i.startswith("elb_") and graph.nodes[i].state is None}
    quiet_secrets = {i for i in only_quiet
                     if i.startswith("secret_") and graph.nodes[i].state is None}
    container = quiet[0].container
    merged = {node_id: "svc_unchanged" for node_id in quiet_ids | quiet_lbs}
    graph.nodes["svc_unchanged"] = Node(
        "svc_unchanged", f"{len(quiet)} unchanged services<br/>behind {len(quiet_lbs)} "
        "unchanged load balancers", "rect", container, set())
    if quiet_secrets:
        merged.update({node_id: "secret_unchanged" for node_id in quiet_secrets})
        graph.nodes["secret_unchanged"] = Node(
            "secret_unchanged", f"{len(quiet_secrets)} secrets of unchanged services",
            "parallelogram", None, set())
    edges = list(graph.edges)
    graph.edges = []
    for edge in edges:
        source, target = merged.get(edge.source, edge.source), merged.get(edge.target, edge.target)
        if source != target:
            label = edge.label if source == edge.source and target == edge.target else ""
            graph.add_edge(Edge(source, target, label, edge.dotted))
    for node_id in merged:
        del graph.nodes[node_id]
