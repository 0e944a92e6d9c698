"""Custom resources (``Custom::*``, ``AWS::CloudFormation::CustomResource``) answered in-process.

moto 5.2.5 invokes the provider Lambda in Docker and waits for it to call back; with no
Docker the resource never completes. Here a registry maps each custom resource *type* to a
provider that answers the CloudFormation request in the emulator's process:

- a :class:`StandIn` does to the backends what a known CDK provider's Lambda would do
  (its Lambda's code does not run): counted in the summary as a stand-in;
- :class:`LambdaCode` runs the service token's own Lambda code (Python) with the event, see
  :mod:`emulator.compat.lambda_code`: ``register("Custom::DatabaseUsers", LambdaCode())``
  is all a new Lambda-backed resource needs (or ``python -m emulator up
  --lambda-custom-resource Custom::DatabaseUsers``);
- any other callable taking a :class:`Request` and returning a :class:`Response`.

A type with no provider fails the deployment with a message naming it: answering SUCCESS
without doing anything would look more successful than AWS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from moto.cloudformation import custom_model
from moto.ec2.models import ec2_backends
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from emulator.compat import lambda_code, notes
from emulator.compat.model_base import patch_model
from emulator.compat.util import physical_id, props


@dataclass(frozen=True)
class Request:
    """A CloudFormation custom resource request, as the provider's Lambda would receive it."""

    request_type: str
    """``Create``, ``Update`` or ``Delete``."""
    resource_type: str
    logical_id: str
    stack_id: str
    properties: dict[str, Any]
    """``ResourceProperties``, resolved (``ServiceToken`` included)."""
    account_id: str
    region: str
    physical_id: str | None = None
    """Set for Update and Delete."""
    old_properties: dict[str, Any] | None = None
    """Set for Update."""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def service_token(self) -> str:
        """The provider Lambda's ARN."""
        return str(self.properties.get("ServiceToken", ""))

    def event(self) -> dict[str, Any]:
        """The event CloudFormation sends to the Lambda (the ``ResponseURL`` is the emulator)."""
        event: dict[str, Any] = {
            "RequestType": self.request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": lambda_code.response_url(self.request_id),
            "StackId": self.stack_id,
            "RequestId": self.request_id,
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": self.properties,
        }
        if self.physical_id is not None:
            event["PhysicalResourceId"] = self.physical_id
        if self.old_properties is not None:
            event["OldResourceProperties"] = self.old_properties
        return event


@dataclass(frozen=True)
class Response:
    """What the provider answered: the physical ID and the attributes ``Fn::GetAtt`` reads."""

    physical_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """Answers a custom resource request in-process; raises to fail the resource."""

    def __call__(self, request: Request) -> Response: ...


class UnknownCustomResource(RuntimeError):
    """No provider is registered for a custom resource type."""


@dataclass(frozen=True)
class StandIn:
    """Does in-process what a known CDK provider's Lambda does to the backends; its code does
    not run, so every answer is recorded as a stand-in.
    """

    on_create: Callable[[Request], Response]
    """Create and Update (CDK's providers treat them alike)."""
    on_delete: Callable[[Request], None] | None = None

    def __call__(self, request: Request) -> Response:
        notes.record(
            notes.STAND_IN,
            request.resource_type,
            f"{request.logical_id} ({request.resource_type})",
            f"{request.request_type} answered by the emulator's stand-in for the CDK provider; "
            "the provider's Lambda code did not run",
        )
        if request.request_type == "Delete":
            if self.on_delete is not None:
                self.on_delete(request)
            return Response(request.physical_id)
        return self.on_create(request)


@dataclass(frozen=True)
class LambdaCode:
    """Runs the service token's own Lambda code (Python runtimes) in the emulator's process."""

    def __call__(self, request: Request) -> Response:
        physical, data, function = lambda_code.run(
            request.account_id, request.region, request.service_token, request.event()
        )
        notes.record(
            notes.LAMBDA_CODE,
            request.resource_type,
            f"{request.logical_id} ({request.resource_type})",
            f"{request.request_type} answered by the code of Lambda function {function}, run in "
            "the emulator's process",
        )
        return Response(physical or request.physical_id or request.request_id, data)


# ---------------------------------------------------------------- stand-ins for CDK providers


def restrict_default_sg(request: Request) -> Response:
    """``Custom::VpcRestrictDefaultSG``: remove every rule of the VPC's default security group."""
    group_id = physical_id(request.properties["DefaultSecurityGroupId"])
    group = ec2_backends[request.account_id][request.region].get_security_group_by_name_or_id(
        group_id
    )
    if group is not None:
        group.ingress_rules.clear()
        group.egress_rules.clear()
    return Response(group_id)


