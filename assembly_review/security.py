"""Security changes: IAM statements and security-group rules added or removed, widening marked.

Covers what `cdk diff`'s security tables show (IAM statements of roles, policies and resource
policies; managed policies attached to roles; security-group rules inline and standalone) and
marks each addition that widens access: every added Allow statement or rule, with the reason when
it is broad (a ``*`` action, resource or principal; a peer open to the internet, inbound or
outbound; all ports; a load balancer's plain-HTTP listener, which carries requests without TLS).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .template import Stack, properties, ref_target, render

_OPEN_PEERS = ("0.0.0.0/0", "::/0")
# Resource policies: (type, property holding the document, property naming what it applies to).
_RESOURCE_POLICIES = {
    "AWS::S3::BucketPolicy": ("PolicyDocument", "Bucket"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument", "Topics"),
    "AWS::SQS::QueuePolicy": ("PolicyDocument", "Queues"),
    "AWS::KMS::Key": ("KeyPolicy", None),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy", "SecretId"),
    "AWS::ECR::Repository": ("RepositoryPolicyText", None),
    "AWS::Logs::ResourcePolicy": ("PolicyDocument", None),
}


@dataclass(frozen=True)
class Statement:
    """One IAM statement, rendered for reading and comparing."""

    subject: str
    """What the statement is attached to: a role, a key, a bucket."""
    effect: str
    actions: str
    resources: str
    principals: str
    conditions: str

    @property
    def widening(self) -> list[str]:
        """Why adding this statement is broad (empty when it is a plain, scoped Allow)."""
        if self.effect != "Allow":
            return []
        why = []
        if any(a == "*" or a.endswith(":*") for a in self.actions.split(", ")):
            why.append("wildcard action")
        if "*" in self.resources.split(", "):
            why.append("any resource")
        if any(p in ("*", "AWS:*") for p in self.principals.split(", ")):
            why.append("any principal")
        return why


@dataclass(frozen=True)
class ManagedPolicy:
    """A managed policy attached to a role, user or group."""

    subject: str
    policy: str


@dataclass(frozen=True)
class Rule:
    """One security-group rule."""

    group: str
    direction: str
    """'in' or 'out'."""
    protocol: str
    ports: str
    peer: str
    description: str = ""
    plain_http: bool = False
    """An inbound rule to the port of a load balancer's plain-HTTP listener (no TLS)."""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies the rule (its description does not)."""
        return (self.group, self.direction, self.protocol, self.ports, self.peer)

    @property
    def widening(self) -> list[str]:
        """Why adding this rule is broad."""
        why = []
        if self.direction == "in" and self.peer in _OPEN_PEERS:
            why.append("open to the internet")
        if self.direction == "out" and self.peer in _OPEN_PEERS:
            why.append("to the internet")
        if self.ports == "all":
            why.append("all ports")
        if self.plain_http:
            why.append("plain HTTP listener (no TLS)")
        return why


