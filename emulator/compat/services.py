"""Per-service fixes outside ECS: S3 bucket policies, KMS keys, RDS instances, classic ELBs."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

from moto.ec2.models import ec2_backends
from moto.elb import models as elb_models
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.kms import models as kms_models
from moto.rds import models as rds_models
from moto.s3 import models as s3_models

from emulator.compat import notes
from emulator.compat.model_base import patch_model
from emulator.compat.util import physical_id

# ---------------------------------------------------------------- S3 bucket policies


def unconditional_statements(policy: bytes | str) -> str:
    """The policy with only its statements that carry no ``Condition``.

    moto ignores a statement's conditions and applied e.g. the bootstrap
    bucket's ``Deny if aws:SecureTransport is false`` to every request, so the
    CDK CLI could not upload assets. Conditional statements are left out of
    enforcement (the policy as stored is unchanged).
    """
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements if "Condition" not in s]
    return json.dumps(document)


def bucket_permission(self: Any, action: str, resource: str) -> Any:
    """``FakeBucket.get_permission`` enforcing only unconditional statements."""
    if self.policy is None:
        return PermissionResult.NEUTRAL
    return IAMPolicy(unconditional_statements(self.policy)).is_action_permitted(action, resource)


# ---------------------------------------------------------------- KMS

_original_key_create = kms_models.Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def kms_key_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the key with its ``KeyPolicy`` as a JSON string.

    CloudFormation takes the policy as a JSON object; moto stored the dict as it came, and every
    later ``DescribeKey`` failed with HTTP 500 when it parsed the policy.
    """
    spec = copy.deepcopy(cloudformation_json)
    policy = spec.get("Properties", {}).get("KeyPolicy")
    if isinstance(policy, dict):
        spec["Properties"]["KeyPolicy"] = json.dumps(policy)
    return _original_key_create(cls, resource_name, spec, account_id, region_name, **kwargs)


# ---------------------------------------------------------------- RDS

_original_db_create = rds_models.DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _db_properties(cloudformation_json: Any) -> dict[str, Any]:
    """Resolved properties as moto's model wants them (a subnet group model, ids, numbers)."""
    properties = dict(cloudformation_json.get("Properties") or {})
    if "DBSubnetGroupName" in properties:
        properties["DBSubnetGroupName"] = SimpleNamespace(
            name=physical_id(properties["DBSubnetGroupName"])
        )
    if "VPCSecurityGroups" in properties and "VpcSecurityGroupIds" not in properties:
        properties["VpcSecurityGroupIds"] = [
            physical_id(g) for g in properties["VPCSecurityGroups"]
        ]
    for key in _DB_NUMBERS:
        if isinstance(properties.get(key), str):
            properties[key] = int(properties[key])
    return properties


_DB_NUMBERS = ("AllocatedStorage", "Port", "BackupRetentionPeriod", "Iops", "MaxAllocatedStorage")