def log_retention(request: Request) -> Response:
    """``Custom::LogRetention``: create the log group if needed and set its retention."""
    name = physical_id(request.properties["LogGroupName"])
    backend = logs_backends[request.account_id][request.region]
    if name not in backend.groups:
        backend.create_log_group(name, {})
    days = request.properties.get("RetentionInDays")
    if days:
        backend.put_retention_policy(name, int(days))
    return Response(name)


def auto_delete_objects(request: Request) -> Response:
    """``Custom::S3AutoDeleteObjects``: nothing on create; the bucket is emptied on delete."""
    return Response(physical_id(request.properties["BucketName"]))


def empty_bucket(request: Request) -> None:
    """Delete handler of ``Custom::S3AutoDeleteObjects``."""
    backend = s3_backends[request.account_id][get_partition(request.region)]
    name = physical_id(request.properties["BucketName"])
    bucket = backend.buckets.get(name)
    if bucket is None:
        return
    for key in list(bucket.keys.keys()):
        backend.delete_object(name, key)


_GENERIC = "AWS::CloudFormation::CustomResource"

PROVIDERS: dict[str, Provider] = {
    "Custom::VpcRestrictDefaultSG": StandIn(restrict_default_sg),
    "Custom::LogRetention": StandIn(log_retention),
    "Custom::S3AutoDeleteObjects": StandIn(auto_delete_objects, empty_bucket),
}
"""Custom resource type -> provider. Extend with :func:`register`."""


def register(resource_type: str, provider: Provider) -> None:
    """Answer ``resource_type`` with ``provider`` from now on (``LambdaCode()`` runs its Lambda)."""
    if not (resource_type.startswith("Custom::") or resource_type == _GENERIC):
        raise ValueError(
            f"custom resource type {resource_type!r}: must start with 'Custom::' "
            f"(or be {_GENERIC})"
        )
    PROVIDERS[resource_type] = provider



def provider_for(resource_type: str, logical_id: str) -> Provider:
    """The registered provider, or :class:`UnknownCustomResource` naming the type."""
    provider = PROVIDERS.get(resource_type)
    if provider is None:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownCustomResource(
            f"{logical_id} ({resource_type}): the emulator has no provider for this custom "
            "resource type, so it cannot do what its Lambda would do on AWS. Known types: "
            f"{known}. To run its Lambda's Python code in the emulator, start it with "
            f"'python -m emulator up --lambda-custom-resource {resource_type}' or register a "
            "provider in emulator/compat/custom_resources.py."
        )
    return provider


# ---------------------------------------------------------------- moto's CustomModel


def create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create a custom resource by asking its provider, synchronously."""
    resource_type = kwargs["ResourceType"]
    logical_id = kwargs["LogicalId"]
    provider = provider_for(resource_type, logical_id)
    request = Request(
        "Create",
        resource_type,
        logical_id,
        kwargs.get("StackId", ""),
        props(cloudformation_json),
        account_id,
        region_name,
    )
    response = provider(request)
    resource = custom_model.CustomModel(
        region_name, request.request_id, logical_id, response.physical_id or resource_name
    )
    resource.emulated_type = resource_type  # type: ignore[attr-defined]
    resource.stack_id = request.stack_id  # type: ignore[attr-defined]
    resource.properties = request.properties  # type: ignore[attr-defined]
    resource.set_data(response.data)
    return resource


def _request(resource: Any, request_type: str, account_id: str, region_name: str) -> Request:
    return Request(
        request_type,
        resource.emulated_type,
        resource.logical_id,
        getattr(resource, "stack_id", ""),
        getattr(resource, "properties", {}),
        account_id,
        region_name,
        physical_id=resource.physical_resource_id,
    )


def update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """An Update request with the new and old properties; the provider may change the
    physical ID."""
    old = _request(original_resource, "Update", account_id, region_name)
    provider = provider_for(old.resource_type, old.logical_id)
    request = Request(
        "Update",
        old.resource_type,
        old.logical_id,
        old.stack_id,
        props(cloudformation_json),
        account_id,
        region_name,
        physical_id=old.physical_id,
        old_properties=old.properties,
    )
    response = provider(request)
    original_resource.properties = request.properties
    if response.physical_id:
        original_resource.resource_name = response.physical_id
    original_resource.set_data(response.data)
    return original_resource


def delete(self: Any, account_id: str, region_name: str) -> None:
    """A Delete request to the provider."""
    request = _request(self, "Delete", account_id, region_name)
    provider_for(request.resource_type, request.logical_id)(request)


def apply() -> None:
    """Route every ``Custom::*`` / ``AWS::CloudFormation::CustomResource`` to the registry."""
    model = custom_model.CustomModel
    patch_model(model, create=create, update=update, delete=delete)
    from moto.cloudformation import parsing

    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type == _GENERIC:
            return model
        return original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type
