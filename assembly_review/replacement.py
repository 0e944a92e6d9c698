"""Verdict per resource: added, removed, updated in place, REPLACE or may-replace, and why.

Rules, all offline:
- a changed property in the type's ``createOnlyProperties`` (schemas.py) replaces the resource;
- a logical ID that disappears while a similar resource of the same type appears (diff.py) is a
  replacement (the construct was renamed or moved);
- a resource whose create-only property references (``Ref``, ``Fn::GetAtt``, or inside
  ``Fn::Sub`` / ``Fn::Join``) a replaced resource is replaced too, transitively, because the
  referenced value changes at deploy time; references in updatable properties make an in-place
  update;
- a changed ``conditionalCreateOnlyProperties`` property is decided by the per-type rules of
  replacement_rules.py where the condition can be read from the template (the CDK CLI says "may be
  replaced" for all of them); the rest stay may-replace.
"""

from __future__ import annotations

import copy
import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .diff import (
    MISSING,
    Change,
    ResourceDiff,
    StackDiff,
    Status,
    is_empty,
    leaf_changes,
    path_text,
    resource_changes,
)
from .replacement_rules import CONDITIONAL_RULES, INTERRUPTIONS, interruption
from .schemas import Pointer, TypeSchema, type_schema
from .template import construct_path, properties, ref_target, short_type

REPLACED_MARK = " (replaced)"
_MARK_PATTERN = re.compile(r"([A-Za-z0-9]+) \(replaced\)")


class Impact(enum.IntEnum):
    """What CloudFormation does to one resource; ordered by severity within a change."""

    NONE = 0
    IN_PLACE = 1
    MAY_REPLACE = 2
    REPLACE = 3
    ADD = 4
    REMOVE = 5

    @property
    def label(self) -> str:
        """How the report writes it."""
        return {Impact.NONE: "unchanged", Impact.IN_PLACE: "in-place",
                Impact.MAY_REPLACE: "may-replace", Impact.REPLACE: "REPLACE",
                Impact.ADD: "added", Impact.REMOVE: "removed"}[self]


@dataclass(frozen=True)
class Cause:
    """Why a resource gets its impact: one property path (or attribute) and the rule applied."""

    impact: Impact
    path: str
    reason: str
    before: Any = MISSING
    after: Any = MISSING
    interruption: str = ""
    """What the update interrupts (an RDS restart, a listener re-created); '' for nothing."""
    attribute_only: bool = False
    """A template attribute (Metadata, DependsOn, a policy): the resource itself is untouched."""


# Types whose replacement or deletion loses data or an identity that others depend on.
STATEFUL_TYPES: dict[str, str] = {
    "AWS::RDS::DBInstance": "database: its data",
    "AWS::RDS::DBCluster": "database cluster: its data",
    "AWS::DynamoDB::Table": "table: its items",
    "AWS::S3::Bucket": "bucket: its objects",
    "AWS::EFS::FileSystem": "file system: its files",
    "AWS::EC2::Volume": "volume: its data",
    "AWS::SecretsManager::Secret": "secret: its value (a new one is generated)",
    "AWS::KMS::Key": "KMS key: data encrypted with it needs the old key",
    "AWS::Logs::LogGroup": "log group: its log history",
    "AWS::ElasticLoadBalancing::LoadBalancer": "load balancer: its DNS name changes",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "load balancer: its DNS name changes",
    "AWS::EC2::EIP": "Elastic IP: its public address changes",
    "AWS::SQS::Queue": "queue: its messages",
    "AWS::ECR::Repository": "image repository: its images",
    "AWS::Cognito::UserPool": "user pool: its users",
}
_KEEPING_POLICIES = ("Retain", "RetainExceptOnCreate", "Snapshot")