@dataclass(frozen=True)
class SecurityChanges:
    """Additions and removals of one stack, each list sorted for stable output."""

    statements_added: tuple[Statement, ...]
    statements_removed: tuple[Statement, ...]
    managed_added: tuple[ManagedPolicy, ...]
    managed_removed: tuple[ManagedPolicy, ...]
    rules_added: tuple[Rule, ...]
    rules_removed: tuple[Rule, ...]

    @property
    def empty(self) -> bool:
        """No security change at all."""
        return not any((self.statements_added, self.statements_removed, self.managed_added,
                        self.managed_removed, self.rules_added, self.rules_removed))

    @property
    def widening_count(self) -> int:
        """Additions that widen access (every added Allow statement or rule, as cdk counts)."""
        return (sum(1 for s in self.statements_added if s.effect == "Allow")
                + len(self.managed_added) + len(self.rules_added)
                + sum(1 for s in self.statements_removed if s.effect == "Deny"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principals(value: Any) -> str:
    if value is None:
        return "-"
    if value == "*":
        return "*"
    if isinstance(value, dict):
        items = []
        for kind, who in sorted(value.items()):
            items += [f"{kind}:{render(w)}" for w in _list(who)]
        return ", ".join(sorted(items))
    return render(value)


def _statements(subject: str, document: Any) -> Iterator[Statement]:
    if not isinstance(document, dict):
        return
    for statement in _list(document.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        actions = _list(statement.get("Action", statement.get("NotAction", [])))
        resources = _list(statement.get("Resource", statement.get("NotResource", ["-"])))
        yield Statement(
            subject=subject,
            effect=str(statement.get("Effect", "Allow")),
            actions=", ".join(sorted(render(a) for a in actions))
            + (" (NotAction)" if "NotAction" in statement else ""),
            resources=", ".join(sorted(render(r) for r in resources))
            + (" (NotResource)" if "NotResource" in statement else ""),
            principals=_principals(statement.get("Principal")),
            conditions=json.dumps(statement["Condition"], sort_keys=True)
            if "Condition" in statement else "",
        )


def _subjects(value: Any) -> str:
    return ", ".join(sorted(render(v) for v in _list(value))) if value else "-"


def statements(stack: Stack | None) -> set[Statement]:
    """Every IAM statement of a stack's template, identity and resource policies alike."""
    found: set[Statement] = set()
    for logical_id, resource in (stack.resources if stack else {}).items():
        kind, props = resource.get("Type"), properties(resource)
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = [props.get(k) for k in ("Roles", "Users", "Groups") if props.get(k)]
            subject = _subjects([a for group in attached for a in _list(group)]) or logical_id
            found.update(_statements(subject, props.get("PolicyDocument")))
        elif kind == "AWS::IAM::Role":
            role = f"${{{logical_id}}}"
            for s in _statements(role, props.get("AssumeRolePolicyDocument")):
                found.add(Statement(role, s.effect, s.actions, role, s.principals, s.conditions))
            for policy in _list(props.get("Policies", [])):
                if isinstance(policy, dict):
                    found.update(_statements(role, policy.get("PolicyDocument")))
        elif kind == "AWS::Lambda::Permission":
            found.add(Statement(
                render(props.get("FunctionName")), "Allow", render(props.get("Action")),
                render(props.get("FunctionName")), _principals({"Service": props.get("Principal")}),
                json.dumps({k: props[k] for k in ("SourceArn", "SourceAccount") if k in props},
                           sort_keys=True) if ("SourceArn" in props or "SourceAccount" in props)
                else "",
            ))
        elif kind in _RESOURCE_POLICIES:
            document_key, subject_key = _RESOURCE_POLICIES[kind]
            subject = (_subjects(props.get(subject_key)) if subject_key
                       else f"${{{logical_id}}}")
            found.update(_statements(subject, props.get(document_key)))
    return found


def managed_policies(stack: Stack | None) -> set[ManagedPolicy]:
    """Managed policies attached to roles, users and groups."""
    found: set[ManagedPolicy] = set()
    for logical_id, resource in (stack.resources if stack else {}).items():
        if resource.get("Type") in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for arn in _list(properties(resource).get("ManagedPolicyArns", [])):
                found.add(ManagedPolicy(f"${{{logical_id}}}", render(arn)))
    return found


def _ports(rule: Mapping[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "-1"))
    if protocol in ("-1", "all"):
        return "all"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if protocol in ("icmp", "1", "icmpv6", "58"):
        return f"type {render(low)} code {render(high)}"
    if low is None and high is None:
        return "all"
    if (render(low), render(high)) == ("0", "65535"):
        return "all"
    return render(low) if render(low) == render(high) else f"{render(low)}-{render(high)}"


def _protocol(rule: Mapping[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "-1"))
    return {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)


def _peer(rule: Mapping[str, Any], direction: str) -> str:
    keys = (("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourceSecurityGroupName",
             "SourcePrefixListId") if direction == "in"
            else ("CidrIp", "CidrIpv6", "DestinationSecurityGroupId", "DestinationPrefixListId"))
    for key in keys:
        if key in rule:
            target = ref_target(rule[key])
            return f"${{{target}}}" if target and "SecurityGroup" in key else render(rule[key])
    return "-"


def _rule(group: str, direction: str, rule: Mapping[str, Any]) -> Rule:
    peer = _peer(rule, direction)
    if (direction == "out" and peer == "255.255.255.255/32" and _protocol(rule) == "icmp"):
        peer = "255.255.255.255/32 (placeholder: no outbound traffic)"
    return Rule(group, direction, _protocol(rule), _ports(rule), peer,
                render(rule.get("Description", "")))


def _plain_http_ports(resources: Mapping[str, Any]) -> dict[str, set[str]]:
    """Security group logical ID -> the ports of the plain-HTTP listeners of the classic load
    balancers in that group."""
    found: dict[str, set[str]] = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::ElasticLoadBalancing::LoadBalancer":
            continue
        props = properties(resource)
        ports = {render(listener.get("LoadBalancerPort"))
                 for listener in _list(props.get("Listeners", []))
                 if isinstance(listener, dict)
                 and str(listener.get("Protocol", "")).upper() == "HTTP"}
        for group in _list(props.get("SecurityGroups", [])):
            target = ref_target(group)
            if target:
                found.setdefault(target, set()).update(ports)
    return found


def rules(stack: Stack | None) -> dict[tuple[str, str, str, str, str], Rule]:
    """Every security-group rule of a template, inline or standalone, by identity."""
    found: dict[tuple[str, str, str, str, str], Rule] = {}
    plain_http = _plain_http_ports(stack.resources if stack else {})
    for logical_id, resource in (stack.resources if stack else {}).items():
        kind, props = resource.get("Type"), properties(resource)
        collected: list[Rule] = []
        if kind == "AWS::EC2::SecurityGroup":
            group = f"${{{logical_id}}}"
            for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
                collected += [_rule(group, direction, r) for r in _list(props.get(key, []))
                              if isinstance(r, dict)]
        elif kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            target = ref_target(props.get("GroupId"))
            group = (f"${{{target}}}" if target
                     else render(props.get("GroupId", props.get("GroupName"))))
            collected.append(_rule(group, "in" if kind.endswith("Ingress") else "out", props))
        for rule in collected:
            target = rule.group[2:-1] if rule.group.startswith("${") else rule.group
            if rule.direction == "in" and rule.ports in plain_http.get(target, ()):
                rule = dataclasses.replace(rule, plain_http=True)
            found[rule.key] = rule
    return found


def compare(base: Stack | None, head: Stack | None) -> SecurityChanges:
    """The security changes between two versions of a stack."""
    old_statements, new_statements = statements(base), statements(head)
    old_managed, new_managed = managed_policies(base), managed_policies(head)
    old_rules, new_rules = rules(base), rules(head)

    def ordered(items: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(sorted(items, key=repr))

    return SecurityChanges(
        statements_added=ordered(new_statements - old_statements),
        statements_removed=ordered(old_statements - new_statements),
        managed_added=ordered(new_managed - old_managed),
        managed_removed=ordered(old_managed - new_managed),
        rules_added=ordered(new_rules[k] for k in new_rules.keys() - old_rules.keys()),
        rules_removed=ordered(old_rules[k] for k in old_rules.keys() - new_rules.keys()),
    )