def db_instance_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the DB instance with its subnet group, VPC security groups, deletion protection and
    a lower-case identifier.

    moto expected ``DBSubnetGroupName`` to be a model (a Ref is a string), ignored
    ``VPCSecurityGroups`` and ``DeletionProtection`` (so ``cdk destroy`` deleted a protected
    database that AWS would refuse to delete).
    """
    fixed = copy.copy(cloudformation_json)
    properties = _db_properties(cloudformation_json)
    fixed["Properties"] = properties
    name = properties.get("DBInstanceIdentifier", resource_name).lower()
    instance = _original_db_create(cls, name, fixed, account_id, region_name, **kwargs)
    instance.deletion_protection = _bool(properties.get("DeletionProtection", False))
    instance.cfn_properties = dict(cloudformation_json.get("Properties") or {})
    return instance


# CloudFormation property -> DBInstance attribute, for what ModifyDBInstance changes in place.
DB_MODIFIABLE = {
    "DeletionProtection": "deletion_protection",
    "BackupRetentionPeriod": "backup_retention_period",
    "PreferredBackupWindow": "preferred_backup_window",
    "PreferredMaintenanceWindow": "preferred_maintenance_window",
    "DBInstanceClass": "db_instance_class",
    "AllocatedStorage": "allocated_storage",
    "MaxAllocatedStorage": "max_allocated_storage",
    "StorageType": "storage_type",
    "Iops": "iops",
    "MultiAZ": "multi_az",
    "EngineVersion": "engine_version",
    "AutoMinorVersionUpgrade": "auto_minor_version_upgrade",
    "CopyTagsToSnapshot": "copy_tags_to_snapshot",
    "PubliclyAccessible": "publicly_accessible",
    "MonitoringInterval": "monitoring_interval",
    "MonitoringRoleArn": "monitoring_role_arn",
    "EnableIAMDatabaseAuthentication": "enable_iam_database_authentication",
    "VPCSecurityGroups": "vpc_security_group_ids",
    "MasterUserPassword": "master_user_password",
    "CACertificateIdentifier": "ca_certificate_identifier",
}
_DB_BOOLEANS = {
    "DeletionProtection",
    "MultiAZ",
    "AutoMinorVersionUpgrade",
    "CopyTagsToSnapshot",
    "PubliclyAccessible",
    "EnableIAMDatabaseAuthentication",
}


def db_modification(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """What ModifyDBInstance would change (attribute -> value) and the changed properties it
    cannot (on AWS most of those replace the instance)."""
    changes: dict[str, Any] = {}
    unsupported: list[str] = []
    for key in sorted({*old, *new}):
        if old.get(key) == new.get(key) or physical_id(old.get(key)) == physical_id(new.get(key)):
            continue
        attribute = DB_MODIFIABLE.get(key)
        if attribute is None or key not in new:
            unsupported.append(key)
            continue
        value = new[key]
        if key in _DB_BOOLEANS:
            value = _bool(value)
        elif key in _DB_NUMBERS:
            value = int(value)
        elif key == "VPCSecurityGroups":
            value = [physical_id(g) for g in value]
        changes[attribute] = value
    return changes, unsupported


def db_instance_update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """Apply what ``ModifyDBInstance`` changes in place (deletion protection, class, storage,
    backups, ...); any other changed property is kept as it was and recorded as not applied.

    moto has no updater for the type: every change was silently ignored.
    """
    new = dict(cloudformation_json.get("Properties") or {})
    old = getattr(original_resource, "cfn_properties", {})
    changes, unsupported = db_modification(old, new)
    if changes:
        rds_models.rds_backends[account_id][region_name].modify_db_instance(
            original_resource.db_instance_identifier, changes
        )
    if unsupported:
        logical_id = getattr(original_resource, "logical_resource_id", "")
        notes.record(
            notes.NOT_APPLIED,
            "AWS::RDS::DBInstance",
            f"{logical_id} (AWS::RDS::DBInstance {original_resource.db_instance_identifier})",
            f"properties changed: {', '.join(unsupported)}; the emulator applies only what "
            "ModifyDBInstance changes in place (on AWS these replace the instance), so they were "
            "kept as they were",
        )
    original_resource.cfn_properties = {
        **new,
        **{k: old[k] for k in unsupported if k in old},
    }
    return original_resource


# ---------------------------------------------------------------- classic ELB

_original_elb_create = elb_models.LoadBalancer.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _elb_attributes(properties: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``modify_load_balancer_attributes`` from CloudFormation properties."""
    attributes: dict[str, Any] = {}
    if "CrossZone" in properties:
        attributes["cross_zone"] = {"Enabled": _bool(properties["CrossZone"])}
    draining = properties.get("ConnectionDrainingPolicy")
    if draining:
        attributes["connection_draining"] = {
            "Enabled": _bool(draining["Enabled"]),
            "Timeout": int(draining.get("Timeout", 300)),
        }
    logging_policy = properties.get("AccessLoggingPolicy")
    if logging_policy:
        attributes["access_log"] = {
            "Enabled": _bool(logging_policy["Enabled"]),
            "S3BucketName": physical_id(logging_policy["S3BucketName"]),
            "EmitInterval": int(logging_policy.get("EmitInterval", 60)),
            "S3BucketPrefix": logging_policy.get("S3BucketPrefix", ""),
        }
    settings = properties.get("ConnectionSettings")
    if settings:
        attributes["connection_settings"] = {"IdleTimeout": int(settings["IdleTimeout"])}
    return attributes


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def elb_name(generated: str) -> str:
    """A classic ELB name fits 32 characters: keep the start and the random suffix of moto's long
    name.
    """
    if len(generated) <= 32:
        return generated
    head, _, suffix = generated.rpartition("-")
    return f"{head[: 31 - len(suffix)].rstrip('-')}-{suffix}"


def load_balancer_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the classic ELB with subnets, security groups, and its attributes.

    moto kept listeners, instances, policies and the health check, but dropped
    ``Subnets``, ``SecurityGroups``, ``CrossZone``, ``ConnectionDrainingPolicy``
    and ``AccessLoggingPolicy``, and failed on string health-check numbers.
    """
    fixed = copy.deepcopy(cloudformation_json)
    properties = fixed.setdefault("Properties", {})
    check = properties.get("HealthCheck")
    if check:
        for key in ("Timeout", "HealthyThreshold", "UnhealthyThreshold", "Interval"):
            check[key] = int(check[key])
    elb = _original_elb_create(
        cls, elb_name(resource_name), fixed, account_id, region_name, **kwargs
    )
    backend = elb_models.elb_backends[account_id][region_name]
    subnets = [physical_id(s) for s in properties.get("Subnets", [])]
    if subnets:
        backend.attach_load_balancer_to_subnets(elb.name, subnets)
        elb.vpc_id = ec2_backends[account_id][region_name].get_subnet(subnets[0]).vpc_id
    groups = [physical_id(g) for g in properties.get("SecurityGroups", [])]
    if groups:
        backend.apply_security_groups_to_load_balancer(elb.name, groups)
    attributes = _elb_attributes(properties)
    if attributes:
        backend.modify_load_balancer_attributes(elb.name, **attributes)
    return elb


def apply() -> None:
    """Install the per-service fixes."""
    patch_model(rds_models.DBSubnetGroup, physical_id=lambda self: self.name)
    s3_models.FakeBucket.get_permission = bucket_permission  # type: ignore[method-assign]
    patch_model(rds_models.DBInstance, create=db_instance_create, update=db_instance_update)
    patch_model(elb_models.LoadBalancer, create=load_balancer_create)
    patch_model(kms_models.Key, create=kms_key_create)