@dataclass
class Verdict:
    """The review's verdict on one resource of one stack."""

    logical_id: str
    type: str
    impact: Impact
    causes: list[Cause] = field(default_factory=list)
    path: str | None = None
    renamed_from: str | None = None
    stateful: str | None = None
    """Why losing this resource matters (None: stateless)."""
    warnings: list[str] = field(default_factory=list)
    acknowledged: bool = False
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None

    @property
    def destructive(self) -> bool:
        """A stateful resource replaced (or maybe replaced) or removed."""
        return self.stateful is not None and self.impact in (
            Impact.REPLACE, Impact.MAY_REPLACE, Impact.REMOVE)

    @property
    def attributes_only(self) -> bool:
        """An in-place change of template attributes only (Metadata, DependsOn, policies):
        CloudFormation records it, the resource itself is not updated."""
        return (self.impact is Impact.IN_PLACE and bool(self.causes)
                and all(c.attribute_only for c in self.causes))

    @property
    def interruptions(self) -> list[str]:
        """What this change interrupts (restarts, downtime), one line per cause."""
        return [c.interruption for c in self.causes if c.interruption]

    @property
    def deletion_policy(self) -> str:
        """What CloudFormation does with the old physical resource: Delete, Retain, Snapshot."""
        resource = self.before or {}
        key = "DeletionPolicy" if self.impact is Impact.REMOVE else "UpdateReplacePolicy"
        return str(resource.get(key, "Delete"))


def values_at(value: Any, pointer: Pointer) -> Any:
    """The value(s) a schema pointer selects; '*' maps over a list. MISSING where absent."""
    if not pointer:
        return value
    head, rest = pointer[0], pointer[1:]
    if head == "*":
        if isinstance(value, list):
            return [values_at(item, rest) for item in value]
        return MISSING
    if isinstance(value, dict) and head in value:
        return values_at(value[head], rest)
    return MISSING


def _covered(path: tuple[str | int, ...], pointers: Iterable[Pointer]) -> bool:
    """True when a changed property path lies under (or above) one of the (changed) pointers."""
    for pointer in pointers:
        common = min(len(pointer), len(path))
        if all(p == "*" or p == str(q) for p, q in zip(pointer[:common], path[:common],
                                                          strict=True)):
            return True
    return False


