"""The review agrees with the pinned CDK CLI's `cdk diff --template <BASE template>`, resource by
resource, for every change in changes.py; where it legitimately says more, the resource and the
reason are named below."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from assembly_review import diff, replacement, report
from assembly_review.replacement import Impact
from assembly_review.report import Review, review
from assembly_review.schemas import TypeSchema
from assembly_review.template import load_assembly

from . import cli_diff
from .changes import CHANGES
from .conftest import STACK, Case

OURS = {"added": "added", "removed": "removed", "in-place": "in place", "REPLACE": "replaced",
        "may-replace": "may-replace"}

DB = "DatabaseInstanceAA8A5FDE"
LOCATION_ELB = "ServicesLocationLoadBalancer2ECC3FDD"
USER_ELB = "ServicesUserLoadBalancerF1E9343A"
LOCATION_SERVICE = "ServicesLocationService4D45543D"
USER_SERVICE = "ServicesUserService8C9A362B"
LAUNCH_TEMPLATE = "ClusterLaunchTemplateD946544B"

# Why the CLI is silent: it propagates a replacement to the resources that reference the replaced
# one only when that makes them replaced too; CloudFormation still updates the others in place,
# because the value they reference (an ARN, an ID, a name) changes.
_FOLLOWS = "the CLI omits in-place updates caused by a replaced resource they reference: "
_ROLLOUT = (_FOLLOWS + "its TaskDefinition references the replaced task definition, so "
            "CloudFormation points the service at the new revision; this update is the rollout")
_CONDITIONAL = ("the CLI says 'may be replaced' for every conditionally create-only property; "
                "the RDS provider replaces an instance only for engine, AZ, snapshot/restore or "
                "source changes, never for this one: ")

_ALARMS = (_FOLLOWS + "CloudWatch alarms whose dimensions name the replaced resource are "
           "updated to watch the new one")
_DASHBOARD = _FOLLOWS + "the dashboard's widgets name the replaced resource"

# change -> logical ID, or a prefix ending in '*' -> (review's verdict, CLI's verdict, why the
# review is right). Every entry must match a resource of its change.
LEGITIMATE: dict[str, dict[str, tuple[str, str, str]]] = {
    "image_tag": {LOCATION_SERVICE: ("in place", "unchanged", _ROLLOUT)},
    "db_encryption_key": {
        "DatabaseSecretAttachmentE5D1B020": ("in place", "unchanged", _FOLLOWS + "TargetId names "
                                             "the replaced instance"),
        LOCATION_SERVICE: ("in place", "unchanged", _ROLLOUT),
        USER_SERVICE: ("in place", "unchanged", _ROLLOUT),
        "DatabaseUsers547D14AA": ("in place", "unchanged", _FOLLOWS + "the provisioner receives "
                                  "an Update with the new instance's endpoint"),
        "DatabaseUsersSecretsLocation428BEC75": (
            "in place", "unchanged", _FOLLOWS + "its SecretStringTemplate names the new "
            "instance's host"),
        "DatabaseUsersSecretsUserCAA60BEC": ("in place", "unchanged", _FOLLOWS + "as for the "
                                             "location service's secret"),
        "DatabaseAlarms*": ("in place", "unchanged", _ALARMS),
        "MonitoringDashboard*": ("in place", "unchanged", _DASHBOARD),
    },
    "db_construct_renamed": {
        LOCATION_SERVICE: ("in place", "unchanged", _ROLLOUT),
        USER_SERVICE: ("in place", "unchanged", _ROLLOUT),
    },
    "cluster_name": {
        "ClusterInstanceRoleDefaultPolicyCCF783BA": (
            "in place", "unchanged", _FOLLOWS + "its statements name the cluster's ARN"),
        LAUNCH_TEMPLATE: ("in place", "unchanged", _FOLLOWS + "a new launch template version: "
                          "its user data names the new cluster, its security group is new"),
        "ServicesLocationAlarms*": ("in place", "unchanged", _ALARMS),
        "ServicesUserAlarms*": ("in place", "unchanged", _ALARMS),
        "MonitoringDashboard*": ("in place", "unchanged", _DASHBOARD),
        LOCATION_ELB: ("in place", "unchanged", _FOLLOWS + "SecurityGroups names the cluster's "
                       "load balancer security group, replaced: its description names the cluster"),
        USER_ELB: ("in place", "unchanged", _FOLLOWS + "as for the location service's load "
                   "balancer"),
    },
    "db_multi_az": {DB: ("in place", "may-replace", _CONDITIONAL + "MultiAZ is a ModifyDBInstance "
                         "that adds or removes the standby")},
    "db_backup_retention": {DB: ("in place", "may-replace", _CONDITIONAL + "BackupRetentionPeriod "
                                 "7 -> 14 days is modified in place without an outage")},
    "health_check_path": {LOCATION_ELB: (
        "in place", "may-replace", "a classic ELB is replaced only when HealthCheck is added or "
        "removed entirely (CloudFormation's documentation of the property); a changed target "
        "is updated in place")},
    "vpc_cidr": {
        LOCATION_ELB: ("in place", "may-replace", "Subnets are replaced but still present: a "
                       "classic ELB is replaced only when all subnets are added or removed"),
        USER_ELB: ("in place", "may-replace", "as for the location service's load balancer"),
        "ClusterAutoScalingGroupASG8FBA5099": (
            "in place", "unchanged", _FOLLOWS + "VPCZoneIdentifier lists the new subnets; without "
            "an AutoScalingReplacingUpdate policy the group is updated, not replaced"),
        LAUNCH_TEMPLATE: ("in place", "unchanged", _FOLLOWS + "the instance security group is new"),
        DB: ("in place", "unchanged", _FOLLOWS + "VPCSecurityGroups names the new security group"),
        "DatabaseInstanceSubnetGroupDE121BB6": ("in place", "unchanged",
                                                _FOLLOWS + "SubnetIds are the new subnets"),
        "VpcRestrictDefaultSecurityGroupCustomResourceC73DA2BE": (
            "in place", "unchanged", _FOLLOWS + "the custom resource receives an Update with the "
            "new VPC's default security group"),
        "CustomVpcRestrictDefaultSGCustomResourceProviderRole26592FE0": (
            "in place", "unchanged", _FOLLOWS + "its policy names the new default security group"),
        "DatabaseUsersFunction31CFDB3C": ("in place", "unchanged", _FOLLOWS + "its VpcConfig names "
                                          "the new subnets and security group"),
        LOCATION_SERVICE: ("in place", "unchanged", _FOLLOWS + "its service registry (Cloud Map, "
                           "in the VPC's private namespace) is replaced with the namespace"),
        USER_SERVICE: ("in place", "unchanged", _FOLLOWS + "as for the location service"),
    },
}

RENAMES = ("A renamed logical ID is one resource replaced for the review (the CLI lists the old ID "
           "removed and the new one added): same effect, one line instead of two")


def ours(result: Review) -> dict[str, str]:
    """Logical ID -> verdict in the CLI's words; a rename becomes old removed + new added."""
    verdicts = {}
    for verdict in result.stacks[0].verdicts:
        if verdict.renamed_from:
            verdicts[verdict.renamed_from] = "removed"
            verdicts[verdict.logical_id] = "added"
        else:
            verdicts[verdict.logical_id] = OURS[verdict.impact.label]
    return verdicts


