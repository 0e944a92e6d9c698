"""Template values moto 5.2.5 left unresolved: ``Fn::GetStackOutput`` and dynamic references
(``{{resolve:secretsmanager:...}}``, ``{{resolve:ssm:...}}``)."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError

from emulator.compat.cfn_engine.stacks import find_stack

_DYNAMIC_REF = re.compile(r"\{\{resolve:(secretsmanager|ssm|ssm-secure):([^}]*)\}\}")


def _resolve_secret(account_id: str, region: str, spec: str) -> str:
    """``secret-id:SecretString:json-key:version-stage:version-id`` (an ARN holds colons itself)."""
    from moto.secretsmanager.models import secretsmanager_backends

    match = re.match(r"^(arn:[^:]*:secretsmanager:[^:]*:[^:]*:secret:[^:]*|[^:]*)(?::(.*))?$", spec)
    secret_id, rest = (match.group(1), match.group(2) or "") if match else (spec, "")
    fields = [*rest.split(":"), "", "", "", ""][:4]
    _, json_key, stage, version = fields
    value = secretsmanager_backends[account_id][region].get_secret_value(
        secret_id, version or None, stage or None
    )["SecretString"]
    return str(json.loads(value)[json_key]) if json_key else str(value)


def _resolve_ssm(account_id: str, region: str, spec: str) -> str:
    from moto.ssm.models import ssm_backends

    name, _, version = spec.partition(":")
    parameter = ssm_backends[account_id][region].get_parameter(
        f"{name}:{version}" if version else name
    )
    return str(parameter.value)  # type: ignore[union-attr]


def resolve_dynamic_references(value: str, account_id: str, region: str) -> str:
    """Replace ``{{resolve:secretsmanager:...}}`` and ``{{resolve:ssm:...}}`` as CloudFormation
    does.
    """

    def _one(match: re.Match[str]) -> str:
        service, spec = match.group(1), match.group(2)
        if service == "secretsmanager":
            return _resolve_secret(account_id, region, spec)
        return _resolve_ssm(account_id, region, spec)

    return _DYNAMIC_REF.sub(_one, value)


_original_clean_json = parsing.clean_json


_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


def get_stack_output(spec: Any, resources_map: Any) -> Any:
    """``Fn::GetStackOutput`` (CDK's weak cross-stack references, ``defaultCrossStackReferences:
    weak``): the current value of another stack's output, read at create/update time, as
    CloudFormation reads it. ``Region`` defaults to the stack's own; ``RoleArn`` names the
    account (IAM is not enforced here, as nowhere in moto). moto 5.2.5 does not know the function:
    the unresolved object reached the resource (a service's cluster was a dict).
    """
    if not isinstance(spec, dict) or not {"StackName", "OutputName"} <= set(spec):
        raise ValidationError(
            message=f"Template error: Fn::GetStackOutput needs StackName and OutputName: {spec}"
        )
    resolved = {key: parsing.clean_json(value, resources_map) for key, value in spec.items()}
    region = resolved.get("Region") or resources_map._region_name
    role = _ROLE_ACCOUNT.match(str(resolved.get("RoleArn") or ""))
    account = role.group(1) if role else resources_map._account_id
    backend = cfn_models.cloudformation_backends[account][region]
    stack_name, output_name = str(resolved["StackName"]), str(resolved["OutputName"])
    stack = find_stack(backend, stack_name)
    if stack is None:
        raise ValidationError(
            message=f"Fn::GetStackOutput: stack {stack_name} does not exist in {account}/{region}"
        )
    outputs = stack.output_map
    output = outputs[output_name] if output_name in outputs.outputs else None
    if output is None:
        raise ValidationError(
            message=f"Fn::GetStackOutput: stack {stack_name} has no output {output_name}"
        )
    return output.value


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    """moto's intrinsic-function resolution, plus ``Fn::GetStackOutput`` and dynamic references in
    the resulting strings."""
    if isinstance(resource_json, dict) and "Fn::GetStackOutput" in resource_json:
        return get_stack_output(resource_json["Fn::GetStackOutput"], resources_map)
    result = _original_clean_json(resource_json, resources_map)
    if isinstance(result, str) and "{{resolve:" in result:
        return resolve_dynamic_references(
            result, resources_map._account_id, resources_map._region_name
        )
    return result


def apply() -> None:
    """moto's engine resolves every value through :func:`clean_json`."""
    parsing.clean_json = clean_json
