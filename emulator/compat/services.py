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


def db_instance_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the DB instance with its subnet group, VPC security groups and a lower-case
    identifier.

    moto expected ``DBSubnetGroupName`` to be a model (a Ref is a string) and
    ignored ``VPCSecurityGroups``.
    """
    fixed = copy.copy(cloudformation_json)
    properties = dict(fixed.get("Properties") or {})
    if "DBSubnetGroupName" in properties:
        properties["DBSubnetGroupName"] = SimpleNamespace(
            name=physical_id(properties["DBSubnetGroupName"])
        )
    if "VPCSecurityGroups" in properties and "VpcSecurityGroupIds" not in properties:
        properties["VpcSecurityGroupIds"] = [
            physical_id(g) for g in properties["VPCSecurityGroups"]
        ]
    for key in ("AllocatedStorage", "Port", "BackupRetentionPeriod", "Iops"):
        if isinstance(properties.get(key), str):
            properties[key] = int(properties[key])
    fixed["Properties"] = properties
    name = properties.get("DBInstanceIdentifier", resource_name).lower()
    return _original_db_create(cls, name, fixed, account_id, region_name, **kwargs)


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
    rds_models.DBSubnetGroup.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    s3_models.FakeBucket.get_permission = bucket_permission  # type: ignore[method-assign]
    rds_models.DBInstance.create_from_cloudformation_json = classmethod(db_instance_create)  # type: ignore[method-assign,assignment]
    elb_models.LoadBalancer.create_from_cloudformation_json = classmethod(load_balancer_create)  # type: ignore[method-assign,assignment]
    kms_models.Key.create_from_cloudformation_json = classmethod(kms_key_create)  # type: ignore[method-assign,assignment]
