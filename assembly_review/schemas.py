"""Which properties of a resource type cannot be updated in place: the CloudFormation resource
provider schemas that the pinned cfn-lint bundles (``cfnlint/data/schemas``), read offline.

``createOnlyProperties``: changing one replaces the resource. ``conditionalCreateOnlyProperties``:
the provider replaces the resource only under some conditions (replacement_rules.py holds the
ones this review can decide from the template).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

DEFAULT_REGION = "us-east-1"

Pointer = tuple[str, ...]
"""A schema JSON pointer below /properties, split into its parts:
('AutoScalingGroupProvider', 'AutoScalingGroupArn'). '*' stands for every item of a list."""


@dataclass(frozen=True)
class TypeSchema:
    """What the provider schema says about updating one resource type."""

    type_name: str
    known: bool
    """False when no bundled schema describes the type (custom resources, AWS::CDK::Metadata)."""
    create_only: tuple[Pointer, ...] = ()
    conditional: tuple[Pointer, ...] = ()


def _root() -> Traversable:
    return resources.files("cfnlint") / "data" / "schemas"


@functools.cache
def _provider_index(region: str) -> dict[str, str]:
    index = _root() / "providers" / f"{region}.json"
    if not index.is_file():
        index = _root() / "providers" / f"{DEFAULT_REGION}.json"
    mapping: dict[str, str] = json.loads(index.read_text())
    return mapping


def schema_date() -> str:
    """The date of the bundled schemas (cfn-lint's data/schemas/version.json)."""
    version = json.loads((_root() / "version.json").read_text())
    return str(version.get("schema_date", "unknown"))


def _pointers(values: list[str] | None) -> tuple[Pointer, ...]:
    out = []
    for value in values or []:
        parts = value.split("/")
        if parts[:2] == ["", "properties"] and len(parts) > 2:
            out.append(tuple(parts[2:]))
    return tuple(out)


@functools.cache
def type_schema(type_name: str, region: str | None = None) -> TypeSchema:
    """The update rules of a resource type in a region (default us-east-1)."""
    digest = _provider_index(region or DEFAULT_REGION).get(type_name)
    if digest is None:
        return TypeSchema(type_name, known=False)
    schema = json.loads((_root() / "resources" / f"{digest}.json").read_text())
    return TypeSchema(
        type_name,
        known=True,
        create_only=_pointers(schema.get("createOnlyProperties")),
        conditional=_pointers(schema.get("conditionalCreateOnlyProperties")),
    )
