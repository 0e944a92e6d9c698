"""Per-type rules of the review: what CloudFormation does when a property whose effect depends on
the values changes.

- :data:`CONDITIONAL_RULES`: a changed ``conditionalCreateOnlyProperties`` property (the provider
  schema says "may replace"; the CDK CLI says "may be replaced" for all of them), decided from the
  template where the condition can be read there: replaced, or updated in place, and why;
- :data:`INTERRUPTIONS`: updatable properties whose in-place update still interrupts the resource.

The engine (replacement.py) applies them; a (type, property) missing here stays may-replace, or an
update without interruption.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .diff import MISSING, is_empty


class Outcome(NamedTuple):
    """What a conditional rule decides: the resource is replaced or updated in place, and why."""

    replaces: bool
    reason: str


ConditionalRule = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]],
                           Outcome]
"""(BASE properties, head properties, head resource) -> the outcome."""


def _replace_unless(mutable: bool, yes: str, no: str) -> Outcome:
    return Outcome(False, yes) if mutable else Outcome(True, no)


def _rds_engine(before: Mapping[str, Any], after: Mapping[str, Any],
                _resource: Mapping[str, Any]) -> Outcome:
    old, new = str(before.get("Engine", "")).lower(), str(after.get("Engine", "")).lower()
    upgrades = {("aurora", "aurora-mysql"), ("oracle-se", "oracle-se2"),
                ("oracle-se1", "oracle-se2"), ("oracle-ee", "oracle-ee-cdb"),
                ("oracle-se2", "oracle-se2-cdb")}
    return _replace_unless(
        old == new or (old, new) in upgrades,
        f"engine {old} -> {new} is an upgrade path RDS applies in place",
        f"RDS cannot turn a {old} instance into {new}: a new, empty instance is created",
    )


def _rds_cleared(name: str) -> ConditionalRule:
    def rule(before: Mapping[str, Any], after: Mapping[str, Any],
             _resource: Mapping[str, Any]) -> Outcome:
        return _replace_unless(
            is_empty(after.get(name, MISSING)) or (name == "UseLatestRestorableTime"
                                                  and after.get(name) is not True),
            f"{name} removed after the restore/creation: the instance stays as it is",
            f"a new {name} makes RDS create a new instance from it",
        )
    return rule


def _rds_source(name: str) -> ConditionalRule:
    def rule(before: Mapping[str, Any], after: Mapping[str, Any],
             _resource: Mapping[str, Any]) -> Outcome:
        return _replace_unless(
            is_empty(after.get(name, MISSING)),
            f"{name} removed: the read replica is promoted to a standalone instance in place",
            f"a different {name} needs a new replica",
        )
    return rule


def _rds_performance_insights_key(before: Mapping[str, Any], after: Mapping[str, Any],
                                  _resource: Mapping[str, Any]) -> Outcome:
    return _replace_unless(
        is_empty(before.get("PerformanceInsightsKMSKeyId", MISSING)),
        "a first Performance Insights key is set in place",
        "RDS cannot change the Performance Insights key once set: a new instance",
    )


def _rds_availability_zone(before: Mapping[str, Any], after: Mapping[str, Any],
                           _resource: Mapping[str, Any]) -> Outcome:
    return _replace_unless(
        is_empty(after.get("AvailabilityZone", MISSING)) and after.get("MultiAZ") is True,
        "the AZ is dropped for a Multi-AZ deployment: RDS places it, in place",
        "moving a single-AZ instance to another AZ creates a new instance",
    )


def _rds_in_place(reason: str) -> ConditionalRule:
    def rule(before: Mapping[str, Any], after: Mapping[str, Any],
             _resource: Mapping[str, Any]) -> Outcome:
        return Outcome(False, reason)
    return rule


def _rds_backup_retention(before: Mapping[str, Any], after: Mapping[str, Any],
                          _resource: Mapping[str, Any]) -> Outcome:
    old = before.get("BackupRetentionPeriod", 1)
    new = after.get("BackupRetentionPeriod", 1)
    if (str(old) == "0") != (str(new) == "0"):
        return Outcome(False, (
            f"automated backups turned {'on' if str(old) == '0' else 'off'} ({old} -> {new} "
            "days): modified in place, with a brief outage while RDS applies it"))
    return Outcome(False, f"backup retention {old} -> {new} days: modified in place, no outage")


def _elb_present(name: str) -> ConditionalRule:
    def rule(before: Mapping[str, Any], after: Mapping[str, Any],
             _resource: Mapping[str, Any]) -> Outcome:
        had, has = not is_empty(before.get(name, MISSING)), not is_empty(after.get(name, MISSING))
        return _replace_unless(
            had and has,
            f"{name} changed but present before and after: updated in place (a classic ELB is "
            f"replaced only when {name} is added or removed entirely)",
            f"{name} {'added' if has else 'removed'} entirely: CloudFormation replaces a classic "
            "ELB in that case",
        )
    return rule


def _asg_replacing(name: str) -> ConditionalRule:
    def rule(before: Mapping[str, Any], after: Mapping[str, Any],
             resource: Mapping[str, Any]) -> Outcome:
        policy = resource.get("UpdatePolicy", {})
        will_replace = policy.get("AutoScalingReplacingUpdate", {}).get("WillReplace")
        if will_replace is True or str(will_replace).lower() == "true":
            return Outcome(True, f"{name} changed and UpdatePolicy.AutoScalingReplacingUpdate"
                                 ".WillReplace is true: a new group replaces the old one")
        if "AutoScalingRollingUpdate" in policy:
            return Outcome(False, f"{name} changed: updated in place; the rolling-update policy "
                                  "replaces the instances in batches")
        return Outcome(False, f"{name} changed: updated in place; no rolling-update policy, so "
                              "running instances are not replaced (only new ones use it)")
    return rule


def _vpc_tenancy(before: Mapping[str, Any], after: Mapping[str, Any],
                 _resource: Mapping[str, Any]) -> Outcome:
    return _replace_unless(
        after.get("InstanceTenancy", "default") == "default",
        "tenancy dedicated -> default is modified in place",
        "a VPC's tenancy can only be changed to default in place",
    )


CONDITIONAL_RULES: dict[tuple[str, str], ConditionalRule] = {
    # The RDS provider replaces an instance only when its immutability checks fail: engine
    # (except upgrade paths), Performance Insights key once set, AZ, snapshot/restore/source
    # settings. The other conditional properties are always modified in place.
    ("AWS::RDS::DBInstance", "Engine"): _rds_engine,
    ("AWS::RDS::DBInstance", "PerformanceInsightsKMSKeyId"): _rds_performance_insights_key,
    ("AWS::RDS::DBInstance", "AvailabilityZone"): _rds_availability_zone,
    **{("AWS::RDS::DBInstance", name): _rds_cleared(name) for name in (
        "DBSnapshotIdentifier", "DBClusterSnapshotIdentifier", "RestoreTime",
        "UseLatestRestorableTime", "SourceDBInstanceAutomatedBackupsArn", "SourceDbiResourceId")},
    **{("AWS::RDS::DBInstance", name): _rds_source(name) for name in (
        "SourceDBInstanceIdentifier", "SourceDBClusterIdentifier")},
    ("AWS::RDS::DBInstance", "MultiAZ"): _rds_in_place(
        "Multi-AZ on/off is a ModifyDBInstance in place: turning it on adds a standby built from a "
        "snapshot without downtime (latency may rise while it syncs), turning it off removes it"),
    ("AWS::RDS::DBInstance", "BackupRetentionPeriod"): _rds_backup_retention,
    ("AWS::RDS::DBInstance", "AutoMinorVersionUpgrade"): _rds_in_place(
        "modified in place, no outage"),
    ("AWS::RDS::DBInstance", "PreferredMaintenanceWindow"): _rds_in_place(
        "modified in place, no outage"),
    ("AWS::RDS::DBInstance", "DBParameterGroupName"): _rds_in_place(
        "modified in place; static parameters apply at the next reboot"),
    **{("AWS::ElasticLoadBalancing::LoadBalancer", name): _elb_present(name)
       for name in ("HealthCheck", "Subnets", "AvailabilityZones")},
    **{("AWS::AutoScaling::AutoScalingGroup", name): _asg_replacing(name) for name in (
        "LaunchTemplate", "LaunchConfigurationName", "MixedInstancesPolicy", "VPCZoneIdentifier")},
    ("AWS::EC2::VPC", "InstanceTenancy"): _vpc_tenancy,
}


# Updatable properties whose update still interrupts the resource (CloudFormation's "Some
# interruptions"), with what the reviewer should expect.
INTERRUPTIONS: dict[tuple[str, str], str] = {
    ("AWS::RDS::DBInstance", "DBInstanceClass"): (
        "updated in place with some interruption: RDS moves the instance to the new class and "
        "restarts it (minutes of downtime for a single-AZ instance, a failover for Multi-AZ)"),
    ("AWS::RDS::DBInstance", "EngineVersion"): (
        "updated in place with some interruption: the engine upgrade restarts the instance"),
    ("AWS::RDS::DBInstance", "StorageType"): (
        "updated in place; storage optimization runs for hours, with degraded performance"),
    ("AWS::RDS::DBInstance", "MonitoringInterval"): (
        "updated in place with some interruption (turning Enhanced Monitoring on or off)"),
    ("AWS::ElasticLoadBalancing::LoadBalancer", "Listeners"): (
        "updated in place, but CloudFormation deletes and re-creates the listener: clients cannot "
        "connect to it during the update"),
}


def interruption(resource_type: str, name: str, before: Mapping[str, Any],
                 after: Mapping[str, Any]) -> str:
    """What updating one top-level property in place interrupts ('' for nothing)."""
    if (resource_type, name) == ("AWS::RDS::DBInstance", "BackupRetentionPeriod"):
        old = str(before.get("BackupRetentionPeriod", 1))
        new = str(after.get("BackupRetentionPeriod", 1))
        if (old == "0") != (new == "0"):
            return "a brief outage while RDS turns automated backups " + (
                "on" if old == "0" else "off")
        return ""
    return INTERRUPTIONS.get((resource_type, name), "")
