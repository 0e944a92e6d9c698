"""Small helpers shared by the shims."""

from __future__ import annotations

from typing import Any


def props(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    """The resolved ``Properties`` of a resource (empty when absent)."""
    return dict(cloudformation_json.get("Properties") or {})


def physical_id(value: Any) -> str:
    """A resolved ``Ref``: moto hands back a model when it has no physical ID attribute."""
    return str(getattr(value, "physical_resource_id", value))


def camel(key: str) -> str:
    """``PascalCase`` CloudFormation key to the API's ``camelCase``."""
    return key[:1].lower() + key[1:]


def camel_keys(value: Any) -> Any:
    """Recursively turn CloudFormation's PascalCase keys into API camelCase keys."""
    if isinstance(value, dict):
        return {camel(k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value
