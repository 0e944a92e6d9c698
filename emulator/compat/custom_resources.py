"""Answer Lambda-backed custom resources in-process.

moto 5.2.5 invokes the provider Lambda in Docker and waits for it to call back;
with no Docker the resource never completes and ``GetAtt`` on it is empty. Here
each known CDK provider is emulated by what its Lambda would do to the
backends; any other custom type gets a plain SUCCESS with no data (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from moto.cloudformation import custom_model
from moto.ec2.models import ec2_backends
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from emulator.compat.util import physical_id, props

logger = logging.getLogger("emulator.compat")

Handler = Callable[[str, str, dict[str, Any]], tuple[str | None, dict[str, Any]]]


def restrict_default_sg(
    account_id: str, region: str, properties: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """``Custom::VpcRestrictDefaultSG``: remove every rule of the VPC's default security group."""
    group_id = physical_id(properties["DefaultSecurityGroupId"])
    group = ec2_backends[account_id][region].get_security_group_by_name_or_id(group_id)
    if group is not None:
        group.ingress_rules.clear()
        group.egress_rules.clear()
    return group_id, {}


def log_retention(
    account_id: str, region: str, properties: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """``Custom::LogRetention``: create the log group if needed and set its retention."""
    name = physical_id(properties["LogGroupName"])
    backend = logs_backends[account_id][region]
    if name not in backend.groups:
        backend.create_log_group(name, {})
    days = properties.get("RetentionInDays")
    if days:
        backend.put_retention_policy(name, int(days))
    return name, {}


def auto_delete_objects(
    account_id: str, region: str, properties: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """``Custom::S3AutoDeleteObjects``: nothing on create; the bucket is emptied on delete."""
    return physical_id(properties["BucketName"]), {}


def empty_bucket(account_id: str, region: str, properties: dict[str, Any]) -> None:
    """Delete handler of ``Custom::S3AutoDeleteObjects``."""
    backend = s3_backends[account_id][get_partition(region)]
    name = physical_id(properties["BucketName"])
    bucket = backend.buckets.get(name)
    if bucket is None:
        return
    for key in list(bucket.keys.keys()):
        backend.delete_object(name, key)


def generic(
    account_id: str, region: str, properties: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """Unknown provider: answer SUCCESS without data, as a no-op Lambda would."""
    return None, {}


CREATE_HANDLERS: dict[str, Handler] = {
    "Custom::VpcRestrictDefaultSG": restrict_default_sg,
    "Custom::LogRetention": log_retention,
    "Custom::S3AutoDeleteObjects": auto_delete_objects,
}
DELETE_HANDLERS: dict[str, Callable[[str, str, dict[str, Any]], None]] = {
    "Custom::S3AutoDeleteObjects": empty_bucket,
}


def create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create a custom resource by running its emulated provider, synchronously."""
    resource_type = kwargs["ResourceType"]
    properties = props(cloudformation_json)
    handler = CREATE_HANDLERS.get(resource_type)
    if handler is None:
        logger.warning(
            "custom resource %s: no emulated provider, answered SUCCESS without data", resource_type
        )
        handler = generic
    physical, data = handler(account_id, region_name, properties)
    resource = custom_model.CustomModel(
        region_name, "emulated", kwargs["LogicalId"], physical or resource_name
    )
    resource.emulated_type = resource_type  # type: ignore[attr-defined]
    resource.properties = properties  # type: ignore[attr-defined]
    resource.set_data(data)
    return resource


def update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """Run the provider again with the new properties (an Update), keeping the physical ID."""
    resource_type = getattr(original_resource, "emulated_type", "")
    handler = CREATE_HANDLERS.get(resource_type, generic)
    properties = props(cloudformation_json)
    _, data = handler(account_id, region_name, properties)
    original_resource.properties = properties
    original_resource.set_data(data)
    return original_resource


def delete(self: Any, account_id: str, region_name: str) -> None:
    """A Delete request to the emulated provider."""
    handler = DELETE_HANDLERS.get(getattr(self, "emulated_type", ""))
    if handler is not None:
        handler(account_id, region_name, getattr(self, "properties", {}))


def apply() -> None:
    """Route every ``Custom::*`` / ``AWS::CloudFormation::CustomResource`` to the emulated
    providers.
    """
    model = custom_model.CustomModel
    model.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    model.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]
    model.delete = delete  # type: ignore[attr-defined]
    from moto.cloudformation import parsing

    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type == "AWS::CloudFormation::CustomResource":
            return model
        return original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type