def run(case: Case) -> Review:
    return review(load_assembly(case.base), load_assembly(case.head))


def named(name: str, logical_id: str) -> tuple[str, tuple[str, str, str]] | None:
    """The LEGITIMATE entry (pattern, entry) that names a resource of a change, if any."""
    for pattern, entry in LEGITIMATE.get(name, {}).items():
        if pattern == logical_id or (pattern.endswith("*") and
                                     logical_id.startswith(pattern[:-1])):
            return pattern, entry
    return None


def disagreement(name: str, case: Case, cli_output: str) -> str:
    """'' when the review and the CLI agree on every resource (named differences applied), else
    what differs."""
    result = run(case)
    assert [s.name for s in result.stacks] == [STACK]
    review_says, cli_says = ours(result), cli_diff.verdicts(cli_output)
    expected = dict(cli_says)
    used = set()
    for logical_id in sorted(set(review_says) | set(cli_says)):
        found = named(name, logical_id)
        if found is None:
            continue
        pattern, (mine, theirs, _why) = found
        used.add(pattern)
        assert cli_says.get(logical_id, "unchanged") == theirs, (
            f"{name}: the CLI no longer says {theirs} for {logical_id}; update LEGITIMATE")
        expected[logical_id] = mine
    stale = set(LEGITIMATE.get(name, {})) - used
    if stale:
        return f"{name}: LEGITIMATE names resources that no longer differ: {sorted(stale)}"
    expected = {i: v for i, v in expected.items() if v != "unchanged"}
    if review_says != expected:
        return _explain(review_says, expected)
    _check_reasons(name, result)
    return ""


