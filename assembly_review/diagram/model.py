"""The diagram's model: boxes (nodes), subgraphs (groups) and arrows (edges) of one stack, each
with the logical IDs it stands for and, in a review, how it changed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    """One box of the diagram."""

    id: str
    label: str
    shape: str
    container: str | None
    """The subgraph it sits in (a tier or the cluster), None for outside the VPC."""
    members: set[str] = field(default_factory=set)
    """Logical IDs it stands for (a change to any of them marks the node)."""
    state: str | None = None


@dataclass
class Group:
    """A subgraph: the VPC, a subnet tier, the ECS cluster."""

    id: str
    label: str
    parent: str | None
    members: set[str] = field(default_factory=set)
    state: str | None = None


@dataclass(frozen=True)
class Edge:
    """An arrow; dotted for secrets."""

    source: str
    target: str
    label: str
    dotted: bool = False


@dataclass
class Graph:
    """Nodes, subgraphs and edges of one stack."""

    nodes: dict[str, Node] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add_edge(self, edge: Edge) -> None:
        """Add an edge once."""
        if edge not in self.edges:
            self.edges.append(edge)
