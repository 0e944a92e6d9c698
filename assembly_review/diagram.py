"""A Mermaid flowchart of a stack, generated from its template: internet and allowed CIDRs ->
load balancers (ports) -> services -> ECS cluster on its instances (type x count) -> database,
with secrets, NAT gateways and the VPC's subnet tiers. In a review, changed nodes are marked.

``architecture_markdown(outdir)`` is docs/architecture.md (``make diagram``); the review report
calls :func:`review_diagram`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .replacement import Impact, Verdict
from .rollout import image_text, service_name
from .security import rules
from .template import (
    TIMES,
    Stack,
    as_int,
    iter_references,
    load_assembly,
    properties,
    ref_target,
)

MERMAID_CHECK = Path(__file__).with_name("mermaid_check.mjs")
COLLAPSE_ABOVE = 8
"""In a review, with more services than this, the unchanged ones become one node."""
_OPEN = ("0.0.0.0/0", "::/0")
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


def _text(value: str) -> str:
    """A label safe inside Mermaid double quotes; '<br/>' stays a line break."""
    return "<br/>".join(part.replace('"', "#quot;").replace("<", _LT).replace(">", _GT)
                        for part in value.split("<br/>"))


def _tag(resource: Mapping[str, Any], key: str) -> str | None:
    for tag in properties(resource).get("Tags", []):
        if isinstance(tag, dict) and tag.get("Key") == key and isinstance(tag.get("Value"), str):
            value: str = tag["Value"]
            return value
    return None


def _tiers(resources: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Subnet logical ID -> tier key; tier key -> CIDRs."""
    tier_of: dict[str, str] = {}
    cidrs: dict[str, list[str]] = {}
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::EC2::Subnet":
            continue
        props = properties(resource)
        name = _tag(resource, "aws-cdk:subnet-name") or (
            "Public" if props.get("MapPublicIpOnLaunch") is True else "Private")
        tier_of[logical_id] = name
        cidr = props.get("CidrBlock")
        cidrs.setdefault(name, []).append(cidr if isinstance(cidr, str) else "?")
    return tier_of, cidrs


def _tier(subnets: Any, tier_of: Mapping[str, str]) -> str | None:
    tiers = sorted({tier_of[r] for r in _refs(subnets) if r in tier_of})
    return tiers[0] if len(tiers) == 1 else None


def _refs(value: Any) -> list[str]:
    return [target for target, _ in iter_references(value)]