def _mark(value: Any, replaced: set[str]) -> Any:
    """A copy of a template value where references to replaced resources read 'X (replaced)'
    (so they differ from BASE), at any depth: Ref, GetAtt, Sub strings, inside Join."""
    if isinstance(value, list):
        return [_mark(v, replaced) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref" and arg in replaced:
            return {"Ref": arg + REPLACED_MARK}
        if key == "Fn::GetAtt" and isinstance(arg, list) and arg and arg[0] in replaced:
            return {"Fn::GetAtt": [arg[0] + REPLACED_MARK, *arg[1:]]}
        if key == "Fn::GetAtt" and isinstance(arg, str) and arg.split(".", 1)[0] in replaced:
            target, _, attribute = arg.partition(".")
            return {"Fn::GetAtt": f"{target}{REPLACED_MARK}.{attribute}"}
        if key == "Fn::Sub":
            return {"Fn::Sub": _mark_sub(arg, replaced)}
    return {k: _mark(v, replaced) for k, v in value.items()}


def _mark_sub(arg: Any, replaced: set[str]) -> Any:
    def mark_text(text: str, local: Mapping[str, Any]) -> str:
        def swap(match: re.Match[str]) -> str:
            name = match.group(1)
            target, dot, attribute = name.partition(".")
            if target in replaced and name not in local:
                return "${" + target + REPLACED_MARK + dot + attribute + "}"
            return match.group(0)
        return re.sub(r"\$\{([^}!][^}]*)\}", swap, text)

    if isinstance(arg, str):
        return mark_text(arg, {})
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
        local = arg[1] if isinstance(arg[1], dict) else {}
        return [mark_text(arg[0], local), _mark(local, replaced)]
    return _mark(arg, replaced)


def replaced_references(value: Any) -> list[str]:
    """Logical IDs marked as replaced inside a (marked) value."""
    return sorted(set(_MARK_PATTERN.findall(json.dumps(value, default=repr))))


def _name_warning(schema: TypeSchema, before: Mapping[str, Any],
                  after: Mapping[str, Any], renamed: bool) -> str | None:
    """A replacement that keeps a custom physical name fails in CloudFormation."""
    suffix = schema.type_name.rsplit("::", 1)[-1]
    names = {"Name", f"{suffix}Name", f"{suffix}Identifier"}
    if suffix == "SecurityGroup":
        names.add("GroupName")
    for pointer in schema.create_only:
        if len(pointer) != 1 or pointer[0] not in names:
            continue
        old, new = before.get(pointer[0], MISSING), after.get(pointer[0], MISSING)
        if is_empty(new) or old != new:
            continue
        shown = new if isinstance(new, str) else json.dumps(new)
        if renamed:
            return (f"keeps the custom name {pointer[0]}={shown} under a new logical ID: the new "
                    "resource is created while the old one still holds the name, so the create "
                    "fails; change the name or let CloudFormation generate it")
        return (f"is replaced but keeps its custom name {pointer[0]}={shown}: CloudFormation "
                "refuses ('cannot update a stack when a custom-named resource requires "
                "replacing'); change the name too or let CloudFormation generate it")
    return None


def evaluate(resource_type: str, before: Mapping[str, Any], after: Mapping[str, Any],
             region: str | None) -> list[Cause]:
    """The causes for one resource present in both templates (after may carry replaced marks)."""
    if before.get("Type") != after.get("Type"):
        return [Cause(Impact.REPLACE, "Type", "the resource type changed",
                      before.get("Type"), after.get("Type"))]
    schema = type_schema(resource_type, region)
    old, new = properties(before), properties(after)
    causes: list[Cause] = []
    decided: list[Pointer] = []
    for pointer in schema.create_only:
        b, a = values_at(old, pointer), values_at(new, pointer)
        if b == a:
            continue
        decided.append(pointer)
        if "*" in pointer:
            causes.append(Cause(Impact.REPLACE, path_text(pointer), _create_only_reason(a), b, a))
            continue
        for leaf in leaf_changes(b, a, pointer):
            causes.append(Cause(Impact.REPLACE, path_text(leaf.path),
                                _create_only_reason(leaf.after), leaf.before, leaf.after))
    for pointer in schema.conditional:
        b, a = values_at(old, pointer), values_at(new, pointer)
        if b == a:
            continue
        decided.append(pointer)
        rule = CONDITIONAL_RULES.get((resource_type, "/".join(pointer)))
        if rule is None:
            impact, reason = Impact.MAY_REPLACE, (
                "conditionally create-only in the provider schema; the condition is not visible "
                "in the template")
        else:
            replaces, reason = rule(old, new, after)
            impact = Impact.REPLACE if replaces else Impact.IN_PLACE
        stops = (interruption(resource_type, pointer[0], old, new)
                 if impact is Impact.IN_PLACE else "")
        causes.append(Cause(impact, path_text(pointer), _with_refs(reason, a), b, a,
                            interruption=stops))
    for change in resource_changes(before, after):
        if change.in_properties and _covered(change.path[1:], decided):
            continue
        causes.append(_in_place(change, schema))
    return causes


def _create_only_reason(after: Any) -> str:
    refs = replaced_references(after)
    if refs:
        return (f"create-only, and it references {', '.join(refs)}, which is replaced: its value "
                "changes at deploy time")
    return "create-only property (provider schema): changing it replaces the resource"


def _with_refs(reason: str, after: Any) -> str:
    refs = replaced_references(after)
    return f"{reason} (references {', '.join(refs)}, which is replaced)" if refs else reason


def _in_place(change: Change, schema: TypeSchema) -> Cause:
    if not change.in_properties:
        return Cause(Impact.IN_PLACE, change.text(),
                     "template attribute only: CloudFormation records it, the resource itself is "
                     "untouched", change.before, change.after, attribute_only=True)
    refs = replaced_references(change.after)
    stops = INTERRUPTIONS.get((schema.type_name, str(change.path[1])))
    if refs:
        reason = f"references {', '.join(refs)}, which is replaced: new value at deploy time"
    elif stops:
        reason = stops
    elif schema.known:
        reason = "updatable property: updated in place"
    else:
        reason = (f"no provider schema for {schema.type_name}: assumed updatable in place "
                  "(a custom resource receives an Update event)")
    return Cause(Impact.IN_PLACE, change.text(), reason, change.before, change.after,
                 interruption=stops if stops and not refs else "")


def _stateful(resource_type: str, resource: Mapping[str, Any] | None) -> str | None:
    reason = STATEFUL_TYPES.get(resource_type)
    policies = {str(resource.get(k)) for k in ("DeletionPolicy", "UpdateReplacePolicy")
                if resource and k in resource}
    kept = sorted(policies & set(_KEEPING_POLICIES))
    if reason is None and kept:
        reason = f"{short_type(resource_type)} with a {'/'.join(kept)} policy"
    return reason


def assess(stack: StackDiff) -> list[Verdict]:
    """Verdicts for every resource of one stack that changes, directly or by propagation."""
    verdicts: dict[str, Verdict] = {}
    region = stack.region
    for diff in stack.resources:
        verdicts[diff.logical_id] = _direct(diff, region)
    if stack.base and stack.head:
        _propagate(stack, verdicts, region)
    for verdict in verdicts.values():
        verdict.stateful = _stateful(verdict.type, verdict.before or verdict.after)
        _warn(verdict, region)
    if stack.base and stack.head:
        _warn_subnet_groups(verdicts, stack.base.resources, stack.head.resources)
    return sorted((v for v in verdicts.values() if v.impact is not Impact.NONE),
                  key=lambda v: v.logical_id)


def _direct(diff: ResourceDiff, region: str | None) -> Verdict:
    verdict = Verdict(diff.logical_id, diff.type, Impact.NONE, path=diff.path,
                      renamed_from=diff.renamed_from, before=diff.before, after=diff.after)
    if diff.status is Status.ADDED:
        verdict.impact = Impact.ADD
    elif diff.status is Status.REMOVED:
        verdict.impact = Impact.REMOVE
        policy = str((diff.before or {}).get("DeletionPolicy", "Delete"))
        verdict.causes.append(Cause(Impact.REMOVE, "(resource)", {
            "Retain": "removed from the stack; DeletionPolicy Retain keeps it in the account, "
                      "unmanaged (orphaned)",
            "RetainExceptOnCreate": "removed from the stack; DeletionPolicy keeps it in the "
                                    "account, unmanaged (orphaned)",
            "Snapshot": "deleted after a final snapshot (DeletionPolicy Snapshot)",
        }.get(policy, "deleted")))
    elif diff.status is Status.RENAMED:
        verdict.impact = Impact.REPLACE
        verdict.causes.append(Cause(
            Impact.REPLACE, "(logical ID)",
            f"logical ID {diff.renamed_from} -> {diff.logical_id} (construct renamed or moved): "
            f"CloudFormation creates {diff.logical_id} and deletes {diff.renamed_from}",
            diff.renamed_from, diff.logical_id))
    else:
        assert diff.before is not None and diff.after is not None
        verdict.causes = evaluate(diff.type, diff.before, diff.after, region)
        verdict.impact = max((c.impact for c in verdict.causes), default=Impact.NONE)
    return verdict


def _propagate(stack: StackDiff, verdicts: dict[str, Verdict], region: str | None) -> None:
    """Re-evaluate every resource present on both sides with references to replaced resources
    marked, until no new replacement appears."""
    assert stack.base and stack.head
    base, head = stack.base.resources, stack.head.resources
    while True:
        replaced = {i for i, v in verdicts.items() if v.impact is Impact.REPLACE}
        grew = False
        for logical_id, resource in head.items():
            if logical_id not in base or logical_id in replaced:
                continue
            marked = _mark(copy.deepcopy(resource), replaced)
            if marked == resource:
                continue
            causes = evaluate(resource["Type"], base[logical_id], marked, region)
            impact = max((c.impact for c in causes), default=Impact.NONE)
            known = verdicts.get(logical_id)
            if known is None or impact > known.impact or len(causes) > len(known.causes):
                verdicts[logical_id] = Verdict(
                    logical_id, resource["Type"], impact, causes, path=construct_path(resource),
                    before=base[logical_id], after=resource)
                grew = grew or impact is Impact.REPLACE
        if not grew:
            return


def _warn(verdict: Verdict, region: str | None) -> None:
    if verdict.impact is not Impact.REPLACE or not verdict.before or not verdict.after:
        return
    schema = type_schema(verdict.type, region)
    warning = _name_warning(schema, properties(verdict.before), properties(verdict.after),
                            renamed=verdict.renamed_from is not None)
    if warning:
        verdict.warnings.append(warning)


SUBNET_GROUP_MOVED = (
    "is updated in place with subnets of another VPC ({vpcs}): RDS refuses that "
    "(ModifyDBSubnetGroup: 'The new Subnets are not in the same Vpc as the existing subnet "
    "group'), so the update fails and the stack rolls back. A database moves to another VPC only "
    "through a new DB subnet group (a new construct ID, hence a new logical ID and name) that "
    "ModifyDBInstance switches it to, with an outage (single-AZ instances only; a Multi-AZ one "
    "must be made single-AZ first), and the old group deleted afterwards")
"""What RDS does with a subnet group whose subnets move to another VPC (aws/aws-cdk#26135,
hashicorp/terraform-provider-aws#27459; ModifyDBInstance's DBSubnetGroupName documentation)."""


def _vpcs_of(group: Mapping[str, Any], resources: Mapping[str, Any]) -> set[str]:
    subnets = properties(group).get("SubnetIds", [])
    found = set()
    for subnet in subnets if isinstance(subnets, list) else []:
        target = ref_target(subnet)
        vpc = ref_target(properties(resources.get(target or "")).get("VpcId"))
        if vpc:
            found.add(vpc)
    return found


def _warn_subnet_groups(verdicts: Mapping[str, Verdict], base: Mapping[str, Any],
                        head: Mapping[str, Any]) -> None:
    """A DB subnet group updated in place whose subnets now lie in a replaced or different VPC."""
    for verdict in verdicts.values():
        if verdict.type != "AWS::RDS::DBSubnetGroup" or verdict.impact is not Impact.IN_PLACE:
            continue
        if verdict.logical_id not in base or verdict.logical_id not in head:
            continue
        before = _vpcs_of(base[verdict.logical_id], base)
        after = _vpcs_of(head[verdict.logical_id], head)
        moved = sorted(v for v in after if v not in before or (
            v in verdicts and verdicts[v].impact is Impact.REPLACE))
        if moved:
            verdict.warnings.append(SUBNET_GROUP_MOVED.format(
                vpcs=", ".join(f"{v} (replaced)" if v in before else v for v in moved)))


def acknowledge(verdicts: Iterable[Verdict], allowed: Iterable[str]) -> list[str]:
    """Mark destructive verdicts named in ALLOW_REPLACE (old or new logical ID) as acknowledged;
    return the names that matched no destructive change (likely typos)."""
    wanted = {a.strip() for a in allowed if a.strip()}
    used: set[str] = set()
    for verdict in verdicts:
        if not verdict.destructive:
            continue
        names = {verdict.logical_id} | ({verdict.renamed_from} if verdict.renamed_from else set())
        hit = names & wanted
        if hit:
            verdict.acknowledged = True
            used |= hit
    return sorted(wanted - used)