@pytest.mark.cli
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_verdict_per_resource_agrees_with_cdk_diff(
    name: str, cases: dict[str, Case], batched_diff: dict[str, str]
) -> None:
    assert disagreement(name, cases[name], batched_diff[name]) == ""


def _no_create_only_task_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    real = replacement.type_schema

    def schema(type_name: str, region: str | None = None) -> TypeSchema:
        found = real(type_name, region)
        if type_name == "AWS::ECS::TaskDefinition":
            return TypeSchema(type_name, True, (), found.conditional)
        return found
    monkeypatch.setattr(replacement, "type_schema", schema)


def _no_elb_health_check_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = dict(replacement.CONDITIONAL_RULES)
    del rules[("AWS::ElasticLoadBalancing::LoadBalancer", "HealthCheck")]
    monkeypatch.setattr(replacement, "CONDITIONAL_RULES", rules)


def _properties_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    real = diff.resource_changes
    monkeypatch.setattr(diff, "resource_changes",
                        lambda before, after: tuple(c for c in real(before, after)
                                                    if not c.in_properties))


def _services_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "IGNORED_TYPES", {**report.IGNORED_TYPES,
                                                  "AWS::ECS::Service": "sabotage"})


def _no_propagation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replacement, "_propagate", lambda stack, verdicts, region: None)


@pytest.mark.cli
@pytest.mark.parametrize(("name", "sabotage"), [
    ("image_tag", _no_create_only_task_definitions),  # REPLACE from createOnlyProperties
    ("health_check_path", _no_elb_health_check_rule),  # a decided conditional -> may-replace
    ("db_instance_class", _properties_ignored),  # in place
    ("service_added", _services_dropped),  # added
    ("service_removed", _services_dropped),  # removed
    ("image_tag", _no_propagation),  # the in-place update that follows a replacement
    ("cluster_name", _no_propagation),  # a replacement that follows a replacement
])
def test_agreement_check_fails_when_a_rule_breaks(
    name: str, sabotage: Callable[[pytest.MonkeyPatch], None], cases: dict[str, Case],
    batched_diff: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sabotage(monkeypatch)
    assert disagreement(name, cases[name], batched_diff[name]) != ""


def _check_reasons(name: str, result: Review) -> None:
    """Each named difference has the cause it claims: only references to replaced resources where
    the CLI is silent, a decided conditional rule where the CLI says 'may be replaced'."""
    for verdict in result.stacks[0].verdicts:
        found = named(name, verdict.logical_id)
        if found is None:
            continue
        _pattern, (_mine, theirs, why) = found
        assert verdict.causes, (verdict.logical_id, why)
        if theirs == "unchanged":
            assert all("which is replaced" in c.reason for c in verdict.causes), (
                verdict.logical_id, verdict.causes, why)
        else:
            assert all(c.impact is not Impact.MAY_REPLACE for c in verdict.causes), (
                verdict.logical_id, verdict.causes)


def _explain(review_says: dict[str, str], expected: dict[str, str]) -> str:
    lines = ["review vs CLI disagree:"]
    for logical_id in sorted(set(review_says) | set(expected)):
        mine, theirs = review_says.get(logical_id, "unchanged"), expected.get(logical_id,
                                                                             "unchanged")
        if mine != theirs:
            lines.append(f"  {logical_id}: review {mine}, CLI {theirs}")
    return "\n".join(lines)
