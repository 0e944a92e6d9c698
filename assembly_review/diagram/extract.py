"""The diagram's graph of one stack, read from its template: internet and allowed CIDRs -> load
balancers (ports) -> services -> ECS cluster on its instances (type x count) -> database, with
secrets, NAT gateways, Lambda functions in the VPC and the VPC's subnet tiers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..rollout import image_text, service_name
from ..security import rules
from ..template import TIMES, Stack, as_int, iter_references, properties, ref_target
from .model import Edge, Graph, Group, Node

_OPEN = ("0.0.0.0/0", "::/0")


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