def _resources_of(resources: Mapping[str, Any], kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [(i, r) for i, r in sorted(resources.items()) if r.get("Type") == kind]


def build(stack: Stack) -> Graph:
    """The diagram's graph for one stack."""
    resources = stack.resources
    graph = Graph()
    tier_of, cidrs = _tiers(resources)
    vpcs = _resources_of(resources, "AWS::EC2::VPC")
    for vpc_id, vpc in vpcs:
        graph.groups["vpc"] = Group("vpc", f"VPC {properties(vpc).get('CidrBlock', '')}".strip(),
                                    None, {vpc_id})
    for tier, blocks in cidrs.items():
        graph.groups[f"tier_{tier}"] = Group(
            f"tier_{tier}", f"{tier} subnets · {', '.join(blocks)}",
            "vpc" if vpcs else None, {i for i, t in tier_of.items() if t == tier})

    def place(subnets: Any) -> str | None:
        tier = _tier(subnets, tier_of)
        return f"tier_{tier}" if tier else ("vpc" if vpcs else None)

    _nat_gateways(graph, resources, place)
    clusters = _clusters(graph, resources, place)
    load_balancers = _load_balancers(graph, stack, place)
    _services(graph, resources, clusters, load_balancers)
    databases = _databases(graph, resources, place)
    _database_access(graph, stack, clusters, databases)
    _functions(graph, stack, place, databases)
    _secrets(graph, resources, databases)
    return graph


def _nat_gateways(graph: Graph, resources: Mapping[str, Any], place: Any) -> None:
    by_container: dict[str | None, list[str]] = {}
    for logical_id, nat in _resources_of(resources, "AWS::EC2::NatGateway"):
        by_container.setdefault(place(properties(nat).get("SubnetId")), []).append(logical_id)
    for container, ids in by_container.items():
        node_id = f"nat_{container or 'x'}"
        graph.nodes[node_id] = Node(node_id, f"NAT gateway {TIMES} {len(ids)}", "rect",
                                    container, set(ids))


def _clusters(graph: Graph, resources: Mapping[str, Any], place: Any) -> dict[str, str]:
    """ECS cluster logical ID -> subgraph id, with the instances that serve it in its title."""
    groups_of_provider: dict[str, str] = {}
    for logical_id, provider in _resources_of(resources, "AWS::ECS::CapacityProvider"):
        group = ref_target(properties(provider).get("AutoScalingGroupProvider", {})
                           .get("AutoScalingGroupArn"))
        if group:
            groups_of_provider[logical_id] = group
    asgs_of_cluster: dict[str, set[str]] = {}
    for _id, association in _resources_of(resources,
                                           "AWS::ECS::ClusterCapacityProviderAssociations"):
        assoc = properties(association)
        target = ref_target(assoc.get("Cluster"))
        for provider_id in _refs(assoc.get("CapacityProviders", [])):
            if target and provider_id in groups_of_provider:
                asgs_of_cluster.setdefault(target, set()).update(
                    {provider_id, groups_of_provider[provider_id]})
    out = {}
    for logical_id, cluster in _resources_of(resources, "AWS::ECS::Cluster"):
        name = properties(cluster).get("ClusterName")
        title = f"ECS cluster {name if isinstance(name, str) else logical_id}"
        members = {logical_id}
        container = "vpc" if "vpc" in graph.groups else None
        for member in sorted(asgs_of_cluster.get(logical_id, set())):
            resource = resources.get(member, {})
            if resource.get("Type") != "AWS::AutoScaling::AutoScalingGroup":
                members.add(member)
                continue
            props = properties(resource)
            template = ref_target(props.get("LaunchTemplate", {}).get("LaunchTemplateId"))
            data = properties(resources.get(template or "", {})).get("LaunchTemplateData", {})
            low, high = as_int(props.get("MinSize")), as_int(props.get("MaxSize"))
            count = as_int(props.get("DesiredCapacity")) or low
            size = str(count) if not high or high == count else f"{low}-{high}"
            title += f" · EC2 {size} {TIMES} {data.get('InstanceType', '?')}"
            members |= {member} | ({template} if template else set())
            container = place(props.get("VPCZoneIdentifier")) or container
        group_id = f"cluster_{logical_id}"
        graph.groups[group_id] = Group(group_id, title, container, members)
        out[logical_id] = group_id
    return out


def _ingress_peers(stack: Stack, security_groups: Iterable[str]) -> list[tuple[str, str]]:
    """(peer, 'tcp :80') for every inbound rule of the given security groups."""
    wanted = {f"${{{g}}}" for g in security_groups}
    return sorted({(r.peer, f"{r.protocol} :{r.ports}") for r in rules(stack).values()
                   if r.direction == "in" and r.group in wanted})


def _load_balancers(graph: Graph, stack: Stack, place: Any) -> dict[str, str]:
    """Load balancer logical ID -> node id; peers -> load balancer edges."""
    resources = stack.resources
    users = {ref_target(lb.get("LoadBalancerName")): service_name(i, r, resources)
             for i, r in _resources_of(resources, "AWS::ECS::Service")
             for lb in properties(r).get("LoadBalancers", []) if isinstance(lb, dict)}
    out = {}
    for logical_id, lb in _resources_of(resources, "AWS::ElasticLoadBalancing::LoadBalancer"):
        props = properties(lb)
        ports = ", ".join(f":{listener.get('LoadBalancerPort')} → :{listener.get('InstancePort')}"
                          for listener in props.get("Listeners", []))
        scheme = props.get("Scheme", "internet-facing")
        name = users.get(logical_id, logical_id)
        node_id = f"elb_{logical_id}"
        graph.nodes[node_id] = Node(
            node_id, f"classic ELB · {name}<br/>{scheme} · {ports}", "hexagon",
            place(props.get("Subnets")),
            {logical_id, *_refs(props.get("SecurityGroups", []))})
        out[logical_id] = node_id
        for peer, label in _ingress_peers(stack, _refs(props.get("SecurityGroups", []))):
            graph.add_edge(Edge(_peer_node(graph, peer), node_id, label))
    return out


def _peer_node(graph: Graph, peer: str) -> str:
    if peer.startswith("${"):
        return peer
    node_id = "peer_" + re.sub(r"[^A-Za-z0-9]", "_", peer)
    label = f"Internet<br/>{peer}" if peer in _OPEN else f"clients<br/>{peer}"
    graph.nodes.setdefault(node_id, Node(node_id, label, "circle", None, set()))
    return node_id


def _image(value: Any) -> str:
    """The image without the asset hash (it changes with every source edit)."""
    text = image_text(value)
    return "image built from source" if text.startswith("built from source") else text


def _services(graph: Graph, resources: Mapping[str, Any], clusters: Mapping[str, str],
              load_balancers: Mapping[str, str]) -> None:
    for logical_id, service in _resources_of(resources, "AWS::ECS::Service"):
        props = properties(service)
        task_id = ref_target(props.get("TaskDefinition"))
        task = resources.get(task_id or "", {})
        containers = properties(task).get("ContainerDefinitions", [])
        images = "<br/>".join(_image(c.get("Image")) for c in containers
                              if isinstance(c, dict))
        name = service_name(logical_id, service, resources)
        desired = props.get("DesiredCount", "?")
        node_id = f"svc_{logical_id}"
        members = {logical_id} | ({task_id} if task_id else set())
        graph.nodes[node_id] = Node(
            node_id, f"service {name} {TIMES} {desired}<br/>{images}", "rect",
            clusters.get(ref_target(props.get("Cluster")) or ""), members)
        for lb in props.get("LoadBalancers", []):
            lb_id = ref_target(lb.get("LoadBalancerName")) if isinstance(lb, dict) else None
            if lb_id and lb_id in load_balancers:
                graph.add_edge(Edge(load_balancers[lb_id], node_id,
                                    f":{lb.get('ContainerPort', '?')}"))


def _databases(graph: Graph, resources: Mapping[str, Any], place: Any) -> dict[str, str]:
    out = {}
    for logical_id, db in _resources_of(resources, "AWS::RDS::DBInstance"):
        props = properties(db)
        group = ref_target(props.get("DBSubnetGroupName"))
        subnets = properties(resources.get(group or "", {})).get("SubnetIds", [])
        deployment = "Multi-AZ" if props.get("MultiAZ") is True else "single-AZ"
        encrypted = "encrypted" if props.get("StorageEncrypted") is True else "not encrypted"
        label = (f"RDS {props.get('Engine', '?')} {props.get('EngineVersion', '')}".rstrip()
                 + f"<br/>{props.get('DBInstanceClass', '?')} · {deployment}<br/>"
                 f"{props.get('AllocatedStorage', '?')} GiB {props.get('StorageType', 'gp2')}"
                 f" · {encrypted}")
        node_id = f"db_{logical_id}"
        graph.nodes[node_id] = Node(node_id, label, "cylinder", place(subnets),
                                    {logical_id, *({group} if group else set()),
                                     *_refs(props.get("VPCSecurityGroups", []))})
        out[logical_id] = node_id
    return out


def _database_access(graph: Graph, stack: Stack, clusters: Mapping[str, str],
                     databases: Mapping[str, str]) -> None:
    """Cluster -> database, on the port the database's security group lets the instances in."""
    resources = stack.resources
    instance_groups: dict[str, str] = {}
    for cluster_id, group_id in clusters.items():
        for member in graph.groups[group_id].members:
            data = properties(resources.get(member, {})).get("LaunchTemplateData", {})
            for sg in _refs(data.get("SecurityGroupIds", [])):
                instance_groups[f"${{{sg}}}"] = cluster_id
    for db_id, node_id in databases.items():
        props = properties(resources[db_id])
        groups = {f"${{{g}}}" for g in _refs(props.get("VPCSecurityGroups", []))}
        for rule in rules(stack).values():
            if rule.direction == "in" and rule.group in groups and rule.peer in instance_groups:
                port = (props.get("Port", rule.ports) if "Endpoint.Port" in rule.ports
                        else rule.ports)
                graph.add_edge(Edge(clusters[instance_groups[rule.peer]], node_id,
                                    f"{rule.protocol} :{port}"))


def _functions(graph: Graph, stack: Stack, place: Any, databases: Mapping[str, str]) -> None:
    """Lambda functions inside the VPC (custom-resource provisioners), and the databases their
    security groups may reach."""
    resources = stack.resources
    for logical_id, function in _resources_of(resources, "AWS::Lambda::Function"):
        vpc_config = properties(function).get("VpcConfig")
        if not isinstance(vpc_config, dict):
            continue
        path = str(function.get("Metadata", {}).get("aws:cdk:path", ""))
        name = "/".join(path.split("/")[1:-1]) or logical_id
        node_id = f"fn_{logical_id}"
        groups = {f"${{{g}}}" for g in _refs(vpc_config.get("SecurityGroupIds", []))}
        graph.nodes[node_id] = Node(node_id, f"Lambda {name}", "rect",
                                    place(vpc_config.get("SubnetIds")),
                                    {logical_id, *_refs(vpc_config.get("SecurityGroupIds", []))})
        for db_id, db_node in databases.items():
            db_groups = {f"${{{g}}}" for g in
                         _refs(properties(resources[db_id]).get("VPCSecurityGroups", []))}
            for rule in rules(stack).values():
                if rule.direction == "in" and rule.group in db_groups and rule.peer in groups:
                    port = (properties(resources[db_id]).get("Port", rule.ports)
                            if "Endpoint.Port" in rule.ports else rule.ports)
                    graph.add_edge(Edge(node_id, db_node, f"{rule.protocol} :{port}"))


def _secrets(graph: Graph, resources: Mapping[str, Any], databases: Mapping[str, str]) -> None:
    attachments = {
        i: ref_target(properties(r).get("SecretId"))
        for i, r in _resources_of(resources, "AWS::SecretsManager::SecretTargetAttachment")
    }

    def secret_of(value: Any) -> set[str]:
        found = set()
        for ref in _refs(value):
            target = attachments.get(ref, ref)
            if target and resources.get(target, {}).get("Type") == "AWS::SecretsManager::Secret":
                found.add(target)
        return found

    for logical_id, secret in _resources_of(resources, "AWS::SecretsManager::Secret"):
        node_id = f"secret_{logical_id}"
        path = secret.get("Metadata", {}).get("aws:cdk:path", "")
        name = "/".join(str(path).split("/")[1:-1]) or logical_id
        graph.nodes[node_id] = Node(node_id, f"secret {name}", "parallelogram", None,
                                    {logical_id, *(a for a, s in attachments.items()
                                                   if s == logical_id)})
        for db_id, db_node in databases.items():
            if logical_id in secret_of(properties(resources[db_id]).get("MasterUserPassword")):
                graph.add_edge(Edge(node_id, db_node, "master password", dotted=True))
    for service_id, service in _resources_of(resources, "AWS::ECS::Service"):
        task_def = resources.get(ref_target(properties(service).get("TaskDefinition")) or "", {})
        for container in properties(task_def).get("ContainerDefinitions", []):
            for secret_id in sorted(secret_of(container.get("Secrets", []))):
                names = ", ".join(s.get("Name", "?") for s in container.get("Secrets", []))
                graph.add_edge(Edge(f"secret_{secret_id}", f"svc_{service_id}", names,
                                    dotted=True))


# -- review: merge BASE and head, mark the changed nodes -------------------------------------------


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


def _collapse(graph: Graph) -> None:
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


# -- rendering -------------------------------------------------------------------------------------


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


def review_diagram(base: Stack | None, head: Stack | None, verdicts: list[Verdict]) -> str:
    """Mermaid source for a review: head's architecture, changes marked, removed nodes dashed."""
    graph = review_graph(base, head, verdicts)
    _collapse(graph)
    return mermaid(graph)


def architecture_markdown(outdir: Path) -> str:
    """docs/architecture.md for an assembly: one diagram per stack."""
    parts = [
        "# Architecture",
        "",
        "<!-- Generated by `make diagram` (python -m assembly_review diagram) from "
        "the default app's synth; tests/review keep it in sync. Do not edit by hand. -->",
        "",
        "What the default configuration (cdk.json) deploys, read from the synthesized template: "
        "who may connect to each load balancer and on which port, the services behind them, the "
        "ECS cluster and the instances it runs on, the database and the secrets, inside the "
        "VPC's subnet tiers.",
    ]
    for name, stack in sorted(load_assembly(outdir).items()):
        parts += ["", f"## Stack `{name}`", "", "```mermaid", mermaid(build(stack)).rstrip(), "```"]
    return "\n".join(parts) + "\n"


class MermaidUnavailable(RuntimeError):
    """Node or the pinned mermaid/jsdom packages are missing (run `make install`)."""


def parse_errors(files: Iterable[Path]) -> dict[str, str]:
    """Mermaid's own parser (the pinned npm package, under Node) on every ```mermaid block of the
    files (or the whole file when it has none): '<file>#<n>' -> error, for each that fails."""
    node = shutil.which("node", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                       f"{os.environ.get('PATH', '')}")
    if node is None:
        raise MermaidUnavailable("node is not on PATH: run `make install` (Node comes from .venv)")
    result = subprocess.run([node, str(MERMAID_CHECK), *map(str, files)], capture_output=True,
                            text=True, timeout=120, check=False)
    if "ERR_MODULE_NOT_FOUND" in result.stderr or "Cannot find package" in result.stderr:
        raise MermaidUnavailable(f"mermaid/jsdom are not installed: run `make install` "
                                 f"({result.stderr.strip().splitlines()[-1]})")
    errors = {}
    seen = 0
    for line in result.stdout.splitlines():
        outcome = json.loads(line)
        seen += 1
        if not outcome["ok"]:
            errors[f"{outcome['file']}#{outcome['index']}"] = outcome["error"]
    if seen == 0:
        raise MermaidUnavailable(f"the Mermaid check printed nothing: {result.stderr[-2000:]}")
    return errors
